"""Shared fixtures for the callback tests: a stand-in model and a controllable clock and terminal."""

import io
import types

import numpy as np
import pytest


class FakeModel:
    """The model surface callbacks touch: stop_training, optimizer.learning_rate, get/set_weights, history."""

    def __init__(self, learning_rate=0.01):
        self.stop_training = False
        self.optimizer = types.SimpleNamespace(learning_rate=learning_rate)
        self.weights = [np.zeros((2, 2), dtype="float32"), np.zeros(2, dtype="float32")]
        self.history = None

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]


class FakeClock:
    """Replaces the progress bar's `time` module; starts far from 0 like a real clock (Progbar's first redraw
    compares against a last-update time of 0)."""

    def __init__(self, now=1000.0):
        self.now = now

    def time(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def model():
    return FakeModel()


@pytest.fixture
def clock(monkeypatch):
    from nbkeras.utils import progbar

    fake = FakeClock()
    monkeypatch.setattr(progbar, "time", fake)
    return fake


@pytest.fixture
def terminal(monkeypatch):
    """Make the progress bar's stdout a terminal; read what was written with `terminal.getvalue()`.

    Patches the `sys` that nbkeras.utils.progbar sees, because pytest's output capture re-installs its own
    sys.stdout when the test body starts."""
    from nbkeras.utils import progbar

    fake = FakeTerminal()
    monkeypatch.setattr(progbar, "sys", types.SimpleNamespace(stdout=fake))
    return fake
