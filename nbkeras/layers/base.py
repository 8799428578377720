"""Layer, Variable, and the symbolic tensors that record a functional graph.

A layer owns Variables and states its computation once, as data: ``describe_forward(ctx)`` and
``describe_backward(ctx)`` add kernel calls whose arguments are references handed out by ``ctx`` (see
``nbkeras/models/program.py``). Interpreters run those descriptions -- eagerly from Python, compiled into one numba
step, and (later) as CUDA launches -- so no layer writes any execution path by hand.

Every tensor lives in a buffer of ``width`` values per sample (the product of the non-batch dimensions); a layer
asks for the view it needs (``ctx.input(0, (h, w, c))`` is a (batch, h, w, c) image batch).
"""

import math
import re
import threading

import numpy as np

from .. import backend
from ..errors import check_kwargs


def to_snake_case(name):
    """Keras 3's rule: 'Conv1D' -> 'conv1d', 'BatchNormalization' -> 'batch_normalization'."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


#: Bumped whenever any layer's weight list may have changed (a layer, variable or container attribute set on a
#: layer, a weight added, ``trainable`` set on a layer or variable): a model re-derives its weights, and checks its
#: parameter buffer still matches them, only when this moved (``structure_version()``). Growing a list attribute
#: in place after the model ran is not seen; Keras's functional graph does not see it either.
_STRUCTURE = [0]


def structure_version():
    return _STRUCTURE[0]


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

    def __setattr__(self, name, value):
        if name == "trainable":
            _STRUCTURE[0] += 1
        object.__setattr__(self, name, value)

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
        if isinstance(value, KerasTensor):
            return _record_state_update(self, "assign", value)
        value = np.asarray(value)
        if value.shape != self._value.shape:
            raise ValueError(
                f"Variable {self.path!r}: cannot assign a value of shape {value.shape}; expected {self._value.shape}"
            )
        self._value[...] = value

    def assign_add(self, value):
        if isinstance(value, KerasTensor):
            return _record_state_update(self, "add", value)
        self._value[...] = self._value + np.asarray(value, self._value.dtype)
        return self

    def assign_sub(self, value):
        if isinstance(value, KerasTensor):
            return _record_state_update(self, "sub", value)
        self._value[...] = self._value - np.asarray(value, self._value.dtype)
        return self

    def bind(self, view, arena):
        """Move this variable's storage into ``view`` (a slice of a model's buffer), keeping its value."""
        view[...] = self._value
        self._value = view
        self._arena = arena

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._value, dtype=dtype)

    @property
    def ndim(self):
        return self._value.ndim

    def __len__(self):
        return len(self._value)

    def __getitem__(self, index):
        return self._value[index]

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}>"


def _record_state_update(var, mode, tensor):
    from .traced_function import record_state_update

    record_state_update(var, mode, tensor)
    return var


def _variable_operator(name):
    """Variable arithmetic: on arrays, the NumPy result; with a symbolic tensor, defer to the tensor's reflected
    operator (which records an op node reading this variable)."""
    op = getattr(np.ndarray, name)

    def method(self, other):
        if isinstance(other, KerasTensor) or (isinstance(other, (list, tuple)) and is_symbolic(other)):
            return NotImplemented
        return op(self._value, np.asarray(other) if isinstance(other, Variable) else other)

    method.__name__ = name
    return method


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
              "__matmul__", "__rmatmul__", "__pow__", "__rpow__", "__lt__", "__le__", "__gt__", "__ge__"):
    setattr(Variable, _name, _variable_operator(_name))
Variable.__neg__ = lambda self: -self._value


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

    def __bool__(self):
        from .tracing import no_value_error

        raise no_value_error(self)

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"{self!r} is symbolic: NumPy cannot compute with it. Inside a model, a custom layer, loss "
                        f"or metric, compute with keras.ops (which nbkeras compiles) instead of NumPy")

    # ---------------------------------------------------------------- operators: keras.ops on this tensor
    # (nbkeras.ops is imported at call time: it imports this module.) == and != record ops.equal / not_equal as
    # in Keras 3 (`values = y_true == y_pred` in metrics); tensors stay hashable by identity, and graph code
    # compares them with `is` and id().
    __array_ufunc__ = None
    __hash__ = object.__hash__

    def __eq__(self, other):
        return self._op("equal", self, other)

    def __ne__(self, other):
        return self._op("not_equal", self, other)  # NumPy defers to the reflected methods: np.float32(2) * t is ops.multiply(2, t)

    def _op(self, name, *args):
        from .. import ops

        return getattr(ops, name)(*args)

    def __add__(self, other):
        return self._op("add", self, other)

    def __radd__(self, other):
        return self._op("add", other, self)

    def __sub__(self, other):
        return self._op("subtract", self, other)

    def __rsub__(self, other):
        return self._op("subtract", other, self)

    def __mul__(self, other):
        return self._op("multiply", self, other)

    def __rmul__(self, other):
        return self._op("multiply", other, self)

    def __truediv__(self, other):
        return self._op("divide", self, other)

    def __rtruediv__(self, other):
        return self._op("divide", other, self)

    def __floordiv__(self, other):
        return self._op("floor_divide", self, other)

    def __rfloordiv__(self, other):
        return self._op("floor_divide", other, self)

    def __mod__(self, other):
        return self._op("mod", self, other)

    def __rmod__(self, other):
        return self._op("mod", other, self)

    def __pow__(self, other):
        return self._op("power", self, other)

    def __rpow__(self, other):
        return self._op("power", other, self)

    def __matmul__(self, other):
        return self._op("matmul", self, other)

    def __rmatmul__(self, other):
        return self._op("matmul", other, self)

    def __neg__(self):
        return self._op("negative", self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self._op("abs", self)

    def __lt__(self, other):
        return self._op("less", self, other)

    def __le__(self, other):
        return self._op("less_equal", self, other)

    def __gt__(self, other):
        return self._op("greater", self, other)

    def __ge__(self, other):
        return self._op("greater_equal", self, other)

    def __and__(self, other):
        return self._op("logical_and", self, other)

    def __rand__(self, other):
        return self._op("logical_and", other, self)

    def __or__(self, other):
        return self._op("logical_or", self, other)

    def __ror__(self, other):
        return self._op("logical_or", other, self)

    def __xor__(self, other):
        return self._op("logical_xor", self, other)

    def __invert__(self):
        return self._op("logical_not", self)

    def __getitem__(self, key):
        return self._op("getitem", self, key)


class Node:
    """One call of a layer on symbolic inputs."""

    def __init__(self, layer, inputs, outputs):
        self.layer = layer
        self.inputs = list(inputs)
        self.outputs = list(outputs)


#: How deep this thread is in custom layers' calls on arrays (the outermost one resets ``losses``).
_EAGER_CALLS = threading.local()


def _self_and_sublayers(layer):
    """``layer`` and every layer under it, once each: a built model's layers, other layers' tracked attributes."""
    from .tracing import tracked_sublayers

    out, seen, todo = [], set(), [layer]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        out.append(current)
        children = None
        if getattr(current, "_graph_ready", False):
            children = current.layers
        if children is None:
            children = tracked_sublayers(current)
        todo.extend(children)
    return out


def is_symbolic(x):
    if isinstance(x, KerasTensor):
        return True
    if isinstance(x, (list, tuple)):
        return any(isinstance(t, KerasTensor) for t in x)
    return False


_LAYER_KWARGS = ("input_shape", "batch_input_shape", "batch_size", "input_dim", "weights", "autocast",
                 "activity_regularizer", "input_length")


def _array_shapes(value):
    if isinstance(value, dict):
        return {k: _array_shapes(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_array_shapes(v) for v in value)
    return (None,) + tuple(np.shape(value))[1:]


def _dedupe(variables):
    seen, out = set(), []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def _output_shapes(shape):
    """([output shapes], several?) from compute_output_shape's result: one shape, or a list of shapes."""
    if isinstance(shape, list) and shape and all(isinstance(s, (tuple, list)) for s in shape):
        return [tuple(s) for s in shape], True
    return [tuple(shape)], False


