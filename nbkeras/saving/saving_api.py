"""Public entry points: ``save_model``, ``load_model``, ``save_weights``, ``load_weights`` (Keras 3 names and rules).

Extensions decide the format, as in Keras 3: ``.keras`` for whole models, ``.weights.h5`` for weights. Keras 2's
legacy ``.h5`` files are refused with a clear error (nbkeras writes and reads only Keras 3's formats).
"""

import json
import os

from ..errors import check_kwargs
from . import h5_weights, keras_file


def _path(filepath, what):
    if not isinstance(filepath, (str, os.PathLike)):
        raise ValueError(f"{what}: filepath must be a path (str or os.PathLike), got {type(filepath).__name__}")
    return os.fspath(filepath)


def _check_overwrite(path, overwrite):
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists and overwrite=False")


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    """Save ``model`` as a ``.keras`` file (architecture, compile config, weights and optimizer state)."""
    check_kwargs(kwargs, ("include_optimizer", "save_format"), "save_model")
    path = _path(filepath, "save_model")
    if zipped is False:
        raise ValueError("save_model: zipped=False (an unzipped directory) is not supported by nbkeras")
    if path.endswith((".h5", ".hdf5")):
        raise ValueError(f"save_model: {path!r}: nbkeras does not write Keras 2's legacy HDF5 model format; use a "
                         f"`.keras` extension (Keras 3's format, which Keras 3 and nbkeras both read)")
    if not path.endswith(".keras"):
        raise ValueError(f"Invalid filepath extension for saving. Please add a `.keras` extension for the native "
                         f"Keras format. Received: filepath={path}")
    _check_overwrite(path, overwrite)
    keras_file.save_model(model, path, include_optimizer=kwargs.get("include_optimizer", True))


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model from a ``.keras`` file. ``custom_objects`` maps names to user classes/functions; ``compile``
    restores loss, metrics and optimizer (with its state); ``safe_mode`` is always on: nothing is executed."""
    path = _path(filepath, "load_model")
    if path.endswith((".h5", ".hdf5")):
        raise ValueError(f"load_model: {path!r} is a Keras 2 legacy HDF5 model, which nbkeras cannot read. Open it "
                         f"in Keras and save it again as `.keras`")
    if os.path.isdir(path):
        raise ValueError(f"load_model: {path!r} is a directory (a TensorFlow SavedModel?); nbkeras reads `.keras` "
                         f"files")
    if not os.path.exists(path):
        raise ValueError(f"File not found: filepath={path}. Please ensure the file is an accessible `.keras` zip "
                         f"file.")
    return keras_file.load_model(path, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def save_weights(model, filepath, overwrite=True, max_shard_size=None):
    """Weights (and the optimizer's state, when built) in Keras 3's ``.weights.h5`` layout, written atomically."""
    path = _path(filepath, "save_weights")
    if not path.endswith(".weights.h5"):
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={path}")
    if max_shard_size is not None:
        raise ValueError("save_weights: max_shard_size (sharded weights) is not supported by nbkeras")
    _check_overwrite(path, overwrite)
    from .file_io import atomic_write

    with atomic_write(path) as f:
        f.write(h5_weights.h5_bytes(model))


def load_weights(model, filepath, skip_mismatch=False, by_name=False, **kwargs):
    """Load a ``.weights.h5`` file (or the weights of a ``.keras`` file) into ``model``; shapes and counts are
    checked before any weight is written."""
    check_kwargs(kwargs, (), "load_weights")
    path = _path(filepath, "load_weights")
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_weights: {path} does not exist")
    if path.endswith(".keras"):
        import io

        _, weights = keras_file.read_archive(path)
        h5_weights.load_h5(model, io.BytesIO(weights), f"{path} ({keras_file.WEIGHTS})", skip_mismatch)
        return
    if path.endswith(".weights.h5") and not by_name:
        h5_weights.load_h5(model, path, path, skip_mismatch)
        return
    if path.endswith((".h5", ".hdf5")):
        raise ValueError(f"load_weights: {path!r} is not a Keras 3 `.weights.h5` file; Keras 2's legacy HDF5 "
                         f"weights (and by_name loading) are not supported by nbkeras yet")
    raise ValueError(f"File format not supported: filepath={path}. nbkeras reads `.weights.h5` and `.keras` files")


def model_to_json(model, **kwargs):
    return json.dumps(_json_config(model), **kwargs)


def _json_config(model):
    from .serialization import serialize_keras_object

    return serialize_keras_object(model)


def model_from_json(json_string, custom_objects=None):
    """A model (fresh weights) from ``model.to_json()``'s string."""
    from .object_registration import CustomObjectScope
    from .serialization import deserialize_keras_object

    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as e:
        raise ValueError(f"model_from_json: not valid JSON ({e})") from None
    with CustomObjectScope(custom_objects or {}):
        return deserialize_keras_object(config, custom_objects=custom_objects)
