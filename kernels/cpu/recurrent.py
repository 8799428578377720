"""Recurrent layers (SimpleRNN, LSTM, GRU): the whole time loop inside one kernel, forward and backward (BPTT).

Checked against Keras 3's source (keras-team/keras at 3422977, Aug 2026: keras/src/layers/rnn/simple_rnn.py,
lstm.py, gru.py, rnn.py, dropout_rnn_cell.py, backend/jax/rnn.py and backend/numpy/rnn.py).

Weights, Keras's layouts (k = gates: SimpleRNN 1, LSTM 4 in order i, f, c, o, GRU 3 in order z, r, h):
    kernel (D, kU), recurrent_kernel (U, kU), bias (kU,) or size 0 (use_bias=False).
    GRU with reset_after=True has bias (2, 3U) in Keras (input bias, then recurrent bias): pass it flattened,
    a (6U,) view, and dbias likewise.

One step, with xd = x_t * dmask_x and hd = h * dmask_h (dropout; the state h itself is never dropped):
    SimpleRNN  h' = act(xd K + hd R + b)
    LSTM       z = xd K + hd R + b;  i, f, o = ract(z_i), ract(z_f), ract(z_o);  g = act(z_c)
               c' = f c + i g;  h' = o act(c')
    GRU        mx = xd K + b_in;  z = ract(mx_z + mi_z);  r = ract(mx_r + mi_r);  h' = z h + (1 - z) hh
               reset_after=True:  mi = hd R + b_rec;           hh = act(mx_h + r mi_h)
               reset_after=False: mi_zr = hd R_zr (no b_rec); hh = act(mx_h + (r hd_h) R_h)

Dropout masks (already scaled, 1/(1-rate) or 0), one per sequence, the same at every step, shape (N, G, D) for
inputs and (N, G, U) for the state, or size 0 for none, where G is 1 (one mask shared by every gate) or k (one
per gate, gate order as above). Sample-major, so that a layer's per-sample scratch holds them (``dropout_masks``
makes them from uniforms). Keras 3 draws one shared input mask in its default ``implementation=2``; any
``recurrent_dropout > 0`` switches the cell to ``implementation=1``, which draws k separate masks for the inputs
and k for the state (``dropout_mask_count``). SimpleRNN always uses one mask each.

Sequence mask ``mask`` (N, T), nonzero = keep, or size 0 for none. Keras 3's backend ``rnn`` (JAX/NumPy): a
masked step leaves every state unchanged (h, and c for LSTM), and its output is the previous state h (the
last unmasked output, or h0 before any), or zeros when ``zero_output_for_mask`` (the RNN argument, default
False; Bidirectional forces it to return_sequences). Keras's TensorFlow backend differs in one corner: before
the first unmasked step it outputs zeros rather than h0 (only visible with a nonzero initial state).

``go_backwards``: the steps run from t = T-1 down to 0, and ``seq`` is in processing order (seq[:, s] is the
output of step s, computed from x[:, T-1-s]), as Keras returns it; Keras's last output is seq[:, T-1].

Outputs: seq (N, T, U); hT (N, U) the final state (cT for LSTM). seq[:, -1] equals hT unless the last step is
masked with ``zero_output_for_mask``. ``cache`` is a 1-D C-contiguous array of at least
``<name>_cache_size(N, T, D, U)`` elements that forward fills and backward reads (per sample and time step:
SimpleRNN h' and the state; LSTM i, f, g, o, c state, act(c'), h state; GRU z, r, hh, mi_h (reset_after) or
r hd_h (not), h state). It is indexed by input time t, not by processing step.

Activations (``activation`` / ``recurrent_activation`` codes, ``ACTIVATIONS[code]`` is Keras's name): only
functions whose derivative can be computed from their output, so the cache keeps outputs only.
    0 linear, 1 tanh, 2 sigmoid, 3 relu, 4 hard_sigmoid (Keras 3: relu6(x + 3) / 6), 5 softsign,
    6 softplus, 7 elu (alpha 1), 8 selu, 9 exponential, 10 relu6.
Keras's defaults: activation tanh (1), recurrent_activation sigmoid (2); SimpleRNN has no recurrent activation.

Backward (BPTT in one call): dseq (N, T, U) is the upstream gradient of seq (zeros where the layer returned only
the last output: it passes that gradient as dhT instead), dhT (and dcT) of the final states. dx (N, T, D),
dh0 (and dc0) (N, U) are overwritten, or skipped when of size 0; dkernel, drecurrent_kernel and dbias are
added to with ``accumulate``, else overwritten (dbias skipped when of size 0).

Arrays must not overlap each other (outputs, cache and inputs). Small per-call scratch (a few (N, kU) arrays)
is allocated inside; everything that grows with T is in the caller's cache.

Matrix products go through the project's ``gemm`` on per-step views of x, the cache and the weights (row strides
larger than the row, which BLAS takes as leading dimensions). Measured against the same kernels with plain numba
loops for the products, one training step (forward + backward, dx skipped), float32, OpenBLAS on one thread
(``policy.compute_threads``), on the 2-core dev machine shared with other jobs (load ~4.5, so +-40%):

    GRU(32), T=40, D=1, N=100:   gemm 5.4-13 ms, loops 12-16 ms
    LSTM(64), T=100, D=64, N=32: gemm 22-61 ms,  loops 114-150 ms

so gemm stays (with NBKERAS_GEMM=numba, the numba GEMM copying the strided views: GRU 9.4 ms, LSTM 44 ms).

Forward, two further changes (bench/rnn_profile.py, forward alone, float32, medians; same loaded machine):
the input product x K (+ bias) runs for every step before the loop, one (T, D) @ (D, kU) product per sample
(``_project_inputs``), leaving only the recurrent product inside it; and the activations run over whole gate
rows, in place, float32 tanh/sigmoid in plain arithmetic that vectorises (``_tanh_row32``; math.tanh/exp cost
~14 ns an element, the vector loop ~0.3 ns). LSTM(64) T=100 N=32: 10.7 -> 2.7 ms; GRU(32) T=40 N=100:
3.3 -> 1.05 ms. (An activation loop reading one array and writing another lost half of that: called in place,
LLVM's runtime overlap check failed and it ran the scalar copy of the loop.)
Outside ``compute_threads`` OpenBLAS may run its own threads on these small products; on the
loaded machine that made the LSTM forward alone take 0.7-3.6 s (spin-waiting threads), so callers should run
these kernels inside ``compute_threads`` as the trainer does.
"""

import math

import numpy as np

from ..policy import kernel
from .gemm import gemm

