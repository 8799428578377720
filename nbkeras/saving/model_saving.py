"""The saving methods of Model: ``save``, ``save_weights``, ``load_weights``, ``to_json``, ``from_config``,
``get_compile_config``/``compile_from_config`` and ``get_build_config`` (mixed into ``functional.Model``)."""


class ModelSavingMixin:
    def fit(self, *args, **kwargs):
        """``Trainer.fit``, first resuming from the backup of any ``BackupAndRestore`` among the callbacks: Keras 3
        restores in ``on_train_begin`` and its loop then reads ``model._initial_epoch``; nbkeras's loop has fixed
        its first epoch by then, so the backup is read here, before the loop starts."""
        import inspect

        from ..callbacks.backup_and_restore import BackupAndRestore

        fit = super().fit
        bound = inspect.signature(fit).bind_partial(*args, **kwargs)
        callbacks = bound.arguments.get("callbacks")
        pending = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
        for cb in pending:
            if isinstance(cb, BackupAndRestore):
                epoch = cb.restore(self)
                if epoch is not None:
                    bound.arguments["initial_epoch"] = max(epoch, bound.arguments.get("initial_epoch", 0))
        return fit(*bound.args, **bound.kwargs)

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Save the whole model as a ``.keras`` file (Keras 3's format, written atomically)."""
        from .saving_api import save_model

        save_model(self, filepath, overwrite=overwrite, zipped=zipped, **kwargs)

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        """Save weights (and optimizer state) to a ``.weights.h5`` file in Keras 3's layout."""
        from .saving_api import save_weights

        save_weights(self, filepath, overwrite=overwrite, max_shard_size=max_shard_size)

    def load_weights(self, filepath, skip_mismatch=False, by_name=False, **kwargs):
        """Load weights from a ``.weights.h5`` or ``.keras`` file; everything is checked before anything is
        written."""
        from .saving_api import load_weights

        load_weights(self, filepath, skip_mismatch=skip_mismatch, by_name=by_name, **kwargs)

    def to_json(self, **kwargs):
        """The model's architecture as JSON (``json.dumps`` keyword arguments pass through)."""
        from .saving_api import model_to_json

        return model_to_json(self, **kwargs)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A model from ``get_config()``'s dict (Keras 3's Sequential or functional config)."""
        from .serialization import model_from_config

        return model_from_config({"config": config}, custom_objects=custom_objects, cls=cls)

    def get_compile_config(self):
        from .keras_file import compile_config

        return compile_config(self) or None

    def compile_from_config(self, config):
        from .keras_file import compile_from_config

        compile_from_config(self, config)

    def get_build_config(self):
        from .serialization import _model_input_shape

        return {"input_shape": _model_input_shape(self)}
