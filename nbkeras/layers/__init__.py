"""Keras layers implemented on nbkeras kernels."""

from .base import KerasTensor, Layer, Variable
from .core import Activation, Dense, Dropout, Flatten
from .input_layer import Input, InputLayer
from .merge import Add, Concatenate


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


__all__ = ["Activation", "Add", "Concatenate", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "KerasTensor",
           "Layer", "Variable", "add", "concatenate"]
