"""`CallbackList`: calls every hook on every callback, in list order (Keras 3's `keras.callbacks.CallbackList`)."""

import numbers

import numpy as np

from .callback import Callback
from .history import History
from .progbar_logger import ProgbarLogger

_BATCH_HOOK_QUERIES = {
    "train": "_implements_train_batch_hooks",
    "test": "_implements_test_batch_hooks",
    "predict": "_implements_predict_batch_hooks",
}


def _flatten(callbacks):
    if isinstance(callbacks, (list, tuple)):
        return [cb for item in callbacks for cb in _flatten(item)]
    return [callbacks]


def _pythonify_logs(logs):
    """A new dict with keys sorted, nested dicts merged in, and scalar values made Python floats.

    Sorting is why Keras prints `accuracy` before `loss`. Every callback of one hook call receives the same dict,
    so a key one callback adds (LearningRateScheduler's `learning_rate`) reaches History and the progress bar.
    Keras also squeezes one-element arrays to floats; we keep arrays (e.g. predict's `outputs`) as they are.
    """
    result = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(_pythonify_logs(value))
            continue
        if isinstance(value, (numbers.Number, np.generic)) or (isinstance(value, np.ndarray) and value.ndim == 0):
            try:
                value = float(value)
            except (TypeError, ValueError):  # complex numbers, odd scalar types: pass through unchanged
                pass
        result[key] = value
    return result


def _index_hook(name):
    def hook(self, index, logs=None):
        logs = _pythonify_logs(logs)
        for callback in self.callbacks:
            getattr(callback, name)(index, logs=logs)

    hook.__name__ = name
    hook.__doc__ = f"Calls `{name}(index, logs)` on every callback."
    return hook


def _run_hook(name):
    def hook(self, logs=None):
        logs = _pythonify_logs(logs)
        for callback in self.callbacks:
            getattr(callback, name)(logs)

    hook.__name__ = name
    hook.__doc__ = f"Calls `{name}(logs)` on every callback."
    return hook


class CallbackList(Callback):
    """Holds callbacks and forwards `set_model`, `set_params` and every hook to each of them.

    Args:
        callbacks: a list (nested lists are flattened) of `Callback` instances.
        add_history: append a `History` unless the list already holds one.
        add_progbar: append a `ProgbarLogger` unless the list already holds one.
        model: the model, passed to every callback; `model.history` is set to the list's History.
        **params: passed to every callback through `set_params` (`fit` passes `verbose`, `epochs`, `steps`).
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        self.callbacks = _flatten(callbacks) if callbacks else []
        self._add_default_callbacks(add_history, add_progbar)
        self.set_model(model)
        self.set_params(params)

    def _add_default_callbacks(self, add_history, add_progbar):
        self._history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        self._progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        # History goes before ProgbarLogger, both after the user's callbacks: they see the logs those modified.
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)

    def append(self, callback):
        """Add a callback at the end (Keras 2 API)."""
        self.callbacks.append(callback)

    def __iter__(self):
        return iter(self.callbacks)

    def set_params(self, params):
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def set_model(self, model):
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def needs_batch_hooks(self, mode):
        """Whether any callback does something in `mode`'s batch hooks ("train", "test" or "predict").

        Not a Keras method. When this is False the trainer may run many batches per compiled call and skip the
        batch hooks for that mode, which no callback can observe. Ask after `on_train_begin` for the sharpest
        answer: a ProgbarLogger stays silent during `fit`'s validation pass and says so only once training began.
        """
        if mode not in _BATCH_HOOK_QUERIES:
            raise ValueError(f"needs_batch_hooks: mode must be 'train', 'test' or 'predict', got {mode!r}")
        query = _BATCH_HOOK_QUERIES[mode]
        # An object without the query is a duck-typed callback we cannot inspect: assume it needs the calls.
        return any(getattr(cb, query, lambda: True)() for cb in self.callbacks)

    def _implements_train_batch_hooks(self):
        return self.needs_batch_hooks("train")

    def _implements_test_batch_hooks(self):
        return self.needs_batch_hooks("test")

    def _implements_predict_batch_hooks(self):
        return self.needs_batch_hooks("predict")

    on_batch_begin = _index_hook("on_batch_begin")
    on_batch_end = _index_hook("on_batch_end")
    on_train_batch_begin = _index_hook("on_train_batch_begin")
    on_train_batch_end = _index_hook("on_train_batch_end")
    on_test_batch_begin = _index_hook("on_test_batch_begin")
    on_test_batch_end = _index_hook("on_test_batch_end")
    on_predict_batch_begin = _index_hook("on_predict_batch_begin")
    on_predict_batch_end = _index_hook("on_predict_batch_end")

    def on_epoch_begin(self, epoch, logs=None):
        """Calls `on_epoch_begin(epoch, logs)` on every callback."""
        logs = _pythonify_logs(logs)
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        """Calls `on_epoch_end(epoch, logs)` on every callback."""
        logs = _pythonify_logs(logs)
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    on_train_begin = _run_hook("on_train_begin")
    on_train_end = _run_hook("on_train_end")
    on_test_begin = _run_hook("on_test_begin")
    on_test_end = _run_hook("on_test_end")
    on_predict_begin = _run_hook("on_predict_begin")
    on_predict_end = _run_hook("on_predict_end")
