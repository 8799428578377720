"""The ``.keras`` file: Keras 3's zip of ``metadata.json``, ``config.json`` and ``model.weights.h5``.

``config.json`` is ``serialize_keras_object(model)`` plus ``compile_config`` (optimizer, loss, loss_weights,
metrics, weighted_metrics, run_eagerly, steps_per_execution, jit_compile), as Keras writes it. The zip is stored
uncompressed, as Keras stores it, and written through ``atomic_write``.
"""

import datetime
import io
import json
import zipfile

from .. import __version__
from . import h5_weights
from .file_io import atomic_write
from .object_registration import CustomObjectScope
from .serialization import deserialize_keras_object, serialize_keras_object

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
#: The Keras release whose format nbkeras writes (readers may look at it).
KERAS_FORMAT_VERSION = "3.15.1"
#: Refuse members that would unpack to more than this (a zip bomb, or not a model file).
MAX_MEMBER_BYTES = 1 << 34


def compile_config(model):
    if not getattr(model, "compiled", False) or model._compile_args is None:
        return {}
    args = model._compile_args
    return {"optimizer": serialize_keras_object(model.optimizer), "loss": serialize_keras_object(args["loss"]),
            "loss_weights": serialize_keras_object(args["loss_weights"]),
            "metrics": serialize_keras_object(args["metrics"]),
            "weighted_metrics": serialize_keras_object(args["weighted_metrics"]), "run_eagerly": model.run_eagerly,
            "steps_per_execution": model.steps_per_execution, "jit_compile": model.jit_compile}


def compile_from_config(model, config, custom_objects=None):
    """``model.compile(**config)`` with its objects deserialized (Keras's compile_from_config)."""
    config = dict(config)
    args = {k: deserialize_keras_object(config.pop(k, None), custom_objects)
            for k in ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics")}
    if args["optimizer"] is None:
        args["optimizer"] = "rmsprop"
    for key in ("run_eagerly", "steps_per_execution", "jit_compile"):
        if key in config and config[key] is not None:
            args[key] = config.pop(key)
    model.compile(**args)


def config_dict(model):
    config = serialize_keras_object(model)
    config["compile_config"] = compile_config(model)
    return config


def save_model(model, filepath, include_optimizer=True):
    """Write ``model`` to ``filepath`` (a ``.keras`` path) atomically."""
    metadata = {"keras_version": KERAS_FORMAT_VERSION, "nbkeras_version": __version__,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    config = json.dumps(config_dict(model))
    weights = h5_weights.h5_bytes(model, include_optimizer)
    with atomic_write(filepath) as f:
        with zipfile.ZipFile(f, "w") as zf:
            zf.writestr(METADATA, json.dumps(metadata))
            zf.writestr(CONFIG, config)
            zf.writestr(WEIGHTS, weights)


def _read_member(zf, name, where):
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ValueError(f"{where}: not a Keras model file (it has no {name})") from None
    if info.file_size > MAX_MEMBER_BYTES:
        raise ValueError(f"{where}: {name} would unpack to {info.file_size} bytes; refusing it")
    return zf.read(name)


def read_archive(filepath):
    """(config dict, weights bytes) of a ``.keras`` file; any damage raises ValueError naming the file."""
    where = str(filepath)
    try:
        with zipfile.ZipFile(filepath, "r") as zf:
            config_text = _read_member(zf, CONFIG, where)
            weights = _read_member(zf, WEIGHTS, where)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as e:
        raise ValueError(f"{where}: not a readable .keras file (truncated or damaged zip: {e})") from None
    try:
        config = json.loads(config_text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{where}: {CONFIG} is not valid JSON ({e})") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"{where}: {CONFIG} does not describe a model")
    return config, weights


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    config, weights = read_archive(filepath)
    with CustomObjectScope(custom_objects or {}):
        model = deserialize_keras_object(config, custom_objects=custom_objects, safe_mode=safe_mode)
        from ..models.functional import Model

        if not isinstance(model, Model):
            raise ValueError(f"{filepath}: {CONFIG} describes a {type(model).__name__}, not a model")
        if compile and config.get("compile_config"):
            compile_from_config(model, config["compile_config"], custom_objects)
    h5_weights.load_h5(model, io.BytesIO(weights), f"{filepath} ({WEIGHTS})", load_optimizer=bool(compile))
    return model
