"""Every op of ``nbkeras.ops`` in one place: its kind (which op layer records it and which kernels it runs), its
kernel code, its eager NumPy function and its gradient rule.

Kinds and their kernels (nbkeras/ops/op_layers.py holds one op layer class per kind):

    unary        elementwise.unary_forward / unary_backward (by code)
    binary       elementwise.binary_forward / binary_backward (by code, broadcasting; backward sums over the
                 broadcast axes), or scalar_forward / scalar_backward when one operand is a Python number
    reduce       reduce.reduce_forward / reduce_backward (by code) on an (outer, n, inner) view, after a
                 shape_ops.permute when the axes are not adjacent
    where, clip, slice, take, take_along_axis, one_hot, top_k: their own kernel pairs in elementwise.py/reduce.py
    matmul       dense.dense_forward / dense_backward (tensor @ weight), linalg.bmm_forward / bmm_backward
    activation   the activations.<name>_forward / _backward pair of nbkeras.activations
    concatenate, split: tensor_ops.concat_forward / concat_backward; transpose: shape_ops.permute_forward/backward
    alias        no kernel: the output is the input's buffer seen with another shape (reshape, expand_dims, ...)
    fill         step.fill (zeros_like, ones_like, full_like)
    composite    written with the ops above (einsum, tensordot, stack, moments, crossentropies, ...)
    eager        no symbolic form: the result does not depend on a tensor (zeros(shape), arange, ...)

Gradient column: the rule, or NO_GRADIENT -- the output carries no gradient (booleans, indices, fills: the op
layer is ``differentiable = False`` and nothing upstream receives a gradient through it) -- or RAISES: the op has
a differentiable output but no backward rule in nbkeras, so building a training step through it raises a
ValueError that names the op.
"""

from typing import Callable, NamedTuple, Optional

import numpy as np

from ..kernels.cpu import elementwise as E
from ..kernels.cpu import reduce as R

NO_GRADIENT = "no gradient"
RAISES = "raises: no backward rule"


class Op(NamedTuple):
    kind: str
    code: Optional[int]
    numpy: Optional[Callable]
    grad: str


def _erf(x):
    import math

    x = np.asarray(x)
    return np.vectorize(math.erf, otypes=[x.dtype if x.dtype.kind == "f" else np.float64])(x)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _relu(x):
    return np.maximum(x, 0)


def _softplus(x):
    return np.logaddexp(x, 0)


def _rsqrt(x):
    return 1.0 / np.sqrt(x)


