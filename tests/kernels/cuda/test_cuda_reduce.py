"""kernels/cuda/reduce.py against kernels/cpu/reduce.py: every code forward and backward over the geometries the
line grid distinguishes (rows with inner == 1, short and longer than a block; columns with inner > 1, several
line tiles), ties, zeros, NaNs, empty lines, skipped dx, top_k, and bad shapes."""

import numpy as np
import pytest
from nbkeras.kernels.cpu import reduce as cpu
from nbkeras.kernels.cuda import reduce as R
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]
CODES = list(range(cpu.N_REDUCE))
# (outer, n, inner): short rows, rows longer than a block (lanes loop), columns (inner > 1) in two line tiles
SHAPES = [(3, 5, 1), (1, 300, 1), (2, 7, 3), (2, 3, 40)]


def test_codes_match_cpu():
    names = ["SUM", "MEAN", "MAX", "MIN", "PROD", "VAR", "STD", "LOGSUMEXP", "NORM2", "NORM1", "NORMINF", "ARGMAX",
             "ARGMIN", "ANY", "ALL", "N_REDUCE"]
    assert all(getattr(R, n) == getattr(cpu, n) for n in names)


def _x(rng, dtype, shape, code):
    if code in (cpu.MAX, cpu.MIN, cpu.NORMINF, cpu.ARGMAX, cpu.ARGMIN, cpu.ANY, cpu.ALL):
        return rng.integers(-2, 3, size=shape).astype(dtype)  # ties and zeros
    if code == cpu.PROD:
        x = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1, 1], size=shape)
        x.flat[::4] = 0.0  # zeros: the backward's product-of-the-others path
        return x.astype(dtype)
    return rng.uniform(-2, 2, size=shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", CODES)
def test_reduce_forward_and_backward(code, dtype):
    rng = np.random.default_rng(code)
    wide = code in (cpu.SUM, cpu.MAX, cpu.VAR, cpu.LOGSUMEXP, cpu.ARGMIN) and dtype == np.float64  # the slow ones
    for shape in SHAPES if wide else SHAPES[::2]:
        x = _x(rng, dtype, shape, code)
        out, dy = arrays(rng, dtype, (shape[0], shape[2]), (shape[0], shape[2]))
        check_twin("reduce.reduce_forward", code, x, out)
        y = np.empty_like(out)
        cpu.reduce_forward(code, x, y)
        dx, = arrays(rng, dtype, shape)
        check_twin("reduce.reduce_backward", code, x, y, dy, dx)


@pytest.mark.parametrize("code", CODES)
def test_empty_lines(code):
    x = np.zeros((2, 0, 3))
    out = np.full((2, 3), 7.0)
    check_twin("reduce.reduce_forward", code, x, out)  # sum 0, prod 1, mean nan, max -inf, argmax -1, ...


@pytest.mark.parametrize("code", [cpu.MAX, cpu.MIN, cpu.ARGMAX, cpu.ARGMIN, cpu.LOGSUMEXP, cpu.SUM])
def test_nan_wins_the_first_extreme(code):
    x = np.array([[[1.0], [np.nan], [3.0], [np.nan], [-2.0]], [[4.0], [4.0], [np.nan], [9.0], [1.0]]])
    check_twin("reduce.reduce_forward", code, x, np.zeros((2, 1)))


def test_backward_skipped_when_dx_is_empty():
    rng = np.random.default_rng(0)
    x, y, dy = arrays(rng, np.float64, (2, 3, 1), (2, 1), (2, 1))
    check_twin("reduce.reduce_backward", cpu.SUM, x, y, dy, np.zeros((0, 0, 0)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, n, k", [(3, 6, 1), (2, 9, 4), (2, 5, 5)])
def test_top_k(rows, n, k, dtype):
    rng = np.random.default_rng(n)
    x = rng.integers(-3, 4, size=(rows, n)).astype(dtype)  # ties keep index order
    values, indices = arrays(rng, dtype, (rows, k), (rows, k))
    check_twin("reduce.top_k_forward", x, values, indices)
    x = rng.normal(size=(rows, n)).astype(dtype)
    check_twin("reduce.top_k_forward", x, values, indices)


def test_bad_shapes():
    from numba import cuda

    def d(*shape):
        return cuda.to_device(np.zeros(shape))

    with pytest.raises(ValueError, match="reduce_forward"):
        R.reduce_forward(cpu.SUM, d(2, 3, 4), d(2, 3))
    with pytest.raises(ValueError, match="reduce_forward: unknown code"):
        R.reduce_forward(cpu.N_REDUCE, d(2, 3, 4), d(2, 4))
    with pytest.raises(ValueError, match="reduce_backward"):
        R.reduce_backward(cpu.SUM, d(2, 3, 4), d(2, 4), d(2, 4), d(2, 3, 3))
    with pytest.raises(ValueError, match="reduce_backward"):
        R.reduce_backward(cpu.SUM, d(2, 3, 4), d(2, 4), d(2, 3), d(2, 3, 4))
    with pytest.raises(ValueError, match="reduce_backward: unknown code"):
        R.reduce_backward(-1, d(2, 3, 4), d(2, 4), d(2, 4), d(2, 3, 4))
    with pytest.raises(ValueError, match="top_k_forward"):
        R.top_k_forward(d(2, 3), d(2, 4), d(2, 4))
    with pytest.raises(ValueError, match="top_k_forward"):
        R.top_k_forward(d(2, 3), d(2, 2), d(3, 2))
