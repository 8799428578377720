"""kernels/cuda/embedding.py against kernels/cpu/embedding.py, and what the device does with a bad index."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import embedding
from numba import cuda
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]


def ids(dtype, n, vocab, rng):
    return rng.integers(0, vocab, n).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", ["same", np.int64, np.int32])
def test_embedding_forward_matches_cpu(dtype, index_dtype):
    rng = np.random.default_rng(0)
    idx = ids(dtype if index_dtype == "same" else index_dtype, 9, 5, rng)
    table, out = arrays(rng, dtype, (5, 3), (9, 3))
    check_twin("embedding.embedding_forward", idx, table, out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("accumulate", [True, False])
@pytest.mark.parametrize("index_dtype", ["same", np.int64])
def test_embedding_backward_matches_cpu(dtype, accumulate, index_dtype):
    rng = np.random.default_rng(1)
    idx = ids(dtype if index_dtype == "same" else index_dtype, 12, 4, rng)  # repeats: sums per row; some unused
    idx[:3] = 2
    dy, dtable = arrays(rng, dtype, (12, 3), (6, 3))
    check_twin("embedding.embedding_backward", idx, dy, dtable, accumulate)
    check_twin("embedding.embedding_backward", idx[:0], dy[:0], dtable, accumulate)


def test_bad_index_values_stay_inside_the_table():
    d = cuda.to_device
    table = np.arange(6.0).reshape(3, 2)
    out = d(np.full((4, 2), 7.0))
    embedding.embedding_forward(d(np.array([1.0, 3.0, np.nan, 0.5])), d(table), out)
    np.testing.assert_array_equal(out.copy_to_host(), [[2, 3], [0, 0], [0, 0], [0, 0]])
    dtable = d(np.ones((3, 2)))
    embedding.embedding_backward(d(np.array([-1, 2, 3, 2])), d(np.ones((4, 2))), dtable, True)
    np.testing.assert_array_equal(dtable.copy_to_host(), [[1, 1], [1, 1], [3, 3]])


def test_bad_shapes_raise():
    d = cuda.to_device
    with pytest.raises(ValueError, match="embedding_forward"):
        embedding.embedding_forward(d(np.zeros((2, 2))), d(np.zeros((3, 2))), d(np.zeros((4, 2))))
    with pytest.raises(ValueError, match="embedding_forward"):
        embedding.embedding_forward(d(np.zeros(4)), d(np.zeros((3, 2))), d(np.zeros((4, 3))))
    with pytest.raises(ValueError, match="embedding_backward"):
        embedding.embedding_backward(d(np.zeros(4)), d(np.zeros((3, 2))), d(np.zeros((3, 2))), False)
    with pytest.raises(ValueError, match="embedding_backward"):
        embedding.embedding_backward(d(np.zeros(4)), d(np.zeros(8)), d(np.zeros((3, 2))), False)
