"""Loss kernels: Keras 3's loss functions, one value per row of ``(rows, d)`` inputs.

The caller flattens every leading axis into rows; each kernel reduces the last axis exactly as the Keras loss
function does (``mean`` for most, ``sum`` for kl_divergence and the crossentropies), giving the per-sample values
that Keras then weights and reduces.

Conventions shared by every pair here:

* ``<name>_forward(y_true, y_pred, out, <params>)`` writes ``out[i]``, the loss of row ``i``.
* ``<name>_backward(y_true, y_pred, dout, dpred, <params>)`` writes ``dpred = d(sum_i dout[i] * out[i]) / d y_pred``.
  Gradients with respect to ``y_true`` are never needed (labels are data).
* Sparse losses take ``y_true`` as ``(rows,)`` float labels of the input dtype; a label that is negative, too
  large, non-integral or NaN raises ValueError instead of reading outside the row.
* Every parameter is explicit; the Keras default is named in each docstring.
* ``EPSILON`` is ``keras.backend.epsilon()``. Where Keras clips or takes a maximum, the backward is the exact
  derivative of that clipped expression: zero where the clamp is active. At a value lying exactly on a bound the
  unclamped branch's derivative is used (JAX would split it half and half; it is a set of measure zero).
* Formulas follow Keras 3.15/3.16 ``keras/src/losses/losses.py`` and, for the crossentropies, the JAX backend's
  ``keras/src/backend/jax/nn.py``.

Reduction helpers (``weighted_sum``, ``loss_upstream``) sit at the end: Keras's default reduction
``"sum_over_batch_size"`` is ``sum(sample_weight * values) / values.size``, divided by the number of values and
not by the sum of the weights.
"""

import numpy as np

from ..policy import kernel

#: keras.backend.epsilon(); typed from the data at each use so float32 stays float32.
EPSILON = 1e-7


# --- regression losses -------------------------------------------------------------------------------------------


@kernel
def mean_squared_error_forward(y_true, y_pred, out):
    """loss = mean_j (y_true - y_pred)^2."""
    rows, d = y_pred.shape
    fd = y_pred.dtype.type(d)
    for i in range(rows):
        acc = y_pred.dtype.type(0.0)
        for j in range(d):
            e = y_true[i, j] - y_pred[i, j]
            acc += e * e
        out[i] = acc / fd


@kernel
def mean_squared_error_backward(y_true, y_pred, dout, dpred):
    """d loss / d y_pred = 2 (y_pred - y_true) / d."""
    rows, d = y_pred.shape
    two_over_d = y_pred.dtype.type(2.0) / y_pred.dtype.type(d)
    for i in range(rows):
        g = dout[i] * two_over_d
        for j in range(d):
            dpred[i, j] = g * (y_pred[i, j] - y_true[i, j])


@kernel
def mean_absolute_error_forward(y_true, y_pred, out):
    """loss = mean_j |y_true - y_pred|."""
    rows, d = y_pred.shape
    fd = y_pred.dtype.type(d)
    for i in range(rows):
        acc = y_pred.dtype.type(0.0)
        for j in range(d):
            acc += abs(y_true[i, j] - y_pred[i, j])
        out[i] = acc / fd


@kernel
def mean_absolute_error_backward(y_true, y_pred, dout, dpred):
    """d loss / d y_pred = sign(y_pred - y_true) / d, with sign(0) = 0 as JAX's abs gradient."""
    rows, d = y_pred.shape
    zero = y_pred.dtype.type(0.0)
    inv_d = y_pred.dtype.type(1.0) / y_pred.dtype.type(d)
    for i in range(rows):
        g = dout[i] * inv_d
        for j in range(d):
            e = y_pred[i, j] - y_true[i, j]
            dpred[i, j] = g if e > zero else (-g if e < zero else zero)


@kernel
def mean_absolute_percentage_error_forward(y_true, y_pred, out):
    """loss = 100 * mean_j |(y_true - y_pred) / max(|y_true|, 1e-7)|.

    Trap: the epsilon floors the denominator |y_true| (a zero target gives a huge, finite loss), it is not added.
    """
    rows, d = y_pred.shape
    eps = y_pred.dtype.type(EPSILON)
    hundred = y_pred.dtype.type(100.0)
    fd = y_pred.dtype.type(d)
    for i in range(rows):
        acc = y_pred.dtype.type(0.0)
        for j in range(d):
            acc += abs((y_true[i, j] - y_pred[i, j]) / max(abs(y_true[i, j]), eps))
        out[i] = hundred * (acc / fd)


