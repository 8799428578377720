"""nbkeras: a Keras-compatible trainer whose layers, losses and optimizers run as Numba kernels.

``import nbkeras as keras`` and run Keras code for dense networks unchanged.
"""

__version__ = "0.1.0"

from . import activations, backend, callbacks, initializers, layers, losses, metrics, models, optimizers, utils
from .layers import Input
from .models import Model, Sequential

__all__ = ["Input", "Model", "Sequential", "activations", "backend", "callbacks", "initializers", "layers", "losses",
           "metrics", "models", "optimizers", "utils", "__version__"]
