"""Functional models with several inputs and outputs: loss dicts and lists, loss_weights, per-output metrics,
names in logs and evaluate(), targets as lists and dicts -- numbers checked against NumPy."""

import numpy as np
import pytest

import nbkeras as keras
from support import reference as ref


def two_in_two_out(seed=0):
    keras.utils.set_random_seed(seed)
    a = keras.Input((3,), name="a")
    b = keras.Input((2,), name="b")
    h = keras.layers.Concatenate()([a, b])
    h = keras.layers.Dense(4, activation="tanh", name="hidden")(h)
    reg = keras.layers.Dense(2, name="reg")(h)
    cls = keras.layers.Dense(3, activation="softmax", name="cls")(h)
    return keras.Model(inputs=[a, b], outputs=[reg, cls])


def batch(n=6, seed=2):
    rng = np.random.default_rng(seed)
    xa = rng.normal(size=(n, 3)).astype("float32")
    xb = rng.normal(size=(n, 2)).astype("float32")
    y_reg = rng.normal(size=(n, 2)).astype("float32")
    y_cls = rng.integers(0, 3, size=(n,))
    return xa, xb, y_reg, y_cls


def numpy_outputs(model, xa, xb):
    w = [v.astype(np.float64) for v in model.get_weights()]
    h = np.tanh(np.concatenate([xa, xb], axis=1) @ w[0] + w[1])
    reg = h @ w[2] + w[3]
    cls = ref.act("softmax", h @ w[4] + w[5])
    return reg, cls


@pytest.mark.parametrize("eager", [False, True], ids=["compiled", "eager"])
def test_loss_dict_weights_and_metric_names(eager):
    model = two_in_two_out()
    model.compile(optimizer="sgd", loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                  loss_weights={"reg": 0.5, "cls": 2.0}, metrics={"cls": ["accuracy"], "reg": ["mae"]},
                  run_eagerly=eager)
    xa, xb, y_reg, y_cls = batch()
    logs = model.evaluate({"a": xa, "b": xb}, {"reg": y_reg, "cls": y_cls}, verbose=0, return_dict=True)
    reg, cls = numpy_outputs(model, xa, xb)
    mse = ref.loss_values("mse", y_reg, reg).mean()
    ce = ref.loss_values("sparse_categorical_crossentropy", y_cls, cls).mean()
    assert list(logs) == ["cls_accuracy", "cls_loss", "loss", "reg_loss", "reg_mae"]  # sorted, as Keras returns
    assert logs["loss"] == pytest.approx(0.5 * mse + 2.0 * ce, rel=1e-5)
    assert logs["reg_loss"] == pytest.approx(mse, rel=1e-5)  # per-output losses are unweighted
    assert logs["cls_loss"] == pytest.approx(ce, rel=1e-5)
    assert logs["reg_mae"] == pytest.approx(np.abs(reg - y_reg).mean(), rel=1e-5)
    assert logs["cls_accuracy"] == pytest.approx(np.mean(cls.argmax(-1) == y_cls))
    as_list = model.evaluate([xa, xb], [y_reg, y_cls], verbose=0)
    # Keras 3's order: loss, the per-output losses, then the remaining metric names sorted.
    assert as_list == pytest.approx([logs["loss"], logs["reg_loss"], logs["cls_loss"], logs["cls_accuracy"],
                                     logs["reg_mae"]], rel=1e-6)
    assert model.metrics_names == ["loss", "reg_loss", "cls_loss", "cls_accuracy", "reg_mae"]


def test_loss_list_and_training_step_against_numpy():
    model = two_in_two_out(seed=3)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=["mse", "sparse_categorical_crossentropy"],
                  loss_weights=[1.0, 0.5])
    xa, xb, y_reg, y_cls = batch(seed=4)
    w = [v.astype(np.float64) for v in model.get_weights()]
    x = np.concatenate([xa, xb], axis=1).astype(np.float64)
    n = len(x)
    z = x @ w[0] + w[1]
    h = np.tanh(z)
    reg = h @ w[2] + w[3]
    cls = ref.act("softmax", h @ w[4] + w[5])
    total = ref.loss_values("mse", y_reg, reg).mean() + 0.5 * ref.loss_values(
        "sparse_categorical_crossentropy", y_cls, cls).mean()
    d_reg = ref.loss_grad("mse", y_reg, reg, np.full(n, 1.0 / n))
    d_cls = ref.loss_grad("sparse_categorical_crossentropy", y_cls, cls, np.full(n, 0.5 / n))
    d_cls_z = ref.act_grad("softmax", None, cls, d_cls)
    grads = [None] * 6
    grads[2], grads[3] = h.T @ d_reg, d_reg.sum(0)
    grads[4], grads[5] = h.T @ d_cls_z, d_cls_z.sum(0)
    dh = d_reg @ w[2].T + d_cls_z @ w[4].T
    dz = dh * (1 - h * h)
    grads[0], grads[1] = x.T @ dz, dz.sum(0)
    result = model.train_on_batch([xa, xb], [y_reg, y_cls], return_dict=True)
    assert result["loss"] == pytest.approx(total, rel=1e-5)
    for got, w0, g in zip(model.get_weights(), w, grads):
        np.testing.assert_allclose(got, w0 - 0.1 * g, rtol=1e-5, atol=1e-6)