ACTIVATIONS = ("linear", "tanh", "sigmoid", "relu", "hard_sigmoid", "softsign", "softplus", "elu", "selu",
               "exponential", "relu6")
_N_CODES = len(ACTIVATIONS)  # a global int: numba freezes it as a constant

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# ------------------------------------------------------------------------------------ activations by code


@kernel
def _act(code, v):
    """Activation ``code`` (see ACTIVATIONS) of a scalar."""
    one = 1.0
    zero = 0.0
    if code == 1:
        return math.tanh(v)
    if code == 2:
        if v >= zero:
            return one / (one + math.exp(-v))
        e = math.exp(v)
        return e / (one + e)
    if code == 3:
        return zero if v < zero else v
    if code == 4:
        w = v + 3.0
        w = zero if w < zero else w
        w = 6.0 if w > 6.0 else w
        return w / 6.0
    if code == 5:
        return v / (one + abs(v))
    if code == 6:
        return math.log1p(math.exp(-abs(v))) + (v if v > zero else zero)
    if code == 7:
        return v if v > zero else math.expm1(v)
    if code == 8:
        return _SELU_SCALE * (v if v > zero else _SELU_ALPHA * math.expm1(v))
    if code == 9:
        return math.exp(v)
    if code == 10:
        w = zero if v < zero else v
        return 6.0 if w > 6.0 else w
    return v


@kernel
def _dact(code, y):
    """Derivative of activation ``code`` at the input whose output is y (every code's derivative is one of y)."""
    one = 1.0
    zero = 0.0
    if code == 1:
        return one - y * y
    if code == 2:
        return y * (one - y)
    if code == 3:
        return one if y > zero else zero
    if code == 4:
        return one / 6.0 if (y > zero and y < one) else zero
    if code == 5:
        a = one - abs(y)
        return a * a
    if code == 6:
        return -math.expm1(-y)  # sigmoid(x) = 1 - exp(-softplus(x))
    if code == 7:
        return one if y > zero else y + one
    if code == 8:
        return _SELU_SCALE if y > zero else y + _SELU_SCALE * _SELU_ALPHA
    if code == 9:
        return y
    if code == 10:
        return one if (y > zero and y < 6.0) else zero
    return one


# Float32 tanh and sigmoid in plain arithmetic, so that a loop over a row vectorises (numba has no vector
# library for math.tanh/exp here: ~14 ns an element against ~1.4). tanh(y) for |y| <= 1.125 is the continued
# fraction y / (1 + y^2 / (3 + y^2 / (5 + y^2 / (7 + y^2 / 9)))) written as p / q, then the argument is doubled
# three times with tanh(2y) = 2 t / (1 + t^2), i.e. (p, q) -> (2 p q, p^2 + q^2), and one division at the end.
# |x| is clamped to 9 (tanh(9) rounds to 1 in float32). Measured over [-12, 12]: absolute error <= 2e-7
# (NumPy's float32 tanh: 6e-8); sigmoid(x) = (1 + tanh(x / 2)) / 2, absolute error <= 1.3e-7. Float64 keeps
# math.tanh/exp (the gradient checks need its accuracy).
_TB1 = 1.0 / 9.0
_TB2 = 1.0 / 945.0
_TA1 = 4.0 / 9.0
_TA2 = 1.0 / 63.0


@kernel
def _tanh_row32(a, pre, scale, shift):
    """a[j] = shift + scale * tanh(8 * pre * a[j]) in the arithmetic above, in place (with a separate source
    array LLVM adds a runtime overlap check, and an in-place call then takes the scalar loop: 5x slower)."""
    f = a.dtype.type
    one = f(1.0)
    two = f(2.0)
    lim = f(1.125)
    b1 = f(_TB1)
    b2 = f(_TB2)
    a1 = f(_TA1)
    a2 = f(_TA2)
    pr = f(pre)
    sc = f(scale)
    sh = f(shift)
    for j in range(a.shape[0]):
        v = a[j] * pr
        v = lim if v > lim else v
        v = -lim if v < -lim else v
        s = v * v
        p = v * (one + s * (b1 + s * b2))
        q = one + s * (a1 + s * a2)
        p, q = two * p * q, p * p + q * q
        p, q = two * p * q, p * p + q * q
        p, q = two * p * q, p * p + q * q
        y = p / q
        y = one if y > one else y
        y = -one if y < -one else y
        a[j] = sh + sc * y


@kernel
def _act_row(code, a):
    """a = activation ``code`` of a, elementwise in place over a 1-D row; float32 tanh and sigmoid take the
    vectorised arithmetic of ``_tanh_row32``."""
    if a.itemsize == 4 and code == 1:
        _tanh_row32(a, 0.125, 1.0, 0.0)
    elif a.itemsize == 4 and code == 2:
        _tanh_row32(a, 0.0625, 0.5, 0.5)
    else:
        for j in range(a.shape[0]):
            a[j] = _act(code, a[j])


# ------------------------------------------------------------------------------------ shared helpers


@kernel
def _time(s, steps, go_backwards):
    return steps - 1 - s if go_backwards else s


@kernel
def _keep(mask, n, t):
    return mask.size == 0 or mask[n, t] != 0


@kernel
def _mask_value(masks, g, n, j):
    """Dropout multiplier of gate g at (n, j): 1 without masks, the shared mask when masks.shape[1] == 1."""
    if masks.size == 0:
        return masks.dtype.type(1.0)
    return masks[n, g if masks.shape[1] > 1 else 0, j]


@kernel
def _masked(src, mask, dst):
    """dst = src * mask, elementwise over 2-D arrays."""
    for n in range(dst.shape[0]):
        for j in range(dst.shape[1]):
            dst[n, j] = src[n, j] * mask[n, j]


@kernel
def _project(src, masks, w, beta, out, scratch, units):
    """out = (src * masks[g]) @ w[:, gate g] + beta * out, for each gate block of ``units`` columns.

    Without masks, or with one shared mask, this is one product over every block at once.
    """
    if masks.size == 0:
        gemm(False, False, 1.0, src, w, beta, out)
    elif masks.shape[1] == 1:
        _masked(src, masks[:, 0, :], scratch)
        gemm(False, False, 1.0, scratch, w, beta, out)
    else:
        for g in range(masks.shape[1]):
            _masked(src, masks[:, g, :], scratch)
            gemm(False, False, 1.0, scratch, w[:, g * units:(g + 1) * units], beta,
                 out[:, g * units:(g + 1) * units])


