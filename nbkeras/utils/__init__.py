"""Keras's utils: seeding and small array helpers."""

import numpy as np

from .. import backend
from .progbar import Progbar
from .sequence_utils import pad_sequences
from ..saving.plot_model import model_to_dot, plot_model  # noqa: E402


def set_random_seed(seed):
    """Seed every source of randomness nbkeras uses (initializers, dropout, shuffling), and NumPy's and Python's
    global generators as Keras does."""
    import random

    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"set_random_seed: seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    backend.set_seed(seed)


def to_categorical(x, num_classes=None):
    """One-hot encode integer labels: shape (..., num_classes), float32 (a trailing axis of 1 is dropped)."""
    x = np.asarray(x)
    if x.size and not np.all(np.equal(np.mod(x, 1), 0)):
        raise ValueError("to_categorical: x must hold integer class labels")
    x = x.astype("int64")
    shape = x.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    x = x.reshape(-1)
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must lie in [0, {num_classes}), got range [{x.min()}, {x.max()}]")
    out = np.zeros((x.size, num_classes), dtype="float32")
    out[np.arange(x.size), x] = 1.0
    return out.reshape(shape + (num_classes,))


class PyDataset:
    """Keras 3's PyDataset (Keras 2's Sequence): ``__len__`` batches, ``__getitem__(i)`` returns (x, y[, w]).

    Args:
        workers: threads (or processes) that prefetch batches during fit/evaluate/predict; prefetching happens
            when ``workers > 1``, or ``workers >= 1`` with ``use_multiprocessing`` (Keras 3's rule). Batches are
            always delivered in order.
        use_multiprocessing: prefetch in processes (forked where the platform can fork, so the dataset need not
            pickle there) instead of threads: for CPU-bound Python in ``__getitem__``.
        max_queue_size: how many batches may be computed ahead of training.

    Keras 2 passed these to ``fit()``; nbkeras accepts them there too, and a value given to ``fit()`` other than
    its default wins. A subclass that does not call ``super().__init__()`` gets the defaults. ``fit(shuffle=True)``
    (the default) visits the batches in a new random order every epoch, as Keras 3 does.
    """

    workers = 1
    use_multiprocessing = False
    max_queue_size = 10

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError

    @property
    def num_batches(self):
        """Number of batches (``len(self)``); None for an endless dataset."""
        return len(self)

    def __iter__(self):
        n = self.num_batches
        indices = range(n) if n is not None else iter(int, 1)
        for i, index in enumerate(indices):
            yield self[i]

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass


Sequence = PyDataset
