"""Activation functions and their gradients, as Keras 3 defines them.

Elementwise kernels work on 1-D arrays:

    <name>_forward(x, out, <params>)          out = f(x)
    <name>_backward(x, y, dy, dx, <params>)   dx = dy * f'(x)

where ``y`` is the forward output (``f(x)``). Each backward reads whichever of x and y gives the derivative most
cheaply and accurately. ``out`` may alias ``x`` and ``dx`` may alias ``dy``: every element is written once, after
the values at that same index have been read. Strided 1-D views are indexed correctly too.

``softmax`` and ``log_softmax`` work on 3-D ``(outer, n, inner)`` views and normalise over the middle axis; any
Keras ``axis`` becomes this by a reshape (outer = product of the leading axes, inner = of the trailing ones). They
index with strides, so non-contiguous views are correct as well (only slower), and the same aliasing is allowed.

Every parameter is passed explicitly; the Keras defaults are in the docstrings. Conditions are written so that a
NaN input gives a NaN output (``x <= t`` is false for NaN), so a NaN still reaches the loss and TerminateOnNaN.
"""

import math

import numpy as np

from ..policy import kernel

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = 0.7978845608028654  # sqrt(2 / pi), the tanh-approximation gelu's factor
_INV_SQRT_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327  # 1 / sqrt(2 pi), the normal density's factor
_GELU_CUBIC = 0.044715


# ------------------------------------------------------------------ scalar helpers
@kernel
def _sigmoid(v, one):
    """1 / (1 + exp(-v)) without overflow: exp is only ever taken of -|v|."""
    if v >= 0:
        return one / (one + math.exp(-v))
    e = math.exp(v)
    return e / (one + e)


# ------------------------------------------------------------------ linear
@kernel
def linear_forward(x, out):
    """f(x) = x (Keras's ``linear``; also what ``activation=None`` means)."""
    for i in range(x.shape[0]):
        out[i] = x[i]


@kernel
def linear_backward(x, y, dy, dx):
    """dx = dy."""
    for i in range(dy.shape[0]):
        dx[i] = dy[i]


# ------------------------------------------------------------------ relu
@kernel
def relu_forward(x, out, negative_slope, max_value, threshold):
    """Keras 3 ``relu(x, negative_slope=0.0, max_value=None, threshold=0.0)``; max_value = +inf means None.

    Keras builds it in three steps, and this follows them exactly:

        a = x if x > threshold else 0
        a = min(max(a, 0), max_value)                  only when max_value is given
        f = a - negative_slope * max(threshold - x, 0)

    Traps: the slope is applied below ``threshold`` (not below 0), after the clip, so it is never clipped. With
    a negative threshold and no max_value, inputs in (threshold, 0) pass through unchanged (negative outputs);
    giving any max_value, even a huge one, also floors them at 0 -- so None must stay distinct from a large cap.
    """
    t = x.dtype.type(threshold)
    s = x.dtype.type(negative_slope)
    zero = x.dtype.type(0.0)
    clip = max_value < math.inf
    cap = x.dtype.type(max_value) if clip else zero
    for i in range(x.shape[0]):
        xi = x[i]
        a = zero if xi <= t else xi
        if clip:
            if a < zero:
                a = zero
            if a > cap:
                a = cap
        if xi < t:
            a -= s * (t - xi)
        out[i] = a


@kernel
def relu_backward(x, y, dy, dx, negative_slope, max_value, threshold):
    """f'(x) = [x > threshold and (no max_value or 0 < x < max_value)] + negative_slope * [x < threshold].

    At the kinks (x equal to threshold, 0 or max_value) the strict inequalities pick the derivative; backends
    differ there (JAX's max/min give 1/2 on ties), so only the values away from kinks are Keras's contract.
    """
    t = x.dtype.type(threshold)
    s = x.dtype.type(negative_slope)
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    clip = max_value < math.inf
    cap = x.dtype.type(max_value) if clip else zero
    for i in range(x.shape[0]):
        xi = x[i]
        g = zero
        if xi > t and (not clip or (xi > zero and xi < cap)):
            g = one
        if xi < t:
            g += s
        dx[i] = dy[i] * g


