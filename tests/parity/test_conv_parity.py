"""Convolution layers against real Keras 3 (JAX backend): the same weights give the same outputs, the same loss
and the same weights after one train_on_batch, for every layer and option. Skipped where Keras is not installed.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

real = pytest.importorskip("keras")
pytest.importorskip("jax")
import nbkeras  # noqa: E402

if real.backend.backend() != "jax":
    pytest.skip("parity checks use Keras's JAX backend", allow_module_level=True)


def weights_for(model, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()]


def one_step(k, layer_name, kwargs, input_shape, optimizer, seed=0):
    """(predictions, loss, weights after one step) of Sequential([Input, layer]) under framework ``k``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3,) + input_shape).astype("float32")
    model = k.Sequential([k.Input(input_shape), getattr(k.layers, layer_name)(**kwargs)])
    model.set_weights(weights_for(model, seed))
    pred = np.asarray(model.predict(x, verbose=0))
    y = rng.normal(size=pred.shape).astype("float32")
    opt = k.optimizers.SGD(learning_rate=0.1) if optimizer == "sgd" else k.optimizers.Adam(learning_rate=0.01)
    model.compile(optimizer=opt, loss="mse")
    loss = float(np.asarray(model.train_on_batch(x, y)))
    return pred, loss, model.get_weights()


def assert_same(a, b, rtol=1e-4, atol=1e-5):
    pred_a, loss_a, w_a = a
    pred_b, loss_b, w_b = b
    assert pred_a.shape == pred_b.shape
    np.testing.assert_allclose(pred_b, pred_a, rtol=rtol, atol=atol, err_msg="outputs differ")
    np.testing.assert_allclose(loss_b, loss_a, rtol=rtol, atol=atol, err_msg="losses differ")
    assert [w.shape for w in w_a] == [w.shape for w in w_b]
    for i, (u, v) in enumerate(zip(w_a, w_b)):
        np.testing.assert_allclose(v, u, rtol=rtol, atol=atol, err_msg=f"weight {i} differs after one step")


CASES = [
    ("Conv2D", dict(filters=3, kernel_size=3), (6, 6, 2)),
    ("Conv2D", dict(filters=2, kernel_size=(2, 3), strides=(2, 1)), (6, 5, 2)),
    ("Conv2D", dict(filters=2, kernel_size=3, strides=2, padding="same"), (5, 6, 2)),
    ("Conv2D", dict(filters=2, kernel_size=2, padding="same"), (5, 5, 1)),
    ("Conv2D", dict(filters=2, kernel_size=3, dilation_rate=2, padding="same", activation="relu"), (6, 6, 2)),
    ("Conv2D", dict(filters=4, kernel_size=2, groups=2, use_bias=False), (5, 5, 4)),
    ("Conv2D", dict(filters=3, kernel_size=2, activation="softmax"), (4, 4, 2)),
    ("Conv2D", dict(filters=2, kernel_size=2, kernel_regularizer="l2", bias_regularizer="l1"), (4, 4, 2)),
    ("Conv2D", dict(filters=2, kernel_size=2, kernel_constraint="non_neg", bias_constraint="non_neg"), (4, 4, 2)),
    ("Conv1D", dict(filters=3, kernel_size=3), (7, 2)),
    ("Conv1D", dict(filters=2, kernel_size=2, strides=2, padding="same"), (7, 2)),
    ("Conv1D", dict(filters=2, kernel_size=3, padding="causal", dilation_rate=2, activation="tanh"), (7, 2)),
    ("Conv1D", dict(filters=2, kernel_size=2, padding="causal", strides=2), (7, 1)),
    ("Conv1D", dict(filters=4, kernel_size=2, groups=2), (6, 2)),
    ("Conv1D", dict(filters=2, kernel_size=2, activity_regularizer="l2"), (5, 2)),
    ("DepthwiseConv2D", dict(kernel_size=3), (6, 6, 2)),
    ("DepthwiseConv2D", dict(kernel_size=2, depth_multiplier=2, strides=2, padding="same"), (5, 5, 2)),
    ("DepthwiseConv2D", dict(kernel_size=2, dilation_rate=2, use_bias=False, activation="relu"), (5, 5, 3)),
    ("DepthwiseConv2D", dict(kernel_size=2, depthwise_regularizer="l2"), (4, 4, 2)),
    ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2, padding="same"), (6, 2)),
    ("SeparableConv2D", dict(filters=3, kernel_size=2), (5, 5, 2)),
    ("SeparableConv2D", dict(filters=2, kernel_size=3, depth_multiplier=2, strides=2, padding="same",
                             activation="relu"), (6, 6, 2)),
    ("SeparableConv2D", dict(filters=2, kernel_size=2, dilation_rate=2, use_bias=False), (5, 5, 2)),
    ("SeparableConv2D", dict(filters=2, kernel_size=2, pointwise_regularizer="l2",
                             depthwise_constraint="non_neg"), (4, 4, 2)),
    ("SeparableConv1D", dict(filters=3, kernel_size=2, depth_multiplier=2), (6, 2)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=3), (3, 3, 2)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same"), (3, 4, 2)),
    ("Conv2DTranspose", dict(filters=3, kernel_size=2, strides=2), (3, 3, 1)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=4, strides=2, padding="same"), (3, 3, 2)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=3, strides=3, output_padding=(1, 2), use_bias=False),
     (2, 2, 2)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=(2, 3), strides=2, padding="same", output_padding=1,
                             activation="tanh"), (3, 3, 2)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=2, dilation_rate=2, padding="same"), (4, 4, 1)),
    ("Conv1DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same"), (4, 2)),
    ("Conv1DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="valid", output_padding=1), (4, 2)),
]


