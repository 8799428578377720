"""Shape arithmetic for symbolic ops: broadcasting, the strides the elementwise kernels take, axes.

A symbolic tensor's shape has the batch dimension (None) first; every other dimension must be known, because a
tensor lives in a buffer of prod(shape[1:]) values per sample. The elementwise kernels see at most 5 axes: the
batch and 4 per-sample axes.
"""

import math

MAX_SAMPLE_RANK = 4

BATCH_AXIS_ERROR = "reductions over the batch axis are not supported in nbkeras's compiled graphs yet"


def check_known(op, shape):
    if any(d is None for d in shape[1:]):
        raise ValueError(f"ops.{op}: every dimension but the batch must be known in nbkeras's compiled graphs, "
                         f"got shape {tuple(shape)}")


def check_rank(op, shape):
    if len(shape) - 1 > MAX_SAMPLE_RANK:
        raise ValueError(f"ops.{op}: nbkeras's compiled graphs take tensors of at most {MAX_SAMPLE_RANK} dimensions "
                         f"besides the batch, got shape {tuple(shape)}")


def broadcast(op, shapes, batched):
    """The broadcast shape of operands ``shapes``; ``batched[i]`` says shapes[i] is a symbolic tensor's (batch
    first). Symbolic operands must have the output's rank (their batch axes line up); constants and weights
    broadcast against the per-sample axes, as NumPy would against a batch of any size."""
    rank = max(len(s) for s, b in zip(shapes, batched) if b)
    for s, b in zip(shapes, batched):
        if b and len(s) != rank:
            raise ValueError(f"ops.{op}: symbolic operands of different ranks {[tuple(x) for x in shapes]}: their "
                             f"batch axes would not line up; expand_dims or reshape one first")
        if not b and len(s) > rank:
            raise ValueError(f"ops.{op}: a constant operand of shape {tuple(s)} has more axes than the symbolic "
                             f"one ({rank}); it would broadcast over the batch axis")
        if not b and len(s) == rank and s[0] != 1:
            raise ValueError(f"ops.{op}: a constant operand of shape {tuple(s)} has a batch axis of size {s[0]}; "
                             f"constants must broadcast over the batch (size 1 or no batch axis)")
    out = [None]
    for k in range(1, rank):
        dims = set()
        for s, b in zip(shapes, batched):
            j = k - (rank - len(s))
            if j >= 0 and s[j] != 1:
                dims.add(s[j])
        if len(dims) > 1:
            raise ValueError(f"ops.{op}: shapes {[tuple(x) for x in shapes]} cannot be broadcast together "
                             f"(axis {k}: sizes {sorted(dims)})")
        out.append(dims.pop() if dims else 1)
    out = tuple(out)
    check_known(op, out)
    check_rank(op, out)
    return out


def padded_dims(out_shape):
    """(n1, n2, n3, n4): the per-sample dims left-padded with 1s to four."""
    dims = tuple(out_shape[1:])
    return (1,) * (MAX_SAMPLE_RANK - len(dims)) + dims


def strides(shape, batched, out_shape):
    """(s0, .., s4): an operand's element strides along the five kernel axes of ``out_shape`` (0 where it is
    broadcast). A symbolic operand's batch stride is its per-sample size; a constant's is 0."""
    rank = len(out_shape)
    own = list(shape[1:]) if batched else list(shape)
    if not batched and len(own) == rank:  # a leading batch axis of size 1
        own = own[1:]
    own = [1] * (rank - 1 - len(own)) + own  # aligned with out's per-sample axes
    contiguous = [0] * len(own)
    step = 1
    for k in range(len(own) - 1, -1, -1):
        contiguous[k] = step if own[k] != 1 else 0
        step *= own[k]
    batch = step if batched else 0
    return (batch,) + (0,) * (MAX_SAMPLE_RANK - len(own)) + tuple(contiguous)


def normalize_axis(op, axis, rank):
    """``axis`` (possibly negative) as an index into a rank-``rank`` shape."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        try:
            axis = int(axis)
        except (TypeError, ValueError):
            raise TypeError(f"ops.{op}: axis must be an int, got {axis!r}") from None
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        raise ValueError(f"ops.{op}: axis {axis} is out of bounds for a tensor of rank {rank}")
    return a


def sample_axes(op, axis, rank, what=BATCH_AXIS_ERROR):
    """Sorted per-sample axes from Keras's ``axis`` (None, int or a sequence); the batch axis raises."""
    if axis is None:
        raise ValueError(f"ops.{op}: {what} (axis=None includes it); pass the per-sample axes, e.g. axis=-1")
    axes = [axis] if isinstance(axis, int) or not hasattr(axis, "__iter__") else list(axis)
    axes = sorted({normalize_axis(op, a, rank) for a in axes})
    if 0 in axes:
        raise ValueError(f"ops.{op}: {what} (axis {axis} is the batch axis)")
    return axes


def around(shape, axes):
    """(outer, n, inner) per sample for a run of adjacent ``axes`` of ``shape`` (batch first)."""
    dims = shape[1:]
    lo, hi = axes[0] - 1, axes[-1] - 1
    return math.prod(dims[:lo]), math.prod(dims[lo:hi + 1]), math.prod(dims[hi + 1:])


def permutation_to_end(rank, axes):
    """Per-sample permutation (0-based, batch excluded) that moves ``axes`` to the end, keeping order."""
    kept = [k for k in range(1, rank) if k not in axes]
    return [k - 1 for k in kept + list(axes)]


def permute_args(sample_shape, perm):
    """The 8 scalars (d0..d3, p0..p3) of shape_ops.permute_forward for a per-sample shape and permutation."""
    pad = MAX_SAMPLE_RANK - len(sample_shape)
    dims = (1,) * pad + tuple(sample_shape)
    full = tuple(range(pad)) + tuple(p + pad for p in perm)
    return dims + full
