"""Saving and loading models in Keras 3's formats (``keras.saving``)."""

from .object_registration import (CustomObjectScope, custom_object_scope, get_custom_objects, get_registered_name,
                                  get_registered_object, register_keras_serializable)
from .saving_api import load_model, load_weights, model_from_json, save_model, save_weights
from .serialization import deserialize_keras_object, serialize_keras_object

__all__ = ["CustomObjectScope", "custom_object_scope", "deserialize_keras_object", "get_custom_objects",
           "get_registered_name", "get_registered_object", "load_model", "load_weights", "model_from_json",
           "register_keras_serializable", "save_model", "save_weights", "serialize_keras_object"]
