"""Optimizer kernels: Keras 3's update rules, in place, over flat 1-D parameter buffers.

Every trainable parameter lives in one contiguous buffer ``w`` and its gradient in ``g`` of the same length, so one
call updates the whole model. Slot arrays (momenta, velocities, accumulators) have the length of ``w``; a slot an
option does not need is an array of length 0. Kernels never modify ``g`` except the clipping kernels, whose job it is.

One training step, in Keras 3's order (``BaseOptimizer._backend_apply_gradients`` and its JAX override):

1. gradients are divided by ``loss_scale_factor`` when one is set (the caller's job);
2. clipping, at most one of: ``clip_by_norm`` (``clipnorm``, each variable by its own norm), else
   ``clip_by_global_norm`` (``global_clipnorm``), else ``clip_by_value`` (``clipvalue``); Keras skips clipping when
   the value is None or not > 0, and rejects more than one being set;
3. ``apply_weight_decay`` (when ``weight_decay`` is not None), ``w -= w * weight_decay * lr``, before the update and
   with the same learning rate; variables excluded with ``exclude_from_weight_decay`` are simply left out of the
   call (pass the contiguous slices ``w[start:stop]`` that do decay);
4. the optimizer's ``<name>_update``, with ``step = iterations + 1``;
5. the caller increments ``iterations`` (and then applies variable constraints).

The learning rate of a step is the schedule evaluated at ``iterations`` (before the increment), used both by the
weight decay and by the update.

Precision follows Keras on a float32 variable, where hyperparameters are cast to the variable's dtype: ``b1 =
dtype(beta_1)``. One detail: where Keras writes ``1 - self.beta_1`` on the Python float, the subtraction happens in
float64 before the cast, so these kernels compute ``dtype(1.0 - beta_1)`` there and ``1 - dtype(beta_1)`` only where
Keras subtracts after casting (Nadam). Powers ``beta ** step`` are taken in the variable's dtype, as in Keras.

Formulas checked against keras/src/optimizers/{sgd,adam,adamw,rmsprop,adagrad,adadelta,adamax,nadam,
base_optimizer}.py of Keras 3.16. AdamW is ``adam_update`` plus ``apply_weight_decay`` (Keras's AdamW class only
changes the default ``weight_decay`` to 0.004 and requires it to be set).
"""

import numpy as np

from ..policy import kernel


@kernel
def _check_sizes(w, g, slot_a, slot_b, slot_c):
    """Raise unless g and the three slots (a length-0 slot counts as absent) match w; the loops do not bound-check."""
    n = w.size
    bad_slot = (slot_a.size not in (0, n)) or (slot_b.size not in (0, n)) or (slot_c.size not in (0, n))
    if g.size != n or bad_slot:
        raise ValueError("optimizer slot or gradient length differs from the parameter buffer")


@kernel
def _require(slot, n, wanted):
    """Raise when an option needs a slot (``wanted``) that was passed empty or of the wrong length."""
    if wanted and slot.size != n:
        raise ValueError("an optimizer option needs a slot array the length of the parameter buffer")


@kernel
def _check_step(step):
    if step < 1:
        raise ValueError("step is iterations + 1 and must be >= 1")


@kernel
def _max_nan(a, b):
    """max(a, b) that returns NaN when either is NaN, as jnp.maximum does (Python's max would drop a NaN b)."""
    return a if (a > b or a != a) else b


# --- gradient clipping and weight decay (run before the update, in this order) -----------------------------------


@kernel
def clip_by_value(g, clipvalue):
    """g = clip(g, -clipvalue, clipvalue), in place. NaN stays NaN (as ``ops.clip``).

    Keras: ``clipvalue=None`` (off); applied only when clipvalue > 0, to each variable's gradient.
    """
    hi = g.dtype.type(clipvalue)
    lo = g.dtype.type(-clipvalue)
    for i in range(g.size):
        x = g[i]
        if x > hi:
            g[i] = hi
        elif x < lo:
            g[i] = lo


