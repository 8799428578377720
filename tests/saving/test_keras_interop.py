"""Files move between nbkeras and Keras 3 both ways (skipped where Keras is not installed).

For a Sequential MLP, a functional model with two inputs and two outputs, and a CNN with BatchNormalization:
save in one -> load in the other -> identical predictions; optimizer state travels too, so two more Adam steps
give the same losses and weights in both.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras3 = pytest.importorskip("keras")
if not keras3.__version__.startswith("3."):
    pytest.skip("needs Keras 3", allow_module_level=True)

import nbkeras  # noqa: E402


def _mlp(k):
    return k.Sequential([k.Input((6,)), k.layers.Dense(8, activation="relu"), k.layers.Dense(8, activation="tanh"),
                         k.layers.Dense(3, activation="softmax")], name="mlp")


def _multi(k):
    a, b = k.Input((5,), name="a"), k.Input((3,), name="b")
    h = k.layers.Dense(6, activation="relu", name="h")(a)
    c = k.layers.Concatenate(name="cat")([h, b])
    o1 = k.layers.Dense(1, name="o1")(c)
    o2 = k.layers.Dense(2, activation="softmax", name="o2")(k.layers.Dense(4, name="mid")(c))
    return k.Model([a, b], [o1, o2], name="multi")


def _cnn(k):
    return k.Sequential([k.Input((8, 8, 1)), k.layers.Conv2D(4, 3, activation="relu"), k.layers.BatchNormalization(),
                         k.layers.MaxPooling2D(), k.layers.Conv2D(3, 2, padding="same"),
                         k.layers.BatchNormalization(), k.layers.Flatten(), k.layers.Dense(4, activation="softmax")],
                        name="cnn")


def _embedding_lstm(k):
    return k.Sequential([k.Input((6,)), k.layers.Embedding(20, 4), k.layers.LSTM(5), k.layers.Dense(1)], name="el")


def _data(kind, n=16, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "embedding_lstm":
        return rng.integers(0, 20, (n, 6)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")
    if kind == "mlp":
        return rng.normal(size=(n, 6)).astype("float32"), np.eye(3, dtype="float32")[rng.integers(0, 3, n)]
    if kind == "multi":
        x = [rng.normal(size=(n, 5)).astype("float32"), rng.normal(size=(n, 3)).astype("float32")]
        return x, [rng.normal(size=(n, 1)).astype("float32"), np.eye(2, dtype="float32")[rng.integers(0, 2, n)]]
    return rng.normal(size=(n, 8, 8, 1)).astype("float32"), np.eye(4, dtype="float32")[rng.integers(0, 4, n)]


BUILDERS = {"mlp": _mlp, "multi": _multi, "cnn": _cnn, "embedding_lstm": _embedding_lstm}
LOSSES = {"mlp": "categorical_crossentropy", "multi": ["mse", "categorical_crossentropy"],
          "cnn": "categorical_crossentropy", "embedding_lstm": "mse"}


def _outputs(y):
    return y if isinstance(y, list) else [y]


def _continue_both(nm, km, x, y):
    """Two more steps in each framework from the state the file carried: the weights after the first step and the
    loss of the second (which the first update, made from the saved Adam moments and iteration count, decides)."""
    losses = []
    for step in range(2):
        nb_logs = nm.train_on_batch(x, y, return_dict=True)
        k_logs = km.train_on_batch(x, y, return_dict=True)
        losses.append((float(nb_logs["loss"]), float(k_logs["loss"])))
        if step == 0:
            # atol: a conv bias feeding BatchNormalization has a true gradient of 0, so Adam steps it by its
            # rounding noise (~1e-5 here) in both frameworks, differently.
            for a, b in zip(nm.get_weights(), km.get_weights()):
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=5e-5)
    nb_losses, k_losses = zip(*losses)
    np.testing.assert_allclose(nb_losses, k_losses, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_keras_to_nbkeras(kind, tmp_path):
    x, y = _data(kind)
    km = BUILDERS[kind](keras3)
    km.compile(optimizer="adam", loss=LOSSES[kind])
    km.fit(x, y, batch_size=8, epochs=1, verbose=0)  # optimizer state is non-trivial now
    path = tmp_path / f"{kind}.keras"
    km.save(path)
    nm = nbkeras.models.load_model(path)
    assert nm.optimizer.iterations == 2
    for a, b in zip(_outputs(nm.predict(x, verbose=0)), _outputs(km.predict(x, verbose=0))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    for a, b in zip(nm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # Continued training from the saved Adam state gives Keras's own next steps.
    _continue_both(nm, km, x, y)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_nbkeras_to_keras(kind, tmp_path):
    x, y = _data(kind)
    nm = BUILDERS[kind](nbkeras)
    nm.compile(optimizer="adam", loss=LOSSES[kind])
    nm.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / f"{kind}.keras"
    nm.save(path)
    km = keras3.models.load_model(path)
    assert int(km.optimizer.iterations.numpy()) == 2
    for a, b in zip(_outputs(km.predict(x, verbose=0)), _outputs(nm.predict(x, verbose=0))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # Keras continues from the state nbkeras saved exactly as nbkeras does (a freshly loaded copy, so only the
    # file carries the state).
    _continue_both(nbkeras.models.load_model(path), km, x, y)


def test_weights_file_both_ways(tmp_path):
    x, _ = _data("cnn")
    km, nm = _cnn(keras3), _cnn(nbkeras)
    km.save_weights(tmp_path / "k.weights.h5")
    nm.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(nm.predict(x, verbose=0), km.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    nm2 = _cnn(nbkeras)
    nm2.save_weights(tmp_path / "n.weights.h5")
    km.load_weights(tmp_path / "n.weights.h5")
    np.testing.assert_allclose(km.predict(x, verbose=0), nm2.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_recurrent_wrappers_weights_from_keras(tmp_path):
    """Keras keeps RNN variables in the layer's cell and wrapped layers under their attribute names
    (layers/bidirectional/forward_layer/cell/vars, layers/time_distributed/layer/vars)."""
    def build(k):
        return k.Sequential([k.Input((4, 3)), k.layers.TimeDistributed(k.layers.Dense(2)),
                             k.layers.Bidirectional(k.layers.GRU(3, return_sequences=True)), k.layers.SimpleRNN(2)])

    x = np.random.default_rng(0).normal(size=(5, 4, 3)).astype("float32")
    km = build(keras3)
    km.save(tmp_path / "r.keras")
    nm = nbkeras.models.load_model(tmp_path / "r.keras")
    np.testing.assert_allclose(nm.predict(x, verbose=0), km.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    nm.save_weights(tmp_path / "r.weights.h5")
    km2 = build(keras3)
    km2.load_weights(tmp_path / "r.weights.h5")
    np.testing.assert_allclose(km2.predict(x, verbose=0), km.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_keras_reads_nbkeras_custom_layer_registration(tmp_path):
    """A registered name is written as Keras writes it ("package>Class")."""
    config = nbkeras.saving.serialize_keras_object(nbkeras.layers.Dense(2))
    assert config["module"] == "keras.layers" and config["registered_name"] is None
    kconfig = keras3.saving.serialize_keras_object(keras3.layers.Dense(2))
    assert set(config) == set(kconfig)
