"""Recurrent layers, Embedding, Masking and the wrappers against real Keras 3 (JAX backend): the same weights
give the same outputs, loss and weights after one train_on_batch, in every option the layers offer (dropout:
inference outputs only, as the two draw different masks). Skipped where Keras is not installed."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

real = pytest.importorskip("keras")
pytest.importorskip("jax")
import nbkeras  # noqa: E402

if real.backend.backend() != "jax":
    pytest.skip("parity checks use Keras's JAX backend", allow_module_level=True)

T, D = 4, 3


def _data(seed, masked=False, ids=False):
    rng = np.random.default_rng(seed)
    if ids:
        x = rng.integers(0, 6, size=(3, T)).astype("float32")
        x[0, -2:] = 0
        x[1, :1] = 0
        return x
    x = rng.normal(size=(3, T, D)).astype("float32")
    if masked:
        x[0, 1] = 0.0
        x[2, 2:] = 0.0
    return x


def build(k, case):
    """A model of framework ``k`` for ``case`` = (kind, layer name, kwargs)."""
    kind, name, kwargs = case
    L = k.layers
    if kind == "ids":
        inp = k.Input((T,))
        x = L.Embedding(6, D, mask_zero=True)(inp)
        return k.Model(inp, getattr(L, name)(**kwargs)(x))
    inp = k.Input((T, D))
    x = L.Masking()(inp) if kind == "masked" else inp
    if kind == "bidirectional":
        merge = kwargs.pop("merge_mode")
        out = L.Bidirectional(getattr(L, name)(**kwargs), merge_mode=merge)(x)
        kwargs["merge_mode"] = merge
    elif kind == "time_distributed":
        out = L.TimeDistributed(L.Dense(2, activation="tanh"))(getattr(L, name)(**kwargs)(x))
    elif kind == "initial_state":
        n = 2 if name == "LSTM" else 1
        states = [k.Input((kwargs["units"],)) for _ in range(n)]
        out = getattr(L, name)(**kwargs)(x, initial_state=states)
        return k.Model([inp] + states, out)
    else:
        out = getattr(L, name)(**kwargs)(x)
    return k.Model(inp, out)


def run(k, case, seed=0, train=True):
    model = build(k, case)
    rng = np.random.default_rng(seed + 1)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()])
    x = _data(seed, masked=case[0] == "masked", ids=case[0] == "ids")
    xs = [x] + ([rng.normal(size=(3, case[2]["units"])).astype("float32")
                 for _ in range(2 if case[1] == "LSTM" else 1)] if case[0] == "initial_state" else [])
    xs = xs if len(xs) > 1 else xs[0]
    preds = model.predict(xs, verbose=0)
    preds = [np.asarray(p) for p in preds] if isinstance(preds, (list, tuple)) else [np.asarray(preds)]
    if not train:
        return preds, None, None
    ys = [rng.normal(size=p.shape).astype("float32") for p in preds]
    model.compile(optimizer=k.optimizers.SGD(learning_rate=0.1), loss=["mse"] * len(ys))
    loss = model.train_on_batch(xs, ys if len(ys) > 1 else ys[0])
    loss = float(np.asarray(loss[0] if isinstance(loss, list) else loss))
    return preds, loss, model.get_weights()


def _cases():
    out = []
    layers = [("SimpleRNN", {}), ("LSTM", {}), ("LSTM", {"unit_forget_bias": False}), ("GRU", {}),
              ("GRU", {"reset_after": False})]
    options = [{}, {"return_sequences": True}, {"go_backwards": True},
               {"go_backwards": True, "return_sequences": True}, {"use_bias": False},
               {"activation": "relu", "return_sequences": True}, {"return_state": True},
               {"return_state": True, "return_sequences": True, "go_backwards": True}]
    for name, extra in layers:
        for opt in options:
            out.append(("plain", name, {"units": 3, **extra, **opt}))
        for opt in ({}, {"return_sequences": True}, {"go_backwards": True, "return_sequences": True}):
            out.append(("masked", name, {"units": 3, **extra, **opt}))
            out.append(("ids", name, {"units": 3, **extra, **opt}))
        out.append(("initial_state", name, {"units": 3, "return_sequences": True, **extra}))
        if name != "SimpleRNN":
            out.append(("plain", name, {"units": 3, "recurrent_activation": "hard_sigmoid", **extra}))
    for merge in ("concat", "sum", "mul", "ave", None):
        for rs in (False, True):
            out.append(("bidirectional", "LSTM", {"units": 2, "return_sequences": rs, "merge_mode": merge}))
    out.append(("bidirectional", "GRU", {"units": 2, "return_sequences": True, "merge_mode": "concat"}))
    out.append(("time_distributed", "GRU", {"units": 3, "return_sequences": True}))
    return out


CASES = _cases()


def _case_id(case):
    kind, name, kwargs = case
    return f"{kind}-{name}-" + "-".join(f"{k}={v}" for k, v in kwargs.items() if k != "units")


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_same_outputs_and_same_step(case):
    want = run(real, (case[0], case[1], dict(case[2])))
    got = run(nbkeras, (case[0], case[1], dict(case[2])))
    assert len(got[0]) == len(want[0])
    for a, b in zip(want[0], got[0]):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg="outputs differ")
    np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-5, err_msg="losses differ")
    assert [w.shape for w in got[2]] == [w.shape for w in want[2]]
    for i, (a, b) in enumerate(zip(want[2], got[2])):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=f"weight {i} differs after one step")


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_dropout_does_nothing_at_inference(name):
    case = ("plain", name, {"units": 3, "dropout": 0.5, "recurrent_dropout": 0.3, "return_sequences": True})
    want, _, _ = run(real, (case[0], case[1], dict(case[2])), train=False)
    got, _, _ = run(nbkeras, (case[0], case[1], dict(case[2])), train=False)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_stateful_first_call_and_reset(name):
    """Keras 3 on JAX does not carry a stateful layer's states from one predict() call to the next (its state
    variables are untracked, so the JAX trainer's stateless calls drop their updates); Keras 2 and TF do, and
    nbkeras does (tests/layers/test_recurrent_layers.py checks the carried states against the cell equations). Here:
    the first call and the call after reset_states() agree with Keras."""
    results = []
    for k in (real, nbkeras):
        inp = k.Input((T, D), batch_size=3)
        layer = getattr(k.layers, name)(3, stateful=True)
        model = k.Model(inp, layer(inp))
        rng = np.random.default_rng(4)
        weights = model.get_weights()
        n_trainable = len(layer.trainable_weights)
        model.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32") for w in weights[:n_trainable]]
                          + weights[n_trainable:])
        x1, x2 = _data(1), _data(2)
        runs = [model.predict(x1, batch_size=3, verbose=0)]
        layer.reset_states()
        runs.append(model.predict(x2, batch_size=3, verbose=0))
        results.append(runs)
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_embedding_alone():
    want = run(real, ("ids", "SimpleRNN", {"units": 2}))
    got = run(nbkeras, ("ids", "SimpleRNN", {"units": 2}))
    for i, (a, b) in enumerate(zip(want[2], got[2])):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")