def _not_describable(layer):
    if type(layer).call is not Layer.call:
        return TypeError(f"Layer {layer.name!r} ({type(layer).__name__}) defines call(): custom Python layers need "
                         f"keras.ops tracing, which nbkeras does not have yet; build the model from nbkeras's "
                         f"built-in layers")
    return TypeError(f"Layer {type(layer).__name__} does not describe its computation (describe_forward)")


class Layer:
    """Base layer. Subclasses implement ``build``, ``compute_output_shape`` and ``describe_forward`` /
    ``describe_backward``."""

    #: number of inputs the layer takes (None = a list of any length)
    n_inputs = 1

    def __setattr__(self, name, value):
        if name == "trainable" or isinstance(value, (Layer, Variable, list, tuple, dict)):
            _STRUCTURE[0] += 1
        object.__setattr__(self, name, value)

    def __init__(self, trainable=True, name=None, dtype=None, **kwargs):
        check_kwargs(kwargs, _LAYER_KWARGS, type(self).__name__)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, got {type(name).__name__}")
        self.name = name or backend.unique_name(to_snake_case(type(self).__name__))
        self.trainable = bool(trainable)
        self.dtype = dtype or backend.floatx()
        self.built = False
        self._weights = []
        self._eager_losses = []
        self._weight_regularizers = []
        self._weight_constraints = []
        self._inbound_nodes = []
        self._initial_weights = kwargs.get("weights")
        from .. import regularizers

        self.activity_regularizer = regularizers.get(kwargs.get("activity_regularizer"))
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
    def add_weight(self, *args, **kwargs):
        """Create a weight. Keras 3's form ``add_weight(shape=None, initializer=None, dtype=None, trainable=True,
        regularizer=None, constraint=None, name=None)`` and Keras 2's ``add_weight(name, shape, dtype=None,
        initializer=None, regularizer=None, trainable=True, constraint=None)`` (a string first means Keras 2's)."""
        from .. import constraints, initializers, regularizers

        if args and isinstance(args[0], str):
            names = ("name", "shape", "dtype", "initializer", "regularizer", "trainable", "constraint")
            if len(args) > 2 and not isinstance(args[2], (str, np.dtype, type(None))):
                names = ("name", "shape", "initializer", "trainable", "dtype")  # nbkeras's own positional form
        else:
            names = ("shape", "initializer", "dtype", "trainable", "autocast", "regularizer", "constraint")
        if len(args) > len(names):
            raise TypeError(f"add_weight() takes at most {len(names)} positional arguments")
        for key, value in zip(names, args):
            if key in kwargs:
                raise TypeError(f"add_weight() got multiple values for argument {key!r}")
            kwargs[key] = value
        check_kwargs(kwargs, ("name", "shape", "dtype", "initializer", "regularizer", "trainable", "constraint",
                              "autocast", "aggregation", "overwrite_with_gradient", "synchronization",
                              "use_resource", "partitioner", "caching_device", "experimental_autocast"),
                     "add_weight")
        name = kwargs.get("name") or f"variable_{len(self._weights)}"
        shape = kwargs.get("shape")
        shape = () if shape is None else tuple(int(s) for s in shape)
        dtype = kwargs.get("dtype") or self.dtype
        initializer = kwargs.get("initializer")
        if initializer is None:
            initializer = "glorot_uniform" if np.issubdtype(np.dtype(dtype), np.floating) else "zeros"
        trainable = kwargs.get("trainable")
        trainable = True if trainable is None else bool(trainable)
        init = initializers.get(initializer)
        value = np.array(init(shape, dtype=dtype), dtype=dtype, order="C")  # 0-d stays 0-d (Keras's scalars)
        var = Variable(value, name, trainable=trainable, path=f"{self.name}/{name}")
        self._weights.append(var)
        _STRUCTURE[0] += 1
        regularizer = regularizers.get(kwargs.get("regularizer"))
        if regularizer is not None:
            self._weight_regularizers.append((var, regularizer))
        constraint = constraints.get(kwargs.get("constraint"))
        if constraint is not None:
            self._weight_constraints.append((var, constraint))
        return var

    @property
    def weights(self):
        """Variables created trainable, then those created non-trainable, each in creation order (Keras's order,
        which does not change when ``layer.trainable`` is flipped), then those of the layers held in attributes."""
        own = [w for w in self._weights if w.trainable] + [w for w in self._weights if not w.trainable]
        return _dedupe(own + [w for sub in self._sublayers() for w in sub.weights])

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        own = [w for w in self._weights if w.trainable]
        return _dedupe(own + [w for sub in self._sublayers() for w in sub.trainable_weights])

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def variables(self):
        return self.weights

    @property
    def trainable_variables(self):
        return self.trainable_weights

    @property
    def non_trainable_variables(self):
        return self.non_trainable_weights

    def _sublayers(self):
        """Layers this one holds as attributes (a custom layer's Dense, a wrapper's inner layer)."""
        from .tracing import tracked_sublayers

        return tracked_sublayers(self)

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
    def call(self, inputs, *args, **kwargs):
        """Keras's per-layer computation on tensors; nbkeras's built-in layers describe kernel calls instead."""
        raise _not_describable(self)

    def __call__(self, inputs, *args, training=None, **kwargs):
        from .tracing import is_traced

        if is_traced(self):
            return self._call_python(inputs, training, kwargs, args)
        if args:  # Keras 2's layer(x, training)
            if len(args) > 1 or training is not None:
                raise TypeError(f"{type(self).__name__}.__call__ takes the inputs and `training`; got "
                                f"{1 + len(args)} positional arguments")
            training = args[0]
        if kwargs:
            check_kwargs(kwargs, (), f"{type(self).__name__}.__call__")
        if is_symbolic(inputs):
            return self._call_symbolic(inputs)
        return self._call_eager(inputs, bool(training))

    def _call_python(self, inputs, training, kwargs, args=()):
        """A custom layer: build it from the input shapes, then trace ``call`` (symbolic inputs) or run it on
        arrays (ops compute at once). ``args``: more positional arguments of ``call`` (Keras 3 passes them on:
        ``layer(targets, logits)``), or Keras 2's positional ``training`` when call's second parameter is it."""
        from . import tracing

        if args and len(args) == 1 and training is None and tracing.second_parameter(self.call) == "training":
            training, args = args[0], ()
        symbolic = bool(tracing.flatten_structure((inputs,) + tuple(args))[0])
        if symbolic:
            kwargs = tracing.call_kwargs(self, training, kwargs)
        elif training is not None and tracing.accepts(self.call, "training"):
            kwargs = dict(kwargs, training=training)
        if not self.built:
            if symbolic:
                shape = tracing.shapes_of(inputs)
            else:
                shape = _array_shapes(inputs)
            self.build(shape)
            self.built = True
            if self._initial_weights is not None:
                self.set_weights(self._initial_weights)
                self._initial_weights = None
        if symbolic:
            if args:
                return tracing.trace(self, (inputs,) + tuple(args), kwargs, positional=True)
            return tracing.trace(self, inputs, kwargs)
        depth = getattr(_EAGER_CALLS, "depth", 0)
        if depth == 0:  # the outermost call: the add_loss values of the previous call go
            for layer in _self_and_sublayers(self):
                if hasattr(layer, "_eager_losses"):
                    layer._eager_losses.clear()
        _EAGER_CALLS.depth = depth + 1
        try:
            return self.call(inputs, *args, **kwargs)
        finally:
            _EAGER_CALLS.depth = depth

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
        shapes, multiple = _output_shapes(self.compute_output_shape(in_shape))
        node_index = len(self._inbound_nodes)
        outs = [KerasTensor(s, self.dtype, name=self.name, history=(self, node_index, i)) for i, s in enumerate(shapes)]
        self._inbound_nodes.append(Node(self, tensors, outs))
        mask = getattr(tensors[0], "_keras_mask", None)
        if mask is not None and self.supports_masking and not multiple and len(outs[0].shape) > 1 and \
                outs[0].shape[1] == tensors[0].shape[1]:
            outs[0]._keras_mask = mask  # Keras's pass-through of a time-step mask (Dense on 3-D, Dropout, ...)
        return outs if multiple else outs[0]

    def _call_eager(self, inputs, training):
        arrays = [np.ascontiguousarray(np.asarray(a, dtype=self.dtype)) for a in self._as_list(inputs)]
        for a in arrays:
            if a.ndim == 0:
                raise ValueError(f"Layer {self.name!r} expects inputs with a batch dimension, got a scalar")
        shapes = [(None,) + a.shape[1:] for a in arrays]
        in_shape = shapes[0] if self.n_inputs == 1 else shapes
        self._check_input_shape(in_shape)
        self._maybe_build(in_shape)
        out_shapes, multiple = _output_shapes(self.compute_output_shape(in_shape))
        ins = [KerasTensor(s, self.dtype) for s in shapes]
        outs = [KerasTensor(s, self.dtype) for s in out_shapes]
        from ..models.eager import run_forward
        from ..models.program import ExecutionGraph

        graph = ExecutionGraph(ins, [Node(self, ins, outs)], outs)
        results = run_forward(graph, arrays, training, self.dtype)
        return results if multiple else results[0]

    def _check_input_shape(self, input_shape):
        """Hook: raise ValueError for an input shape the layer cannot take."""

    # ------------------------------------------------------------ description
    def describe_forward(self, ctx):
        """Add the kernel calls that compute ``ctx.output()`` from ``ctx.input(i)`` (see program.LayerContext)."""
        raise _not_describable(self)

    def describe_backward(self, ctx):
        """Add the kernel calls that write ``ctx.d_input(i)`` (skipped by kernels when empty) and the gradients of
        trainable weights (``ctx.grad(var)``, added to when ``ctx.accumulate`` is set) from ``ctx.d_output()``."""
        raise _not_describable(self)

    #: True when the layer's output is its input, unchanged (Flatten, Reshape): no call, no buffer.
    aliases_input = False
    #: True for the nodes keras.ops records (operations, not layers: not listed in ``model.layers``).
    _is_op = False
    #: Whether a time-step mask on the input passes through to the output (Keras's ``supports_masking``).
    supports_masking = False
    #: False for layers whose outputs carry no gradient (a mask computed from token ids).
    differentiable = True

    def gradient_inputs(self, count):
        """Which of a call's ``count`` inputs receive gradients (False for masks and other non-differentiable
        inputs, whose d_input is then never requested)."""
        return [True] * count

    def add_loss(self, loss):
        """Keras's ``add_loss``: inside a traced ``call``, a tensor (a batch-wide ``ops.mean``/``ops.sum``, possibly
        scaled by constants, or per-sample values, which Keras sums) added to the model's loss inside the compiled
        step; called eagerly, the value is kept in ``layer.losses``."""
        from .traced_function import record_layer_loss

        if isinstance(loss, KerasTensor):
            record_layer_loss(self, loss)
        else:
            self._eager_losses.append(loss)

    @property
    def losses(self):
        """Keras's ``layer.losses``: what ``add_loss`` received during the last call on arrays, and the current
        penalties of the trainable weights' regularizers -- this layer's and its sub-layers', recursively (a
        model's: all its layers'). A call on arrays of the outermost layer clears the add_loss values first."""
        out = []
        for layer in _self_and_sublayers(self):
            out.extend(getattr(layer, "_eager_losses", []))
            out.extend(regularizer(var.value) for var, regularizer in layer.weight_regularizers() if var.trainable)
        return out

    def weight_regularizers(self):
        """[(variable, regularizer)] whose penalties join the loss (``add_weight(regularizer=...)``)."""
        return list(self._weight_regularizers)

    def weight_constraints(self):
        """[(variable, constraint)] applied after each optimizer update (``add_weight(constraint=...)``)."""
        return list(self._weight_constraints)

    # --------------------------------------------------------------- config
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.activity_regularizer is not None:
            from .. import regularizers

            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
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