@kernel
def _project_inputs(x, dmask_x, kernel, bias, c3, units, km):
    """c3[i, t, 0:kU] = bias + (x[i, t] * dmask_x[i, gate]) @ kernel for every sample and step before the loop.

    The input product does not wait for the state, so it runs as one (T, D) @ (D, kU) product per sample
    instead of one small product per step; a dropout mask multiplies the rows of the kernel (km, (D, kU)
    scratch): (x * m) K = x (m K). With few features (D <= 4) a plain loop beats a BLAS call.
    """
    n, steps, d = x.shape
    cols = kernel.shape[1]
    for i in range(n):
        out = c3[i, :, 0:cols]
        _fill_bias(bias, out)
        if dmask_x.size != 0:
            for p in range(d):
                for j in range(cols):
                    km[p, j] = kernel[p, j] * _mask_value(dmask_x, j // units, i, p)
        if d <= 4:
            for t in range(steps):
                row = out[t]
                for p in range(d):
                    xv = x[i, t, p]
                    if dmask_x.size != 0:
                        for j in range(cols):
                            row[j] += xv * km[p, j]
                    else:
                        for j in range(cols):
                            row[j] += xv * kernel[p, j]
        elif dmask_x.size != 0:
            gemm(False, False, 1.0, x[i], km, 1.0, out)
        else:
            gemm(False, False, 1.0, x[i], kernel, 1.0, out)


@kernel
def _project_dw(src, masks, dz, dw, scratch, units):
    """dw += (src * masks[g])^T @ dz[:, gate g] for each gate block (the weight gradient of _project)."""
    if masks.size == 0:
        gemm(True, False, 1.0, src, dz, 1.0, dw)
    elif masks.shape[1] == 1:
        _masked(src, masks[:, 0, :], scratch)
        gemm(True, False, 1.0, scratch, dz, 1.0, dw)
    else:
        for g in range(masks.shape[1]):
            _masked(src, masks[:, g, :], scratch)
            gemm(True, False, 1.0, scratch, dz[:, g * units:(g + 1) * units], 1.0,
                 dw[:, g * units:(g + 1) * units])


@kernel
def _project_dsrc(dz, w, masks, beta, dsrc, scratch, units):
    """dsrc = sum_g (dz[:, gate g] @ w[:, gate g]^T) * masks[g] + beta * dsrc (the input gradient of _project)."""
    if masks.size == 0:
        gemm(False, True, 1.0, dz, w, beta, dsrc)
        return
    if beta == 0.0:
        dsrc[:, :] = dsrc.dtype.type(0.0)
    if masks.shape[1] == 1:
        gemm(False, True, 1.0, dz, w, 0.0, scratch)
        _add_masked(scratch, masks[:, 0, :], dsrc)
    else:
        for g in range(masks.shape[1]):
            gemm(False, True, 1.0, dz[:, g * units:(g + 1) * units], w[:, g * units:(g + 1) * units], 0.0,
                 scratch)
            _add_masked(scratch, masks[:, g, :], dsrc)


@kernel
def _add_masked(src, mask, dst):
    for n in range(dst.shape[0]):
        for j in range(dst.shape[1]):
            dst[n, j] += src[n, j] * mask[n, j]


@kernel
def _fill_bias(bias, out):
    """out[n, :] = bias (or 0 without a bias)."""
    zero = out.dtype.type(0.0)
    for n in range(out.shape[0]):
        row = out[n]
        for j in range(row.shape[0]):
            row[j] = bias[j] if bias.size != 0 else zero


@kernel
def _column_sums(dz, out):
    """out += dz summed over rows."""
    for n in range(dz.shape[0]):
        row = dz[n]
        for j in range(row.shape[0]):
            out[j] += row[j]


@kernel
def _clear(a, accumulate):
    """a = 0 unless accumulating (a 1-D or 2-D gradient output)."""
    if not accumulate:
        a[...] = a.dtype.type(0.0)


@kernel
def _check_inputs(x, h0, kernel, recurrent_kernel, bias, bias_size, mask, dmask_x, dmask_h, gates, activation,
                  recurrent_activation):
    """Shape checks of everything forward and backward both read (backward re-checks: it indexes them too)."""
    n, t, d = x.shape
    u = h0.shape[1]
    if h0.shape[0] != n:
        raise ValueError("recurrent: h0 must have shape (N, U) with N = x.shape[0]")
    if kernel.shape[0] != d or kernel.shape[1] != gates * u:
        raise ValueError("recurrent: kernel must have shape (D, gates * U)")
    if recurrent_kernel.shape[0] != u or recurrent_kernel.shape[1] != gates * u:
        raise ValueError("recurrent: recurrent_kernel must have shape (U, gates * U)")
    if bias.size != 0 and bias.shape[0] != bias_size:
        raise ValueError("recurrent: bias must have length gates * U (GRU reset_after: 2 * 3U) or 0")
    if mask.size != 0 and (mask.shape[0] != n or mask.shape[1] != t):
        raise ValueError("recurrent: mask must have shape (N, T) or size 0")
    if dmask_x.size != 0 and ((dmask_x.shape[1] != 1 and dmask_x.shape[1] != gates)
                              or dmask_x.shape[0] != n or dmask_x.shape[2] != d):
        raise ValueError("recurrent: dmask_x must have shape (N, 1 or gates, D) or size 0")
    if dmask_h.size != 0 and ((dmask_h.shape[1] != 1 and dmask_h.shape[1] != gates)
                              or dmask_h.shape[0] != n or dmask_h.shape[2] != u):
        raise ValueError("recurrent: dmask_h must have shape (N, 1 or gates, U) or size 0")
    if activation < 0 or activation >= _N_CODES or recurrent_activation < 0 or recurrent_activation >= _N_CODES:
        raise ValueError("recurrent: unknown activation code")


@kernel
def _check_outputs(x, h0, cache, width, seq, h_t):
    n, t, d = x.shape
    u = h0.shape[1]
    if cache.shape[0] < n * t * width:
        raise ValueError("recurrent forward: cache is smaller than <name>_cache_size(N, T, D, U)")
    if seq.shape[0] != n or seq.shape[1] != t or seq.shape[2] != u:
        raise ValueError("recurrent forward: seq must have shape (N, T, U)")
    if h_t.shape[0] != n or h_t.shape[1] != u:
        raise ValueError("recurrent forward: hT must have shape (N, U)")


@kernel
def _check_backward(x, h0, kernel, recurrent_kernel, bias, dseq, dh_t, dx, dh0, dkernel, drecurrent, dbias,
                    cache, width):
    n, t, d = x.shape
    u = h0.shape[1]
    if cache.shape[0] < n * t * width:
        raise ValueError("recurrent backward: cache is smaller than <name>_cache_size(N, T, D, U)")
    if dseq.shape[0] != n or dseq.shape[1] != t or dseq.shape[2] != u:
        raise ValueError("recurrent backward: dseq must have shape (N, T, U)")
    if dh_t.shape[0] != n or dh_t.shape[1] != u:
        raise ValueError("recurrent backward: dhT must have shape (N, U)")
    if dx.size != 0 and (dx.shape[0] != n or dx.shape[1] != t or dx.shape[2] != d):
        raise ValueError("recurrent backward: dx must have shape (N, T, D) or size 0")
    if dh0.size != 0 and (dh0.shape[0] != n or dh0.shape[1] != u):
        raise ValueError("recurrent backward: dh0 must have shape (N, U) or size 0")
    if dkernel.shape[0] != kernel.shape[0] or dkernel.shape[1] != kernel.shape[1]:
        raise ValueError("recurrent backward: dkernel must have the kernel's shape")
    if drecurrent.shape[0] != recurrent_kernel.shape[0] or drecurrent.shape[1] != recurrent_kernel.shape[1]:
        raise ValueError("recurrent backward: drecurrent_kernel must have the recurrent kernel's shape")
    if dbias.size != 0 and dbias.shape[0] != bias.shape[0]:
        raise ValueError("recurrent backward: dbias must have the bias's length or size 0")


# ------------------------------------------------------------------------------------ SimpleRNN

#: Per sample and time step: h' (the activation's output) and the state after the step.
_RNN_WIDTH = 2


@kernel
def simple_rnn_cache_size(n, t, d, u):
    """Length of the cache array simple_rnn_forward needs."""
    return n * t * _RNN_WIDTH * u


@kernel
def simple_rnn_forward(x, h0, kernel, recurrent_kernel, bias, mask, dmask_x, dmask_h, activation, go_backwards,
                       zero_output_for_mask, seq, h_t, cache):
    """h' = act(xd K + hd R + b) over T steps (module docstring: masks, go_backwards, outputs)."""
    n, steps, d = x.shape
    u = h0.shape[1]
    _check_inputs(x, h0, kernel, recurrent_kernel, bias, u, mask, dmask_x, dmask_h, 1, activation, 0)
    _check_outputs(x, h0, cache, _RNN_WIDTH * u, seq, h_t)
    c3 = cache[:n * steps * _RNN_WIDTH * u].reshape((n, steps, _RNN_WIDTH * u))
    hs = np.empty((n, u), x.dtype)
    h_t[:, :] = h0
    _project_inputs(x, dmask_x, kernel, bias, c3, u, np.empty((d, u), x.dtype))
    for s in range(steps):
        t = _time(s, steps, go_backwards)
        a = c3[:, t, 0:u]
        _project(h_t, dmask_h, recurrent_kernel, 1.0, a, hs, u)
        for i in range(n):
            row = c3[i, t]
            keep = _keep(mask, i, t)
            _act_row(activation, row[0:u])
            for j in range(u):
                y = row[j]
                if keep:
                    h_t[i, j] = y
                    seq[i, s, j] = y
                else:
                    seq[i, s, j] = 0.0 if zero_output_for_mask else h_t[i, j]
                row[u + j] = h_t[i, j]


@kernel
def simple_rnn_backward(x, h0, kernel, recurrent_kernel, bias, mask, dmask_x, dmask_h, activation, go_backwards,
                        zero_output_for_mask, cache, dseq, dh_t, dx, dh0, dkernel, drecurrent_kernel, dbias,
                        accumulate):
    """BPTT for simple_rnn_forward.

    Going back over the steps with dh = dL/d(state after the step): a kept step gets dh' = dh + dseq_s and
    da = dh' act'(h'); then dK += xd^T da, dR += hd_prev^T da, db += sum da, dx_t = (da K^T) * dmask_x and
    dh_prev = (da R^T) * dmask_h. A masked step passes dh through and adds dseq_s unless its output was zero.
    """
    n, steps, d = x.shape
    u = h0.shape[1]
    _check_inputs(x, h0, kernel, recurrent_kernel, bias, u, mask, dmask_x, dmask_h, 1, activation, 0)
    _check_backward(x, h0, kernel, recurrent_kernel, bias, dseq, dh_t, dx, dh0, dkernel, drecurrent_kernel, dbias,
                    cache, _RNN_WIDTH * u)
    c3 = cache[:n * steps * _RNN_WIDTH * u].reshape((n, steps, _RNN_WIDTH * u))
    _clear(dkernel, accumulate)
    _clear(drecurrent_kernel, accumulate)
    if dbias.size != 0:
        _clear(dbias, accumulate)
    xs = np.empty((n, d), x.dtype)
    hs = np.empty((n, u), x.dtype)
    da = np.empty((n, u), x.dtype)
    dh = dh_t.copy()
    for s in range(steps - 1, -1, -1):
        t = _time(s, steps, go_backwards)
        h_prev = c3[:, _time(s - 1, steps, go_backwards), u:2 * u] if s > 0 else h0
        for i in range(n):
            row = c3[i, t]
            keep = _keep(mask, i, t)
            for j in range(u):
                g = dseq[i, s, j]
                if keep:
                    da[i, j] = (dh[i, j] + g) * _dact(activation, row[j])
                    dh[i, j] = 0.0
                else:
                    da[i, j] = 0.0
                    if not zero_output_for_mask:
                        dh[i, j] += g
        if dbias.size != 0:
            _column_sums(da, dbias)
        _project_dw(x[:, t, :], dmask_x, da, dkernel, xs, u)
        _project_dw(h_prev, dmask_h, da, drecurrent_kernel, hs, u)
        if dx.size != 0:
            _project_dsrc(da, kernel, dmask_x, 0.0, dx[:, t, :], xs, u)
        _project_dsrc(da, recurrent_kernel, dmask_h, 1.0, dh, hs, u)
    if dh0.size != 0:
        dh0[:, :] = dh


# ------------------------------------------------------------------------------------ LSTM

#: Per sample and time step: i, f, g, o (4U), the c state after the step, act(c') and the h state after it.
_LSTM_WIDTH = 7


@kernel
def lstm_cache_size(n, t, d, u):
    """Length of the cache array lstm_forward needs."""
    return n * t * _LSTM_WIDTH * u


@kernel
def lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias, mask, dmask_x, dmask_h, activation,
                 recurrent_activation, go_backwards, zero_output_for_mask, seq, h_t, c_t, cache):
    """c' = f c + i g, h' = o act(c') over T steps, gates i, f, c, o (module docstring)."""
    n, steps, d = x.shape
    u = h0.shape[1]
    w = _LSTM_WIDTH * u
    _check_inputs(x, h0, kernel, recurrent_kernel, bias, 4 * u, mask, dmask_x, dmask_h, 4, activation,
                  recurrent_activation)
    _check_outputs(x, h0, cache, w, seq, h_t)
    if c0.shape[0] != n or c0.shape[1] != u or c_t.shape[0] != n or c_t.shape[1] != u:
        raise ValueError("lstm_forward: c0 and cT must have shape (N, U)")
    c3 = cache[:n * steps * w].reshape((n, steps, w))
    hs = np.empty((n, u), x.dtype)
    h_t[:, :] = h0
    c_t[:, :] = c0
    _project_inputs(x, dmask_x, kernel, bias, c3, u, np.empty((d, 4 * u), x.dtype))
    for s in range(steps):
        t = _time(s, steps, go_backwards)
        z = c3[:, t, 0:4 * u]
        _project(h_t, dmask_h, recurrent_kernel, 1.0, z, hs, u)
        for i in range(n):
            row = c3[i, t]
            keep = _keep(mask, i, t)
            _act_row(recurrent_activation, row[0:2 * u])
            _act_row(activation, row[2 * u:3 * u])
            _act_row(recurrent_activation, row[3 * u:4 * u])
            ct = c_t[i]
            for j in range(u):
                row[5 * u + j] = row[u + j] * ct[j] + row[j] * row[2 * u + j]  # c', activated below
            if keep:
                for j in range(u):
                    ct[j] = row[5 * u + j]
            _act_row(activation, row[5 * u:6 * u])
            ht = h_t[i]
            out = seq[i, s]
            if keep:
                for j in range(u):
                    ht[j] = row[3 * u + j] * row[5 * u + j]
                    out[j] = ht[j]
            elif zero_output_for_mask:
                for j in range(u):
                    out[j] = 0.0
            else:
                for j in range(u):
                    out[j] = ht[j]
            for j in range(u):
                row[4 * u + j] = ct[j]
                row[6 * u + j] = ht[j]


