"""Data adapters: NumPy arrays, lists and dicts in; contiguous 2-D float arrays out, validated at the boundary.

Everything here runs once per fit/evaluate/predict call (never per batch): inputs become ``(n, features)`` arrays of
the model's dtype, targets become ``(n, width)`` arrays laid out for their loss (labels for sparse losses, values
otherwise), sample weights ``(n, rows_per_sample)``. Bad input raises ValueError/TypeError naming the argument,
before any compiled code runs.
"""

import math
import numbers

import numpy as np

from ..errors import DataTypeError


class Prepared:
    """Validated arrays for one call (or one generator batch): inputs, targets and sample weights as contiguous
    2-D arrays, with the plan and engine they were laid out for (captured together, so a concurrent call that
    rebuilds the model's plan cannot mix them)."""

    def __init__(self, xs, ys, sws, plan=None, engine=None):
        self.xs, self.ys, self.sws = tuple(xs), tuple(ys), tuple(sws)
        self.n = self.xs[0].shape[0]
        self.plan, self.engine = plan, engine

    def take(self, start, stop):
        def cut(arrays):
            return tuple(np.ascontiguousarray(a[start:stop]) if a.shape != (0, 0) else a for a in arrays)

        return Prepared(cut(self.xs), cut(self.ys), cut(self.sws), self.plan, self.engine)

    def with_weights(self, sws):
        return Prepared(self.xs, self.ys, sws, self.plan, self.engine)


def _to_array(value, what):
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise DataTypeError(f"`{what}` could not be converted to an array: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise DataTypeError(f"`{what}` must hold numbers; got an array of dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"`{what}` must have a batch dimension; got a scalar")
    if arr.shape[0] == 0:
        raise ValueError(f"Expected input data to be non-empty: `{what}` has 0 samples")
    return arr


def _is_sequence_of_arrays(value):
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(
        hasattr(v, "shape") or isinstance(v, (list, tuple)) for v in value)


def flatten_struct(value, names, what):
    """Values for each of ``names`` from a dict (by name), a list/tuple (in order) or a single array."""
    n = len(names)
    if isinstance(value, dict):
        missing = [k for k in names if k not in value]
        unknown = [k for k in value if k not in names]
        if unknown or (missing and n > 1):
            raise ValueError(f"`{what}` dict keys {sorted(value)} do not match the model's names {list(names)}")
        if missing:  # one-entry model: accept any single key
            if len(value) != 1:
                raise ValueError(f"`{what}` dict must have the key {names[0]!r}")
            return [next(iter(value.values()))]
        return [value[k] for k in names]
    if n > 1:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"The model has {n} {what.rstrip('s')}s; `{what}` must be a list or dict of {n} arrays")
        if len(value) != n:
            raise ValueError(f"The model expects {n} arrays for `{what}`, but received {len(value)}")
        return list(value)
    if isinstance(value, (list, tuple)) and len(value) == 1 and _is_sequence_of_arrays(value) and \
            hasattr(value[0], "shape"):
        return [value[0]]
    return [value]


def as_inputs(model, x, dtype):
    """List of (n, features) arrays in the order of model.inputs, checked against the input shapes."""
    if x is None:
        raise ValueError("`x` is required (got None)")
    arrays = flatten_struct(x, model.input_names, "x")
    out = []
    for arr, t, name in zip(arrays, model.inputs, model.input_names):
        arr = _to_array(arr, "x")
        want = tuple(t.shape[1:])
        if arr.ndim != len(want) + 1 or any(w is not None and w != a for w, a in zip(want, arr.shape[1:])):
            raise ValueError(f"Input {name!r} expects arrays of shape (batch,) + {want}; `x` has shape {arr.shape}")
        if any(w is None for w in want):
            raise ValueError(f"Input {name!r} has a shape with unknown dimensions {want}: nbkeras needs fully "
                             f"defined input shapes")
        _check_values(model, t, arr)
        out.append(np.ascontiguousarray(arr.reshape(arr.shape[0], -1), dtype=dtype))
    return out


def _check_values(model, tensor, arr):
    """Let the layers an input feeds check its values before any compiled code runs (Embedding: integer ids in
    range)."""
    for node in getattr(model, "_nodes", ()):
        for i, t in enumerate(node.inputs):
            if t is tensor and hasattr(node.layer, "check_input_values"):
                node.layer.check_input_values(i, arr)


def y_shapes(model, y):
    """Per-output shapes of the targets (for resolving 'accuracy' and friends), or None per missing output."""
    if y is None:
        return [None] * len(model.outputs)
    return [None if a is None else np.shape(_to_array(a, "y")) for a in flatten_struct(y, model.output_names, "y")]


