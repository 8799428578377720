"""A sweep of distinct small architectures trained one epoch each in one process: time and memory per model.

    python bench/sweep.py [--models 50] [--samples 512]

Each model differs in structure (depth, activations, a dropout or not, the optimizer), so each one's train step is
generated and compiled (or loaded from the cache) anew. The script prints, every 10 models, the process's resident
memory (RSS, MiB) and the time so far; it ends with the growth per model. Models are dropped after training, so
the loader may free their compiled code (nbkeras/models/loader.py).
"""

import argparse
import gc
import itertools
import time

import numpy as np


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def architectures():
    acts = ["relu", "tanh", "sigmoid", "elu", "gelu", "softplus"]
    opts = ["adam", "sgd", "rmsprop", "adagrad", "nadam"]
    for depth, act, opt, dropout in itertools.product((1, 2, 3), acts, opts, (False, True)):
        yield depth, act, opt, dropout


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--samples", type=int, default=512)
    args = parser.parse_args()
    import nbkeras as keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.samples, 16)).astype("float32")
    y = rng.integers(0, 4, size=args.samples)
    start, base = time.perf_counter(), rss_mib()
    print(f"# nbkeras sweep: {args.models} architectures, {args.samples} samples each; RSS at start {base:.0f} MiB")
    for i, (depth, act, opt, dropout) in enumerate(itertools.islice(architectures(), args.models), 1):
        layers = [keras.Input((16,))]
        for d in range(depth):
            layers.append(keras.layers.Dense(32 - 4 * d, activation=act))
            if dropout:
                layers.append(keras.layers.Dropout(0.1))
        layers.append(keras.layers.Dense(4, activation="softmax"))
        model = keras.Sequential(layers)
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        del model
        gc.collect()
        if i % 10 == 0 or i == args.models:
            print(f"{i:3d} models  {time.perf_counter() - start:7.1f} s  RSS {rss_mib():6.0f} MiB", flush=True)
    grown = rss_mib() - base
    print(f"# RSS grew {grown:.0f} MiB over {args.models} models: {grown / args.models:.1f} MiB per model")


if __name__ == "__main__":
    main()
