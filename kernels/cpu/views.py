"""Views into flat arenas, as functions: a generated train step builds its buffers with these calls.

Slicing and reshaping inline in a generated function costs numba 4x more compile time than calling a compiled
helper (measured: 30 inline ``a[o:o + r * c].reshape(r, c)`` views compiled in 4.2 s, the same views through
``rows`` in 1.1 s), and a step creates dozens of views. Each helper returns a view, never a copy.
"""

from ..policy import kernel


@kernel
def flat(arena, offset, size):
    """arena[offset:offset + size] (1-D)."""
    return arena[offset:offset + size]


@kernel
def rows(arena, offset, nrows, ncols):
    """arena[offset:offset + nrows * ncols] as an (nrows, ncols) matrix."""
    return arena[offset:offset + nrows * ncols].reshape(nrows, ncols)


@kernel
def cube(arena, offset, outer, n, inner):
    """arena[offset:offset + outer * n * inner] as (outer, n, inner): the view the axis kernels (softmax) take."""
    return arena[offset:offset + outer * n * inner].reshape(outer, n, inner)


@kernel
def row_range(matrix, start, stop):
    """matrix[start:stop] flattened: the rows of a C-contiguous matrix that one batch writes."""
    return matrix[start:stop].reshape(-1)


@kernel
def quad(arena, offset, outer, d1, d2, d3):
    """arena[offset:offset + outer * d1 * d2 * d3] as (outer, d1, d2, d3): images (batch, height, width, channels)
    and convolution kernels (kh, kw, in, out)."""
    return arena[offset:offset + outer * d1 * d2 * d3].reshape(outer, d1, d2, d3)