def as_targets(model, outs, y, dtype):
    """Targets laid out per OutputPlan: labels (n, rows) for sparse losses, values (n, rows * last_dim) else."""
    arrays = flatten_struct(y, model.output_names, "y")
    result = []
    for op, arr in zip(outs, arrays):
        if arr is None:
            if op.loss is not None or op.metrics:
                raise ValueError(f"Output {op.name!r} has a loss or metrics but no target in `y`")
            result.append(np.zeros((0, 0), dtype))
            op.sparse_y, op.y_width = False, 0
            continue
        arr = _to_array(arr, "y")
        result.append(_layout_target(op, arr, dtype))
    return result


def _layout_target(op, arr, dtype):
    wants_sparse = ({op.loss_spec.sparse} if op.loss_spec is not None else set()) | {
        m.sparse for m in op.metrics if m.sparse is not None}
    if len(wants_sparse) > 1:
        raise ValueError(f"Output {op.name!r}: the loss and metrics disagree on the target format (sparse labels "
                         f"vs one value per unit); check `loss` and `metrics`")
    sparse = wants_sparse.pop() if wants_sparse else False
    n = arr.shape[0]
    per_sample = int(np.prod(arr.shape[1:])) if arr.ndim > 1 else 1
    op.y_shape = tuple(arr.shape[1:])
    readers = ([op.loss_spec.traced] if op.loss_spec is not None else []) + [
        m.custom or (not m.stateful and m.spec.traced) for m in op.metrics]
    if readers and all(readers):
        # Only functions written with keras.ops read these targets: they see y as the user gave it.
        values = np.ascontiguousarray(arr.reshape(n, -1), dtype=dtype)
        op.sparse_y, op.y_width = False, values.shape[1]
        return values
    if sparse:
        if per_sample != op.rows_per_sample:
            raise ValueError(f"Output {op.name!r}: sparse labels must have shape (batch,) + {_shape_of(op)[:-1]} "
                             f"(optionally with a trailing 1), got `y` of shape {arr.shape}")
        labels = arr.reshape(n, -1).astype(np.float64)
        bad = ~np.isfinite(labels) | (labels != np.floor(labels)) | (labels < 0) | (labels >= op.last_dim)
        if np.any(bad):
            v = labels[bad][0]
            raise ValueError(f"Output {op.name!r}: `y` must hold integer class labels in [0, {op.last_dim}) for "
                             f"{op.loss.name if op.loss else 'its metrics'}; found {v!r}")
        op.sparse_y, op.y_width = True, op.rows_per_sample
        return np.ascontiguousarray(labels, dtype=dtype)
    if per_sample != op.rows_per_sample * op.last_dim:
        raise ValueError(f"Output {op.name!r}: `y` must have shape (batch,) + {_shape_of(op)} to match the model "
                         f"output; got {arr.shape}")
    if arr.ndim > 1 and arr.shape[1:] != _shape_of(op) and not (arr.shape[1:] + (1,) == _shape_of(op) or
                                                                   arr.shape[1:] == _shape_of(op) + (1,)):
        raise ValueError(f"Output {op.name!r}: `y` must have shape (batch,) + {_shape_of(op)}; got {arr.shape}")
    values = np.ascontiguousarray(arr.reshape(n, -1), dtype=dtype)
    if op.loss is not None and _is_classification(op.loss_spec.kernel):
        if np.any(np.isnan(values)):
            raise ValueError(f"Output {op.name!r}: `y` contains NaN; {op.loss.name} needs labels in [0, 1]")
        if op.loss_spec.kernel in ("binary_crossentropy", "categorical_crossentropy") and (
                np.any(values < 0) or np.any(values > 1)):
            raise ValueError(f"Output {op.name!r}: {op.loss.name} needs `y` values in [0, 1]; found values in "
                             f"[{values.min()}, {values.max()}]")
    op.sparse_y, op.y_width = False, values.shape[1]
    return values


def _shape_of(op):
    return tuple(op.y_pred_shape[1:])


def _is_classification(kernel):
    return kernel in ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
                      "hinge", "squared_hinge", "categorical_hinge")


