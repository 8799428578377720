"""fit / evaluate / predict on Python generators, iterators and Sequence / PyDataset objects.

Each item is a tuple (x,), (x, y) or (x, y, sample_weight), as in Keras (a namedtuple is rejected; a bare x is
accepted for predict). Batches arrive one at a time, so each runs as one compiled step; conversion and validation
happen per batch here, which is the price of a Python data source.
"""

import types
import warnings

import numpy as np

from .. import backend
from .engine import random_count


def is_iterator_like(x):
    if isinstance(x, (np.ndarray, list, tuple, dict)) or x is None:
        return False
    if isinstance(x, types.GeneratorType) or hasattr(x, "__next__"):
        return True
    return hasattr(x, "__getitem__") and hasattr(x, "__len__") and not hasattr(x, "shape")


class _Source:
    """Uniform access to a generator/iterator (consumed once) or a Sequence (indexed, restartable per epoch)."""

    def __init__(self, x):
        self.sequence = x if (hasattr(x, "__getitem__") and hasattr(x, "__len__")) else None
        self.iterator = None if self.sequence is not None else iter(x)
        self._index = 0

    def __len__(self):
        return len(self.sequence) if self.sequence is not None else None

    def on_epoch_begin(self):
        self._index = 0

    def on_epoch_end(self):
        if self.sequence is not None and hasattr(self.sequence, "on_epoch_end"):
            self.sequence.on_epoch_end()

    def next(self):
        if self.sequence is not None:
            if self._index >= len(self.sequence):
                raise StopIteration
            item = self.sequence[self._index]
            self._index += 1
            return item
        return next(self.iterator)


def unpack(item, predict=False):
    """(x, y, sample_weight) from one yielded item."""
    if isinstance(item, tuple) and hasattr(item, "_fields"):
        raise ValueError("Data yielded by a generator must be a plain tuple (x,), (x, y) or (x, y, sample_weight), "
                         f"not a namedtuple: {type(item).__name__}")
    if isinstance(item, tuple):
        if len(item) == 1:
            return item[0], None, None
        if len(item) == 2:
            return item[0], item[1], None
        if len(item) == 3:
            return item
        raise ValueError(f"Data yielded by a generator must be a tuple of length 1, 2 or 3; got length {len(item)}")
    if predict:
        return item, None, None
    raise ValueError("Data yielded by a generator must be a tuple (x,), (x, y) or (x, y, sample_weight); got "
                     f"{type(item).__name__}")


def fit_iterator(model, x, epochs, verbose, callbacks, validation_data, class_weight, initial_epoch, steps_per_epoch,
                 validation_steps, validation_freq, validation_batch_size, batch_size):
    from ..callbacks import CallbackList
    from ..callbacks.progbar_logger import resolve_verbose
    from .trainer import _should_eval

    source = _Source(x)
    steps = steps_per_epoch or len(source)
    verbose = resolve_verbose(verbose)
    if not isinstance(callbacks, CallbackList):
        callbacks = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                                 verbose=verbose, epochs=epochs, steps=steps)
    model.stop_training = False
    lrs = np.empty(1, np.float64)
    logs = {}
    exhausted = False
    callbacks.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        source.on_epoch_begin()
        step = 0
        while steps is None or step < steps:
            try:
                item = source.next()
            except StopIteration:
                if steps_per_epoch is not None or step == 0:
                    warnings.warn("Your input ran out of data; interrupting training. Make sure that your dataset "
                                  "or generator can generate at least `steps_per_epoch * epochs` batches.",
                                  stacklevel=3)
                    exhausted = True
                break
            bx, by, bsw = unpack(item)
            data = model._prepare(bx, by, bsw, class_weight)
            callbacks.on_train_batch_begin(step)
            model.optimizer.learning_rates(1, lrs)
            plan = model._plan
            count = random_count(data.n, 0, 1, data.n, plan.rand_width)
            rand = backend.rng().random(count, dtype=plan.arena.dtype) if count else np.empty(0, plan.arena.dtype)
            model._engine.train(data, np.arange(data.n, dtype=np.int64), 0, 1, data.n, model._state, lrs, rand)
            callbacks.on_train_batch_end(step, model._logs())
            step += 1
            if model.stop_training:
                break
        source.on_epoch_end()
        if exhausted and step == 0:
            break
        epoch_logs = model._logs() if model._plan is not None else {}
        if validation_data is not None and _should_eval(epoch, validation_freq):
            if is_iterator_like(validation_data):
                val_logs = evaluate_iterator(model, validation_data, validation_steps, 0, callbacks)
            else:
                from .data import unpack_validation_data

                vx, vy, vsw = unpack_validation_data(validation_data)
                val = model._prepare(vx, vy, vsw, keep_plan=True)
                val_logs = model._evaluate_prepared(val, validation_batch_size or batch_size or 32,
                                                    validation_steps, callbacks)
            epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
        callbacks.on_epoch_end(epoch, epoch_logs)
        logs = epoch_logs
        if model.stop_training or exhausted:
            break
    callbacks.on_train_end(logs)
    return model.history


def evaluate_iterator(model, x, steps, verbose, callbacks):
    source = _Source(x)
    total = steps or len(source)
    callbacks = model._callback_list(callbacks, verbose, total)
    callbacks.on_test_begin()
    step = 0
    while total is None or step < total:
        try:
            item = source.next()
        except StopIteration:
            break
        bx, by, bsw = unpack(item)
        data = model._prepare(bx, by, bsw)
        if step == 0:
            model.reset_metrics()  # after the first _prepare, which may have (re)built the plan and its state
        callbacks.on_test_batch_begin(step)
        model._engine.test(data, np.arange(data.n, dtype=np.int64), 0, 1, data.n, model._state)
        callbacks.on_test_batch_end(step, model._logs())
        step += 1
    if step == 0:
        raise ValueError("The data source for evaluate() produced no batches")
    logs = dict(sorted(model._logs().items()))
    callbacks.on_test_end(logs)
    return logs


def predict_iterator(model, x, steps, verbose, callbacks):
    from . import data as data_module

    source = _Source(x)
    total = steps or len(source)
    callbacks = model._callback_list(callbacks, verbose, total)
    pieces = []
    callbacks.on_predict_begin()
    step = 0
    while total is None or step < total:
        try:
            item = source.next()
        except StopIteration:
            break
        bx, _, _ = unpack(item, predict=True)
        callbacks.on_predict_batch_begin(step)
        model._ensure_graph_for(bx)
        model._require_graph()
        xs = tuple(data_module.as_inputs(model, bx, model._dtype()))
        n = data_module.check_lengths(xs, [], [])
        out = model._predict_arrays(xs, n, n, None, 0, None)
        pieces.append(out)
        callbacks.on_predict_batch_end(step, {"outputs": out})
        step += 1
    callbacks.on_predict_end()
    if not pieces:
        raise ValueError("The data source for predict() produced no batches")
    first = pieces[0]
    if isinstance(first, dict):
        return {k: np.concatenate([p[k] for p in pieces]) for k in first}
    if isinstance(first, list):
        return [np.concatenate([p[i] for p in pieces]) for i in range(len(first))]
    return np.concatenate(pieces)
