"""Training throughput of nbkeras against PyTorch and Keras 3 (JAX), measured side by side in one run.

    python bench/workloads.py [--rounds 5] [--only W1,W2,W4] [--frameworks nbkeras,torch,keras]

Each framework lives in its own worker process (so no framework's thread pool competes with another's inside one
process); the workers take turns, one timed epoch each per round, and the table reports medians over rounds and
ratios to nbkeras. Frameworks that are not importable are skipped. Absolute samples/s drift on a shared machine;
the ratios, measured in one run, are the numbers to compare.

Workloads (see the issue that defines them):
  W1  Dense 784-256 relu-128 relu-10 softmax, sparse categorical crossentropy, Adam 1e-3, float32,
      60,000 synthetic samples labelled by a fixed random teacher network, batch 128, one epoch after a warm-up.
  W2  the same at batch 32.
  W4  Dense 8-16 tanh-1, MSE, SGD 0.01 momentum 0.9, 100,000 samples, batch 32.
  W6  GRU(32) over 40 time steps of 1 feature, Dense(10) softmax, sparse CE, Adam, 10,000 sequences, batch 100.
  W7  Embedding(10000, 64) -> LSTM(64) -> Dense(1) sigmoid over 100 token ids, binary CE, Adam, 3,200 sequences,
      batch 32.
  W3  CNN on 28x28x1: Conv2D(32, 3, relu), MaxPooling2D(2), Conv2D(64, 3, relu), MaxPooling2D(2), Flatten,
      Dense(10, softmax); sparse categorical crossentropy, Adam 1e-3, 6,000 synthetic images labelled by a fixed
      random linear teacher, batch 64. PyTorch's loop runs the same network in NCHW with its default threads.
"""

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time

import numpy as np

WORKLOADS = {
    "W1": dict(sizes=(784, 256, 128, 10), acts=("relu", "relu", "softmax"), loss="sparse_ce", opt="adam", n=60000,
               batch=128),
    "W2": dict(sizes=(784, 256, 128, 10), acts=("relu", "relu", "softmax"), loss="sparse_ce", opt="adam", n=60000,
               batch=32),
    "W4": dict(sizes=(8, 16, 1), acts=("tanh", "linear"), loss="mse", opt="sgd", n=100000, batch=32),
    "W3": dict(cnn=True, sizes=(784, 10), loss="sparse_ce", opt="adam", n=6000, batch=64),
    "W6": dict(rnn="gru", sizes=(40, 10), loss="sparse_ce", opt="adam", n=10000, batch=100),
    "W7": dict(rnn="lstm", sizes=(100, 1), loss="bce", opt="adam", n=3200, batch=32),
}


def make_data(spec, seed=0):
    """Inputs ~ N(0, 1); targets from a fixed random teacher network of the same shape (labels by argmax)."""
    rng = np.random.default_rng(seed)
    sizes = spec["sizes"]
    if spec.get("rnn") == "gru":
        x = rng.normal(size=(spec["n"], 40, 1)).astype("float32")
        return x, (np.abs(np.cumsum(x[:, :, 0], axis=1)[:, -1]) * 3).astype("int64").clip(0, 9)
    if spec.get("rnn") == "lstm":
        x = rng.integers(1, 10000, size=(spec["n"], 100)).astype("int64")
        return x, (x[:, :50].mean(axis=1) > 5000).astype("float32").reshape(-1, 1)
    if spec.get("cnn"):
        x = rng.random(size=(spec["n"], 28, 28, 1)).astype("float32")
        teacher = rng.normal(size=(784, 10)).astype("float32")
        return x, (x.reshape(spec["n"], -1) @ teacher).argmax(axis=1).astype("int64")
    x = rng.normal(size=(spec["n"], sizes[0])).astype("float32")
    h = x
    for i in range(len(sizes) - 1):
        w = rng.normal(scale=1.0 / np.sqrt(sizes[i]), size=(sizes[i], sizes[i + 1])).astype("float32")
        h = h @ w
        if i < len(sizes) - 2:
            h = np.tanh(h)
    if spec["loss"] == "sparse_ce":
        return x, h.argmax(axis=1).astype("int64")
    return x, h.astype("float32")