OPS = {
    # -------------------------------------------------------------------- unary: dx = dy * (rule)
    "negative": Op("unary", E.NEG, np.negative, "-1"),
    "abs": Op("unary", E.ABS, np.abs, "sign(x)"),
    "absolute": Op("unary", E.ABS, np.abs, "sign(x)"),
    "sign": Op("unary", E.SIGN, np.sign, "0"),
    "exp": Op("unary", E.EXP, np.exp, "y"),
    "log": Op("unary", E.LOG, np.log, "1 / x"),
    "log1p": Op("unary", E.LOG1P, np.log1p, "1 / (1 + x)"),
    "expm1": Op("unary", E.EXPM1, np.expm1, "y + 1"),
    "sqrt": Op("unary", E.SQRT, np.sqrt, "0.5 / y"),
    "square": Op("unary", E.SQUARE, np.square, "2 x"),
    "reciprocal": Op("unary", E.RECIPROCAL, np.reciprocal, "-y^2"),
    "rsqrt": Op("unary", E.RSQRT, _rsqrt, "-0.5 y^3"),
    "sin": Op("unary", E.SIN, np.sin, "cos x"),
    "cos": Op("unary", E.COS, np.cos, "-sin x"),
    "tan": Op("unary", E.TAN, np.tan, "1 + y^2"),
    "arcsin": Op("unary", E.ARCSIN, np.arcsin, "1 / sqrt(1 - x^2)"),
    "arccos": Op("unary", E.ARCCOS, np.arccos, "-1 / sqrt(1 - x^2)"),
    "arctan": Op("unary", E.ARCTAN, np.arctan, "1 / (1 + x^2)"),
    "sinh": Op("unary", E.SINH, np.sinh, "cosh x"),
    "cosh": Op("unary", E.COSH, np.cosh, "sinh x"),
    "tanh": Op("unary", E.TANH, np.tanh, "1 - y^2"),
    "arcsinh": Op("unary", E.ARCSINH, np.arcsinh, "1 / sqrt(x^2 + 1)"),
    "arccosh": Op("unary", E.ARCCOSH, np.arccosh, "1 / sqrt(x^2 - 1)"),
    "arctanh": Op("unary", E.ARCTANH, np.arctanh, "1 / (1 - x^2)"),
    "log2": Op("unary", E.LOG2, np.log2, "1 / (x ln 2)"),
    "log10": Op("unary", E.LOG10, np.log10, "1 / (x ln 10)"),
    "exp2": Op("unary", E.EXP2, np.exp2, "y ln 2"),
    "erf": Op("unary", E.ERF, _erf, "2 / sqrt(pi) e^(-x^2)"),
    "floor": Op("unary", E.FLOOR, np.floor, "0"),
    "ceil": Op("unary", E.CEIL, np.ceil, "0"),
    "round": Op("unary", E.ROUND, np.round, "0"),
    "trunc": Op("unary", E.TRUNC, np.trunc, "0"),
    "logical_not": Op("unary", E.LOGICAL_NOT, np.logical_not, NO_GRADIENT),
    "isnan": Op("unary", E.ISNAN, np.isnan, NO_GRADIENT),
    "isinf": Op("unary", E.ISINF, np.isinf, NO_GRADIENT),
    "isfinite": Op("unary", E.ISFINITE, np.isfinite, NO_GRADIENT),
    "stop_gradient": Op("unary", E.COPY, np.array, "0 (the input receives none)"),
    "cast": Op("unary", E.COPY, None, "1 to float dtypes; " + NO_GRADIENT + " to int and bool"),
    # -------------------------------------------------------------------- binary: (d/da, d/db)
    "add": Op("binary", E.ADD, np.add, "(1, 1)"),
    "subtract": Op("binary", E.SUBTRACT, np.subtract, "(1, -1)"),
    "multiply": Op("binary", E.MULTIPLY, np.multiply, "(b, a)"),
    "divide": Op("binary", E.DIVIDE, np.divide, "(1 / b, -y / b)"),
    "true_divide": Op("binary", E.DIVIDE, np.true_divide, "(1 / b, -y / b)"),
    "power": Op("binary", E.POWER, np.power, "(b a^(b-1), y ln a)"),
    "maximum": Op("binary", E.MAXIMUM, np.maximum, "(a >= b, a < b)"),
    "minimum": Op("binary", E.MINIMUM, np.minimum, "(a <= b, a > b)"),
    "mod": Op("binary", E.MOD, np.mod, "(1, -floor(a / b))"),
    "floor_divide": Op("binary", E.FLOOR_DIVIDE, np.floor_divide, "(0, 0)"),
    "arctan2": Op("binary", E.ARCTAN2, np.arctan2, "(b, -a) / (a^2 + b^2)"),
    "equal": Op("binary", E.EQUAL, np.equal, NO_GRADIENT),
    "not_equal": Op("binary", E.NOT_EQUAL, np.not_equal, NO_GRADIENT),
    "less": Op("binary", E.LESS, np.less, NO_GRADIENT),
    "less_equal": Op("binary", E.LESS_EQUAL, np.less_equal, NO_GRADIENT),
    "greater": Op("binary", E.GREATER, np.greater, NO_GRADIENT),
    "greater_equal": Op("binary", E.GREATER_EQUAL, np.greater_equal, NO_GRADIENT),
    "logical_and": Op("binary", E.LOGICAL_AND, np.logical_and, NO_GRADIENT),
    "logical_or": Op("binary", E.LOGICAL_OR, np.logical_or, NO_GRADIENT),
    "logical_xor": Op("binary", E.LOGICAL_XOR, np.logical_xor, NO_GRADIENT),
    # -------------------------------------------------------------------- reductions: dx = dy * (rule)
    "sum": Op("reduce", R.SUM, np.sum, "1"),
    "mean": Op("reduce", R.MEAN, np.mean, "1 / n"),
    "max": Op("reduce", R.MAX, np.max, "[x == y] / ties"),
    "amax": Op("reduce", R.MAX, np.max, "[x == y] / ties"),
    "min": Op("reduce", R.MIN, np.min, "[x == y] / ties"),
    "amin": Op("reduce", R.MIN, np.min, "[x == y] / ties"),
    "prod": Op("reduce", R.PROD, np.prod, "product of the others"),
    "var": Op("reduce", R.VAR, np.var, "2 (x - mean) / n"),
    "std": Op("reduce", R.STD, np.std, "(x - mean) / (n y)"),
    "logsumexp": Op("reduce", R.LOGSUMEXP, None, "e^(x - y)"),
    "norm": Op("reduce", R.NORM2, None, "x / y (ord 2, fro); sign(x) (ord 1); at the max |x| (ord inf)"),
    "argmax": Op("reduce", R.ARGMAX, np.argmax, NO_GRADIENT),
    "argmin": Op("reduce", R.ARGMIN, np.argmin, NO_GRADIENT),
    "any": Op("reduce", R.ANY, np.any, NO_GRADIENT),
    "all": Op("reduce", R.ALL, np.all, NO_GRADIENT),
    # -------------------------------------------------------------------- other kernels
    "where": Op("where", None, np.where, "(0, dy where c, dy elsewhere)"),
    "clip": Op("clip", None, np.clip, "dy where lo <= x <= hi"),
    "getitem": Op("slice", None, None, "dy scattered back into the slice"),
    "split": Op("split", None, np.split, "the pieces' gradients side by side"),
    "take": Op("take", None, np.take, "dy added at the indices (indices: none)"),
    "take_along_axis": Op("take_along_axis", None, np.take_along_axis, "dy added at the indices"),
    "one_hot": Op("one_hot", None, None, NO_GRADIENT),
    "top_k": Op("top_k", None, None, RAISES),
    "matmul": Op("matmul", None, np.matmul, "(dy @ b^T, a^T @ dy)"),
    "concatenate": Op("concatenate", None, np.concatenate, "the slices of dy"),
    "transpose": Op("transpose", None, np.transpose, "dy transposed back"),
    "reshape": Op("alias", None, np.reshape, "dy reshaped back"),
    "expand_dims": Op("alias", None, np.expand_dims, "dy reshaped back"),
    "squeeze": Op("alias", None, np.squeeze, "dy reshaped back"),
    "ravel": Op("alias", None, np.ravel, "dy reshaped back"),
    "zeros_like": Op("fill", None, np.zeros_like, NO_GRADIENT),
    "ones_like": Op("fill", None, np.ones_like, NO_GRADIENT),
    "full_like": Op("fill", None, np.full_like, NO_GRADIENT),
    "activation": Op("activation", None, None, "the activation's own backward kernel"),
    # -------------------------------------------------------------------- composites (their parts' rules)
    "dot": Op("composite", None, np.dot, "via matmul / tensordot"),
    "tensordot": Op("composite", None, np.tensordot, "via transpose, reshape, matmul"),
    "einsum": Op("composite", None, np.einsum, "via transpose, reshape, sum, matmul"),
    "stack": Op("composite", None, np.stack, "via expand_dims, concatenate"),
    "square_difference": Op("composite", None, None, "via subtract, square"),
    "broadcast_to": Op("composite", None, np.broadcast_to, "via add"),
    "moments": Op("composite", None, None, "via mean, square, subtract"),
    "normalize": Op("composite", None, None, "via norm, maximum, divide"),
    "binary_crossentropy": Op("composite", None, None, "via clip, log, multiply"),
    "categorical_crossentropy": Op("composite", None, None, "via sum, log, log_softmax"),
    "sparse_categorical_crossentropy": Op("composite", None, None, "via one_hot, categorical_crossentropy"),
    # -------------------------------------------------------------------- eager only
    "zeros": Op("eager", None, np.zeros, NO_GRADIENT),
    "ones": Op("eager", None, np.ones, NO_GRADIENT),
    "full": Op("eager", None, np.full, NO_GRADIENT),
    "eye": Op("eager", None, np.eye, NO_GRADIENT),
    "arange": Op("eager", None, np.arange, NO_GRADIENT),
    "linspace": Op("eager", None, np.linspace, NO_GRADIENT),
}

#: The activations of ``keras.ops`` / ``keras.ops.nn``: name -> the nbkeras.activations kernel pair they run.
ACTIVATIONS = ("relu", "relu6", "sigmoid", "softplus", "softsign", "silu", "swish", "log_sigmoid", "leaky_relu",
               "hard_sigmoid", "hard_silu", "hard_swish", "elu", "selu", "gelu", "celu", "glu", "hard_tanh",
               "soft_shrink", "hard_shrink", "tanh_shrink", "sparse_plus", "sparse_sigmoid", "squareplus",
               "threshold", "sparsemax", "softmax", "log_softmax", "mish")


def op(name):
    """The table entry of ``name``; a ValueError names ops nbkeras lacks."""
    try:
        return OPS[name]
    except KeyError:
        raise ValueError(f"keras.ops.{name} is not in nbkeras's op table (nbkeras/ops/table.py)") from None
