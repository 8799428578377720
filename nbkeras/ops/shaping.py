"""Ops that move values: reshape, transpose, expand_dims, squeeze, concatenate, stack, split, slicing
(``KerasTensor.__getitem__``), take, take_along_axis and one_hot. The batch axis of a symbolic tensor stays
first: an op that would move, merge or index it raises."""

import math

import numpy as np

from .. import backend
from ..layers.base import KerasTensor
from . import op_layers as L
from . import shapes as S
from .elementwise import as_array


def _batch_error(op, what):
    return ValueError(f"ops.{op}: {what} would change the batch axis, which nbkeras's compiled graphs keep first "
                      f"and whole")


def reshape(x, newshape):
    """Keras's ops.reshape. Symbolic: the first entry is the batch (None or -1); one other entry may be -1."""
    if not isinstance(x, KerasTensor):
        return np.reshape(as_array(x), newshape)
    newshape = (newshape,) if isinstance(newshape, int) else tuple(newshape)
    if not newshape or newshape[0] not in (None, -1):
        raise _batch_error("reshape", f"newshape {newshape} (its first entry must be None or -1, the batch)")
    rest = [int(d) if d is not None else -1 for d in newshape[1:]]
    width = math.prod(x.shape[1:])
    if rest.count(-1) > 1:
        raise ValueError(f"ops.reshape: at most one per-sample -1 in newshape {newshape}")
    known = math.prod(d for d in rest if d != -1)
    if -1 in rest:
        if known == 0 or width % known:
            raise ValueError(f"ops.reshape: cannot reshape {x.shape} into {newshape}")
        rest[rest.index(-1)] = width // known
    if math.prod(rest) != width:
        raise ValueError(f"ops.reshape: cannot reshape {x.shape} ({width} values per sample) into {newshape}")
    return L.record(L.AliasOp("reshape", x, (None,) + tuple(rest)))


def ravel(x):
    if not isinstance(x, KerasTensor):
        return np.ravel(as_array(x))
    raise _batch_error("ravel", "flattening everything")


def expand_dims(x, axis):
    if not isinstance(x, KerasTensor):
        return np.expand_dims(as_array(x), axis)
    axes = [axis] if isinstance(axis, int) else list(axis)
    rank = len(x.shape) + len(axes)
    axes = sorted(S.normalize_axis("expand_dims", a, rank) for a in axes)
    if 0 in axes:
        raise _batch_error("expand_dims", "a new axis 0")
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return L.record(L.AliasOp("expand_dims", x, tuple(shape)))


def squeeze(x, axis=None):
    if not isinstance(x, KerasTensor):
        return np.squeeze(as_array(x), axis=tuple(axis) if isinstance(axis, list) else axis)
    if axis is None:
        axes = [k for k in range(1, len(x.shape)) if x.shape[k] == 1]
    else:
        axes = [S.normalize_axis("squeeze", a, len(x.shape)) for a in ([axis] if isinstance(axis, int) else axis)]
        if 0 in axes:
            raise _batch_error("squeeze", "squeezing axis 0")
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"ops.squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, not 1")
    shape = tuple(d for k, d in enumerate(x.shape) if k not in axes)
    return L.record(L.AliasOp("squeeze", x, shape))


def transpose(x, axes=None):
    if not isinstance(x, KerasTensor):
        return np.transpose(as_array(x), axes)
    rank = len(x.shape)
    if axes is None:
        raise _batch_error("transpose", "axes=None (reversing every axis)")
    perm = [S.normalize_axis("transpose", a, rank) for a in axes]
    if sorted(perm) != list(range(rank)):
        raise ValueError(f"ops.transpose: axes {axes} is not a permutation of {rank} axes")
    if perm[0] != 0:
        raise _batch_error("transpose", f"axes {tuple(axes)}")
    if perm == list(range(rank)):
        return L.record(L.AliasOp("transpose", x, x.shape))
    return L.record(L.TransposeOp(x, perm))


def concatenate(xs, axis=0):
    """Keras's ops.concatenate (axis=0 by default, as Keras; a symbolic call needs a per-sample axis)."""
    xs = list(xs)
    if not any(isinstance(t, KerasTensor) for t in xs):
        return np.concatenate([as_array(t) for t in xs], axis=axis)
    return L.record(L.ConcatenateOp(xs, axis))


def stack(x, axis=0):
    xs = list(x)
    if not any(isinstance(t, KerasTensor) for t in xs):
        return np.stack([as_array(t) for t in xs], axis=axis)
    return concatenate([expand_dims(t, axis) for t in xs], axis=axis)


