"""predict_io (nbkeras/models/predict_io.py): a predict program's elementwise calls read the user's rows and write
the result's rows themselves, with the gather and the output copy gone -- and the same numbers, bit for bit, on the
eager and the compiled interpreter, for consecutive and shuffled row orders, partial batches and inputs of another
dtype; where a buffer has other readers, or the kernel is not one that only reads its inputs, nothing changes."""

import numpy as np
import pytest
from nbkeras.kernels.cpu import data as D

import nbkeras as keras
from nbkeras import ops
from nbkeras.models import engine, predict_io
from nbkeras.models.eager import TEST
from nbkeras.models.program import InputRows, PredRows


def calls(model):
    return [c.fn for c in model._inference_engine().plan.program.calls()]


def data(shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).uniform(-2, 2, shape).astype(dtype)


def chain_model():
    inp = keras.Input((6,))
    return keras.Model(inp, ops.tanh(inp * 2.0 + 1.0) * ops.exp(-inp))


def test_a_chain_reads_the_input_and_writes_the_result_in_place():
    model = chain_model()
    x = data((37, 6))
    before = x.copy()
    got = model.predict(x, batch_size=10, verbose=0)  # a partial last batch
    np.testing.assert_allclose(got, np.tanh(2 * x + 1) * np.exp(-x), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(x, before)  # the user's array is only read
    program = model._inference_engine().plan.program
    assert calls(model) == ["elementwise.chain_forward"] and program.predict_only
    (chain,) = program.calls()
    assert isinstance(chain.args[17], InputRows) and isinstance(chain.args[21], PredRows)


def test_two_inputs_read_in_place():
    a, b = keras.Input((4, 3)), keras.Input((4, 3))
    model = keras.Model([a, b], (a * a * 0.5 + a * 3.0 - 1.0) / (b * b + 1.0))
    xa, xb = data((23, 4, 3), 1), data((23, 4, 3), 2)
    want = (xa * xa * 0.5 + xa * 3.0 - 1.0) / (xb * xb + 1.0)
    np.testing.assert_allclose(model.predict([xa, xb], batch_size=8, verbose=0), want, rtol=1e-6, atol=1e-7)
    (chain,) = model._inference_engine().plan.program.calls()
    assert [type(r).__name__ for r in chain.args[17:22]] == ["InputRows", "InputRows", "Arg", "Arg", "PredRows"]
    assert sorted(r.index for r in chain.args[17:19]) == [0, 1]


@pytest.mark.parametrize("fusion", [True, False])
@pytest.mark.parametrize("build,fn", [(ops.tanh, "elementwise.unary_forward"),
                                      (lambda t: t * 3.0, "elementwise.scalar_forward")])
def test_single_ops_are_rewritten_too(build, fn, fusion, monkeypatch):
    """A lone op is a chain of one instruction (fuse_elementwise.py); without fusion, its own kernel: either reads
    and writes in place."""
    from nbkeras.models import fuse_elementwise

    monkeypatch.setattr(fuse_elementwise, "ENABLED", fusion)
    inp = keras.Input((4, 3))
    model = keras.Model(inp, build(inp))
    x = data((9, 4, 3), 1)
    np.testing.assert_allclose(model.predict(x, verbose=0), build(np.asarray(x)) if fn.endswith("scalar_forward")
                               else np.tanh(x), rtol=3e-7)
    assert calls(model) == ["elementwise.chain_forward" if fusion else fn]
    (call,) = model._inference_engine().plan.program.calls()
    assert {type(a).__name__ for a in call.args} >= {"InputRows", "PredRows"}


def test_same_numbers_as_without_the_rewrite_on_both_interpreters(monkeypatch):
    """Rewritten (eager: the model called on arrays with training=True, which runs the eager interpreter over a
    program of its own; compiled: the generated step) against the program with its copies, bit for bit."""
    x = data((70, 6), 2)
    rewritten = chain_model()
    eager = np.asarray(rewritten(x, training=True))
    monkeypatch.setattr(engine, "BACKGROUND", False)
    compiled = rewritten.predict(x, batch_size=16, verbose=0)
    assert rewritten._inference_engine()._fn is not None  # the generated step ran
    monkeypatch.setattr(predict_io, "rewrite", lambda program: None)
    plain_model = chain_model()
    plain = plain_model.predict(x, batch_size=16, verbose=0)
    assert "data.gather_rows" in calls(plain_model) and "tensor_ops.copy_into" in calls(plain_model)
    np.testing.assert_array_equal(compiled, plain)
    np.testing.assert_array_equal(eager, plain)


@pytest.mark.parametrize("compiled", [False, True])
def test_a_shuffled_order_is_gathered(compiled, monkeypatch):
    """The engine given rows out of order (predict never does, but the step takes any order): the chain reads the
    gathered rows, as it read the copy before."""
    monkeypatch.setattr(engine, "BACKGROUND", not compiled)
    model = chain_model()
    x = data((12, 6), 3)
    model.predict(x, verbose=0)
    prepared = model._prepare_inputs(x)
    order = np.random.default_rng(0).permutation(12).astype(np.int64)
    out = (np.full((12, 6), np.nan, np.float32),)
    prepared.engine.predict(prepared.xs, out, order, 0, 3, 4)
    xo = x[order]
    np.testing.assert_allclose(out[0], np.tanh(2 * xo + 1) * np.exp(-xo), rtol=1e-6, atol=1e-7)


def test_float64_inputs_to_a_float32_model():
    model = chain_model()
    x = data((8, 6), 4, "float64")
    got = model.predict(x, verbose=0)
    assert got.dtype == np.float32
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(got, np.tanh(2 * x32 + 1) * np.exp(-x32), rtol=1e-6, atol=1e-7)


def test_buffers_with_other_readers_keep_their_copies():
    inp = keras.Input((5,))
    y = ops.exp(inp * 0.5)
    model = keras.Model(inp, [y, ops.tanh(inp), y * 2.0])  # inp read twice, y an output read again
    x = data((7, 5), 5)
    a, b, c = model.predict(x, verbose=0)
    np.testing.assert_allclose(a, np.exp(x * 0.5), rtol=1e-6)
    np.testing.assert_allclose(b, np.tanh(x), rtol=3e-7)
    np.testing.assert_allclose(c, np.exp(x * 0.5) * 2, rtol=1e-6)
    # inp (read by the chain exp(inp * 0.5) and by tanh) is gathered once; y (also read by y * 2) is copied out;
    # tanh(inp) and y * 2 (chains of one instruction) write their outputs directly
    assert calls(model) == ["data.gather_rows"] + ["elementwise.chain_forward"] * 3 + ["tensor_ops.copy_into"]
    assert sum(isinstance(a, PredRows) for c in model._inference_engine().plan.program.calls(("forward",))
               for a in c.args) == 2


def test_other_kernels_are_left_alone():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x = data((6, 4), 6)
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ model.get_weights()[0], rtol=1e-5, atol=1e-6)
    assert calls(model) == ["data.gather_rows", "dense.dense_forward", "tensor_ops.copy_into"]


