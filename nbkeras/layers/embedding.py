"""Embedding: integer indices of any rank -> rows of a (input_dim, output_dim) table.

Indices arrive as floats in the activation arena (float32 holds every integer up to 2**24 exactly, so float32
models take input_dim <= 2**24). ``check_input_values`` rejects non-integral and out-of-range indices before any
compiled code runs; the kernels check again (a kernel never reads outside the table).

Keras 3: ``embeddings_initializer="uniform"`` is RandomUniform(-0.05, 0.05); ``mask_zero=True`` makes index 0 a
padding value that downstream layers skip (``_keras_mask``, see masking.py); ``input_length`` is Keras 2's (Keras 3
warns and drops it): here it declares the input shape ``(input_length,)`` as Keras 2 did.
"""

import numpy as np

from .. import constraints, initializers, regularizers
from .base import KerasTensor, Layer
from .masking import attach_mask

#: Largest input_dim whose indices a float32 arena holds exactly.
_F32_EXACT = 2**24


def _positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"Embedding: `{what}` must be a positive integer. Received: {what}={value!r}")
    return int(value)


def _serialize(module, obj):
    return None if obj is None else module.serialize(obj)


class Embedding(Layer):
    """Turns indices into dense vectors: output[..., :] = embeddings[index]. Weight: embeddings (input_dim,
    output_dim)."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, lora_rank=None, lora_alpha=None,
                 activity_regularizer=None, **kwargs):
        if lora_rank is not None:
            raise ValueError(f"Embedding: lora_rank is not supported by nbkeras yet (got {lora_rank!r})")
        kwargs.pop("quantization_config", None)
        input_length = kwargs.pop("input_length", None)
        if input_length is not None and kwargs.get("input_shape") is None \
                and kwargs.get("batch_input_shape") is None:
            kwargs["input_shape"] = (_positive_int(input_length, "input_length"),)
        super().__init__(activity_regularizer=activity_regularizer, weights=weights, **kwargs)
        self.input_dim = _positive_int(input_dim, "input_dim")
        self.output_dim = _positive_int(output_dim, "output_dim")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.input_length = input_length
        self.embeddings = None

    def _check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 1:
            raise ValueError(f"Embedding {self.name!r}: expected one input with a batch dimension, got "
                             f"{input_shape}")
        if any(d is None for d in input_shape[1:]):
            raise ValueError(f"Embedding {self.name!r}: every non-batch dimension of the input must be known, got "
                             f"shape {input_shape}")
        if np.dtype(self.dtype) == np.float32 and self.input_dim > _F32_EXACT:
            raise ValueError(f"Embedding {self.name!r}: `input_dim`={self.input_dim} exceeds 2**24, the largest "
                             f"index a float32 model holds exactly; use float64 (keras.backend.set_floatx)")

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim), name="embeddings",
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def check_input_values(self, index, array):
        """Raise ValueError naming this layer when input ``index`` holds a value that is not an integer in
        [0, input_dim) (called on the user's data before compiled code runs)."""
        a = np.asarray(array)
        if a.dtype.kind == "b" or a.dtype.kind not in "iuf":
            raise ValueError(f"Embedding {self.name!r}: input {index} must hold integer indices, got dtype "
                             f"{a.dtype}")
        if a.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                bad = ~((a >= 0) & (a < self.input_dim) & (np.floor(a) == a))
        else:
            bad = (a < 0) | (a >= self.input_dim)
        if np.any(bad):
            value = a[bad].flat[0].item()
            kind = "not an integer" if a.dtype.kind == "f" and np.floor(value) != value else "out of range"
            raise ValueError(f"Embedding {self.name!r}: input {index} holds the index {value!r}, {kind}: indices "
                             f"must be integers in [0, input_dim={self.input_dim})")

    def compute_mask(self, inputs, mask=None):
        """Keras's mask of an array input: ``inputs != 0`` when mask_zero, else None."""
        return np.not_equal(np.asarray(inputs), 0) if self.mask_zero else None

    def __call__(self, inputs, training=None, **kwargs):
        if not isinstance(inputs, (KerasTensor, list, tuple)):
            self.check_input_values(0, inputs)
        out = super().__call__(inputs, training=training, **kwargs)
        if self.mask_zero and isinstance(inputs, KerasTensor):
            attach_mask(out, inputs, 0.0, False, self)
        return out

    # ------------------------------------------------------------ description
    def gradient_inputs(self, count):
        return [False] * count  # indices have no gradient

    def describe_forward(self, ctx):
        ctx.call("embedding.embedding_forward", ctx.input(0), ctx.weight(self.embeddings),
                 ctx.output((self.output_dim,)))

    def describe_backward(self, ctx):
        if ctx.trainable(self.embeddings):
            ctx.call("embedding.embedding_backward", ctx.input(0), ctx.d_output((self.output_dim,)),
                     ctx.grad(self.embeddings), ctx.accumulate)

    def get_config(self):
        config = super().get_config()
        config.update(input_dim=self.input_dim, output_dim=self.output_dim,
                      embeddings_initializer=initializers.serialize(self.embeddings_initializer),
                      embeddings_regularizer=_serialize(regularizers, self.embeddings_regularizer),
                      embeddings_constraint=_serialize(constraints, self.embeddings_constraint),
                      mask_zero=self.mask_zero)
        if self.input_length is not None:
            config["input_length"] = self.input_length
            config.pop("batch_input_shape", None)
        return config