@kernel
def clip_by_norm(g, segments, clipnorm):
    """Per variable: g = g * clipnorm / max(||g||_2, clipnorm), in place, over each segment of g.

    ``segments`` is an int64 array of shape ``(variables, 2)`` holding ``(start, stop)`` of each variable's slice of
    the flat buffer: Keras's ``clipnorm`` clips every variable's gradient by that variable's own norm, not by the
    norm of the whole model (that is ``global_clipnorm``). Segments may be empty; they should not overlap.

    Keras: ``clipnorm=None`` (off); applied only when clipnorm > 0. Traps reproduced from
    ``BaseOptimizer._clip_by_norm``: the gradient is multiplied by clipnorm and then divided (so an unclipped
    gradient is ``g * c / c``, which need not be bit-identical to ``g``); an all-zero gradient has norm 0 and stays
    zero; a NaN norm propagates through the maximum, so a variable with any NaN gradient becomes all NaN; an
    infinite norm (an inf entry, or float32 overflow of the sum of squares) zeroes the finite entries and turns
    infinite ones into NaN. Other variables are not affected.
    """
    n = g.size
    c = g.dtype.type(clipnorm)
    zero = g.dtype.type(0.0)
    for s in range(segments.shape[0]):
        start = segments[s, 0]
        stop = segments[s, 1]
        if start < 0 or stop < start or stop > n:
            raise ValueError("clip_by_norm: a segment lies outside the gradient buffer")
        l2sum = zero
        for i in range(start, stop):
            l2sum += g[i] * g[i]
        # Keras takes sqrt only where l2sum > 0 (to keep sqrt's gradient finite); elsewhere the norm is l2sum
        # itself, i.e. 0, or NaN, which ``l2sum > 0`` rejects and the maximum below then propagates.
        l2norm = np.sqrt(l2sum) if l2sum > zero else l2sum
        denom = _max_nan(l2norm, c)
        for i in range(start, stop):
            g[i] = g[i] * c / denom


@kernel
def clip_by_global_norm(g, clipnorm):
    """g = g * scale with scale = clipnorm * min(1 / ||g||_2, 1 / clipnorm), over the whole buffer; returns the norm.

    Keras: ``global_clipnorm=None`` (off); applied only when global_clipnorm > 0. Trap (``clip_by_global_norm`` in
    base_optimizer.py): Keras adds ``norm - norm`` to the scale, so a NaN or infinite global norm (one NaN or inf
    gradient anywhere, or float32 overflow of the sum of squares) makes every gradient of the model NaN, and the
    step then writes NaN into every weight. A zero norm gives scale ``c * (1 / c)``. ``1 / clipnorm`` is formed in
    float64 and then cast, as Keras does with the Python float.
    """
    t = g.dtype.type
    zero = t(0.0)
    one = t(1.0)
    sq = zero
    for i in range(g.size):
        sq += g[i] * g[i]
    norm = np.sqrt(sq)
    inv_c = t(1.0 / clipnorm)
    # Keras: scale = c * min(1 / norm, 1 / c) + (norm - norm). Branches instead of the sum, which a compiler may
    # fold to 0, and instead of 1 / 0 for a zero norm (where the minimum picks 1 / c anyway).
    if not np.isfinite(norm):
        scale = t(np.nan)
    elif norm > zero and one / norm < inv_c:
        scale = t(clipnorm) * (one / norm)
    else:
        scale = t(clipnorm) * inv_c
    for i in range(g.size):
        g[i] = g[i] * scale
    return norm


@kernel
def apply_weight_decay(w, lr, weight_decay):
    """w = w - w * weight_decay * lr, in place (decoupled weight decay, any optimizer).

    Keras: ``weight_decay=None`` (off) for every optimizer except AdamW (0.004). Runs after clipping and before the
    update, with the step's learning rate; it does not involve the gradient, so it is not an L2 penalty.
    """
    wd = w.dtype.type(weight_decay)
    lr_ = w.dtype.type(lr)
    for i in range(w.size):
        w[i] = w[i] - w[i] * wd * lr_


