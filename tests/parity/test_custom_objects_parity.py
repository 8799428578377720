"""Custom objects written the Keras 3 way -- a Layer with add_weight, a subclassed model with two branches, a loss
function over keras.ops, a Metric subclass, and the stateful AUC/Precision/Recall -- trained with real Keras 3 (JAX
backend) and with nbkeras from the same initial weights must give the same histories and final weights to float32
tolerance. Each script is written once as a function of the module. Skipped where Keras is not installed."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

real = pytest.importorskip("keras")
pytest.importorskip("jax")
import nbkeras  # noqa: E402

if real.backend.backend() != "jax":
    pytest.skip("parity checks use Keras's JAX backend", allow_module_level=True)

FRAMEWORKS = [real, nbkeras]


def weights_for(model, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()]


def assert_same(a, b, rtol=1e-4, atol=1e-5):
    if isinstance(a, dict):
        assert list(a) == list(b), f"keys differ: {list(a)} vs {list(b)}"
        for k in a:
            assert_same(a[k], b[k], rtol, atol)
    elif isinstance(a, (list, tuple)) and a and not np.isscalar(a[0]):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y, rtol, atol)
    else:
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol)


def data(n=32, d=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    labels = x[:, :classes].argmax(axis=1)
    flip = rng.random(n) < 0.3  # some noise so metrics do not saturate
    labels[flip] = rng.integers(0, classes, int(flip.sum()))
    return x, labels


# --- the custom objects, written once against either module --------------------------------------------------


def linear_layer(k):
    """The custom-layers guide's Linear layer: weights created in build() with add_weight."""

    class Linear(k.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal",
                                     trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)

        def call(self, inputs):
            return k.ops.matmul(inputs, self.w) + self.b

    return Linear


def two_branch_model(k):
    class TwoBranch(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.left = k.layers.Dense(5, activation="relu")
            self.right = k.layers.Dense(3, activation="tanh")
            self.head = k.layers.Dense(3, activation="softmax")

        def call(self, inputs, training=None):
            a = self.left(inputs)
            b = self.right(inputs)
            return self.head(k.ops.concatenate([a, b * 2.0], axis=-1))

    return TwoBranch


def custom_loss(k):
    def smooth_abs_loss(y_true, y_pred):
        diff = y_pred - y_true
        return k.ops.mean(k.ops.sqrt(k.ops.square(diff) + 0.1) + 0.5 * k.ops.square(diff), axis=-1)

    return smooth_abs_loss


def categorical_true_positives(k):
    """The custom-metrics guide's example: how many samples were classified correctly."""

    class CategoricalTruePositives(k.metrics.Metric):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = k.ops.reshape(k.ops.argmax(y_pred, axis=1), (-1, 1))
            values = k.ops.cast(y_true, "int32") == k.ops.cast(y_pred, "int32")
            values = k.ops.cast(values, "float32")
            if sample_weight is not None:
                sample_weight = k.ops.cast(sample_weight, "float32")
                values = k.ops.multiply(values, sample_weight)
            self.true_positives.assign_add(k.ops.sum(values))

        def result(self):
            return self.true_positives.value

        def reset_state(self):
            self.true_positives.assign(0.0)

    return CategoricalTruePositives


# --- scenarios ---------------------------------------------------------------------------------------------------


def fit_and_collect(model, x, y, epochs=3, **kwargs):
    history = model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, validation_data=(x[:12], y[:12]),
                        verbose=0, **kwargs)
    return history.history, model.get_weights()


def check(scenario):
    (h1, w1), (h2, w2) = [scenario(k) for k in FRAMEWORKS]
    assert_same(h1, h2)
    assert [w.shape for w in w1] == [w.shape for w in w2]
    assert_same(w1, w2)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_custom_linear_layer(optimizer):
    x, labels = data()

    def scenario(k):
        Linear = linear_layer(k)
        inp = k.Input((4,))
        h = k.layers.Activation("tanh")(Linear(6)(inp))
        out = k.layers.Dense(3, activation="softmax")(Linear(3)(h))
        model = k.Model(inp, out)
        model.set_weights(weights_for(model))
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return fit_and_collect(model, x, labels)

    check(scenario)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_subclassed_two_branch_model(optimizer):
    x, labels = data()

    def scenario(k):
        model = two_branch_model(k)()
        model(x[:2])  # build on data
        model.set_weights(weights_for(model))
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return fit_and_collect(model, x, labels)

    check(scenario)