@kernel
def lstm_backward(x, h0, c0, kernel, recurrent_kernel, bias, mask, dmask_x, dmask_h, activation,
                  recurrent_activation, go_backwards, zero_output_for_mask, cache, dseq, dh_t, dc_t, dx, dh0, dc0,
                  dkernel, drecurrent_kernel, dbias, accumulate):
    """BPTT for lstm_forward.

    For a kept step, with dh' = dh + dseq_s and dc' = dc + dh' o act'(c'):
        dz_i = dc' g ract'(i),  dz_f = dc' c_prev ract'(f),  dz_c = dc' i act'(g),  dz_o = dh' act(c') ract'(o)
        dc_prev = dc' f,  dh_prev = (dz R^T) * dmask_h (per gate),  dx_t = (dz K^T) * dmask_x (per gate)
        dK += xd^T dz,  dR += hd_prev^T dz,  db += sum dz.
    A masked step passes dh and dc through, adding dseq_s to dh unless its output was zero.
    """
    n, steps, d = x.shape
    u = h0.shape[1]
    w = _LSTM_WIDTH * u
    _check_inputs(x, h0, kernel, recurrent_kernel, bias, 4 * u, mask, dmask_x, dmask_h, 4, activation,
                  recurrent_activation)
    _check_backward(x, h0, kernel, recurrent_kernel, bias, dseq, dh_t, dx, dh0, dkernel, drecurrent_kernel, dbias,
                    cache, w)
    if c0.shape[0] != n or c0.shape[1] != u:
        raise ValueError("lstm_backward: c0 must have shape (N, U)")
    if dc_t.shape[0] != n or dc_t.shape[1] != u:
        raise ValueError("lstm_backward: dcT must have shape (N, U)")
    if dc0.size != 0 and (dc0.shape[0] != n or dc0.shape[1] != u):
        raise ValueError("lstm_backward: dc0 must have shape (N, U) or size 0")
    c3 = cache[:n * steps * w].reshape((n, steps, w))
    _clear(dkernel, accumulate)
    _clear(drecurrent_kernel, accumulate)
    if dbias.size != 0:
        _clear(dbias, accumulate)
    xs = np.empty((n, d), x.dtype)
    hs = np.empty((n, u), x.dtype)
    dz = np.empty((n, 4 * u), x.dtype)
    dh = dh_t.copy()
    dc = dc_t.copy()
    for s in range(steps - 1, -1, -1):
        t = _time(s, steps, go_backwards)
        tp = _time(s - 1, steps, go_backwards)
        h_prev = c3[:, tp, 6 * u:7 * u] if s > 0 else h0
        c_prev = c3[:, tp, 4 * u:5 * u] if s > 0 else c0
        for i in range(n):
            row = c3[i, t]
            keep = _keep(mask, i, t)
            for j in range(u):
                g = dseq[i, s, j]
                if keep:
                    ig = row[j]
                    fg = row[u + j]
                    gg = row[2 * u + j]
                    og = row[3 * u + j]
                    ac = row[5 * u + j]
                    dhn = dh[i, j] + g
                    dcn = dc[i, j] + dhn * og * _dact(activation, ac)
                    dz[i, j] = dcn * gg * _dact(recurrent_activation, ig)
                    dz[i, u + j] = dcn * c_prev[i, j] * _dact(recurrent_activation, fg)
                    dz[i, 2 * u + j] = dcn * ig * _dact(activation, gg)
                    dz[i, 3 * u + j] = dhn * ac * _dact(recurrent_activation, og)
                    dc[i, j] = dcn * fg
                    dh[i, j] = 0.0
                else:
                    dz[i, j] = 0.0
                    dz[i, u + j] = 0.0
                    dz[i, 2 * u + j] = 0.0
                    dz[i, 3 * u + j] = 0.0
                    if not zero_output_for_mask:
                        dh[i, j] += g
        if dbias.size != 0:
            _column_sums(dz, dbias)
        _project_dw(x[:, t, :], dmask_x, dz, dkernel, xs, u)
        _project_dw(h_prev, dmask_h, dz, drecurrent_kernel, hs, u)
        if dx.size != 0:
            _project_dsrc(dz, kernel, dmask_x, 0.0, dx[:, t, :], xs, u)
        _project_dsrc(dz, recurrent_kernel, dmask_h, 1.0, dh, hs, u)
    if dh0.size != 0:
        dh0[:, :] = dh
    if dc0.size != 0:
        dc0[:, :] = dc


