"""``serialize_keras_object`` / ``deserialize_keras_object`` in Keras 3's schema, and model configs.

Every object is written as ``{"module", "class_name", "config", "registered_name"}`` (layers add ``build_config``),
with Keras's module names (``keras.layers``, ``keras.initializers``, ...), so Keras 3 reads what nbkeras writes.
Reading resolves a class by name only -- from the ``custom_objects`` argument, ``custom_object_scope``, the
``register_keras_serializable`` registry, then nbkeras's built-in classes -- and builds it with ``from_config``:
nothing from a file is ever executed or unpickled (a serialized lambda is refused).

Model configs follow Keras 3: Sequential ``{"name", "trainable", "dtype", "layers", "build_input_shape"}``;
functional ``{"name", "trainable", "layers": [... "name", "inbound_nodes": [{"args", "kwargs"}]], "input_layers",
"output_layers"}`` with tensors as ``{"class_name": "__keras_tensor__", "config": {"shape", "dtype",
"keras_history": [layer name, node index, tensor index]}}``. Keras 2's node lists are read too.
"""

import inspect
import re
import types

import numpy as np

from . import object_registration as registration

_MODEL_CLASSES = ("Sequential", "Functional", "Model")
_DTYPE_POLICIES = ("DTypePolicy", "FloatDTypePolicy", "Policy", "QuantizedDTypePolicy")
#: Keys Keras 3 writes that nbkeras's classes do not take; dropped on load when they hold these inert values.
_INERT = (None, False, 0, "", (), [], {})


