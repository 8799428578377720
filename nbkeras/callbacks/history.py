"""`History`: records each epoch's logs; `fit` returns it (Keras's `keras.callbacks.History`)."""

from .callback import Callback


class History(Callback):
    """Records the logs of every epoch.

    Attributes:
        history: dict mapping each log key (`loss`, `val_loss`, ...) to a list of per-epoch values.
        epoch: the epoch indices seen by the current `fit` call.

    As in Keras 3, `on_train_begin` resets `epoch` but not `history`: one History passed to several `fit` calls
    keeps appending to the same lists. (`fit` creates a fresh History each call unless one is passed in.)
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        # Keras points model.history here after every epoch, so it is current even if fit stops early.
        if self.model is not None:
            self.model.history = self
