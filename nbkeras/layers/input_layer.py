"""InputLayer and Input(): where a functional graph starts."""

from .. import backend
from ..errors import check_kwargs
from .base import KerasTensor, Layer, Node


def _check_shape(shape, owner):
    if shape is None:
        raise ValueError(f"{owner}: a shape is required, e.g. shape=(784,)")
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{owner}: shape must be a tuple of ints, got {shape!r}") from None
    for d in shape:
        if d is not None and (not isinstance(d, int) or isinstance(d, bool) or d <= 0):
            raise ValueError(f"{owner}: shape must hold positive ints or None, got {shape}")
    return shape


class InputLayer(Layer):
    """Holds a model input's shape (without the batch dimension) and dtype."""

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, input_tensor=None,
                 name=None, optional=False, **kwargs):
        # Keras 2 spellings of the same arguments.
        check_kwargs(kwargs, ("input_shape", "batch_input_shape", "ragged", "type_spec"), "InputLayer")
        if shape is None and kwargs.get("input_shape") is not None:
            shape = kwargs["input_shape"]
        if batch_shape is None and kwargs.get("batch_input_shape") is not None:
            batch_shape = kwargs["batch_input_shape"]
        if sparse:
            raise ValueError("InputLayer: sparse inputs are not supported by nbkeras")
        if batch_shape is not None:
            batch_shape = tuple(batch_shape)
            shape = batch_shape[1:]
            batch_size = batch_shape[0]
        shape = _check_shape(shape, "Input")
        super().__init__(name=name or backend.unique_name("input_layer"), dtype=dtype)
        self.batch_size = batch_size
        self.built = True
        self._batch_shape = (batch_size,) + shape
        self.output_tensor = KerasTensor((None,) + shape, dtype or backend.floatx(), name=self.name,
                                         history=(self, 0, 0))
        self._inbound_nodes.append(Node(self, [], [self.output_tensor]))

    @property
    def batch_shape(self):
        return self._batch_shape

    aliases_input = True

    def get_config(self):
        return {"batch_shape": self._batch_shape, "dtype": self.dtype, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None,
          optional=False, **kwargs):
    """A symbolic input tensor (Keras 2 and Keras 3 signatures)."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse, batch_shape=batch_shape,
                       name=name, input_tensor=tensor, optional=optional, **kwargs)
    return layer.output_tensor
