"""fit / train_on_batch numbers against the plain-NumPy reference, on both execution paths.

The models here are deliberately few and shared (each distinct model structure compiles one train step).
"""

import numpy as np
import pytest

import nbkeras as keras
from support import reference as ref

PATHS = pytest.mark.parametrize("eager", [False, True], ids=["compiled", "eager"])


def mlp(activations=("tanh", "linear"), units=(5, 2), input_dim=3, seed=0, dtype="float32"):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((input_dim,))] +
                             [keras.layers.Dense(u, activation=a) for u, a in zip(units, activations)])
    return model


def data(n=10, input_dim=3, out=2, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, input_dim)).astype("float32")
    y = rng.normal(size=(n, out)).astype("float32")
    return x, y


def as64(weights):
    return [w.astype(np.float64) for w in weights]


@PATHS
def test_sgd_mse_trajectory_and_history(eager):
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse", run_eagerly=eager)
    x, y = data()
    weights = as64(model.get_weights())
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    expected_losses = []
    for _ in range(2):
        total, count = 0.0, 0
        for b0 in range(0, 10, 4):
            xb, yb = x[b0:b0 + 4].astype(np.float64), y[b0:b0 + 4].astype(np.float64)
            value, grads = ref.mlp_loss_and_grads(weights, ["tanh", "linear"], xb, yb, "mse")
            total += value * len(xb)  # Keras's epoch loss: running mean weighted by batch size
            count += len(xb)
            weights, _ = ref.sgd(weights, grads, 0.1)
        expected_losses.append(total / count)
    assert list(history.history) == ["loss"]
    np.testing.assert_allclose(history.history["loss"], expected_losses, rtol=1e-5)
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    assert history.epoch == [0, 1]
    assert history.params["epochs"] == 2 and history.params["steps"] == 3


@PATHS
def test_adam_sparse_crossentropy_train_on_batch(eager):
    model = mlp(activations=("relu", "softmax"), units=(6, 4))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  run_eagerly=eager)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = rng.integers(0, 4, size=(8,))
    weights = as64(model.get_weights())
    state = ref.adam_state(weights)
    for _ in range(4):
        result = model.train_on_batch(x, y)
        value, grads = ref.mlp_loss_and_grads(weights, ["relu", "softmax"], x.astype(np.float64),
                                              y.astype(np.float64), "sparse_categorical_crossentropy")
        _, acts = ref.mlp_forward(weights, ["relu", "softmax"], x.astype(np.float64))
        accuracy = float(np.mean(acts[-1].argmax(-1) == y))
        weights, state = ref.adam(weights, grads, state)
        assert isinstance(result, list) and len(result) == 2
        np.testing.assert_allclose(result[0], value, rtol=1e-5)
        assert result[1] == pytest.approx(accuracy)
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert model.optimizer.iterations == 4


@PATHS
def test_sample_weight_scales_the_loss_and_gradient(eager):
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse", run_eagerly=eager)
    x, y = data(n=6)
    sw = np.array([0.5, 2.0, 0.0, 1.0, 3.0, 1.5], dtype="float32")
    weights = as64(model.get_weights())
    value, grads = ref.mlp_loss_and_grads(weights, ["tanh", "linear"], x.astype(np.float64),
                                          y.astype(np.float64), "mse", sample_weight=sw)
    loss = model.train_on_batch(x, y, sample_weight=sw)
    # Keras divides by the number of values (6), not by the sum of the weights (8).
    assert loss == pytest.approx(value, rel=1e-5)
    expected, _ = ref.sgd(weights, grads, 0.05)
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_class_weight_equals_the_matching_sample_weight():
    x, _ = data(n=9)
    labels = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1])
    y = np.eye(2, dtype="float32")[labels]
    results = []
    for kwargs in ({"class_weight": {0: 0.25, 1: 2.0}},
                   {"sample_weight": np.where(labels == 1, 2.0, 0.25).astype("float32")}):
        model = mlp(activations=("tanh", "softmax"))
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="categorical_crossentropy",
                      weighted_metrics=["accuracy"])
        history = model.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0, **kwargs)
        results.append((history.history, model.get_weights()))
    assert results[0][0].keys() == results[1][0].keys()
    for key in results[0][0]:
        np.testing.assert_allclose(results[0][0][key], results[1][0][key], rtol=1e-6)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_class_weight_missing_classes_weigh_one():
    model = mlp(activations=("tanh", "softmax"))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, _ = data(n=4)
    y = np.array([0, 1, 1, 0])
    before = model.get_weights()
    a = model.test_on_batch(x, y, sample_weight=np.array([3.0, 1.0, 1.0, 3.0]))
    model.set_weights(before)
    b = model.evaluate(x, y, sample_weight=np.array([3.0, 1.0, 1.0, 3.0]), verbose=0)
    assert a == pytest.approx(b, rel=1e-6)
    history = model.fit(x, y, class_weight={0: 3.0}, epochs=1, batch_size=4, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(a, rel=1e-5)


@PATHS
def test_epoch_loss_is_the_batch_size_weighted_mean(eager):
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mae", metrics=["mse"],
                  run_eagerly=eager)
    x, y = data(n=7)
    history = model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    p = model.predict(x, verbose=0).astype(np.float64)
    # lr 0: weights never move, so the batch-size-weighted mean equals the mean over all samples.
    assert history.history["loss"][0] == pytest.approx(np.abs(p - y).mean(), rel=1e-5)
    assert history.history["mse"][0] == pytest.approx(((p - y) ** 2).mean(), rel=1e-5)


