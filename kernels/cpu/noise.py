"""Noise layers' kernels: additive Gaussian noise, multiplicative Gaussian dropout and alpha dropout, forward and
backward side by side. All take flat views and a ``training`` flag: when it is False the forward copies x and the
backward copies dy (Keras's noise layers are the identity at inference) and u is not read (it may be empty: a
step that does not train draws no uniforms).

Normal noise from the step's uniforms (Box-Muller): a pair of uniforms (u1, u2) in [0, 1) gives two independent
standard normals

    rad = sqrt(-2 log(1 - u1)),  z1 = rad cos(2 pi u2),  z2 = rad sin(2 pi u2)       (1 - u1 is in (0, 1])

for the flat values 2j and 2j + 1; so n values read n rounded up to even uniforms. The
noise is recomputed from the same uniforms in the backward, so nothing is kept. With float32 uniforms (multiples
of 2^-24) |z| <= sqrt(2 * 24 log 2) ~ 5.8: the tails beyond 5.8 sigma (probability ~7e-9) are cut.

Keras 3 formulas (keras/src/layers/regularization/):
    GaussianNoise(stddev):   out = x + stddev * z
    GaussianDropout(rate):   out = x * (1 + sqrt(rate / (1 - rate)) * z)
    AlphaDropout(rate):      kept = u >= rate; alpha_p = -1.6732632423543772 * 1.0507009873554805;
                             a = ((1 - rate) (1 + rate alpha_p^2))^(-1/2); b = -a alpha_p rate;
                             out = a (x if kept else alpha_p) + b
"""

import math

import numpy as np

from ..policy import kernel

_TWO_PI = 2.0 * math.pi
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@kernel
def _normal(u, i):
    """The standard normal for flat value i from the uniform pair starting at 2 * (i // 2)."""
    j = i - (i % 2)
    one = u.dtype.type(1.0)
    rad = np.sqrt(u.dtype.type(-2.0) * np.log(one - u[j]))
    angle = u.dtype.type(_TWO_PI) * u[j + 1]
    return rad * np.cos(angle) if i % 2 == 0 else rad * np.sin(angle)


@kernel
def _fits(x, u, out, training):
    """out has x's length and, when training, u holds the n + n % 2 uniforms of n normals."""
    n = x.shape[0]
    return out.shape[0] == n and (not training or u.shape[0] >= n + (n % 2))


@kernel
def _copy(src, dst):
    for i in range(src.shape[0]):
        dst[i] = src[i]


@kernel
def gaussian_noise_forward(x, u, stddev, training, out):
    """out = x + stddev * z (training), else x. u: at least n + n % 2 uniforms when training."""
    if not _fits(x, u, out, training):
        raise ValueError("gaussian_noise_forward: out must have x's length and u at least that, rounded up to even")
    if not training:
        _copy(x, out)
        return
    s = out.dtype.type(stddev)
    for i in range(x.shape[0]):
        out[i] = x[i] + s * _normal(u, i)


@kernel
def gaussian_noise_backward(dy, dx):
    """dx = dy: additive noise does not depend on x (training or not); skipped when dx has size 0."""
    if dx.size == 0:
        return
    if dx.shape[0] != dy.shape[0]:
        raise ValueError("gaussian_noise_backward: dx must have dy's length")
    _copy(dy, dx)


@kernel
def gaussian_dropout_forward(x, u, rate, training, out):
    """out = x * (1 + sqrt(rate / (1 - rate)) * z) (training), else x. rate must be in [0, 1)."""
    if not _fits(x, u, out, training):
        raise ValueError("gaussian_dropout_forward: out must have x's length and u at least that, rounded up "
                         "to even")
    if not (rate >= 0.0 and rate < 1.0):
        raise ValueError("gaussian_dropout_forward: rate must be in [0, 1)")
    if not training:
        _copy(x, out)
        return
    s = out.dtype.type(math.sqrt(rate / (1.0 - rate)))
    one = out.dtype.type(1.0)
    for i in range(x.shape[0]):
        out[i] = x[i] * (one + s * _normal(u, i))


@kernel
def gaussian_dropout_backward(u, rate, training, dy, dx):
    """dx = dy * (1 + sqrt(rate / (1 - rate)) * z) with the forward's z (training), else dy; size 0 skips."""
    if dx.size == 0:
        return
    if not _fits(dy, u, dx, training):
        raise ValueError("gaussian_dropout_backward: dx must have dy's length and u at least that, rounded up "
                         "to even")
    if not (rate >= 0.0 and rate < 1.0):
        raise ValueError("gaussian_dropout_backward: rate must be in [0, 1)")
    if not training:
        _copy(dy, dx)
        return
    s = dx.dtype.type(math.sqrt(rate / (1.0 - rate)))
    one = dx.dtype.type(1.0)
    for i in range(dy.shape[0]):
        dx[i] = dy[i] * (one + s * _normal(u, i))


@kernel
def _alpha_coefficients(rate):
    """(a, b, alpha_p) of Keras 3's AlphaDropout for ``rate`` in [0, 1)."""
    alpha_p = -SELU_ALPHA * SELU_SCALE
    a = ((1.0 - rate) * (1.0 + rate * alpha_p * alpha_p)) ** -0.5
    return a, -a * alpha_p * rate, alpha_p


@kernel
def alpha_dropout_forward(x, u, rate, training, out):
    """out = a * (x if u >= rate else alpha_p) + b (training; coefficients in the module docstring), else x.
    u: one uniform per value. rate must be in [0, 1) (a is infinite at 1)."""
    n = x.shape[0]
    if out.shape[0] != n or (training and u.shape[0] < n):
        raise ValueError("alpha_dropout_forward: out must have x's length and u at least that")
    if not (rate >= 0.0 and rate < 1.0):
        raise ValueError("alpha_dropout_forward: rate must be in [0, 1)")
    if not training:
        _copy(x, out)
        return
    a64, b64, ap64 = _alpha_coefficients(rate)
    a, b, ap = out.dtype.type(a64), out.dtype.type(b64), out.dtype.type(ap64)
    r = u.dtype.type(rate)
    for i in range(n):
        out[i] = a * (x[i] if u[i] >= r else ap) + b


@kernel
def alpha_dropout_backward(u, rate, training, dy, dx):
    """dx = a * dy where the value was kept (u >= rate), else 0 (training), else dy; size 0 skips."""
    if dx.size == 0:
        return
    n = dy.shape[0]
    if dx.shape[0] != n or (training and u.shape[0] < n):
        raise ValueError("alpha_dropout_backward: dx must have dy's length and u at least that")
    if not (rate >= 0.0 and rate < 1.0):
        raise ValueError("alpha_dropout_backward: rate must be in [0, 1)")
    if not training:
        _copy(dy, dx)
        return
    a = dx.dtype.type(_alpha_coefficients(rate)[0])
    r = u.dtype.type(rate)
    zero = dx.dtype.type(0.0)
    for i in range(n):
        dx[i] = a * dy[i] if u[i] >= r else zero
