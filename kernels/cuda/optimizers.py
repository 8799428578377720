"""CUDA twin of kernels/cpu/optimizers.py: Keras 3's update rules, clipping and weight decay on flat device buffers.

Every update rule is ONE launch over the whole flat parameter buffer (one thread per parameter; the slots are read
and written by the same thread). Scalars that depend only on hyperparameters and the step (Adam's alpha, the bias
corrections, Nadam's schedule factors) are formed on the host in the parameter dtype exactly as the CPU kernel forms
them, passed as float64 (exact for a float32 value) and cast back to the parameter dtype in the kernel, so a float32
update does float32 arithmetic as on the CPU.

Reductions run on the device: ``clip_by_norm`` is one launch with one block per variable (a block reduction of the
segment's sum of squares, then the same block scales its segment); ``clip_by_global_norm`` is two launches
(per-block partial sums of squares, then every block reduces the partials itself and scales its part of the
buffer) and copies the norm back to return it, as the CPU kernel returns it. Sums of squares are accumulated in the
gradient's dtype, as on the CPU (so a float32 overflow gives Keras's NaN trap the same way); the order of the
additions differs (a tree), so float32 norms agree to rounding, not bit for bit.

Data-dependent checks: the segment bounds live on the device; a segment outside the buffer is skipped (left
unclipped) where the CPU kernel raises ValueError (after clipping the segments before it).

Module-level device scratch (allocated once per dtype and grown when needed, never per call): the partial sums and
the returned norm of ``clip_by_global_norm``, and Nadam's one-int32 block counter. They make concurrent calls from
several host threads on one device unsafe (the interpreters call kernels from one thread).
"""

import math

import numpy as np
from numba import cuda

from . import _launch
from ._launch import THREADS, kernel

#: Most blocks a grid-stride reduction launches (the second pass reduces at most this many partials per block).
MAX_BLOCKS = THREADS

_SCRATCH = {}


def _scratch(name, size, dtype):
    """A cached device array of at least ``size`` elements (module docstring): allocated once, grown when needed."""
    key = (name, np.dtype(dtype).str)
    a = _SCRATCH.get(key)
    if a is None or a.shape[0] < size:
        a = cuda.to_device(np.zeros(max(size, 1), dtype))
        _SCRATCH[key] = a
    return a


def _dtype(a):
    return np.dtype(a.dtype).type


@_launch.device
def _max_nan(a, b):
    """max(a, b) that returns NaN when either is NaN (as jnp.maximum)."""
    return a if (a > b or math.isnan(a)) else b


@_launch.device
def _block_sum(sh, v):
    """Sum of ``v`` over the (1-D, THREADS-thread) block, returned to every thread; ``sh`` is shared scratch."""
    tid = cuda.threadIdx.x
    sh[tid] = v
    cuda.syncthreads()
    s = THREADS // 2
    while s > 0:
        if tid < s:
            sh[tid] += sh[tid + s]
        cuda.syncthreads()
        s //= 2
    r = sh[0]
    cuda.syncthreads()  # sh may be reused right after
    return r


def _check_sizes(w, g, slot_a, slot_b, slot_c):
    n = w.size
    bad_slot = (slot_a.size not in (0, n)) or (slot_b.size not in (0, n)) or (slot_c.size not in (0, n))
    if g.size != n or bad_slot:
        raise ValueError("optimizer slot or gradient length differs from the parameter buffer")


def _require(slot, n, wanted):
    if wanted and slot.size != n:
        raise ValueError("an optimizer option needs a slot array the length of the parameter buffer")


def _check_step(step):
    if step < 1:
        raise ValueError("step is iterations + 1 and must be >= 1")


# --- gradient clipping and weight decay ---------------------------------------------------------------------------


@kernel("void(F[::1], float64)")
def _clip_by_value(g, clipvalue):
    i = cuda.grid(1)
    if i < g.shape[0]:
        hi = g.dtype.type(clipvalue)
        lo = g.dtype.type(-clipvalue)
        x = g[i]
        if x > hi:
            g[i] = hi
        elif x < lo:
            g[i] = lo