def test_trained_models_keep_their_copies():
    model = chain_model()
    model.compile(loss="mse")
    x = data((8, 6), 7)
    model.fit(x, x, epochs=1, verbose=0)
    program = model._inference_engine().plan.program
    assert not program.predict_only and "data.gather_rows" in calls(model)


def test_a_predict_program_refuses_other_modes():
    model = chain_model()
    x = data((4, 6), 8)
    model.predict(x, verbose=0)
    eng = model._inference_engine()
    with pytest.raises(RuntimeError, match="predict only"):
        eng._run_eagerly(TEST, (x,), (), (), (), np.arange(4), 0, 1, 4, np.zeros(2), np.zeros(1), np.empty(0),
                         *eng._scratch(4))


def test_the_generated_step_refuses_other_modes():
    from nbkeras.models import codegen

    model = chain_model()
    model.predict(data((4, 6), 9), verbose=0)
    plan = model._inference_engine().plan
    source, _, _ = codegen.generate(plan.program, plan.arena, plan.arena.n_trainable)
    assert "if mode != 2:" in source and "predict only" in source and "data.input_rows(X[0], order, b0, b1" in source


def test_input_rows_kernel():
    src = np.arange(20, dtype=np.float32).reshape(5, 4)
    dst = np.full((3, 4), -1.0, np.float32)
    view = D.input_rows(src, np.array([9, 1, 2, 3, 9], np.int64) % 5, 1, 4, dst)
    np.testing.assert_array_equal(view, src[1:4].reshape(-1))
    assert np.shares_memory(view, src) and (dst == -1).all()  # consecutive: a view, nothing copied
    got = D.input_rows(src, np.array([4, 0, 2], np.int64), 0, 3, dst)
    np.testing.assert_array_equal(got, src[[4, 0, 2]].reshape(-1))
    assert np.shares_memory(got, dst)
    assert D.input_rows(src, np.array([4, 0], np.int64), 1, 1, dst).shape == (0,)
    with pytest.raises(ValueError, match="index values"):
        D.input_rows(src, np.array([5], np.int64), 0, 1, dst)
    with pytest.raises(ValueError, match="fewer rows"):
        D.input_rows(src, np.arange(5, dtype=np.int64), 0, 5, dst)