# --- update rules, in the order of the Keras docs ----------------------------------------------------------------


@kernel
def sgd_update(w, g, m, lr, momentum, nesterov):
    """SGD, with optional (Nesterov) momentum; ``m`` is the momentum slot (length 0 when momentum == 0).

        momentum == 0:  w = w - lr * g
        otherwise:      m = momentum * m - lr * g
                        w = w + m                          (nesterov=False)
                        w = w + momentum * m - lr * g      (nesterov=True, with the new m)

    Keras defaults: learning_rate=0.01, momentum=0.0, nesterov=False. Keras keeps no momentum slot at momentum 0,
    and ignores ``nesterov`` there. m starts at zeros.
    """
    _check_sizes(w, g, m, m, m)
    _require(m, w.size, momentum != 0.0)
    t = w.dtype.type
    lr_ = t(lr)
    mu = t(momentum)
    if momentum == 0.0:
        for i in range(w.size):
            w[i] -= g[i] * lr_
    elif nesterov:
        for i in range(w.size):
            m[i] = m[i] * mu - g[i] * lr_
            w[i] += m[i] * mu - g[i] * lr_
    else:
        for i in range(w.size):
            m[i] = m[i] * mu - g[i] * lr_
            w[i] += m[i]


@kernel
def adam_update(w, g, m, v, vhat, lr, beta_1, beta_2, epsilon, amsgrad, step):
    """Adam (and AMSGrad); ``step = iterations + 1``; ``vhat`` has length 0 unless amsgrad.

        m = m + (g - m) * (1 - beta_1)
        v = v + (g^2 - v) * (1 - beta_2)
        vhat = max(vhat, v); use vhat for v below            (amsgrad only)
        alpha = lr * sqrt(1 - beta_2^step) / (1 - beta_1^step)
        w = w - m * alpha / (sqrt(v) + epsilon)

    Keras defaults: learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False; m, v, vhat start
    at zeros. AdamW is this kernel after ``apply_weight_decay`` (Keras default weight_decay=0.004).

    Trap: epsilon is added to sqrt(v) of the *uncorrected* v, and both bias corrections are folded into the step
    size alpha, so this is not the textbook ``m_hat / (sqrt(v_hat) + eps)``: in those terms the epsilon is
    ``eps / sqrt(1 - beta_2^step)``, large in early steps ("epsilon hat" of Kingma & Ba).
    """
    _check_sizes(w, g, m, v, vhat)
    _require(m, w.size, True)
    _require(v, w.size, True)
    _require(vhat, w.size, amsgrad)
    _check_step(step)
    t = w.dtype.type
    one = t(1.0)
    ts = t(step)
    b1_pow = t(beta_1) ** ts
    b2_pow = t(beta_2) ** ts
    alpha = t(lr) * np.sqrt(one - b2_pow) / (one - b1_pow)
    omb1 = t(1.0 - beta_1)
    omb2 = t(1.0 - beta_2)
    eps = t(epsilon)
    if amsgrad:
        for i in range(w.size):
            m[i] += (g[i] - m[i]) * omb1
            v[i] += (g[i] * g[i] - v[i]) * omb2
            vhat[i] = _max_nan(vhat[i], v[i])
            w[i] -= m[i] * alpha / (np.sqrt(vhat[i]) + eps)
    else:
        for i in range(w.size):
            m[i] += (g[i] - m[i]) * omb1
            v[i] += (g[i] * g[i] - v[i]) * omb2
            w[i] -= m[i] * alpha / (np.sqrt(v[i]) + eps)