def clip_by_value(g, clipvalue):
    """g = clip(g, -clipvalue, clipvalue), in place, as kernels.cpu.optimizers.clip_by_value. One launch."""
    if g.size:
        _clip_by_value[_launch.grid(g.size)](g, float(clipvalue))


@kernel("void(F[::1], int64[:, ::1], float64)")
def _clip_by_norm(g, segments, clipnorm):
    """One block per segment: block-reduce the segment's sum of squares, then scale it."""
    sh = cuda.shared.array(THREADS, dtype=g.dtype)
    s = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    n = g.shape[0]
    start = segments[s, 0]
    stop = segments[s, 1]
    if start < 0 or stop < start or stop > n:
        return  # the whole block returns together: no thread is left waiting at a barrier
    c = g.dtype.type(clipnorm)
    zero = g.dtype.type(0.0)
    part = zero
    for i in range(start + tid, stop, THREADS):
        part += g[i] * g[i]
    l2sum = _block_sum(sh, part)
    l2norm = math.sqrt(l2sum) if l2sum > zero else l2sum
    denom = _max_nan(l2norm, c)
    for i in range(start + tid, stop, THREADS):
        g[i] = g[i] * c / denom


def clip_by_norm(g, segments, clipnorm):
    """Per variable: g = g * clipnorm / max(||g||_2, clipnorm) over each (start, stop) row of ``segments``, as
    kernels.cpu.optimizers.clip_by_norm. One launch, one block per segment. A segment outside the buffer is skipped
    (the CPU kernel raises ValueError): the bounds are on the device."""
    if len(segments.shape) != 2 or (segments.shape[0] and segments.shape[1] != 2):
        raise ValueError("clip_by_norm: a segment lies outside the gradient buffer")
    if segments.shape[0]:
        _clip_by_norm[segments.shape[0], THREADS](g, segments, float(clipnorm))


@kernel("void(F[::1], F[::1])")
def _sum_squares_partials(g, partials):
    """partials[block] = sum of g^2 over the block's grid-stride share."""
    sh = cuda.shared.array(THREADS, dtype=g.dtype)
    part = g.dtype.type(0.0)
    for i in range(cuda.grid(1), g.shape[0], cuda.gridsize(1)):
        part += g[i] * g[i]
    total = _block_sum(sh, part)
    if cuda.threadIdx.x == 0:
        partials[cuda.blockIdx.x] = total


@kernel("void(F[::1], F[::1], int64, float64, float64, F[::1])")
def _scale_by_global_norm(g, partials, nparts, clipnorm, inv_clipnorm, norm_out):
    """Every block reduces the partials (same order, same result), forms Keras's scale and scales its share."""
    sh = cuda.shared.array(THREADS, dtype=g.dtype)
    tid = cuda.threadIdx.x
    zero = g.dtype.type(0.0)
    one = g.dtype.type(1.0)
    sq = _block_sum(sh, partials[tid] if tid < nparts else zero)
    norm = math.sqrt(sq)
    c = g.dtype.type(clipnorm)
    inv_c = g.dtype.type(inv_clipnorm)
    if math.isinf(norm) or math.isnan(norm):
        scale = norm - norm  # NaN: Keras adds norm - norm to the scale
    elif norm > zero and one / norm < inv_c:
        scale = c * (one / norm)
    else:
        scale = c * inv_c
    if cuda.blockIdx.x == 0 and tid == 0:
        norm_out[0] = norm
    for i in range(cuda.grid(1), g.shape[0], cuda.gridsize(1)):
        g[i] = g[i] * scale


