"""The trainer re-derives a model's weight list (to check its parameter buffer) only when some layer changed:
repeated calls skip the walk, and freezing, unfreezing or adding layers is still seen."""

import numpy as np

import nbkeras as keras
from nbkeras.models import engine


def model_and_data():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    return model, rng.normal(size=(16, 5)).astype("float32"), np.arange(16) % 2


def test_repeated_calls_do_not_walk_the_weights(monkeypatch):
    model, x, y = model_and_data()
    model.predict_on_batch(x[:1])
    model.train_on_batch(x, y)
    calls = []
    original = engine.Arena.matches
    monkeypatch.setattr(engine.Arena, "matches", lambda self, m: calls.append(1) or original(self, m))
    walks = []
    monkeypatch.setattr(type(model), "trainable_weights",
                        property(lambda self: walks.append(1) or keras.Model.trainable_weights.fget(self)))
    for _ in range(5):
        model.predict_on_batch(x[:1])
        model.train_on_batch(x, y)
        model.predict(x, verbose=0)
    assert calls == [] and walks == []


def test_freezing_after_training_is_seen():
    model, x, y = model_and_data()
    model.fit(x, y, epochs=1, verbose=0)
    model.predict_on_batch(x[:1])
    model.layers[0].trainable = False
    frozen = [w.copy() for w in model.layers[0].get_weights()]
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen, model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    before = [w.copy() for w in model.layers[1].get_weights()]
    model.train_on_batch(x, y)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.layers[1].get_weights()))
    model.layers[0].trainable = True
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    assert any(not np.array_equal(a, b) for a, b in zip(frozen, model.layers[0].get_weights()))


def test_a_layer_added_after_predict_is_seen():
    model, x, _ = model_and_data()
    model.predict_on_batch(x[:1])
    model.add(keras.layers.Dense(3))
    assert model.predict_on_batch(x[:2]).shape == (2, 3)
