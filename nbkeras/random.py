"""``keras.random``: Keras 3's random ops on arrays, with its seeding rules.

``seed`` is an int (the same values at every call), a ``SeedGenerator`` (new values at every call, repeatable
from its seed) or None (the global generator that ``keras.utils.set_random_seed`` seeds). The ops compute at once
with NumPy and return NumPy arrays.

Called on symbolic tensors -- inside a traced ``call()`` or on a model's inputs -- they raise a ValueError: nbkeras's
compiled steps draw random numbers in training only, inside the layers that need them, so a random op in a graph
has no compiled form yet. ``keras.layers.Dropout``, ``GaussianNoise``, ``GaussianDropout`` and ``AlphaDropout`` are
the layers to use there.
"""

import numpy as np

from . import backend
from .layers.base import KerasTensor


class SeedGenerator:
    """The state of a sequence of random ops: each op given it draws from the next seed."""

    def __init__(self, seed=None, name=None, **kwargs):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"SeedGenerator: seed must be an int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.name = name or backend.unique_name("seed_generator")
        self._rng = np.random.default_rng(self.seed) if seed is not None else np.random.default_rng(
            backend.rng().integers(1 << 62))

    def next(self, ordered=True):
        """A new int seed from the sequence."""
        return int(self._rng.integers(1 << 62))

    def get_config(self):
        return {"seed": self.seed, "name": self.name}


def _generator(seed, fn):
    if seed is None:
        return backend.rng()
    if isinstance(seed, SeedGenerator):
        return np.random.default_rng(seed.next())
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"keras.random.{fn}: seed must be an int, a keras.random.SeedGenerator or None, got "
                         f"{seed!r}")
    return np.random.default_rng(int(seed))


def _shape(shape, fn):
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    if isinstance(shape, KerasTensor) or (isinstance(shape, (list, tuple)) and any(
            d is None or isinstance(d, KerasTensor) for d in shape)):
        raise _symbolic_error(fn)  # a symbolic batch size: (ops.shape(x)[0], ...) inside call()
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise ValueError(f"keras.random.{fn}: shape must be a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"keras.random.{fn}: shape must not have negative sizes, got {shape}")
    return shape


def _dtype(dtype):
    return np.dtype(backend.floatx() if dtype is None else dtype)


def _symbolic_error(fn):
    return ValueError(f"keras.random.{fn} on a symbolic tensor: nbkeras's compiled graphs have no random ops yet "
                      f"(random numbers are drawn in training, inside the layers that need them). Use "
                      f"keras.layers.Dropout, GaussianNoise, GaussianDropout or AlphaDropout in a model")


def _concrete(x, fn):
    if isinstance(x, KerasTensor) or (isinstance(x, (list, tuple)) and any(isinstance(t, KerasTensor) for t in x)):
        raise _symbolic_error(fn)
    return np.asarray(x)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    rng = _generator(seed, "normal")
    return (rng.standard_normal(_shape(shape, "normal")) * stddev + mean).astype(_dtype(dtype))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    rng = _generator(seed, "uniform")
    return rng.uniform(minval, maxval, _shape(shape, "uniform")).astype(_dtype(dtype))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal values more than two standard deviations from the mean are drawn again."""
    rng = _generator(seed, "truncated_normal")
    shape = _shape(shape, "truncated_normal")
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return (out * stddev + mean).astype(_dtype(dtype))


def randint(shape, minval, maxval, dtype="int32", seed=None):
    rng = _generator(seed, "randint")
    return rng.integers(minval, maxval, _shape(shape, "randint")).astype(np.dtype(dtype))


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    rng = _generator(seed, "binomial")
    return rng.binomial(counts, probabilities, _shape(shape, "binomial")).astype(_dtype(dtype))


def gamma(shape, alpha, dtype=None, seed=None):
    rng = _generator(seed, "gamma")
    return rng.gamma(alpha, 1.0, _shape(shape, "gamma")).astype(_dtype(dtype))


def beta(shape, alpha, beta, dtype=None, seed=None):
    rng = _generator(seed, "beta")
    return rng.beta(alpha, beta, _shape(shape, "beta")).astype(_dtype(dtype))


def categorical(logits, num_samples, dtype="int32", seed=None):
    """For each row of ``logits`` (batch, classes), ``num_samples`` class ids drawn from softmax(row)."""
    logits = _concrete(logits, "categorical").astype(np.float64)
    if logits.ndim != 2:
        raise ValueError(f"keras.random.categorical: logits must be 2-D (batch, classes), got shape {logits.shape}")
    rng = _generator(seed, "categorical")
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return np.stack([rng.choice(p.shape[1], size=int(num_samples), p=row) for row in p]).astype(np.dtype(dtype))


def shuffle(x, axis=0, seed=None):
    """The slices of ``x`` along ``axis`` in a random order."""
    x = _concrete(x, "shuffle")
    return _generator(seed, "shuffle").permutation(x, axis=axis)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Each value (or each slice along the axes where ``noise_shape`` is 1) zeroed with probability ``rate``, the
    others divided by 1 - rate."""
    x = _concrete(inputs, "dropout")
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"keras.random.dropout: rate must be in [0, 1), got {rate!r}")
    shape = x.shape if noise_shape is None else tuple(x.shape[i] if d is None else int(d)
                                                      for i, d in enumerate(noise_shape))
    if len(shape) != x.ndim or any(d not in (1, s) for d, s in zip(shape, x.shape)):
        raise ValueError(f"keras.random.dropout: noise_shape {noise_shape} does not broadcast to {x.shape}")
    keep = _generator(seed, "dropout").uniform(size=shape) >= float(rate)
    dtype = x.dtype if x.dtype.kind == "f" else _dtype(None)
    return np.where(keep, x / (1.0 - float(rate)), 0.0).astype(dtype)


__all__ = ["SeedGenerator", "normal", "uniform", "truncated_normal", "randint", "binomial", "gamma", "beta",
           "categorical", "shuffle", "dropout"]
