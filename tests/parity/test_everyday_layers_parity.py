"""Normalization-type, noise, repeat, activity-regularization and merge layers against real Keras 3 (JAX backend):
the same weights give the same outputs, the same weights after one train_on_batch (weightless layers get a
Flatten + Dense head so that their backward pass decides the head's gradient), and Normalization.adapt computes
Keras's statistics. Noise layers are compared where both are deterministic: the identity at inference. Skipped
where Keras is not installed."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

real = pytest.importorskip("keras")
pytest.importorskip("jax")
import nbkeras  # noqa: E402

if real.backend.backend() != "jax":
    pytest.skip("parity checks use Keras's JAX backend", allow_module_level=True)

# Until nbkeras/backend.py lists these kernel families (the eager interpreter looks them up there).

SINGLE = [
    ("LayerNormalization", {}, (4, 5)),
    ("LayerNormalization", {"axis": [-2, -1], "epsilon": 0.1}, (4, 3, 5)),
    ("LayerNormalization", {"center": False}, (4, 3, 5)),
    ("LayerNormalization", {"scale": False, "epsilon": 1e-5}, (4, 6)),
    ("LayerNormalization", {"rms_scaling": True}, (4, 6)),
    ("UnitNormalization", {}, (4, 5)),
    ("UnitNormalization", {"axis": 1}, (4, 3, 5)),
    ("UnitNormalization", {"axis": [1, 2]}, (4, 3, 5)),
    ("Normalization", {"mean": [1.0, -2.0, 0.5], "variance": [4.0, 0.25, 2.0]}, (4, 3)),
    ("Normalization", {"mean": 0.5, "variance": 2.0, "invert": True}, (4, 2, 3)),
    ("Normalization", {"axis": 1, "mean": [0.0, 1.0, 2.0], "variance": [1.0, 2.0, 3.0]}, (4, 3, 2)),
    ("Rescaling", {"scale": 1 / 255.0, "offset": -0.5}, (4, 5)),
    ("Rescaling", {"scale": [1.0, 2.0, 3.0]}, (4, 2, 3)),
    ("RepeatVector", {"n": 3}, (4, 5)),
    ("ActivityRegularization", {"l1": 0.01, "l2": 0.1}, (4, 5)),
    ("GaussianNoise", {"stddev": 0.5}, (4, 5)),
    ("GaussianDropout", {"rate": 0.3}, (4, 5)),
    ("AlphaDropout", {"rate": 0.3}, (4, 5)),
]
NOISE = ("GaussianNoise", "GaussianDropout", "AlphaDropout")
IDS = [f"{name}-{kwargs}" for name, kwargs, _ in SINGLE]

MERGES = [
    ("Multiply", {}, [(4, 3)] * 3),
    ("Subtract", {}, [(4, 2, 3)] * 2),
    ("Average", {}, [(4, 3)] * 3),
    ("Maximum", {}, [(4, 3)] * 3),
    ("Minimum", {}, [(4, 2, 3)] * 2),
    ("Dot", {"axes": 1}, [(4, 3), (4, 3)]),
    ("Dot", {"axes": -1, "normalize": True}, [(4, 3), (4, 3)]),
    ("Dot", {"axes": (1, 2)}, [(4, 3), (4, 2, 3)]),
    ("Dot", {"axes": (1, 2)}, [(4, 3, 2), (4, 5, 3)]),
    ("Dot", {"axes": 2, "normalize": True}, [(4, 3, 2), (4, 5, 2)]),
]
MERGE_IDS = [f"{name}-{kwargs}-{len(shapes)}" for name, kwargs, shapes in MERGES]


def weights_for(model, rng):
    return [np.zeros(w.shape, "float32") if "count" in w.name else rng.normal(size=w.shape).astype("float32")
            for layer in model.layers for w in layer.weights]


def build(k, name, kwargs, shapes, head):
    inputs = [k.Input(s[1:]) for s in shapes]
    out = getattr(k.layers, name)(**kwargs)(inputs[0] if len(inputs) == 1 else inputs)
    if head:
        out = k.layers.Dense(3)(k.layers.Flatten()(out) if len(out.shape) > 2 else out)
    return k.Model(inputs[0] if len(inputs) == 1 else inputs, out)


def data(shapes, seed):
    rng = np.random.default_rng(seed)
    xs = [rng.normal(1.0, 2.0, size=s).astype("float32") for s in shapes]
    return xs[0] if len(xs) == 1 else xs


def assert_close(a, b, rtol=1e-4, atol=1e-5):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol)


def outputs_agree(name, kwargs, shapes):
    x = data(shapes, 0)
    outs = []
    for k in (real, nbkeras):
        model = build(k, name, kwargs, shapes, head=False)
        model.set_weights(weights_for(model, np.random.default_rng(1)))
        outs.append(model.predict(x, verbose=0))
    assert outs[0].shape == outs[1].shape
    assert_close(outs[1], outs[0])


def train_step_agrees(name, kwargs, shapes, run_eagerly):
    x = data(shapes, 2)
    y = np.random.default_rng(3).normal(size=(shapes[0][0], 3)).astype("float32")
    results = []
    for k in (real, nbkeras):
        model = build(k, name, kwargs, shapes, head=True)
        model.set_weights(weights_for(model, np.random.default_rng(4)))
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


@pytest.mark.parametrize("name,kwargs,shape", SINGLE, ids=IDS)
def test_same_weights_same_outputs(name, kwargs, shape):
    outputs_agree(name, kwargs, [shape])


@pytest.mark.parametrize("name,kwargs,shape", [c for c in SINGLE if c[0] not in NOISE],
                         ids=[i for i, c in zip(IDS, SINGLE) if c[0] not in NOISE])
@pytest.mark.parametrize("run_eagerly", [False, True])
def test_same_weights_after_train_on_batch(name, kwargs, shape, run_eagerly):
    train_step_agrees(name, kwargs, [shape], run_eagerly)


@pytest.mark.parametrize("name,kwargs,shapes", MERGES, ids=MERGE_IDS)
def test_merge_same_outputs(name, kwargs, shapes):
    outputs_agree(name, kwargs, shapes)


@pytest.mark.parametrize("name,kwargs,shapes", MERGES, ids=MERGE_IDS)
@pytest.mark.parametrize("run_eagerly", [False, True])
def test_merge_same_weights_after_train_on_batch(name, kwargs, shapes, run_eagerly):
    train_step_agrees(name, kwargs, shapes, run_eagerly)


def test_normalization_adapt_statistics_equal_keras():
    rng = np.random.default_rng(5)
    arrays = rng.normal(3.0, 2.0, size=(40, 4, 3)).astype("float32")
    # (Keras's adapt on a list of batches needs TensorFlow: batches are checked against NumPy in tests/layers.)
    for axis, adapt_data in ((-1, arrays), ((1, 2), arrays), (None, arrays), (1, arrays[:, :, :1])):
        weights = []
        for k in (real, nbkeras):
            layer = k.layers.Normalization(axis=axis)
            layer.adapt(adapt_data)
            weights.append([np.asarray(w) for w in layer.weights])
        assert [w.shape for w in weights[1]] == [w.shape for w in weights[0]]
        for a, b in zip(weights[1], weights[0]):
            assert_close(a, b, rtol=1e-6, atol=1e-6)
        assert [w.name for w in nbkeras.layers.Normalization(axis=axis).weights] == []  # built by adapt only


def test_adapted_normalization_in_a_model_and_its_weight_names():
    rng = np.random.default_rng(6)
    x = rng.normal(5.0, 3.0, size=(32, 3)).astype("float32")
    preds, names = [], []
    for k in (real, nbkeras):
        norm = k.layers.Normalization()
        norm.adapt(x)
        model = k.Sequential([k.Input((3,)), norm, k.layers.Dense(2)])
        model.set_weights([np.asarray(w) for w in norm.get_weights()] + [np.ones((3, 2), "float32"),
                                                                         np.zeros(2, "float32")])
        preds.append(model.predict(x, verbose=0))
        names.append([w.name for w in norm.weights])
    assert names[1] == names[0] == ["mean", "variance", "count"]
    assert_close(preds[1], preds[0])


@pytest.mark.parametrize("name,kwargs", [(n, kw) for n, kw, _ in SINGLE if n in NOISE])
def test_noise_layers_are_the_identity_at_inference_in_both(name, kwargs):
    x = data([(8, 5)], 7)
    for k in (real, nbkeras):
        np.testing.assert_array_equal(np.asarray(getattr(k.layers, name)(**kwargs)(x)), x)