def to_snake_case(name):
    """Keras 3's rule (``Conv2D`` -> ``conv2d``, ``MaxPooling2D`` -> ``max_pooling2d``), used for weight paths."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# ------------------------------------------------------------------------------------------ built-in classes
def builtin_classes():
    """{Keras module name: {class name: nbkeras class}} for every built-in serializable class."""
    from .. import constraints, initializers, layers, losses, metrics, optimizers, regularizers
    from ..layers.base import Layer
    from ..models import Model, Sequential

    layer_table = {}
    for name in layers.__all__:
        obj = getattr(layers, name)
        if isinstance(obj, type) and issubclass(obj, Layer) and obj is not Layer:
            layer_table[name] = obj
    return {
        "keras.layers": layer_table,
        "keras.models": {"Sequential": Sequential, "Functional": Model, "Model": Model},
        "keras.initializers": dict(initializers._CLASSES),
        "keras.regularizers": {k: v for k, v in regularizers._BY_NAME.items() if k[0].isupper()},
        "keras.constraints": {k: v for k, v in constraints._BY_NAME.items() if k[0].isupper()},
        "keras.optimizers": {cls.__name__: cls for cls in optimizers._NAMES.values()},
        "keras.losses": dict(losses._CLASS_NAMES),
        "keras.metrics": dict(metrics._CLASSES),
    }


def _builtin_functions():
    """{Keras module: {name: function}} for functions serialized by name (losses, metrics, activations)."""
    from .. import activations, losses, metrics

    out = {}
    for module, key in ((losses, "keras.losses"), (metrics, "keras.metrics"), (activations, "keras.activations")):
        out[key] = {n: f for n, f in vars(module).items() if isinstance(f, types.FunctionType) and not
                    n.startswith("_") and f.__module__ == module.__name__}
    return out


def _module_of(obj):
    """Keras's module name for a built-in object's class, or None for a user class."""
    cls = obj if isinstance(obj, type) else type(obj)
    for module, table in builtin_classes().items():
        if table.get(cls.__name__) is cls:
            return "keras" if module == "keras.models" else module
    return None


def _known_names():
    names = set()
    for table in builtin_classes().values():
        names.update(table)
    names.update(k for k in registration.scoped_objects())
    return sorted(names)


# ---------------------------------------------------------------------------------------------- serialize
def serialize_keras_object(obj):
    """Keras 3's JSON-ready form of ``obj``: plain values as they are, containers item by item, objects as
    ``{"module", "class_name", "config", "registered_name"}`` (plus ``build_config`` for layers)."""
    from ..activations import ActivationSpec
    from ..layers.base import Layer

    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, ActivationSpec):
        return obj.name
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
        return _serialize_function(obj)
    if _is_model(obj):
        return _serialize_model(obj)
    if not hasattr(obj, "get_config"):
        raise TypeError(f"Cannot serialize {obj!r} of type {type(obj).__name__}: it has no get_config()")
    module = _module_of(obj)
    registered = registration._GLOBAL_CUSTOM_NAMES.get(type(obj))
    if module is None:
        module = type(obj).__module__
        registered = registered or type(obj).__name__
    out = {"module": module, "class_name": type(obj).__name__, "config": _normalize(obj.get_config()),
           "registered_name": registered}
    if isinstance(obj, Layer):
        out["config"].pop("batch_input_shape", None)  # the model's InputLayer carries the shape
        build = _build_config(obj)
        if build is not None:
            out["build_config"] = build
    return out


def _serialize_function(fn):
    registered = registration._GLOBAL_CUSTOM_NAMES.get(fn)
    if registered is not None:
        return {"module": fn.__module__, "class_name": "function", "config": registered,
                "registered_name": registered}
    if fn.__name__ == "<lambda>":
        raise ValueError("Cannot serialize a lambda: register a named function with register_keras_serializable")
    for module, table in _builtin_functions().items():
        if table.get(fn.__name__) is fn:
            return {"module": module, "class_name": "function", "config": fn.__name__,
                    "registered_name": fn.__name__}
    return {"module": fn.__module__, "class_name": "function", "config": fn.__name__,
            "registered_name": fn.__name__}


def _normalize(value):
    """A config made JSON-ready in Keras 3's form: tuples as lists, nested objects serialized, and Keras 2 style
    ``{"class_name", "config"}`` dicts given their ``module`` and ``registered_name``."""
    if isinstance(value, dict):
        out = {str(k): _normalize(v) for k, v in value.items()}
        if "class_name" in out and "config" in out and "module" not in out:
            table_module = None
            for module, table in builtin_classes().items():
                if out["class_name"] in table:
                    table_module = module
                    break
            registered = out.get("registered_name")
            if table_module is None:
                obj = registration.get_registered_object(out["class_name"])
                registered = registration._GLOBAL_CUSTOM_NAMES.get(obj, registered)
            return {"module": table_module, "class_name": out["class_name"], "config": out["config"],
                    "registered_name": registered}
        return out
    if isinstance(value, (list, tuple)):
        return [_normalize(v) for v in value]
    return serialize_keras_object(value)


def _build_config(layer):
    from ..layers.input_layer import InputLayer

    if isinstance(layer, InputLayer) or not layer.built or not layer._inbound_nodes:
        return None
    ins = layer._inbound_nodes[-1].inputs
    shapes = [list(t.shape) for t in ins]
    if not shapes:
        return None
    return {"input_shape": shapes[0] if layer.n_inputs == 1 else shapes}


def _is_model(obj):
    from ..models.functional import Model

    return isinstance(obj, Model)


# -------------------------------------------------------------------------------------------- deserialize
def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The object ``config`` describes (see ``serialize_keras_object``); Keras 2's ``{"class_name", "config"}``
    form too. Unknown class names raise ValueError listing the known ones."""
    if kwargs:
        from ..errors import check_kwargs

        check_kwargs(kwargs, ("module_objects", "printable_module_name"), "deserialize_keras_object")
    if config is None or isinstance(config, (bool, int, float)):
        return config
    if isinstance(config, str):
        found = registration.get_registered_object(config, custom_objects, kwargs.get("module_objects"))
        return found if found is not None else config
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(v, custom_objects, safe_mode) for v in config]
    if not isinstance(config, dict):
        raise TypeError(f"Could not deserialize {config!r}: expected a dict, list, string or number")
    if "class_name" not in config:
        return {k: deserialize_keras_object(v, custom_objects, safe_mode) for k, v in config.items()}
    class_name = config["class_name"]
    inner = config.get("config")
    if class_name == "__lambda__":
        raise ValueError("The file holds a Python lambda. nbkeras never runs code stored in a file (safe_mode): "
                         "replace the lambda with a function registered with register_keras_serializable and "
                         "save again")
    if class_name == "__tuple__":
        return tuple(deserialize_keras_object(v, custom_objects, safe_mode) for v in inner["value"])
    if class_name in ("__numpy__", "__tensor__"):
        return np.asarray(inner["value"], dtype=inner.get("dtype"))
    if class_name in ("__bytes__",):
        return str(inner["value"]).encode("utf-8")
    if class_name in _DTYPE_POLICIES:
        name = inner.get("name") if isinstance(inner, dict) else inner
        if isinstance(name, str) and name.startswith("mixed_"):
            raise ValueError(f"dtype policy {name!r}: nbkeras computes in one float type (float32 or float64)")
        return name
    if class_name == "function":
        return _resolve_function(config, custom_objects)
    cls = resolve_class(class_name, config.get("module"), config.get("registered_name"), custom_objects)
    if class_name in _MODEL_CLASSES or _is_model_class(cls):
        return model_from_config(config, custom_objects=custom_objects, safe_mode=safe_mode)
    if inner is None:
        inner = {}
    if not isinstance(inner, dict):
        raise ValueError(f"{class_name}: its config must be a dict, got {inner!r}")
    inner = {k: (deserialize_keras_object(v, custom_objects, safe_mode) if _is_object_config(v) else v)
             for k, v in inner.items()}
    obj = _construct(cls, class_name, inner)
    build = config.get("build_config")
    if build and hasattr(obj, "_maybe_build") and not obj.built and build.get("input_shape") is not None:
        shape = build["input_shape"]
        obj._maybe_build([tuple(s) for s in shape] if shape and isinstance(shape[0], list) else tuple(shape))
    return obj


