"""Model, Sequential and the training loop."""

from .functional import Model
from .sequential import Sequential

__all__ = ["Model", "Sequential"]
