"""CUDA twin of kernels/cpu/recurrent.py: SimpleRNN, LSTM and GRU forward and backward (BPTT), dropout masks,
sequence masks and the Bidirectional helpers.

Same functions, arguments and meanings as the CPU kernels (see that module's docstring for the math, the weight
layouts, the masks and the cache layout); device arrays in place of NumPy arrays.

The recurrent layers' design. The time loop is sequential, so each call is one launch of a loop kernel in which a
block owns a group of samples and runs every step itself:

- forward: one launch computes the input projection ``bias + (x * dmask_x) K`` for every (sample, step, gate
  column) in parallel into the cache's pre-activation slots (the CPU kernel does the same before its loop); then
  one launch runs the loop: per step, one thread per (sample, gate column) adds the recurrent product
  ``(h * dmask_h) R`` and applies the activation, ``cuda.syncthreads()``, one thread per (sample, unit) updates
  the state, the output and the cache, ``cuda.syncthreads()`` (GRU without reset_after needs one more phase: the
  reset gate acts before its product). The state lives in the output ``hT`` (``cT``) and stays in cache/L1.
- backward: one launch runs BPTT per block (per step: the gates' gradients per (sample, unit), then the state
  gradient ``(dz R^T) * dmask_h`` per (sample, unit)), writing every step's gate gradients to a scratch array;
  then one launch sums the weight gradients over samples and steps from that scratch and the cache (one thread per
  weight-gradient element and chunk of (sample, step) rows, per-thread partial sums then ``cuda.atomic.add``), and
  one launch computes dx ``(dz K^T) * dmask_x`` for every (sample, step, feature) in parallel. With
  ``accumulate=False`` the loop launch zeroes the weight gradients first (launches on one stream run in order).

Scratch: backward needs the gate gradients of every step (N*T*kU, GRU N*T*4U) and the running state gradients
(dh, dc: N*U each). They are not arguments of the CPU kernel (it allocates small per-call scratch), so this module
keeps them in a module-level cache of device arrays per dtype, grown to the largest size asked for and reused
(never freed): calls on one stream are safe, concurrent calls on different streams are not.

Block geometry: ``per_block = max(1, min(N, _THREADS // kU))`` samples per block, ``min(_THREADS, kU * per_block
rounded up to a warp)`` threads; threads stride over their phase's elements, so any U works (large U: one sample
per block, each thread several columns).

Numerics: the products sum in a different order than the CPU's gemm and float32 tanh/sigmoid use CUDA's tanhf/expf
rather than the CPU's vectorised approximation (absolute error <= 2e-7), so CPU and CUDA agree to rounding.
"""

import math

import numpy as np
from numba import cuda

from . import _launch
from ._launch import device, kernel

ACTIVATIONS = ("linear", "tanh", "sigmoid", "relu", "hard_sigmoid", "softsign", "softplus", "elu", "selu",
               "exponential", "relu6")
MERGE_MODES = ("concat", "sum", "mul", "ave")

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946

#: Most threads per block of the loop kernels (tests lower it to force several blocks and strided threads).
_THREADS = _launch.THREADS
#: (sample, step) rows summed by one thread of the weight-gradient launch before its atomic add.
_ROWS_PER_CHUNK = 64

_RNN_WIDTH = 2
_LSTM_WIDTH = 7
_GRU_WIDTH = 5


# ------------------------------------------------------------------------------------ scratch and geometry

_SCRATCH = {}


def _scratch(tag, size, dtype):
    """A cached 1-D device array of at least ``size`` elements (module docstring: reused between calls)."""
    key = (tag, np.dtype(dtype).str)
    a = _SCRATCH.get(key)
    if a is None or a.shape[0] < size:
        a = cuda.device_array(max(int(size), 1), np.dtype(dtype))
        _SCRATCH[key] = a
    return a