# ------------------------------------------------------------------------------------ GRU

#: Per sample and time step: z, r, hh (3U), then mi_h (reset_after) or r * hd_h (not), then the state after it.
_GRU_WIDTH = 5


@kernel
def gru_cache_size(n, t, d, u):
    """Length of the cache array gru_forward needs."""
    return n * t * _GRU_WIDTH * u


@kernel
def gru_forward(x, h0, kernel, recurrent_kernel, bias, mask, dmask_x, dmask_h, activation, recurrent_activation,
                reset_after, go_backwards, zero_output_for_mask, seq, h_t, cache):
    """h' = z h + (1 - z) hh over T steps, gates z, r, h (module docstring; bias (6U,) with reset_after)."""
    n, steps, d = x.shape
    u = h0.shape[1]
    w = _GRU_WIDTH * u
    _check_inputs(x, h0, kernel, recurrent_kernel, bias, 6 * u if reset_after else 3 * u, mask, dmask_x, dmask_h,
                  3, activation, recurrent_activation)
    _check_outputs(x, h0, cache, w, seq, h_t)
    c3 = cache[:n * steps * w].reshape((n, steps, w))
    hs = np.empty((n, u), x.dtype)
    mi = np.empty((n, 3 * u), x.dtype)
    b_in = bias[0:3 * u] if bias.size != 0 else bias
    b_rec = bias[3 * u:6 * u] if bias.size != 0 and reset_after else bias[0:0]
    # Recurrent masks of the z and r gates (the h gate's product is separate without reset_after).
    mh_zr = dmask_h[:, 0:2] if dmask_h.shape[1] == 3 else dmask_h
    h_t[:, :] = h0
    _project_inputs(x, dmask_x, kernel, b_in, c3, u, np.empty((d, 3 * u), x.dtype))
    for s in range(steps):
        t = _time(s, steps, go_backwards)
        if reset_after:
            _fill_bias(b_rec, mi)
            _project(h_t, dmask_h, recurrent_kernel, 1.0, mi, hs, u)
        else:
            _project(h_t, mh_zr, recurrent_kernel[:, 0:2 * u], 0.0, mi[:, 0:2 * u], hs, u)
        for i in range(n):
            row = c3[i, t]
            mrow = mi[i]
            ht = h_t[i]
            for j in range(2 * u):
                row[j] += mrow[j]
            _act_row(recurrent_activation, row[0:2 * u])
            if reset_after:
                for j in range(u):
                    row[3 * u + j] = mrow[2 * u + j]
                    row[2 * u + j] += row[u + j] * mrow[2 * u + j]
                _gru_state(row, ht, seq[i, s], _keep(mask, i, t), zero_output_for_mask, activation, u)
            elif dmask_h.size == 0:
                for j in range(u):
                    row[3 * u + j] = row[u + j] * ht[j]
            else:
                for j in range(u):
                    row[3 * u + j] = row[u + j] * ht[j] * _mask_value(dmask_h, 2, i, j)
        if not reset_after:
            gemm(False, False, 1.0, c3[:, t, 3 * u:4 * u], recurrent_kernel[:, 2 * u:3 * u], 0.0, mi[:, 2 * u:3 * u])
            for i in range(n):
                row = c3[i, t]
                mrow = mi[i]
                for j in range(u):
                    row[2 * u + j] += mrow[2 * u + j]
                _gru_state(row, h_t[i], seq[i, s], _keep(mask, i, t), zero_output_for_mask, activation, u)