def clip_by_global_norm(g, clipnorm):
    """g = g * clipnorm * min(1 / ||g||, 1 / clipnorm) over the whole buffer; returns the norm (a host scalar of g's
    dtype), as kernels.cpu.optimizers.clip_by_global_norm.

    Two launches: per-block partial sums of squares (at most MAX_BLOCKS blocks, grid-stride), then every block
    reduces the partials and scales its share; then one device-to-host copy of the norm, because the CPU kernel
    returns it. Uses module-level scratch (module docstring)."""
    t = _dtype(g)
    n = g.size
    if n == 0:
        return t(0.0)
    nblocks = min(_launch.blocks(n), MAX_BLOCKS)
    partials = _scratch("global_norm_partials", MAX_BLOCKS, t)
    norm = _scratch("global_norm", 1, t)
    _sum_squares_partials[nblocks, THREADS](g, partials)
    _scale_by_global_norm[nblocks, THREADS](g, partials, int(nblocks), float(t(clipnorm)), float(t(1.0 / clipnorm)),
                                            norm)
    return t(norm.copy_to_host()[0])


@kernel("void(F[::1], float64, float64)")
def _apply_weight_decay(w, lr, weight_decay):
    i = cuda.grid(1)
    if i < w.shape[0]:
        wd = w.dtype.type(weight_decay)
        lr_ = w.dtype.type(lr)
        w[i] = w[i] - w[i] * wd * lr_


def apply_weight_decay(w, lr, weight_decay):
    """w = w - w * weight_decay * lr, in place, as kernels.cpu.optimizers.apply_weight_decay. One launch."""
    if w.size:
        _apply_weight_decay[_launch.grid(w.size)](w, float(lr), float(weight_decay))


# --- update rules -------------------------------------------------------------------------------------------------


@kernel("void(F[::1], F[::1], F[::1], float64, float64, int64)")
def _sgd(w, g, m, lr, momentum, mode):
    i = cuda.grid(1)
    if i < w.shape[0]:
        lr_ = w.dtype.type(lr)
        mu = w.dtype.type(momentum)
        if mode == 0:
            w[i] -= g[i] * lr_
        elif mode == 2:
            m[i] = m[i] * mu - g[i] * lr_
            w[i] += m[i] * mu - g[i] * lr_
        else:
            m[i] = m[i] * mu - g[i] * lr_
            w[i] += m[i]


def sgd_update(w, g, m, lr, momentum, nesterov):
    """SGD with optional (Nesterov) momentum, as kernels.cpu.optimizers.sgd_update. One launch."""
    _check_sizes(w, g, m, m, m)
    _require(m, w.size, momentum != 0.0)
    mode = 0 if momentum == 0.0 else (2 if nesterov else 1)
    if w.size:
        _sgd[_launch.grid(w.size)](w, g, m, float(lr), float(momentum), int(mode))


@kernel("void(F[::1], F[::1], F[::1], F[::1], F[::1], float64, float64, float64, float64, boolean)")
def _adam(w, g, m, v, vhat, alpha, omb1, omb2, epsilon, amsgrad):
    i = cuda.grid(1)
    if i < w.shape[0]:
        t = w.dtype.type
        a = t(alpha)
        eps = t(epsilon)
        gi = g[i]
        mi = m[i] + (gi - m[i]) * t(omb1)
        vi = v[i] + (gi * gi - v[i]) * t(omb2)
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vi = _max_nan(vhat[i], vi)
            vhat[i] = vi
        w[i] -= mi * a / (math.sqrt(vi) + eps)


def adam_update(w, g, m, v, vhat, lr, beta_1, beta_2, epsilon, amsgrad, step):
    """Adam / AMSGrad, as kernels.cpu.optimizers.adam_update. One launch; alpha formed on the host in w's dtype."""
    _check_sizes(w, g, m, v, vhat)
    _require(m, w.size, True)
    _require(v, w.size, True)
    _require(vhat, w.size, amsgrad)
    _check_step(step)
    t = _dtype(w)
    one = t(1.0)
    ts = t(step)
    alpha = t(lr) * np.sqrt(one - t(beta_2) ** ts) / (one - t(beta_1) ** ts)
    if w.size:
        _adam[_launch.grid(w.size)](w, g, m, v, vhat, float(alpha), float(t(1.0 - beta_1)), float(t(1.0 - beta_2)),
                                    float(t(epsilon)), bool(amsgrad))


