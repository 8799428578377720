"""Layer, Variable, and the symbolic tensors that record a functional graph.

A layer owns Variables and knows two ways to run: eagerly (``forward``/``backward`` on NumPy arrays, calling
kernels through ``backend.kernels()``) and as source lines for a generated train step (``emit_forward`` /
``emit_backward``). Both call the same kernels in the same order, so the two execution paths agree.

Inside the trainer every tensor is a 2-D buffer ``(batch, features)`` (features = the product of the non-batch
dimensions); a layer that needs another view (Dense on rank-3 input) reshapes it.
"""

import math
import re

import numpy as np

from .. import backend
from ..errors import check_kwargs


def to_snake_case(name):
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


class Variable:
    """A weight: a NumPy array that the model may move into its contiguous parameter buffer.

    ``value`` is the live array (a view into the model's buffer once compiled); ``grad`` the matching view into
    the gradient buffer (trainable variables only).
    """

    def __init__(self, value, name, trainable=True, path=None):
        self._value = value
        self.name = name
        self.path = path or name
        self.trainable = trainable
        self.grad = None
        self._arena = None  # the buffer object that owns ``_value``, if any

    @property
    def value(self):
        return self._value

    @property
    def shape(self):
        return self._value.shape

    @property
    def dtype(self):
        return str(self._value.dtype)

    def numpy(self):
        return self._value.copy()

    def assign(self, value):
        value = np.asarray(value)
        if value.shape != self._value.shape:
            raise ValueError(
                f"Variable {self.path!r}: cannot assign a value of shape {value.shape}; expected {self._value.shape}"
            )
        self._value[...] = value

    def bind(self, view, arena):
        """Move this variable's storage into ``view`` (a slice of a model's buffer), keeping its value."""
        view[...] = self._value
        self._value = view
        self._arena = arena

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._value, dtype=dtype)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}>"


class KerasTensor:
    """A symbolic tensor: a shape (batch dimension None), a dtype and the layer call that produced it."""

    def __init__(self, shape, dtype=None, name=None, history=None):
        self.shape = tuple(shape)
        self.dtype = dtype or backend.floatx()
        self.name = name
        self._keras_history = history  # (layer, node_index, tensor_index)

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


class Node:
    """One call of a layer on symbolic inputs."""

    def __init__(self, layer, inputs, outputs):
        self.layer = layer
        self.inputs = list(inputs)
        self.outputs = list(outputs)


def is_symbolic(x):
    if isinstance(x, KerasTensor):
        return True
    if isinstance(x, (list, tuple)):
        return any(isinstance(t, KerasTensor) for t in x)
    return False


_LAYER_KWARGS = ("input_shape", "batch_input_shape", "batch_size", "input_dim", "weights", "autocast",
                 "activity_regularizer", "input_length")


