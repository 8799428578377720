"""kernels/cuda/optimizers.py against kernels/cpu/optimizers.py (in the CUDA simulator)."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import _launch
from nbkeras.kernels.cuda import optimizers as opt
from numba import cuda
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]
N = 300  # not a multiple of the block size: two blocks, the second partly idle


def grads(rng, dtype, n=N):
    """Gradients spanning several magnitudes, some exactly zero."""
    g = rng.normal(size=n) * 10.0 ** rng.uniform(-4, 1, size=n)
    g[rng.random(n) < 0.1] = 0.0
    return g.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_by_value(rng, dtype):
    check_twin("optimizers.clip_by_value", grads(rng, dtype), 0.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_by_norm(rng, dtype):
    g = grads(rng, dtype)
    g[40:50] = 0.0  # an all-zero variable stays zero
    g[60] = np.nan  # its variable becomes NaN, the others are untouched
    seg = np.array([[0, 40], [40, 50], [50, 70], [70, 70], [70, 300]], np.int64)
    check_twin("optimizers.clip_by_norm", g, seg, 0.3)
    check_twin("optimizers.clip_by_norm", g, seg, 1e6)  # nothing clipped: g * c / c
    check_twin("optimizers.clip_by_norm", g, np.zeros((0, 2), np.int64), 0.3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_by_global_norm(rng, dtype):
    g = grads(rng, dtype, 700)  # three blocks of partial sums
    check_twin("optimizers.clip_by_global_norm", g, 0.7)
    check_twin("optimizers.clip_by_global_norm", g, 1e6)
    check_twin("optimizers.clip_by_global_norm", np.zeros(5, dtype), 1.0)  # zero norm: scale c * (1 / c)
    check_twin("optimizers.clip_by_global_norm", np.zeros(0, dtype), 1.0)
    g[3] = np.inf
    check_twin("optimizers.clip_by_global_norm", g, 0.7)  # every gradient NaN, the norm inf


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_clip_by_global_norm_float32_overflow():
    g = np.full(4, 2e19, np.float32)  # the float32 sum of squares overflows: NaN, as on the CPU (and Keras)
    _cpu, gpu = check_twin("optimizers.clip_by_global_norm", g, 1.0)
    assert np.isnan(gpu[0]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_apply_weight_decay(rng, dtype):
    check_twin("optimizers.apply_weight_decay", *arrays(rng, dtype, N), 0.01, 0.004)


def empty(dtype):
    return np.zeros(0, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd(rng, dtype, momentum, nesterov):
    w, m = arrays(rng, dtype, N, N)
    check_twin("optimizers.sgd_update", w, grads(rng, dtype), m if momentum else empty(dtype), 0.01, momentum,
               nesterov)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam(rng, dtype, amsgrad):
    w, m, v, vh = arrays(rng, dtype, N, N, N, N)
    v, vh = np.abs(v), np.abs(vh)
    check_twin("optimizers.adam_update", w, grads(rng, dtype), m, v, vh if amsgrad else empty(dtype), 0.001, 0.9,
               0.999, 1e-7, amsgrad, 7)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.5, False), (0.0, True), (0.5, True)])
def test_rmsprop(rng, dtype, momentum, centered):
    w, v, mom, mg = arrays(rng, dtype, N, N, N, N)
    v = np.abs(v) + 1.0  # keeps v - mg^2 positive
    check_twin("optimizers.rmsprop_update", w, grads(rng, dtype), v, mom if momentum else empty(dtype),
               mg if centered else empty(dtype), 0.001, 0.9, momentum, 1e-7, centered)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adagrad(rng, dtype):
    w, acc = arrays(rng, dtype, N, N, low=0.1)
    check_twin("optimizers.adagrad_update", w, grads(rng, dtype), acc, 0.001, 1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adadelta(rng, dtype):
    w, ag, ad = arrays(rng, dtype, N, N, N, low=0.0)
    check_twin("optimizers.adadelta_update", w, grads(rng, dtype), ag, ad, 0.5, 0.95, 1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adamax(rng, dtype):
    w, m, u = arrays(rng, dtype, N, N, N, low=0.0)
    g = grads(rng, dtype)
    g[5] = np.nan
    check_twin("optimizers.adamax_update", w, g, m, u, 0.001, 0.9, 0.999, 1e-7, 3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nadam_advances_u_product_once(rng, dtype):
    w, m, v = arrays(rng, dtype, N, N, N)
    v = np.abs(v)
    up = np.array([0.7], dtype)
    before = _launch.LAUNCHES[0]
    _cpu, gpu = check_twin("optimizers.nadam_update", w, grads(rng, dtype), m, v, up, 0.001, 0.9, 0.999, 1e-7, 4)
    assert _launch.LAUNCHES[0] - before == 1  # one launch for the whole buffer, u_product included
    # a second call from the state the first left (the block counter must have been reset)
    check_twin("optimizers.nadam_update", *gpu[:5], 0.001, 0.9, 0.999, 1e-7, 5)
    check_twin("optimizers.nadam_update", empty(dtype), empty(dtype), empty(dtype), empty(dtype), up, 0.001, 0.9,
               0.999, 1e-7, 5)  # no parameters: the product still advances


def test_update_rules_launch_once(rng):
    w, g, m, v = (cuda.to_device(a) for a in arrays(rng, np.float32, N, N, N, N, low=0.0))
    before = _launch.LAUNCHES[0]
    opt.adam_update(w, g, m, v, cuda.to_device(empty(np.float32)), 0.001, 0.9, 0.999, 1e-7, False, 1)
    opt.clip_by_norm(g, cuda.to_device(np.array([[0, 100], [100, 300]], np.int64)), 1.0)
    assert _launch.LAUNCHES[0] - before == 2


def test_bad_shapes():
    d = cuda.to_device
    w, g, e = d(np.zeros(4)), d(np.zeros(3)), d(np.zeros(0))
    with pytest.raises(ValueError, match="parameter buffer"):
        opt.sgd_update(w, g, e, 0.1, 0.0, False)
    with pytest.raises(ValueError, match="needs a slot"):
        opt.sgd_update(w, d(np.zeros(4)), e, 0.1, 0.9, False)
    with pytest.raises(ValueError, match="step"):
        opt.adam_update(w, w, w, w, e, 0.1, 0.9, 0.999, 1e-7, False, 0)
    with pytest.raises(ValueError, match="u_product"):
        opt.nadam_update(w, w, w, w, d(np.ones(2)), 0.1, 0.9, 0.999, 1e-7, 1)
    with pytest.raises(ValueError, match="needs a slot"):
        opt.rmsprop_update(w, w, w, e, e, 0.1, 0.9, 0.0, 1e-7, True)