@kernel
def rmsprop_update(w, g, v, mom, mg, lr, rho, momentum, epsilon, centered):
    """RMSprop: ``v`` the velocity slot; ``mom`` the momentum slot (length 0 unless momentum > 0); ``mg`` the
    average-gradient slot (length 0 unless centered).

        v = rho * v + (1 - rho) * g^2
        mg = rho * mg + (1 - rho) * g                        (centered only)
        increment = lr * g / sqrt(v - mg^2 + epsilon)        (centered)
                    lr * g / sqrt(v + epsilon)               (otherwise)
        mom = momentum * mom + increment; w = w - mom        (momentum > 0)
        w = w - increment                                    (otherwise)

    Keras defaults: learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False; every slot starts
    at zeros. Keras's default optimizer in ``compile`` is "rmsprop".

    Trap: epsilon sits *inside* the square root (unlike Adam), so on the first step with a zero-initialised v the
    update is lr * g / sqrt((1 - rho) g^2 + 1e-7), about lr / sqrt(1 - rho) = 3.16 lr per unit gradient sign.
    Momentum is plain heavy-ball on the increment, never Nesterov.
    """
    _check_sizes(w, g, v, mom, mg)
    _require(v, w.size, True)
    _require(mom, w.size, momentum > 0.0)
    _require(mg, w.size, centered)
    t = w.dtype.type
    lr_ = t(lr)
    rho_ = t(rho)
    omr = t(1.0 - rho)
    mu = t(momentum)
    eps = t(epsilon)
    use_mom = momentum > 0.0
    for i in range(w.size):
        gi = g[i]
        v[i] = rho_ * v[i] + omr * (gi * gi)
        if centered:
            mg[i] = rho_ * mg[i] + omr * gi
            denom = v[i] - mg[i] * mg[i] + eps
        else:
            denom = v[i] + eps
        inc = lr_ * gi / np.sqrt(denom)
        if use_mom:
            mom[i] = mu * mom[i] + inc
            w[i] -= mom[i]
        else:
            w[i] -= inc


@kernel
def adagrad_update(w, g, acc, lr, epsilon):
    """Adagrad: ``acc`` is the accumulator slot.

        acc = acc + g^2
        w = w - lr * g / sqrt(acc + epsilon)

    Keras defaults: learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7. The caller fills ``acc``
    with initial_accumulator_value when the optimizer is built (not zeros!); the kernel only ever adds to it.
    Trap: epsilon is inside the square root, and the accumulator is updated before it is used.
    """
    _check_sizes(w, g, acc, acc, acc)
    _require(acc, w.size, True)
    t = w.dtype.type
    lr_ = t(lr)
    eps = t(epsilon)
    for i in range(w.size):
        acc[i] += g[i] * g[i]
        w[i] -= lr_ * g[i] / np.sqrt(acc[i] + eps)


@kernel
def adadelta_update(w, g, acc_grad, acc_delta, lr, rho, epsilon):
    """Adadelta: ``acc_grad`` and ``acc_delta`` are Keras's accumulated_grad and accumulated_delta_var slots.

        acc_grad = rho * acc_grad + (1 - rho) * g^2
        delta = -sqrt(acc_delta + epsilon) * g / sqrt(acc_grad + epsilon)   (acc_delta of the previous step)
        acc_delta = rho * acc_delta + (1 - rho) * delta^2
        w = w + lr * delta

    Keras defaults: learning_rate=0.001, rho=0.95, epsilon=1e-7; both slots start at zeros. Trap: unlike Zeiler's
    paper, Keras keeps a learning rate (use 1.0 for the paper's rule), and epsilon is inside both square roots.
    """
    _check_sizes(w, g, acc_grad, acc_delta, acc_delta)
    _require(acc_grad, w.size, True)
    _require(acc_delta, w.size, True)
    t = w.dtype.type
    lr_ = t(lr)
    rho_ = t(rho)
    omr = t(1.0 - rho)
    eps = t(epsilon)
    for i in range(w.size):
        gi = g[i]
        acc_grad[i] = rho_ * acc_grad[i] + omr * (gi * gi)
        delta = -(np.sqrt(acc_delta[i] + eps) * gi / np.sqrt(acc_grad[i] + eps))
        acc_delta[i] = rho_ * acc_delta[i] + omr * (delta * delta)
        w[i] += lr_ * delta


