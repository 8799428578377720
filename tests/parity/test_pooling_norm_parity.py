"""Pooling, BatchNormalization, reshaping and spatial-dropout layers against real Keras 3 (JAX backend): the same
weights give the same outputs, and the same weights (BatchNormalization's moving statistics included) after one
train_on_batch. Layers without weights get a Flatten + Dense head so that the training step has something to move
and the layer's backward pass decides the head's gradient. Skipped where Keras is not installed."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

real = pytest.importorskip("keras")
pytest.importorskip("jax")
import nbkeras  # noqa: E402

if real.backend.backend() != "jax":
    pytest.skip("parity checks use Keras's JAX backend", allow_module_level=True)

SHAPE_1D, SHAPE_2D = (4, 6, 3), (4, 5, 6, 2)

CASES = [
    ("MaxPooling1D", {}, SHAPE_1D),
    ("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, SHAPE_1D),
    ("AveragePooling1D", {"pool_size": 2, "strides": 1, "padding": "same"}, SHAPE_1D),
    ("AveragePooling1D", {"pool_size": 3}, SHAPE_1D),
    ("MaxPooling2D", {}, SHAPE_2D),
    ("MaxPooling2D", {"pool_size": (3, 2), "strides": (2, 1), "padding": "same"}, SHAPE_2D),
    ("AveragePooling2D", {"pool_size": 2}, SHAPE_2D),
    ("AveragePooling2D", {"pool_size": (3, 3), "strides": 2, "padding": "same"}, SHAPE_2D),
    ("AveragePooling2D", {"pool_size": 2, "strides": 1, "padding": "same"}, SHAPE_2D),
    ("GlobalAveragePooling1D", {}, SHAPE_1D),
    ("GlobalMaxPooling1D", {"keepdims": True}, SHAPE_1D),
    ("GlobalAveragePooling2D", {"keepdims": True}, SHAPE_2D),
    ("GlobalMaxPooling2D", {}, SHAPE_2D),
    ("BatchNormalization", {}, SHAPE_2D),
    ("BatchNormalization", {"center": False, "momentum": 0.5}, SHAPE_1D),
    ("BatchNormalization", {"scale": False, "epsilon": 0.1}, (4, 3)),
    ("BatchNormalization", {"trainable": False}, SHAPE_2D),
    ("ZeroPadding1D", {"padding": (1, 2)}, SHAPE_1D),
    ("ZeroPadding2D", {"padding": ((0, 1), (2, 1))}, SHAPE_2D),
    ("Cropping1D", {"cropping": (2, 1)}, SHAPE_1D),
    ("Cropping2D", {"cropping": ((1, 0), (1, 2))}, SHAPE_2D),
    ("UpSampling1D", {"size": 3}, SHAPE_1D),
    ("UpSampling2D", {"size": (2, 3)}, SHAPE_2D),
    ("UpSampling2D", {"size": (2, 3), "interpolation": "bilinear"}, SHAPE_2D),
    ("Reshape", {"target_shape": (-1, 4)}, SHAPE_2D),
    ("Permute", {"dims": (2, 3, 1)}, SHAPE_2D),
    ("SpatialDropout1D", {"rate": 0.3}, SHAPE_1D),
    ("SpatialDropout2D", {"rate": 0.3}, SHAPE_2D),
]
IDS = [f"{name}-{kwargs}" for name, kwargs, _ in CASES]


def layer_weights(layer, rng):
    """Random weights; variances positive."""
    return [np.abs(rng.normal(size=w.shape)) + 0.5 if "variance" in w.name else rng.normal(size=w.shape)
            for w in layer.weights]


def build(k, name, kwargs, shape, head):
    inp = k.Input(shape[1:])
    layer = getattr(k.layers, name)(**kwargs)
    out = layer(inp)
    if head:
        out = k.layers.Dense(3)(k.layers.Flatten()(out))
    return k.Model(inp, out), layer


def weights_for(model, rng):
    out = []
    for layer in model.layers:
        out += [w.astype("float32") for w in layer_weights(layer, rng)]
    return out


def assert_close(a, b, rtol=1e-4, atol=1e-5):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name,kwargs,shape", CASES, ids=IDS)
def test_same_weights_same_outputs(name, kwargs, shape):
    x = np.random.default_rng(0).normal(1.0, 2.0, size=shape).astype("float32")
    outs = []
    for k in (real, nbkeras):
        model, _ = build(k, name, kwargs, shape, head=False)
        model.set_weights(weights_for(model, np.random.default_rng(1)))
        outs.append(model.predict(x, verbose=0))
    assert outs[0].shape == outs[1].shape
    assert_close(outs[1], outs[0])


@pytest.mark.parametrize("name,kwargs,shape", [c for c in CASES if not c[0].startswith("SpatialDropout")],
                         ids=[i for i in IDS if not i.startswith("SpatialDropout")])
@pytest.mark.parametrize("run_eagerly", [False, True])
def test_same_weights_after_train_on_batch(name, kwargs, shape, run_eagerly):
    """One SGD step: the layer's own weights (and BN's moving statistics) and the head's move as in Keras."""
    rng = np.random.default_rng(2)
    x = rng.normal(1.0, 2.0, size=shape).astype("float32")
    y = rng.normal(size=(shape[0], 3)).astype("float32")
    results = []
    for k in (real, nbkeras):
        model, _ = build(k, name, kwargs, shape, head=True)
        model.set_weights(weights_for(model, np.random.default_rng(3)))
        options = {"run_eagerly": run_eagerly} if k is nbkeras else {}
        model.compile(optimizer=k.optimizers.SGD(0.1), loss="mse", **options)
        loss = model.train_on_batch(x, y)
        results.append((float(loss), model.get_weights(), model.predict_on_batch(x)))
    (l1, w1, p1), (l2, w2, p2) = results
    assert_close(l2, l1)
    assert len(w1) == len(w2)
    for a, b in zip(w2, w1):
        assert_close(a, b)
    assert_close(p2, p1)


def test_batch_norm_moving_statistics_after_train_on_batch():
    """Two batches, momentum 0.9: the moving statistics are Keras's after each (biased batch variance)."""
    rng = np.random.default_rng(4)
    xs = [rng.normal(2.0, 3.0, size=SHAPE_2D).astype("float32") for _ in range(2)]
    y = rng.normal(size=SHAPE_2D).astype("float32")
    stats = []
    for k in (real, nbkeras):
        model, bn = build(k, "BatchNormalization", {"momentum": 0.9}, SHAPE_2D, head=False)
        model.compile(optimizer=k.optimizers.SGD(0.1), loss="mse")
        seen = []
        for x in xs:
            model.train_on_batch(x, y)
            seen.append([np.asarray(w) for w in bn.get_weights()])
        stats.append(seen)
    for a, b in zip(stats[1], stats[0]):
        for u, v in zip(a, b):
            assert_close(u, v)


@pytest.mark.parametrize("name", ["SpatialDropout1D", "SpatialDropout2D"])
def test_spatial_dropout_training_drops_whole_channels_like_keras(name):
    """Masks are random in both; compare what is deterministic: each channel all kept (scaled by 1/(1-rate)) or
    all dropped, in either framework."""
    shape = SHAPE_1D if name.endswith("1D") else SHAPE_2D
    x = np.ones((64,) + shape[1:], "float32")
    for k in (real, nbkeras):
        y = np.asarray(getattr(k.layers, name)(0.5)(x, training=True)).reshape(64, -1, shape[-1])
        assert set(np.unique(y)) <= {0.0, 2.0}
        assert np.all(y == y[:, :1, :])
