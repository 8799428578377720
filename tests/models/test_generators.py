"""fit / evaluate / predict on generators and Sequence objects, and the Keras 2 *_generator methods."""

import collections

import numpy as np
import pytest

import nbkeras as keras


def model_and_data():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    rng = np.random.default_rng(0)
    return model, rng.normal(size=(12, 3)).astype("float32"), rng.normal(size=(12, 2)).astype("float32")


def batches(x, y, size=4, repeat=1, with_weights=False):
    for _ in range(repeat):
        for b0 in range(0, len(x), size):
            if with_weights:
                yield x[b0:b0 + size], y[b0:b0 + size], np.ones(len(x[b0:b0 + size]))
            else:
                yield x[b0:b0 + size], y[b0:b0 + size]


def test_generator_matches_arrays_without_shuffling():
    model, x, y = model_and_data()
    start = model.get_weights()
    model.fit(batches(x, y, repeat=2), steps_per_epoch=3, epochs=2, verbose=0)
    from_generator = model.get_weights()
    model.set_weights(start)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(from_generator, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_fit_generator_evaluate_generator_predict_generator():
    model, x, y = model_and_data()
    history = model.fit_generator(batches(x, y, repeat=3, with_weights=True), steps_per_epoch=3, epochs=3,
                                  verbose=0)
    assert len(history.history["loss"]) == 3
    loss = model.evaluate_generator(batches(x, y), steps=3)
    assert loss == pytest.approx(model.evaluate(x, y, batch_size=4, verbose=0), rel=1e-6)
    pred = model.predict_generator(((xb,) for xb, _ in batches(x, y)), steps=3)
    np.testing.assert_allclose(pred, model.predict(x, verbose=0), rtol=1e-6)


def test_sequence_runs_every_epoch_and_calls_on_epoch_end():
    model, x, y = model_and_data()

    class Data(keras.utils.Sequence):
        def __init__(self):
            super().__init__()
            self.epoch_ends = 0

        def __len__(self):
            return 3

        def __getitem__(self, i):
            return x[4 * i:4 * i + 4], y[4 * i:4 * i + 4]

        def on_epoch_end(self):
            self.epoch_ends += 1

    seq = Data()
    history = model.fit(seq, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and seq.epoch_ends == 2
    assert history.params["steps"] == 3


def test_generator_items_must_be_plain_tuples():
    model, x, y = model_and_data()
    Pair = collections.namedtuple("Pair", "x y")
    with pytest.raises(ValueError, match="namedtuple"):
        model.fit((Pair(x, y) for _ in range(2)), steps_per_epoch=1, verbose=0)
    with pytest.raises(ValueError, match="tuple"):
        model.fit((x for _ in range(2)), steps_per_epoch=1, verbose=0)


def test_exhausted_generator_warns_and_stops():
    model, x, y = model_and_data()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(batches(x, y), steps_per_epoch=3, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1
