"""python -m nbkeras.warmup: its recipes cover every layer type, and the kernels it compiles eagerly are the very
specialisations a compiled train step calls (so a warmed cache compiles no kernel at run time)."""

import inspect
import json
import os
import subprocess
import sys
import textwrap

import nbkeras as keras
from nbkeras import warmup
from nbkeras.layers.base import Layer

NOT_A_LAYER_TYPE = {"Layer", "InputLayer"}


def layer_classes(layer, out):
    out.add(type(layer))
    for attr in ("layer", "forward_layer", "backward_layer", "cell"):
        inner = getattr(layer, attr, None)
        if isinstance(inner, Layer):
            layer_classes(inner, out)
    return out


def test_recipes_cover_every_public_layer_class():
    public = {getattr(keras.layers, n) for n in dir(keras.layers)
              if inspect.isclass(getattr(keras.layers, n)) and issubclass(getattr(keras.layers, n), Layer)
              and n not in NOT_A_LAYER_TYPE}
    seen = set()
    for name, build, _, _ in warmup._recipes(keras):
        for layer in build().layers:
            layer_classes(layer, seen)
    missing = sorted(c.__name__ for c in public - seen)
    assert not missing, f"warmup recipes miss {missing}"


def test_recipes_cover_every_optimizer_and_activation():
    from nbkeras import activations, optimizers

    assert set(warmup.ACTIVATIONS) == set(activations._FUNCTIONS.values()) - {"linear", "threshold", "glu"}
    named = {n.lower() for n in dir(optimizers) if inspect.isclass(getattr(optimizers, n))} - {"optimizer"}
    assert set(warmup.OPTIMIZERS) == named


def test_unknown_recipe_is_refused():
    import pytest

    with pytest.raises(ValueError, match="unknown recipe"):
        warmup.run(["no_such_thing"], out=None)


CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import nbkeras as keras
    from nbkeras import warmup
    from nbkeras.kernels import cpu
    if sys.argv[1] == "warm":
        warmup.run(["dense_relu"], out=None)
    else:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        x = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
        y = np.arange(8) % 3
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)
        model.evaluate(x, y, batch_size=4, verbose=0)
        model.predict(x, batch_size=4, verbose=0)
    misses = {}
    for family in dir(cpu):
        module = getattr(cpu, family)
        for name in dir(module):
            d = getattr(module, name)
            if hasattr(d, "stats") and getattr(d, "__module__", "").startswith("nbkeras.kernels"):
                n = sum(d.stats.cache_misses.values())
                if n:
                    misses[family + "." + name] = n
    print(json.dumps(misses))
""")


def test_a_warmed_cache_compiles_no_kernel_for_the_compiled_step(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBKERAS_", "NUMBA_"))}
    env.update(NBKERAS_CACHE_DIR=str(tmp_path), NBKERAS_BACKGROUND_COMPILE="0")

    def child(mode):
        out = subprocess.run([sys.executable, "-c", CHILD, mode], env=env, capture_output=True, text=True,
                             check=True, timeout=900)
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert child("warm")  # an empty cache: the warm-up compiled kernels
    assert child("train") == {}
