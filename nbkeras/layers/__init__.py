"""Keras layers implemented on nbkeras kernels."""

from .base import KerasTensor, Layer, Variable
from .convolutional import Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose
from .convolutional import Convolution1D, Convolution1DTranspose, Convolution2D, Convolution2DTranspose
from .convolutional import DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D
from .convolutional import SeparableConvolution1D, SeparableConvolution2D
from .core import Activation, Dense, Dropout, Flatten
from .input_layer import Input, InputLayer
from .embedding import Embedding
from .gru import GRU
from .lstm import LSTM
from .masking import Masking
from .simple_rnn import SimpleRNN
from .wrappers import Bidirectional, TimeDistributed
from .merge import Add, Concatenate
from .core_extra import ActivityRegularization, Lambda, RepeatVector
from .merge import Average, Dot, Maximum, Minimum, Multiply, Subtract
from .merge import average, dot, maximum, minimum, multiply, subtract
from .noise import AlphaDropout, GaussianDropout, GaussianNoise
from .normalization_extra import LayerNormalization, UnitNormalization
from .preprocessing import Normalization, Rescaling
from .normalization import BatchNormalization
from .pooling import AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D
from .pooling import GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAvgPool1D, GlobalAvgPool2D
from .pooling import GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPooling1D, GlobalMaxPooling2D
from .pooling import MaxPool1D, MaxPool2D, MaxPooling1D, MaxPooling2D
from .regularization import SpatialDropout1D, SpatialDropout2D
from .reshaping import Cropping1D, Cropping2D, Permute, Reshape, UpSampling1D, UpSampling2D
from .reshaping import ZeroPadding1D, ZeroPadding2D


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


# One name per line, sorted, so that additions from several hands merge cleanly.
__all__ = [
    "Activation",
    "ActivityRegularization",
    "Add",
    "AlphaDropout",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "AvgPool1D",
    "AvgPool2D",
    "BatchNormalization",
    "Bidirectional",
    "Concatenate",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Convolution1D",
    "Convolution1DTranspose",
    "Convolution2D",
    "Convolution2DTranspose",
    "Cropping1D",
    "Cropping2D",
    "Dense",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "Dot",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRU",
    "GaussianDropout",
    "GaussianNoise",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Input",
    "InputLayer",
    "KerasTensor",
    "LSTM",
    "Lambda",
    "Layer",
    "LayerNormalization",
    "Masking",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "Maximum",
    "Minimum",
    "Multiply",
    "Normalization",
    "Permute",
    "RepeatVector",
    "Rescaling",
    "Reshape",
    "SeparableConv1D",
    "SeparableConv2D",
    "SeparableConvolution1D",
    "SeparableConvolution2D",
    "SimpleRNN",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "Subtract",
    "TimeDistributed",
    "UnitNormalization",
    "UpSampling1D",
    "UpSampling2D",
    "Variable",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "add",
    "average",
    "concatenate",
    "dot",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
]
