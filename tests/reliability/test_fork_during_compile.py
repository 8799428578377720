"""A fork while the background thread compiles a train step: the fork waits for that compilation (numba's
compiler lock is held across it), so the child can still compile, and its model trains and compiles its own step
(it used to inherit a compiler lock held by a thread that does not exist in the child: any compilation hung)."""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import numba
    import nbkeras as keras
    from nbkeras.models import engine
    engine.COMPILE_AFTER = 0.0
    engine._is_cached = lambda steps, args: False  # compile in the background even if cached
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((7,)), keras.layers.Dense(5, activation="tanh"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(64, 7)).astype("float32")
    y = np.arange(64) % 3
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # eager; the step is now compiling in the background
    pid = os.fork()
    if pid == 0:
        try:
            f = numba.njit(lambda a: a * 3 + 1)  # a compilation in the child
            assert f(2) == 7
            model.fit(x, y, batch_size=8, epochs=1, verbose=0)
            model._engine._function()  # the child compiles (or has) its own step
            model.fit(x, y, batch_size=8, epochs=1, verbose=0)
            os._exit(0)
        except BaseException as exc:
            print("child failed:", repr(exc), flush=True)
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    model._engine._function()
    print("child status", os.waitstatus_to_exitcode(status))
    sys.exit(os.waitstatus_to_exitcode(status))
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_during_a_background_compilation_leaves_the_child_able_to_compile():
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBKERAS_")}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert "child status 0" in out.stdout
