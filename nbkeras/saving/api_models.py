"""What ``nbkeras.models`` exports from saving: ``load_model``, ``model_from_json``, ``clone_model``."""

from .cloning import clone_model
from .saving_api import load_model, model_from_json

__all__ = ["clone_model", "load_model", "model_from_json"]
