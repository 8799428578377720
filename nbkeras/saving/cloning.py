"""``models.clone_model``: the same architecture with new layers (fresh weights), as Keras 3 does it."""


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A new model with ``model``'s architecture and newly initialized weights (Keras 3: layers are rebuilt from
    their configs, names kept). ``clone_function(layer)`` returns the layer to use in place of each layer (return
    the layer itself to share it)."""
    from ..errors import check_kwargs
    from ..layers.input_layer import InputLayer
    from ..models.functional import Model
    from .serialization import _serialize_model, model_from_config

    check_kwargs(kwargs, (), "clone_model")
    if not isinstance(model, Model):
        raise ValueError(f"Expected `model` to be a `Model` instance. Received: model={model!r}")
    if input_tensors is not None or call_function is not None:
        raise ValueError("clone_model: input_tensors and call_function are not supported by nbkeras")
    clone_function = clone_function or (lambda layer: type(layer).from_config(layer.get_config()))
    by_name = {layer.name: layer for layer in model.layers}
    if getattr(model, "_input_layer", None) is not None:
        by_name[model._input_layer.name] = model._input_layer

    def make(entry):
        name = entry.get("name") or entry["config"].get("name")
        original = by_name[name]
        if isinstance(original, InputLayer):
            return InputLayer.from_config(original.get_config())
        if recursive and isinstance(original, Model):
            return clone_model(original, clone_function=clone_function, recursive=True)
        return clone_function(original)

    config = _serialize_model(model)
    return model_from_config(config, layer_factory=make, cls=type(model))
