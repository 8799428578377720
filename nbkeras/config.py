"""``keras.config``: Keras 3's global settings, as nbkeras has them (``keras.config.floatx()``).

The settings nbkeras has are the backend's (``nbkeras.backend``): float type, epsilon, image layout. Keras's
traceback filtering has no counterpart (nbkeras does not rewrite tracebacks), so its switches only keep the flag
Keras reports back. Settings nbkeras cannot honour raise a ValueError that says so: channels_first layouts, mixed
precision dtype policies.
"""

from . import backend as _backend

_FLAGS = {"traceback_filtering": True, "unsafe_deserialization": False}


def backend():
    """The name of the compute backend: ``"numba"``."""
    return _backend.backend()


def floatx():
    return _backend.floatx()


def set_floatx(value):
    _backend.set_floatx(value)


def epsilon():
    return _backend.epsilon()


def set_epsilon(value):
    _backend.set_epsilon(value)


def image_data_format():
    return _backend.image_data_format()


def set_image_data_format(data_format):
    if data_format != "channels_last":
        raise ValueError(f"set_image_data_format: nbkeras's layers are channels_last only, got {data_format!r}")


def dtype_policy():
    """The global dtype policy's name: the float type (nbkeras has no mixed precision)."""
    return _backend.floatx()


def set_dtype_policy(policy):
    name = getattr(policy, "name", policy)
    if name not in ("float32", "float64"):
        raise ValueError(f"set_dtype_policy: nbkeras computes in float32 or float64 only (no mixed precision), "
                         f"got {name!r}")
    _backend.set_floatx(name)


def disable_traceback_filtering():
    _FLAGS["traceback_filtering"] = False


def enable_traceback_filtering():
    _FLAGS["traceback_filtering"] = True


def is_traceback_filtering_enabled():
    return _FLAGS["traceback_filtering"]


def enable_unsafe_deserialization():
    """Keras's switch for loading lambdas from a file. nbkeras's loader never runs code from a file (safe_mode is
    always on), so loading such a model still raises; the flag is kept for ``is_...`` only."""
    _FLAGS["unsafe_deserialization"] = True


def is_unsafe_deserialization_enabled():
    return _FLAGS["unsafe_deserialization"]