@kernel
def _gru_state(row, ht, out, keep, zero_output_for_mask, activation, u):
    """One sample's GRU step from its pre-activation candidate row[2U:3U] and gates: hh = act(.), the state
    ht = z ht + (1 - z) hh if kept, the output row and the cached state."""
    _act_row(activation, row[2 * u:3 * u])
    if keep:
        for j in range(u):
            zg = row[j]
            ht[j] = zg * ht[j] + (1.0 - zg) * row[2 * u + j]
            out[j] = ht[j]
    elif zero_output_for_mask:
        for j in range(u):
            out[j] = 0.0
    else:
        for j in range(u):
            out[j] = ht[j]
    for j in range(u):
        row[4 * u + j] = ht[j]

@kernel
def gru_backward(x, h0, kernel, recurrent_kernel, bias, mask, dmask_x, dmask_h, activation, recurrent_activation,
                 reset_after, go_backwards, zero_output_for_mask, cache, dseq, dh_t, dx, dh0, dkernel,
                 drecurrent_kernel, dbias, accumulate):
    """BPTT for gru_forward.

    For a kept step, with dh' = dh + dseq_s:
        dz = dh' (h_prev - hh) ract'(z),  da_h = dh' (1 - z) act'(hh),  dh_prev = dh' z + (recurrent terms)
        reset_after:  dr = da_h mi_h ract'(r);  d(mx) = (dz, dr, da_h);  d(mi) = (dz, dr, da_h r)
                      dK += xd^T d(mx), dR += hd^T d(mi), db_in += sum d(mx), db_rec += sum d(mi),
                      dh_prev += (d(mi) R^T) * dmask_h
        not:          q = da_h R_h^T;  dr = q hd_h ract'(r);  d(mx) = (dz, dr, da_h);  db += sum d(mx)
                      dR_zr += hd^T (dz, dr),  dR_h += (r hd_h)^T da_h,
                      dh_prev += ((dz, dr) R_zr^T) * dmask_h + q r dmask_h[h]
        dx_t = (d(mx) K^T) * dmask_x (per gate).
    A masked step passes dh through, adding dseq_s unless its output was zero.
    """
    n, steps, d = x.shape
    u = h0.shape[1]
    w = _GRU_WIDTH * u
    _check_inputs(x, h0, kernel, recurrent_kernel, bias, 6 * u if reset_after else 3 * u, mask, dmask_x, dmask_h,
                  3, activation, recurrent_activation)
    _check_backward(x, h0, kernel, recurrent_kernel, bias, dseq, dh_t, dx, dh0, dkernel, drecurrent_kernel, dbias,
                    cache, w)
    c3 = cache[:n * steps * w].reshape((n, steps, w))
    _clear(dkernel, accumulate)
    _clear(drecurrent_kernel, accumulate)
    if dbias.size != 0:
        _clear(dbias, accumulate)
    db_in = dbias[0:3 * u] if dbias.size != 0 else dbias
    db_rec = dbias[3 * u:6 * u] if dbias.size != 0 and reset_after else dbias[0:0]
    mh_zr = dmask_h[:, 0:2] if dmask_h.shape[1] == 3 else dmask_h
    xs = np.empty((n, d), x.dtype)
    hs = np.empty((n, u), x.dtype)
    dmx = np.empty((n, 3 * u), x.dtype)
    dmi = np.empty((n, 3 * u), x.dtype)
    q = np.empty((n, u), x.dtype)
    dh = dh_t.copy()
    for s in range(steps - 1, -1, -1):
        t = _time(s, steps, go_backwards)
        h_prev = c3[:, _time(s - 1, steps, go_backwards), 4 * u:5 * u] if s > 0 else h0
        for i in range(n):
            row = c3[i, t]
            keep = _keep(mask, i, t)
            for j in range(u):
                g = dseq[i, s, j]
                if keep:
                    zg = row[j]
                    rg = row[u + j]
                    hh = row[2 * u + j]
                    dhn = dh[i, j] + g
                    daz = dhn * (h_prev[i, j] - hh) * _dact(recurrent_activation, zg)
                    dah = dhn * (1.0 - zg) * _dact(activation, hh)
                    dmx[i, j] = daz
                    dmx[i, 2 * u + j] = dah
                    dmi[i, j] = daz
                    if reset_after:
                        dar = dah * row[3 * u + j] * _dact(recurrent_activation, rg)
                        dmx[i, u + j] = dar
                        dmi[i, u + j] = dar
                        dmi[i, 2 * u + j] = dah * rg
                    dh[i, j] = dhn * zg
                else:
                    dmx[i, j] = 0.0
                    dmx[i, u + j] = 0.0
                    dmx[i, 2 * u + j] = 0.0
                    dmi[i, j] = 0.0
                    dmi[i, u + j] = 0.0
                    dmi[i, 2 * u + j] = 0.0
                    if not zero_output_for_mask:
                        dh[i, j] += g
        if not reset_after:
            # The reset gate acts before the product: its gradient needs da_h R_h^T first.
            gemm(False, True, 1.0, dmx[:, 2 * u:3 * u], recurrent_kernel[:, 2 * u:3 * u], 0.0, q)
            for i in range(n):
                row = c3[i, t]
                keep = _keep(mask, i, t)
                for j in range(u):
                    if keep:
                        rg = row[u + j]
                        mh = _mask_value(dmask_h, 2, i, j)
                        dar = q[i, j] * h_prev[i, j] * mh * _dact(recurrent_activation, rg)
                        dmx[i, u + j] = dar
                        dmi[i, u + j] = dar
                        dh[i, j] += q[i, j] * rg * mh
            gemm(True, False, 1.0, c3[:, t, 3 * u:4 * u], dmx[:, 2 * u:3 * u], 1.0, drecurrent_kernel[:, 2 * u:3 * u])
        if db_in.size != 0:
            _column_sums(dmx, db_in)
        if db_rec.size != 0:
            _column_sums(dmi, db_rec)
        _project_dw(x[:, t, :], dmask_x, dmx, dkernel, xs, u)
        if dx.size != 0:
            _project_dsrc(dmx, kernel, dmask_x, 0.0, dx[:, t, :], xs, u)
        if reset_after:
            _project_dw(h_prev, dmask_h, dmi, drecurrent_kernel, hs, u)
            _project_dsrc(dmi, recurrent_kernel, dmask_h, 1.0, dh, hs, u)
        else:
            _project_dw(h_prev, mh_zr, dmi[:, 0:2 * u], drecurrent_kernel[:, 0:2 * u], hs, u)
            _project_dsrc(dmi[:, 0:2 * u], recurrent_kernel[:, 0:2 * u], mh_zr, 1.0, dh, hs, u)
    if dh0.size != 0:
        dh0[:, :] = dh