def _is_object_config(value):
    return isinstance(value, dict) and "class_name" in value


def _is_model_class(cls):
    from ..models.functional import Model

    return isinstance(cls, type) and issubclass(cls, Model)


def resolve_class(class_name, module=None, registered_name=None, custom_objects=None):
    """The class a config names: custom objects (by registered name, then class name) first, then nbkeras's
    built-in class of that name (in the named Keras module when there is one)."""
    for key in (registered_name, class_name):
        if key:
            found = registration.get_registered_object(key, custom_objects)
            if found is not None:
                return found
    tables = builtin_classes()
    if module in ("keras", "keras.src.models.functional", "keras.src.models.sequential", "keras.src.models.model"):
        module = "keras.models"
    if module in tables and class_name in tables[module]:
        return tables[module][class_name]
    for table in tables.values():
        if class_name in table:
            return table[class_name]
    raise ValueError(f"Unknown class {class_name!r} (module {module!r}, registered_name {registered_name!r}). "
                     f"Pass it in `custom_objects`, use `custom_object_scope`, or register it with "
                     f"`register_keras_serializable`. Known classes: {', '.join(_known_names())}")


def _resolve_function(config, custom_objects):
    name = config.get("config")
    for key in (config.get("registered_name"), name):
        if key:
            found = registration.get_registered_object(key, custom_objects)
            if found is not None:
                return found
    tables = _builtin_functions()
    module = config.get("module")
    for mod in ([module] if module in tables else []) + list(tables):
        if name in tables[mod]:
            return tables[mod][name]
    raise ValueError(f"Unknown function {name!r} (module {module!r}): register it with "
                     f"register_keras_serializable or pass it in custom_objects")


