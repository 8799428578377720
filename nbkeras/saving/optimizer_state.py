"""An optimizer's state as Keras 3 lists it, mapped onto nbkeras's flat slot buffer.

Keras 3 saves ``optimizer.variables`` in creation order: ``iterations``, ``learning_rate`` (absent when it is a
schedule), then the slots of each ``add_optimizer_variables`` call in ``build`` -- one call per group of slot names,
interleaved per model variable inside a group (Adam: kernel momentum, kernel velocity, bias momentum, bias velocity,
...; amsgrad's velocity_hat group after them), then anything ``build`` adds last (Nadam's ``u_product``).

nbkeras keeps each slot as one row of ``optimizer._slots`` (k, n_trainable) over the model's flat trainable buffer
(``engine.Arena``): the slot of a variable is the slice of that row at the variable's span in the buffer.
"""

import warnings

import numpy as np

from .. import optimizers


def slot_groups(opt):
    """Keras's build order of ``opt``'s slots: a list of groups of nbkeras slot names (see module docstring)."""
    names = opt.slot_names()
    if isinstance(opt, optimizers.Adam):  # AdamW too
        return [["momentum", "velocity"]] + ([["velocity_hat"]] if "velocity_hat" in names else [])
    if isinstance(opt, optimizers.RMSprop):
        return [[n] for n in ("velocity", "momentum", "average_gradient") if n in names]
    if isinstance(opt, (optimizers.SGD, optimizers.Adagrad)):
        return [[n] for n in names]
    return [list(names)] if names else []  # Adadelta, Adamax, Nadam: one call of all their slots


def _arena(model):
    arena = model._arena
    opt = model.optimizer
    if opt is None or opt._slots is None or arena is None or not arena.matches(model) or \
            opt._slots.shape[1] != arena.n_trainable:
        return None
    arena.ensure_bound()
    return arena


def ensure_built(model):
    """Build the model's parameter buffer and its optimizer's slots now (as Keras builds the optimizer on load),
    keeping what is already there."""
    from ..models.engine import Arena

    with model._build_lock:
        if model._arena is None or not model._arena.matches(model):
            model._arena = Arena(model, model._dtype())
            model._plan = model._engine = model._forward_engine = None
        else:
            model._arena.ensure_bound()
        model.optimizer.build(model._arena.n_trainable, model._arena.dtype)
    return model._arena


def _slot_views(model, arena):
    opt = model.optimizer
    names = opt.slot_names()
    trainable = model.trainable_weights
    views = []
    for group in slot_groups(opt):
        for var in trainable:
            start, shape = arena.location(var)
            size = int(np.prod(shape))
            for name in group:
                views.append(opt._slots[names.index(name), start:start + size].reshape(shape))
    return views


def get_state(model):
    """Keras's ``optimizer.variables`` as arrays (copies); only iterations and learning rate when not built."""
    opt = model.optimizer
    out = [np.asarray(opt.iterations, dtype=np.int64)]
    if not callable(opt.learning_rate):
        out.append(np.asarray(opt.learning_rate, dtype=np.float32))
    arena = _arena(model)
    if arena is None:
        return out
    out += [v.copy() for v in _slot_views(model, arena)]
    if isinstance(opt, optimizers.Nadam):
        out.append(np.asarray(opt._u_product[0], dtype=arena.dtype))
    return out


def check_state(model, arrays, where, skip_mismatch=False):
    """A function that writes ``arrays`` into the optimizer, after checking every shape (raises ValueError before
    anything is written). A different count of variables warns and loads nothing, as Keras does."""
    opt = model.optimizer
    arena = ensure_built(model)
    views = _slot_views(model, arena)
    has_lr = not callable(opt.learning_rate)
    nadam = isinstance(opt, optimizers.Nadam)
    expected = 1 + has_lr + len(views) + nadam
    if len(arrays) != expected:
        warnings.warn(f"Skipping variable loading for optimizer {opt.name!r}, because it has {expected} variables "
                      f"whereas the saved optimizer ({where}) has {len(arrays)} variables.", stacklevel=3)
        return lambda: None
    slots = arrays[1 + has_lr:1 + has_lr + len(views)]
    for i, (view, value) in enumerate(zip(views, slots)):
        if view.shape != np.shape(value):
            message = (f"{where}: optimizer variable {1 + has_lr + i} has shape {np.shape(value)}, but the model's "
                       f"matching slot has shape {view.shape}")
            if skip_mismatch:
                warnings.warn(message + "; optimizer state not loaded", stacklevel=3)
                return lambda: None
            raise ValueError(message)
    for i in [0] + ([1] if has_lr else []) + ([expected - 1] if nadam else []):
        if np.shape(arrays[i]) not in ((), (1,)):
            raise ValueError(f"{where}: optimizer variable {i} should be a scalar, got shape {np.shape(arrays[i])}")

    def write():
        opt._iterations[0] = int(np.asarray(arrays[0]).reshape(()))
        if has_lr:
            saved = float(np.asarray(arrays[1]).reshape(()))
            # Keras stores the rate as float32: keep the exact float we have when it rounds to the saved value, so
            # that a save/load cycle inside nbkeras does not perturb training.
            if np.float32(opt.learning_rate) != np.float32(saved):
                opt.learning_rate = saved
        for view, value in zip(views, slots):
            view[...] = value
        if nadam:
            opt._u_product[0] = float(np.asarray(arrays[-1]).reshape(()))

    return write
