"""`ProgbarLogger`: prints progress and metrics to stdout (Keras's `keras.callbacks.ProgbarLogger`).

Output as Keras 3 writes it: `Epoch 3/5` before each epoch (only when there is more than one), then the bar.
`verbose=2` prints one line per epoch, `6/6 - 0s - 6ms/step - loss: 1.6453 - val_loss: 1.2895`; `verbose=1` draws
a live bar on a terminal and falls back to that one line when stdout is not a terminal, so logs never hold escape
codes. `verbose="auto"` means 1 on a terminal and 2 otherwise (Keras 3: always 1). Metric values are shown as the
trainer reports them (already running means), never re-averaged. Validation inside `fit` prints nothing of its
own: its `val_` metrics appear on the epoch's line.
"""

from ..utils.progbar import Progbar, print_msg, resolve_verbose, stdout_is_terminal
from .callback import PREDICT_BATCH_HOOKS, TEST_BATCH_HOOKS, TRAIN_BATCH_HOOKS, Callback, overrides_any

__all__ = ["ProgbarLogger", "resolve_verbose"]


class ProgbarLogger(Callback):
    """Prints metrics to stdout; `fit`, `evaluate` and `predict` add one when `verbose` is not 0.

    Args:
        count_mode: Keras 2 argument, "steps" or "samples". Accepted for old code; the bar always counts steps.
        stateful_metrics: Keras 2 argument, accepted and ignored: every value is shown as reported.
    """

    def __init__(self, count_mode="steps", stateful_metrics=None):
        super().__init__()
        if count_mode not in ("steps", "samples"):
            raise ValueError(f"Unknown `count_mode`: {count_mode}. Expected values are ['samples', 'steps']")
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        self.verbose = resolve_verbose(params.get("verbose", 1))
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    # --- which batch hooks are needed (see CallbackList.needs_batch_hooks) ---
    def _needs_batch_counts(self):
        # A live bar redraws per batch; a plain line needs only the final count, which the batches supply
        # when the number of steps was not known in advance.
        live = self.verbose == 1 and stdout_is_terminal()
        return live or (self.verbose in (1, 2) and self.target is None)

    def _implements_train_batch_hooks(self):
        return self._needs_batch_counts() or overrides_any(self, TRAIN_BATCH_HOOKS, ProgbarLogger)

    def _implements_test_batch_hooks(self):
        silent = self._called_in_fit
        return (not silent and self._needs_batch_counts()) or overrides_any(self, TEST_BATCH_HOOKS, ProgbarLogger)

    def _implements_predict_batch_hooks(self):
        return self._needs_batch_counts() or overrides_any(self, PREDICT_BATCH_HOOKS, ProgbarLogger)

    # --- hooks ---
    def on_train_begin(self, logs=None):
        # Validation runs through the test hooks during fit; it stays silent.
        self._called_in_fit = True

    def on_train_end(self, logs=None):
        # Keras 3 never clears this, which silences a later `evaluate` given the same ProgbarLogger instance.
        self._called_in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update_progbar(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize_progbar(logs)

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_begin(self, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_predict_batch_end(self, batch, logs=None):
        self._update_progbar(batch, None)  # the batch's predictions are not metrics

    def on_predict_end(self, logs=None):
        self._finalize_progbar(logs)

    # --- the bar ---
    def _reset_progbar(self):
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self):
        if self.progbar is None:
            # stateless_metrics=set(): nothing is averaged by the bar, the trainer's values are already means.
            self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step", stateless_metrics=set())

    def _update_progbar(self, batch, logs):
        self._maybe_init_progbar()
        self.seen = batch + 1  # batches count from 0, the bar from 1
        if self.verbose == 1 and self.progbar._live:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize_progbar(self, logs):
        self._maybe_init_progbar()
        if self.target is None:
            # Steps unknown in advance: the first epoch (or evaluate/predict) counted them.
            self.target = self.seen
            self.progbar.target = self.target
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)