# ------------------------------------------------------------------------------------ dropout masks from uniforms


@kernel
def dropout_masks(u, rate_x, rate_h, training, mask_x, mask_h):
    """The scaled dropout masks of one step from the step's uniforms (Keras's ``DropoutRNNCell``).

    u is flat, N rows of W >= Gx*D + Gh*U uniforms in [0, 1) (row n: Gx*D for mask_x[n], gate-major, then Gh*U for
    mask_h[n]), or empty when not training; mask_x (N, Gx, D) and mask_h (N, Gh, U) are written, each skipped when
    of size 0. A value is 1 / (1 - rate) where u >= rate (P = 1 - rate) and 0 elsewhere: Keras's
    ``dropout(ones, rate)`` then ``x * mask``. Not training: every value is 1 (Keras applies no mask).
    """
    n = mask_x.shape[0] if mask_x.size != 0 else mask_h.shape[0]
    wx = mask_x.shape[1] * mask_x.shape[2] if mask_x.size != 0 else 0
    wh = mask_h.shape[1] * mask_h.shape[2] if mask_h.size != 0 else 0
    if mask_x.size != 0 and mask_h.size != 0 and mask_h.shape[0] != n:
        raise ValueError("dropout_masks: mask_x and mask_h must have the same number of rows")
    if not (rate_x >= 0.0 and rate_x <= 1.0 and rate_h >= 0.0 and rate_h <= 1.0):
        raise ValueError("dropout_masks: rates must be in [0, 1]")
    one = mask_x.dtype.type(1.0) if mask_x.size != 0 else mask_h.dtype.type(1.0)
    if not training:
        if mask_x.size != 0:
            mask_x[...] = one
        if mask_h.size != 0:
            mask_h[...] = one
        return
    if n == 0 or wx + wh == 0:
        return
    if u.shape[0] % n != 0 or u.shape[0] // n < wx + wh:
        raise ValueError("dropout_masks: u must hold N rows of at least Gx*D + Gh*U uniforms")
    w = u.shape[0] // n
    for i in range(n):
        base = i * w
        if wx != 0:
            _mask_row(u, base, rate_x, mask_x[i])
        if wh != 0:
            _mask_row(u, base + wx, rate_h, mask_h[i])


@kernel
def _mask_row(u, base, rate, out):
    """out (G, W) from u[base:base + G*W]: 1 / (1 - rate) where u >= rate, else 0 (all 0 when rate == 1)."""
    zero = out.dtype.type(0.0)
    keep = out.dtype.type(1.0) / out.dtype.type(1.0 - rate) if rate < 1.0 else zero
    r = u.dtype.type(rate)
    k = base
    for g in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[g, j] = keep if u[k] >= r and rate < 1.0 else zero
            k += 1


# ------------------------------------------------------------------------------------ sequence masks (Masking)


@kernel
def _row_kept(x, m, value):
    for f in range(x.shape[1]):
        if x[m, f] != value:
            return True
    return False


