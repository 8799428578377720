"""nbkeras: a Keras-compatible trainer whose layers, losses and optimizers run as Numba kernels.

``import nbkeras as keras`` and run Keras code for dense networks unchanged.
"""

__version__ = "0.1.0"

from . import (activations, backend, callbacks, constraints, initializers, layers, losses, metrics, models, optimizers,
               preprocessing, regularizers, utils)
from .devices import device
from .layers import Input
from .models import Model, Sequential
from . import saving  # noqa: E402,F401
from . import ops  # noqa: E402,F401
from . import config, datasets, random  # noqa: E402,F401

__all__ = ["Input", "device", "Model", "Sequential", "activations", "backend", "callbacks", "constraints", "initializers",
           "layers", "losses", "metrics", "models", "optimizers", "regularizers", "utils", "config", "datasets", "random",
           "__version__"]