@kernel
def mean_absolute_percentage_error_backward(y_true, y_pred, dout, dpred):
    """d loss / d y_pred = 100 sign(y_pred - y_true) / (d max(|y_true|, 1e-7)), sign(0) = 0."""
    rows, d = y_pred.shape
    zero = y_pred.dtype.type(0.0)
    eps = y_pred.dtype.type(EPSILON)
    scale = y_pred.dtype.type(100.0) / y_pred.dtype.type(d)
    for i in range(rows):
        g = dout[i] * scale
        for j in range(d):
            e = y_pred[i, j] - y_true[i, j]
            s = g / max(abs(y_true[i, j]), eps)
            dpred[i, j] = s if e > zero else (-s if e < zero else zero)


@kernel
def mean_squared_logarithmic_error_forward(y_true, y_pred, out):
    """loss = mean_j (log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))^2.

    Trap: negative inputs are floored at 1e-7 before the log (so y_pred < 1e-7 gets no gradient), not rejected.
    """
    rows, d = y_pred.shape
    eps = y_pred.dtype.type(EPSILON)
    one = y_pred.dtype.type(1.0)
    fd = y_pred.dtype.type(d)
    for i in range(rows):
        acc = y_pred.dtype.type(0.0)
        for j in range(d):
            e = np.log(max(y_pred[i, j], eps) + one) - np.log(max(y_true[i, j], eps) + one)
            acc += e * e
        out[i] = acc / fd


@kernel
def mean_squared_logarithmic_error_backward(y_true, y_pred, dout, dpred):
    """d loss / d y_pred = 2 e / ((y_pred + 1) d) where y_pred >= 1e-7 (e the log difference), else 0."""
    rows, d = y_pred.shape
    zero = y_pred.dtype.type(0.0)
    eps = y_pred.dtype.type(EPSILON)
    one = y_pred.dtype.type(1.0)
    two_over_d = y_pred.dtype.type(2.0) / y_pred.dtype.type(d)
    for i in range(rows):
        g = dout[i] * two_over_d
        for j in range(d):
            p = y_pred[i, j]
            if p < eps:
                dpred[i, j] = zero
            else:
                e = np.log(p + one) - np.log(max(y_true[i, j], eps) + one)
                dpred[i, j] = g * e / (p + one)


@kernel
def huber_forward(y_true, y_pred, out, delta):
    """loss = mean_j h(y_pred - y_true); h(e) = e^2 / 2 if |e| <= delta else delta |e| - delta^2 / 2.

    Keras default delta=1.0. The quadratic branch includes |e| == delta.
    """
    rows, d = y_pred.shape
    half = y_pred.dtype.type(0.5)
    dl = y_pred.dtype.type(delta)
    fd = y_pred.dtype.type(d)
    for i in range(rows):
        acc = y_pred.dtype.type(0.0)
        for j in range(d):
            e = y_pred[i, j] - y_true[i, j]
            a = abs(e)
            acc += half * e * e if a <= dl else dl * a - half * dl * dl
        out[i] = acc / fd


@kernel
def huber_backward(y_true, y_pred, dout, dpred, delta):
    """d loss / d y_pred = e / d where |e| <= delta, else delta sign(e) / d (e = y_pred - y_true)."""
    rows, d = y_pred.shape
    zero = y_pred.dtype.type(0.0)
    dl = y_pred.dtype.type(delta)
    inv_d = y_pred.dtype.type(1.0) / y_pred.dtype.type(d)
    for i in range(rows):
        g = dout[i] * inv_d
        for j in range(d):
            e = y_pred[i, j] - y_true[i, j]
            if abs(e) <= dl:
                dpred[i, j] = g * e
            else:
                dpred[i, j] = g * dl if e > zero else -g * dl


@kernel
def log_cosh_forward(y_true, y_pred, out):
    """loss = mean_j log(cosh(e)), e = y_pred - y_true, evaluated as Keras does: e + softplus(-2e) - log(2).

    That form cannot overflow where cosh(e) would (|e| > ~89 in float32).
    """
    rows, d = y_pred.shape
    zero = y_pred.dtype.type(0.0)
    minus_two = y_pred.dtype.type(-2.0)
    log2 = y_pred.dtype.type(np.log(2.0))
    fd = y_pred.dtype.type(d)
    for i in range(rows):
        acc = y_pred.dtype.type(0.0)
        for j in range(d):
            e = y_pred[i, j] - y_true[i, j]
            x = minus_two * e
            softplus = max(x, zero) + np.log1p(np.exp(-abs(x)))
            acc += e + softplus - log2
        out[i] = acc / fd


