"""Per-sample normalizations and fixed affine maps: layer normalization, unit (L2) normalization, feature
standardization with given statistics, and rescaling. Forward and backward side by side.

None of these keep scratch from forward to backward: the backward recomputes a row's statistics from x (one pass
over values already in cache), which keeps the layers' descriptions free of per-row buffers.

Layer normalization (Keras 3's ``ops.layer_normalization``, keras/src/ops/nn.py; LayerNormalization's defaults
epsilon=1e-3, center=True, scale=True) on x viewed as (R, D), D the normalized (trailing) axes flattened:

    mean = sum_j x_j / D,  var = sum_j (x_j - mean)^2 / D       (two passes, biased, as jnp.var)
    r = 1 / sqrt(var + epsilon)                                 (epsilon inside the square root)
    out_j = x_j * (r gamma_j) + (beta_j - mean * (r gamma_j))   (Keras's operation order; = gamma xhat + beta)

``rms_scaling=True`` (deprecated in Keras 3, kept as it is there): out_j = x_j * r * gamma_j -- x is scaled by the
inverse standard deviation but not centred, and there is no beta.

Unit normalization (``ops.normalize(x, order=2)``): out = x * min(1 / sqrt(sum x^2), 1 / epsilon) along one axis.
"""

import numpy as np

from ..policy import kernel


# ------------------------------------------------------------------------------------------ layer normalization
@kernel
def _row_stats(xr, epsilon):
    """(mean, r = 1 / sqrt(var + epsilon)) of one row, var the biased variance in two passes."""
    d = xr.shape[0]
    zero = xr.dtype.type(0.0)
    s = zero
    for j in range(d):
        s += xr[j]
    mean = s / xr.dtype.type(d)
    q = zero
    for j in range(d):
        t = xr[j] - mean
        q += t * t
    var = q / xr.dtype.type(d)
    return mean, xr.dtype.type(1.0) / np.sqrt(var + xr.dtype.type(epsilon))


@kernel
def layer_norm_forward(x, gamma, beta, out, epsilon, rms_scaling):
    """out = layer_norm(x) per row of x (R, D) (module docstring). gamma, beta: length D, or 0 for none
    (gamma = 1, beta = 0). With ``rms_scaling`` beta must be empty."""
    rows, d = x.shape
    if out.shape[0] != rows or out.shape[1] != d:
        raise ValueError("layer_norm_forward: out must have the shape of x")
    if (gamma.size != 0 and gamma.size != d) or (beta.size != 0 and beta.size != d):
        raise ValueError("layer_norm_forward: gamma and beta must have length 0 or D (x.shape[1])")
    if rms_scaling and beta.size != 0:
        raise ValueError("layer_norm_forward: rms_scaling takes no beta")
    if not epsilon > 0.0:
        raise ValueError("layer_norm_forward: epsilon must be positive")
    has_gamma, has_beta = gamma.size != 0, beta.size != 0
    zero = out.dtype.type(0.0)
    for i in range(rows):
        xr, o = x[i], out[i]
        mean, r = _row_stats(xr, epsilon)
        for j in range(d):
            inv = r * gamma[j] if has_gamma else r
            if rms_scaling:
                o[j] = xr[j] * inv
            else:
                o[j] = xr[j] * inv + ((beta[j] if has_beta else zero) - mean * inv)