# ------------------------------------------------------------------- frameworks
class KerasScriptRunner:
    """The same Keras script for nbkeras and for Keras 3: only the imported module differs."""

    module = None

    def __init__(self, spec, x, y):
        if self.module == "keras":
            os.environ.setdefault("KERAS_BACKEND", "jax")
        keras = __import__(self.module)
        keras.utils.set_random_seed(0)
        if spec.get("rnn") == "gru":
            layers = [keras.Input((40, 1)), keras.layers.GRU(32), keras.layers.Dense(10, activation="softmax")]
        elif spec.get("rnn") == "lstm":
            layers = [keras.Input((100,)), keras.layers.Embedding(10000, 64), keras.layers.LSTM(64),
                      keras.layers.Dense(1, activation="sigmoid")]
        elif spec.get("cnn"):
            L = keras.layers
            layers = [keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                      L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                      L.Dense(10, activation="softmax")]
        else:
            layers = [keras.Input((spec["sizes"][0],))]
            for units, act in zip(spec["sizes"][1:], spec["acts"]):
                layers.append(keras.layers.Dense(units, activation=act))
        self.model = keras.Sequential(layers)
        opt = keras.optimizers.Adam(1e-3) if spec["opt"] == "adam" else keras.optimizers.SGD(0.01, momentum=0.9)
        loss = {"sparse_ce": "sparse_categorical_crossentropy", "bce": "binary_crossentropy"}.get(spec["loss"], "mse")
        self.model.compile(optimizer=opt, loss=loss)
        self.x, self.y, self.batch = x, y, spec["batch"]

    def epoch(self):
        self.model.fit(self.x, self.y, batch_size=self.batch, epochs=1, verbose=0)


class NbkerasRunner(KerasScriptRunner):
    module = "nbkeras"

    def warm_up(self):
        """The warm-up epoch, then the compiled step: a model structure new to the cache trains on the eager
        interpreter while its step compiles in the background, and only once its eager calls have taken 0.25 s
        (W4's whole epochs are shorter), so without this wait the timed epochs could measure the eager
        interpreter or share the CPU with the compiler. Keras/JAX's warm-up epoch likewise includes its jit."""
        self.epoch()
        wait = getattr(self.model._engine, "_function", None)
        if wait is not None:
            wait()


class KerasRunner(KerasScriptRunner):
    module = "keras"


class TorchRunner:
    """A plain PyTorch loop: shuffle indices, slice, forward, loss, backward, step."""

    def __init__(self, spec, x, y):
        import torch

        torch.manual_seed(0)
        mods = []
        sizes = spec["sizes"]
        self.rnn = None
        if spec.get("rnn"):
            nn = torch.nn
            if spec["rnn"] == "gru":
                self.rnn = nn.GRU(1, 32, batch_first=True)
                self.embed = None
                head = nn.Linear(32, 10)
            else:
                self.rnn = nn.LSTM(64, 64, batch_first=True)
                self.embed = nn.Embedding(10000, 64)
                head = nn.Linear(64, 1)
            mods = [head]
        if spec.get("cnn"):
            nn = torch.nn
            mods = [nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Flatten(), nn.Linear(64 * 5 * 5, 10)]
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # PyTorch's NCHW
        for i, act in enumerate(() if spec.get("cnn") or spec.get("rnn") else spec["acts"]):
            mods.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if act == "relu":
                mods.append(torch.nn.ReLU())
            elif act == "tanh":
                mods.append(torch.nn.Tanh())
        self.torch = torch
        self.model = torch.nn.Sequential(*mods)  # softmax is folded into cross_entropy, as PyTorch users write it
        params = list(self.model.parameters())
        if self.rnn is not None:
            params += list(self.rnn.parameters()) + (list(self.embed.parameters()) if self.embed is not None else [])
        self.opt = torch.optim.Adam(params, lr=1e-3, eps=1e-7) if spec["opt"] == "adam" else torch.optim.SGD(
            params, lr=0.01, momentum=0.9)
        F = torch.nn.functional
        self.loss = {"sparse_ce": F.cross_entropy, "bce": F.binary_cross_entropy_with_logits}.get(spec["loss"],
                                                                                                   F.mse_loss)
        self.x = torch.from_numpy(x)
        self.y = torch.from_numpy(y)
        self.batch = spec["batch"]

    def forward(self, x):
        if self.rnn is None:
            return self.model(x)
        if self.embed is not None:
            x = self.embed(x)
        out, _ = self.rnn(x)
        return self.model(out[:, -1])

    def epoch(self):
        torch = self.torch
        n = self.x.shape[0]
        perm = torch.randperm(n)
        for b0 in range(0, n, self.batch):
            idx = perm[b0:b0 + self.batch]
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(self.forward(self.x[idx]), self.y[idx])
            loss.backward()
            self.opt.step()