@kernel
def log_cosh_backward(y_true, y_pred, dout, dpred):
    """d loss / d y_pred = tanh(y_pred - y_true) / d."""
    rows, d = y_pred.shape
    inv_d = y_pred.dtype.type(1.0) / y_pred.dtype.type(d)
    for i in range(rows):
        g = dout[i] * inv_d
        for j in range(d):
            dpred[i, j] = g * np.tanh(y_pred[i, j] - y_true[i, j])


# --- hinge losses -----------------------------------------------------------------------------------------------


@kernel
def _labels_are_binary(y_true):
    """Keras's convert_binary_labels_to_hinge test: True when every label in the whole array is exactly 0 or 1.

    Keras decides once over the entire y_true tensor of the batch, not per row, so a batch mixing {0, 1} rows with
    a single -1 leaves every label unconverted.
    """
    zero = y_true.dtype.type(0.0)
    one = y_true.dtype.type(1.0)
    flat = y_true.reshape(-1)
    for k in range(flat.shape[0]):
        if flat[k] != zero and flat[k] != one:
            return False
    return True


@kernel
def hinge_forward(y_true, y_pred, out):
    """loss = mean_j max(1 - t y_pred, 0), t = 2 y_true - 1 if all of y_true is in {0, 1}, else y_true.

    Trap: the {0, 1} -> {-1, 1} conversion is decided over the whole batch (see ``_labels_are_binary``).
    """
    rows, d = y_pred.shape
    zero = y_pred.dtype.type(0.0)
    one = y_pred.dtype.type(1.0)
    two = y_pred.dtype.type(2.0)
    binary = _labels_are_binary(y_true)
    fd = y_pred.dtype.type(d)
    for i in range(rows):
        acc = zero
        for j in range(d):
            t = two * y_true[i, j] - one if binary else y_true[i, j]
            acc += max(one - t * y_pred[i, j], zero)
        out[i] = acc / fd


@kernel
def hinge_backward(y_true, y_pred, dout, dpred):
    """d loss / d y_pred = -t / d where the margin 1 - t y_pred >= 0, else 0 (t as in hinge_forward)."""
    rows, d = y_pred.shape
    zero = y_pred.dtype.type(0.0)
    one = y_pred.dtype.type(1.0)
    two = y_pred.dtype.type(2.0)
    binary = _labels_are_binary(y_true)
    inv_d = one / y_pred.dtype.type(d)
    for i in range(rows):
        g = dout[i] * inv_d
        for j in range(d):
            t = two * y_true[i, j] - one if binary else y_true[i, j]
            dpred[i, j] = -g * t if one - t * y_pred[i, j] >= zero else zero


@kernel
def squared_hinge_forward(y_true, y_pred, out):
    """loss = mean_j max(1 - t y_pred, 0)^2, with t converted from {0, 1} labels exactly as in hinge_forward."""
    rows, d = y_pred.shape
    zero = y_pred.dtype.type(0.0)
    one = y_pred.dtype.type(1.0)
    two = y_pred.dtype.type(2.0)
    binary = _labels_are_binary(y_true)
    fd = y_pred.dtype.type(d)
    for i in range(rows):
        acc = zero
        for j in range(d):
            t = two * y_true[i, j] - one if binary else y_true[i, j]
            m = max(one - t * y_pred[i, j], zero)
            acc += m * m
        out[i] = acc / fd


@kernel
def squared_hinge_backward(y_true, y_pred, dout, dpred):
    """d loss / d y_pred = -2 t max(1 - t y_pred, 0) / d."""
    rows, d = y_pred.shape
    zero = y_pred.dtype.type(0.0)
    one = y_pred.dtype.type(1.0)
    two = y_pred.dtype.type(2.0)
    binary = _labels_are_binary(y_true)
    two_over_d = two / y_pred.dtype.type(d)
    for i in range(rows):
        g = dout[i] * two_over_d
        for j in range(d):
            t = two * y_true[i, j] - one if binary else y_true[i, j]
            dpred[i, j] = -g * t * max(one - t * y_pred[i, j], zero)


