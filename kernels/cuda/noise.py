"""CUDA twin of kernels/cpu/noise.py: Gaussian noise, Gaussian dropout and alpha dropout from the caller's uniforms.

One thread per value, one launch per call. ``u`` means what it means on the CPU (Box-Muller pairs for the normals,
one uniform per value for alpha dropout) and has x's dtype. Coefficients that depend only on ``rate`` / ``stddev``
are formed on the host in float64 as the CPU kernel forms them and cast to the array dtype in the kernel.
"""

import math

from numba import cuda

from . import _launch
from ._launch import kernel

_TWO_PI = 2.0 * math.pi
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@_launch.device
def _normal(u, i):
    """The standard normal for flat value i from the uniform pair starting at 2 * (i // 2) (as the CPU)."""
    j = i - (i % 2)
    t = u.dtype.type
    rad = math.sqrt(t(-2.0) * math.log(t(1.0) - u[j]))
    angle = t(_TWO_PI) * u[j + 1]
    return rad * math.cos(angle) if i % 2 == 0 else rad * math.sin(angle)


def _fits(x, u, out, training):
    n = x.shape[0]
    return out.shape[0] == n and (not training or u.shape[0] >= n + (n % 2))


@kernel("void(F[::1], F[::1])")
def _copy(src, dst):
    i = cuda.grid(1)
    if i < dst.shape[0]:
        dst[i] = src[i]


def _copy_launch(src, dst):
    if dst.shape[0]:
        _copy[_launch.grid(dst.shape[0])](src, dst)


@kernel("void(F[::1], F[::1], F[::1], float64, int64)")
def _noise(x, u, out, s, mode):
    """mode 0: out = x + s z (Gaussian noise); mode 1: out = x (1 + s z) (Gaussian dropout, forward or backward)."""
    i = cuda.grid(1)
    if i < out.shape[0]:
        st = out.dtype.type(s)
        z = _normal(u, i)
        if mode == 0:
            out[i] = x[i] + st * z
        else:
            out[i] = x[i] * (out.dtype.type(1.0) + st * z)


def gaussian_noise_forward(x, u, stddev, training, out):
    """out = x + stddev * z (training), else x, as kernels.cpu.noise.gaussian_noise_forward. One launch."""
    if not _fits(x, u, out, training):
        raise ValueError("gaussian_noise_forward: out must have x's length and u at least that, rounded up to even")
    if not training:
        _copy_launch(x, out)
    elif out.shape[0]:
        _noise[_launch.grid(out.shape[0])](x, u, out, float(stddev), 0)


def gaussian_noise_backward(dy, dx):
    """dx = dy (skipped when dx has size 0), as kernels.cpu.noise.gaussian_noise_backward. One launch."""
    if dx.size == 0:
        return
    if dx.shape[0] != dy.shape[0]:
        raise ValueError("gaussian_noise_backward: dx must have dy's length")
    _copy_launch(dy, dx)


def _check_rate(rate, name):
    if not (rate >= 0.0 and rate < 1.0):
        raise ValueError(f"{name}: rate must be in [0, 1)")


def gaussian_dropout_forward(x, u, rate, training, out):
    """out = x * (1 + sqrt(rate / (1 - rate)) * z) (training), else x, as
    kernels.cpu.noise.gaussian_dropout_forward. One launch."""
    if not _fits(x, u, out, training):
        raise ValueError("gaussian_dropout_forward: out must have x's length and u at least that, rounded up "
                         "to even")
    _check_rate(rate, "gaussian_dropout_forward")
    if not training:
        _copy_launch(x, out)
    elif out.shape[0]:
        _noise[_launch.grid(out.shape[0])](x, u, out, float(math.sqrt(rate / (1.0 - rate))), 1)


def gaussian_dropout_backward(u, rate, training, dy, dx):
    """dx = dy * (1 + sqrt(rate / (1 - rate)) * z) (training), else dy; size 0 skips, as
    kernels.cpu.noise.gaussian_dropout_backward. One launch."""
    if dx.size == 0:
        return
    if not _fits(dy, u, dx, training):
        raise ValueError("gaussian_dropout_backward: dx must have dy's length and u at least that, rounded up "
                         "to even")
    _check_rate(rate, "gaussian_dropout_backward")
    if not training:
        _copy_launch(dy, dx)
    else:
        _noise[_launch.grid(dx.shape[0])](dy, u, dx, float(math.sqrt(rate / (1.0 - rate))), 1)


def _alpha_coefficients(rate):
    alpha_p = -SELU_ALPHA * SELU_SCALE
    a = ((1.0 - rate) * (1.0 + rate * alpha_p * alpha_p)) ** -0.5
    return a, -a * alpha_p * rate, alpha_p


@kernel("void(F[::1], F[::1], F[::1], float64, float64, float64, float64, boolean)")
def _alpha(x, u, out, rate, a, b, alpha_p, forward):
    """forward: out = a * (x if kept else alpha_p) + b; backward: out = a * x if kept else 0 (x is dy)."""
    i = cuda.grid(1)
    if i < out.shape[0]:
        t = out.dtype.type
        kept = u[i] >= u.dtype.type(rate)
        if forward:
            out[i] = t(a) * (x[i] if kept else t(alpha_p)) + t(b)
        else:
            out[i] = t(a) * x[i] if kept else t(0.0)


def alpha_dropout_forward(x, u, rate, training, out):
    """out = a * (x if u >= rate else alpha_p) + b (training), else x, as kernels.cpu.noise.alpha_dropout_forward.
    One launch."""
    n = x.shape[0]
    if out.shape[0] != n or (training and u.shape[0] < n):
        raise ValueError("alpha_dropout_forward: out must have x's length and u at least that")
    _check_rate(rate, "alpha_dropout_forward")
    if not training:
        _copy_launch(x, out)
    elif n:
        a, b, ap = _alpha_coefficients(rate)
        _alpha[_launch.grid(n)](x, u, out, float(rate), float(a), float(b), float(ap), True)


def alpha_dropout_backward(u, rate, training, dy, dx):
    """dx = a * dy where kept (u >= rate), else 0 (training), else dy; size 0 skips, as
    kernels.cpu.noise.alpha_dropout_backward. One launch."""
    if dx.size == 0:
        return
    n = dy.shape[0]
    if dx.shape[0] != n or (training and u.shape[0] < n):
        raise ValueError("alpha_dropout_backward: dx must have dy's length and u at least that")
    _check_rate(rate, "alpha_dropout_backward")
    if not training:
        _copy_launch(dy, dx)
    else:
        a, b, ap = _alpha_coefficients(rate)
        _alpha[_launch.grid(n)](dy, u, dx, float(rate), float(a), float(b), float(ap), False)