@pytest.mark.parametrize("layer_name,kwargs,input_shape", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_same_outputs_and_one_sgd_step(layer_name, kwargs, input_shape):
    assert_same(*(one_step(k, layer_name, kwargs, input_shape, "sgd") for k in (real, nbkeras)))


@pytest.mark.parametrize("layer_name,kwargs,input_shape", [CASES[i] for i in (2, 11, 16, 21, 27)],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_one_adam_step(layer_name, kwargs, input_shape):
    assert_same(*(one_step(k, layer_name, kwargs, input_shape, "adam") for k in (real, nbkeras)))


def test_weight_names_shapes_and_output_shapes_match():
    for layer_name, kwargs, input_shape in CASES:
        layers = [getattr(k.layers, layer_name)(**kwargs) for k in (real, nbkeras)]
        outs = [layer(k.Input(input_shape)) for layer, k in zip(layers, (real, nbkeras))]
        assert tuple(outs[0].shape) == tuple(outs[1].shape), layer_name
        assert [(w.name, tuple(w.shape)) for w in layers[0].weights] == \
               [(w.name, tuple(w.shape)) for w in layers[1].weights], layer_name


def test_cnn_workload_one_adam_step():
    """The issue's W3 model: the same weights give the same loss and weights after one Adam batch of 64."""
    if not hasattr(nbkeras.layers, "MaxPooling2D"):
        pytest.skip("MaxPooling2D has not landed yet")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=64)
    results = []
    for k in (real, nbkeras):
        model = k.Sequential([k.Input((28, 28, 1)), k.layers.Conv2D(32, 3, activation="relu"),
                              k.layers.MaxPooling2D(2), k.layers.Conv2D(64, 3, activation="relu"),
                              k.layers.MaxPooling2D(2), k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
        weights = [w * 0.2 for w in weights_for(model)]
        model.set_weights(weights)
        model.compile(optimizer=k.optimizers.Adam(), loss="sparse_categorical_crossentropy")
        pred = np.asarray(model.predict(x, verbose=0))
        loss = float(np.asarray(model.train_on_batch(x, y)))
        results.append((pred, loss, model.get_weights()))
    assert_same(*results, rtol=1e-4, atol=2e-5)
