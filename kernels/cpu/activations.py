"""Activation functions and their gradients, as Keras 3 defines them.

Elementwise kernels work on 1-D arrays:

    <name>_forward(x, out, <params>)          out = f(x)
    <name>_backward(x, y, dy, dx, <params>)   dx = dy * f'(x)

where ``y`` is the forward output (``f(x)``). Each backward reads whichever of x and y gives the derivative most
cheaply and accurately. ``out`` may alias ``x`` and ``dx`` may alias ``dy``: every element is written once, after
the values at that same index have been read. Strided 1-D views are indexed correctly too.

``softmax``, ``log_softmax``, ``sparsemax`` and ``glu`` work on 3-D ``(outer, n, inner)`` views and act over the
middle axis; any Keras ``axis`` becomes this by a reshape (outer = product of the leading axes, inner = of the
trailing ones). They index with strides, so non-contiguous views are correct as well (only slower), and the same
aliasing is allowed -- except for ``glu``, whose output is half as long as its input on that axis.

Every parameter is passed explicitly; the Keras defaults are in the docstrings. Conditions are written so that a
NaN input gives a NaN output (``x <= t`` is false for NaN), so a NaN still reaches the loss and TerminateOnNaN.
"""

import math

import numpy as np

from ..policy import kernel
from . import vmath

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = 0.7978845608028654  # sqrt(2 / pi), the tanh-approximation gelu's factor
_INV_SQRT_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327  # 1 / sqrt(2 pi), the normal density's factor
_GELU_CUBIC = 0.044715
_SIXTH = 1.0 / 6.0


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
def _same_elements(a, b):
    """Whether 1-D arrays a and b are the same elements (the allowed aliasing: out is x, dx is dy)."""
    return a.ctypes.data == b.ctypes.data and a.strides[0] == b.strides[0]


@kernel
def relu_forward(x, out, negative_slope, max_value, threshold):
    """Keras 3 ``relu(x, negative_slope=0.0, max_value=None, threshold=0.0)``; max_value = +inf means None.

    Keras builds it in three steps, and this follows them exactly:

        a = x if x > threshold else 0
        a = min(max(a, 0), max_value)                  only when max_value is given
        f = a - negative_slope * max(threshold - x, 0) only when negative_slope != 0

    Traps: the slope is applied below ``threshold`` (not below 0), after the clip, so it is never clipped. With
    a negative threshold and no max_value, inputs in (threshold, 0) pass through unchanged (negative outputs);
    giving any max_value, even a huge one, also floors them at 0 -- so None must stay distinct from a large cap.
    Keras skips the slope term when negative_slope is 0, so relu(-inf) is 0 (not 0 * inf = NaN).

    Speed: the plain relu (no slope, no cap) has its own branch-free loop, and when ``out`` is ``x`` it reads and
    writes one array -- with two, LLVM's overlap check fails on the aliased pair and the loop runs unvectorised.
    """
    t = x.dtype.type(threshold)
    s = x.dtype.type(negative_slope)
    zero = x.dtype.type(0.0)
    clip = max_value < math.inf
    cap = x.dtype.type(max_value) if clip else zero
    if s == zero and not clip:
        if _same_elements(x, out):
            for i in range(x.shape[0]):
                xi = out[i]
                out[i] = zero if xi <= t else xi
        else:
            for i in range(x.shape[0]):
                xi = x[i]
                out[i] = zero if xi <= t else xi
        return
    for i in range(x.shape[0]):
        xi = x[i]
        a = zero if xi <= t else xi
        if clip:
            if a < zero:
                a = zero
            if a > cap:
                a = cap
        if xi < t and s != zero:
            a -= s * (t - xi)
        out[i] = a