RUNNERS = {"nbkeras": NbkerasRunner, "torch": TorchRunner, "keras": KerasRunner,
           # an earlier nbkeras, from the source tree in $NBKERAS_BASELINE (a checkout whose nbkeras/kernels links to
           # its kernels/): how a change moved the numbers, measured in the same run
           "baseline": NbkerasRunner}


def importable(name):
    if name == "baseline":
        return bool(os.environ.get("NBKERAS_BASELINE"))
    module = {"nbkeras": "nbkeras", "torch": "torch", "keras": "keras"}[name]
    try:
        if name == "keras":
            os.environ.setdefault("KERAS_BACKEND", "jax")
            import jax  # noqa: F401
        __import__(module)
        return True
    except Exception:
        return False


def worker(name, workload, conn):
    if name == "baseline":
        sys.path.insert(0, os.environ["NBKERAS_BASELINE"])
    spec = WORKLOADS[workload]
    x, y = make_data(spec)
    runner = RUNNERS[name](spec, x, y)
    getattr(runner, "warm_up", runner.epoch)()  # warm-up epoch: compilation, tracing, allocator warm-up
    conn.send("ready")
    while conn.recv() == "epoch":
        t = time.perf_counter()
        runner.epoch()
        conn.send(time.perf_counter() - t)
    conn.send(_peak_rss_mib())


def _peak_rss_mib():
    """This process's peak resident set (VmHWM: per address space, unlike ru_maxrss, which survives exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def versions():
    out = [f"python {sys.version.split()[0]}", f"numpy {np.__version__}"]
    for mod in ("numba", "torch", "keras", "jax"):
        try:
            out.append(f"{mod} {__import__(mod).__version__}")
        except Exception:
            pass
    return ", ".join(out)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="W1,W2,W4")
    parser.add_argument("--frameworks", default="nbkeras,torch,keras")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="seconds of quiet before each timed epoch, so the previous framework's idle thread "
                             "pools stop spinning (without it, spinning pools collapsed batch-32 runs 15x)")
    args = parser.parse_args()
    frameworks = [f for f in args.frameworks.split(",") if importable(f)]
    print(f"# {time.strftime('%Y-%m-%d')}, {cpu_model()}, {os.cpu_count()} cores; {versions()}")
    print(f"# frameworks: {', '.join(frameworks)}; {args.rounds} rounds, medians of one-epoch samples/s")
    ctx = mp.get_context("spawn")
    print("| workload | " + " | ".join(f"{f} samples/s" for f in frameworks) + " | " +
          " | ".join(f"nbkeras / {f}" for f in frameworks if f != "nbkeras") + " |")
    print("|---" * (1 + 2 * len(frameworks) - 1) + "|")
    for workload in args.only.split(","):
        spec = WORKLOADS[workload]
        pipes, procs = {}, []
        for name in frameworks:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker, args=(name, workload, child), daemon=True)
            proc.start()
            pipes[name] = parent
            procs.append(proc)
        for name in frameworks:
            assert pipes[name].recv() == "ready"
        times = {name: [] for name in frameworks}
        for _ in range(args.rounds):
            for name in frameworks:  # interleaved: every framework once per round
                time.sleep(args.settle)
                pipes[name].send("epoch")
                times[name].append(pipes[name].recv())
        rss = {}
        for name in frameworks:
            pipes[name].send("stop")
            rss[name] = pipes[name].recv()
        for proc in procs:
            proc.join(timeout=60)
        rate = {name: spec["n"] / statistics.median(times[name]) for name in frameworks}
        ratios = [f"{rate['nbkeras'] / rate[f]:.2f}x" for f in frameworks if f != "nbkeras" and "nbkeras" in rate]
        print(f"| {workload} (batch {spec['batch']}) | " + " | ".join(f"{rate[f]:,.0f}" for f in frameworks) +
              " | " + " | ".join(ratios) + " |", flush=True)
        print("#   peak RSS MiB: " + ", ".join(f"{f} {rss[f]:.0f}" for f in frameworks), flush=True)


if __name__ == "__main__":
    main()