class Layer:
    """Base layer. Subclasses implement ``build``, ``compute_output_shape``, ``forward``/``backward`` and
    ``emit_forward``/``emit_backward``."""

    #: number of inputs the layer takes (None = a list of any length)
    n_inputs = 1

    def __init__(self, trainable=True, name=None, dtype=None, **kwargs):
        check_kwargs(kwargs, _LAYER_KWARGS, type(self).__name__)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, got {type(name).__name__}")
        self.name = name or backend.unique_name(to_snake_case(type(self).__name__))
        self.trainable = bool(trainable)
        self.dtype = dtype or backend.floatx()
        self.built = False
        self._weights = []
        self._inbound_nodes = []
        self._initial_weights = kwargs.get("weights")
        # Keras 2 style input declarations on the first layer of a Sequential model.
        batch_input_shape = kwargs.get("batch_input_shape")
        input_shape = kwargs.get("input_shape")
        if input_shape is None and kwargs.get("input_dim") is not None:
            input_shape = (int(kwargs["input_dim"]),)
        if batch_input_shape is not None:
            self._declared_input_shape = tuple(batch_input_shape)[1:]
        elif input_shape is not None:
            self._declared_input_shape = tuple(input_shape)
        else:
            self._declared_input_shape = None

    # ----------------------------------------------------------------- weights
    def add_weight(self, name, shape, initializer="zeros", trainable=True, dtype=None):
        from .. import initializers

        init = initializers.get(initializer)
        shape = tuple(int(s) for s in shape)
        value = np.ascontiguousarray(init(shape, dtype=dtype or self.dtype), dtype=dtype or self.dtype)
        var = Variable(value, name, trainable=trainable, path=f"{self.name}/{name}")
        self._weights.append(var)
        return var

    @property
    def weights(self):
        """Variables created trainable, then those created non-trainable, each in creation order (Keras's order,
        which does not change when ``layer.trainable`` is flipped)."""
        return [w for w in self._weights if w.trainable] + [w for w in self._weights if not w.trainable]

    @property
    def trainable_weights(self):
        return [w for w in self._weights if w.trainable and self.trainable]

    @property
    def non_trainable_weights(self):
        return [w for w in self._weights if not (w.trainable and self.trainable)]

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        """Assign arrays to ``self.weights`` in order; all shapes are checked before anything is written."""
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(f"You called `set_weights(weights)` on layer {self.name!r} with a weight list of length "
                             f"{len(weights)}, but the layer was expecting {len(own)} weights.")
        for var, value in zip(own, weights):
            if np.shape(value) != var.shape:
                raise ValueError(f"Weight {var.path!r} has shape {var.shape}; received an array of shape "
                                 f"{np.shape(value)}")
        for var, value in zip(own, weights):
            var.assign(value)

    def count_params(self):
        if not self.built:
            raise ValueError(f"Layer {self.name!r} is not built yet: count_params() needs its input shape")
        return int(sum(math.prod(w.shape) for w in self._weights))

    # ------------------------------------------------------------------ build
    def build(self, input_shape):
        self.built = True

    def _maybe_build(self, input_shape):
        if not self.built:
            self.build(input_shape)
            self.built = True
            if self._initial_weights is not None:
                self.set_weights(self._initial_weights)
                self._initial_weights = None

    def compute_output_shape(self, input_shape):
        return input_shape

    # ------------------------------------------------------------------- call
    def __call__(self, inputs, training=None, **kwargs):
        if kwargs:
            check_kwargs(kwargs, (), f"{type(self).__name__}.__call__")
        if is_symbolic(inputs):
            return self._call_symbolic(inputs)
        return self._call_eager(inputs, bool(training))

    def _as_list(self, inputs):
        if self.n_inputs == 1:
            if isinstance(inputs, (list, tuple)):
                if len(inputs) != 1:
                    raise ValueError(f"Layer {self.name!r} expects 1 input, got {len(inputs)}")
                inputs = inputs[0]
            return [inputs]
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"Layer {self.name!r} expects a list of inputs")
        return list(inputs)

    def _call_symbolic(self, inputs):
        tensors = self._as_list(inputs)
        for t in tensors:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Layer {self.name!r}: mix of symbolic and concrete inputs")
        shapes = [t.shape for t in tensors]
        in_shape = shapes[0] if self.n_inputs == 1 else shapes
        self._check_input_shape(in_shape)
        self._maybe_build(in_shape)
        out_shape = tuple(self.compute_output_shape(in_shape))
        node_index = len(self._inbound_nodes)
        out = KerasTensor(out_shape, self.dtype, name=self.name, history=(self, node_index, 0))
        self._inbound_nodes.append(Node(self, tensors, [out]))
        return out

    def _call_eager(self, inputs, training):
        arrays = [np.ascontiguousarray(np.asarray(a, dtype=self.dtype)) for a in self._as_list(inputs)]
        shapes = [(None,) + a.shape[1:] for a in arrays]
        in_shape = shapes[0] if self.n_inputs == 1 else shapes
        self._check_input_shape(in_shape)
        self._maybe_build(in_shape)
        out_shape = self.compute_output_shape(in_shape)
        flat = [a.reshape(a.shape[0], -1) for a in arrays]
        y, _ = self.forward(flat, training, backend.rng())
        return y.reshape((arrays[0].shape[0],) + tuple(out_shape[1:]))

    def _check_input_shape(self, input_shape):
        """Hook: raise ValueError for an input shape the layer cannot take."""

    # --------------------------------------------------- eager compute (2-D)
    def forward(self, inputs, training, rng):
        """inputs: list of (batch, features) arrays. Returns (output, cache): the (batch, features) output and
        whatever ``backward`` needs besides inputs and output (pre-activations, dropout draws)."""
        raise NotImplementedError

    def backward(self, inputs, output, cache, d_output, need_d_inputs):
        """Returns a list (one per input) of input gradients (None where not needed) and adds this call's weight
        gradients into ``var.grad``. May overwrite ``d_output``."""
        raise NotImplementedError

    # ------------------------------------------------------------- codegen
    def emit_forward(self, g, ins, out, training):
        """Source lines computing ``out`` (a (B, features) buffer name) from ``ins``."""
        raise NotImplementedError

    def emit_backward(self, g, ins, out, d_out, d_ins, accumulate):
        """Source lines writing input gradients into ``d_ins`` (names or None) and weight gradients."""
        raise NotImplementedError

    #: True when the layer's output shares the input buffer (Flatten, Dropout at inference, ...)
    def output_aliases_input(self, training):
        return False

    # --------------------------------------------------------------- config
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._declared_input_shape is not None:
            config["batch_input_shape"] = (None,) + tuple(self._declared_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # ------------------------------------------------------------- graph
    @property
    def input(self):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name!r} has never been called and thus has no defined input")
        ins = self._inbound_nodes[0].inputs
        return ins[0] if len(ins) == 1 else ins

    @property
    def output(self):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name!r} has never been called and thus has no defined output")
        return self._inbound_nodes[0].outputs[0]

    @property
    def input_shape(self):
        return self.input.shape if not isinstance(self.input, list) else [t.shape for t in self.input]

    @property
    def output_shape(self):
        return self.output.shape

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
