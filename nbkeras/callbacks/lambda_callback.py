"""`LambdaCallback`: a callback built from plain functions (Keras's `keras.callbacks.LambdaCallback`)."""

from .callback import Callback


class LambdaCallback(Callback):
    """Calls the given functions at the matching hooks.

    Epoch hooks are called as `f(epoch, logs)`, begin/end hooks as `f(logs)`, batch hooks as `f(batch, logs=logs)`.
    Any other hook goes in by keyword, e.g. `on_test_end=f`; Keras 2's `on_batch_begin`/`on_batch_end` work that
    way too (the base training-batch hooks call them). Pass functions by keyword: Keras 2 and Keras 3 order the
    positional arguments differently, and this class follows Keras 3.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        # Instance attributes shadow the class's hooks; CallbackList.needs_batch_hooks sees them as overrides.
        self.__dict__.update(kwargs)
        named = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        for name, function in named.items():
            if function is not None:
                setattr(self, name, function)
