"""How long a model structure never seen on this machine waits for its first batch, per layer type.

    python bench/first_batch.py [--cases mlp,cnn,...] [--keras]

For each case a fresh process builds the model, calls ``fit`` and records the time from the call to the end of
the first batch (a callback) and to the end of the one epoch, and the process's wall time. Three cache states:

* ``warm kernels``: the kernel cache is a copy of this machine's (the case is first run once in the real cache to
  fill it) but the generated train steps are not there, so the structure is new -- the issue's "new model on a
  warm machine". Run twice: with the default background compilation and with ``NBKERAS_BACKGROUND_COMPILE=0``
  (compile the step before the first batch, the previous behaviour).
* ``fresh machine``: an empty cache folder (only with ``--fresh``: every kernel compiles, tens of seconds).
* Keras 3 on JAX for the same script (``--keras``, when installed): its per-model compile, for comparison.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from cache_copy import kernels_only_copy

CASES = {
    "mlp": ("(784,)", "[layers.Dense(64, activation='relu'), layers.Dense(64, activation='tanh'), "
                      "layers.Dense(10, activation='softmax')]", "sparse_categorical_crossentropy", "10"),
    "cnn": ("(28, 28, 1)", "[layers.Conv2D(8, 3, activation='relu'), layers.MaxPooling2D(), "
                           "layers.Conv2D(16, 3, activation='relu'), layers.Flatten(), "
                           "layers.Dense(10, activation='softmax')]", "sparse_categorical_crossentropy", "10"),
    "cnn_bn": ("(28, 28, 1)", "[layers.Conv2D(8, 3), layers.BatchNormalization(), layers.Activation('relu'), "
                              "layers.AveragePooling2D(2), layers.GlobalAveragePooling2D(), "
                              "layers.Dense(10, activation='softmax')]", "sparse_categorical_crossentropy", "10"),
    "conv1d": ("(64, 4)", "[layers.Conv1D(8, 5, activation='relu'), layers.MaxPooling1D(), "
                          "layers.GlobalMaxPooling1D(), layers.Dense(1)]", "mse", "0"),
    "lstm": ("(20, 8)", "[layers.LSTM(16), layers.Dense(1)]", "mse", "0"),
    "gru": ("(20, 8)", "[layers.GRU(16, return_sequences=True), layers.GRU(8), layers.Dense(1)]", "mse", "0"),
    "embedding": ("(30,)", "[layers.Embedding(1000, 16), layers.GlobalAveragePooling1D(), "
                           "layers.Dense(1, activation='sigmoid')]", "binary_crossentropy", "2"),
    "dropout_ln": ("(32,)", "[layers.Dense(64, activation='gelu'), layers.Dropout(0.3), "
                            "layers.LayerNormalization(), layers.Dense(4, activation='softmax')]",
                   "sparse_categorical_crossentropy", "4"),
}

SCRIPT = """
import os, time, json
t0 = time.perf_counter()
import numpy as np
{imports}
from keras_like import layers
shape = {shape}
rng = np.random.default_rng(0)
if {classes} == 0:
    y = rng.normal(size=(1024, 1)).astype("float32")
else:
    y = rng.integers(0, {classes}, size=1024)
if "{case}" == "embedding":
    x = rng.integers(0, 1000, size=(1024,) + shape)
else:
    x = rng.normal(size=(1024,) + shape).astype("float32")
model = keras.Sequential([keras.Input(shape)] + {layers})
model.compile(optimizer="adam", loss="{loss}")
class First(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            self.t = time.perf_counter()
first = First()
t1 = time.perf_counter()
model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[first])
t2 = time.perf_counter()
print(json.dumps({{"first_batch": first.t - t1, "epoch": t2 - t1}}))
"""


def script(case, framework):
    shape, layers, loss, classes = CASES[case]
    if framework == "keras":
        imports = "os.environ.setdefault('KERAS_BACKEND', 'jax')\nimport keras"
    else:
        imports = "import nbkeras as keras"
    body = SCRIPT.format(imports=imports, shape=shape, layers=layers, loss=loss, classes=classes, case=case)
    return body.replace("from keras_like import layers", "layers = keras.layers")


def run(code, env):
    import time

    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900,
                         check=False)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process"] = wall
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--keras", action="store_true", help="also time Keras 3 (JAX) on the same scripts")
    parser.add_argument("--fresh", action="store_true", help="also time an empty cache (slow)")
    args = parser.parse_args()
    from nbkeras.kernels import policy

    if policy.CACHE_DIR is None:
        sys.exit("the nbkeras compile cache is off; this benchmark measures it")
    base = {k: v for k, v in os.environ.items() if not k.startswith("NBKERAS_")}
    print(f"# new model structures, first batch and epoch (1,024 samples, batch 32), seconds; python "
          f"{sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}")
    print("| case | warm kernels: first batch | epoch | process | compile first (old): first batch | process |"
          + (" fresh machine: first batch |" if args.fresh else "") + (" Keras/JAX: first batch |" if args.keras
                                                                        else ""))
    print("|---|---|---|---|---|---|" + ("---|" if args.fresh else "") + ("---|" if args.keras else ""))
    for case in args.cases.split(","):
        code = script(case, "nbkeras")
        run(code, base)  # fills the real cache with this case's kernels
        cells = []
        for background in ("1", "0"):
            root = kernels_only_copy(policy.CACHE_DIR)
            try:
                r = run(code, dict(base, NBKERAS_CACHE_DIR=root, NBKERAS_BACKGROUND_COMPILE=background))
            finally:
                shutil.rmtree(root, ignore_errors=True)
            cells += ([r["first_batch"], r["epoch"], r["process"]] if background == "1" else
                      [r["first_batch"], r["process"]])
        if args.fresh:
            root = tempfile.mkdtemp(prefix="nbkeras-fresh-")
            try:
                cells.append(run(code, dict(base, NBKERAS_CACHE_DIR=root))["first_batch"])
            finally:
                shutil.rmtree(root, ignore_errors=True)
        if args.keras:
            cells.append(run(script(case, "keras"), base)["first_batch"])
        print(f"| {case} | " + " | ".join(f"{c:.2f}" for c in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