@kernel
def _categorical_hinge_terms(y_true, y_pred, i):
    """(neg - pos + 1, argmax) for row i: pos = sum_j y_true y_pred, neg = max_j (1 - y_true) y_pred."""
    one = y_pred.dtype.type(1.0)
    pos = y_pred.dtype.type(0.0)
    neg = (one - y_true[i, 0]) * y_pred[i, 0]
    arg = 0
    for j in range(y_pred.shape[1]):
        pos += y_true[i, j] * y_pred[i, j]
        v = (one - y_true[i, j]) * y_pred[i, j]
        if v > neg:
            neg = v
            arg = j
    return neg - pos + one, arg


@kernel
def categorical_hinge_forward(y_true, y_pred, out):
    """loss = max(neg - pos + 1, 0), pos = sum_j y_true y_pred, neg = max_j (1 - y_true) y_pred.

    Labels are used as given (no {0, 1} conversion); one-hot y_true is the intended input.
    """
    zero = y_pred.dtype.type(0.0)
    for i in range(y_pred.shape[0]):
        margin, _ = _categorical_hinge_terms(y_true, y_pred, i)
        out[i] = max(margin, zero)


@kernel
def categorical_hinge_backward(y_true, y_pred, dout, dpred):
    """Where the loss is active: d loss / d y_pred_j = -y_true_j + (1 - y_true_j) [j == argmax]; else 0.

    On a tie for the max the first index takes the whole gradient (JAX would share it).
    """
    zero = y_pred.dtype.type(0.0)
    one = y_pred.dtype.type(1.0)
    for i in range(y_pred.shape[0]):
        margin, arg = _categorical_hinge_terms(y_true, y_pred, i)
        active = margin >= zero
        for j in range(y_pred.shape[1]):
            dpred[i, j] = -dout[i] * y_true[i, j] if active else zero
        if active:
            dpred[i, arg] += dout[i] * (one - y_true[i, arg])


# --- probabilistic losses ---------------------------------------------------------------------------------------


@kernel
def kl_divergence_forward(y_true, y_pred, out):
    """loss = sum_j t log(t / p), t = clip(y_true, 1e-7, 1), p = clip(y_pred, 1e-7, 1). A sum, not a mean."""
    rows, d = y_pred.shape
    eps = y_pred.dtype.type(EPSILON)
    one = y_pred.dtype.type(1.0)
    for i in range(rows):
        acc = y_pred.dtype.type(0.0)
        for j in range(d):
            t = min(max(y_true[i, j], eps), one)
            p = min(max(y_pred[i, j], eps), one)
            acc += t * np.log(t / p)
        out[i] = acc


@kernel
def kl_divergence_backward(y_true, y_pred, dout, dpred):
    """d loss / d y_pred = -t / y_pred where 1e-7 <= y_pred <= 1, else 0 (t the clipped y_true)."""
    rows, d = y_pred.shape
    zero = y_pred.dtype.type(0.0)
    eps = y_pred.dtype.type(EPSILON)
    one = y_pred.dtype.type(1.0)
    for i in range(rows):
        for j in range(d):
            p = y_pred[i, j]
            t = min(max(y_true[i, j], eps), one)
            dpred[i, j] = -dout[i] * t / p if eps <= p <= one else zero


@kernel
def poisson_forward(y_true, y_pred, out):
    """loss = mean_j (y_pred - y_true log(y_pred + 1e-7)). The epsilon is added inside the log, not a clip."""
    rows, d = y_pred.shape
    eps = y_pred.dtype.type(EPSILON)
    fd = y_pred.dtype.type(d)
    for i in range(rows):
        acc = y_pred.dtype.type(0.0)
        for j in range(d):
            p = y_pred[i, j]
            acc += p - y_true[i, j] * np.log(p + eps)
        out[i] = acc / fd


@kernel
def poisson_backward(y_true, y_pred, dout, dpred):
    """d loss / d y_pred = (1 - y_true / (y_pred + 1e-7)) / d."""
    rows, d = y_pred.shape
    eps = y_pred.dtype.type(EPSILON)
    one = y_pred.dtype.type(1.0)
    inv_d = one / y_pred.dtype.type(d)
    for i in range(rows):
        g = dout[i] * inv_d
        for j in range(d):
            dpred[i, j] = g * (one - y_true[i, j] / (y_pred[i, j] + eps))


