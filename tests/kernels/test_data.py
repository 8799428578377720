"""gather_rows against NumPy fancy indexing, and its bounds checks."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import strategies as S

from nbkeras.kernels.cpu import data

# int64 stands for token ids (Embedding inputs): gather_rows is not limited to floats.
DTYPES = [np.float32, np.float64, np.int64]
SENTINEL = 99


@st.composite
def gather_cases(draw):
    """(src, index, start, stop, spare): a batch [start, stop) of a shuffled or repeating index into src."""
    n = draw(S.dims(1, 8))
    src = draw(S.floats_array((n, draw(S.dims(0, 4))), -100.0, 100.0)).round()  # rounded: exact in int64 too
    shuffled = draw(st.booleans())
    if shuffled:
        index = draw(st.permutations(range(n)))
    else:
        index = draw(st.lists(st.integers(0, n - 1), min_size=0, max_size=10))
    index = np.array(index, np.int64)
    start = draw(st.integers(0, index.size))
    stop = draw(st.integers(start, index.size))
    spare = draw(st.integers(0, 2))  # extra rows in dst, as for the last partial batch
    return src, index, start, stop, spare


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=gather_cases())
def test_gather_rows_matches_fancy_indexing(dtype, case):
    src, index, start, stop, spare = case
    src = src.astype(dtype)
    src0, index0 = src.copy(), index.copy()
    dst = np.full((stop - start + spare, src.shape[1]), SENTINEL, dtype)
    data.gather_rows(src, index, start, stop, dst)
    assert dst.dtype == dtype
    np.testing.assert_array_equal(dst[: stop - start], src[index[start:stop]])
    assert np.all(dst[stop - start:] == SENTINEL), "rows past stop - start must be left alone"
    np.testing.assert_array_equal(src, src0)
    np.testing.assert_array_equal(index, index0)


def test_gather_rows_of_a_whole_epoch_in_batches():
    rng = np.random.default_rng(0)
    src = rng.standard_normal((10, 3)).astype(np.float32)
    perm = rng.permutation(10).astype(np.int64)
    dst = np.empty((4, 3), np.float32)
    seen = []
    for start in range(0, 10, 4):
        stop = min(start + 4, 10)
        data.gather_rows(src, perm, start, stop, dst)
        seen.append(dst[: stop - start].copy())
    np.testing.assert_array_equal(np.concatenate(seen), src[perm])


@pytest.mark.parametrize(
    "index, start, stop, rows, cols, message",
    [
        ([0, 3], 0, 2, 2, 2, "index values must lie in"),  # index == len(src)
        ([0, -1], 0, 2, 2, 2, "negative indices do not wrap"),
        ([0, 1], 1, 0, 2, 2, "start <= stop"),
        ([0, 1], 0, 3, 3, 2, "stop <= len"),
        ([0, 1], -1, 1, 2, 2, "0 <= start"),
        ([0, 1, 2], 0, 3, 2, 2, "dst has fewer rows"),
        ([0, 1], 0, 2, 2, 3, "same number of columns"),
    ],
)
def test_gather_rows_rejects_bad_input_without_writing(index, start, stop, rows, cols, message):
    src = np.arange(6, dtype=np.float64).reshape(3, 2)
    dst = np.full((rows, cols), SENTINEL, np.float64)
    with pytest.raises(ValueError, match=message):
        data.gather_rows(src, np.array(index, np.int64), start, stop, dst)
    assert np.all(dst == SENTINEL), "dst must be untouched when the call is rejected"


def test_gather_rows_checks_only_the_batch_it_copies():
    # Index values outside [start, stop) are not read, so a bad one there is not an error.
    src = np.arange(6, dtype=np.float64).reshape(3, 2)
    dst = np.zeros((1, 2))
    data.gather_rows(src, np.array([7, 2, -5], np.int64), 1, 2, dst)
    np.testing.assert_array_equal(dst, src[[2]])
