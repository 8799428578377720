"""The same Keras script run with real Keras 3 (JAX backend) and with nbkeras must give the same names, numbers and
error types. Skipped where Keras is not installed (CI installs only the test extra); run it locally with
``pip install keras jax jaxlib`` before touching the trainer.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

real = pytest.importorskip("keras")
jax = pytest.importorskip("jax")
import nbkeras  # noqa: E402

if real.backend.backend() != "jax":
    pytest.skip("parity checks use Keras's JAX backend", allow_module_level=True)

FRAMEWORKS = [real, nbkeras]


def weights_for(model, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()]


def run_both(scenario, **kwargs):
    return [scenario(k, **kwargs) for k in FRAMEWORKS]


def assert_same(a, b, rtol=2e-5, atol=1e-6):
    if isinstance(a, dict):
        assert list(a) == list(b), f"keys differ: {list(a)} vs {list(b)}"
        for k in a:
            assert_same(a[k], b[k], rtol, atol)
    elif isinstance(a, (list, tuple)) and a and not isinstance(a[0], (int, float, np.floating)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y, rtol, atol)
    else:
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol)


def data(n=20, d=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = rng.integers(0, classes, size=(n,))
    return x, y


def classifier(k, optimizer, loss, metrics, weighted_metrics=None, activation="softmax"):
    model = k.Sequential([k.Input((4,)), k.layers.Dense(5, activation="relu"),
                          k.layers.Dense(3, activation=activation)])
    model.set_weights(weights_for(model))
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, weighted_metrics=weighted_metrics)
    return model


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad", "adamax", "nadam", "adadelta", "adamw"])
def test_history_and_weights_match(optimizer):
    x, y = data()

    def scenario(k):
        model = classifier(k, optimizer, "sparse_categorical_crossentropy", ["accuracy", "sparse_top_k_categorical_accuracy"])
        history = model.fit(x, y, batch_size=6, epochs=3, shuffle=False, validation_split=0.25, verbose=0)
        return history.history, model.get_weights(), model.evaluate(x, y, verbose=0)

    (h1, w1, e1), (h2, w2, e2) = run_both(scenario)
    assert_same(h1, h2, rtol=1e-4)
    assert_same(w1, w2, rtol=1e-4, atol=1e-5)
    assert_same(e1, e2, rtol=1e-4)


@pytest.mark.parametrize("loss, last", [("categorical_crossentropy", "softmax"), ("mse", "linear"),
                                        ("binary_crossentropy", "sigmoid"), ("kl_divergence", "softmax"),
                                        ("poisson", "softplus"), ("hinge", "tanh"), ("huber", "linear"),
                                        ("cosine_similarity", "linear"), ("log_cosh", "linear")])
def test_losses_with_sample_weights(loss, last):
    x, labels = data()
    y = np.eye(3, dtype="float32")[labels]
    sw = np.linspace(0.0, 2.0, len(x)).astype("float32")

    def scenario(k):
        model = classifier(k, "sgd", loss, ["mae", "categorical_accuracy"], weighted_metrics=["mse"], activation=last)
        history = model.fit(x, y, sample_weight=sw, batch_size=7, epochs=2, shuffle=False, verbose=0)
        return history.history, model.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)

    (h1, e1), (h2, e2) = run_both(scenario)
    assert_same(h1, h2, rtol=1e-4)
    assert_same(e1, e2, rtol=1e-4)


def test_multi_output_names_and_orders():
    x, y = data()

    def scenario(k):
        a = k.Input((4,), name="a")
        h = k.layers.Dense(5, activation="tanh", name="h")(a)
        o1 = k.layers.Dense(3, activation="softmax", name="o1")(h)
        o2 = k.layers.Dense(1, name="o2")(h)
        model = k.Model(a, [o1, o2])
        model.set_weights(weights_for(model))
        model.compile(optimizer="sgd", loss={"o1": "sparse_categorical_crossentropy", "o2": "mse"},
                      loss_weights={"o1": 1.0, "o2": 0.3}, metrics={"o1": ["acc"], "o2": ["mae", "mse"]})
        target = {"o1": y, "o2": x[:, :1]}
        history = model.fit(x, target, batch_size=8, epochs=2, shuffle=False, verbose=0)
        ev = model.evaluate(x, target, verbose=0)
        ev_dict = model.evaluate(x, target, verbose=0, return_dict=True)
        tob = model.train_on_batch(x, target)
        return history.history, ev, ev_dict, tob

    r1, r2 = run_both(scenario)
    for a, b in zip(r1, r2):
        assert_same(a, b, rtol=1e-4)


def test_batch_methods_and_return_forms():
    x, y = data()

    def scenario(k):
        model = classifier(k, "adam", "sparse_categorical_crossentropy", ["acc"])
        out = [model.train_on_batch(x, y), model.test_on_batch(x, y), model.train_on_batch(x, y, return_dict=True)]
        bare = classifier(k, "adam", "sparse_categorical_crossentropy", None)
        out += [bare.train_on_batch(x, y), bare.evaluate(x, y, verbose=0), model.predict_on_batch(x)]
        return out

    r1, r2 = run_both(scenario)
    for a, b in zip(r1, r2):
        assert type(a) is type(b) or (np.isscalar(a) and np.isscalar(b)), (a, b)
        assert_same(a, b, rtol=1e-4)


@pytest.mark.parametrize("call", ["fit", "evaluate", "train_on_batch"])
def test_not_compiled_errors_are_compatible(call):
    x, y = data()
    for k in FRAMEWORKS:
        model = k.Sequential([k.Input((4,)), k.layers.Dense(3)])
        with pytest.raises(ValueError):
            getattr(model, call)(x, y)


def test_validation_split_and_freq_history():
    x, y = data(n=23)

    def scenario(k):
        model = classifier(k, "sgd", "sparse_categorical_crossentropy", ["accuracy"])
        history = model.fit(x, y, batch_size=5, epochs=4, validation_split=0.2, validation_freq=[2, 4],
                            shuffle=False, verbose=0)
        return history.history

    h1, h2 = run_both(scenario)
    assert_same(h1, h2, rtol=1e-4)


def test_verbose_two_progress_lines(capsys):
    x, y = data()
    lines = []
    for k in FRAMEWORKS:
        model = classifier(k, "sgd", "sparse_categorical_crossentropy", ["accuracy"])
        model.fit(x, y, batch_size=5, epochs=2, shuffle=False, validation_data=(x, y), verbose=2)
        out = capsys.readouterr().out
        lines.append([line.split(" - ", 3)[-1] for line in out.splitlines() if line.strip()])
    # Compare everything after the timing fields: epoch headers and the metric part of each line.
    assert [line.split(": ")[0] for line in lines[0]] == [line.split(": ")[0] for line in lines[1]]


def test_sequence_outputs_with_temporal_sample_weights():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(12, 5, 4)).astype("float32")
    y = rng.normal(size=(12, 5, 2)).astype("float32")
    sw = rng.uniform(0, 2, size=(12, 5)).astype("float32")

    def scenario(k):
        model = k.Sequential([k.Input((5, 4)), k.layers.Dense(3, activation="tanh"), k.layers.Dense(2)])
        model.set_weights(weights_for(model))
        model.compile(optimizer="sgd", loss="mse", weighted_metrics=["mae"])
        history = model.fit(x, y, sample_weight=sw, batch_size=5, epochs=2, shuffle=False, verbose=0)
        return history.history, model.evaluate(x, y, sample_weight=sw, verbose=0)

    r1, r2 = run_both(scenario)
    for a, b in zip(r1, r2):
        assert_same(a, b, rtol=1e-4)


@pytest.mark.parametrize("loss_kwargs", [{"from_logits": True}, {"label_smoothing": 0.2},
                                         {"from_logits": True, "label_smoothing": 0.1}])
def test_crossentropy_options(loss_kwargs):
    x, labels = data()
    y = np.eye(3, dtype="float32")[labels]

    def scenario(k):
        activation = "linear" if loss_kwargs.get("from_logits") else "softmax"
        model = classifier(k, "adam", k.losses.CategoricalCrossentropy(**loss_kwargs), ["categorical_accuracy"],
                           activation=activation)
        history = model.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0)
        return history.history, model.get_weights()

    r1, r2 = run_both(scenario)
    for a, b in zip(r1, r2):
        assert_same(a, b, rtol=1e-4, atol=1e-5)


def test_early_stopping_class_weight_and_steps_per_execution():
    x, y = data(n=30)

    def scenario(k):
        model = classifier(k, "sgd", "sparse_categorical_crossentropy", ["accuracy"])
        model.compile(optimizer=k.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], steps_per_execution=2)
        ends = []
        stop = k.callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=0.5, restore_best_weights=True)
        batch_end = k.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: ends.append(b))
        history = model.fit(x, y, batch_size=4, epochs=6, validation_split=0.2, class_weight={0: 2.0, 2: 0.5},
                            shuffle=False, callbacks=[stop, batch_end], verbose=0)
        return history.history, stop.stopped_epoch, ends, model.get_weights()

    (h1, s1, e1, w1), (h2, s2, e2, w2) = run_both(scenario)
    assert_same(h1, h2, rtol=1e-4)
    assert s1 == s2 and e1 == e2
    assert_same(w1, w2, rtol=1e-4, atol=1e-5)