# ------------------------------------------------------------------------------ activations inside layers
def _activation_dims(spec, shape):
    """View dims for an activation's kernels: flat for elementwise ones, (n, inner) around the axis otherwise."""
    return () if spec.kind != "axis" else spec.axis_sizes(shape)


def activation_forward(ctx, spec, x, y, shape):
    """Calls computing y = spec(x); x and y are Views of tensors of ``shape`` (batch first; y has
    ``spec.output_shape(shape)``, which differs only for glu)."""
    xd, yd = _activation_dims(spec, shape), _activation_dims(spec, spec.output_shape(shape))
    args = [ctx.const(v) for v in spec.kernel_args()] if spec.kind != "axis" else []
    ctx.call(f"activations.{spec.name}_forward", _review(x, xd), _review(y, yd), *args)


def activation_backward(ctx, spec, x, y, dy, dx, shape):
    """Calls writing dx = dy * spec'(x) (dx may be dy itself, except for glu)."""
    xd, yd = _activation_dims(spec, shape), _activation_dims(spec, spec.output_shape(shape))
    args = [ctx.const(v) for v in spec.kernel_args()] if spec.kind != "axis" else []
    ctx.call(f"activations.{spec.name}_backward", _review(x, xd), _review(y, yd), _review(dy, yd), _review(dx, xd),
             *args)


def _review(view, dims):
    from ..models.program import View

    return View(view.buf, dims)
