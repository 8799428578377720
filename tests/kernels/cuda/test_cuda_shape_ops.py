"""kernels/cuda/shape_ops.py against kernels/cpu/shape_ops.py (in the CUDA simulator: tiny shapes)."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import shape_ops as G
from numba import cuda
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]


def empty(dtype, ndim):
    return np.empty((0,) * ndim, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_pad_and_crop_match_cpu(dtype):
    rng = np.random.default_rng(0)
    x, out, dy, dx = arrays(rng, dtype, (2, 3, 2, 3), (2, 6, 5, 3), (2, 6, 5, 3), (2, 3, 2, 3))
    for top, left in ((1, 2), (0, 0), (3, 1)):
        check_twin("shape_ops.zero_pad2d_forward", x, out, top, left)
        check_twin("shape_ops.zero_pad2d_backward", dy, dx, top, left)
        check_twin("shape_ops.crop2d_forward", out, x, top, left)
        check_twin("shape_ops.crop2d_backward", x, dy, top, left)
    check_twin("shape_ops.zero_pad2d_backward", dy, empty(dtype, 4), 1, 1)
    check_twin("shape_ops.crop2d_backward", x, empty(dtype, 4), 1, 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sizes", [(2, 3), (1, 2), (3, 1)])
def test_upsampling_matches_cpu(sizes, dtype):
    sh, sw = sizes
    rng = np.random.default_rng(sh * 10 + sw)
    x, dx = arrays(rng, dtype, (2, 3, 2, 2), (2, 3, 2, 2))
    out, dy = arrays(rng, dtype, (2, 3 * sh, 2 * sw, 2), (2, 3 * sh, 2 * sw, 2))
    for mode in ("nearest", "bilinear"):
        check_twin(f"shape_ops.upsample2d_{mode}_forward", x, out, sh, sw)
        check_twin(f"shape_ops.upsample2d_{mode}_backward", dy, dx, sh, sw)
        check_twin(f"shape_ops.upsample2d_{mode}_backward", dy, empty(dtype, 4), sh, sw)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bilinear_backward_on_a_larger_grid_matches_cpu(dtype):
    rng = np.random.default_rng(1)
    dy, dx = arrays(rng, dtype, (1, 20, 12, 1), (1, 5, 3, 1))  # factors 4 and 4: interior pixels too
    check_twin("shape_ops.upsample2d_bilinear_backward", dy, dx, 4, 4)


PERMUTES = [((2, 3, 4, 1), (2, 0, 1, 3)), ((1, 1, 3, 5), (0, 1, 3, 2)), ((2, 1, 3, 2), (3, 2, 1, 0))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(PERMUTES)))
def test_permute_matches_cpu(case, dtype):
    dims, perm = PERMUTES[case]
    n = 2 * int(np.prod(dims))
    x, out, dy, dx = arrays(np.random.default_rng(case), dtype, n, n, n, n)
    check_twin("shape_ops.permute_forward", x, out, *dims, *perm)
    check_twin("shape_ops.permute_backward", dy, dx, *dims, *perm)
    check_twin("shape_ops.permute_backward", dy, empty(dtype, 1), *dims, *perm)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_matches_cpu(dtype):
    rng = np.random.default_rng(2)
    x, u, out, dy, dx = arrays(rng, dtype, 37, 37, 37, 37, 37, low=0.0)
    u[:2] = [0.3, 0.0]  # u == rate keeps
    for rate in (0.3, 0.0, 1.0):
        check_twin("shape_ops.dropout_forward", x, u, rate, True, out)
        check_twin("shape_ops.dropout_backward", u, rate, True, dy, dx)
    check_twin("shape_ops.dropout_forward", x, empty(dtype, 1), 0.3, False, out)
    check_twin("shape_ops.dropout_backward", empty(dtype, 1), 0.3, False, dy, dx)
    check_twin("shape_ops.dropout_backward", u, 0.3, True, dy, empty(dtype, 1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_spatial_dropout_matches_cpu(dtype):
    rng = np.random.default_rng(3)
    x, out, dy, dx = arrays(rng, dtype, (2, 5, 3), (2, 5, 3), (2, 5, 3), (2, 5, 3))
    (u,) = arrays(rng, dtype, 6, low=0.0)
    for rate in (0.4, 0.0, 1.0):
        check_twin("shape_ops.spatial_dropout_forward", x, u, rate, True, out)
        check_twin("shape_ops.spatial_dropout_backward", u, rate, True, dy, dx)
    check_twin("shape_ops.spatial_dropout_forward", x, empty(dtype, 1), 0.4, False, out)
    check_twin("shape_ops.spatial_dropout_backward", empty(dtype, 1), 0.4, False, dy, dx)
    check_twin("shape_ops.spatial_dropout_backward", u, 0.4, True, dy, empty(dtype, 3))


def test_dropout_backward_in_place():
    u = cuda.to_device(np.array([0.1, 0.9, 0.5]))
    g = cuda.to_device(np.array([1.0, 2.0, 3.0]))
    G.dropout_backward(u, 0.5, True, g, g)
    np.testing.assert_allclose(g.copy_to_host(), [0.0, 4.0, 6.0])


def test_bad_shapes_raise():
    def d(*shape):
        return cuda.to_device(np.zeros(shape))

    with pytest.raises(ValueError, match="zero_pad2d_forward: out is too small"):
        G.zero_pad2d_forward(d(1, 2, 2, 1), d(1, 3, 3, 1), 2, 0)
    with pytest.raises(ValueError, match="crop2d_backward"):
        G.crop2d_backward(d(1, 2, 2, 1), d(1, 2, 2, 2), 0, 0)
    with pytest.raises(ValueError, match="upsample2d_nearest_forward"):
        G.upsample2d_nearest_forward(d(1, 2, 2, 1), d(1, 4, 3, 1), 2, 2)
    with pytest.raises(ValueError, match="upsample2d_bilinear_backward"):
        G.upsample2d_bilinear_backward(d(1, 4, 4, 1), d(1, 2, 2, 1), 2, 0)
    with pytest.raises(ValueError, match="permute_forward"):
        G.permute_forward(d(6), d(6), 1, 1, 2, 3, 0, 1, 3, 3)
    with pytest.raises(ValueError, match="dropout_forward: rate"):
        G.dropout_forward(d(3), d(3), 1.5, True, d(3))
    with pytest.raises(ValueError, match="spatial_dropout_forward: u"):
        G.spatial_dropout_forward(d(2, 3, 2), d(3), 0.5, True, d(2, 3, 2))