@kernel
def relu_backward(x, y, dy, dx, negative_slope, max_value, threshold):
    """f'(x) = [x > threshold and (no max_value or 0 < x < max_value)] + negative_slope * [x < threshold].

    At the kinks (x equal to threshold, 0 or max_value) the strict inequalities pick the derivative; backends
    differ there (JAX's max/min give 1/2 on ties), so only the values away from kinks are Keras's contract.
    The plain relu (no slope, no cap) has a branch-free loop, reading and writing one array when dx is dy (see
    relu_forward): measured 0.66 -> 0.10 ms in place on W3's first activation (1.4M float32).
    """
    t = x.dtype.type(threshold)
    s = x.dtype.type(negative_slope)
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    clip = max_value < math.inf
    cap = x.dtype.type(max_value) if clip else zero
    if s == zero and not clip:
        if _same_elements(dy, dx):
            for i in range(x.shape[0]):
                dx[i] = dx[i] * (one if x[i] > t else zero)
        else:
            for i in range(x.shape[0]):
                dx[i] = dy[i] * (one if x[i] > t else zero)
        return
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
    """f(x) = 1 / (1 + exp(-x)), evaluated as exp(x) / (1 + exp(x)) for x < 0 so exp never overflows (vmath's
    vectorised form)."""
    if out.shape[0] != x.shape[0]:
        raise ValueError("sigmoid_forward: x and out must have the same length")
    vmath.sigmoid(x, out)


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
    t = out.dtype.type
    if out.itemsize == 8:
        for i in range(x.shape[0]):
            xi = np.float64(x[i])
            out[i] = t(xi * vmath.sigmoid64(xi))
    else:
        for i in range(x.shape[0]):
            xi = np.float64(x[i])
            out[i] = t(xi * vmath.sigmoid32(xi))


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
    """f(x) = tanh(x) (vmath's vectorised form)."""
    if out.shape[0] != x.shape[0]:
        raise ValueError("tanh_forward: x and out must have the same length")
    vmath.tanh(x, out)


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
    if out.shape[0] != x.shape[0]:
        raise ValueError("softplus_forward: x and out must have the same length")
    vmath.softplus(x, out)


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
    t = out.dtype.type
    if out.itemsize == 8:  # both sides computed, then selected: the loop vectorises
        for i in range(x.shape[0]):
            xi = x[i]
            out[i] = xi if xi > zero else a * t(vmath.expm1_64(np.float64(xi)))
    else:
        for i in range(x.shape[0]):
            xi = x[i]
            out[i] = xi if xi > zero else a * t(vmath.expm1_32(np.float64(xi)))


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
    t = out.dtype.type
    if out.itemsize == 8:
        for i in range(x.shape[0]):
            xi = x[i]
            out[i] = sc * xi if xi > zero else sc * a * t(vmath.expm1_64(np.float64(xi)))
    else:
        for i in range(x.shape[0]):
            xi = x[i]
            out[i] = sc * xi if xi > zero else sc * a * t(vmath.expm1_32(np.float64(xi)))


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
    """f(x) = exp(x); overflows to inf for large x exactly as Keras does (vmath's vectorised form)."""
    if out.shape[0] != x.shape[0]:
        raise ValueError("exponential_forward: x and out must have the same length")
    vmath.exp(x, out)


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
    t = out.dtype.type
    if approximate and out.itemsize == 8:
        for i in range(x.shape[0]):
            xi = x[i]
            out[i] = half * xi * (one + t(vmath.tanh64(np.float64(c * (xi + k * xi * xi * xi)))))
    elif approximate:
        for i in range(x.shape[0]):
            xi = x[i]
            out[i] = half * xi * (one + t(vmath.tanh32(np.float64(c * (xi + k * xi * xi * xi)))))
    else:
        for i in range(x.shape[0]):
            xi = x[i]
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


# ------------------------------------------------------------------ smooth newcomers of Keras 3
@kernel
def celu_forward(x, out, alpha):
    """f(x) = x if x > 0 else alpha * (exp(x / alpha) - 1); Keras default alpha=1.0 (then it equals elu)."""
    a = x.dtype.type(alpha)
    zero = x.dtype.type(0.0)
    t = out.dtype.type
    if out.itemsize == 8:
        for i in range(x.shape[0]):
            xi = x[i]
            out[i] = xi if xi > zero else a * t(vmath.expm1_64(np.float64(xi / a)))
    else:
        for i in range(x.shape[0]):
            xi = x[i]
            out[i] = xi if xi > zero else a * t(vmath.expm1_32(np.float64(xi / a)))


@kernel
def celu_backward(x, y, dy, dx, alpha):
    """f'(x) = 1 if x > 0 else exp(x / alpha) = y / alpha + 1 (from the output)."""
    a = x.dtype.type(alpha)
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    for i in range(x.shape[0]):
        d = dy[i]
        dx[i] = d if x[i] > zero else d * (y[i] / a + one)


@kernel
def mish_forward(x, out):
    """f(x) = x tanh(softplus(x)), softplus in its overflow-free form (see softplus_forward)."""
    t = out.dtype.type
    if out.itemsize == 8:
        for i in range(x.shape[0]):
            xi = np.float64(x[i])
            out[i] = t(xi * vmath.tanh64(vmath.softplus64(xi)))
    else:
        for i in range(x.shape[0]):
            xi = np.float64(x[i])
            out[i] = t(xi * vmath.tanh32(vmath.softplus32(xi)))


