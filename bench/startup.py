"""W5: a fresh process from start to the end of one epoch of W1's model on 2,000 samples -- wall time and peak
RSS -- with an empty and with a warm nbkeras compile cache, next to PyTorch and Keras 3 (JAX) when installed; and
the time of ``import nbkeras``.

    python bench/startup.py [--repeats 3]

Each figure is the median over ``repeats`` fresh processes (the empty-cache runs each get a new cache directory).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

EPOCH = """
import time, os
t0 = time.perf_counter()
import numpy as np
{imports}
rng = np.random.default_rng(0)
x = rng.normal(size=(2000, 784)).astype("float32")
y = rng.integers(0, 10, size=2000)
{train}
print("seconds_in_process", time.perf_counter() - t0)
"""

KERAS_TRAIN = """
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(256, activation="relu"),
                          keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
model.fit(x, y, batch_size=128, epochs=1, verbose=0)
"""

TORCH_TRAIN = """
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
                            torch.nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
xt, yt = torch.from_numpy(x), torch.from_numpy(y)
perm = torch.randperm(2000)
for b0 in range(0, 2000, 128):
    idx = perm[b0:b0 + 128]
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
    opt.step()
"""

SCRIPTS = {
    "nbkeras": EPOCH.format(imports="import nbkeras as keras", train=KERAS_TRAIN),
    "keras": EPOCH.format(imports="os.environ.setdefault('KERAS_BACKEND', 'jax')\nimport keras", train=KERAS_TRAIN),
    "torch": EPOCH.format(imports="import torch", train=TORCH_TRAIN),
}
IMPORT = "import time; t = time.perf_counter(); import nbkeras; print('seconds_in_process', time.perf_counter() - t)"


def run(code, env=None, python=sys.executable):
    """(wall seconds, peak RSS in MiB, seconds measured inside) of a fresh interpreter running ``code``."""
    t = time.perf_counter()
    proc = subprocess.Popen([python, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    if status != 0:
        raise RuntimeError(f"benchmark process failed:\n{err}")
    inner = float(out.split("seconds_in_process")[-1])
    return wall, usage.ru_maxrss / 1024.0, inner


def available(name, env):
    code = f"import {name}" + ("; import jax" if name == "keras" else "")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, env=env).returncode == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter for the nbkeras runs (e.g. a clean venv with only nbkeras's dependencies; "
                             "numba imports SciPy's BLAS when SciPy is installed, which adds ~0.4 s to its import)")
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.startswith("NBKERAS_")}
    base.setdefault("KERAS_BACKEND", "jax")
    py = args.python
    rows = []
    cold = []
    for _ in range(args.repeats):
        env = dict(base, NBKERAS_CACHE_DIR=tempfile.mkdtemp(prefix="nbkeras-bench-"))
        cold.append(run(SCRIPTS["nbkeras"], env, py))
    rows.append(("nbkeras, empty cache", cold))
    warm_env = dict(base, NBKERAS_CACHE_DIR=tempfile.mkdtemp(prefix="nbkeras-bench-"))
    run(SCRIPTS["nbkeras"], warm_env, py)
    rows.append(("nbkeras, warm cache", [run(SCRIPTS["nbkeras"], warm_env, py) for _ in range(args.repeats)]))
    rows.append(("import nbkeras", [run(IMPORT, warm_env, py) for _ in range(args.repeats)]))
    for name in ("torch", "keras"):
        if available(name, base):
            rows.append((name, [run(SCRIPTS[name], base) for _ in range(args.repeats)]))
    print(f"# {time.strftime('%Y-%m-%d')}, {args.repeats} fresh processes each, medians; nbkeras runs under {py}")
    print("| W5 (2,000 samples of W1, one epoch) | process wall s | in-process s | peak RSS MiB |")
    print("|---|---|---|---|")
    for label, results in rows:
        wall = statistics.median(r[0] for r in results)
        rss = statistics.median(r[1] for r in results)
        inner = statistics.median(r[2] for r in results)
        print(f"| {label} | {wall:.2f} | {inner:.2f} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main()