@kernel
def adamax_update(w, g, m, u, lr, beta_1, beta_2, epsilon, step):
    """Adamax (Adam with the infinity norm); ``m`` the momentum slot, ``u`` the norm slot; ``step = iterations + 1``.

        m = m + (g - m) * (1 - beta_1)
        u = max(beta_2 * u, |g|)
        w = w - lr * m / ((1 - beta_1^step) * (u + epsilon))

    Keras defaults: learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7; m and u start at zeros.
    Trap: epsilon is added to u before the bias correction multiplies it; u has no bias correction. A NaN
    gradient makes u NaN (the maximum propagates NaN, as in Keras).
    """
    _check_sizes(w, g, m, u, u)
    _require(m, w.size, True)
    _require(u, w.size, True)
    _check_step(step)
    t = w.dtype.type
    lr_ = t(lr)
    omb1 = t(1.0 - beta_1)
    b2 = t(beta_2)
    eps = t(epsilon)
    corr = t(1.0) - t(beta_1) ** t(step)
    for i in range(w.size):
        gi = g[i]
        m[i] += (gi - m[i]) * omb1
        u[i] = _max_nan(b2 * u[i], abs(gi))
        w[i] -= lr_ * m[i] / (corr * (u[i] + eps))


@kernel
def nadam_update(w, g, m, v, u_product, lr, beta_1, beta_2, epsilon, step):
    """Nadam (Adam with Nesterov momentum, Dozat 2015); ``step = iterations + 1``.

    ``u_product`` is a 1-element array holding the running product of the momentum-schedule factors
    ``u_k = beta_1 * (1 - 0.5 * 0.96^k)``; it is optimizer state (saved with the optimizer) and starts at 1.0.
    **This kernel advances it**: on entry it multiplies in ``u_step``, exactly once per call, as Keras does once per
    step before updating any variable. So call it exactly once per step over the whole parameter buffer; calling
    it per variable would advance the product once per variable.

        u_product = u_product * beta_1 * (1 - 0.5 * 0.96^step)         (now prod_{k<=step} u_k)
        u_t = beta_1 * (1 - 0.5 * 0.96^step);  u_t1 = beta_1 * (1 - 0.5 * 0.96^(step + 1))
        m = m + (g - m) * (1 - beta_1)
        v = v + (g^2 - v) * (1 - beta_2)
        m_hat = u_t1 * m / (1 - u_product * u_t1) + (1 - u_t) * g / (1 - u_product)
        v_hat = v / (1 - beta_2^step)
        w = w - m_hat * lr / (sqrt(v_hat) + epsilon)

    Keras defaults: learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7; m, v start at zeros. Traps:
    unlike Adam, v is bias-corrected before the square root and epsilon added after it; the 0.96 schedule decay
    is fixed; here Keras casts beta_1 and beta_2 to the variable dtype *before* forming 1 - beta.
    """
    _check_sizes(w, g, m, v, v)
    _require(m, w.size, True)
    _require(v, w.size, True)
    if u_product.size != 1:
        raise ValueError("nadam_update: u_product must be a 1-element array")
    _check_step(step)
    t = w.dtype.type
    one = t(1.0)
    half = t(0.5)
    decay = t(0.96)
    b1 = t(beta_1)
    b2 = t(beta_2)
    ts = t(step)
    u_product[0] = u_product[0] * b1 * (one - half * decay ** ts)
    u_t = b1 * (one - half * decay ** ts)
    u_t1 = b1 * (one - half * decay ** t(step + 1))
    up_t = u_product[0]
    up_t1 = up_t * u_t1
    denom_m = one - up_t1
    denom_g = one - up_t
    denom_v = one - b2 ** ts
    lr_ = t(lr)
    eps = t(epsilon)
    omb1 = one - b1
    omb2 = one - b2
    omut = one - u_t
    for i in range(w.size):
        gi = g[i]
        m[i] += (gi - m[i]) * omb1
        v[i] += (gi * gi - v[i]) * omb2
        m_hat = u_t1 * m[i] / denom_m + omut * gi / denom_g
        v_hat = v[i] / denom_v
        w[i] -= m_hat * lr_ / (np.sqrt(v_hat) + eps)