@kernel
def relu6_forward(x, out):
    """f(x) = min(max(x, 0), 6) (Keras's ``relu6``)."""
    zero = x.dtype.type(0.0)
    six = x.dtype.type(6.0)
    for i in range(x.shape[0]):
        xi = x[i]
        if xi < zero:
            xi = zero
        if xi > six:
            xi = six
        out[i] = xi


@kernel
def relu6_backward(x, y, dy, dx):
    """f'(x) = 1 on 0 < x < 6, else 0."""
    zero = x.dtype.type(0.0)
    six = x.dtype.type(6.0)
    for i in range(x.shape[0]):
        xi = x[i]
        dx[i] = dy[i] if (xi > zero and xi < six) else zero


@kernel
def leaky_relu_forward(x, out, negative_slope):
    """f(x) = x if x >= 0 else negative_slope * x; ``keras.activations.leaky_relu`` defaults to negative_slope=0.2.

    Traps: the ``LeakyReLU`` layer defaults to 0.3, not 0.2 (the layer passes its own value explicitly). This is
    the where() form of the JAX/TensorFlow/PyTorch backends, not NumPy's max(x, slope * x), which differs for
    slopes above 1.
    """
    s = x.dtype.type(negative_slope)
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        xi = x[i]
        out[i] = xi if xi >= zero else s * xi


@kernel
def leaky_relu_backward(x, y, dy, dx, negative_slope):
    """f'(x) = 1 if x >= 0 else negative_slope."""
    s = x.dtype.type(negative_slope)
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        d = dy[i]
        dx[i] = d if x[i] >= zero else s * d


# ------------------------------------------------------------------ sigmoid family
@kernel
def sigmoid_forward(x, out):
    """f(x) = 1 / (1 + exp(-x)), evaluated as exp(x) / (1 + exp(x)) for x < 0 so exp never overflows."""
    one = x.dtype.type(1.0)
    for i in range(x.shape[0]):
        out[i] = _sigmoid(x[i], one)


@kernel
def sigmoid_backward(x, y, dy, dx):
    """f'(x) = y (1 - y), from the output."""
    one = x.dtype.type(1.0)
    for i in range(y.shape[0]):
        yi = y[i]
        dx[i] = dy[i] * yi * (one - yi)


@kernel
def hard_sigmoid_forward(x, out):
    """Keras 3: f(x) = relu6(x + 3) / 6, i.e. 0 below -3, 1 above 3, x / 6 + 1/2 between.

    Trap: Keras 2 used 0.2 x + 0.5 clipped to [0, 1] (kinks at +-2.5); Keras 3 changed the slope to 1/6.
    """
    zero = x.dtype.type(0.0)
    three = x.dtype.type(3.0)
    six = x.dtype.type(6.0)
    for i in range(x.shape[0]):
        v = x[i] + three
        if v < zero:
            v = zero
        if v > six:
            v = six
        out[i] = v / six


@kernel
def hard_sigmoid_backward(x, y, dy, dx):
    """f'(x) = 1/6 on -3 < x < 3, else 0."""
    zero = x.dtype.type(0.0)
    three = x.dtype.type(3.0)
    sixth = x.dtype.type(1.0 / 6.0)
    for i in range(x.shape[0]):
        xi = x[i]
        dx[i] = dy[i] * sixth if (xi > -three and xi < three) else zero


@kernel
def swish_forward(x, out):
    """f(x) = x * sigmoid(x) (Keras's ``swish``, alias ``silu``)."""
    one = x.dtype.type(1.0)
    for i in range(x.shape[0]):
        xi = x[i]
        out[i] = xi * _sigmoid(xi, one)


@kernel
def swish_backward(x, y, dy, dx):
    """f'(x) = s (1 + x (1 - s)) with s = sigmoid(x); recomputed from x (y / x loses s near x = 0)."""
    one = x.dtype.type(1.0)
    for i in range(x.shape[0]):
        xi = x[i]
        s = _sigmoid(xi, one)
        dx[i] = dy[i] * s * (one + xi * (one - s))


silu_forward = swish_forward
silu_backward = swish_backward


# ------------------------------------------------------------------ tanh, softsign, softplus
@kernel
def tanh_forward(x, out):
    """f(x) = tanh(x)."""
    for i in range(x.shape[0]):
        out[i] = math.tanh(x[i])


