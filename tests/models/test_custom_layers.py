"""Custom layers (Layer subclasses with call()) and subclassed models, traced into the compiled step."""

import numpy as np
import pytest

import nbkeras as keras
from support.layer_test import check_description


class Block(keras.layers.Layer):
    """A residual-free two-layer block: a custom layer made of built-in layers held as attributes."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.inner = keras.layers.Dense(units, activation="tanh")
        self.outer = keras.layers.Dense(units)

    def call(self, inputs):
        return self.outer(self.inner(inputs))


def test_custom_layer_of_layers_traces_into_one_node_and_trains():
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    block = Block(3)
    out = keras.layers.Dense(1)(block(inp))
    model = keras.Model(inp, out)
    assert [la.name for la in model.layers][:2] == [model.layers[0].name, block.name]
    assert len(block.weights) == 4 and len(model.weights) == 6
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_allclose(model.predict(x[:5], verbose=0), model(x[:5]), rtol=1e-6)


def test_custom_layer_description_and_gradients():
    check_description(lambda: Block(2), [(3, 4)])


def test_custom_layer_called_on_arrays_runs_call_eagerly():
    block = Block(2)
    x = np.ones((3, 4), "float32")
    y = block(x)
    assert y.shape == (3, 2)
    np.testing.assert_allclose(y, block.outer(block.inner(x)), rtol=1e-6)


class TwoBranch(keras.Model):
    def __init__(self):
        super().__init__()
        self.left = keras.layers.Dense(4, activation="relu")
        self.right = keras.layers.Dense(4, activation="tanh")
        self.merge = keras.layers.Concatenate()
        self.head = keras.layers.Dense(1)

    def call(self, inputs, training=None):
        return self.head(self.merge([self.left(inputs), self.right(inputs)]))


@pytest.mark.parametrize("eager", [False, True])
def test_subclassed_model_builds_on_first_data_and_fits(eager):
    keras.utils.set_random_seed(1)
    model = TwoBranch()
    x = np.random.default_rng(1).normal(size=(32, 3)).astype("float32")
    y = (x[:, :1] - x[:, 1:2]).astype("float32")
    model.compile(optimizer="adam", loss="mse", run_eagerly=eager)
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert len(history.history["loss"]) == 5
    assert [la.name for la in model.layers] == [model.left.name, model.right.name, model.merge.name, model.head.name]
    assert len(model.trainable_weights) == 6
    assert model(x[:2]).shape == (2, 1)


def test_subclassed_model_called_on_data_before_compile_and_build():
    model = TwoBranch()
    out = model(np.zeros((2, 3), "float32"))
    assert out.shape == (2, 1)
    other = TwoBranch()
    other.build((None, 3))
    assert other.count_params() == model.count_params()


class Branchy(keras.layers.Layer):
    def call(self, x):
        if x:
            return x
        return x


def test_python_control_flow_on_a_tensor_names_the_line():
    with pytest.raises(TypeError, match=r"test_custom_layers.py:\d+: if x:.*control flow"):
        Branchy()(keras.Input((2,)))


def test_overridden_train_step_is_refused_at_compile():
    class Custom(keras.Model):
        def train_step(self, data):
            return {}

    inp = keras.Input((2,))
    model = Custom(inp, keras.layers.Dense(1)(inp))
    with pytest.raises(ValueError, match="train_step"):
        model.compile(optimizer="sgd", loss="mse")


class ActivityRegularizationLayer(keras.layers.Layer):
    """The Keras guide's add_loss example."""

    def __init__(self, rate=1e-2):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        from nbkeras import ops

        self.add_loss(self.rate * ops.mean(inputs))
        return inputs


class SumPenalty(keras.layers.Layer):
    def call(self, inputs):
        from nbkeras import ops

        self.add_loss(ops.sum(ops.square(inputs)) / 100.0)
        return inputs


