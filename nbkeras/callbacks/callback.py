"""`Callback`: the base class whose hooks `fit`, `evaluate` and `predict` call.

Order in `fit` (Keras 3): on_train_begin; per epoch on_epoch_begin, per batch on_train_batch_begin/end, then
validation as on_test_begin, on_test_batch_begin/end..., on_test_end; on_epoch_end (logs carry `val_` keys);
finally on_train_end. `evaluate` calls the test hooks and `predict` the predict hooks.

Keras 2 named the training-batch hooks `on_batch_begin`/`on_batch_end`. As in Keras 3, the base
`on_train_batch_begin/end` call them, so a callback that overrides only the old names still runs.
"""

TRAIN_BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end")
TEST_BATCH_HOOKS = ("on_test_batch_begin", "on_test_batch_end")
PREDICT_BATCH_HOOKS = ("on_predict_batch_begin", "on_predict_batch_end")


def overrides_any(callback, hook_names, baseline):
    """Whether `callback` replaces any of `hook_names` relative to the class `baseline`.

    A hook counts as replaced when its class defines a different function, or when the instance carries its own
    attribute of that name (LambdaCallback stores the user's functions that way).
    """
    own = getattr(callback, "__dict__", {})
    cls = type(callback)
    return any(name in own or getattr(cls, name, None) is not getattr(baseline, name, None) for name in hook_names)


class Callback:
    """Base class for callbacks: subclass it and override the hooks you need.

    Attributes:
        model: the model being trained, set by `set_model`.
        params: dict of run parameters, set by `set_params`; `fit` passes `verbose`, `epochs` and `steps`.
        validation_data: Keras 2 attribute, kept for old code; nbkeras leaves it None.
    """

    def __init__(self):
        self.params = None
        self._model = None
        self.validation_data = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    @model.setter
    def model(self, model):
        # Keras 2 callbacks assign `self.model` directly (it was a plain attribute there).
        self._model = model

    # Which batch hooks this callback needs. `CallbackList.needs_batch_hooks` asks these; when every callback
    # answers False the trainer runs many batches per compiled call and skips the batch hooks entirely. The names
    # are Keras 2's (tf.keras asked the same question), so callbacks written for it keep their answers.
    def _implements_train_batch_hooks(self):
        return overrides_any(self, TRAIN_BATCH_HOOKS, Callback)

    def _implements_test_batch_hooks(self):
        return overrides_any(self, TEST_BATCH_HOOKS, Callback)

    def _implements_predict_batch_hooks(self):
        return overrides_any(self, PREDICT_BATCH_HOOKS, Callback)

    def on_batch_begin(self, batch, logs=None):
        """Keras 2 name for `on_train_batch_begin`; the base `on_train_batch_begin` calls it."""

    def on_batch_end(self, batch, logs=None):
        """Keras 2 name for `on_train_batch_end`; the base `on_train_batch_end` calls it."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of each training epoch; `epoch` counts from 0."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of each training epoch with that epoch's metrics (`val_`-prefixed for validation)."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before each training batch; `batch` counts from 0 within the epoch."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after each training batch with the metrics accumulated so far this epoch."""
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        """Called before each batch of `evaluate` and of the validation pass in `fit`."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after each batch of `evaluate` and of the validation pass in `fit`."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before each batch of `predict`."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after each batch of `predict`; `logs["outputs"]` holds the batch's predictions."""

    def on_train_begin(self, logs=None):
        """Called once when `fit` starts."""

    def on_train_end(self, logs=None):
        """Called once when `fit` ends, with the last epoch's logs."""

    def on_test_begin(self, logs=None):
        """Called when `evaluate`, or the validation pass of `fit`, starts."""

    def on_test_end(self, logs=None):
        """Called when `evaluate`, or the validation pass of `fit`, ends, with its metrics."""

    def on_predict_begin(self, logs=None):
        """Called when `predict` starts."""

    def on_predict_end(self, logs=None):
        """Called when `predict` ends."""