@kernel
def mish_backward(x, y, dy, dx):
    """f'(x) = t + x sigmoid(x) (1 - t^2), t = tanh(softplus(x)) (d softplus / dx = sigmoid)."""
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    for i in range(x.shape[0]):
        xi = x[i]
        t = math.tanh((xi if xi > zero else zero) + math.log1p(math.exp(-abs(xi))))
        dx[i] = dy[i] * (t + xi * _sigmoid(xi, one) * (one - t * t))


@kernel
def log_sigmoid_forward(x, out):
    """f(x) = log(sigmoid(x)) = -softplus(-x), evaluated as min(x, 0) - log1p(exp(-|x|)): never overflows."""
    t = out.dtype.type
    if out.itemsize == 8:  # -softplus(-x)
        for i in range(x.shape[0]):
            out[i] = t(-vmath.softplus64(-np.float64(x[i])))
    else:
        for i in range(x.shape[0]):
            out[i] = t(-vmath.softplus32(-np.float64(x[i])))


@kernel
def log_sigmoid_backward(x, y, dy, dx):
    """f'(x) = 1 - sigmoid(x) = sigmoid(-x)."""
    one = x.dtype.type(1.0)
    for i in range(x.shape[0]):
        dx[i] = dy[i] * _sigmoid(-x[i], one)


@kernel
def squareplus_forward(x, out, b):
    """f(x) = (x + sqrt(x^2 + b)) / 2; Keras default b=4.

    For x < 0 the same value is computed as b / (2 (sqrt(x^2 + b) - x)): the naive sum cancels to 0 for large
    negative x where the true value is a small positive number.
    """
    bb = x.dtype.type(b)
    half = x.dtype.type(0.5)
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        xi = x[i]
        r = math.sqrt(xi * xi + bb)
        out[i] = half * (xi + r) if xi >= zero else half * bb / (r - xi)


@kernel
def squareplus_backward(x, y, dy, dx, b):
    """f'(x) = (1 + x / sqrt(x^2 + b)) / 2, for x < 0 as (r + x) / (2 r) = b / (2 r (r - x)), r = sqrt(x^2 + b)."""
    bb = x.dtype.type(b)
    half = x.dtype.type(0.5)
    one = x.dtype.type(1.0)
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        xi = x[i]
        r = math.sqrt(xi * xi + bb)
        g = half * (one + xi / r) if xi >= zero else half * bb / (r * (r - xi))
        dx[i] = dy[i] * g


@kernel
def tanh_shrink_forward(x, out):
    """f(x) = x - tanh(x)."""
    t = out.dtype.type
    if out.itemsize == 8:
        for i in range(x.shape[0]):
            xi = x[i]
            out[i] = xi - t(vmath.tanh64(np.float64(xi)))
    else:
        for i in range(x.shape[0]):
            xi = x[i]
            out[i] = xi - t(vmath.tanh32(np.float64(xi)))


@kernel
def tanh_shrink_backward(x, y, dy, dx):
    """f'(x) = 1 - (1 - tanh^2 x) = tanh^2 x (from x: 1 - tanh' cancels near 0)."""
    for i in range(x.shape[0]):
        t = math.tanh(x[i])
        dx[i] = dy[i] * t * t


# ------------------------------------------------------------------ piecewise-linear newcomers of Keras 3
@kernel
def hard_silu_forward(x, out):
    """f(x) = x * relu6(x + 3) / 6 (Keras's ``hard_silu``, alias ``hard_swish``): 0 below -3, x above 3."""
    zero = x.dtype.type(0.0)
    three = x.dtype.type(3.0)
    six = x.dtype.type(6.0)
    sixth = x.dtype.type(_SIXTH)
    for i in range(x.shape[0]):
        xi = x[i]
        v = xi + three
        if v < zero:
            v = zero
        if v > six:
            v = six
        out[i] = xi * v * sixth


@kernel
def hard_silu_backward(x, y, dy, dx):
    """f'(x) = 0 below -3, 1 above 3, (2x + 3) / 6 between (kinks at -3 and 3)."""
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    two = x.dtype.type(2.0)
    three = x.dtype.type(3.0)
    sixth = x.dtype.type(_SIXTH)
    for i in range(x.shape[0]):
        xi = x[i]
        if xi < -three:
            g = zero
        elif xi > three:
            g = one
        else:
            g = (two * xi + three) * sixth
        dx[i] = dy[i] * g