def _loop_geometry(n, cols):
    """(blocks, threads, samples per block) of a loop kernel whose widest phase has ``cols`` elements a sample."""
    cols = max(1, cols)
    per_block = max(1, min(max(n, 1), _THREADS // cols))
    threads = min(_THREADS, max(32, -(-per_block * cols // 32) * 32))
    return max(1, -(-n // per_block)), threads, per_block


# ------------------------------------------------------------------------------------ activations by code


@device
def _act(code, v, ref):
    """Activation ``code`` of the scalar v, in ref's dtype."""
    f = ref.dtype.type
    one = f(1.0)
    zero = f(0.0)
    if code == 1:
        return math.tanh(v)
    if code == 2:
        if v >= zero:
            return one / (one + math.exp(-v))
        e = math.exp(v)
        return e / (one + e)
    if code == 3:
        return zero if v < zero else v  # noqa: FURB136 - max() would drop a NaN; the CPU kernel keeps it
    if code == 4:
        w = v + f(3.0)
        w = zero if w < zero else w  # noqa: FURB136
        w = f(6.0) if w > f(6.0) else w  # noqa: FURB136
        return w / f(6.0)
    if code == 5:
        return v / (one + abs(v))
    if code == 6:
        return math.log1p(math.exp(-abs(v))) + (v if v > zero else zero)  # noqa: FURB136
    if code == 7:
        return v if v > zero else math.expm1(v)
    if code == 8:
        return f(_SELU_SCALE) * (v if v > zero else f(_SELU_ALPHA) * math.expm1(v))
    if code == 9:
        return math.exp(v)
    if code == 10:
        w = zero if v < zero else v  # noqa: FURB136
        return f(6.0) if w > f(6.0) else w  # noqa: FURB136
    return v


@device
def _dact(code, y, ref):
    """Derivative of activation ``code`` at the input whose output is y."""
    f = ref.dtype.type
    one = f(1.0)
    zero = f(0.0)
    if code == 1:
        return one - y * y
    if code == 2:
        return y * (one - y)
    if code == 3:
        return one if y > zero else zero
    if code == 4:
        return one / f(6.0) if (y > zero and y < one) else zero
    if code == 5:
        a = one - abs(y)
        return a * a
    if code == 6:
        return -math.expm1(-y)
    if code == 7:
        return one if y > zero else y + one
    if code == 8:
        return f(_SELU_SCALE) if y > zero else y + f(_SELU_SCALE * _SELU_ALPHA)
    if code == 9:
        return y
    if code == 10:
        return one if (y > zero and y < f(6.0)) else zero
    return one


# ------------------------------------------------------------------------------------ shared device helpers


@device
def _mask_value(masks, g, n, j):
    """Dropout multiplier of gate g at (n, j): 1 without masks, the shared mask when masks.shape[1] == 1."""
    if masks.size == 0:
        return masks.dtype.type(1.0)
    return masks[n, g if masks.shape[1] > 1 else 0, j]


@device
def _keep(mask, i, t):
    return mask.size == 0 or mask[i, t] != 0


@device
def _rec_dot(h, dmask_h, rk, i, col, gate):
    """sum_p (h[i, p] * dmask_h[i, gate, p]) rk[p, col]: one output of the recurrent product."""
    acc = rk.dtype.type(0.0)
    if dmask_h.size == 0:
        for p in range(h.shape[1]):
            acc += h[i, p] * rk[p, col]
    else:
        g = gate if dmask_h.shape[1] > 1 else 0
        for p in range(h.shape[1]):
            acc += h[i, p] * dmask_h[i, g, p] * rk[p, col]
    return acc


@device
def _h_prev(cache, h0, i, t, steps, width, off, p, go_backwards):
    """The state before the step at input time t: the cached state of the previous processing step, or h0."""
    s = steps - 1 - t if go_backwards else t
    if s == 0:
        return h0[i, p]
    tp = steps - s if go_backwards else s - 1
    return cache[(i * steps + tp) * width + off + p]


@device
def _zero_grads(dkernel, drec, dbias):
    """Zero the weight gradients, grid-stride over every thread of the launch."""
    e = cuda.grid(1)
    stride = cuda.gridsize(1)
    nk = dkernel.size
    nr = drec.size
    total = nk + nr + dbias.size
    zero = dkernel.dtype.type(0.0)
    ck = dkernel.shape[1]
    cr = drec.shape[1]
    while e < total:
        if e < nk:
            dkernel[e // ck, e % ck] = zero
        elif e < nk + nr:
            r = e - nk
            drec[r // cr, r % cr] = zero
        else:
            dbias[e - nk - nr] = zero
        e += stride


# ------------------------------------------------------------------------------------ shared kernels


@kernel("void(F[:, :, ::1], F[:, :, ::1], F[:, ::1], F[::1], F[::1], int64, int64)")
def _project_inputs(x, dmask_x, kern, bias, cache, width, units):
    """cache[(i, t), col] = bias[col] + sum_p x[i, t, p] dmask_x[i, gate, p] kern[p, col], one thread each."""
    e = cuda.grid(1)
    n, steps, d = x.shape
    cols = kern.shape[1]
    if e < n * steps * cols:
        r = e // cols
        col = e - r * cols
        i = r // steps
        t = r - i * steps
        acc = bias[col] if bias.size != 0 else kern.dtype.type(0.0)
        if dmask_x.size == 0:
            for p in range(d):
                acc += x[i, t, p] * kern[p, col]
        else:
            g = col // units if dmask_x.shape[1] > 1 else 0
            for p in range(d):
                acc += x[i, t, p] * dmask_x[i, g, p] * kern[p, col]
        cache[r * width + col] = acc


@device
def _dr_grad(dz, base, col, u, mode):
    """Gradient of recurrent-product column col at dz[base:]: dz itself, or for GRU reset_after (mode 1) the
    candidate's recurrent part d(mi_h) = da_h r, kept in dz's fourth block."""
    if mode == 1 and col >= 2 * u:
        return dz[base + u + col]
    return dz[base + col]


@kernel("void(F[:, :, ::1], F[:, ::1], F[:, :, ::1], F[:, :, ::1], F[::1], F[::1], int64, int64, int64, int64, "
        "int64, boolean, F[:, ::1], F[:, ::1], F[::1])")
def _weight_grads(x, h0, dmask_x, dmask_h, cache, dz, width, off, dzw, u, mode, go_backwards, dkernel, drec,
                  dbias):
    """Weight gradients summed over (sample, step) rows: thread (x) one gradient element, block (y) one chunk of
    rows; per-thread partial sum, then an atomic add.

        dK[p, c] += sum x[i, t, p] mx[i, g(c), p] dz[(i, t), c]
        dR[p, c] += sum h_prev[i, t, p] mh[i, g(c), p] dR_grad[(i, t), c]   (GRU mode 2, c >= 2U: (r hd_h) dz)
        db[c]    += sum dz[(i, t), c]   (GRU reset_after, c >= 3U: the recurrent bias, sum of dR_grad)
    mode: 0 SimpleRNN/LSTM, 1 GRU reset_after, 2 GRU without.
    """
    e = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    n, steps, d = x.shape
    cols = dkernel.shape[1]
    nk = d * cols
    nr = drec.shape[0] * cols
    if e >= nk + nr + dbias.size:
        return
    rows = n * steps
    r0 = cuda.blockIdx.y * _ROWS_PER_CHUNK
    r1 = min(rows, r0 + _ROWS_PER_CHUNK)
    acc = dkernel.dtype.type(0.0)
    if e < nk:
        p = e // cols
        c = e - p * cols
        g = c // u
        for r in range(r0, r1):
            i = r // steps
            t = r - i * steps
            acc += x[i, t, p] * _mask_value(dmask_x, g, i, p) * dz[r * dzw + c]
        cuda.atomic.add(dkernel, (p, c), acc)
    elif e < nk + nr:
        k = e - nk
        p = k // cols
        c = k - p * cols
        g = c // u
        for r in range(r0, r1):
            i = r // steps
            t = r - i * steps
            if mode == 2 and c >= 2 * u:
                src = cache[r * width + 3 * u + p]
            else:
                src = _h_prev(cache, h0, i, t, steps, width, off, p, go_backwards) * _mask_value(dmask_h, g, i, p)
            acc += src * _dr_grad(dz, r * dzw, c, u, mode)
        cuda.atomic.add(drec, (p, c), acc)
    else:
        b = e - nk - nr
        for r in range(r0, r1):
            if b < cols:
                acc += dz[r * dzw + b]
            else:
                acc += _dr_grad(dz, r * dzw, b - cols, u, mode)
        cuda.atomic.add(dbias, b, acc)


@kernel("void(F[:, ::1], F[:, :, ::1], F[::1], int64, int64, F[:, :, ::1])")
def _input_grads(kern, dmask_x, dz, dzw, u, dx):
    """dx[i, t, q] = sum_c dz[(i, t), c] kern[q, c] dmask_x[i, g(c), q], one thread each."""
    e = cuda.grid(1)
    n, steps, d = dx.shape
    if e < n * steps * d:
        r = e // d
        q = e - r * d
        i = r // steps
        acc = kern.dtype.type(0.0)
        base = r * dzw
        if dmask_x.size == 0:
            for c in range(kern.shape[1]):
                acc += dz[base + c] * kern[q, c]
        else:
            for c in range(kern.shape[1]):
                acc += dz[base + c] * kern[q, c] * _mask_value(dmask_x, c // u, i, q)
        dx[i, r - i * steps, q] = acc


# ------------------------------------------------------------------------------------ host-side checks


def _check_inputs(x, h0, kernel_, recurrent_kernel, bias, bias_size, mask, dmask_x, dmask_h, gates, activation,
                  recurrent_activation):
    n, t, d = x.shape
    u = h0.shape[1]
    if h0.shape[0] != n:
        raise ValueError("recurrent: h0 must have shape (N, U) with N = x.shape[0]")
    if kernel_.shape[0] != d or kernel_.shape[1] != gates * u:
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
    if not (0 <= activation < len(ACTIVATIONS) and 0 <= recurrent_activation < len(ACTIVATIONS)):
        raise ValueError("recurrent: unknown activation code")


def _check_outputs(x, h0, cache, width, seq, h_t):
    n, t, _ = x.shape
    u = h0.shape[1]
    if cache.shape[0] < n * t * width:
        raise ValueError("recurrent forward: cache is smaller than <name>_cache_size(N, T, D, U)")
    if seq.shape[0] != n or seq.shape[1] != t or seq.shape[2] != u:
        raise ValueError("recurrent forward: seq must have shape (N, T, U)")
    if h_t.shape[0] != n or h_t.shape[1] != u:
        raise ValueError("recurrent forward: hT must have shape (N, U)")


def _check_backward(x, h0, kernel_, recurrent_kernel, bias, dseq, dh_t, dx, dh0, dkernel, drecurrent, dbias,
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
    if dkernel.shape[0] != kernel_.shape[0] or dkernel.shape[1] != kernel_.shape[1]:
        raise ValueError("recurrent backward: dkernel must have the kernel's shape")
    if drecurrent.shape[0] != recurrent_kernel.shape[0] or drecurrent.shape[1] != recurrent_kernel.shape[1]:
        raise ValueError("recurrent backward: drecurrent_kernel must have the recurrent kernel's shape")
    if dbias.size != 0 and dbias.shape[0] != bias.shape[0]:
        raise ValueError("recurrent backward: dbias must have the bias's length or size 0")


def _backward_tail(x, h0, kernel_, dmask_x, dmask_h, cache, dz, width, off, dzw, u, mode, go_backwards, dx,
                   dkernel, drecurrent_kernel, dbias):
    """The two parallel launches after the BPTT loop: weight gradients (atomics) and dx."""
    n, steps, _ = x.shape
    total = dkernel.size + drecurrent_kernel.size + dbias.size
    chunks = max(1, -(-(n * steps) // _ROWS_PER_CHUNK))
    if total:
        _weight_grads[(_launch.blocks(total), chunks), _launch.THREADS](
            x, h0, dmask_x, dmask_h, cache, dz, int(width), int(off), int(dzw), int(u), int(mode),
            bool(go_backwards), dkernel, drecurrent_kernel, dbias)
    if dx.size != 0:
        _input_grads[_launch.grid(dx.size)](kernel_, dmask_x, dz, int(dzw), int(u), dx)


# ------------------------------------------------------------------------------------ SimpleRNN


def simple_rnn_cache_size(n, t, d, u):
    """Length of the cache array simple_rnn_forward needs (as kernels.cpu.recurrent.simple_rnn_cache_size)."""
    return n * t * _RNN_WIDTH * u


@kernel("void(F[:, ::1], F[:, ::1], F[:, ::1], F[:, :, ::1], int64, boolean, boolean, F[:, :, ::1], F[:, ::1], "
        "F[::1], int64)")
def _simple_rnn_loop(h0, rk, mask, dmask_h, activation, go_backwards, zero_output_for_mask, seq, h_t, cache,
                     per_block):
    n, u = h_t.shape
    steps = seq.shape[1]
    w = 2 * u
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    first = cuda.blockIdx.x * per_block
    cnt = min(per_block, n - first)
    e = tid
    while e < cnt * u:
        i = first + e // u
        j = e % u
        h_t[i, j] = h0[i, j]
        e += nt
    cuda.syncthreads()
    for s in range(steps):
        t = steps - 1 - s if go_backwards else s
        e = tid
        while e < cnt * u:
            i = first + e // u
            j = e % u
            o = (i * steps + t) * w
            cache[o + j] = _act(activation, cache[o + j] + _rec_dot(h_t, dmask_h, rk, i, j, 0), rk)
            e += nt
        cuda.syncthreads()
        e = tid
        while e < cnt * u:
            i = first + e // u
            j = e % u
            o = (i * steps + t) * w
            if _keep(mask, i, t):
                h_t[i, j] = cache[o + j]
                seq[i, s, j] = h_t[i, j]
            elif zero_output_for_mask:
                seq[i, s, j] = 0.0
            else:
                seq[i, s, j] = h_t[i, j]
            cache[o + u + j] = h_t[i, j]
            e += nt
        cuda.syncthreads()


def simple_rnn_forward(x, h0, kernel, recurrent_kernel, bias, mask, dmask_x, dmask_h, activation, go_backwards,
                       zero_output_for_mask, seq, h_t, cache):
    """h' = act(xd K + hd R + b) over T steps, as kernels.cpu.recurrent.simple_rnn_forward (two launches: the
    input projection, then the time loop; module docstring)."""
    n, steps, _ = x.shape
    u = h0.shape[1]
    _check_inputs(x, h0, kernel, recurrent_kernel, bias, u, mask, dmask_x, dmask_h, 1, activation, 0)
    _check_outputs(x, h0, cache, _RNN_WIDTH * u, seq, h_t)
    if n * steps * u:
        _project_inputs[_launch.grid(n * steps * u)](x, dmask_x, kernel, bias, cache, int(_RNN_WIDTH * u), int(u))
    blocks, threads, per = _loop_geometry(n, u)
    _simple_rnn_loop[blocks, threads](h0, recurrent_kernel, mask, dmask_h, int(activation), bool(go_backwards),
                                      bool(zero_output_for_mask), seq, h_t, cache, int(per))


@kernel("void(F[:, ::1], F[:, ::1], F[:, ::1], F[:, :, ::1], int64, boolean, boolean, F[::1], F[:, :, ::1], "
        "F[:, ::1], F[:, ::1], F[::1], F[:, ::1], F[:, ::1], F[:, ::1], F[::1], boolean, int64)")
def _simple_rnn_bptt(h0, rk, mask, dmask_h, activation, go_backwards, zero_output_for_mask, cache, dseq, dh_t,
                     dh0, dz, dh, dkernel, drec, dbias, accumulate, per_block):
    """BPTT: per step da (N, U) into dz[(i, t)], then dh = dh + (da R^T) * dmask_h."""
    n, u = dh_t.shape
    steps = dseq.shape[1]
    w = 2 * u
    if not accumulate:
        _zero_grads(dkernel, drec, dbias)
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    first = cuda.blockIdx.x * per_block
    cnt = min(per_block, n - first)
    e = tid
    while e < cnt * u:
        i = first + e // u
        j = e % u
        dh[i, j] = dh_t[i, j]
        e += nt
    cuda.syncthreads()
    for s in range(steps - 1, -1, -1):
        t = steps - 1 - s if go_backwards else s
        e = tid
        while e < cnt * u:
            i = first + e // u
            j = e % u
            r = i * steps + t
            g = dseq[i, s, j]
            if _keep(mask, i, t):
                dz[r * u + j] = (dh[i, j] + g) * _dact(activation, cache[r * w + j], rk)
                dh[i, j] = 0.0
            else:
                dz[r * u + j] = 0.0
                if not zero_output_for_mask:
                    dh[i, j] += g
            e += nt
        cuda.syncthreads()
        e = tid
        while e < cnt * u:
            i = first + e // u
            p = e % u
            base = (i * steps + t) * u
            acc = rk.dtype.type(0.0)
            for c in range(u):
                acc += dz[base + c] * rk[p, c]
            dh[i, p] += acc * _mask_value(dmask_h, 0, i, p)
            e += nt
        cuda.syncthreads()
    if dh0.size != 0:
        e = tid
        while e < cnt * u:
            i = first + e // u
            j = e % u
            dh0[i, j] = dh[i, j]
            e += nt


def simple_rnn_backward(x, h0, kernel, recurrent_kernel, bias, mask, dmask_x, dmask_h, activation, go_backwards,
                        zero_output_for_mask, cache, dseq, dh_t, dx, dh0, dkernel, drecurrent_kernel, dbias,
                        accumulate):
    """BPTT for simple_rnn_forward, as kernels.cpu.recurrent.simple_rnn_backward (up to three launches: the loop,
    the weight gradients, dx; scratch from the module cache, see the module docstring)."""
    n, steps, _ = x.shape
    u = h0.shape[1]
    w = _RNN_WIDTH * u
    _check_inputs(x, h0, kernel, recurrent_kernel, bias, u, mask, dmask_x, dmask_h, 1, activation, 0)
    _check_backward(x, h0, kernel, recurrent_kernel, bias, dseq, dh_t, dx, dh0, dkernel, drecurrent_kernel, dbias,
                    cache, w)
    dz = _scratch("dz", n * steps * u, x.dtype)
    dh = _scratch("dh", n * u, x.dtype)[:n * u].reshape((n, u))
    blocks, threads, per = _loop_geometry(n, u)
    _simple_rnn_bptt[blocks, threads](h0, recurrent_kernel, mask, dmask_h, int(activation), bool(go_backwards),
                                      bool(zero_output_for_mask), cache, dseq, dh_t, dh0, dz, dh, dkernel,
                                      drecurrent_kernel, dbias, bool(accumulate), int(per))
    _backward_tail(x, h0, kernel, dmask_x, dmask_h, cache, dz, w, u, u, u, 0, go_backwards, dx, dkernel,
                   drecurrent_kernel, dbias)


# ------------------------------------------------------------------------------------ LSTM


def lstm_cache_size(n, t, d, u):
    """Length of the cache array lstm_forward needs (as kernels.cpu.recurrent.lstm_cache_size)."""
    return n * t * _LSTM_WIDTH * u


@kernel("void(F[:, ::1], F[:, ::1], F[:, ::1], F[:, ::1], F[:, :, ::1], int64, int64, boolean, boolean, "
        "F[:, :, ::1], F[:, ::1], F[:, ::1], F[::1], int64)")
def _lstm_loop(h0, c0, rk, mask, dmask_h, activation, recurrent_activation, go_backwards, zero_output_for_mask,
               seq, h_t, c_t, cache, per_block):
    n, u = h_t.shape
    steps = seq.shape[1]
    w = 7 * u
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    first = cuda.blockIdx.x * per_block
    cnt = min(per_block, n - first)
    e = tid
    while e < cnt * u:
        i = first + e // u
        j = e % u
        h_t[i, j] = h0[i, j]
        c_t[i, j] = c0[i, j]
        e += nt
    cuda.syncthreads()
    for s in range(steps):
        t = steps - 1 - s if go_backwards else s
        e = tid
        while e < cnt * 4 * u:
            i = first + e // (4 * u)
            col = e % (4 * u)
            o = (i * steps + t) * w
            g = col // u
            z = cache[o + col] + _rec_dot(h_t, dmask_h, rk, i, col, g)
            cache[o + col] = _act(activation if g == 2 else recurrent_activation, z, rk)
            e += nt
        cuda.syncthreads()
        e = tid
        while e < cnt * u:
            i = first + e // u
            j = e % u
            o = (i * steps + t) * w
            keep = _keep(mask, i, t)
            cn = cache[o + u + j] * c_t[i, j] + cache[o + j] * cache[o + 2 * u + j]
            if keep:
                c_t[i, j] = cn
            ac = _act(activation, cn, rk)
            cache[o + 5 * u + j] = ac
            if keep:
                h_t[i, j] = cache[o + 3 * u + j] * ac
                seq[i, s, j] = h_t[i, j]
            elif zero_output_for_mask:
                seq[i, s, j] = 0.0
            else:
                seq[i, s, j] = h_t[i, j]
            cache[o + 4 * u + j] = c_t[i, j]
            cache[o + 6 * u + j] = h_t[i, j]
            e += nt
        cuda.syncthreads()


def lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias, mask, dmask_x, dmask_h, activation,
                 recurrent_activation, go_backwards, zero_output_for_mask, seq, h_t, c_t, cache):
    """c' = f c + i g, h' = o act(c') over T steps, as kernels.cpu.recurrent.lstm_forward (two launches)."""
    n, steps, _ = x.shape
    u = h0.shape[1]
    w = _LSTM_WIDTH * u
    _check_inputs(x, h0, kernel, recurrent_kernel, bias, 4 * u, mask, dmask_x, dmask_h, 4, activation,
                  recurrent_activation)
    _check_outputs(x, h0, cache, w, seq, h_t)
    if c0.shape[0] != n or c0.shape[1] != u or c_t.shape[0] != n or c_t.shape[1] != u:
        raise ValueError("lstm_forward: c0 and cT must have shape (N, U)")
    if n * steps * u:
        _project_inputs[_launch.grid(n * steps * 4 * u)](x, dmask_x, kernel, bias, cache, int(w), int(u))
    blocks, threads, per = _loop_geometry(n, 4 * u)
    _lstm_loop[blocks, threads](h0, c0, recurrent_kernel, mask, dmask_h, int(activation), int(recurrent_activation),
                                bool(go_backwards), bool(zero_output_for_mask), seq, h_t, c_t, cache, int(per))


@kernel("void(F[:, ::1], F[:, ::1], F[:, ::1], F[:, ::1], F[:, :, ::1], int64, int64, boolean, boolean, F[::1], "
        "F[:, :, ::1], F[:, ::1], F[:, ::1], F[:, ::1], F[:, ::1], F[::1], F[:, ::1], F[:, ::1], F[:, ::1], "
        "F[:, ::1], F[::1], boolean, int64)")
def _lstm_bptt(h0, c0, rk, mask, dmask_h, activation, recurrent_activation, go_backwards, zero_output_for_mask,
               cache, dseq, dh_t, dc_t, dh0, dc0, dz, dh, dc, dkernel, drec, dbias, accumulate, per_block):
    """BPTT: per step dz (N, 4U) into dz[(i, t)] and dc, then dh = dh + (dz R^T) * dmask_h (per gate)."""
    n, u = dh_t.shape
    steps = dseq.shape[1]
    w = 7 * u
    k = 4 * u
    if not accumulate:
        _zero_grads(dkernel, drec, dbias)
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    first = cuda.blockIdx.x * per_block
    cnt = min(per_block, n - first)
    e = tid
    while e < cnt * u:
        i = first + e // u
        j = e % u
        dh[i, j] = dh_t[i, j]
        dc[i, j] = dc_t[i, j]
        e += nt
    cuda.syncthreads()
    for s in range(steps - 1, -1, -1):
        t = steps - 1 - s if go_backwards else s
        e = tid
        while e < cnt * u:
            i = first + e // u
            j = e % u
            r = i * steps + t
            o = r * w
            b = r * k
            g = dseq[i, s, j]
            if _keep(mask, i, t):
                ig = cache[o + j]
                fg = cache[o + u + j]
                gg = cache[o + 2 * u + j]
                og = cache[o + 3 * u + j]
                ac = cache[o + 5 * u + j]
                cp = _h_prev(cache, c0, i, t, steps, w, 4 * u, j, go_backwards)
                dhn = dh[i, j] + g
                dcn = dc[i, j] + dhn * og * _dact(activation, ac, rk)
                dz[b + j] = dcn * gg * _dact(recurrent_activation, ig, rk)
                dz[b + u + j] = dcn * cp * _dact(recurrent_activation, fg, rk)
                dz[b + 2 * u + j] = dcn * ig * _dact(activation, gg, rk)
                dz[b + 3 * u + j] = dhn * ac * _dact(recurrent_activation, og, rk)
                dc[i, j] = dcn * fg
                dh[i, j] = 0.0
            else:
                dz[b + j] = 0.0
                dz[b + u + j] = 0.0
                dz[b + 2 * u + j] = 0.0
                dz[b + 3 * u + j] = 0.0
                if not zero_output_for_mask:
                    dh[i, j] += g
            e += nt
        cuda.syncthreads()
        e = tid
        while e < cnt * u:
            i = first + e // u
            p = e % u
            b = (i * steps + t) * k
            acc = rk.dtype.type(0.0)
            for c in range(k):
                acc += dz[b + c] * rk[p, c] * _mask_value(dmask_h, c // u, i, p)
            dh[i, p] += acc
            e += nt
        cuda.syncthreads()
    e = tid
    while e < cnt * u:
        i = first + e // u
        j = e % u
        if dh0.size != 0:
            dh0[i, j] = dh[i, j]
        if dc0.size != 0:
            dc0[i, j] = dc[i, j]
        e += nt


def lstm_backward(x, h0, c0, kernel, recurrent_kernel, bias, mask, dmask_x, dmask_h, activation,
                  recurrent_activation, go_backwards, zero_output_for_mask, cache, dseq, dh_t, dc_t, dx, dh0, dc0,
                  dkernel, drecurrent_kernel, dbias, accumulate):
    """BPTT for lstm_forward, as kernels.cpu.recurrent.lstm_backward (up to three launches; module scratch)."""
    n, steps, _ = x.shape
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
    dz = _scratch("dz", n * steps * 4 * u, x.dtype)
    dh = _scratch("dh", n * u, x.dtype)[:n * u].reshape((n, u))
    dc = _scratch("dc", n * u, x.dtype)[:n * u].reshape((n, u))
    blocks, threads, per = _loop_geometry(n, 4 * u)
    _lstm_bptt[blocks, threads](h0, c0, recurrent_kernel, mask, dmask_h, int(activation), int(recurrent_activation),
                                bool(go_backwards), bool(zero_output_for_mask), cache, dseq, dh_t, dc_t, dh0, dc0,
                                dz, dh, dc, dkernel, drecurrent_kernel, dbias, bool(accumulate), int(per))
    _backward_tail(x, h0, kernel, dmask_x, dmask_h, cache, dz, w, 6 * u, 4 * u, u, 0, go_backwards, dx, dkernel,
                   drecurrent_kernel, dbias)


# ------------------------------------------------------------------------------------ GRU


def gru_cache_size(n, t, d, u):
    """Length of the cache array gru_forward needs (as kernels.cpu.recurrent.gru_cache_size)."""
    return n * t * _GRU_WIDTH * u


@kernel("void(F[:, ::1], F[:, ::1], F[::1], F[:, ::1], F[:, :, ::1], int64, int64, boolean, boolean, boolean, "
        "F[:, :, ::1], F[:, ::1], F[::1], int64)")
def _gru_loop(h0, rk, bias, mask, dmask_h, activation, recurrent_activation, reset_after, go_backwards,
              zero_output_for_mask, seq, h_t, cache, per_block):
    n, u = h_t.shape
    steps = seq.shape[1]
    w = 5 * u
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    first = cuda.blockIdx.x * per_block
    cnt = min(per_block, n - first)
    k = 3 * u if reset_after else 2 * u
    e = tid
    while e < cnt * u:
        i = first + e // u
        j = e % u
        h_t[i, j] = h0[i, j]
        e += nt
    cuda.syncthreads()
    for s in range(steps):
        t = steps - 1 - s if go_backwards else s
        # z, r (and mi_h with reset_after): one thread per (sample, recurrent column)
        e = tid
        while e < cnt * k:
            i = first + e // k
            col = e % k
            o = (i * steps + t) * w
            m = _rec_dot(h_t, dmask_h, rk, i, col, col // u)
            if reset_after and bias.size != 0:
                m += bias[3 * u + col]
            if col < 2 * u:
                cache[o + col] = _act(recurrent_activation, cache[o + col] + m, rk)
            else:
                cache[o + u + col] = m  # mi_h at [3U:4U]
            e += nt
        cuda.syncthreads()
        if not reset_after:
            e = tid
            while e < cnt * u:
                i = first + e // u
                j = e % u
                o = (i * steps + t) * w
                cache[o + 3 * u + j] = cache[o + u + j] * h_t[i, j] * _mask_value(dmask_h, 2, i, j)
                e += nt
            cuda.syncthreads()
        e = tid
        while e < cnt * u:
            i = first + e // u
            j = e % u
            o = (i * steps + t) * w
            if reset_after:
                pre = cache[o + 2 * u + j] + cache[o + u + j] * cache[o + 3 * u + j]
            else:
                acc = rk.dtype.type(0.0)
                for p in range(u):
                    acc += cache[o + 3 * u + p] * rk[p, 2 * u + j]
                pre = cache[o + 2 * u + j] + acc
            hh = _act(activation, pre, rk)
            cache[o + 2 * u + j] = hh
            if _keep(mask, i, t):
                zg = cache[o + j]
                h_t[i, j] = zg * h_t[i, j] + (rk.dtype.type(1.0) - zg) * hh
                seq[i, s, j] = h_t[i, j]
            elif zero_output_for_mask:
                seq[i, s, j] = 0.0
            else:
                seq[i, s, j] = h_t[i, j]
            cache[o + 4 * u + j] = h_t[i, j]
            e += nt
        cuda.syncthreads()


def gru_forward(x, h0, kernel, recurrent_kernel, bias, mask, dmask_x, dmask_h, activation, recurrent_activation,
                reset_after, go_backwards, zero_output_for_mask, seq, h_t, cache):
    """h' = z h + (1 - z) hh over T steps, as kernels.cpu.recurrent.gru_forward (two launches; bias (6U,) with
    reset_after)."""
    n, steps, _ = x.shape
    u = h0.shape[1]
    w = _GRU_WIDTH * u
    _check_inputs(x, h0, kernel, recurrent_kernel, bias, 6 * u if reset_after else 3 * u, mask, dmask_x, dmask_h,
                  3, activation, recurrent_activation)
    _check_outputs(x, h0, cache, w, seq, h_t)
    if n * steps * u:
        _project_inputs[_launch.grid(n * steps * 3 * u)](x, dmask_x, kernel, bias, cache, int(w), int(u))
    blocks, threads, per = _loop_geometry(n, 3 * u)
    _gru_loop[blocks, threads](h0, recurrent_kernel, bias, mask, dmask_h, int(activation), int(recurrent_activation),
                               bool(reset_after), bool(go_backwards), bool(zero_output_for_mask), seq, h_t, cache,
                               int(per))


@kernel("void(F[:, ::1], F[:, ::1], F[:, ::1], F[:, :, ::1], int64, int64, boolean, boolean, boolean, F[::1], "
        "F[:, :, ::1], F[:, ::1], F[:, ::1], F[::1], F[:, ::1], F[:, ::1], F[:, ::1], F[::1], boolean, int64)")
def _gru_bptt(h0, rk, mask, dmask_h, activation, recurrent_activation, reset_after, go_backwards,
              zero_output_for_mask, cache, dseq, dh_t, dh0, dz, dh, dkernel, drec, dbias, accumulate, per_block):
    """BPTT: per step dz[(i, t)] = (dz, dr, da_h, da_h r), then dh += recurrent terms (module docstring of the
    CPU kernel; without reset_after the reset gate's gradient needs q = da_h R_h^T first, one more phase)."""
    n, u = dh_t.shape
    steps = dseq.shape[1]
    w = 5 * u
    k = 4 * u
    if not accumulate:
        _zero_grads(dkernel, drec, dbias)
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    first = cuda.blockIdx.x * per_block
    cnt = min(per_block, n - first)
    e = tid
    while e < cnt * u:
        i = first + e // u
        j = e % u
        dh[i, j] = dh_t[i, j]
        e += nt
    cuda.syncthreads()
    for s in range(steps - 1, -1, -1):
        t = steps - 1 - s if go_backwards else s
        e = tid
        while e < cnt * u:
            i = first + e // u
            j = e % u
            r = i * steps + t
            o = r * w
            b = r * k
            g = dseq[i, s, j]
            if _keep(mask, i, t):
                zg = cache[o + j]
                rg = cache[o + u + j]
                hh = cache[o + 2 * u + j]
                dhn = dh[i, j] + g
                hp = _h_prev(cache, h0, i, t, steps, w, 4 * u, j, go_backwards)
                daz = dhn * (hp - hh) * _dact(recurrent_activation, zg, rk)
                dah = dhn * (rk.dtype.type(1.0) - zg) * _dact(activation, hh, rk)
                dz[b + j] = daz
                dz[b + 2 * u + j] = dah
                if reset_after:
                    dz[b + u + j] = dah * cache[o + 3 * u + j] * _dact(recurrent_activation, rg, rk)
                    dz[b + 3 * u + j] = dah * rg
                else:
                    dz[b + u + j] = 0.0
                    dz[b + 3 * u + j] = 0.0
                dh[i, j] = dhn * zg
            else:
                dz[b + j] = 0.0
                dz[b + u + j] = 0.0
                dz[b + 2 * u + j] = 0.0
                dz[b + 3 * u + j] = 0.0
                if not zero_output_for_mask:
                    dh[i, j] += g
            e += nt
        cuda.syncthreads()
        if not reset_after:
            e = tid
            while e < cnt * u:
                i = first + e // u
                j = e % u
                r = i * steps + t
                b = r * k
                if _keep(mask, i, t):
                    q = rk.dtype.type(0.0)
                    for c in range(u):
                        q += dz[b + 2 * u + c] * rk[j, 2 * u + c]
                    rg = cache[r * w + u + j]
                    mh = _mask_value(dmask_h, 2, i, j)
                    hp = _h_prev(cache, h0, i, t, steps, w, 4 * u, j, go_backwards)
                    dz[b + u + j] = q * hp * mh * _dact(recurrent_activation, rg, rk)
                    dh[i, j] += q * rg * mh
                e += nt
            cuda.syncthreads()
        kc = 3 * u if reset_after else 2 * u
        e = tid
        while e < cnt * u:
            i = first + e // u
            p = e % u
            b = (i * steps + t) * k
            acc = rk.dtype.type(0.0)
            for c in range(kc):
                gc = dz[b + u + c] if c >= 2 * u else dz[b + c]
                acc += gc * rk[p, c] * _mask_value(dmask_h, c // u, i, p)
            dh[i, p] += acc
            e += nt
        cuda.syncthreads()
    if dh0.size != 0:
        e = tid
        while e < cnt * u:
            i = first + e // u
            j = e % u
            dh0[i, j] = dh[i, j]
            e += nt


def gru_backward(x, h0, kernel, recurrent_kernel, bias, mask, dmask_x, dmask_h, activation, recurrent_activation,
                 reset_after, go_backwards, zero_output_for_mask, cache, dseq, dh_t, dx, dh0, dkernel,
                 drecurrent_kernel, dbias, accumulate):
    """BPTT for gru_forward, as kernels.cpu.recurrent.gru_backward (up to three launches; module scratch)."""
    n, steps, _ = x.shape
    u = h0.shape[1]
    w = _GRU_WIDTH * u
    _check_inputs(x, h0, kernel, recurrent_kernel, bias, 6 * u if reset_after else 3 * u, mask, dmask_x, dmask_h,
                  3, activation, recurrent_activation)
    _check_backward(x, h0, kernel, recurrent_kernel, bias, dseq, dh_t, dx, dh0, dkernel, drecurrent_kernel, dbias,
                    cache, w)
    dz = _scratch("dz", n * steps * 4 * u, x.dtype)
    dh = _scratch("dh", n * u, x.dtype)[:n * u].reshape((n, u))
    blocks, threads, per = _loop_geometry(n, 3 * u)
    _gru_bptt[blocks, threads](h0, recurrent_kernel, mask, dmask_h, int(activation), int(recurrent_activation),
                               bool(reset_after), bool(go_backwards), bool(zero_output_for_mask), cache, dseq, dh_t,
                               dh0, dz, dh, dkernel, drecurrent_kernel, dbias, bool(accumulate), int(per))
    _backward_tail(x, h0, kernel, dmask_x, dmask_h, cache, dz, w, 4 * u, 4 * u, u, 1 if reset_after else 2,
                   go_backwards, dx, dkernel, drecurrent_kernel, dbias)


# ------------------------------------------------------------------------------------ dropout masks from uniforms


@kernel("void(F[::1], float64, float64, boolean, int64, F[:, :, ::1], F[:, :, ::1])")
def _dropout_masks(u, rate_x, rate_h, training, w, mask_x, mask_h):
    e = cuda.grid(1)
    nx = mask_x.size
    if e < nx:
        gd = mask_x.shape[1] * mask_x.shape[2]
        i = e // gd
        k = e - i * gd
        m = mask_x
        rate = rate_x
        src = i * w + k
    elif e < nx + mask_h.size:
        e -= nx
        gd = mask_h.shape[1] * mask_h.shape[2]
        i = e // gd
        k = e - i * gd
        m = mask_h
        rate = rate_h
        src = i * w + (mask_x.shape[1] * mask_x.shape[2] if nx != 0 else 0) + k
    else:
        return
    f = m.dtype.type
    g = k // m.shape[2]
    j = k - g * m.shape[2]
    if not training:
        m[i, g, j] = f(1.0)
    elif rate < 1.0 and u[src] >= u.dtype.type(rate):
        m[i, g, j] = f(1.0) / f(1.0 - rate)
    else:
        m[i, g, j] = f(0.0)


def dropout_masks(u, rate_x, rate_h, training, mask_x, mask_h):
    """The scaled dropout masks from uniforms, as kernels.cpu.recurrent.dropout_masks (one launch, one thread per
    mask value)."""
    n = mask_x.shape[0] if mask_x.size != 0 else mask_h.shape[0]
    wx = mask_x.shape[1] * mask_x.shape[2] if mask_x.size != 0 else 0
    wh = mask_h.shape[1] * mask_h.shape[2] if mask_h.size != 0 else 0
    if mask_x.size != 0 and mask_h.size != 0 and mask_h.shape[0] != n:
        raise ValueError("dropout_masks: mask_x and mask_h must have the same number of rows")
    if not (rate_x >= 0.0 and rate_x <= 1.0 and rate_h >= 0.0 and rate_h <= 1.0):
        raise ValueError("dropout_masks: rates must be in [0, 1]")
    total = mask_x.size + mask_h.size
    if total == 0:
        return
    w = 0
    if training:
        if n == 0 or wx + wh == 0:
            return
        if u.shape[0] % n != 0 or u.shape[0] // n < wx + wh:
            raise ValueError("dropout_masks: u must hold N rows of at least Gx*D + Gh*U uniforms")
        w = u.shape[0] // n
    _dropout_masks[_launch.grid(total)](u, float(rate_x), float(rate_h), bool(training), int(w), mask_x, mask_h)


# ------------------------------------------------------------------------------------ sequence masks (Masking)


@device
def _row_kept(x, m, value):
    for f in range(x.shape[1]):
        if x[m, f] != value:
            return True
    return False


@kernel("void(F[:, ::1], float64, F[::1])")
def _sequence_mask(x, value, mask):
    m = cuda.grid(1)
    if m < mask.shape[0]:
        mask[m] = mask.dtype.type(1.0) if _row_kept(x, m, value) else mask.dtype.type(0.0)


def sequence_mask(x, value, mask):
    """mask[m] = 1 if any x[m, f] != value, else 0, as kernels.cpu.recurrent.sequence_mask (one thread a row)."""
    if len(x.shape) != 2 or len(mask.shape) != 1 or mask.shape[0] != x.shape[0]:
        raise ValueError("sequence_mask: x must be (M, F) and mask (M,)")
    if x.shape[0]:
        _sequence_mask[_launch.grid(x.shape[0])](x, float(value), mask)


@kernel("void(F[:, ::1], float64, F[:, ::1], F[:, ::1])")
def _masked_copy(x, value, src, out):
    """out[m, f] = src[m, f] where row m of x is kept, else 0; one thread per element (the row scan stops at the
    first differing feature, usually the first)."""
    e = cuda.grid(1)
    fdim = x.shape[1]
    if e < x.shape[0] * fdim:
        m = e // fdim
        f = e - m * fdim
        out[m, f] = src[m, f] if _row_kept(x, m, value) else out.dtype.type(0.0)


def masking_forward(x, value, out):
    """out[m] = x[m] where the step is kept, else 0, as kernels.cpu.recurrent.masking_forward."""
    if x.shape[0] != out.shape[0] or x.shape[1] != out.shape[1]:
        raise ValueError("masking_forward: x and out must have one shape (M, F)")
    if x.size:
        _masked_copy[_launch.grid(x.size)](x, float(value), x, out)


def masking_backward(x, value, dy, dx):
    """dx[m] = dy[m] where the step is kept, else 0 (skipped when dx is empty), as
    kernels.cpu.recurrent.masking_backward."""
    if dx.size == 0:
        return
    if x.shape[0] != dy.shape[0] or x.shape[1] != dy.shape[1] or dx.shape[0] != x.shape[0] \
            or dx.shape[1] != x.shape[1]:
        raise ValueError("masking_backward: x, dy and dx must have one shape (M, F)")
    _masked_copy[_launch.grid(x.size)](x, float(value), dy, dx)


# ------------------------------------------------------------------------------------ outputs of the layers


@kernel("void(F[:, :, ::1], F[:, ::1])")
def _sequence_last_forward(seq, out):
    e = cuda.grid(1)
    n, t, u = seq.shape
    if e < n * u:
        i = e // u
        j = e - i * u
        out[i, j] = seq[i, t - 1, j]


def sequence_last_forward(seq, out):
    """out = seq[:, T-1], as kernels.cpu.recurrent.sequence_last_forward."""
    n, t, u = seq.shape
    if t == 0 or out.shape[0] != n or out.shape[1] != u:
        raise ValueError("sequence_last_forward: out must be (N, U) for seq (N, T, U), T > 0")
    if n * u:
        _sequence_last_forward[_launch.grid(n * u)](seq, out)


@kernel("void(F[:, ::1], F[:, :, ::1])")
def _sequence_last_backward(dy, dseq):
    e = cuda.grid(1)
    n, t, u = dseq.shape
    if e < n * t * u:
        i = e // (t * u)
        k = e - i * t * u
        s = k // u
        j = k - s * u
        dseq[i, s, j] = dy[i, j] if s == t - 1 else dseq.dtype.type(0.0)


def sequence_last_backward(dy, dseq):
    """dseq = 0 except dseq[:, T-1] = dy, as kernels.cpu.recurrent.sequence_last_backward."""
    n, t, u = dseq.shape
    if t == 0 or dy.shape[0] != n or dy.shape[1] != u:
        raise ValueError("sequence_last_backward: dy must be (N, U) for dseq (N, T, U), T > 0")
    if dseq.size:
        _sequence_last_backward[_launch.grid(dseq.size)](dy, dseq)


@kernel("void(F[:, :, ::1], F[:, :, ::1], int64, boolean, F[:, :, ::1])")
def _merge_pair_forward(a, b, mode, reverse_b, out):
    e = cuda.grid(1)
    n, t, u = a.shape
    if e < n * t * u:
        i = e // (t * u)
        k = e - i * t * u
        s = k // u
        j = k - s * u
        sb = t - 1 - s if reverse_b else s
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
            out[i, s, j] = (x + y) / out.dtype.type(2.0)


def merge_pair_forward(a, b, mode, reverse_b, out):
    """Bidirectional's merge of a and b (concat, sum, mul, ave), as kernels.cpu.recurrent.merge_pair_forward."""
    n, t, u = a.shape
    if b.shape[0] != n or b.shape[1] != t or b.shape[2] != u or out.shape[0] != n or out.shape[1] != t:
        raise ValueError("merge_pair_forward: a and b must be (N, T, U) and out (N, T, .)")
    if mode < 0 or mode > 3 or out.shape[2] != (2 * u if mode == 0 else u):
        raise ValueError("merge_pair_forward: out must be (N, T, 2U) for concat, (N, T, U) otherwise")
    if a.size:
        _merge_pair_forward[_launch.grid(a.size)](a, b, int(mode), bool(reverse_b), out)


@kernel("void(F[:, :, ::1], F[:, :, ::1], F[:, :, ::1], int64, boolean, F[:, :, ::1], F[:, :, ::1])")
def _merge_pair_backward(a, b, dy, mode, reverse_b, da, db):
    e = cuda.grid(1)
    n, t, u = a.shape
    if e < n * t * u:
        i = e // (t * u)
        k = e - i * t * u
        s = k // u
        j = k - s * u
        sb = t - 1 - s if reverse_b else s
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
            half = dy.dtype.type(0.5)
            da[i, s, j] = g * half
            db[i, sb, j] = g * half


def merge_pair_backward(a, b, dy, mode, reverse_b, da, db):
    """Gradients of merge_pair_forward (da, db overwritten), as kernels.cpu.recurrent.merge_pair_backward."""
    n, t, u = a.shape
    if b.shape[0] != n or b.shape[1] != t or b.shape[2] != u or dy.shape[0] != n or dy.shape[1] != t:
        raise ValueError("merge_pair_backward: a and b must be (N, T, U) and dy (N, T, .)")
    if mode < 0 or mode > 3 or dy.shape[2] != (2 * u if mode == 0 else u):
        raise ValueError("merge_pair_backward: dy must be (N, T, 2U) for concat, (N, T, U) otherwise")
    if da.shape[0] != n or da.shape[1] != t or da.shape[2] != u or db.shape[0] != n or db.shape[1] != t \
            or db.shape[2] != u:
        raise ValueError("merge_pair_backward: da and db must have the shape of a")
    if a.size:
        _merge_pair_backward[_launch.grid(a.size)](a, b, dy, int(mode), bool(reverse_b), da, db)


@kernel("void(F[:, :, ::1], F[:, :, ::1])")
def _reverse_time(x, out):
    e = cuda.grid(1)
    n, t, u = x.shape
    if e < n * t * u:
        i = e // (t * u)
        k = e - i * t * u
        s = k // u
        j = k - s * u
        out[i, s, j] = x[i, t - 1 - s, j]


def reverse_time(x, out):
    """out[:, s] = x[:, T-1-s], as kernels.cpu.recurrent.reverse_time."""
    n, t, u = x.shape
    if out.shape[0] != n or out.shape[1] != t or out.shape[2] != u:
        raise ValueError("reverse_time: x and out must have one shape (N, T, U)")
    if x.size:
        _reverse_time[_launch.grid(x.size)](x, out)
