"""A structure whose step is not compiled yet trains on the eager interpreter while the step compiles on the
background thread, then switches to it -- with the numbers of a run compiled from the start."""

import numpy as np
import pytest

import nbkeras as keras
from nbkeras.models import engine


def build():
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dropout(0.25),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data():
    rng = np.random.default_rng(3)
    return rng.normal(size=(96, 6)).astype("float32"), rng.integers(0, 3, size=96)


@pytest.fixture
def as_if_never_compiled(monkeypatch):
    """Every step counts as missing from the cache (it may be there from an earlier run), and compiles after the
    first eager call."""
    monkeypatch.setattr(engine, "_is_cached", lambda steps, args: False)
    monkeypatch.setattr(engine, "COMPILE_AFTER", 0.0)


def test_eager_then_compiled_gives_the_compiled_numbers(as_if_never_compiled, monkeypatch):
    x, y = data()
    model = build()
    first = model.fit(x, y, batch_size=16, epochs=2, verbose=0).history
    e = model._engine
    assert e._eager_calls >= 1  # the first batches ran eagerly
    e._function()  # wait for the background compilation
    assert e._fn is not None
    second = model.fit(x, y, batch_size=16, epochs=2, verbose=0).history
    calls = e._eager_calls
    evaluated = model.evaluate(x, y, verbose=0)
    predicted = model.predict(x, verbose=0)
    assert e._eager_calls == calls  # from now on, compiled

    monkeypatch.setattr(engine, "BACKGROUND", False)
    reference = build()
    ref_first = reference.fit(x, y, batch_size=16, epochs=2, verbose=0).history
    assert reference._engine._eager_calls == 0
    ref_second = reference.fit(x, y, batch_size=16, epochs=2, verbose=0).history
    assert first == ref_first and second == ref_second
    assert evaluated == reference.evaluate(x, y, verbose=0)
    np.testing.assert_array_equal(predicted, reference.predict(x, verbose=0))
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_failed_compilation_is_reported_to_the_caller(as_if_never_compiled, monkeypatch):
    x, y = data()
    model = build()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    e = model._engine
    e._done.wait(timeout=600)
    e._fn, e._failed = None, ValueError("planted")
    with pytest.raises(RuntimeError, match="compiling the train step failed.*planted.*run_eagerly=True"):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)


def test_predict_before_fit_on_a_new_structure_runs_eagerly_first(as_if_never_compiled):
    x, _ = data()
    model = build()
    out = model.predict(x, verbose=0)
    assert model._inference_engine()._eager_calls >= 1
    model._inference_engine()._function()
    np.testing.assert_array_equal(out, model.predict(x, verbose=0))


def test_waiting_for_a_step_that_was_never_submitted_compiles_it(monkeypatch):
    """A short fit stays under COMPILE_AFTER: nothing was submitted, and _function() compiles it itself (it hung)."""
    monkeypatch.setattr(engine, "_is_cached", lambda steps, args: False)
    monkeypatch.setattr(engine, "COMPILE_AFTER", 1e9)
    x, y = data()
    model = build()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    e = model._engine
    assert e._fn is None and e._pending is not None
    assert e._function() is not None and e._pending is None
