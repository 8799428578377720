"""The generated train step is written to the compile cache and loaded, not recompiled, by a second process."""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    import nbkeras as keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = np.arange(16) % 2
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    steps = model._engine._function()[0]
    print(json.dumps({"hits": sum(steps.stats.cache_hits.values()),
                      "misses": sum(steps.stats.cache_misses.values()),
                      "loss": history.history["loss"]}))
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
    assert first["misses"] == 1 and first["hits"] == 0
    assert second["hits"] == 1 and second["misses"] == 0
    assert first["loss"] == second["loss"]
    generated = [f for root, _, files in os.walk(tmp_path) for f in files if f.startswith("nbkeras_generated_")]
    assert any(f.endswith(".py") for f in generated)
