"""`TerminateOnNaN`: stop training at the first NaN or infinite batch loss (Keras's `keras.callbacks.TerminateOnNaN`).

It looks at every training batch, so a list holding it makes the trainer call the batch hooks.
"""

import math

from ..utils.progbar import print_msg
from .callback import Callback


class TerminateOnNaN(Callback):
    """Stops training when a batch's `loss` is NaN or infinite.

    Args:
        raise_error: False (default) sets `model.stop_training`, so the epoch's remaining hooks and
            `on_train_end` still run; True raises RuntimeError at once instead.
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. Terminating training immediately."
            )
        print_msg(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True