@kernel
def layer_norm_backward(x, gamma, dy, dx, dgamma, dbeta, epsilon, rms_scaling, accumulate):
    """Gradients of L = sum(dy * layer_norm(x)) for x, dy (R, D).

    With xhat = (x - mean) r and g = dy * gamma (dy without gamma):
        dbeta  = sum over rows of dy                            (length 0: skipped)
        dgamma = sum over rows of dy * xhat                      (rms_scaling: dy * x * r)
        dx     = r (g - mean_j(g) - xhat mean_j(g xhat))         (the usual layer-norm input gradient)
        rms_scaling: dx_k = r g_k - r^3 (x_k - mean) / D * sum_j g_j x_j   (r depends on x through var only)
    dgamma / dbeta are added to with ``accumulate``, else overwritten; dx (size 0: skipped) is overwritten.
    """
    rows, d = x.shape
    if dy.shape[0] != rows or dy.shape[1] != d:
        raise ValueError("layer_norm_backward: dy must have the shape of x")
    if dx.size != 0 and (dx.shape[0] != rows or dx.shape[1] != d):
        raise ValueError("layer_norm_backward: dx must have the shape of x or size 0")
    if gamma.size != 0 and gamma.size != d:
        raise ValueError("layer_norm_backward: gamma must have length 0 or D")
    if (dgamma.size != 0 and dgamma.size != d) or (dbeta.size != 0 and dbeta.size != d):
        raise ValueError("layer_norm_backward: dgamma and dbeta must have length 0 or D")
    if not epsilon > 0.0:
        raise ValueError("layer_norm_backward: epsilon must be positive")
    zero = dy.dtype.type(0.0)
    if not accumulate:
        for j in range(dgamma.size):
            dgamma[j] = zero
        for j in range(dbeta.size):
            dbeta[j] = zero
    has_gamma = gamma.size != 0
    inv_d = dy.dtype.type(1.0) / dy.dtype.type(d) if d > 0 else zero
    for i in range(rows):
        xr, dyr = x[i], dy[i]
        mean, r = _row_stats(xr, epsilon)
        # The two sums in a loop of their own, which stores nothing: with the reassoc flag a reduction next to
        # stores is vectorized or not depending on a run-time aliasing check of the arrays' addresses (an empty
        # dbeta may point into the parameters), and the two summation orders differ in the last bit.
        s_g = zero  # sum g (layer norm) or sum g x (rms)
        s_gx = zero  # sum g xhat
        for j in range(d):
            g = dyr[j] * gamma[j] if has_gamma else dyr[j]
            if rms_scaling:
                s_g += g * xr[j]
            else:
                s_g += g
                s_gx += g * ((xr[j] - mean) * r)
        for j in range(dgamma.size):
            dgamma[j] += dyr[j] * (xr[j] * r if rms_scaling else (xr[j] - mean) * r)
        for j in range(dbeta.size):
            dbeta[j] += dyr[j]
        if dx.size == 0:
            continue
        dxr = dx[i]
        for j in range(d):
            g = dyr[j] * gamma[j] if has_gamma else dyr[j]
            if rms_scaling:
                dxr[j] = r * g - r * r * r * (xr[j] - mean) * inv_d * s_g
            else:
                xh = (xr[j] - mean) * r
                dxr[j] = r * (g - s_g * inv_d - xh * (s_gx * inv_d))


# ------------------------------------------------------------------------------------------- unit normalization
@kernel
def unit_norm_forward(x, out, epsilon):
    """out = x * min(1 / sqrt(sum_k x[a, k, c]^2), 1 / epsilon): x (A, K, C) normalized along its middle axis K.

    A trailing-axes normalization views x as (rows, K, 1); Dot(normalize=True) normalizes axis 1 of (B, P, Q) as
    (B, P, Q). The cap 1 / epsilon (Keras: UnitNormalization 1e-12, Dot's backend.epsilon() 1e-7) applies when
    sum x^2 <= epsilon^2, an all-zero slice included (no division by zero).
    """
    a_, k_, c_ = x.shape
    if out.shape[0] != a_ or out.shape[1] != k_ or out.shape[2] != c_:
        raise ValueError("unit_norm_forward: out must have the shape of x")
    if not epsilon > 0.0:
        raise ValueError("unit_norm_forward: epsilon must be positive")
    eps = x.dtype.type(epsilon)
    one = x.dtype.type(1.0)
    for a in range(a_):
        for c in range(c_):
            s = x.dtype.type(0.0)
            for k in range(k_):
                s += x[a, k, c] * x[a, k, c]
            inv = one / np.sqrt(s) if s > eps * eps else one / eps
            for k in range(k_):
                out[a, k, c] = x[a, k, c] * inv


@kernel
def unit_norm_backward(x, dy, dx, epsilon):
    """dx of L = sum(dy * unit_norm(x)) along the middle axis of (A, K, C); skipped when dx has size 0.

    With inv = 1 / sqrt(s), s = sum_k x_k^2, y = x inv: dx = inv (dy - y sum_k dy_k y_k). Where the cap holds
    (s <= epsilon^2) the map is x / epsilon and dx = dy / epsilon.
    """
    if dx.size == 0:
        return
    a_, k_, c_ = x.shape
    if dy.shape[0] != a_ or dy.shape[1] != k_ or dy.shape[2] != c_:
        raise ValueError("unit_norm_backward: dy must have the shape of x")
    if dx.shape[0] != a_ or dx.shape[1] != k_ or dx.shape[2] != c_:
        raise ValueError("unit_norm_backward: dx must have the shape of x or size 0")
    if not epsilon > 0.0:
        raise ValueError("unit_norm_backward: epsilon must be positive")
    eps = x.dtype.type(epsilon)
    one = x.dtype.type(1.0)
    for a in range(a_):
        for c in range(c_):
            s = x.dtype.type(0.0)
            for k in range(k_):
                s += x[a, k, c] * x[a, k, c]
            if s > eps * eps:
                inv = one / np.sqrt(s)
                p = x.dtype.type(0.0)
                for k in range(k_):
                    p += dy[a, k, c] * x[a, k, c]
                p = p * inv * inv  # sum dy y, divided by inv once more for the y below
                for k in range(k_):
                    dx[a, k, c] = inv * (dy[a, k, c] - x[a, k, c] * p)
            else:
                for k in range(k_):
                    dx[a, k, c] = dy[a, k, c] / eps