@PATHS
def test_steps_per_epoch_continues_through_the_data(eager):
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse", run_eagerly=eager)
    x, y = data(n=12)
    weights = as64(model.get_weights())
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(x, y, batch_size=4, epochs=3, steps_per_epoch=2, shuffle=False, verbose=0)
    # Epoch 1: batches 0, 1. Epoch 2: batch 2, then the data runs out. Epoch 3 starts over: batches 0, 1.
    for b0 in (0, 4, 8, 0, 4):
        _, grads = ref.mlp_loss_and_grads(weights, ["tanh", "linear"], x[b0:b0 + 4].astype(np.float64),
                                          y[b0:b0 + 4].astype(np.float64), "mse")
        weights, _ = ref.sgd(weights, grads, 0.1)
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    assert len(history.history["loss"]) == 3


def test_initial_epoch_trains_until_epochs():
    model = mlp()
    model.compile(optimizer="sgd", loss="mse")
    x, y = data()
    seen = []
    cb = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(epoch))
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0, callbacks=[cb])
    assert seen == [3, 4]
    assert history.epoch == [3, 4] and len(history.history["loss"]) == 2
    before = model.get_weights()
    history = model.fit(x, y, epochs=2, initial_epoch=2, verbose=0)
    assert history.history == {}
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_validation_split_takes_the_last_samples_before_shuffling():
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse", metrics=["mae"])
    x, y = data(n=10)
    history = model.fit(x, y, batch_size=4, epochs=1, validation_split=0.3, shuffle=True, verbose=0)
    # floor(10 * 0.7) = 7 training samples; the last 3 are validation, evaluated after the epoch.
    val = model.evaluate(x[7:], y[7:], verbose=0, return_dict=True)
    assert history.history["val_loss"][0] == pytest.approx(val["loss"], rel=1e-6)
    assert history.history["val_mae"][0] == pytest.approx(val["mae"], rel=1e-6)
    assert list(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    assert history.params["steps"] == 2


def test_validation_data_tuples_and_freq():
    model = mlp()
    model.compile(optimizer="sgd", loss="mse")
    x, y = data(n=10)
    vx, vy = data(n=5, seed=7)
    sw = np.array([1.0, 0.0, 0.0, 0.0, 0.0], dtype="float32")
    history = model.fit(x, y, epochs=4, validation_data=(vx, vy, sw), validation_freq=2, verbose=0)
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2
    history = model.fit(x, y, epochs=3, validation_data=(vx, vy), validation_freq=[1, 3], verbose=0)
    assert len(history.history["val_loss"]) == 2
    weighted = model.evaluate(vx, vy, sample_weight=sw, verbose=0)
    p = model.predict(vx, verbose=0)
    assert weighted == pytest.approx(((p[0] - vy[0]) ** 2).mean() / 5, rel=1e-5)


def test_shuffle_modes_are_seeded_and_batch_shuffle_keeps_batches():
    x, y = data(n=10)
    finals = []
    for shuffle in (True, True, "batch", False):
        model = mlp(seed=4)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
        keras.utils.set_random_seed(11)
        model.fit(x, y, batch_size=4, epochs=2, shuffle=shuffle, verbose=0)
        finals.append(model.get_weights()[0])
    np.testing.assert_array_equal(finals[0], finals[1])  # same seed, same shuffle
    assert not np.allclose(finals[0], finals[3])  # shuffling changes the trajectory
    from nbkeras.models.trainer import _epoch_order

    order = _epoch_order(10, 4, "batch", np.random.default_rng(0))
    blocks = {tuple(order[i:i + 4]) for i in (0, 4)}
    assert blocks == {(0, 1, 2, 3), (4, 5, 6, 7)} and list(order[8:]) == [8, 9]  # whole batches move, tail stays
    assert sorted(_epoch_order(10, 4, True, np.random.default_rng(0))) == list(range(10))


@PATHS
def test_dropout_paths_agree(eager):
    results = []
    for run_eagerly in (False, True):
        keras.utils.set_random_seed(5)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dropout(0.5), keras.layers.Dense(2)])
        model.compile(optimizer="adam", loss="mse", run_eagerly=run_eagerly)
        x, y = data(n=12)
        history = model.fit(x, y, batch_size=5, epochs=3, verbose=0)
        results.append((history.history["loss"], model.get_weights(), model.predict(x, verbose=0)))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[0][2], results[1][2], rtol=1e-5, atol=1e-6)


def test_frozen_layer_does_not_move_and_is_counted_non_trainable():
    model = mlp()
    model.layers[0].trainable = False
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    x, y = data()
    model.fit(x, y, epochs=2, verbose=0)
    after = model.get_weights()
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert not np.allclose(before[2], after[2])
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