def _accepted_arguments(cls):
    """Names ``cls(**config)`` accepts, following ``**kwargs`` up to the base class; None when any name goes."""
    from ..layers.base import _LAYER_KWARGS, Layer

    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters
        names.update(n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
        if klass is Layer:
            names.update(_LAYER_KWARGS)
            return names
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return names
    return None


def _construct(cls, class_name, config):
    """``cls.from_config(config)``; for nbkeras's own classes, keys Keras 3 writes that nbkeras's signatures do not
    name are dropped when they hold inert values (None, False, ...)."""
    builtin = any(table.get(class_name) is cls for table in builtin_classes().values())
    if builtin and hasattr(cls, "__init__"):
        accepted = _accepted_arguments(cls)
        if accepted is not None:
            extra = [k for k in config if k not in accepted]
            for key in extra:
                value = config[key]
                if key == "dtype" or any(value is v or (type(value) is type(v) and value == v) for v in _INERT):
                    del config[key]
                # Other values pass through: some classes take options through **kwargs (RNN layers'
                # zero_output_for_mask); one that does not raises in from_config, named below.
    if not hasattr(cls, "from_config"):
        raise ValueError(f"{class_name} has no from_config(): cannot build it from a config")
    try:
        return cls.from_config(config)
    except TypeError as e:
        raise TypeError(f"{class_name} could not be built from its config (an option nbkeras does not support?) "
                        f"{config!r}: {e}") from e


# ------------------------------------------------------------------------------------------- model configs
def _serialize_model(model):
    from ..models.sequential import Sequential

    if type(model) is Sequential or (isinstance(model, Sequential) and _module_of(model) is not None):
        out = {"module": "keras", "class_name": "Sequential", "config": sequential_config(model),
               "registered_name": None}
    elif _module_of(model) is not None:
        out = {"module": "keras.src.models.functional", "class_name": "Functional",
               "config": functional_config(model), "registered_name": "Functional"}
    else:
        cls = type(model)
        registered = registration._GLOBAL_CUSTOM_NAMES.get(cls, cls.__name__)
        config = sequential_config(model) if isinstance(model, Sequential) else functional_config(model)
        out = {"module": cls.__module__, "class_name": cls.__name__, "config": config,
               "registered_name": registered}
    shape = _model_input_shape(model)
    out["build_config"] = {"input_shape": shape}
    return out


def _model_input_shape(model):
    if not model._graph_ready:
        return None
    shapes = [list(t.shape) for t in model.inputs]
    return shapes[0] if len(shapes) == 1 else shapes


def model_config(model):
    """A model's config in Keras 3's schema (Sequential or functional)."""
    return _serialize_model(model)["config"]


def sequential_config(model):
    model._require_graph() if model._stack and model._declared_shape() is not None else None
    layers = []
    if model._graph_ready and model._input_layer is not None:
        layers.append(serialize_keras_object(model._input_layer))
    layers += [serialize_keras_object(layer) for layer in model._stack]
    config = {"name": model.name, "trainable": model.trainable, "dtype": model.dtype, "layers": layers}
    if model._graph_ready:
        config["build_input_shape"] = list(model.inputs[0].shape)
    return config


def functional_config(model):
    model._require_graph()
    from ..layers.input_layer import InputLayer

    model_nodes = {}
    for layer in model.layers:
        own = [n for n in model._nodes if n.layer is layer] if not isinstance(layer, InputLayer) else \
            layer._inbound_nodes[:1]
        order = {id(n): i for i, n in enumerate(layer._inbound_nodes)}
        model_nodes[id(layer)] = sorted(own, key=lambda n: order[id(n)])

    def node_index(tensor):
        layer, index, _ = tensor._keras_history
        node = layer._inbound_nodes[index]
        return [id(n) for n in model_nodes[id(layer)]].index(id(node))

    def tensor_config(t):
        layer, _, tensor_index = t._keras_history
        return {"class_name": "__keras_tensor__", "config": {"shape": list(t.shape), "dtype": t.dtype,
                                                              "keras_history": [layer.name, node_index(t),
                                                                                tensor_index]}}

    layers = []
    for layer in model.layers:
        entry = serialize_keras_object(layer)
        entry["name"] = layer.name
        nodes = []
        if not isinstance(layer, InputLayer):
            for node in model_nodes[id(layer)]:
                tensors = [tensor_config(t) for t in node.inputs]
                arg = tensors[0] if layer.n_inputs == 1 and len(tensors) == 1 else tensors
                nodes.append({"args": [arg], "kwargs": {}})
        entry["inbound_nodes"] = nodes
        layers.append(entry)

    def history(t):
        return [t._keras_history[0].name, node_index(t), t._keras_history[2]]

    def structure(flat, kind):
        triples = [history(t) for t in flat]
        if kind == "single":
            return triples[0]
        if kind == "list":
            return triples
        return dict(zip(kind, triples))

    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": structure(model.inputs, model._input_structure),
            "output_layers": structure(model.outputs, model._output_structure)}


