"""`LearningRateScheduler`: set the learning rate at each epoch start (Keras's LearningRateScheduler)."""

import numpy as np

from ..utils.progbar import print_msg
from .callback import Callback


class LearningRateScheduler(Callback):
    """Sets `model.optimizer.learning_rate = schedule(epoch, lr)` before every epoch.

    Args:
        schedule: `f(epoch, lr) -> float` with `epoch` counted from 0 and `lr` the current rate as a Python float.
            A one-argument `f(epoch)` (Keras 1 style) also works: as in Keras, a TypeError from the two-argument
            call retries with one argument.
        verbose: 1 prints the new rate each epoch.

    The epoch's logs gain `learning_rate`, so History records it.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate}")
        optimizer.learning_rate = float(learning_rate)
        if self.verbose > 0:
            # The leading newline is Keras's: it moves off a live progress bar line.
            print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
