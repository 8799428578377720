"""``keras.ops`` for nbkeras: Keras 3's op names, signatures and broadcasting rules.

Called on NumPy arrays, Python numbers or Variables, an op computes at once with NumPy and returns a NumPy array.
Called with a KerasTensor among its arguments, it records a node of the model's graph (an op layer, see
``op_layers.py``) whose forward and backward are numba kernels, and returns a KerasTensor. Which ops exist, which
kernels they run and their gradient rules: ``table.py``.
"""

from . import nn
from .elementwise import (BINARY, UNARY, arange, broadcast_to, cast, clip, convert_to_numpy, convert_to_tensor, eye,
                          full, full_like, linspace, ndim, ones, ones_like, round, shape, square_difference,
                          stop_gradient, where, zeros, zeros_like)
from .linalg import dot, einsum, matmul, tensordot
from .nn import (binary_crossentropy, categorical_crossentropy, celu, elu, gelu, glu, hard_shrink, hard_sigmoid,
                 hard_silu, hard_swish, hard_tanh, leaky_relu, log_sigmoid, log_softmax, mish, moments, normalize,
                 relu, relu6, selu, sigmoid, silu, soft_shrink, softmax, softplus, softsign, sparse_categorical_crossentropy,
                 sparse_plus, sparse_sigmoid, sparsemax, squareplus, swish, tanh_shrink, threshold)
from .reductions import REDUCE, amax, amin, max, min, norm, top_k
from .shaping import (concatenate, expand_dims, getitem, one_hot, ravel, reshape, split, squeeze, stack, take,
                      take_along_axis, transpose)
from .table import OPS

globals().update(UNARY)
globals().update(BINARY)
globals().update(REDUCE)