# ------------------------------------------------------------------------ standardization with given statistics
@kernel
def standardize_forward(x, mean, var, out, epsilon, invert):
    """Keras's Normalization: x (A, K, B) with statistics per middle index k (mean, var of length K):

        out = (x - mean_k) / max(sqrt(var_k), epsilon)          (invert=False)
        out = mean_k + x * max(sqrt(var_k), epsilon)            (invert=True)

    epsilon is Keras's backend.epsilon() (1e-7): a zero variance divides by it rather than by 0.
    """
    a_, k_, b_ = x.shape
    if out.shape[0] != a_ or out.shape[1] != k_ or out.shape[2] != b_:
        raise ValueError("standardize_forward: out must have the shape of x")
    if mean.shape[0] != k_ or var.shape[0] != k_:
        raise ValueError("standardize_forward: mean and var must have length K (x.shape[1])")
    eps = out.dtype.type(epsilon)
    for k in range(k_):
        denom = max(np.sqrt(out.dtype.type(var[k])), eps)
        m = out.dtype.type(mean[k])
        for a in range(a_):
            for b in range(b_):
                if invert:
                    out[a, k, b] = m + x[a, k, b] * denom
                else:
                    out[a, k, b] = (x[a, k, b] - m) / denom


@kernel
def standardize_backward(var, dy, dx, epsilon, invert):
    """dx = dy / max(sqrt(var_k), epsilon) (or dy * it with ``invert``); skipped when dx has size 0."""
    if dx.size == 0:
        return
    a_, k_, b_ = dy.shape
    if dx.shape[0] != a_ or dx.shape[1] != k_ or dx.shape[2] != b_:
        raise ValueError("standardize_backward: dx must have the shape of dy or size 0")
    if var.shape[0] != k_:
        raise ValueError("standardize_backward: var must have length K (dy.shape[1])")
    eps = dx.dtype.type(epsilon)
    for k in range(k_):
        denom = max(np.sqrt(dx.dtype.type(var[k])), eps)
        for a in range(a_):
            for b in range(b_):
                dx[a, k, b] = dy[a, k, b] * denom if invert else dy[a, k, b] / denom


# -------------------------------------------------------------------------------------------------- rescaling
@kernel
def affine_forward(x, scale, offset, out):
    """out = x * scale + offset for x (R, C); scale and offset have length C, or 1 (one value for every column):
    Keras's Rescaling (``inputs * scale + offset``)."""
    rows, c_ = x.shape
    if out.shape[0] != rows or out.shape[1] != c_:
        raise ValueError("affine_forward: out must have the shape of x")
    if (scale.shape[0] != c_ and scale.shape[0] != 1) or (offset.shape[0] != c_ and offset.shape[0] != 1):
        raise ValueError("affine_forward: scale and offset must have length 1 or C (x.shape[1])")
    sstep = 1 if scale.shape[0] == c_ else 0
    ostep = 1 if offset.shape[0] == c_ else 0
    for r in range(rows):
        for j in range(c_):
            out[r, j] = x[r, j] * scale[j * sstep] + offset[j * ostep]


@kernel
def affine_backward(scale, dy, dx):
    """dx = dy * scale (scale of length 1 or C); skipped when dx has size 0."""
    if dx.size == 0:
        return
    rows, c_ = dy.shape
    if dx.shape[0] != rows or dx.shape[1] != c_:
        raise ValueError("affine_backward: dx must have the shape of dy or size 0")
    if scale.shape[0] != c_ and scale.shape[0] != 1:
        raise ValueError("affine_backward: scale must have length 1 or C (dy.shape[1])")
    sstep = 1 if scale.shape[0] == c_ else 0
    for r in range(rows):
        for j in range(c_):
            dx[r, j] = dy[r, j] * scale[j * sstep]


@kernel
def set_values(out, start, count, v0, v1, v2, v3, v4, v5, v6, v7):
    """out[start:start + count] = (v0, ..., v7)[:count], count <= 8.

    How a layer's constant vectors (a Normalization's given mean, a Rescaling's per-channel scale) reach a step:
    a step description carries scalar constants only, so a vector of C values is written into fixed scratch by
    ceil(C / 8) calls at the start of each forward pass.
    """
    if count < 0 or count > 8 or start < 0 or start + count > out.shape[0]:
        raise ValueError("set_values: count must be in [0, 8] and the values must fit in out")
    vals = (v0, v1, v2, v3, v4, v5, v6, v7)
    for i in range(count):
        out[start + i] = vals[i]
