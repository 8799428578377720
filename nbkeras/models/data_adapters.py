"""Data adapters: one object per kind of data source, each telling the epoch iterator how many batches an epoch
has and handing it batches.

- ``ArrayAdapter``: NumPy arrays (lists, dicts) already validated into a ``data.Prepared``; batches are index
  ranges of one order array, so the trainer runs many of them per engine call.
- ``GeneratorAdapter``: a Python generator or iterator, consumed once; its length is unknown until it runs out.
- ``DatasetAdapter``: a ``keras.utils.PyDataset``/``Sequence`` (or anything with ``__len__`` and ``__getitem__``),
  restartable every epoch, its batch order shuffled when ``shuffle`` is set (as Keras 3 does), optionally prefetched
  by a pool of threads or processes in order (``workers``, ``use_multiprocessing``, ``max_queue_size``).

Item-producing adapters yield raw items; ``unpack`` turns an item into ``(x, y, sample_weight)``.
"""

import collections
import concurrent.futures
import itertools
import math
import multiprocessing
import types

import numpy as np


def is_iterator_like(x):
    """Whether ``x`` is a generator, an iterator or a Sequence/PyDataset rather than arrays."""
    if isinstance(x, (np.ndarray, list, tuple, dict)) or x is None:
        return False
    if isinstance(x, types.GeneratorType) or hasattr(x, "__next__"):
        return True
    return is_dataset(x)


def is_dataset(x):
    """A Sequence/PyDataset: indexed batches, restartable."""
    from ..utils import PyDataset

    if isinstance(x, PyDataset):
        return True
    return (hasattr(x, "__getitem__") and hasattr(x, "__len__") and not hasattr(x, "shape")
            and not isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)))


def unpack(item, predict=False, dataset=False):
    """(x, y, sample_weight) from one item: a tuple (x,), (x, y) or (x, y, sample_weight), as in Keras.

    A namedtuple is rejected. ``predict`` accepts a bare x; ``dataset`` (a PyDataset's ``__getitem__``) also
    accepts a list for a tuple and a bare array for (x,), as Keras 3's PyDataset adapter does."""
    if isinstance(item, tuple) and hasattr(item, "_fields"):
        raise ValueError("Data yielded by a generator must be a plain tuple (x,), (x, y) or (x, y, sample_weight), "
                         f"not a namedtuple: {type(item).__name__}")
    if dataset and isinstance(item, list):
        item = tuple(item)
    if isinstance(item, tuple):
        if len(item) == 1:
            return item[0], None, None
        if len(item) == 2:
            return item[0], item[1], None
        if len(item) == 3:
            return item
        raise ValueError(f"Data yielded by a generator must be a tuple of length 1, 2 or 3; got length {len(item)}")
    if predict or (dataset and isinstance(item, np.ndarray)):
        return item, None, None
    raise ValueError("Data yielded by a generator must be a tuple (x,), (x, y) or (x, y, sample_weight); got "
                     f"{type(item).__name__}")