@kernel("void(F[::1], F[::1], F[::1], F[::1], F[::1], float64, float64, float64, float64, float64, boolean, "
        "boolean)")
def _rmsprop(w, g, v, mom, mg, lr, rho, omr, momentum, epsilon, centered, use_mom):
    i = cuda.grid(1)
    if i < w.shape[0]:
        t = w.dtype.type
        rho_ = t(rho)
        omr_ = t(omr)
        gi = g[i]
        vi = rho_ * v[i] + omr_ * (gi * gi)
        v[i] = vi
        if centered:
            mgi = rho_ * mg[i] + omr_ * gi
            mg[i] = mgi
            denom = vi - mgi * mgi + t(epsilon)
        else:
            denom = vi + t(epsilon)
        inc = t(lr) * gi / math.sqrt(denom)
        if use_mom:
            mo = t(momentum) * mom[i] + inc
            mom[i] = mo
            w[i] -= mo
        else:
            w[i] -= inc


def rmsprop_update(w, g, v, mom, mg, lr, rho, momentum, epsilon, centered):
    """RMSprop (optional momentum, centered), as kernels.cpu.optimizers.rmsprop_update. One launch."""
    _check_sizes(w, g, v, mom, mg)
    _require(v, w.size, True)
    _require(mom, w.size, momentum > 0.0)
    _require(mg, w.size, centered)
    if w.size:
        _rmsprop[_launch.grid(w.size)](w, g, v, mom, mg, float(lr), float(rho), float(1.0 - rho), float(momentum),
                                       float(epsilon), bool(centered), bool(momentum > 0.0))


@kernel("void(F[::1], F[::1], F[::1], float64, float64)")
def _adagrad(w, g, acc, lr, epsilon):
    i = cuda.grid(1)
    if i < w.shape[0]:
        t = w.dtype.type
        gi = g[i]
        a = acc[i] + gi * gi
        acc[i] = a
        w[i] -= t(lr) * gi / math.sqrt(a + t(epsilon))


def adagrad_update(w, g, acc, lr, epsilon):
    """Adagrad, as kernels.cpu.optimizers.adagrad_update. One launch."""
    _check_sizes(w, g, acc, acc, acc)
    _require(acc, w.size, True)
    if w.size:
        _adagrad[_launch.grid(w.size)](w, g, acc, float(lr), float(epsilon))


@kernel("void(F[::1], F[::1], F[::1], F[::1], float64, float64, float64, float64)")
def _adadelta(w, g, acc_grad, acc_delta, lr, rho, omr, epsilon):
    i = cuda.grid(1)
    if i < w.shape[0]:
        t = w.dtype.type
        rho_ = t(rho)
        omr_ = t(omr)
        eps = t(epsilon)
        gi = g[i]
        ag = rho_ * acc_grad[i] + omr_ * (gi * gi)
        acc_grad[i] = ag
        ad = acc_delta[i]
        delta = -(math.sqrt(ad + eps) * gi / math.sqrt(ag + eps))
        acc_delta[i] = rho_ * ad + omr_ * (delta * delta)
        w[i] += t(lr) * delta


def adadelta_update(w, g, acc_grad, acc_delta, lr, rho, epsilon):
    """Adadelta, as kernels.cpu.optimizers.adadelta_update. One launch."""
    _check_sizes(w, g, acc_grad, acc_delta, acc_delta)
    _require(acc_grad, w.size, True)
    _require(acc_delta, w.size, True)
    if w.size:
        _adadelta[_launch.grid(w.size)](w, g, acc_grad, acc_delta, float(lr), float(rho), float(1.0 - rho),
                                        float(epsilon))