@kernel
def _inv_l2_norm(x, i):
    """1 / max(||x[i]||, 1e-7), written as Keras's rsqrt(max(sum x^2, eps^2)); also returns sum x^2."""
    eps = x.dtype.type(EPSILON)
    ss = x.dtype.type(0.0)
    for j in range(x.shape[1]):
        ss += x[i, j] * x[i, j]
    return x.dtype.type(1.0) / np.sqrt(max(ss, eps * eps)), ss


@kernel
def cosine_similarity_forward(y_true, y_pred, out):
    """loss = -sum_j l2_normalize(y_true)_j l2_normalize(y_pred)_j.

    l2_normalize(x) = x / max(||x||, 1e-7) (Keras: x * rsqrt(max(sum x^2, 1e-14))), so a zero row gives 0, not
    NaN. Keras's axis=-1 is the only axis here; callers move the axis last.
    """
    rows, d = y_pred.shape
    for i in range(rows):
        rt, _ = _inv_l2_norm(y_true, i)
        rp, _ = _inv_l2_norm(y_pred, i)
        acc = y_pred.dtype.type(0.0)
        for j in range(d):
            acc += (y_true[i, j] * rt) * (y_pred[i, j] * rp)
        out[i] = -acc


@kernel
def cosine_similarity_backward(y_true, y_pred, dout, dpred):
    """d loss / d p = -r_p tn + a r_p^3 p, a = sum_j tn_j p_j, tn = normalized y_true, r_p = 1 / ||p||.

    Where ||p|| < 1e-7 the norm is clamped: r_p is constant there and the second term vanishes.
    """
    rows, d = y_pred.shape
    zero = y_pred.dtype.type(0.0)
    eps = y_pred.dtype.type(EPSILON)
    for i in range(rows):
        rt, _ = _inv_l2_norm(y_true, i)
        rp, ssp = _inv_l2_norm(y_pred, i)
        a = zero
        for j in range(d):
            a += y_true[i, j] * rt * y_pred[i, j]
        c = a * rp * rp * rp if ssp >= eps * eps else zero
        for j in range(d):
            dpred[i, j] = dout[i] * (c * y_pred[i, j] - rp * rt * y_true[i, j])


# --- crossentropies ---------------------------------------------------------------------------------------------


@kernel
def _log_softmax_terms(z, i):
    """(max, log sum exp(z - max)) of row i: log_softmax(z)_j = z_j - max - lse, as jax.nn.log_softmax."""
    m = z[i, 0]
    for j in range(z.shape[1]):
        m = max(m, z[i, j])
    s = z.dtype.type(0.0)
    for j in range(z.shape[1]):
        s += np.exp(z[i, j] - m)
    return m, np.log(s)


@kernel
def _row_sum(x, i):
    s = x.dtype.type(0.0)
    for j in range(x.shape[1]):
        s += x[i, j]
    return s


@kernel
def binary_crossentropy_forward(y_true, y_pred, out, from_logits, label_smoothing):
    """loss = mean_j -(t log p + (1 - t) log(1 - p)), t = y_true (1 - ls) + 0.5 ls.

    Keras defaults from_logits=False, label_smoothing=0.0.
    Probabilities: p = clip(y_pred, 1e-7, 1 - 1e-7) (JAX backend form: no epsilon added inside the logs).
    Logits: the stable log-sigmoid form, loss = t softplus(-z) + (1 - t) softplus(z), softplus(x) =
    max(x, 0) + log1p(exp(-|x|)), which never forms sigmoid(z) and so never takes log(0).
    """
    rows, d = y_pred.shape
    zero = y_pred.dtype.type(0.0)
    one = y_pred.dtype.type(1.0)
    lo = y_pred.dtype.type(EPSILON)
    hi = y_pred.dtype.type(1.0 - EPSILON)
    keep = y_pred.dtype.type(1.0 - label_smoothing)
    add = y_pred.dtype.type(0.5 * label_smoothing)
    fd = y_pred.dtype.type(d)
    for i in range(rows):
        acc = zero
        for j in range(d):
            t = y_true[i, j] * keep + add
            x = y_pred[i, j]
            if from_logits:
                tail = np.log1p(np.exp(-abs(x)))
                acc += t * (max(-x, zero) + tail) + (one - t) * (max(x, zero) + tail)
            else:
                p = min(max(x, lo), hi)
                acc -= t * np.log(p) + (one - t) * np.log(one - p)
        out[i] = acc / fd