def epoch_order(n, batch_size, shuffle, rng):
    """Sample order of one pass over ``n`` arrays rows: identity (False), a permutation (True), or whole batches
    permuted with the partial last batch kept last ("batch", Keras's batch-wise shuffle)."""
    order = np.arange(n, dtype=np.int64)
    if shuffle == "batch":
        full = (n // batch_size) * batch_size
        blocks = order[:full].reshape(-1, batch_size)
        rng.shuffle(blocks)
        order = np.concatenate([blocks.reshape(-1), order[full:]])
    elif shuffle:
        rng.shuffle(order)
    return np.ascontiguousarray(order)


class ArrayAdapter:
    """Prepared arrays cut into ``ceil(n / batch_size)`` batches of one order array per epoch."""

    chunked = True
    dataset = False

    def __init__(self, data, batch_size, shuffle=False):
        self.data = data
        # Buffers follow the batch, so a batch larger than the data is the whole data (Keras does the same).
        self.batch_size = max(1, min(int(batch_size), data.n))
        self.shuffle = shuffle
        self.num_batches = math.ceil(data.n / self.batch_size)

    def order(self, rng):
        """The sample order of one pass: identity, shuffled, or shuffled in whole batches (``"batch"``)."""
        return epoch_order(self.data.n, self.batch_size, self.shuffle, rng)

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass

    def close(self):
        pass


class GeneratorAdapter:
    """A Python generator or iterator: one stream for the whole fit, so a pass continues where the last stopped."""

    chunked = False
    dataset = False

    def __init__(self, generator):
        self._iterator = iter(generator)
        self.num_batches = None

    def items(self, rng):
        return self._iterator

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass

    def close(self):
        pass


class DatasetAdapter:
    """A Sequence/PyDataset: each pass reads indices 0..len-1 (shuffled when ``shuffle``), prefetched in order by
    ``workers`` threads (or processes with ``use_multiprocessing``) when ``workers > 1`` or multiprocessing is on,
    at most ``max_queue_size`` batches ahead -- Keras 3's rule for when a PyDataset uses its enqueuer."""

    chunked = False
    dataset = True

    def __init__(self, dataset, shuffle=False, workers=None, use_multiprocessing=None, max_queue_size=None):
        self.source = dataset
        self.shuffle = bool(shuffle)  # "batch" shuffles the batch order too: a PyDataset's batches are the blocks
        # Keras 3 reads these from the PyDataset; Keras 2 took them in fit(). A value given to fit() wins.
        self.workers = int(workers if workers is not None else getattr(dataset, "workers", 1) or 0)
        self.use_multiprocessing = bool(use_multiprocessing if use_multiprocessing is not None
                                        else getattr(dataset, "use_multiprocessing", False))
        self.max_queue_size = max(1, int(max_queue_size if max_queue_size is not None
                                         else getattr(dataset, "max_queue_size", 10) or 1))
        if self.workers < 0:
            raise ValueError(f"`workers` must be a non-negative integer, got {self.workers}")
        self.num_batches = _dataset_length(dataset)

    @property
    def prefetching(self):
        return self.workers > 1 or (self.workers > 0 and self.use_multiprocessing)

    def items(self, rng):
        if self.num_batches is None:
            indices = itertools.count()
        else:
            indices = np.arange(self.num_batches)
            if self.shuffle:
                rng.shuffle(indices)
            indices = [int(i) for i in indices]
        if not self.prefetching:
            return (self.source[i] for i in indices)
        return ordered_prefetch(self.source, indices, self.workers, self.use_multiprocessing, self.max_queue_size)

    def on_epoch_begin(self):
        hook = getattr(self.source, "on_epoch_begin", None)
        if hook is not None:
            hook()

    def on_epoch_end(self):
        hook = getattr(self.source, "on_epoch_end", None)
        if hook is not None:
            hook()

    def close(self):
        pass


def _dataset_length(dataset):
    try:
        n = dataset.num_batches
    except (AttributeError, NotImplementedError):
        n = len(dataset)
    if n is None:
        return None
    n = int(n)
    if n < 0:
        raise ValueError(f"A PyDataset's length must be non-negative, got {n}")
    return n


# ------------------------------------------------------------------ prefetching
_WORKER_DATASET = None


def _init_worker(dataset):
    global _WORKER_DATASET
    _WORKER_DATASET = dataset


def _worker_item(index):
    return _WORKER_DATASET[index]


def ordered_prefetch(dataset, indices, workers, use_multiprocessing, max_queue_size):
    """Yield ``dataset[i]`` for each of ``indices`` in order, while a pool computes up to ``max_queue_size``
    items ahead. Threads share the dataset; processes get it by fork where the platform has fork (else it must
    pickle). Closing the generator cancels what is queued and shuts the pool down."""
    workers = max(1, int(workers))
    depth = max(1, int(max_queue_size))
    indices = iter(indices)
    if use_multiprocessing:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                                      initargs=(dataset,))
        task = _worker_item
    else:
        pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="nbkeras-data")
        task = dataset.__getitem__
    pending = collections.deque()
    try:
        for i in itertools.islice(indices, depth):
            pending.append(pool.submit(task, i))
        while pending:
            item = pending.popleft().result()
            nxt = next(indices, None)
            if nxt is not None:
                pending.append(pool.submit(task, nxt))
            yield item
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
