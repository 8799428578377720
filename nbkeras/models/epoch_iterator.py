"""One epoch iterator for every data adapter, as in Keras 3: it yields ``(step, chunks)`` per execution, where
``step`` is the index of the execution's first batch and each chunk is ready for one engine call.

A chunk is ``(data, order, first, nsteps, batch_size)``: the engine processes rows
``order[first * batch_size : min((first + nsteps) * batch_size, n)]`` of ``data``. Arrays give one chunk of up to
``size()`` batches per execution; a generator or PyDataset gives ``size()`` one-batch chunks, each item converted by
``prepare(item)`` into a ``data.Prepared``.

Epoch rules (Keras 3's ``EpochIterator``):
- without ``steps_per_epoch`` every epoch is one pass over the data; a source of unknown length (a generator)
  runs until it is exhausted, and its length is then known;
- with ``steps_per_epoch`` a pass continues across epochs and restarts only when the data is used up; an epoch that
  asks for more batches than remain warns "ran out of data" and ends early;
- an epoch that gets no batch at all (an exhausted generator) sets ``exhausted``: fit stops there (Keras 2's rule;
  Keras 3 would report an empty epoch).
"""

import time
import warnings

import numpy as np

RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset or generator can "
           "generate at least `steps_per_epoch * epochs` batches.")


class Chunk:
    __slots__ = ("data", "order", "first", "nsteps", "batch_size")

    def __init__(self, data, order, first, nsteps, batch_size):
        self.data, self.order, self.first, self.nsteps, self.batch_size = data, order, first, nsteps, batch_size

    @property
    def rows(self):
        """Number of samples this chunk processes."""
        return max(0, min(self.data.n, (self.first + self.nsteps) * self.batch_size) - self.first * self.batch_size)

    def row_range(self):
        start = self.first * self.batch_size
        return start, start + self.rows


class EpochIterator:
    """Batches of one adapter, epoch after epoch.

    Args:
        adapter: an ``ArrayAdapter``, ``GeneratorAdapter`` or ``DatasetAdapter``.
        steps_per_epoch: batches per epoch, or None for one pass over the data.
        prepare: ``prepare(item) -> data.Prepared`` for item adapters.
        rng: the generator that shuffles.
    """

    def __init__(self, adapter, steps_per_epoch=None, prepare=None, rng=None):
        self.adapter = adapter
        self.steps_per_epoch = steps_per_epoch
        self.prepare = prepare
        self.rng = rng
        self.exhausted = False
        self._num_batches = adapter.num_batches
        self._pass = None  # arrays: the order array; items: the iterator
        self._seen = 0  # batches taken from the current pass

    @property
    def chunked(self):
        return self.adapter.chunked

    @property
    def num_batches(self):
        """Batches per epoch: steps_per_epoch, else the data's batch count (None while unknown)."""
        return self.steps_per_epoch or self._num_batches

    def reset(self):
        """Start the next epoch from a fresh pass (a generator continues: it cannot restart)."""
        self.close()
        self._pass = None
        self._seen = 0
        self.exhausted = False

    def close(self):
        """Stop the current pass of a PyDataset (shutting down its prefetching pool); a generator stays open."""
        if self.adapter.dataset:
            if self._pass is not None and hasattr(self._pass, "close"):
                self._pass.close()
            self._pass = None

    def _new_pass(self):
        self.close()
        self._seen = 0
        if self.chunked:
            self._pass = self.adapter.order(self.rng)
        else:
            self._pass = iter(self.adapter.items(self.rng))

    def enumerate_epoch(self, size):
        """Yield ``(step, [Chunk, ...])`` for one epoch; ``size()`` says how many batches the next execution may
        hold (asked before each one)."""
        self.exhausted = False
        adapter = self.adapter
        if self._pass is None or self.steps_per_epoch is None or (
                self._num_batches is not None and self._seen >= self._num_batches):
            self._new_pass()
        adapter.on_epoch_begin()
        steps = self.num_batches
        step = 0
        try:
            while steps is None or step < steps:
                if self._num_batches is not None and self._seen >= self._num_batches:
                    if self.steps_per_epoch:
                        warnings.warn(RAN_OUT, stacklevel=3)
                    break
                want = max(1, int(size()))
                if steps is not None:
                    want = min(want, steps - step)
                if self.chunked:
                    nsteps = min(want, self._num_batches - self._seen)
                    chunks = [Chunk(adapter.data, self._pass, self._seen, nsteps, adapter.batch_size)]
                    self._seen += nsteps
                else:
                    chunks, ran_out = self._take(want)
                    if ran_out:
                        self._ran_out(step + len(chunks))
                        if chunks:
                            yield step, chunks
                        break
                yield step, chunks
                step += sum(c.nsteps for c in chunks)
        finally:
            adapter.on_epoch_end()
        if self._num_batches is not None and self._seen >= self._num_batches and not self.chunked:
            self.close()  # a PyDataset restarts its pass next epoch

    def _take(self, want):
        chunks = []
        for _ in range(want):
            try:
                item = next(self._pass)
            except StopIteration:
                return chunks, True
            data = self.prepare(item)
            chunks.append(Chunk(data, np.arange(data.n, dtype=np.int64), 0, 1, data.n))
            self._seen += 1
        return chunks, False

    def _ran_out(self, taken):
        if taken == 0:
            self.exhausted = True
            warnings.warn(RAN_OUT, stacklevel=4)
        elif self._num_batches is None and self.steps_per_epoch is None:
            self._num_batches = self._seen  # running out is how an unknown length is found, not an interruption
        elif self.steps_per_epoch:
            warnings.warn(RAN_OUT, stacklevel=4)
        self.close()


class ChunkSizer:
    """Batches per engine call when no callback watches batches: sized by measured time so one call takes about
    ``target`` seconds (0.15 s: Ctrl-C, which Python sees only between calls, stops within a fraction of a
    second), never more than ``cap`` and growing at most 8x per call. The first call, which may include
    compilation, is not measured."""

    def __init__(self, cap, target=0.15, start=1):
        self.cap = max(1, int(cap))
        self.target = target
        self.size = max(1, min(int(start), self.cap))
        self._measured = False

    def __call__(self):
        return self.size

    def timed(self, nsteps):
        return _Timer(self, nsteps)

    def record(self, nsteps, seconds):
        if not self._measured:
            self._measured = True
            return
        per_step = seconds / max(1, nsteps)
        want = self.cap if per_step <= 0 else int(self.target / per_step)
        self.size = max(1, min(self.cap, want, self.size * 8))


class _Timer:
    __slots__ = ("sizer", "nsteps", "t0")

    def __init__(self, sizer, nsteps):
        self.sizer, self.nsteps = sizer, nsteps

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.sizer.record(self.nsteps, time.perf_counter() - self.t0)
        return False