def as_sample_weights(model, outs, sample_weight, n, dtype):
    """(n, rows_per_sample) weights per output, or (0, 0) arrays where none are given.

    Per-sample weights (n,) apply to every position of a sequence output; (n, timesteps) weights are Keras 2's
    sample_weight_mode="temporal", which Keras 3 accepts without the mode, as we do.
    """
    names = model.output_names
    if sample_weight is None:
        return [np.zeros((0, 0), dtype) for _ in outs]
    if isinstance(sample_weight, dict):
        arrays = [sample_weight.get(name) for name in names]
        unknown = set(sample_weight) - set(names)
        if unknown:
            raise ValueError(f"`sample_weight` has keys {sorted(unknown)} that are not model outputs {names}")
    elif isinstance(sample_weight, (list, tuple)) and len(names) > 1:
        if len(sample_weight) != len(names):
            raise ValueError(f"`sample_weight` must have one array per output ({len(names)}), got "
                             f"{len(sample_weight)}")
        arrays = list(sample_weight)
    else:
        # One array: applied to every output, as Keras repeats a single sample_weight across outputs.
        arrays = [sample_weight] * len(names)
    out = []
    for op, w in zip(outs, arrays):
        if w is None:
            out.append(np.zeros((0, 0), dtype))
            continue
        w = _to_array(w, "sample_weight").astype(np.float64)
        if w.shape[0] != n:
            raise ValueError(f"`sample_weight` has {w.shape[0]} entries but the data has {n} samples")
        if not np.all(np.isfinite(w)):
            raise ValueError("`sample_weight` must be finite")
        if w.ndim > 1 and w.shape[-1] == 1 and w.ndim > 2:
            w = w.reshape(w.shape[:-1])
        if w.ndim == 1 or (w.ndim == 2 and w.shape[1] == 1):
            full = np.repeat(w.reshape(n, 1), op.rows_per_sample, axis=1)
        elif int(np.prod(w.shape[1:])) == op.rows_per_sample:
            full = w.reshape(n, -1)
        else:
            raise ValueError(f"`sample_weight` of shape {w.shape} does not fit output {op.name!r}: expected (n,) or "
                             f"(n, {op.rows_per_sample}) for temporal weights")
        out.append(np.ascontiguousarray(full, dtype=dtype))
    return out


def class_weights_to_sample_weights(class_weight, y_arrays, outs, n):
    """Keras's class_weight: per-sample weights from int labels (argmax of one-hot, a trailing 1 squeezed);
    missing classes weigh 1.0; single-output models only."""
    if not isinstance(class_weight, dict):
        raise ValueError(f"`class_weight` must be a dict mapping class index to weight, got {type(class_weight)}")
    if len(outs) != 1:
        raise ValueError("`class_weight` is only supported for Models with a single output.")
    op = outs[0]
    y = y_arrays[0]
    if op.sparse_y:
        labels = y.reshape(n, -1)
    elif op.last_dim > 1:
        labels = y.reshape(n, -1, op.last_dim).argmax(axis=-1)
    else:
        labels = np.round(y.reshape(n, -1))
    num_classes = max(op.last_dim, 2)
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, numbers.Integral) or not 0 <= key < num_classes:
            raise ValueError(f"`class_weight` key {key!r} is not a class index in [0, {num_classes})")
        if not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"`class_weight` value for class {key} must be a finite number, got {value!r}")
    lookup = np.ones(num_classes, np.float64)
    for key, value in class_weight.items():
        lookup[int(key)] = float(value)
    return lookup[labels.astype(np.int64)].reshape(n, -1)


def check_lengths(xs, ys, sws):
    sizes = {("x", a.shape[0]) for a in xs}
    sizes |= {("y", a.shape[0]) for a in ys if a.shape != (0, 0)}
    sizes |= {("sample_weight", a.shape[0]) for a in sws if a.shape != (0, 0)}
    counts = {s for _, s in sizes}
    if len(counts) > 1:
        detail = ", ".join(f"{k} sizes: {sorted({s for kk, s in sizes if kk == k})}" for k in
                           ("x", "y", "sample_weight") if any(kk == k for kk, _ in sizes))
        raise ValueError(f"Data cardinality is ambiguous. Make sure all arrays contain the same number of samples. "
                         f"{detail}")
    n = counts.pop()
    if n == 0:
        raise ValueError("Expected input data to be non-empty (got 0 samples)")
    return n


def split_validation(arrays, validation_split):
    """Keras's validation_split: the last floor(n * split) samples (before shuffling) become validation data."""
    n = arrays[0].shape[0]
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"Training data contains {n} samples, which is not sufficient to split it into a validation "
                         f"and training set as specified by `validation_split={validation_split}`. Either provide "
                         f"more data, or a different value for the `validation_split` argument.")
    return split_at


def unpack_validation_data(validation_data):
    """(x, y, sample_weight) from Keras's 2- and 3-tuples."""
    if isinstance(validation_data, (list, tuple)):
        if len(validation_data) == 2:
            return validation_data[0], validation_data[1], None
        if len(validation_data) == 3:
            return tuple(validation_data)
    raise ValueError("`validation_data` should be a tuple `(val_x, val_y, val_sample_weight)` or `(val_x, val_y)`. "
                     f"Found: {type(validation_data).__name__}")
