"""``keras.ops.nn``: activations (each runs the kernel pair of nbkeras.activations, forward and backward), one_hot,
moments, normalize and the crossentropies (composites of other ops), with Keras 3's signatures and defaults --
note ``gelu(x, approximate=True)`` here, unlike the activation's default."""

from .. import activations as _activations
from .. import backend
from ..layers.base import KerasTensor
from . import op_layers as L
from .elementwise import clip, divide, maximum, multiply, subtract, unary
from .reductions import mean, norm, sum, var
from .shaping import one_hot, squeeze


def activation(name, x, **params):
    """Activation ``name`` with bound ``params`` on x: an ActivationOp for a symbolic x, the kernel at once
    otherwise (nbkeras.activations computes on arrays)."""
    spec = _activations.ActivationSpec(name, **params)
    if isinstance(x, KerasTensor):
        return L.record(L.ActivationOp(x, spec))
    return getattr(_activations, name)(x, **params)


def relu(x):
    return activation("relu", x)


def relu6(x):
    return activation("relu6", x)


def sigmoid(x):
    return activation("sigmoid", x)


def softplus(x):
    return activation("softplus", x)


def softsign(x):
    return activation("softsign", x)


def silu(x):
    return activation("silu", x)


swish = silu


def log_sigmoid(x):
    return activation("log_sigmoid", x)


def leaky_relu(x, negative_slope=0.2):
    return activation("leaky_relu", x, negative_slope=negative_slope)


def hard_sigmoid(x):
    return activation("hard_sigmoid", x)


def hard_silu(x):
    return activation("hard_silu", x)


hard_swish = hard_silu


def elu(x, alpha=1.0):
    return activation("elu", x, alpha=alpha)


def selu(x):
    return activation("selu", x)


def gelu(x, approximate=True):
    return activation("gelu", x, approximate=approximate)


def celu(x, alpha=1.0):
    return activation("celu", x, alpha=alpha)


def glu(x, axis=-1):
    return activation("glu", x, axis=axis)


def hard_tanh(x):
    return activation("hard_tanh", x)


def soft_shrink(x, threshold=0.5):
    return activation("soft_shrink", x, threshold=threshold)


def hard_shrink(x, threshold=0.5):
    return activation("hard_shrink", x, threshold=threshold)


def tanh_shrink(x):
    return activation("tanh_shrink", x)


def sparse_plus(x):
    return activation("sparse_plus", x)


def sparse_sigmoid(x):
    return activation("sparse_sigmoid", x)


def squareplus(x, b=4):
    return activation("squareplus", x, b=b)


def threshold(x, threshold, default_value):
    return activation("threshold", x, threshold=threshold, default_value=default_value)


def mish(x):
    return activation("mish", x)


def softmax(x, axis=-1):
    return activation("softmax", x, axis=axis)


def log_softmax(x, axis=-1):
    return activation("log_softmax", x, axis=axis)


def sparsemax(x, axis=-1):
    return activation("sparsemax", x, axis=axis)


# ------------------------------------------------------------------------------------------ composites
def moments(x, axes, keepdims=False, synchronized=False):
    """(mean, variance) over ``axes`` (population variance, as Keras)."""
    return mean(x, axes, keepdims), var(x, axes, keepdims)


def normalize(x, axis=-1, order=2, epsilon=None):
    """x / max(norm(x, order, axis), epsilon), as Keras's ops.normalize."""
    eps = backend.epsilon() if epsilon is None else epsilon
    return divide(x, maximum(norm(x, ord=order, axis=axis, keepdims=True), eps))


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise -(t log p + (1 - t) log(1 - p)), p clipped to [eps, 1 - eps]; from logits through
    log_sigmoid, as Keras's ops.binary_crossentropy."""
    if from_logits:
        pos = log_sigmoid(output)
        neg = log_sigmoid(unary("negative", output))
        return subtract(multiply(unary("negative", target), pos), multiply(subtract(1.0, target), neg))
    eps = backend.epsilon()
    p = clip(output, eps, 1.0 - eps)
    bce = multiply(target, unary("log", p))
    bce = subtract(unary("negative", bce), multiply(subtract(1.0, target), unary("log", subtract(1.0, p))))
    return bce


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """-sum(t log p) over ``axis``: p = output / sum(output) clipped to [eps, 1 - eps], or log_softmax of logits,
    as Keras's ops.categorical_crossentropy."""
    if from_logits:
        log_prob = log_softmax(output, axis=axis)
    else:
        eps = backend.epsilon()
        p = divide(output, sum(output, axis=axis, keepdims=True))
        log_prob = unary("log", clip(p, eps, 1.0 - eps))
    return unary("negative", sum(multiply(target, log_prob), axis=axis))


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """categorical_crossentropy of one_hot(target) (a trailing axis of size 1 in target is dropped first)."""
    tshape = target.shape if hasattr(target, "shape") else ()
    if len(tshape) == len(output.shape) and tshape[-1] == 1:
        target = squeeze(target, axis=-1)
    return categorical_crossentropy(one_hot(target, output.shape[axis], axis=axis), output, from_logits, axis)