hard_swish_forward = hard_silu_forward
hard_swish_backward = hard_silu_backward


@kernel
def hard_tanh_forward(x, out):
    """f(x) = -1 below -1, 1 above 1, x between."""
    one = x.dtype.type(1.0)
    for i in range(x.shape[0]):
        xi = x[i]
        if xi < -one:
            xi = -one
        if xi > one:
            xi = one
        out[i] = xi


@kernel
def hard_tanh_backward(x, y, dy, dx):
    """f'(x) = 1 on -1 < x < 1, else 0."""
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    for i in range(x.shape[0]):
        xi = x[i]
        dx[i] = dy[i] if (xi > -one and xi < one) else zero


@kernel
def sparse_plus_forward(x, out):
    """f(x) = 0 for x <= -1, (x + 1)^2 / 4 for -1 < x < 1, x for x >= 1 (a smooth-kneed relu)."""
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    quarter = x.dtype.type(0.25)
    for i in range(x.shape[0]):
        xi = x[i]
        if xi <= -one:
            out[i] = zero
        elif xi < one:
            v = xi + one
            out[i] = quarter * v * v
        else:
            out[i] = xi


@kernel
def sparse_plus_backward(x, y, dy, dx):
    """f'(x) = 0 for x <= -1, (x + 1) / 2 for -1 < x < 1, 1 for x >= 1 (continuous; f'' jumps at -1 and 1)."""
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    half = x.dtype.type(0.5)
    for i in range(x.shape[0]):
        xi = x[i]
        if xi <= -one:
            g = zero
        elif xi < one:
            g = half * (xi + one)
        else:
            g = one
        dx[i] = dy[i] * g


@kernel
def sparse_sigmoid_forward(x, out):
    """f(x) = 0 for x <= -1, (x + 1) / 2 for -1 < x < 1, 1 for x >= 1."""
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    half = x.dtype.type(0.5)
    for i in range(x.shape[0]):
        xi = x[i]
        if xi <= -one:
            out[i] = zero
        elif xi >= one:
            out[i] = one
        else:
            out[i] = half * (xi + one)


@kernel
def sparse_sigmoid_backward(x, y, dy, dx):
    """f'(x) = 1/2 on -1 < x < 1, else 0."""
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    half = x.dtype.type(0.5)
    for i in range(x.shape[0]):
        xi = x[i]
        dx[i] = dy[i] * half if (xi > -one and xi < one) else zero


@kernel
def soft_shrink_forward(x, out, threshold):
    """f(x) = x - t above t, x + t below -t, 0 between; Keras default threshold t=0.5."""
    t = x.dtype.type(threshold)
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        xi = x[i]
        if xi > t:
            out[i] = xi - t
        elif xi >= -t:
            out[i] = zero
        else:  # also NaN, which fails both tests above
            out[i] = xi + t


@kernel
def soft_shrink_backward(x, y, dy, dx, threshold):
    """f'(x) = 1 where |x| > t, else 0."""
    t = x.dtype.type(threshold)
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        dx[i] = zero if abs(x[i]) <= t else dy[i]


@kernel
def hard_shrink_forward(x, out, threshold):
    """f(x) = x where |x| > t, else 0; Keras default threshold t=0.5."""
    t = x.dtype.type(threshold)
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        xi = x[i]
        out[i] = zero if abs(xi) <= t else xi


@kernel
def hard_shrink_backward(x, y, dy, dx, threshold):
    """f'(x) = 1 where |x| > t, else 0."""
    t = x.dtype.type(threshold)
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        dx[i] = zero if abs(x[i]) <= t else dy[i]


@kernel
def threshold_forward(x, out, threshold, default_value):
    """f(x) = x if x > threshold else default_value (Keras: both arguments required, no defaults)."""
    t = x.dtype.type(threshold)
    v = x.dtype.type(default_value)
    for i in range(x.shape[0]):
        xi = x[i]
        out[i] = v if xi <= t else xi


@kernel
def threshold_backward(x, y, dy, dx, threshold, default_value):
    """f'(x) = 1 if x > threshold else 0."""
    t = x.dtype.type(threshold)
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        dx[i] = zero if x[i] <= t else dy[i]


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


