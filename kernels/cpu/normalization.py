"""Batch normalization over the last axis: forward (with the moving-statistics update) and backward.

x is viewed as (R, C): R = batch * spatial positions, C = the normalized axis. gamma and beta have length C, or
length 0 for ``scale=False`` (gamma = 1) and ``center=False`` (beta = 0). Keras defaults: momentum 0.99,
epsilon 1e-3.

What Keras 3 does (keras/src/layers/normalization/batch_normalization.py, ``call``; the JAX backend's
``moments`` and ``batch_normalization`` in keras/src/backend/jax/nn.py):

* training: mean = jnp.mean(x) and variance = jnp.var(x) over R -- the *biased* variance (divided by R), both
  for normalizing and for the moving update
      moving_mean     = moving_mean * momentum     + mean     * (1 - momentum)
      moving_variance = moving_variance * momentum + variance * (1 - momentum)
  (tf.keras 2's fused kernel fed the moving variance the unbiased estimate; Keras 3 does not);
* inference (or a frozen layer): the moving statistics are used in place of the batch ones;
* out = (x - mean) * rsqrt(variance + epsilon) * gamma + beta, epsilon inside the square root.
"""

import numpy as np

from ..policy import kernel


@kernel
def batch_norm_forward(x, gamma, beta, moving_mean, moving_var, out, xhat, mean, inv_std, momentum, epsilon,
                       training):
    """out = gamma * xhat + beta with xhat = (x - mean) * inv_std, inv_std = 1 / sqrt(var + epsilon).

    training=True: mean and biased var over the R rows; moving_mean / moving_var are updated in place by the
    rule in the module docstring. training=False: mean = moving_mean, var = moving_var, nothing is updated.
    Either way mean (C), inv_std (C) and xhat (R, C) are filled for ``batch_norm_backward`` (mean is written
    but the backward does not need it); xhat may have size 0 when no backward follows (prediction).
    Training on zero rows raises (the batch mean would be 0 / 0).
    """
    rows, ch = x.shape
    if out.shape[0] != rows or out.shape[1] != ch:
        raise ValueError("batch_norm_forward: out must have the shape of x")
    if xhat.size != 0 and (xhat.shape[0] != rows or xhat.shape[1] != ch):
        raise ValueError("batch_norm_forward: xhat must have the shape of x or size 0")
    if gamma.size != 0 and gamma.size != ch:
        raise ValueError("batch_norm_forward: gamma must have length 0 or C")
    if beta.size != 0 and beta.size != ch:
        raise ValueError("batch_norm_forward: beta must have length 0 or C")
    if moving_mean.size != ch or moving_var.size != ch or mean.size != ch or inv_std.size != ch:
        raise ValueError("batch_norm_forward: moving_mean, moving_var, mean and inv_std must have length C")
    if training and rows == 0:
        raise ValueError("batch_norm_forward: training needs at least one row")
    zero = mean.dtype.type(0.0)
    eps = inv_std.dtype.type(epsilon)
    one = inv_std.dtype.type(1.0)
    if training:
        for c in range(ch):
            mean[c] = zero
        for r in range(rows):
            xr = x[r]
            for c in range(ch):
                mean[c] += xr[c]
        n = mean.dtype.type(rows)
        for c in range(ch):
            mean[c] = mean[c] / n
        # Two passes, as jnp.var does: sum((x - mean)^2) keeps its precision where mean^2 >> var.
        for c in range(ch):
            inv_std[c] = zero  # holds the sum of squares until the last loop
        for r in range(rows):
            xr = x[r]
            for c in range(ch):
                d = xr[c] - mean[c]
                inv_std[c] += d * d
        m = moving_mean.dtype.type(momentum)
        m1 = moving_mean.dtype.type(1.0 - momentum)
        for c in range(ch):
            var = inv_std[c] / n
            moving_mean[c] = moving_mean[c] * m + mean[c] * m1
            moving_var[c] = moving_var[c] * m + var * m1
            inv_std[c] = one / np.sqrt(var + eps)
    else:
        for c in range(ch):
            mean[c] = moving_mean[c]
            inv_std[c] = one / np.sqrt(inv_std.dtype.type(moving_var[c]) + eps)
    has_gamma = gamma.size != 0
    has_beta = beta.size != 0
    save = xhat.size != 0
    for r in range(rows):
        xr = x[r]
        orow = out[r]
        for c in range(ch):
            h = (xr[c] - mean[c]) * inv_std[c]
            if save:
                xhat[r, c] = h
            g = gamma[c] if has_gamma else one
            b = beta[c] if has_beta else zero
            orow[c] = g * h + b