@kernel
def tanh_backward(x, y, dy, dx):
    """f'(x) = 1 - y^2, from the output."""
    one = x.dtype.type(1.0)
    for i in range(y.shape[0]):
        yi = y[i]
        dx[i] = dy[i] * (one - yi * yi)


@kernel
def softsign_forward(x, out):
    """f(x) = x / (1 + |x|)."""
    one = x.dtype.type(1.0)
    for i in range(x.shape[0]):
        xi = x[i]
        out[i] = xi / (one + abs(xi))


@kernel
def softsign_backward(x, y, dy, dx):
    """f'(x) = 1 / (1 + |x|)^2."""
    one = x.dtype.type(1.0)
    for i in range(x.shape[0]):
        d = one + abs(x[i])
        dx[i] = dy[i] / (d * d)


@kernel
def softplus_forward(x, out):
    """f(x) = log(1 + exp(x)), evaluated as max(x, 0) + log1p(exp(-|x|)) (NumPy's logaddexp(x, 0)).

    The naive form overflows to inf for x > ~88 in float32 and loses all precision for x < ~-17.
    """
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        xi = x[i]
        pos = xi if xi > zero else zero
        out[i] = pos + math.log1p(math.exp(-abs(xi)))


@kernel
def softplus_backward(x, y, dy, dx):
    """f'(x) = sigmoid(x), from x (1 - exp(-y) cancels for large x)."""
    one = x.dtype.type(1.0)
    for i in range(x.shape[0]):
        dx[i] = dy[i] * _sigmoid(x[i], one)


# ------------------------------------------------------------------ exponential-linear family
@kernel
def elu_forward(x, out, alpha):
    """f(x) = x if x > 0 else alpha * (exp(x) - 1); Keras default alpha=1.0. expm1 keeps precision near 0."""
    a = x.dtype.type(alpha)
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        xi = x[i]
        out[i] = xi if xi > zero else a * math.expm1(xi)


@kernel
def elu_backward(x, y, dy, dx, alpha):
    """f'(x) = 1 if x > 0 else alpha * exp(x) = y + alpha (from the output)."""
    a = x.dtype.type(alpha)
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        d = dy[i]
        dx[i] = d if x[i] > zero else d * (y[i] + a)


@kernel
def selu_forward(x, out):
    """f(x) = scale * elu(x, alpha), alpha = 1.6732632423543772, scale = 1.0507009873554805 (fixed in Keras)."""
    a = x.dtype.type(_SELU_ALPHA)
    sc = x.dtype.type(_SELU_SCALE)
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        xi = x[i]
        out[i] = sc * xi if xi > zero else sc * a * math.expm1(xi)


@kernel
def selu_backward(x, y, dy, dx):
    """f'(x) = scale if x > 0 else scale * alpha * exp(x) = y + scale * alpha."""
    sa = x.dtype.type(_SELU_SCALE * _SELU_ALPHA)
    sc = x.dtype.type(_SELU_SCALE)
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        d = dy[i]
        dx[i] = d * sc if x[i] > zero else d * (y[i] + sa)


@kernel
def exponential_forward(x, out):
    """f(x) = exp(x); overflows to inf for large x exactly as Keras does (np.exp: no exception without JIT)."""
    for i in range(x.shape[0]):
        out[i] = np.exp(x[i])


@kernel
def exponential_backward(x, y, dy, dx):
    """f'(x) = exp(x) = y."""
    for i in range(y.shape[0]):
        dx[i] = dy[i] * y[i]


# ------------------------------------------------------------------ gelu
@kernel
def gelu_forward(x, out, approximate):
    """Keras's ``gelu(x, approximate=False)``.

    exact:        f(x) = x (1 + erf(x / sqrt 2)) / 2
    approximate:  f(x) = x (1 + tanh(u)) / 2,  u = sqrt(2 / pi) (x + 0.044715 x^3)

    Trap: ``keras.activations.gelu`` defaults to the exact form, but ``keras.ops.gelu`` to the approximation.
    """
    half = x.dtype.type(0.5)
    one = x.dtype.type(1.0)
    c = x.dtype.type(_SQRT_2_OVER_PI)
    k = x.dtype.type(_GELU_CUBIC)
    r2 = x.dtype.type(_INV_SQRT_2)
    for i in range(x.shape[0]):
        xi = x[i]
        if approximate:
            out[i] = half * xi * (one + math.tanh(c * (xi + k * xi * xi * xi)))
        else:
            out[i] = half * xi * (one + math.erf(xi * r2))


