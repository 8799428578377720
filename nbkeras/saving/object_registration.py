"""Custom objects: ``register_keras_serializable``, ``get_custom_objects``, ``custom_object_scope``.

Keras 3's rules: a registered class is stored under ``"package>name"`` (name defaults to the class's own name) and
that string is the ``registered_name`` written into configs; ``custom_object_scope`` adds objects for the duration
of a ``with`` block (per thread), on top of the global dict that ``get_custom_objects()`` returns.
"""

import threading

_GLOBAL_CUSTOM_OBJECTS = {}  # "package>name" (and whatever users put there) -> object
_GLOBAL_CUSTOM_NAMES = {}  # object -> "package>name"


class _Scopes(threading.local):
    def __init__(self):
        self.stack = []


_SCOPES = _Scopes()


def register_keras_serializable(package="Custom", name=None):
    """Class or function decorator: registers ``obj`` as ``"package>name"`` (name defaults to ``obj.__name__``)."""
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"register_keras_serializable: `package` must be a string without '>', got {package!r}")

    def decorator(obj):
        key = f"{package}>{name or obj.__name__}"
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise ValueError("Cannot register a class that does not have a get_config() method.")
        _GLOBAL_CUSTOM_OBJECTS[key] = obj
        _GLOBAL_CUSTOM_NAMES[obj] = key
        return obj

    return decorator


def get_custom_objects():
    """The global dict of custom objects (mutable: ``get_custom_objects()["MyLayer"] = MyLayer`` registers)."""
    return _GLOBAL_CUSTOM_OBJECTS


def get_registered_name(obj):
    """``"package>name"`` for a registered object, else its ``__name__``."""
    key = _GLOBAL_CUSTOM_NAMES.get(obj)
    return key if key is not None else getattr(obj, "__name__", type(obj).__name__)


def is_registered(obj):
    return obj in _GLOBAL_CUSTOM_NAMES


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object for ``name``: the ``custom_objects`` argument first, then active scopes (innermost first), then
    the global registry, then ``module_objects``; None when nothing has it."""
    for table in [custom_objects or {}] + list(reversed(_SCOPES.stack)) + [_GLOBAL_CUSTOM_OBJECTS,
                                                                           module_objects or {}]:
        if name in table:
            return table[name]
    return None


def scoped_objects():
    """Every custom object visible now (scopes and global registry), for error messages."""
    out = dict(_GLOBAL_CUSTOM_OBJECTS)
    for scope in _SCOPES.stack:
        out.update(scope)
    return out


class CustomObjectScope:
    """``with custom_object_scope({"MyLayer": MyLayer}):`` -- extra objects for deserialization in this block."""

    def __init__(self, *custom_objects):
        self.custom_objects = {}
        for objects in custom_objects:
            if objects is None:
                continue
            if not isinstance(objects, dict):
                raise TypeError(f"custom_object_scope takes dicts of name -> object, got {type(objects).__name__}")
            self.custom_objects.update(objects)

    def __enter__(self):
        _SCOPES.stack.append(self.custom_objects)
        return self

    def __exit__(self, *exc):
        _SCOPES.stack.pop()
        return False


custom_object_scope = CustomObjectScope
