"""A model whose compiled step calls a parallel kernel (the convolutions' threaded split), loaded from the disk cache
in a fresh process: numba's thread pool must be started (it segfaulted before conv.py started it at import)."""

import subprocess
import sys

SCRIPT = """
import numpy as np, nbkeras as keras
L = keras.layers
model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
                          L.Flatten(), L.Dense(3, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy")
x = np.random.default_rng(0).random((16, 8, 8, 1)).astype("float32")
print(model.predict(x, verbose=0).shape)
model.fit(x, np.arange(16) % 3, epochs=1, verbose=0)
print("ok")
"""


def test_a_cnn_runs_again_from_the_cache_in_a_fresh_process():
    for _ in range(2):  # the second process loads the generated step (and its parallel callee) from the cache
        done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.split()[-1] == "ok"