@kernel("void(F[::1], F[::1], F[::1], F[::1], float64, float64, float64, float64, float64)")
def _adamax(w, g, m, u, lr, omb1, beta_2, epsilon, corr):
    i = cuda.grid(1)
    if i < w.shape[0]:
        t = w.dtype.type
        gi = g[i]
        mi = m[i] + (gi - m[i]) * t(omb1)
        m[i] = mi
        ui = _max_nan(t(beta_2) * u[i], abs(gi))
        u[i] = ui
        w[i] -= t(lr) * mi / (t(corr) * (ui + t(epsilon)))


def adamax_update(w, g, m, u, lr, beta_1, beta_2, epsilon, step):
    """Adamax, as kernels.cpu.optimizers.adamax_update. One launch; the bias correction formed on the host."""
    _check_sizes(w, g, m, u, u)
    _require(m, w.size, True)
    _require(u, w.size, True)
    _check_step(step)
    t = _dtype(w)
    corr = t(1.0) - t(beta_1) ** t(step)
    if w.size:
        _adamax[_launch.grid(w.size)](w, g, m, u, float(t(lr)), float(t(1.0 - beta_1)), float(t(beta_2)),
                                      float(t(epsilon)), float(corr))


@kernel("void(F[::1], F[::1], F[::1], F[::1], F[::1], int32[::1], float64, float64, float64, float64, float64, "
        "float64, float64, float64, float64)")
def _nadam(w, g, m, v, u_product, counter, b1, u_fac, u_t1, omut, denom_v, lr, epsilon, omb1, omb2):
    """Nadam over the buffer; u_product is advanced once: every thread reads the old value, and the last block to
    be done reading (an atomic block counter) writes the new one and resets the counter for the next call."""
    i = cuda.grid(1)
    t = w.dtype.type
    one = t(1.0)
    up_t = u_product[0] * t(b1) * t(u_fac)  # the product including this step's factor, as the CPU kernel stores it
    if i < w.shape[0]:
        ut1 = t(u_t1)
        gi = g[i]
        mi = m[i] + (gi - m[i]) * t(omb1)
        vi = v[i] + (gi * gi - v[i]) * t(omb2)
        m[i] = mi
        v[i] = vi
        m_hat = ut1 * mi / (one - up_t * ut1) + t(omut) * gi / (one - up_t)
        v_hat = vi / t(denom_v)
        w[i] -= m_hat * t(lr) / (math.sqrt(v_hat) + t(epsilon))
    cuda.syncthreads()
    if cuda.threadIdx.x == 0:
        cuda.threadfence()
        done = cuda.atomic.add(counter, 0, 1)
        if done == cuda.gridDim.x - 1:
            u_product[0] = up_t
            counter[0] = 0


def nadam_update(w, g, m, v, u_product, lr, beta_1, beta_2, epsilon, step):
    """Nadam, as kernels.cpu.optimizers.nadam_update, advancing ``u_product`` (a 1-element device array) exactly
    once per call. One launch: the schedule factors are formed on the host in w's dtype; the product itself stays
    on the device (see ``_nadam``; uses the module's cached block counter)."""
    _check_sizes(w, g, m, v, v)
    _require(m, w.size, True)
    _require(v, w.size, True)
    if u_product.size != 1:
        raise ValueError("nadam_update: u_product must be a 1-element array")
    _check_step(step)
    t = _dtype(w)
    one = t(1.0)
    half = t(0.5)
    decay = t(0.96)
    b1 = t(beta_1)
    b2 = t(beta_2)
    ts = t(step)
    u_fac = one - half * decay ** ts
    u_t = b1 * (one - half * decay ** ts)
    u_t1 = b1 * (one - half * decay ** t(step + 1))
    counter = _scratch("nadam_counter", 1, np.int32)
    _nadam[_launch.grid(w.size)](w, g, m, v, u_product, counter, float(b1), float(u_fac), float(u_t1), float(one - u_t),
                                 float(one - b2 ** ts), float(t(lr)), float(t(epsilon)), float(one - b1),
                                 float(one - b2))
