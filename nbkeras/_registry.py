"""Keras 3's serialized form of small objects (regularizers, constraints): one writer and one reader."""


def serialize(obj, builtins, module):
    """{"module", "class_name", "config", "registered_name"}: a built-in class is Keras's, any other the user's."""
    cls = type(obj)
    if cls in builtins:
        module_name, registered = module, None
    else:
        module_name, registered = cls.__module__, cls.__name__
    return {"module": module_name, "class_name": cls.__name__, "config": obj.get_config(),
            "registered_name": registered}


def deserialize(config, by_name, kind, get, custom_objects=None):
    """An object from ``serialize``'s dict (or Keras 2's {"class_name", "config"}) or a name; ``kind`` names it in
    errors ("regularizer", "constraint")."""
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret {kind} config: {config!r}")
    name = config["class_name"]
    custom = custom_objects or {}
    cls = custom.get(config.get("registered_name")) or custom.get(name) or by_name.get(name)
    if cls is None:
        raise ValueError(f"Unknown {kind}: {name!r}. Expected one of {sorted(by_name)} or a {kind.capitalize()} "
                         "passed in custom_objects")
    inner = config.get("config") or {}
    try:
        return cls.from_config(inner)
    except TypeError as e:
        raise TypeError(f"{name} could not be deserialized from config {inner!r}: {e}") from e
