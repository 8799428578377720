"""Shared hypothesis strategies for kernel tests.

Values come out as float64 arrays rounded to float32 (so the same inputs serve the float64 gradient check and the
float32 agreement check) and, where asked, kept at least ``margin`` away from kinks and ties.
"""

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

SMALL = st.integers(1, 5)


def dims(min_side=1, max_side=5):
    return st.integers(min_side, max_side)


def shapes(min_dims=1, max_dims=3, min_side=1, max_side=5):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def as_f32_representable(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def floats_array(shape, lo=-3.0, hi=3.0, avoid=(), margin=1e-2):
    """float64 array of float32-representable values in [lo, hi], at least ``margin`` from each of ``avoid``."""
    # hypothesis needs float32 bounds for width=32: round them inward so every value stays inside [lo, hi].
    lo32, hi32 = np.float32(lo), np.float32(hi)
    lo32 = lo32 if lo32 >= lo else np.nextafter(lo32, np.float32(np.inf))
    hi32 = hi32 if hi32 <= hi else np.nextafter(hi32, np.float32(-np.inf))
    elements = st.floats(float(lo32), float(hi32), allow_nan=False, allow_infinity=False, width=32)
    if avoid:
        elements = elements.filter(lambda v: all(abs(v - k) >= margin for k in avoid))
    return hnp.arrays(np.float64, shape, elements=elements)


def no_ties(a, axis=-1, margin=1e-2):
    """assume() that no two entries along ``axis`` are within ``margin`` (argmax/max stay put under +-h)."""
    s = np.sort(a, axis=axis)
    assume(a.shape[axis] < 2 or bool(np.all(np.diff(s, axis=axis) >= margin)))
    return a


@st.composite
def matrices(draw, rows=dims(), cols=dims(), lo=-3.0, hi=3.0, avoid=(), margin=1e-2):
    r, c = draw(rows), draw(cols)
    return draw(floats_array((r, c), lo, hi, avoid, margin))


@st.composite
def probabilities(draw, rows=dims(), cols=dims(2, 5), lo=0.05):
    """Rows of a probability simplex with every entry >= lo (away from the 1e-7 clip)."""
    r, c = draw(rows), draw(cols)
    raw = draw(floats_array((r, c), lo, 1.0))
    return as_f32_representable(raw / raw.sum(axis=1, keepdims=True))


@st.composite
def one_hot(draw, rows, cols):
    labels = draw(hnp.arrays(np.int64, (rows,), elements=st.integers(0, cols - 1)))
    out = np.zeros((rows, cols), np.float64)
    out[np.arange(rows), labels] = 1.0
    return out


def seeds():
    return st.integers(0, 2**32 - 1)


@st.composite
def class_labels(draw, rows, cols):
    """(rows,) float64 array of integral class indices in [0, cols): sparse labels as kernels take them."""
    return draw(hnp.arrays(np.int64, (rows,), elements=st.integers(0, cols - 1))).astype(np.float64)


#: Values that tie often: exact repeats test first-index argmax and count-ties-in-favour top-k rules.
TIE_LEVELS = (-1.0, 0.0, 0.25, 0.5, 1.0)


@st.composite
def tie_prone_matrices(draw, rows=dims(), cols=dims(), levels=TIE_LEVELS, nan=False):
    """(rows, cols) float64 array, float32-representable, mixing a few repeated levels (ties in most rows) with
    arbitrary values in [-3, 3]; with ``nan=True`` some entries are NaN."""
    r, c = draw(rows), draw(cols)
    choices = [st.sampled_from(levels), st.floats(-3.0, 3.0, allow_nan=False, width=32)]
    if nan:
        choices.append(st.just(float("nan")))
    return draw(hnp.arrays(np.float64, (r, c), elements=st.one_of(*choices)))


@st.composite
def vectors(draw, size=dims(1, 16), lo=-3.0, hi=3.0, avoid=(), margin=1e-2):
    """1-D float64 array (float32-representable) of drawn length, values as in ``floats_array``."""
    return draw(floats_array((draw(size),), lo, hi, avoid, margin))
