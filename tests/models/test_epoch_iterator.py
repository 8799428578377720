"""The epoch iterator and data adapters: every kind of data through one fit/evaluate/predict loop, with Keras's
epoch rules, errors and PyDataset prefetching."""

import threading
import time
import warnings

import numpy as np
import pytest

import nbkeras as keras
from nbkeras.models.data import Prepared
from nbkeras.models.data_adapters import ArrayAdapter, DatasetAdapter, GeneratorAdapter, ordered_prefetch
from nbkeras.models.epoch_iterator import ChunkSizer, EpochIterator


def model_and_data(n=12):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    rng = np.random.default_rng(0)
    return model, rng.normal(size=(n, 3)).astype("float32"), rng.normal(size=(n, 2)).astype("float32")


def batches(x, y, size=4, repeat=1):
    for _ in range(repeat):
        for b0 in range(0, len(x), size):
            yield x[b0:b0 + size], y[b0:b0 + size]


class Batches(keras.utils.PyDataset):
    """Batches of 4 of (x, y); counts reads and can sleep in __getitem__."""

    def __init__(self, x, y, size=4, delay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.size, self.delay = x, y, size, delay
        self.reads = []
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0

    def __len__(self):
        return -(-len(self.x) // self.size)

    def __getitem__(self, i):
        with self.lock:
            self.reads.append(i)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.active -= 1
        s = slice(i * self.size, (i + 1) * self.size)
        return self.x[s], self.y[s]


def chunks_of(iterator, size=1, epochs=1):
    seen = []
    for _ in range(epochs):
        epoch = []
        for step, chunks in iterator.enumerate_epoch(lambda: size):
            epoch.append((step, [(c.first, c.nsteps) for c in chunks]))
        seen.append(epoch)
    return seen


# ------------------------------------------------------------------ iterator rules
def test_arrays_with_steps_per_epoch_continue_through_the_data():
    data = Prepared([np.zeros((10, 1))], [np.zeros((10, 1))], [np.zeros((0, 0))])
    it = EpochIterator(ArrayAdapter(data, 3), steps_per_epoch=2, rng=np.random.default_rng(0))
    assert it.num_batches == 2
    # 4 batches of 3 (the last has 1 row); epochs take 2 batches each and the pass restarts after the 4th.
    assert chunks_of(it, size=8, epochs=3) == [[(0, [(0, 2)])], [(0, [(2, 2)])], [(0, [(0, 2)])]]


def test_arrays_in_chunks_of_the_requested_size():
    data = Prepared([np.zeros((10, 1))], [np.zeros((10, 1))], [np.zeros((0, 0))])
    it = EpochIterator(ArrayAdapter(data, 2), rng=np.random.default_rng(0))
    assert chunks_of(it, size=2) == [[(0, [(0, 2)]), (2, [(2, 2)]), (4, [(4, 1)])]]


def test_batch_size_is_capped_by_the_number_of_samples():
    data = Prepared([np.zeros((5, 1))], [np.zeros((5, 1))], [np.zeros((0, 0))])
    adapter = ArrayAdapter(data, 2 * 10 ** 9)
    assert adapter.batch_size == 5 and adapter.num_batches == 1


def test_generator_length_is_learned_from_the_first_epoch():
    items = iter(range(5))
    it = EpochIterator(GeneratorAdapter(items), prepare=lambda item: Prepared([np.zeros((1, 1))], [], []))
    assert it.num_batches is None
    first = chunks_of(it)[0]
    assert [s for s, _ in first] == [0, 1, 2, 3, 4] and it.num_batches == 5 and not it.exhausted
    with pytest.warns(UserWarning, match="ran out of data"):
        assert chunks_of(it) == [[]]
    assert it.exhausted


def test_pydataset_restarts_every_epoch_and_shuffles_its_batches():
    x = np.arange(24, dtype="float32").reshape(12, 2)
    ds = Batches(x, x)
    seen = []

    def prepare(item):
        seen.append(int(item[0][0, 0]) // 8)
        return Prepared([item[0]], [item[1]], [np.zeros((0, 0))])

    it = EpochIterator(DatasetAdapter(ds, shuffle=True), prepare=prepare, rng=np.random.default_rng(1))
    chunks_of(it, epochs=4)
    epochs = [seen[i:i + 3] for i in range(0, 12, 3)]
    assert all(sorted(e) == [0, 1, 2] for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1  # a new order per epoch


def test_chunk_sizer_targets_time_per_call_and_respects_cap():
    sizer = ChunkSizer(cap=1000, target=0.1)
    assert sizer() == 1
    sizer.record(1, 5.0)  # first call: compilation, not measured
    assert sizer() == 1
    sizer.record(1, 0.001)  # 1 ms a step: wants 100, grows at most 8x per call
    assert sizer() == 8
    sizer.record(8, 0.008)
    assert sizer() == 64
    sizer.record(64, 0.064)
    assert sizer() == 100
    sizer.record(100, 10.0)  # slowed down: shrink at once
    assert sizer() == 1
    fast = ChunkSizer(cap=50)
    for _ in range(5):
        fast.record(fast(), 1e-7 * fast())
    assert fast() == 50


# ------------------------------------------------------------------ fit / evaluate / predict
def test_finite_generator_without_steps_trains_until_exhausted():
    model, x, y = model_and_data()
    start = model.get_weights()
    history = model.fit(batches(x, y), epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1
    from_generator = model.get_weights()
    model.set_weights(start)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(from_generator, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # A second epoch of a spent generator has no data: fit stops after the first, with Keras's warning.
    model2, _, _ = model_and_data()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model2.fit(batches(x, y), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1


@pytest.mark.parametrize("kind", ["generator", "generator_steps", "pydataset", "pydataset_steps"])
def test_generator_or_pydataset_as_validation_data(kind):
    model, x, y = model_and_data()
    expected_batches, last = 3, slice(0, 12)
    if kind == "generator":
        val, steps, epochs = batches(x, y, repeat=1), None, 1
    elif kind == "generator_steps":
        # One stream across validations: [b0, b1], [b2, b0], [b1, b2].
        val, steps, epochs, expected_batches, last = batches(x, y, repeat=3), 2, 3, 2, slice(4, 12)
    elif kind == "pydataset":
        val, steps, epochs = Batches(x, y), None, 3
    else:
        val, steps, epochs, expected_batches, last = Batches(x, y), 2, 3, 2, slice(0, 8)
    counts = []
    cb = keras.callbacks.LambdaCallback(on_test_batch_end=lambda batch, logs: counts.append(batch))
    history = model.fit(x, y, batch_size=4, epochs=epochs, validation_data=val, validation_steps=steps,
                        callbacks=[cb], verbose=0)
    assert len(history.history["val_loss"]) == epochs
    assert counts[:expected_batches] == list(range(expected_batches))
    assert len(counts) == expected_batches * epochs
    # The last validation matches evaluate on the same batches (a PyDataset restarts; a generator continues).
    ref = model.evaluate(x[last], y[last], batch_size=4, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(ref, rel=1e-5)


def test_spent_generator_validation_warns_and_skips():
    model, x, y = model_and_data()
    with pytest.warns(UserWarning, match="validation data ran out"):
        history = model.fit(x, y, batch_size=4, epochs=2, validation_data=batches(x, y), verbose=0)
    assert len(history.history["loss"]) == 2 and len(history.history["val_loss"]) == 1


def test_pydataset_steps_epochs_initial_epoch_and_validation_freq():
    model, x, y = model_and_data()
    ds = Batches(x, y)
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(ds, epochs=4, initial_epoch=1, steps_per_epoch=2, validation_data=Batches(x, y),
                            validation_freq=[2, 4], shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 3 and len(history.history["val_loss"]) == 2
    assert history.params["steps"] == 2
    # steps_per_epoch=2 over 3 batches: the pass continues across epochs, so the second epoch gets the one batch
    # left (Keras 3 warns and ends that epoch early) and the third starts a new pass.
    assert ds.reads == [0, 1, 2, 0, 1]


def test_generator_and_dataset_errors_follow_keras():
    model, x, y = model_and_data()
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(batches(x, y), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(Batches(x, y), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="class_weight.*sample_weight"):
        model.fit(x, y, class_weight={0: 1.0}, sample_weight=np.ones(12), verbose=0)
    with pytest.raises(ValueError, match="`y` should not be passed"):
        model.fit(Batches(x, y), y, verbose=0)
    with pytest.raises(ValueError, match="`sample_weight` should not be passed"):
        model.fit(batches(x, y), sample_weight=np.ones(12), verbose=0)
    weighted = ((x[i:i + 4], y[i:i + 4], np.ones(4)) for i in (0, 4, 8))
    with pytest.raises(ValueError, match="class_weight.*sample_weight"):
        model.fit(weighted, class_weight={0: 1.0}, verbose=0)


def test_huge_batch_size_is_one_batch_everywhere():
    model, x, y = model_and_data(n=256)
    huge = 2 * 10 ** 9
    ends = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: ends.append(batch))
    history = model.fit(x, y, batch_size=huge, validation_data=(x, y), validation_batch_size=huge, callbacks=[cb],
                        verbose=0)
    assert ends == [0] and history.params["steps"] == 1
    assert model.evaluate(x, y, batch_size=huge, verbose=0) == pytest.approx(history.history["val_loss"][0])
    np.testing.assert_allclose(model.predict(x, batch_size=huge, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    history = model.fit(x, y, batch_size=huge, validation_split=0.25, verbose=0)
    assert len(history.history["val_loss"]) == 1


def test_pydataset_predict_and_evaluate_match_arrays():
    model, x, y = model_and_data()
    np.testing.assert_allclose(model.predict(Batches(x, y), verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert model.evaluate(Batches(x, y), verbose=0) == pytest.approx(model.evaluate(x, y, batch_size=4, verbose=0),
                                                                     rel=1e-6)


# ------------------------------------------------------------------ prefetching
@pytest.mark.parametrize("use_multiprocessing", [False, True])
def test_prefetch_keeps_order(use_multiprocessing):
    x = np.arange(40, dtype="float32").reshape(20, 2)
    ds = Batches(x, x, size=2, delay=0.001)
    out = list(ordered_prefetch(ds, range(10), 3, use_multiprocessing, 4))
    for i, (bx, _) in enumerate(out):
        np.testing.assert_array_equal(bx, x[2 * i:2 * i + 2])


def test_fit_with_processes_matches_serial():
    model, x, y = model_and_data()
    start = model.get_weights()
    model.fit(Batches(x, y), epochs=2, shuffle=False, verbose=0)
    serial = model.get_weights()
    model.set_weights(start)
    model.fit(Batches(x, y, workers=2, use_multiprocessing=True), epochs=2, shuffle=False, verbose=0)
    for a, b in zip(serial, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_keras2_fit_arguments_override_the_dataset():
    ds = Batches(np.zeros((8, 3)), np.zeros((8, 2)))
    adapter = DatasetAdapter(ds, workers=3, max_queue_size=2)
    assert adapter.prefetching and adapter.workers == 3 and adapter.max_queue_size == 2
    assert not DatasetAdapter(ds).prefetching  # Keras 3's default: one worker, no enqueuer
    assert DatasetAdapter(Batches(np.zeros((8, 3)), np.zeros((8, 2)), workers=4)).workers == 4


def test_slow_getitem_overlaps_with_training():
    """Twelve 50 ms reads with four prefetching threads: the reads overlap each other and training, so the epoch
    takes far less than the serial sum of the reads."""
    model, x, y = model_and_data(n=48)
    model.fit(x, y, batch_size=4, verbose=0)  # compile first
    delay, n_batches = 0.05, 12
    ds = Batches(x, y, delay=delay, workers=4, max_queue_size=8)
    train_starts = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: train_starts.append(len(ds.reads)))
    t0 = time.perf_counter()
    model.fit(ds, epochs=1, callbacks=[cb], verbose=0)
    elapsed = time.perf_counter() - t0
    assert sorted(ds.reads) == list(range(n_batches))
    assert ds.max_active > 1  # reads ran concurrently
    assert train_starts[0] > 1  # more batches were being read ahead when the first one trained
    assert elapsed < 0.75 * delay * n_batches, elapsed


def test_no_warnings_for_plain_arrays():
    model, x, y = model_and_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, batch_size=4, epochs=2, validation_data=(x, y), verbose=0)
        model.evaluate(x, y, verbose=0)
        model.predict(x, verbose=0)
