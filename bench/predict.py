"""Inference on W1's model (Dense 784-256 relu-128 relu-10 softmax): single-row latency and batch-1024 throughput,
nbkeras against PyTorch and Keras 3 (JAX), measured side by side in one run.

    python bench/predict.py [--rounds 5] [--frameworks nbkeras,nbkeras2,torch,torch1,keras]

Per framework, in its own worker process, taking turns round by round (a 1 s settle pause before each turn):
  one_row   ``predict_on_batch(x[:1])`` (PyTorch: ``model(x[:1])`` under ``torch.no_grad()``), microseconds, the
            median of 2,000 calls;
  call      ``model(x[:1])`` (the Keras way to call a model on arrays), microseconds, median of 2,000 calls;
  b1024     ``predict(x, batch_size=1024)`` over 16,384 rows (PyTorch: ``model(x[i:i+1024])`` per batch), samples/s.
Frameworks: ``nbkeras`` (its default: one BLAS thread), ``nbkeras2`` (``NBKERAS_NUM_THREADS=2``), ``torch``
(its default threads), ``torch1`` (``torch.set_num_threads(1)``), ``keras`` (Keras 3 on JAX, its defaults).
``--load`` adds a busy process spinning on one core during the whole run (the "machine under load" condition).
"""

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time

import numpy as np

SIZES = (784, 256, 128, 10)
ROWS = 16384


def weights(seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        out += [rng.normal(0, np.sqrt(2.0 / a), (a, b)).astype(np.float32), np.zeros(b, np.float32)]
    return out


class KerasLike:
    def __init__(self, module):
        k = module
        self.model = k.Sequential([k.Input((SIZES[0],)), k.layers.Dense(SIZES[1], activation="relu"),
                                   k.layers.Dense(SIZES[2], activation="relu"),
                                   k.layers.Dense(SIZES[3], activation="softmax")])
        self.model.set_weights(weights())

    def one_row(self, x):
        return self.model.predict_on_batch(x)

    def call(self, x):
        return self.model(x)

    def batch(self, x):
        return self.model.predict(x, batch_size=1024, verbose=0)


class Torch:
    def __init__(self, threads=None):
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        w = weights()
        layers = []
        for i in range(3):
            lin = torch.nn.Linear(SIZES[i], SIZES[i + 1])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(w[2 * i].T.copy()))
                lin.bias.copy_(torch.from_numpy(w[2 * i + 1]))
            layers += [lin, torch.nn.ReLU() if i < 2 else torch.nn.Softmax(dim=1)]
        self.model = torch.nn.Sequential(*layers).eval()

    def one_row(self, x):
        with self.torch.no_grad():
            return self.model(self.torch.from_numpy(x)).numpy()

    call = one_row

    def batch(self, x):
        out = []
        with self.torch.no_grad():
            for i in range(0, x.shape[0], 1024):
                out.append(self.model(self.torch.from_numpy(x[i:i + 1024])).numpy())
        return np.concatenate(out)


def make(name):
    if name in ("nbkeras", "nbkeras2"):
        if name == "nbkeras2":
            os.environ["NBKERAS_NUM_THREADS"] = "2"
        import nbkeras

        return KerasLike(nbkeras)
    if name == "keras":
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras

        return KerasLike(keras)
    return Torch(1 if name == "torch1" else None)


def worker(name, conn):
    runner = make(name)
    x = np.random.default_rng(1).normal(size=(ROWS, SIZES[0])).astype(np.float32)
    one = x[:1].copy()
    for _ in range(200):
        runner.one_row(one)
        runner.call(one)
    runner.batch(x)
    conn.send("ready")
    while conn.recv() == "round":
        result = {}
        for what, fn, arg in (("one_row", runner.one_row, one), ("call", runner.call, one)):
            times = []
            for _ in range(2000):
                t = time.perf_counter()
                fn(arg)
                times.append(time.perf_counter() - t)
            result[what] = statistics.median(times) * 1e6
        t = time.perf_counter()
        runner.batch(x)
        result["b1024"] = ROWS / (time.perf_counter() - t)
        conn.send(result)


def importable(name):
    module = {"nbkeras": "nbkeras", "nbkeras2": "nbkeras", "torch": "torch", "torch1": "torch", "keras": "keras"}
    try:
        if name == "keras":
            os.environ.setdefault("KERAS_BACKEND", "jax")
            import jax  # noqa: F401
        __import__(module[name])
        return True
    except Exception:
        return False


def spin(stop):
    while not stop.is_set():
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frameworks", default="nbkeras,nbkeras2,torch,torch1,keras")
    parser.add_argument("--load", action="store_true", help="run with a process spinning on one core")
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from workloads import cpu_model, versions

    frameworks = [f for f in args.frameworks.split(",") if importable(f)]
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    loader = ctx.Process(target=spin, args=(stop,), daemon=True) if args.load else None
    if loader:
        loader.start()
    print(f"# {time.strftime('%Y-%m-%d')}, {cpu_model()}, {os.cpu_count()} cores; {versions()}; "
          f"{'one core kept busy by another process' if loader else 'no added load'}, load average "
          f"{os.getloadavg()[0]:.1f}")
    pipes = {}
    for name in frameworks:
        parent, child = ctx.Pipe()
        ctx.Process(target=worker, args=(name, child), daemon=True).start()
        pipes[name] = parent
    for name in frameworks:
        assert pipes[name].recv() == "ready"
    results = {name: [] for name in frameworks}
    for _ in range(args.rounds):
        for name in frameworks:
            time.sleep(1.0)
            pipes[name].send("round")
            results[name].append(pipes[name].recv())
    for name in frameworks:
        pipes[name].send("stop")
    if loader:
        stop.set()
    med = {name: {k: statistics.median(r[k] for r in results[name]) for k in ("one_row", "call", "b1024")}
           for name in frameworks}
    print(f"| {args.rounds} rounds, medians | " + " | ".join(frameworks) + " |")
    print("|---" * (len(frameworks) + 1) + "|")
    print("| predict_on_batch, 1 row (us) | " + " | ".join(f"{med[f]['one_row']:.0f}" for f in frameworks) + " |")
    print("| model(x), 1 row (us) | " + " | ".join(f"{med[f]['call']:.0f}" for f in frameworks) + " |")
    print("| predict, batch 1024 (samples/s) | " + " | ".join(f"{med[f]['b1024']:,.0f}" for f in frameworks) + " |")
    if "nbkeras" in med:
        for f in frameworks:
            if f != "nbkeras":
                m, o = med["nbkeras"], med[f]
                print(f"# nbkeras vs {f}: 1-row latency {o['one_row'] / m['one_row']:.2f}x lower, call "
                      f"{o['call'] / m['call']:.2f}x lower, batch-1024 throughput {m['b1024'] / o['b1024']:.2f}x")


if __name__ == "__main__":
    main()
