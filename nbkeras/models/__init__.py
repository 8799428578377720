"""Model, Sequential and the training loop."""

from .functional import Model
from .sequential import Sequential
from ..saving.api_models import clone_model, load_model, model_from_json  # noqa: E402,F401

__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_json"]
