"""Warnings raised on the main thread while a train step compiles in the background reach the main thread's
``warnings.catch_warnings(record=True)`` (numba's type inference swapped the process's warning hook to record its
own, and took them: 82 of 4.7M probes were lost before the builder thread stopped doing that)."""

import random
import time
import warnings

import numpy as np

import nbkeras as keras
from nbkeras.models import engine

ACTS = ["relu", "tanh", "sigmoid", "elu", "gelu", "softplus", "selu", "swish"]


def test_no_warning_is_lost_while_a_step_compiles(monkeypatch):
    monkeypatch.setattr(engine, "COMPILE_AFTER", 0.0)
    monkeypatch.setattr(engine, "_is_cached", lambda steps, args: False)
    pick = random.Random(time.time_ns())  # a structure this machine has probably not compiled: a long window
    lost = probes = 0
    deadline = time.perf_counter() + 4.0
    while time.perf_counter() < deadline:
        model = keras.Sequential([keras.Input((7,))] + [keras.layers.Dense(5, activation=pick.choice(ACTS))
                                                         for _ in range(4)] + [keras.layers.Dense(3)])
        model.compile(optimizer="sgd", loss="mse")
        x = np.random.default_rng(0).normal(size=(32, 7)).astype("float32")
        model.fit(x, np.zeros((32, 3), "float32"), batch_size=8, epochs=1, verbose=0)  # submits the compilation
        while model._engine._fn is None and time.perf_counter() < deadline:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                warnings.warn("probe", UserWarning)
            probes += 1
            lost += not any("probe" in str(w.message) for w in caught)
        model._engine._function()
    assert probes > 0
    assert lost == 0, f"{lost} of {probes} warnings were taken by the compiling thread"
