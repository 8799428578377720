"""The training loop's contract with callbacks, steps_per_execution, the batch methods and the API surface."""

import numpy as np
import pytest

import nbkeras as keras


class Recorder(keras.callbacks.Callback):
    """Records every hook call with its integer argument (epoch or batch)."""

    def __init__(self):
        super().__init__()
        self.calls = []


def _recording(name):
    def hook(self, *args, **kwargs):
        self.calls.append((name,) + tuple(a for a in args if isinstance(a, int)))
    hook.__name__ = name
    return hook


for _name in [n for n in dir(keras.callbacks.Callback) if n.startswith("on_")]:
    setattr(Recorder, _name, _recording(_name))


def small_model(eager=False, steps_per_execution=1):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"], run_eagerly=eager,
                  steps_per_execution=steps_per_execution)
    return model


def xy(n=10):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3)).astype("float32"), rng.normal(size=(n, 2)).astype("float32")


def test_hook_order_in_fit_with_validation():
    model = small_model()
    x, y = xy()
    rec = Recorder()
    model.fit(x, y, batch_size=4, epochs=2, validation_data=(x[:4], y[:4]), callbacks=[rec], verbose=0)
    calls = [c for c in rec.calls if c[0] not in ("on_batch_begin", "on_batch_end")]
    epoch = [("on_epoch_begin", 0), ("on_train_batch_begin", 0), ("on_train_batch_end", 0),
             ("on_train_batch_begin", 1), ("on_train_batch_end", 1), ("on_train_batch_begin", 2),
             ("on_train_batch_end", 2), ("on_test_begin",), ("on_test_batch_begin", 0), ("on_test_batch_end", 0),
             ("on_test_end",), ("on_epoch_end", 0)]
    second = [(c[0], 1) if c[0].startswith("on_epoch") else c for c in epoch]
    assert calls == [("on_train_begin",)] + epoch + second + [("on_train_end",)]


def test_steps_per_execution_reports_every_n_batches():
    model = small_model(steps_per_execution=2)
    x, y = xy(n=10)
    ends = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: ends.append((batch, logs["loss"])))
    history = model.fit(x, y, batch_size=2, epochs=1, callbacks=[cb], verbose=0)
    # 5 batches in executions of 2: Keras reports each execution's nominal last step, 5 for the partial one.
    assert [b for b, _ in ends] == [1, 3, 5]
    assert ends[-1][1] == pytest.approx(history.history["loss"][0])


def test_batch_logs_are_running_means():
    model = small_model()
    x, y = xy(n=8)
    seen = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(dict(logs)))
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, callbacks=[cb], verbose=0)
    assert len(seen) == 2 and set(seen[0]) == {"loss", "mae"}
    assert seen[-1]["loss"] == pytest.approx(history.history["loss"][0])


def test_early_stopping_stops_and_restores():
    model = small_model()
    x, y = xy()
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9, restore_best_weights=True)
    history = model.fit(x, y, epochs=10, callbacks=[stop], verbose=0)
    assert len(history.history["loss"]) == 2 and stop.stopped_epoch == 1
    assert model.stop_training


def test_evaluate_and_batch_method_return_forms():
    model = small_model()
    x, y = xy()
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    assert model.metrics_names == ["loss", "mae"]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs == pytest.approx(dict(zip(["loss", "mae"], result)))
    assert model.evaluate(x, y, batch_size=3, steps=1, verbose=0, return_dict=True)["loss"] == pytest.approx(
        model.evaluate(x[:3], y[:3], verbose=0, return_dict=True)["loss"])
    bare = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    bare.compile(optimizer="sgd", loss="mse")
    assert isinstance(bare.evaluate(x, y, verbose=0), float)
    assert isinstance(bare.train_on_batch(x, y), float)
    assert isinstance(bare.test_on_batch(x, y), float)
    assert set(bare.train_on_batch(x, y, return_dict=True)) == {"loss"}


def test_reset_metrics_false_accumulates():
    model = small_model()
    x, y = xy(n=8)
    first = model.test_on_batch(x[:4], y[:4], return_dict=True)
    second = model.test_on_batch(x[4:], y[4:], reset_metrics=False, return_dict=True)
    both = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    assert second["loss"] == pytest.approx(both["loss"])
    assert first["loss"] != pytest.approx(both["loss"])


def test_predict_forms_and_call():
    model = small_model()
    x, _ = xy(n=7)
    full = model.predict(x, batch_size=3, verbose=0)
    assert full.shape == (7, 2) and full.dtype == np.float32
    np.testing.assert_allclose(model.predict_on_batch(x), full, rtol=1e-6)
    np.testing.assert_allclose(model(x), full, rtol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=3, steps=2, verbose=0), full[:6], rtol=1e-6)
    w, b = model.get_weights()
    np.testing.assert_allclose(full, x @ w + b, rtol=1e-5, atol=1e-6)


def test_target_tensors_supply_y():
    keras.utils.set_random_seed(0)
    x, y = xy()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", target_tensors=[y])
    w, b = [a.astype(np.float64) for a in model.get_weights()]
    history = model.fit(x, epochs=1, batch_size=10, shuffle=False, verbose=0)
    # One batch: the epoch loss is the loss before the update, against the compiled-in targets.
    assert history.history["loss"][0] == pytest.approx(((x @ w + b - y) ** 2).mean(), rel=1e-5)
    assert model.evaluate(x, verbose=0) == pytest.approx(((model.predict(x, verbose=0) - y) ** 2).mean(), rel=1e-5)


def test_weights_order_names_and_summary(capsys):
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="d1"), keras.layers.Dropout(0.1),
                              keras.layers.Dense(2)])
    assert [layer.name for layer in model.layers] == ["d1", "dropout", "dense"]
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 2), (2,)]
    assert [w.path for w in model.weights] == ["d1/kernel", "d1/bias", "dense/kernel", "dense/bias"]
    assert model.count_params() == 3 * 4 + 4 + 4 * 2 + 2
    model.summary()
    out = capsys.readouterr().out
    assert "d1 (Dense)" in out and "Total params: 26" in out
    second = keras.Sequential([keras.layers.Dense(1, input_shape=(3,))])
    assert second.layers[0].name == "dense_1" and second.count_params() == 4


def test_sequential_built_from_data_and_pop():
    model = keras.Sequential()
    model.add(keras.layers.Dense(4, activation="relu"))
    model.add(keras.layers.Dense(1))
    with pytest.raises(ValueError, match="built"):
        model.count_params()
    model.compile(optimizer="adam", loss="mse")
    x = np.ones((6, 5), "float32")
    model.fit(x, np.zeros((6, 1)), verbose=0)
    assert model.count_params() == 5 * 4 + 4 + 4 + 1
    removed = model.pop()
    assert isinstance(removed, keras.layers.Dense) and len(model.layers) == 1
    assert model.predict(x, verbose=0).shape == (6, 4)