# ------------------------------------------------------------------ sparsemax and glu over the middle axis
@kernel
def sparsemax_forward(x, out):
    """out = max(x - tau, 0) over the middle axis, tau chosen so that the outputs sum to 1 (Keras axis=-1).

    tau = (sum of the support - 1) / |support|, where the support is the largest set of the largest values with
    1 + k x_(k) > x_(1) + ... + x_(k) (x_(j) the j-th largest). Found without sorting (no scratch array): x_j is in
    the support iff 1 + k_j x_j > s_j, with k_j and s_j the count and sum of the values >= x_j; the support size is
    the largest such k_j. O(n^2) per slice, fine for class counts. ``out`` may alias ``x``: tau is found first.
    Everything is computed on x - max, stored in ``out`` first (the result does not change): with large logits
    x - tau would cancel catastrophically in float32, and a stored value is one the reassoc fastmath flag cannot
    regroup into x - (max + tau). After that store only ``out`` is read, so ``out`` may alias ``x``.
    """
    outer, n, inner = x.shape
    if out.shape[0] != outer or out.shape[1] != n or out.shape[2] != inner:
        raise ValueError("sparsemax_forward: x and out must have the same shape")
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    for o in range(outer):
        for k in range(inner):
            m = x.dtype.type(-np.inf)
            for j in range(n):
                if x[o, j, k] > m:
                    m = x[o, j, k]
            for j in range(n):
                out[o, j, k] = x[o, j, k] - m
            best_k = 0
            best_s = zero
            for j in range(n):
                zj = out[o, j, k]
                cnt = 0
                total = zero
                for i in range(n):
                    if out[o, i, k] >= zj:
                        cnt += 1
                        total += out[o, i, k]
                if one + x.dtype.type(cnt) * zj > total and cnt > best_k:
                    best_k = cnt
                    best_s = total
            tau = (best_s - one) / x.dtype.type(best_k) if best_k > 0 else zero
            for j in range(n):
                d = out[o, j, k] - tau
                out[o, j, k] = zero if d <= zero else d


@kernel
def sparsemax_backward(x, y, dy, dx):
    """dx = dy - mean(dy over the support) on the support (y > 0), 0 elsewhere; from the output y."""
    outer, n, inner = y.shape
    if dy.shape[0] != outer or dy.shape[1] != n or dy.shape[2] != inner or dx.shape[0] != outer or \
            dx.shape[1] != n or dx.shape[2] != inner:
        raise ValueError("sparsemax_backward: y, dy and dx must have the same shape")
    zero = y.dtype.type(0.0)
    for o in range(outer):
        for k in range(inner):
            cnt = 0
            total = zero
            for j in range(n):
                if y[o, j, k] > zero:
                    cnt += 1
                    total += dy[o, j, k]
            mean = total / cnt if cnt > 0 else zero
            for j in range(n):
                dx[o, j, k] = dy[o, j, k] - mean if y[o, j, k] > zero else zero


@kernel
def glu_forward(x, out):
    """Keras's ``glu(x, axis=-1)``: split the middle axis in halves a (first) and b (second); out = a * sigmoid(b).

    x is ``(outer, 2m, inner)`` and out ``(outer, m, inner)``: the output is half as wide, so it cannot alias x.
    """
    outer, n2, inner = x.shape
    m = out.shape[1]
    if out.shape[0] != outer or out.shape[2] != inner or n2 != 2 * m:
        raise ValueError("glu_forward: out must be x with its middle axis halved (and that axis even)")
    one = x.dtype.type(1.0)
    for o in range(outer):
        for j in range(m):
            for k in range(inner):
                out[o, j, k] = x[o, j, k] * _sigmoid(x[o, m + j, k], one)


@kernel
def glu_backward(x, y, dy, dx):
    """da = dy * sigmoid(b);  db = dy * a * sigmoid(b) * (1 - sigmoid(b)).  x, dx: (outer, 2m, inner); y, dy: (outer,
    m, inner). dx must not alias dy (their shapes differ)."""
    outer, n2, inner = x.shape
    m = dy.shape[1]
    if dy.shape[0] != outer or dy.shape[2] != inner or n2 != 2 * m or dx.shape[0] != outer or \
            dx.shape[1] != n2 or dx.shape[2] != inner:
        raise ValueError("glu_backward: x and dx must have dy's middle axis doubled, the other axes equal")
    one = x.dtype.type(1.0)
    for o in range(outer):
        for j in range(m):
            for k in range(inner):
                s = _sigmoid(x[o, m + j, k], one)
                g = dy[o, j, k]
                a = x[o, j, k]
                dx[o, j, k] = g * s
                dx[o, m + j, k] = g * a * s * (one - s)
