"""The generated train step is written to the compile cache and loaded, not recompiled, by a second process.

The first process meets a structure it has never compiled: it trains on the eager interpreter while the step
compiles on the background thread, and exits without waiting for it -- the interpreter's exit waits for the
compilation in progress (never a crash), so the second process finds the step in the cache and runs it from its
first batch, with the same numbers."""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    import nbkeras as keras
    from nbkeras.models import engine
    engine.COMPILE_AFTER = 0.0  # start compiling after the first eager call, however short the training
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = np.arange(16) % 2
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    e = model._engine
    report = {"eager_calls": e._eager_calls, "loss": history.history["loss"]}
    if e._fn is not None and e._eager_calls == 0:
        steps = e._fn[0]
        report.update(hits=sum(steps.stats.cache_hits.values()), misses=sum(steps.stats.cache_misses.values()))
    print(json.dumps(report))
""")


def run(cache_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBKERAS_", "NUMBA_"))}
    env["NBKERAS_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True,
                         timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_the_generated_step_from_the_cache(tmp_path):
    first = run(str(tmp_path))
    second = run(str(tmp_path))
    assert first["eager_calls"] >= 1
    assert second["eager_calls"] == 0
    assert second["hits"] == 1 and second["misses"] == 0
    assert first["loss"] == second["loss"]
    generated = [f for root, _, files in os.walk(tmp_path) for f in files if f.startswith("nbkeras_generated_")]
    assert any(f.endswith(".py") for f in generated)