@kernel
def gelu_backward(x, y, dy, dx, approximate):
    """exact:        f'(x) = (1 + erf(x / sqrt 2)) / 2 + x exp(-x^2 / 2) / sqrt(2 pi)
    approximate:  f'(x) = (1 + t) / 2 + x (1 - t^2) sqrt(2 / pi) (1 + 3 * 0.044715 x^2) / 2,  t = tanh(u)
    """
    half = x.dtype.type(0.5)
    one = x.dtype.type(1.0)
    c = x.dtype.type(_SQRT_2_OVER_PI)
    k = x.dtype.type(_GELU_CUBIC)
    k3 = x.dtype.type(3.0 * _GELU_CUBIC)
    r2 = x.dtype.type(_INV_SQRT_2)
    rpi = x.dtype.type(_INV_SQRT_2PI)
    for i in range(x.shape[0]):
        xi = x[i]
        x2 = xi * xi
        if approximate:
            t = math.tanh(c * (xi + k * x2 * xi))
            g = half * (one + t) + half * xi * (one - t * t) * c * (one + k3 * x2)
        else:
            g = half * (one + math.erf(xi * r2)) + xi * rpi * math.exp(-half * x2)
        dx[i] = dy[i] * g


# ------------------------------------------------------------------ softmax over the middle axis
@kernel
def softmax_forward(x, out):
    """out[o, :, k] = exp(x - m) / sum(exp(x - m)) over the middle axis, m the maximum there (Keras axis=-1).

    Subtracting the maximum keeps exp <= 1, so nothing overflows; the sum is >= 1, so nothing divides by 0.
    ``out`` first holds exp(x - m), then is scaled: each x element is read before its out element is written.
    """
    outer, n, inner = x.shape
    one = x.dtype.type(1.0)
    for o in range(outer):
        for k in range(inner):
            m = x.dtype.type(-np.inf)
            for j in range(n):
                if x[o, j, k] > m:
                    m = x[o, j, k]
            total = x.dtype.type(0.0)
            for j in range(n):
                e = math.exp(x[o, j, k] - m)
                out[o, j, k] = e
                total += e
            inv = one / total
            for j in range(n):
                out[o, j, k] *= inv


@kernel
def softmax_backward(x, y, dy, dx):
    """dx = y * (dy - sum(dy * y)) over the middle axis, from the output y."""
    outer, n, inner = y.shape
    for o in range(outer):
        for k in range(inner):
            dot = y.dtype.type(0.0)
            for j in range(n):
                dot += dy[o, j, k] * y[o, j, k]
            for j in range(n):
                dx[o, j, k] = y[o, j, k] * (dy[o, j, k] - dot)


@kernel
def log_softmax_forward(x, out):
    """out = (x - m) - log(sum(exp(x - m))) over the middle axis, m the maximum there (Keras axis=-1).

    Trap: x - (m + log(sum)) is not the same in float32: m + log(sum) rounds at the scale of m (6e-5 for logits
    near 1000). ``out`` holds x - m in between, a stored value that the reassoc fastmath flag cannot regroup.
    """
    outer, n, inner = x.shape
    for o in range(outer):
        for k in range(inner):
            m = x.dtype.type(-np.inf)
            for j in range(n):
                if x[o, j, k] > m:
                    m = x[o, j, k]
            total = x.dtype.type(0.0)
            for j in range(n):
                shifted = x[o, j, k] - m
                out[o, j, k] = shifted
                total += math.exp(shifted)
            lse = math.log(total)
            for j in range(n):
                out[o, j, k] -= lse


@kernel
def log_softmax_backward(x, y, dy, dx):
    """dx = dy - exp(y) * sum(dy) over the middle axis, from the output y (exp(y) is the softmax)."""
    outer, n, inner = y.shape
    for o in range(outer):
        for k in range(inner):
            total = y.dtype.type(0.0)
            for j in range(n):
                total += dy[o, j, k]
            for j in range(n):
                dx[o, j, k] = dy[o, j, k] - math.exp(y[o, j, k]) * total
