"""kernels/cuda/noise.py against kernels/cpu/noise.py (in the CUDA simulator)."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import noise
from numba import cuda
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]
N = 261  # odd (the last normal uses the second of a pair) and not a multiple of the block size


def uniforms(rng, dtype, n):
    return rng.random(n).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
def test_gaussian_noise(rng, dtype, training):
    x, out, dy, dx = arrays(rng, dtype, N, N, N, N)
    u = uniforms(rng, dtype, N + 1) if training else np.zeros(0, dtype)
    check_twin("noise.gaussian_noise_forward", x, u, 0.3, training, out)
    check_twin("noise.gaussian_noise_backward", dy, dx)
    check_twin("noise.gaussian_noise_backward", dy, np.zeros(0, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
def test_gaussian_dropout(rng, dtype, training):
    x, out, dy, dx = arrays(rng, dtype, N, N, N, N)
    u = uniforms(rng, dtype, N + 1) if training else np.zeros(0, dtype)
    check_twin("noise.gaussian_dropout_forward", x, u, 0.4, training, out)
    check_twin("noise.gaussian_dropout_backward", u, 0.4, training, dy, dx)
    check_twin("noise.gaussian_dropout_backward", u, 0.4, training, dy, np.zeros(0, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
def test_alpha_dropout(rng, dtype, training):
    x, out, dy, dx = arrays(rng, dtype, N, N, N, N)
    u = uniforms(rng, dtype, N) if training else np.zeros(0, dtype)
    if training:
        u[:4] = dtype(0.25)  # exactly at the rate: kept
    check_twin("noise.alpha_dropout_forward", x, u, 0.25, training, out)
    check_twin("noise.alpha_dropout_backward", u, 0.25, training, dy, dx)
    check_twin("noise.alpha_dropout_backward", u, 0.25, training, dy, np.zeros(0, dtype))


def test_bad_shapes():
    d = cuda.to_device
    x, u4 = d(np.zeros(5)), d(np.zeros(4))
    with pytest.raises(ValueError, match="gaussian_noise_forward"):
        noise.gaussian_noise_forward(x, u4, 0.1, True, d(np.zeros(5)))  # 5 normals need 6 uniforms
    with pytest.raises(ValueError, match="gaussian_noise_backward"):
        noise.gaussian_noise_backward(x, u4)
    with pytest.raises(ValueError, match="gaussian_dropout_forward"):
        noise.gaussian_dropout_forward(x, d(np.zeros(6)), 1.0, True, d(np.zeros(5)))
    with pytest.raises(ValueError, match="gaussian_dropout_backward"):
        noise.gaussian_dropout_backward(u4, 0.1, True, x, d(np.zeros(5)))
    with pytest.raises(ValueError, match="alpha_dropout_forward"):
        noise.alpha_dropout_forward(x, u4, 0.1, True, d(np.zeros(5)))
    with pytest.raises(ValueError, match="alpha_dropout_backward"):
        noise.alpha_dropout_backward(d(np.zeros(5)), -0.1, True, x, d(np.zeros(5)))