@kernel
def sequence_mask(x, value, mask):
    """mask[m] = 1 if any x[m, f] != value, else 0; x (M, F), mask (M,).

    Keras's masks: ``Embedding(mask_zero=True)`` is ids != 0 (F = 1); ``Masking(mask_value)`` keeps a step unless
    every feature equals mask_value (``any(x != mask_value, axis=-1)``). A NaN compares unequal: the step is kept.
    """
    if x.ndim != 2 or mask.ndim != 1 or mask.shape[0] != x.shape[0]:
        raise ValueError("sequence_mask: x must be (M, F) and mask (M,)")
    one = mask.dtype.type(1.0)
    zero = mask.dtype.type(0.0)
    for m in range(x.shape[0]):
        mask[m] = one if _row_kept(x, m, value) else zero


@kernel
def masking_forward(x, value, out):
    """out[m] = x[m] where the step is kept (``sequence_mask``), else 0; x, out (M, F). Keras's Masking layer
    multiplies its input by the mask."""
    if x.shape[0] != out.shape[0] or x.shape[1] != out.shape[1]:
        raise ValueError("masking_forward: x and out must have one shape (M, F)")
    zero = out.dtype.type(0.0)
    for m in range(x.shape[0]):
        kept = _row_kept(x, m, value)
        for f in range(x.shape[1]):
            out[m, f] = x[m, f] if kept else zero


@kernel
def masking_backward(x, value, dy, dx):
    """dx[m] = dy[m] where the step is kept, else 0 (skipped when dx is empty)."""
    if dx.size == 0:
        return
    if x.shape[0] != dy.shape[0] or x.shape[1] != dy.shape[1] or dx.shape[0] != x.shape[0] \
            or dx.shape[1] != x.shape[1]:
        raise ValueError("masking_backward: x, dy and dx must have one shape (M, F)")
    zero = dx.dtype.type(0.0)
    for m in range(x.shape[0]):
        kept = _row_kept(x, m, value)
        for f in range(x.shape[1]):
            dx[m, f] = dy[m, f] if kept else zero


# ------------------------------------------------------------------------------------ outputs of the layers


@kernel
def sequence_last_forward(seq, out):
    """out = seq[:, T-1]: Keras's ``last_output`` (the last processed step), seq (N, T, U), out (N, U)."""
    n, t, u = seq.shape
    if t == 0 or out.shape[0] != n or out.shape[1] != u:
        raise ValueError("sequence_last_forward: out must be (N, U) for seq (N, T, U), T > 0")
    for i in range(n):
        for j in range(u):
            out[i, j] = seq[i, t - 1, j]


@kernel
def sequence_last_backward(dy, dseq):
    """dseq = 0 except dseq[:, T-1] = dy (the gradient of sequence_last_forward)."""
    n, t, u = dseq.shape
    if t == 0 or dy.shape[0] != n or dy.shape[1] != u:
        raise ValueError("sequence_last_backward: dy must be (N, U) for dseq (N, T, U), T > 0")
    dseq[...] = dseq.dtype.type(0.0)
    for i in range(n):
        for j in range(u):
            dseq[i, t - 1, j] = dy[i, j]


#: merge_pair modes, Keras's Bidirectional ``merge_mode``.
MERGE_MODES = ("concat", "sum", "mul", "ave")


@kernel
def merge_pair_forward(a, b, mode, reverse_b, out):
    """Bidirectional's merge of the forward output a and the backward output b, both (N, T, U) (T = 1 for a
    last output): b is first flipped in time when ``reverse_b`` (Keras flips the backward layer's sequence).

        concat: out (N, T, 2U) = [a, b];  sum: a + b;  mul: a * b;  ave: (a + b) / 2
    """
    n, t, u = a.shape
    if b.shape[0] != n or b.shape[1] != t or b.shape[2] != u or out.shape[0] != n or out.shape[1] != t:
        raise ValueError("merge_pair_forward: a and b must be (N, T, U) and out (N, T, .)")
    if mode < 0 or mode > 3 or out.shape[2] != (2 * u if mode == 0 else u):
        raise ValueError("merge_pair_forward: out must be (N, T, 2U) for concat, (N, T, U) otherwise")
    two = out.dtype.type(2.0)
    for i in range(n):
        for s in range(t):
            sb = t - 1 - s if reverse_b else s
            for j in range(u):
                x = a[i, s, j]
                y = b[i, sb, j]
                if mode == 0:
                    out[i, s, j] = x
                    out[i, s, u + j] = y
                elif mode == 1:
                    out[i, s, j] = x + y
                elif mode == 2:
                    out[i, s, j] = x * y
                else:
                    out[i, s, j] = (x + y) / two


@kernel
def merge_pair_backward(a, b, dy, mode, reverse_b, da, db):
    """Gradients of merge_pair_forward: da and db (N, T, U) are overwritten."""
    n, t, u = a.shape
    if b.shape[0] != n or b.shape[1] != t or b.shape[2] != u or dy.shape[0] != n or dy.shape[1] != t:
        raise ValueError("merge_pair_backward: a and b must be (N, T, U) and dy (N, T, .)")
    if mode < 0 or mode > 3 or dy.shape[2] != (2 * u if mode == 0 else u):
        raise ValueError("merge_pair_backward: dy must be (N, T, 2U) for concat, (N, T, U) otherwise")
    if da.shape[0] != n or da.shape[1] != t or da.shape[2] != u or db.shape[0] != n or db.shape[1] != t \
            or db.shape[2] != u:
        raise ValueError("merge_pair_backward: da and db must have the shape of a")
    half = dy.dtype.type(0.5)
    for i in range(n):
        for s in range(t):
            sb = t - 1 - s if reverse_b else s
            for j in range(u):
                g = dy[i, s, j]
                if mode == 0:
                    da[i, s, j] = g
                    db[i, sb, j] = dy[i, s, u + j]
                elif mode == 1:
                    da[i, s, j] = g
                    db[i, sb, j] = g
                elif mode == 2:
                    da[i, s, j] = g * b[i, sb, j]
                    db[i, sb, j] = g * a[i, s, j]
                else:
                    da[i, s, j] = g * half
                    db[i, sb, j] = g * half


@kernel
def reverse_time(x, out):
    """out[:, s] = x[:, T-1-s] for x, out (N, T, U) (its own gradient); Bidirectional's merge_mode=None."""
    n, t, u = x.shape
    if out.shape[0] != n or out.shape[1] != t or out.shape[2] != u:
        raise ValueError("reverse_time: x and out must have one shape (N, T, U)")
    for i in range(n):
        for s in range(t):
            for j in range(u):
                out[i, s, j] = x[i, t - 1 - s, j]