@kernel
def binary_crossentropy_backward(y_true, y_pred, dout, dpred, from_logits, label_smoothing):
    """Logits: d loss / d z = (sigmoid(z) - t) / d.
    Probabilities: (-t / p + (1 - t) / (1 - p)) / d where 1e-7 <= y_pred <= 1 - 1e-7, else 0 (clipped).
    """
    rows, d = y_pred.shape
    zero = y_pred.dtype.type(0.0)
    one = y_pred.dtype.type(1.0)
    lo = y_pred.dtype.type(EPSILON)
    hi = y_pred.dtype.type(1.0 - EPSILON)
    keep = y_pred.dtype.type(1.0 - label_smoothing)
    add = y_pred.dtype.type(0.5 * label_smoothing)
    inv_d = one / y_pred.dtype.type(d)
    for i in range(rows):
        g = dout[i] * inv_d
        for j in range(d):
            t = y_true[i, j] * keep + add
            x = y_pred[i, j]
            if from_logits:
                # sigmoid written so exp never overflows: exp of a non-positive number only.
                ex = np.exp(-abs(x))
                sig = one / (one + ex) if x >= zero else ex / (one + ex)
                dpred[i, j] = g * (sig - t)
            elif lo <= x <= hi:
                dpred[i, j] = g * ((one - t) / (one - x) - t / x)
            else:
                dpred[i, j] = zero


@kernel
def categorical_crossentropy_forward(y_true, y_pred, out, from_logits, label_smoothing):
    """loss = -sum_j t_j log q_j, t = y_true (1 - ls) + ls / num_classes.

    Keras defaults from_logits=False, label_smoothing=0.0.
    Probabilities: q = clip(y_pred / sum(y_pred), 1e-7, 1 - 1e-7). Trap: Keras renormalises each row first, so
    scaling a row of y_pred does not change the loss.
    Logits (fused softmax + crossentropy from logits): log q = log_softmax(z), computed as z - max - lse.
    """
    rows, d = y_pred.shape
    lo = y_pred.dtype.type(EPSILON)
    hi = y_pred.dtype.type(1.0 - EPSILON)
    keep = y_pred.dtype.type(1.0 - label_smoothing)
    add = y_pred.dtype.type(label_smoothing) / y_pred.dtype.type(d)
    for i in range(rows):
        acc = y_pred.dtype.type(0.0)
        if from_logits:
            m, lse = _log_softmax_terms(y_pred, i)
            for j in range(d):
                acc -= (y_true[i, j] * keep + add) * (y_pred[i, j] - m - lse)
        else:
            s = _row_sum(y_pred, i)
            for j in range(d):
                q = min(max(y_pred[i, j] / s, lo), hi)
                acc -= (y_true[i, j] * keep + add) * np.log(q)
        out[i] = acc


@kernel
def categorical_crossentropy_backward(y_true, y_pred, dout, dpred, from_logits, label_smoothing):
    """Logits, the fused softmax + crossentropy from logits backward: dz = (softmax(z) sum_j t_j - t) dout.

    For labels summing to 1 (one-hot, smoothed or not) that is the familiar (softmax(z) - t) dout; the sum keeps
    it exact for any y_true.
    Probabilities: with S = sum(y_pred), q = y_pred / S and g_j = -t_j / q_j where q_j is inside the clip (0
    where clipped), dp_k = (g_k - sum_j g_j q_j) / S; the second term is the renormalisation's share, and
    g_j q_j = -t_j on unclipped entries.
    """
    rows, d = y_pred.shape
    zero = y_pred.dtype.type(0.0)
    lo = y_pred.dtype.type(EPSILON)
    hi = y_pred.dtype.type(1.0 - EPSILON)
    keep = y_pred.dtype.type(1.0 - label_smoothing)
    add = y_pred.dtype.type(label_smoothing) / y_pred.dtype.type(d)
    for i in range(rows):
        if from_logits:
            m, lse = _log_softmax_terms(y_pred, i)
            tsum = zero
            for j in range(d):
                tsum += y_true[i, j] * keep + add
            for j in range(d):
                sm = np.exp(y_pred[i, j] - m - lse)
                dpred[i, j] = dout[i] * (sm * tsum - (y_true[i, j] * keep + add))
        else:
            s = _row_sum(y_pred, i)
            gq = zero
            for j in range(d):
                q = y_pred[i, j] / s
                if lo <= q <= hi:
                    gq -= y_true[i, j] * keep + add
            for j in range(d):
                q = y_pred[i, j] / s
                g = -(y_true[i, j] * keep + add) / q if lo <= q <= hi else zero
                dpred[i, j] = dout[i] * (g - gq) / s