def model_from_config(config, custom_objects=None, safe_mode=True, layer_factory=None, cls=None):
    """A model from ``serialize_keras_object(model)`` (or its inner ``config`` with a ``class_name`` beside it).
    ``layer_factory(entry)``, when given, makes each layer from its serialized entry (clone_model's hook)."""
    from ..models import Model, Sequential

    inner = config.get("config", config)
    class_name = config.get("class_name") or ("Functional" if "input_layers" in inner else "Sequential")
    if cls is None:
        cls = resolve_class(class_name, config.get("module"), config.get("registered_name"), custom_objects) \
            if class_name not in _MODEL_CLASSES else (Sequential if class_name == "Sequential" else Model)
    make = layer_factory or (lambda entry: deserialize_keras_object(_layer_entry(entry), custom_objects,
                                                                    safe_mode))
    if issubclass(cls, Sequential):
        layers = [make(entry) for entry in inner["layers"]]
        model = cls(layers, name=inner.get("name"))
        shape = inner.get("build_input_shape")
        if not model._graph_ready and shape is not None:
            model.build(tuple(shape))
    else:
        if "input_layers" not in inner:
            raise ValueError(f"The config of functional model {inner.get('name')!r} has no graph (input_layers / "
                             f"output_layers, inbound_nodes): it is not Keras 3's functional config")
        inputs, outputs = _rebuild_graph(inner, make)
        model = cls(inputs, outputs, name=inner.get("name"))
    model.trainable = bool(inner.get("trainable", True))
    return model


def _layer_entry(entry):
    return {k: v for k, v in entry.items() if k not in ("inbound_nodes", "name")}


def _rebuild_graph(config, make):
    from ..layers.input_layer import InputLayer

    created, outputs_of, pending = {}, {}, []
    for entry in config["layers"]:
        layer = make(entry)
        name = entry.get("name") or layer.name
        created[name] = layer
        if isinstance(layer, InputLayer):
            outputs_of[(name, 0)] = [layer.output_tensor]
        pending.append([name, layer, list(entry.get("inbound_nodes") or []), 0])

    def resolve(value):
        """The node's argument with tensors looked up; raises KeyError while a producer has not run yet."""
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            name, node, index = value["config"]["keras_history"]
            return outputs_of[(name, node)][index]
        if isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str) and \
                isinstance(value[1], int):  # Keras 2: [name, node_index, tensor_index, kwargs]
            return outputs_of[(value[0], value[1])][value[2]]
        if isinstance(value, (list, tuple)):
            return [resolve(v) for v in value]
        return value

    progress = True
    while progress:
        progress = False
        for item in pending:
            name, layer, nodes, done = item
            while done < len(nodes):
                node = nodes[done]
                try:
                    if isinstance(node, dict):
                        args = resolve(node.get("args", []))
                        arg = args[0] if len(args) == 1 else args
                    else:  # Keras 2: a list of inbound tensors
                        args = resolve(node)
                        arg = args[0] if len(args) == 1 else args
                except KeyError:
                    break
                out = layer(arg)
                outputs_of[(name, done)] = out if isinstance(out, list) else [out]
                done += 1
                item[3] = done
                progress = True
    stuck = [item[0] for item in pending if item[3] < len(item[2])]
    if stuck:
        raise ValueError(f"The model config is inconsistent: the inputs of layers {stuck} are never produced")

    def structure(spec):
        if isinstance(spec, dict):
            return {k: structure(v) for k, v in spec.items()}
        if isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str):
            if spec[0] not in created:
                raise ValueError(f"The model config names layer {spec[0]!r}, which it does not define")
            return outputs_of[(spec[0], spec[1])][spec[2]]
        return [structure(s) for s in spec]

    inputs = structure(config["input_layers"])
    outputs = structure(config["output_layers"])
    return inputs, outputs
