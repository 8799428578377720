"""The fusion pass (nbkeras/models/fuse_elementwise.py): a forward-only program of a functional model of ops runs
its elementwise chains as one elementwise.chain_forward call each, with unchanged results; intermediates needed
elsewhere stay materialised; training programs are not fused."""

import numpy as np
import pytest

import nbkeras as keras
from nbkeras import ops
from nbkeras.models import fuse_elementwise as F


def program_calls(model):
    return [c.fn for c in model._inference_engine().plan.program.calls()]


def chains_in(model):
    return program_calls(model).count("elementwise.chain_forward")


def data(shape=(37, 6), seed=0, dtype="float32"):
    return np.random.default_rng(seed).uniform(-2, 2, shape).astype(dtype)


def test_a_chain_becomes_one_call_and_predicts_like_numpy():
    inp = keras.Input((6,))
    model = keras.Model(inp, ops.tanh(inp * 2.0 + 1.0) * ops.exp(-inp))
    x = data()
    np.testing.assert_allclose(model.predict(x, verbose=0), np.tanh(x * 2 + 1) * np.exp(-x), rtol=1e-6, atol=1e-7)
    calls = program_calls(model)
    assert calls.count("elementwise.chain_forward") == 1
    assert not any(c in calls for c in ("elementwise.unary_forward", "elementwise.scalar_forward",
                                        "elementwise.binary_forward"))


def test_the_polynomial_chain_and_a_second_input():
    a, b = keras.Input((4, 3)), keras.Input((4, 3))
    y = (a * a * 0.5 + a * 3.0 - 1.0) / (b * b + 1.0)
    model = keras.Model([a, b], y)
    xa, xb = data((9, 4, 3), 1), data((9, 4, 3), 2)
    want = (xa * xa * 0.5 + xa * 3.0 - 1.0) / (xb * xb + 1.0)
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), want, rtol=1e-6, atol=1e-7)
    assert chains_in(model) == 1


def test_an_intermediate_used_twice_inside_the_chain():
    inp = keras.Input((5,))
    h = ops.sigmoid(inp - 0.5)
    model = keras.Model(inp, h * h + h)
    x = data((11, 5))
    s = 1 / (1 + np.exp(-(x - 0.5)))
    np.testing.assert_allclose(model.predict(x, verbose=0), s * s + s, rtol=1e-6, atol=1e-7)
    # inp - 0.5 (a chain of one), the sigmoid activation kernel, then h * h + h in one chain reading h twice
    assert program_calls(model) == ["elementwise.chain_forward", "activations.sigmoid_forward",
                                    "elementwise.chain_forward"]


def test_an_intermediate_that_is_also_an_output_stays():
    inp = keras.Input((5,))
    mid = ops.exp(inp * 0.5)
    model = keras.Model(inp, [mid, ops.tanh(mid + 1.0) * 2.0])
    x = data((8, 5))
    got_mid, got_out = model.predict(x, verbose=0)
    np.testing.assert_allclose(got_mid, np.exp(x * 0.5), rtol=1e-6)
    np.testing.assert_allclose(got_out, np.tanh(np.exp(x * 0.5) + 1) * 2, rtol=1e-6)
    assert chains_in(model) == 2  # exp(x * 0.5) and tanh(mid + 1) * 2, mid written between them


def test_an_intermediate_read_outside_the_chain_stays():
    inp = keras.Input((6,))
    h = inp * 3.0 - 1.0
    z = keras.layers.Dense(2, kernel_initializer="ones")(ops.relu(h))  # a layer reads h's chain output
    model = keras.Model(inp, [ops.abs(h) + 1.0, z])
    x = data((7, 6))
    h_np = x * 3 - 1
    got_a, got_z = model.predict(x, verbose=0)
    np.testing.assert_allclose(got_a, np.abs(h_np) + 1, rtol=1e-6)
    np.testing.assert_allclose(got_z, np.maximum(h_np, 0).sum(axis=1, keepdims=True).repeat(2, 1), rtol=1e-5)


