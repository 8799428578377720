"""kernels/cuda/data.py against kernels/cpu/data.py."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import data
from support.cuda_twin import check_twin


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_gather_rows_matches_cpu(dtype):
    rng = np.random.default_rng(0)
    src = (rng.normal(size=(7, 3)) * 10).astype(dtype)
    index = rng.permutation(7).astype(np.int64)
    dst = np.zeros((4, 3), dtype)
    check_twin("data.gather_rows", src, index, 2, 6, dst)
    check_twin("data.gather_rows", src, index, 5, 7, dst)  # partial batch: the rest of dst untouched


def test_gather_rows_bad_shapes():
    from numba import cuda
    src = cuda.to_device(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="gather_rows"):
        data.gather_rows(src, cuda.to_device(np.arange(4)), 0, 5, cuda.to_device(np.zeros((5, 3))))
    with pytest.raises(ValueError, match="gather_rows"):
        data.gather_rows(src, cuda.to_device(np.arange(4)), 0, 4, cuda.to_device(np.zeros((4, 2))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_input_rows_matches_cpu(dtype):
    """The device always gathers (it never reads the index on the host); the values are the CPU's, whose result is
    a view of src for consecutive rows and the gathered rows otherwise."""
    from nbkeras.kernels.cpu import data as cpu_data
    from numba import cuda

    rng = np.random.default_rng(1)
    src = (rng.normal(size=(7, 3)) * 10).astype(dtype)
    for index, start, stop in [(rng.permutation(7), 2, 6), (np.arange(7), 1, 5), (np.arange(7), 5, 7)]:
        index = index.astype(np.int64)
        want = cpu_data.input_rows(src, index, start, stop, np.zeros((4, 3), dtype))
        got = data.input_rows(cuda.to_device(src), cuda.to_device(index), start, stop,
                              cuda.to_device(np.zeros((4, 3), dtype)))
        np.testing.assert_array_equal(got.copy_to_host(), want)