@kernel
def batch_norm_backward(dy, gamma, xhat, inv_std, dx, dgamma, dbeta, training, accumulate):
    """Gradients of L = sum(dy * out) through ``batch_norm_forward``; sums run over the R rows.

    dgamma = sum dy * xhat                     (C,), skipped when dgamma has length 0 (scale=False)
    dbeta  = sum dy                            (C,), skipped when dbeta has length 0 (center=False)
    dx, training (mean and var depend on x):
        dx = gamma * inv_std / R * (R * dy - sum dy - xhat * sum(dy * xhat))
    dx, inference (the statistics are constants): dx = dy * gamma * inv_std, a per-channel scaling.
    dx is skipped when it has size 0 and may alias dy. ``accumulate`` adds into dgamma / dbeta; dx is always
    overwritten. gamma of length 0 means gamma = 1.
    """
    rows, ch = dy.shape
    if xhat.shape[0] != rows or xhat.shape[1] != ch:
        raise ValueError("batch_norm_backward: xhat must have the shape of dy")
    if inv_std.size != ch:
        raise ValueError("batch_norm_backward: inv_std must have length C")
    if gamma.size != 0 and gamma.size != ch:
        raise ValueError("batch_norm_backward: gamma must have length 0 or C")
    if dgamma.size != 0 and dgamma.size != ch:
        raise ValueError("batch_norm_backward: dgamma must have length 0 or C")
    if dbeta.size != 0 and dbeta.size != ch:
        raise ValueError("batch_norm_backward: dbeta must have length 0 or C")
    if dx.size != 0 and (dx.shape[0] != rows or dx.shape[1] != ch):
        raise ValueError("batch_norm_backward: dx must have the shape of dy or size 0")
    need_dx = dx.size != 0
    # Two length-C sums: small scratch, allocated here rather than burdening every caller with it.
    sum_dy = np.zeros(ch, dy.dtype)
    sum_dyx = np.zeros(ch, dy.dtype)
    if dgamma.size != 0 or dbeta.size != 0 or (need_dx and training):
        for r in range(rows):
            g = dy[r]
            h = xhat[r]
            for c in range(ch):
                sum_dy[c] += g[c]
                sum_dyx[c] += g[c] * h[c]
    if dgamma.size != 0:
        for c in range(ch):
            dgamma[c] = dgamma[c] + sum_dyx[c] if accumulate else sum_dyx[c]
    if dbeta.size != 0:
        for c in range(ch):
            dbeta[c] = dbeta[c] + sum_dy[c] if accumulate else sum_dy[c]
    if not need_dx:
        return
    one = dx.dtype.type(1.0)
    scale = np.empty(ch, dx.dtype)
    for c in range(ch):
        scale[c] = (gamma[c] if gamma.size != 0 else one) * inv_std[c]
    if training:
        n = dx.dtype.type(rows)
        for c in range(ch):
            scale[c] = scale[c] / n
        for r in range(rows):
            g = dy[r]
            h = xhat[r]
            d = dx[r]
            for c in range(ch):
                d[c] = scale[c] * (n * g[c] - sum_dy[c] - h[c] * sum_dyx[c])
    else:
        for r in range(rows):
            g = dy[r]
            d = dx[r]
            for c in range(ch):
                d[c] = g[c] * scale[c]