def test_custom_loss_function():
    x, labels = data()
    y = np.eye(3, dtype="float32")[labels]

    def scenario(k):
        model = k.Sequential([k.Input((4,)), k.layers.Dense(5, activation="relu"), k.layers.Dense(3)])
        model.set_weights(weights_for(model))
        model.compile(optimizer="adam", loss=custom_loss(k), metrics=["mae"])
        return fit_and_collect(model, x, y)

    check(scenario)


def test_custom_metric_subclass():
    x, labels = data()
    y = labels.reshape(-1, 1)
    sw = np.linspace(0.5, 1.5, len(x)).astype("float32")

    def scenario(k):
        model = k.Sequential([k.Input((4,)), k.layers.Dense(5, activation="relu"),
                              k.layers.Dense(3, activation="softmax")])
        model.set_weights(weights_for(model))
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                      metrics=[categorical_true_positives(k)()])
        return fit_and_collect(model, x, y, sample_weight=sw)

    check(scenario)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_auc_precision_recall(optimizer):
    x, labels = data()
    y = (labels == 0).astype("float32").reshape(-1, 1)

    def scenario(k):
        k.backend.clear_session()  # Keras numbers default metric names per session (auc, auc_1, ...)
        model = k.Sequential([k.Input((4,)), k.layers.Dense(5, activation="tanh"),
                              k.layers.Dense(1, activation="sigmoid")])
        model.set_weights(weights_for(model))
        metrics = [k.metrics.AUC(), k.metrics.AUC(curve="PR", num_thresholds=50, name="pr_auc"),
                   k.metrics.Precision(), k.metrics.Recall(), k.metrics.Precision(thresholds=0.3, name="p30")]
        model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=metrics)
        return fit_and_collect(model, x, y)

    check(scenario)


def test_default_confusion_metric_names_are_numbered_per_session():
    names = []
    for k in FRAMEWORKS:
        k.backend.clear_session()
        names.append([k.metrics.AUC().name, k.metrics.AUC().name, k.metrics.Precision().name,
                      k.metrics.Precision().name, k.metrics.Recall().name, k.metrics.Mean().name,
                      k.metrics.Mean().name])
    assert names[0] == ["auc", "auc_1", "precision", "precision_1", "recall", "mean", "mean"]
    assert names[1] == names[0]


@pytest.mark.parametrize("with_targets", [False, True])
def test_compiled_without_a_loss_trains_on_add_loss(with_targets):
    """The subclassing guide: a model whose only loss is a layer's add_loss, compiled without a loss, fit on x
    alone (or with unused targets)."""
    x, _ = data()

    def scenario(k):
        class ActivityRegularization(k.layers.Layer):
            def call(self, inputs):
                self.add_loss(0.1 * k.ops.mean(k.ops.square(inputs)))
                return inputs

        inp = k.Input((4,))
        out = ActivityRegularization()(k.layers.Dense(3, activation="tanh")(inp))
        model = k.Model(inp, out)
        model.set_weights(weights_for(model))
        model.compile(optimizer=k.optimizers.SGD(0.5))
        y = np.zeros((len(x), 3), "float32") if with_targets else None
        history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        return history.history, model.get_weights()

    check(scenario)


def test_endpoint_layer_with_two_inputs_and_a_loss_object():
    """The training guide's LogisticEndpoint: layer(targets, logits), a BinaryCrossentropy object called inside
    call() and given to add_loss, a model of two inputs compiled without a loss, fit on a dict."""
    rng = np.random.default_rng(3)
    data = {"inputs": rng.random((16, 3)).astype("float32"), "targets": rng.random((16, 10)).astype("float32")}

    def scenario(k):
        class LogisticEndpoint(k.layers.Layer):
            def __init__(self, name=None):
                super().__init__(name=name)
                self.loss_fn = k.losses.BinaryCrossentropy(from_logits=True)

            def call(self, targets, logits, sample_weights=None):
                self.add_loss(self.loss_fn(targets, logits, sample_weights))
                return k.ops.softmax(logits)

        inputs = k.Input(shape=(3,), name="inputs")
        targets = k.Input(shape=(10,), name="targets")
        logits = k.layers.Dense(10)(inputs)
        model = k.Model(inputs=[inputs, targets], outputs=LogisticEndpoint(name="predictions")(targets, logits))
        model.set_weights(weights_for(model))
        model.compile(optimizer=k.optimizers.Adam(0.01))
        history = model.fit(data, batch_size=8, epochs=3, shuffle=False, verbose=0)
        return history.history, model.get_weights()

    check(scenario)