@pytest.mark.parametrize("eager", [False, True])
def test_add_loss_joins_the_loss_and_its_gradient(eager):
    keras.utils.set_random_seed(0)
    inp = keras.Input((3,))
    dense = keras.layers.Dense(2)
    out = SumPenalty()(ActivityRegularizationLayer(0.5)(dense(inp)))
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", run_eagerly=eager)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.zeros((8, 2), "float32")
    w, b = model.get_weights()
    h = x @ w + b
    expected = np.mean(h ** 2) + 0.5 * np.mean(h) + np.sum(h ** 2) / 100.0
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=8, verbose=0), expected, rtol=1e-5)
    from support.layer_test import check_description

    check_description(lambda: SumPenalty(), [(4, 3)])


def test_a_batch_mean_that_flows_on_is_refused():
    class Bad(keras.layers.Layer):
        def call(self, inputs):
            from nbkeras import ops

            self.add_loss(ops.exp(ops.mean(inputs)))  # exp of a batch mean is not a per-sample computation
            return inputs

    with pytest.raises(ValueError, match="whole batch"):
        Bad()(keras.Input((2,)))


def test_layer_losses_follow_the_guide():
    """Keras's guide: ``losses`` is empty before a call, holds the last call's add_loss values (inner layers'
    too), is reset by each outermost call, and includes the weight regularizers' current penalties."""

    class Outer(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = ActivityRegularizationLayer(1e-2)

        def call(self, inputs):
            return self.activity_reg(inputs)

    from nbkeras import ops

    layer = Outer()
    assert len(layer.losses) == 0
    layer(ops.ones((1, 1)))
    assert len(layer.losses) == 1 and np.isclose(float(layer.losses[0]), 1e-2)
    layer(ops.ones((1, 1)) * 3.0)
    assert len(layer.losses) == 1 and np.isclose(float(layer.losses[0]), 3e-2)  # reset, not appended

    class WithRegularizer(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2, kernel_regularizer=keras.regularizers.l2(1e-3))

        def call(self, inputs):
            return self.dense(inputs)

    reg = WithRegularizer()
    reg(np.ones((1, 3), "float32"))
    kernel = reg.dense.get_weights()[0]
    assert len(reg.losses) == 1
    np.testing.assert_allclose(float(reg.losses[0]), 1e-3 * np.sum(kernel ** 2), rtol=1e-5)


def test_compiled_without_a_loss_trains_on_add_loss_terms():
    """Keras's guide: with add_loss in the model, compile() may omit the loss; fit(x) needs no targets."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((3,))
    dense = keras.layers.Dense(2)
    model = keras.Model(inp, ActivityRegularizationLayer(0.5)(dense(inp)))
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x = np.random.default_rng(1).normal(size=(8, 3)).astype("float32")
    w, b = model.get_weights()
    want = 0.5 * np.mean(x @ w + b)
    np.testing.assert_allclose(model.evaluate(x, verbose=0), want, rtol=1e-5)
    history = model.fit(x, batch_size=8, epochs=2, verbose=0).history
    np.testing.assert_allclose(history["loss"][0], want, rtol=1e-5)
    # loss = 0.5 * mean over 8 rows x 2 units: d loss / d bias_j = 0.5 * 8 / 16 = 0.25; SGD(0.1), two steps
    np.testing.assert_allclose(model.get_weights()[1], b - 2 * 0.1 * 0.25, rtol=1e-5, atol=1e-7)
    model.fit(x, np.zeros((8, 2), "float32"), verbose=0)  # targets given and unused
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    plain.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="No loss to compute"):
        plain.fit(x, x[:, :2], verbose=0)


def test_training_passed_on_to_sub_layers_and_a_python_branch_on_it_refused():
    """call() is traced once for training and inference: ``training`` passed on to a Dropout sub-layer switches
    inside its kernel; ``if training:`` in Python raises (it used to take the inference branch in training too)."""

    class WrappedDropout(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.dropout = keras.layers.Dropout(0.5)

        def call(self, inputs, training=None):
            return self.dropout(inputs, training=training)

    class Branchy(keras.layers.Layer):
        def call(self, inputs, training=None):
            if training:
                return inputs * 2.0
            return inputs

    inp = keras.Input((64,))
    model = keras.Model(inp, WrappedDropout()(inp))
    x = np.ones((4, 64), "float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)  # inference: no dropout
    trained = np.asarray(model(x, training=True))
    assert (trained == 0).any() and np.allclose(trained[trained != 0], 2.0)  # training: dropped and rescaled
    with pytest.raises(TypeError, match=r"tests `training` in Python \(at .*test_custom_layers.py"):
        Branchy()(inp)


class LogisticEndpoint(keras.layers.Layer):
    """The training guide's endpoint layer: two positional inputs, a loss object called inside call()."""

    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def call(self, targets, logits, sample_weights=None):
        self.add_loss(self.loss_fn(targets, logits, sample_weights))
        from nbkeras import ops

        return ops.softmax(logits)


def test_a_layer_called_with_two_positional_inputs_and_a_loss_object_inside():
    keras.utils.set_random_seed(2)
    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(10,), name="targets")
    logits = keras.layers.Dense(10)(inputs)
    predictions = LogisticEndpoint(name="predictions")(targets, logits)
    model = keras.Model(inputs=[inputs, targets], outputs=predictions)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    rng = np.random.default_rng(2)
    data = {"inputs": rng.random((6, 3)).astype("float32"), "targets": rng.random((6, 10)).astype("float32")}
    w, b = model.get_weights()
    z = data["inputs"] @ w + b
    t = data["targets"]
    bce = np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))), axis=-1).mean()
    history = model.fit(data, batch_size=6, verbose=0).history
    np.testing.assert_allclose(history["loss"][0], bce, rtol=1e-5)
    got = model.predict(data, verbose=0)
    np.testing.assert_allclose(got, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), rtol=1e-5)
    # on arrays too: call() runs eagerly with both arguments
    layer = LogisticEndpoint()
    out = layer(t, z)
    np.testing.assert_allclose(out, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(float(layer.losses[0]), bce, rtol=1e-5)


def test_keras_2_positional_training():
    class Scale(keras.layers.Layer):
        def call(self, inputs, training=None):
            return inputs * (2.0 if training else 1.0)

    x = np.ones((2, 3), "float32")
    np.testing.assert_array_equal(Scale()(x, True), 2 * x)  # second positional is `training`
    np.testing.assert_array_equal(keras.layers.Dropout(0.5)(x, False), x)
    with pytest.raises(TypeError, match="positional"):
        keras.layers.Dropout(0.5)(x, False, True)


def test_add_loss_only_nested_and_in_an_unbuilt_subclassed_model():
    """add_loss from a layer inside a custom layer counts as a loss, and a subclassed model compiled without a loss
    is built from fit's data before the check (each used to raise "No loss to compute")."""

    class Outer(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = ActivityRegularizationLayer(0.1)

        def call(self, inputs):
            return self.inner(inputs)

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)
            self.outer = Outer()

        def call(self, inputs):
            return self.outer(self.dense(inputs))

    x = np.ones((4, 3), "float32")
    inp = keras.Input((3,))
    dense = keras.layers.Dense(2)
    functional = keras.Model(inp, Outer()(dense(inp)))
    functional.compile(optimizer="sgd")
    w, b = functional.get_weights()
    np.testing.assert_allclose(functional.fit(x, verbose=0).history["loss"][0], 0.1 * np.mean(x @ w + b),
                               rtol=1e-5)
    sub = Sub()
    sub.compile(optimizer="sgd")
    assert np.isfinite(sub.fit(x, verbose=0).history["loss"][0])
    assert np.isfinite(sub.train_on_batch(x))
