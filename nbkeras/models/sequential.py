"""Sequential: a linear stack of single-input layers, built into a functional graph once its input shape is known.

The input shape comes from an ``Input``/``InputLayer`` given first, from the first layer's Keras 2 ``input_shape``
/ ``input_dim`` / ``batch_input_shape`` arguments, or from the first data the model sees (fit, predict, a call).
"""

import numpy as np

from ..layers.base import KerasTensor, Layer
from ..layers.input_layer import Input, InputLayer
from .functional import Model


class Sequential(Model):
    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._stack = []
        self._input_layer = None
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    def _default_name(self):
        return "sequential"

    def add(self, layer, rebuild=True):
        if isinstance(layer, KerasTensor) and isinstance(layer._keras_history[0], InputLayer):
            layer = layer._keras_history[0]
        if not isinstance(layer, Layer):
            raise TypeError(f"The added layer must be an instance of class Layer. Received: layer={layer!r} of type "
                            f"{type(layer).__name__}.")
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._stack:
                raise ValueError("Sequential: an InputLayer may only be the first layer")
            self._input_layer = layer
        else:
            if layer.n_inputs != 1:
                raise ValueError(f"Sequential: layer {layer.name!r} takes several inputs; use the functional API")
            if any(existing is layer for existing in self._stack):
                raise ValueError(f"Sequential: layer {layer.name!r} is already in the model")
            self._stack.append(layer)
        if rebuild:
            self._maybe_rebuild()

    def pop(self, rebuild=True):
        if not self._stack:
            raise TypeError("There are no layers in the model.")
        layer = self._stack.pop()
        self._graph_ready = False
        if rebuild:
            self._maybe_rebuild()
        return layer

    def _declared_shape(self):
        if self._input_layer is not None:
            return self._input_layer.output_tensor.shape[1:]
        if self._stack and self._stack[0]._declared_input_shape is not None:
            return tuple(self._stack[0]._declared_input_shape)
        return None

    def _maybe_rebuild(self):
        shape = self._declared_shape()
        self._graph_ready = False
        if shape is not None and self._stack:
            self._build_graph(shape)

    def _build_graph(self, shape):
        if self._input_layer is not None:
            x = self._input_layer.output_tensor
        else:
            x = Input(shape=tuple(shape))
            self._input_layer = x._keras_history[0]
        inputs = x
        for layer in self._stack:
            x = layer(x)
        self._init_graph(inputs, x)

    def _ensure_graph_for(self, data):
        if self._graph_ready:
            return
        if not self._stack:
            raise ValueError(f"Sequential model {self.name!r} has no layers")
        if isinstance(data, dict):
            data = list(data.values())
        if isinstance(data, (list, tuple)) and len(data) == 1:
            data = data[0]
        shape = tuple(data.shape) if hasattr(data, "shape") else np.shape(data)
        if len(shape) < 1:
            raise ValueError("Sequential: input data must have a batch dimension")
        self._build_graph(tuple(shape[1:]))

    @property
    def layers(self):
        # Keras's Sequential does not list its InputLayer.
        return list(self._stack)

    def build(self, input_shape=None):
        if input_shape is None:
            self._require_graph()
            return
        shape = tuple(input_shape)[1:]
        if not self._graph_ready:
            self._build_graph(shape)

    def _all_layers(self):
        return list(self._stack)

    def _require_graph(self):
        if not self._graph_ready:
            if self._stack and self._declared_shape() is not None:
                self._maybe_rebuild()
            if not self._graph_ready:
                raise ValueError(f"Sequential model {self.name!r} has not been built yet: give its first layer an "
                                 f"input shape (or start with keras.Input) or call it on data first")

    def summary(self, *args, **kwargs):
        self._require_graph()
        return super().summary(*args, **kwargs)
