"""`EarlyStopping`: stop `fit` when a monitored metric stops improving (Keras's `keras.callbacks.EarlyStopping`).

At each epoch end, from epoch `start_from_epoch` on and only when the monitored value is in the logs:
    wait += 1
    if improved (see MonitorCallback): best = current; wait = 0 unless a `baseline` is set and not beaten
    elif wait >= patience and epoch > 0: model.stop_training = True
`wait` grows before the test, so patience=0 stops at the first epoch without improvement. With a baseline that is
never beaten, training runs `patience` epochs and then stops. With `restore_best_weights`, the weights of the best
epoch (or of the first monitored epoch, if none improved) are put back in `on_train_end`.
"""

import warnings

import numpy as np

from ..utils.progbar import print_msg
from .monitor_callback import MonitorCallback


class EarlyStopping(MonitorCallback):
    """Stop training when a monitored metric has stopped improving.

    Args:
        monitor: the log key to watch, default "val_loss".
        min_delta: smallest change that counts as an improvement (its sign is ignored).
        patience: epochs without improvement before stopping.
        verbose: 1 prints a message when stopping and when restoring weights.
        mode: "min", "max" or "auto" (direction inferred from the name; see MonitorCallback).
        baseline: a value the metric must beat; until it does, `wait` keeps growing.
        restore_best_weights: put back the best epoch's weights when training ends.
        start_from_epoch: epochs of warm-up before monitoring starts (Keras 2 code simply omits it).

    Attributes: `wait`, `best`, `best_epoch`, `stopped_epoch` (0 when training was not stopped), `best_weights`.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        # Reset, so one instance can serve several fit calls.
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Nothing stored yet: these weights are the best seen so far, even if they miss the baseline.
            self.best_weights = self._snapshot_weights()
            self.best_epoch = epoch

        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._snapshot_weights()
            # Patience restarts only when the value beats both the previous best and the baseline.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return

        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_msg(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def _snapshot_weights(self):
        # get_weights() should already return copies; copying again guards against views of live buffers,
        # which training would overwrite before they are restored.
        return [np.array(w, copy=True) for w in self.model.get_weights()]

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs.keys())}",
                stacklevel=2,
            )
        return value