def test_shared_layer_accumulates_gradients_on_both_paths():
    results = []
    for eager in (False, True):
        keras.utils.set_random_seed(8)
        a = keras.Input((3,), name="a")
        b = keras.Input((3,), name="b")
        shared = keras.layers.Dense(2, activation="tanh", name="shared")
        out = keras.layers.Add(name="sum")([shared(a), shared(b)])
        model = keras.Model([a, b], out)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.2), loss="mse", run_eagerly=eager)
        rng = np.random.default_rng(1)
        xa, xb, y = (rng.normal(size=(5, 3)).astype("float32"), rng.normal(size=(5, 3)).astype("float32"),
                     rng.normal(size=(5, 2)).astype("float32"))
        w = [v.astype(np.float64) for v in model.get_weights()]
        ha, hb = np.tanh(xa @ w[0] + w[1]), np.tanh(xb @ w[0] + w[1])
        p = ha + hb
        d = ref.loss_grad("mse", y, p, np.full(5, 1 / 5))
        dza, dzb = d * (1 - ha * ha), d * (1 - hb * hb)
        gk = xa.T @ dza + xb.T @ dzb
        gb = dza.sum(0) + dzb.sum(0)
        model.train_on_batch([xa, xb], y)
        got = model.get_weights()
        np.testing.assert_allclose(got[0], w[0] - 0.2 * gk, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[1], w[1] - 0.2 * gb, rtol=1e-5, atol=1e-6)
        results.append(got)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_predict_returns_the_output_structure():
    model = two_in_two_out()
    xa, xb, _, _ = batch(n=7)
    out = model.predict([xa, xb], batch_size=3, verbose=0)
    assert isinstance(out, list) and [o.shape for o in out] == [(7, 2), (7, 3)]
    reg, cls = numpy_outputs(model, xa, xb)
    np.testing.assert_allclose(out[0], reg, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1], cls, rtol=1e-5, atol=1e-6)
    a = keras.Input((3,), name="p")
    d = keras.layers.Dense(1, name="o1")(a)
    e = keras.layers.Dense(2, name="o2")(a)
    dict_model = keras.Model(a, {"second": e, "first": d})
    pred = dict_model.predict(xa, verbose=0)
    assert set(pred) == {"first", "second"} and pred["first"].shape == (7, 1)
    assert dict_model.output_names == ["o1", "o2"]  # dict outputs flatten in sorted key order


def test_flat_metric_list_on_several_outputs():
    model = two_in_two_out()
    # As long as the number of outputs: one entry per output (Keras 3).
    model.compile(optimizer="sgd", loss=["mse", "sparse_categorical_crossentropy"], metrics=["mae", "accuracy"])
    xa, xb, y_reg, y_cls = batch()
    logs = model.evaluate([xa, xb], [y_reg, y_cls], verbose=0, return_dict=True)
    assert {"reg_mae", "cls_accuracy"} <= set(logs) and "cls_mae" not in logs
    # Another length: applied to every output (Keras 2's rule; Keras 3 raises there).
    model.compile(optimizer="sgd", loss=["mse", "mse"], metrics=["mae"])
    y_cls_values = np.eye(3, dtype="float32")[y_cls]
    logs = model.evaluate([xa, xb], [y_reg, y_cls_values], verbose=0, return_dict=True)
    assert {"reg_mae", "cls_mae"} <= set(logs)


def test_metric_in_metrics_and_weighted_metrics_gets_weighted_prefix():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"], weighted_metrics=["mae"])
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    sw = np.array([1.0, 0.0, 2.0, 1.0])
    logs = model.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "mae", "weighted_mae"]
    err = np.abs(model.predict(x, verbose=0) - y).mean(axis=1)
    assert logs["mae"] == pytest.approx(err.mean(), rel=1e-5)  # metrics ignore sample weights
    assert logs["weighted_mae"] == pytest.approx((sw * err).sum() / sw.sum(), rel=1e-5)


def test_model_input_and_output_tensors_and_shapes():
    seq = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert seq.input_shape == (None, 4) and seq.output_shape == (None, 3)
    assert seq.output.shape == (None, 3)
    a, b = keras.Input((2,)), keras.Input((5,))
    model = keras.Model([a, b], [keras.layers.Dense(1)(a), keras.layers.Dense(2)(b)])
    assert model.input_shape == [(None, 2), (None, 5)] and model.output_shape == [(None, 1), (None, 2)]


def test_rank_one_output_is_one_value_per_sample():
    from nbkeras import ops

    inp = keras.Input((3,))
    model = keras.Model(inp, ops.squeeze(keras.layers.Dense(1)(inp), axis=-1))
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).random((16, 3)).astype("float32")
    w, b = model.get_weights()
    expected = np.mean(((x @ w + b)[:, 0] - x.sum(axis=1)) ** 2)
    np.testing.assert_allclose(model.evaluate(x, x.sum(axis=1), verbose=0), expected, rtol=1e-5)
    assert model.predict(x, verbose=0).shape == (16,)
