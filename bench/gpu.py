"""nbkeras on an NVIDIA GPU against PyTorch CUDA, side by side in one run (issue 11).

    python bench/gpu.py [--rounds 3] [--only W1b1024,W3,W6] [--n-scale 1.0]

Needs a real GPU with nbkeras's ``[cuda]`` extra (numba-cuda); PyTorch is compared when ``torch.cuda`` works. On a
machine without a GPU it says so and measures nothing (the simulator's speed means nothing).

Workloads (bench/workloads.py defines them): W1 at batch 1024 (Dense 784-256-128-10, Adam), W3 (the small CNN,
batch 64) and W6 (GRU(32) over 40 steps, batch 100). Each framework runs in its own process; they take turns, one
timed epoch each per round after a warm-up epoch, and the table gives median samples/s, the ratio, nbkeras's
kernel launches per training step and its peak host RSS. A second table times the CUDA matrix product (the
shared-memory tiled ``gemm`` against the one-thread-per-output ``gemm_naive``) at the W1 layer shapes.
"""

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads

GPU_WORKLOADS = {"W1b1024": dict(workloads.WORKLOADS["W1"], batch=1024), "W3": workloads.WORKLOADS["W3"],
                 "W6": workloads.WORKLOADS["W6"]}


def gpu_ready():
    from nbkeras import devices

    return devices.real_gpu_available()


def torch_cuda_ready():
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return False


class TorchCudaRunner(workloads.TorchRunner):
    def __init__(self, spec, x, y):
        super().__init__(spec, x, y)
        torch = self.torch
        self.dev = torch.device("cuda")
        self.model.to(self.dev)
        if self.rnn is not None:
            self.rnn.to(self.dev)
            if self.embed is not None:
                self.embed.to(self.dev)
        params = [p for group in self.opt.param_groups for p in group["params"]]
        self.opt = type(self.opt)(params, **{k: v for k, v in self.opt.defaults.items() if k in ("lr", "eps",
                                                                                               "momentum")})
        self.x, self.y = self.x.to(self.dev), self.y.to(self.dev)

    def epoch(self):
        torch = self.torch
        n = self.x.shape[0]
        perm = torch.randperm(n, device=self.dev)
        for b0 in range(0, n, self.batch):
            idx = perm[b0:b0 + self.batch]
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(self.forward(self.x[idx]), self.y[idx])
            loss.backward()
            self.opt.step()
        torch.cuda.synchronize()


def worker(name, key, conn):
    spec = GPU_WORKLOADS[key]
    x, y = workloads.make_data(spec)
    if name == "nbkeras":
        os.environ["NBKERAS_DEVICE"] = "cuda"
        runner = workloads.NbkerasRunner(spec, x, y)
    else:
        runner = TorchCudaRunner(spec, x, y)
    runner.epoch()  # warm-up: compiles, copies the data
    while conn.recv() == "epoch":
        t0 = time.perf_counter()
        runner.epoch()
        rate = spec["n"] / (time.perf_counter() - t0)
        launches = getattr(getattr(getattr(runner, "model", None), "_engine", None), "launches_per_step", None)
        conn.send((rate, launches, workloads._peak_rss_mib()))
    conn.close()


def gemm_table(rounds):
    from nbkeras.kernels.cuda import gemm
    from numba import cuda

    rows = []
    for (m, k, n) in ((1024, 784, 256), (1024, 256, 128), (1024, 128, 10)):
        rng = np.random.default_rng(0)
        a = cuda.to_device(rng.normal(size=(m, k)).astype("float32"))
        b = cuda.to_device(rng.normal(size=(k, n)).astype("float32"))
        c = cuda.device_array((m, n), np.float32)
        out = {}
        for label, fn in (("tiled", gemm.gemm), ("naive", gemm.gemm_naive)):
            fn(False, False, 1.0, a, b, 0.0, c)
            cuda.synchronize()
            times = []
            for _ in range(max(rounds, 5)):
                t0 = time.perf_counter()
                for _ in range(20):
                    fn(False, False, 1.0, a, b, 0.0, c)
                cuda.synchronize()
                times.append((time.perf_counter() - t0) / 20)
            out[label] = 2 * m * k * n / min(times) / 1e9
        rows.append((f"{m}x{k} @ {k}x{n}", out["tiled"], out["naive"]))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(GPU_WORKLOADS))
    args = parser.parse_args()
    if not gpu_ready():
        print("bench/gpu.py: no usable CUDA GPU here (or the [cuda] extra is missing): nothing measured.")
        return 0
    names = ["nbkeras"] + (["torch"] if torch_cuda_ready() else [])
    print(f"frameworks: {', '.join(names)}")
    print("| workload | nbkeras | PyTorch CUDA | nbkeras / PyTorch | launches per step | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    ctx = mp.get_context("spawn")
    for key in args.only.split(","):
        procs = {}
        for name in names:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=worker, args=(name, key, child))
            p.start()
            procs[name] = (p, parent)
        results = {name: [] for name in names}
        for _ in range(args.rounds):
            for name, (_, conn) in procs.items():
                conn.send("epoch")
                results[name].append(conn.recv())
        for p, conn in procs.values():
            conn.send("stop")
            p.join()
        nb = statistics.median(r[0] for r in results["nbkeras"])
        th = statistics.median(r[0] for r in results["torch"]) if "torch" in results else None
        launches = results["nbkeras"][-1][1]
        print(f"| {key} | {nb:,.0f} | {'-' if th is None else f'{th:,.0f}'} | "
              f"{'-' if th is None else f'{nb / th:.2f}x'} | {launches:.0f} | {results['nbkeras'][-1][2]:.0f} |")
    print("\n| product (float32) | tiled GFLOP/s | naive GFLOP/s | tiled / naive |")
    print("|---|---|---|---|")
    for label, tiled, naive in gemm_table(args.rounds):
        print(f"| {label} | {tiled:.0f} | {naive:.0f} | {tiled / naive:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
