"""Kernel launches per training step on the CUDA path, counted in numba's CUDA simulator (the count does not depend
on the device): small models with the layer shapes of W1, W3 (with and without BatchNormalization) and W6.

    python bench/cuda_launches.py
"""
import os
os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
import numpy as np
import nbkeras as keras
L = keras.layers
rng = np.random.default_rng(0)
cases = {
 "MLP Dense(16,relu)-Dense(8,relu)-Dense(10,softmax), Adam": (lambda: keras.Sequential([keras.Input((12,)), L.Dense(16, activation="relu"), L.Dense(8, activation="relu"), L.Dense(10, activation="softmax")]), (12,), 10),
 "CNN Conv2D(4,3,relu)-MaxPool-Conv2D(4,3,relu)-MaxPool-Flatten-Dense(10,softmax), Adam (W3's shape of layers)": (lambda: keras.Sequential([keras.Input((12, 12, 1)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(2), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(1), L.Flatten(), L.Dense(10, activation="softmax")]), (12, 12, 1), 10),
 "CNN with BatchNormalization": (lambda: keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"), L.BatchNormalization(), L.MaxPooling2D(2), L.Flatten(), L.Dense(10, activation="softmax")]), (8, 8, 1), 10),
 "GRU(4)-Dense(10,softmax), Adam (W6's shape of layers)": (lambda: keras.Sequential([keras.Input((6, 1)), L.GRU(4), L.Dense(10, activation="softmax")]), (6, 1), 10),
}
for name, (build, shape, k) in cases.items():
    with keras.device("gpu:0"):
        m = build()
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.normal(size=(8,) + shape).astype("float32"); y = rng.integers(0, k, 8)
    m.fit(x, y, batch_size=4, epochs=1, verbose=0)
    calls = sum(len(m._engine.plan.program.sections[s]) for s in ("forward", "metrics", "backward", "update"))
    print(f"{name}: {m._engine.launches_per_step:.0f} launches per training step, {calls} kernel calls in its Program")