def split(x, indices_or_sections, axis=0):
    """Keras's ops.split: equal sections (an int) or cut points (a list); returns a list."""
    if not isinstance(x, KerasTensor):
        return np.split(as_array(x), indices_or_sections, axis=axis)
    a = S.normalize_axis("split", axis, len(x.shape))
    if a == 0:
        raise _batch_error("split", "splitting axis 0")
    n = x.shape[a]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"ops.split: axis {axis} of size {n} cannot be split into {k} equal sections")
        sizes = [n // k] * k
    else:
        cuts = [0] + [int(c) for c in indices_or_sections] + [n]
        if any(c0 > c1 for c0, c1 in zip(cuts, cuts[1:])) or cuts[-2] > n:
            raise ValueError(f"ops.split: cut points {indices_or_sections} must increase within [0, {n}]")
        sizes = [c1 - c0 for c0, c1 in zip(cuts, cuts[1:])]
    if len(sizes) == 1:
        return [L.record(L.AliasOp("split", x, x.shape))]
    return L.record(L.SplitOp(x, sizes, a))


# ------------------------------------------------------------------------------------------ indexing
def _is_int(k):
    return isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))


def getitem(x, key):
    """``x[key]`` for basic indexing: slices, integers, None and Ellipsis. Symbolic: the batch axis takes ``:``."""
    if not isinstance(x, KerasTensor):
        return as_array(x)[key]
    key = key if isinstance(key, tuple) else (key,)
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    rank = len(x.shape)
    real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if real > rank:
        raise IndexError(f"too many indices for a tensor of shape {x.shape}")
    at = next((i for i, k in enumerate(key) if k is Ellipsis), None)  # `in` would compare arrays elementwise
    if at is not None:
        key = key[:at] + (slice(None),) * (rank - real) + key[at + 1:]
    else:
        key = key + (slice(None),) * (rank - real)
    axis, plan, out = 0, [], []
    for k in key:
        if k is None:
            if axis == 0:
                raise _batch_error("getitem", "a new axis before the batch")
            out.append(1)
            continue
        if axis == 0:
            if not (isinstance(k, slice) and k == slice(None)):
                raise _batch_error("getitem", f"indexing the batch axis with {k!r} (use `:` there)")
            out.append(None)
        elif isinstance(k, slice):
            start, stop, step = k.indices(x.shape[axis])
            count = len(range(start, stop, step))
            plan.append((start if count else 0, step, count))
            out.append(count)
        elif _is_int(k):
            d = x.shape[axis]
            i = int(k) + d if k < 0 else int(k)
            if not 0 <= i < d:
                raise IndexError(f"index {k} is out of bounds for axis {axis} with size {d}")
            plan.append((i, 1, 1))
        else:
            raise TypeError(f"nbkeras symbolic tensors take basic indices (slices, integers, None, ...), got "
                            f"{type(k).__name__}; use ops.take or ops.take_along_axis to gather")
        axis += 1
    if all(p == (0, 1, d) for p, d in zip(plan, x.shape[1:])):
        return L.record(L.AliasOp("getitem", x, tuple(out)))
    return L.record(L.SliceOp(x, plan, tuple(out)))


def take(x, indices, axis=None):
    """Keras's ops.take: x gathered at integer ``indices`` along ``axis`` (x flattened when axis is None)."""
    if not isinstance(x, KerasTensor) and not isinstance(indices, KerasTensor):
        return np.take(as_array(x), np.asarray(indices).astype(np.int64), axis=axis)
    if not isinstance(indices, KerasTensor):
        idx = np.asarray(indices)
        if idx.dtype.kind not in "iub" and not np.array_equal(idx, np.round(idx)):
            raise ValueError("ops.take: indices must be integers")
        a = S.normalize_axis("take", axis, len(x.shape)) if axis is not None else None
        if a is not None and idx.size and not (-x.shape[a] <= idx.min() and idx.max() < x.shape[a]):
            raise IndexError(f"ops.take: indices out of range for axis {axis} of size {x.shape[a]}")
        indices = idx.astype(backend.floatx())
    return L.record(L.TakeOp(x, indices, axis))


def take_along_axis(x, indices, axis=None):
    if not isinstance(x, KerasTensor) and not isinstance(indices, KerasTensor):
        return np.take_along_axis(as_array(x), np.asarray(indices).astype(np.int64), axis=axis)
    if axis is None:
        raise _batch_error("take_along_axis", "axis=None (flattening)")
    return L.record(L.TakeAlongAxisOp(x, indices, axis))


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """Keras's ops.one_hot: ids outside [0, num_classes) give all-zero vectors."""
    if sparse:
        raise ValueError("ops.one_hot: sparse=True is not supported by nbkeras")
    if not isinstance(x, KerasTensor):
        ids = as_array(x).astype(np.int64)
        eye = np.eye(num_classes, dtype=np.dtype(dtype or backend.floatx()))
        out = np.where(((ids >= 0) & (ids < num_classes))[..., None], eye[np.clip(ids, 0, num_classes - 1)], 0)
        out = out.astype(eye.dtype)
        return np.moveaxis(out, -1, axis) if axis != -1 else out
    return L.record(L.OneHotOp(x, num_classes, axis, dtype=None if dtype is None else np.dtype(dtype).name))
