"""Keras 3's weights layout in HDF5 (``model.weights.h5`` inside a ``.keras`` zip, and ``.weights.h5`` files).

Keras addresses a layer by its class, not its name: the layers of a model are groups
``layers/<snake_case class>`` numbered per class in ``model.layers`` order (``dense``, ``dense_1``, ...; Keras's
``_get_unique_name``), a nested model's layers sit under its own group (``layers/sequential/layers/dense``), and
each object's variables are datasets ``<path>/vars/0``, ``1``, ... in its ``weights`` order (trainable-created
first), the group carrying the object's name as attribute ``name``. The model's own (empty) group is ``vars`` and
the optimizer's state is ``optimizer/vars`` (see ``optimizer_state``).

Loading checks every count and shape before writing any weight: a mismatch raises ValueError and leaves the
model as it was (``skip_mismatch=True`` skips the mismatched layers with a warning instead, as Keras does).
"""

import io
import warnings

import numpy as np

from . import optimizer_state
from .file_io import import_h5py
from .serialization import to_snake_case


def _class_key(obj):
    from ..models.functional import Model
    from ..models.sequential import Sequential

    cls = type(obj)
    if cls is Model:
        return "functional"  # Keras's class for Model(inputs, outputs)
    if cls is Sequential:
        return "sequential"
    return to_snake_case(cls.__name__)


def walk(model, path=""):
    """(group path, object, variables) for the model and, recursively, its layers, in Keras's order."""
    yield path, model, []
    used, seen = {}, set()
    for layer in model.layers:
        key = _class_key(layer)
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield from _walk_layer(layer, f"{path}/layers/{key}" if path else f"layers/{key}")


class _Cell:
    """Stands for the cell object of a Keras RNN layer, which owns the variables in Keras's files."""

    def __init__(self, name):
        self.name = name


def _walk_layer(layer, path):
    """Where Keras keeps a layer's variables: RNN layers in their ``cell``, wrappers in their inner layers
    (``Bidirectional``: ``backward_layer`` then ``forward_layer``, Keras's alphabetical walk; ``TimeDistributed``:
    ``layer``), nested models under their own ``layers``."""
    from ..layers import GRU, LSTM, Bidirectional, SimpleRNN, TimeDistributed
    from ..models.functional import Model

    if isinstance(layer, Model):
        yield from walk(layer, path)
    elif isinstance(layer, Bidirectional):
        yield path, layer, []
        yield from _walk_layer(layer.backward_layer, f"{path}/backward_layer")
        yield from _walk_layer(layer.forward_layer, f"{path}/forward_layer")
    elif isinstance(layer, TimeDistributed):
        yield path, layer, []
        yield from _walk_layer(layer.layer, f"{path}/layer")
    elif isinstance(layer, (SimpleRNN, LSTM, GRU)):
        yield path, layer, []
        yield f"{path}/cell", _Cell(f"{to_snake_case(type(layer).__name__)}_cell"), layer.weights
    else:
        yield path, layer, layer.weights


def _vars_path(path):
    return f"{path}/vars" if path else "vars"


# -------------------------------------------------------------------------------------------------- write
def write_h5(model, target, include_optimizer=True):
    """Write the model's weights (and its optimizer's state) to ``target`` (a path or a binary file object)."""
    h5py = import_h5py()
    with h5py.File(target, "w") as f:
        for path, obj, variables in walk(model):
            group = f.create_group(_vars_path(path))
            group.attrs["name"] = obj.name
            for i, var in enumerate(variables):
                group.create_dataset(str(i), data=np.asarray(var.value))
        opt = getattr(model, "optimizer", None)
        if include_optimizer and opt is not None:
            group = f.create_group("optimizer/vars")
            group.attrs["name"] = opt.name
            for i, value in enumerate(optimizer_state.get_state(model)):
                group.create_dataset(str(i), data=value)


def h5_bytes(model, include_optimizer=True):
    buf = io.BytesIO()
    write_h5(model, buf, include_optimizer)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------- read
def _read_group(group, where):
    """The arrays of a ``vars`` group in index order; only numeric datasets are read (no objects, no pickles)."""
    h5py = import_h5py()
    keys = list(group.keys())
    if sorted(keys, key=lambda k: (len(k), k)) != [str(i) for i in range(len(keys))]:
        raise ValueError(f"{where}: unexpected entries {keys} (expected datasets 0..{len(keys) - 1})")
    out = []
    for i in range(len(keys)):
        ds = group[str(i)]
        if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "biuf":
            raise ValueError(f"{where}/{i}: not a numeric dataset")
        out.append(np.asarray(ds[()]))
    return out


def load_h5(model, source, where, skip_mismatch=False, load_optimizer=True):
    """Load weights (and optimizer state when the file has it and the model has an optimizer) from ``source``
    (a path or a binary file object); ``where`` names the file in errors. Checks everything, then writes."""
    h5py = import_h5py()
    try:
        f = h5py.File(source, "r")
    except Exception as e:  # h5py raises OSError subclasses for truncated/corrupt files
        raise ValueError(f"{where}: not a readable HDF5 weights file ({e})") from None
    try:
        with f:
            writes = _plan_model(model, f, where, skip_mismatch)
            opt = getattr(model, "optimizer", None)
            if load_optimizer and opt is not None and "optimizer" in f:
                group = f.get("optimizer/vars")
                if group is not None:
                    arrays = _read_group(group, f"{where}: optimizer/vars")
                    writes.append(optimizer_state.check_state(model, arrays, where, skip_mismatch))
    except (OSError, KeyError, RuntimeError) as e:
        raise ValueError(f"{where}: the HDF5 weights file is damaged ({e})") from None
    for write in writes:
        write()


def _plan_model(model, f, where, skip_mismatch):
    h5py = import_h5py()
    writes, visited = [], set()
    for path, obj, variables in walk(model):
        vpath = _vars_path(path)
        visited.add(vpath)
        group = f.get(vpath)
        if group is not None and not isinstance(group, h5py.Group):
            raise ValueError(f"{where}: {vpath} is not a group")
        arrays = _read_group(group, f"{where}: {vpath}") if group is not None else []
        problem = None
        if len(arrays) != len(variables):
            problem = (f"Layer {obj.name!r} (at {path or '/'}) expected {len(variables)} "
                       f"variables, but received {len(arrays)} variables during loading from {where}")
        else:
            for var, arr in zip(variables, arrays):
                if tuple(arr.shape) != tuple(var.shape):
                    problem = (f"{where}: weight {var.path!r} of layer {obj.name!r} has shape {tuple(var.shape)} "
                               f"but the file holds shape {tuple(arr.shape)} at {vpath}")
                    break
        if problem is not None:
            if skip_mismatch:
                warnings.warn(problem + "; skipped (skip_mismatch=True)", stacklevel=4)
                continue
            raise ValueError(problem)
        writes.append(_assigner(variables, arrays))
    extra = []
    if "layers" in f:
        def visit(name, obj):
            full = f"layers/{name}"
            if isinstance(obj, h5py.Group) and full.endswith("/vars") and full not in visited and len(obj):
                extra.append(full)
        f["layers"].visititems(visit)
    if extra:
        message = (f"{where} holds weights for layers the model does not have: {sorted(extra)} (the model has "
                   f"{sum(1 for _ in walk(model)) - 1} layers)")
        if not skip_mismatch:
            raise ValueError(message)
        warnings.warn(message, stacklevel=4)
    return writes


def _assigner(variables, arrays):
    def write():
        for var, arr in zip(variables, arrays):
            var.assign(arr.astype(var.value.dtype, copy=False))

    return write
