"""A sweep of distinct small architectures, one epoch each in one process: nbkeras against Keras 3 (JAX) and
PyTorch doing the same. The workload where per-model compile latency and overhead show.

    python bench/sweep.py [--models 50] [--samples 512] [--frameworks nbkeras,keras,torch] [--repeats 1]

Fifty architectures drawn (seeded) from: dense or convolutional; depth 1-3; width 16, 32 or 64; activation relu,
tanh, sigmoid, elu, gelu or softplus; optimizer adam, sgd, rmsprop, adagrad or nadam; a dropout after each hidden
layer or not. Dense models see 16 features, convolutional ones 8x8x1 images (3x3 'same' convolutions, then global
average pooling); 4 classes, sparse categorical crossentropy, batch 32, 512 samples. Each framework runs the whole
sweep in one fresh process; the table gives the process's wall time, the time inside it from the first model to the
last, and its peak RSS.

nbkeras runs twice: ``nbkeras (new steps)`` with a copy of this machine's kernel cache but none of its generated
train steps, so every architecture is new to it (its first batches run eagerly while the step compiles in the
background); ``nbkeras (cached)`` with the real cache, after one run has filled it. ``--list`` prints the
architectures.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time

from cache_copy import kernels_only_copy

ACTS = ("relu", "tanh", "sigmoid", "elu", "gelu", "softplus")
OPTS = ("adam", "sgd", "rmsprop", "adagrad", "nadam")


def architectures(n, seed=0):
    rng = random.Random(seed)
    seen, out = set(), []
    while len(out) < n:
        spec = (rng.choice(("dense", "conv")), rng.randint(1, 3), rng.choice((16, 32, 64)), rng.choice(ACTS),
                rng.choice(OPTS), rng.random() < 0.5)
        if spec not in seen:
            seen.add(spec)
            out.append(spec)
    return out


COMMON = """
import json, os, sys, time
t_start = time.perf_counter()
import numpy as np
SPECS = json.loads(sys.argv[1])
N = int(sys.argv[2])
rng = np.random.default_rng(0)
XD = rng.normal(size=(N, 16)).astype("float32")
XC = rng.normal(size=(N, 8, 8, 1)).astype("float32")
Y = rng.integers(0, 4, size=N)
def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
"""

KERAS_BODY = """
{imports}
t0 = time.perf_counter()
for kind, depth, width, act, opt, dropout in SPECS:
    L = keras.layers
    layers = [keras.Input((16,) if kind == "dense" else (8, 8, 1))]
    for _ in range(depth):
        layers.append(L.Dense(width, activation=act) if kind == "dense" else
                      L.Conv2D(width, 3, padding="same", activation=act))
        if dropout:
            layers.append(L.Dropout(0.1))
    if kind == "conv":
        layers.append(L.GlobalAveragePooling2D())
    layers.append(L.Dense(4, activation="softmax"))
    model = keras.Sequential(layers)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    model.fit(XD if kind == "dense" else XC, Y, batch_size=32, epochs=1, verbose=0)
print(json.dumps({{"sweep": time.perf_counter() - t0, "rss": peak_rss()}}))
"""

TORCH_BODY = """
import torch
torch.manual_seed(0)
ACT = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "elu": torch.nn.ELU,
       "gelu": torch.nn.GELU, "softplus": torch.nn.Softplus}
def optimizer(name, params):
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3, eps=1e-7)
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.01)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=1e-3, alpha=0.9, eps=1e-7)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=1e-3, initial_accumulator_value=0.1, eps=1e-7)
    return torch.optim.NAdam(params, lr=1e-3, eps=1e-7)
class GAP(torch.nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))
xd, xc, yt = torch.from_numpy(XD), torch.from_numpy(XC.transpose(0, 3, 1, 2).copy()), torch.from_numpy(Y)
t0 = time.perf_counter()
for kind, depth, width, act, opt, dropout in SPECS:
    layers, fan = [], (16 if kind == "dense" else 1)
    for _ in range(depth):
        layers.append(torch.nn.Linear(fan, width) if kind == "dense" else torch.nn.Conv2d(fan, width, 3, padding=1))
        layers.append(ACT[act]())
        if dropout:
            layers.append(torch.nn.Dropout(0.1))
        fan = width
    if kind == "conv":
        layers.append(GAP())
    layers.append(torch.nn.Linear(fan, 4))
    model = torch.nn.Sequential(*layers)
    o = optimizer(opt, model.parameters())
    x = xd if kind == "dense" else xc
    perm = torch.randperm(N)
    model.train()
    for b0 in range(0, N, 32):
        idx = perm[b0:b0 + 32]
        o.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), yt[idx]).backward()
        o.step()
print(json.dumps({"sweep": time.perf_counter() - t0, "rss": peak_rss()}))
"""


def script(framework):
    if framework == "torch":
        return COMMON + TORCH_BODY
    imports = ("os.environ.setdefault('KERAS_BACKEND', 'jax')\nimport keras" if framework == "keras"
               else "import nbkeras as keras")
    return COMMON + KERAS_BODY.format(imports=imports)


def run(framework, specs, samples, env):
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", script(framework), json.dumps(specs), str(samples)], env=env,
                         capture_output=True, text=True, timeout=3600, check=False)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"{framework} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process"] = wall
    return result


def importable(name):
    code = {"nbkeras": "import nbkeras", "torch": "import torch", "keras": "import jax, keras"}[name]
    env = dict(os.environ)
    env.setdefault("KERAS_BACKEND", "jax")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, check=False, env=env).returncode == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--frameworks", default="nbkeras,keras,torch")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    specs = architectures(args.models)
    if args.list:
        for s in specs:
            print(s)
        return
    os.environ.setdefault("KERAS_BACKEND", "jax")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from workloads import cpu_model, versions

    base = {k: v for k, v in os.environ.items() if not k.startswith("NBKERAS_")}
    base.setdefault("KERAS_BACKEND", "jax")
    frameworks = [f for f in args.frameworks.split(",") if importable(f)]
    print(f"# {time.strftime('%Y-%m-%d')}, {cpu_model()}, {os.cpu_count()} cores; {versions()}; load average "
          f"{os.getloadavg()[0]:.1f}; {len(specs)} architectures x {args.samples} samples, one epoch each")
    print("| framework | process wall s | sweep s | per model s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    rows = {}
    for framework in frameworks:
        if framework == "nbkeras":
            from nbkeras.kernels import policy

            run("nbkeras", specs, args.samples, base)  # fills the real cache (kernels and steps)
            root = kernels_only_copy(policy.CACHE_DIR)
            try:
                rows["nbkeras (new steps)"] = run("nbkeras", specs, args.samples, dict(base, NBKERAS_CACHE_DIR=root))
            finally:
                shutil.rmtree(root, ignore_errors=True)
            rows["nbkeras (cached)"] = run("nbkeras", specs, args.samples, base)
        else:
            rows[framework] = run(framework, specs, args.samples, base)
    for label, r in rows.items():
        print(f"| {label} | {r['process']:.1f} | {r['sweep']:.1f} | {r['sweep'] / len(specs):.3f} | "
              f"{r['rss']:.0f} |", flush=True)
    for label in ("nbkeras (new steps)", "nbkeras (cached)"):
        for other in ("keras", "torch"):
            if label in rows and other in rows:
                print(f"# {label} vs {other}: sweep {rows[other]['sweep'] / rows[label]['sweep']:.2f}x faster, "
                      f"process {rows[other]['process'] / rows[label]['process']:.2f}x faster")


if __name__ == "__main__":
    main()
