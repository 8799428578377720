"""Bad input raises ValueError/TypeError naming the argument, before compiled code runs, and the model stays usable."""

import numpy as np
import pytest

import nbkeras as keras


@pytest.fixture
def model():
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(10, 4)).astype("float32"), rng.integers(0, 3, size=10)


def test_use_before_compile_is_runtime_and_value_error(xy):
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x, y = xy
    for call in (lambda: m.fit(x, y), lambda: m.evaluate(x, y), lambda: m.train_on_batch(x, y),
                 lambda: m.test_on_batch(x, y)):
        with pytest.raises(RuntimeError, match="compile"):
            call()
        with pytest.raises(ValueError, match="compile"):
            call()
    assert m.predict(x, verbose=0).shape == (10, 3)  # predict needs no compile


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"epochs": -1}, "epochs"),
    ({"validation_split": 1.0}, "validation_split"),
    ({"validation_split": -0.1}, "validation_split"),
    ({"validation_freq": 0}, "validation_freq"),
    ({"shuffle": "sometimes"}, "shuffle"),
    ({"steps_per_epoch": 0}, "steps_per_epoch"),
    ({"class_weight": {7: 1.0}}, "class_weight"),
    ({"class_weight": {0: 1.0}, "sample_weight": np.ones(10)}, "class_weight"),
    ({"sample_weight": np.ones(9)}, "sample_weight"),
    ({"validation_data": (1, 2, 3, 4)}, "validation_data"),
])
def test_bad_fit_arguments(model, xy, kwargs, match):
    x, y = xy
    before = model.get_weights()
    with pytest.raises(ValueError, match=match):
        model.fit(x, y, verbose=0, **kwargs)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.fit(x, y, epochs=1, verbose=0)  # still usable


def test_bad_data(model, xy):
    x, y = xy
    with pytest.raises(ValueError, match="shape"):
        model.fit(x[:, :3], y, verbose=0)  # wrong feature count
    with pytest.raises(ValueError, match="shape"):
        model.fit(x[:, :, None], y, verbose=0)  # wrong rank
    with pytest.raises(ValueError, match="cardinality"):
        model.fit(x, y[:9], verbose=0)
    for error in (TypeError, ValueError):  # Keras 3 raises ValueError for strings; TypeError is natural
        with pytest.raises(error, match="numbers"):
            model.fit(np.array([["a"] * 4] * 10), y, verbose=0)
    with pytest.raises(ValueError, match="label"):
        model.fit(x, np.where(np.arange(10) == 3, 5, y), verbose=0)  # out of range
    with pytest.raises(ValueError, match="label"):
        model.fit(x, np.where(np.arange(10) == 3, np.nan, y.astype(float)), verbose=0)
    with pytest.raises(ValueError, match="label"):
        model.fit(x, y + 0.5, verbose=0)  # not integral
    with pytest.raises(ValueError, match="non-empty"):
        model.fit(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match="expects arrays of shape"):
        model.fit([x, x], y, verbose=0)  # two arrays for a one-input model
    with pytest.raises(ValueError, match="y"):
        model.fit(x, None, verbose=0)
    model.fit(x, y, verbose=0)


def test_bad_compile_arguments():
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="optimizer"):
        m.compile(optimizer="adamzz", loss="mse")
    with pytest.raises(ValueError, match="loss"):
        m.compile(optimizer="sgd", loss="not_a_loss")
    with pytest.raises(ValueError, match="metric"):
        m.compile(optimizer="sgd", loss="mse", metrics=["not_a_metric"])
    with pytest.raises(ValueError, match="metrics"):
        m.compile(optimizer="sgd", loss="mse", metrics="mae")
    with pytest.raises(ValueError, match="steps_per_execution"):
        m.compile(optimizer="sgd", loss="mse", steps_per_execution=0)
    with pytest.raises(TypeError):
        m.compile(optimizer="sgd", loss="mse", not_an_argument=1)
    with pytest.raises(ValueError):
        m.compile(optimizer="sgd", loss="mse", not_an_argument=1)
    with pytest.raises(ValueError, match="clip"):
        keras.optimizers.SGD(clipnorm=1.0, clipvalue=1.0)


def test_unknown_layer_arguments_and_bad_units():
    with pytest.raises(TypeError, match="foo"):
        keras.layers.Dense(3, foo=1)
    with pytest.raises(ValueError, match="units"):
        keras.layers.Dense(0)
    with pytest.raises(ValueError, match="activation"):
        keras.layers.Dense(2, activation="nope")
    with pytest.raises(ValueError, match="rate"):
        keras.layers.Dropout(1.5)


def test_get_layer(model):
    layer = model.layers[0]
    assert model.get_layer(name=layer.name) is layer
    assert model.get_layer(index=0) is layer
    assert model.get_layer(name="nope_not_here", index=0) is layer  # Keras 2: index wins
    with pytest.raises(ValueError, match="No such layer"):
        model.get_layer("nope_not_here")
    with pytest.raises(ValueError, match="index"):
        model.get_layer(index=5)
    with pytest.raises(ValueError):
        model.get_layer()


def test_functional_graph_errors():
    a = keras.Input((3,))
    b = keras.Input((3,))
    out = keras.layers.Dense(2)(b)
    with pytest.raises(ValueError, match="disconnected"):
        keras.Model(a, out)
    with pytest.raises(ValueError, match="KerasTensor"):
        keras.Model(a, np.zeros(3))
    with pytest.raises(ValueError, match="expects arrays of shape"):
        keras.Model(b, out).predict(np.zeros((2, 4)), verbose=0)


def test_set_weights_checks_shapes(model):
    weights = model.get_weights()
    with pytest.raises(ValueError, match="expecting 2 weights"):
        model.set_weights(weights[:1])
    with pytest.raises(ValueError, match="shape"):
        model.set_weights([weights[0].T, weights[1]])


def test_fit_without_a_loss(xy):
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    m.compile(optimizer="sgd")
    x, y = xy
    with pytest.raises(ValueError, match="No loss"):
        m.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="No loss"):
        m.train_on_batch(x, y)