@kernel
def _class_index(label, num_classes):
    """The integer class of a float label; ValueError for anything that would index outside the row."""
    if not (label >= 0 and label < num_classes) or label != np.floor(label):
        raise ValueError("sparse_categorical_crossentropy: labels must be integers in [0, num_classes)")
    return int(label)


@kernel
def sparse_categorical_crossentropy_forward(y_true, y_pred, out, from_logits):
    """loss = -log q_k, k = y_true (a (rows,) array of integral float labels).

    Keras default from_logits=False; no label smoothing in Keras's sparse loss.
    Probabilities: q = clip(y_pred / sum(y_pred), 1e-7, 1 - 1e-7), as categorical_crossentropy.
    Logits (fused softmax + crossentropy from logits): -log q_k = max + lse - z_k.
    Trap: JAX silently gives loss 0 for an out-of-range label (one_hot of it is all zeros); we raise ValueError.
    """
    rows, d = y_pred.shape
    lo = y_pred.dtype.type(EPSILON)
    hi = y_pred.dtype.type(1.0 - EPSILON)
    for i in range(rows):
        k = _class_index(y_true[i], d)
        if from_logits:
            m, lse = _log_softmax_terms(y_pred, i)
            out[i] = m + lse - y_pred[i, k]
        else:
            s = _row_sum(y_pred, i)
            out[i] = -np.log(min(max(y_pred[i, k] / s, lo), hi))


@kernel
def sparse_categorical_crossentropy_backward(y_true, y_pred, dout, dpred, from_logits):
    """Logits (fused softmax + crossentropy from logits): dz = (softmax(z) - onehot(k)) dout.
    Probabilities: where q_k is inside the clip, dp_j = (1 - [j == k] / q_k) dout / S (S = row sum); else 0.
    """
    rows, d = y_pred.shape
    zero = y_pred.dtype.type(0.0)
    one = y_pred.dtype.type(1.0)
    lo = y_pred.dtype.type(EPSILON)
    hi = y_pred.dtype.type(1.0 - EPSILON)
    for i in range(rows):
        k = _class_index(y_true[i], d)
        if from_logits:
            m, lse = _log_softmax_terms(y_pred, i)
            for j in range(d):
                dpred[i, j] = dout[i] * np.exp(y_pred[i, j] - m - lse)
            dpred[i, k] -= dout[i]
        else:
            s = _row_sum(y_pred, i)
            q = y_pred[i, k] / s
            inside = lo <= q <= hi
            g = dout[i] / s if inside else zero
            for j in range(d):
                dpred[i, j] = g
            if inside:  # a clipped q may be 0: never form 1 / q there
                dpred[i, k] = g * (one - one / q)


# --- reduction --------------------------------------------------------------------------------------------------


@kernel
def _check_weights(values, weights):
    if weights.shape[0] != 0 and weights.shape[0] != values.shape[0]:
        raise ValueError("sample weights must be empty or have one weight per loss value")


@kernel
def weighted_sum(values, weights):
    """sum_i weights[i] * values[i] as a Python float; empty ``weights`` means every weight is 1.

    Keras's default reduction "sum_over_batch_size" is this sum divided by values.size (the caller's ``scale``),
    not by the sum of the weights. Accumulates in the input dtype, as Keras's float32 ``ops.sum`` does.
    """
    _check_weights(values, weights)
    acc = values.dtype.type(0.0)
    if weights.shape[0] == 0:
        for i in range(values.shape[0]):
            acc += values[i]
    else:
        for i in range(values.shape[0]):
            acc += weights[i] * values[i]
    return float(acc)


@kernel
def loss_upstream(weights, scale, dout):
    """dout[i] = scale * weights[i] (scale alone when ``weights`` is empty): d(scale * weighted_sum) / d values.

    For "sum_over_batch_size", scale = 1 / number of values.
    """
    _check_weights(dout, weights)
    sc = dout.dtype.type(scale)
    if weights.shape[0] == 0:
        for i in range(dout.shape[0]):
            dout[i] = sc
    else:
        for i in range(dout.shape[0]):
            dout[i] = sc * weights[i]