def test_broadcasting_binary_ops_are_not_fused_but_stay_correct():
    inp = keras.Input((3, 4))
    row = keras.Input((1, 4))
    y = ops.exp(inp * 0.5) * row + 1.0  # (3, 4) * (1, 4): broadcast
    model = keras.Model([inp, row], y)
    x, r = data((5, 3, 4)), data((5, 1, 4), 3)
    np.testing.assert_allclose(model.predict([x, r], verbose=0), np.exp(x * 0.5) * r + 1, rtol=1e-6)
    assert "elementwise.binary_forward" in program_calls(model)


def test_long_chains_are_split():
    inp = keras.Input((4,))
    y, want_x = inp, data((6, 4))
    want = want_x
    for k in range(20):
        y = y * 1.01 + 0.1 if k % 2 else ops.tanh(y) * 2.0
        want = want * np.float32(1.01) + np.float32(0.1) if k % 2 else np.tanh(want) * np.float32(2.0)
    model = keras.Model(inp, y)
    np.testing.assert_allclose(model.predict(want_x, verbose=0), want, rtol=1e-5)
    assert chains_in(model) >= 5  # 40 instructions, at most 8 per chain


def test_more_than_four_inputs_are_split():
    ins = [keras.Input((3,)) for _ in range(6)]
    y = ins[0]
    for t in ins[1:]:
        y = y * t + 1.0
    model = keras.Model(ins, y)
    xs = [data((5, 3), k) for k in range(6)]
    want = xs[0]
    for t in xs[1:]:
        want = want * t + 1.0
    np.testing.assert_allclose(model.predict(xs, verbose=0), want, rtol=1e-6)
    assert chains_in(model) >= 2


def test_eager_and_compiled_predict_agree_bit_for_bit():
    inp = keras.Input((6,))
    model = keras.Model(inp, ops.tanh(inp * 2.0 + 1.0) * ops.exp(-inp) / (inp * inp + 1.0))
    x = data((40, 6), 4)
    a = model.predict(x, verbose=0)
    b = model(x)  # eager call of the layers on arrays
    np.testing.assert_allclose(np.asarray(b), a, rtol=1e-6, atol=1e-7)
    model.compile(loss="mse", run_eagerly=True)
    c = model.predict(x, verbose=0)
    np.testing.assert_allclose(c, a, rtol=1e-6, atol=1e-7)


def test_a_trained_model_is_not_fused_and_still_trains():
    inp = keras.Input((4,))
    h = keras.layers.Dense(4)(inp)
    model = keras.Model(inp, ops.tanh(h * 0.5 + 0.1) * ops.sigmoid(-h))
    model.compile(optimizer="sgd", loss="mse")
    x, y = data((32, 4), 5), data((32, 4), 6) * 0.1
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before
    calls = [c.fn for c in model._inference_engine().plan.program.calls()]
    assert "elementwise.chain_forward" not in calls and "elementwise.unary_backward" in calls


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_equals_unfused_bit_for_bit(dtype, monkeypatch):
    keras.backend.set_floatx(dtype)
    try:
        def build():
            inp = keras.Input((33,))
            return keras.Model(inp, (inp * inp * 0.5 + inp * 3.0 - 1.0) / (ops.sigmoid(inp) + 1.0))

        x = data((70, 33), 8, dtype)
        fused = build()
        got = fused.predict(x, verbose=0)
        assert chains_in(fused) == 1
        monkeypatch.setattr(F, "fuse", lambda graph, keep=frozenset(): graph)
        plain = build()
        want = plain.predict(x, verbose=0)
        assert chains_in(plain) == 0
        np.testing.assert_array_equal(got, want)
    finally:
        keras.backend.set_floatx("float32")


def test_the_compiled_step_runs_the_chain(monkeypatch):
    """With background compilation off the first predict compiles the generated step (codegen), which then calls
    chain_forward; its result equals the eager interpreter's bit for bit."""
    from nbkeras.models import engine

    inp = keras.Input((6,))
    y = ops.tanh(inp * 2.0 + 1.0) * ops.exp(-inp)
    x = data((50, 6), 9)
    eager = keras.Model(inp, y)
    eager.compile(loss="mse", run_eagerly=True)
    want = eager.predict(x, verbose=0)
    monkeypatch.setattr(engine, "BACKGROUND", False)
    compiled = keras.Model(inp, y)
    got = compiled.predict(x, verbose=0)
    assert chains_in(compiled) == 1
    assert compiled._inference_engine()._fn is not None  # the generated step ran
    np.testing.assert_array_equal(got, want)
