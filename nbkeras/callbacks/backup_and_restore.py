"""`BackupAndRestore`: resume a `fit` that was interrupted (killed, preempted) where it stopped.

Keras 3's files and rules: in ``backup_dir``, ``latest.weights.h5`` (weights and optimizer state, Keras 3's
layout) and ``training_metadata.json`` (``{"epoch": next epoch to run, "batch": ...}``), written at every epoch end
(``save_freq="epoch"``) or every ``save_freq`` batches. At the start of ``fit`` an existing backup is loaded and
training restarts at the saved epoch (an epoch interrupted midway is run again from its start). When ``fit``
completes, the backup is deleted (``delete_checkpoint=True``); an interrupted fit leaves it for the next run.
Each file is written to a temporary name and renamed, the weights before the metadata, so the metadata never
points past the weights beside it.
"""

import json
import os

from .callback import Callback

WEIGHTS_NAME, METADATA_NAME = "latest.weights.h5", "training_metadata.json"


class BackupAndRestore(Callback):
    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or
                                     save_freq <= 0):
            raise ValueError(f"Invalid value for argument `save_freq`. Received: save_freq={save_freq}. Expected "
                             f"either 'epoch' or an integer value.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._weights_path = os.path.join(self.backup_dir, WEIGHTS_NAME)
        self._metadata_path = os.path.join(self.backup_dir, METADATA_NAME)
        self._current_epoch = 0
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._restored_for = None  # the model a restore already ran for in this fit

    def _implements_train_batch_hooks(self):
        return self.save_freq != "epoch"

    def restore(self, model):
        """Load the backup into ``model``; the epoch to resume at, or None when there is no backup."""
        if not (os.path.exists(self._metadata_path) and os.path.exists(self._weights_path)):
            return None
        with open(self._metadata_path, "r", encoding="utf-8") as f:
            try:
                metadata = json.load(f)
                epoch = int(metadata["epoch"])
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{self._metadata_path}: damaged backup metadata ({e})") from None
        model.load_weights(self._weights_path)
        self._current_epoch = epoch
        self._restored_for = model
        return epoch

    def on_train_begin(self, logs=None):
        if self._restored_for is not self.model:
            epoch = self.restore(self.model)
            if epoch is not None:
                self.model._initial_epoch = epoch  # Keras 3's hook; fit reads it after on_train_begin
        self._restored_for = None

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._last_batch_seen = batch + 1
        self._batches_seen_since_last_saving += 1
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save(self._current_epoch, self._last_batch_seen)

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save(epoch + 1, 0)

    def _save(self, epoch, batch):
        from ..saving.file_io import atomic_write

        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._weights_path):
            os.replace(self._weights_path, self._weights_path + ".bkp")
        self.model.save_weights(self._weights_path, overwrite=True)
        with atomic_write(self._metadata_path) as f:
            f.write(json.dumps({"epoch": epoch, "batch": batch}).encode("utf-8"))

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:
            for path in (self._metadata_path, self._weights_path, self._weights_path + ".bkp"):
                if os.path.exists(path):
                    os.remove(path)
            try:
                os.rmdir(self.backup_dir)
            except OSError:
                pass  # not empty (other files) or already gone
