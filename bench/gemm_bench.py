"""GEMM throughput for the three products of a dense layer, next to NumPy's own matmul.

    python bench/gemm_bench.py [--reps 5] [--sample-ms 50] [--warm-ms 150] [--dtype float32]

For the layers of the W1 MLP (784-256, 256-128, 128-10) at batch 32, 128 and 1024 it times

    forward  y  = x @ w        gemm(False, False, 1, x, w, 0, y)      np.matmul(x, w, out=y)
    dW       dw = x^T @ dy     gemm(True,  False, 1, x, dy, 0, dw)    np.matmul(x.T, dy, out=dw)
    dX       dx = dy @ w^T     gemm(False, True,  1, dy, w, 0, dx)    np.matmul(dy, w.T, out=dx)

for NumPy, the selected ``gemm`` (policy.GEMM_MODE) and ``gemm_numba`` (the fallback), each at the thread count
it would use in training. The machine may be shared, so absolute times drift: every repetition times each
implementation once, in rotating order, after a short untimed warm-up of that same implementation (see
``interleaved_medians``), and the table reports medians; compare the ratios, which are measured side by side.
Nothing is asserted.
"""

import argparse
import ctypes
import os
import platform
import sys
import time

import numba
import numpy as np

from nbkeras.kernels import policy
from nbkeras.kernels.blas import find_blas
from nbkeras.kernels.cpu import gemm as G

LAYERS = ((784, 256), (256, 128), (128, 10))
BATCHES = (32, 128, 1024)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_threads():
    """The thread count of NumPy's OpenBLAS (used by np.matmul in every mode), or a note when it cannot be read."""
    found = policy.BLAS or find_blas()
    if found is None:
        return "no OpenBLAS found"
    lib = ctypes.CDLL(found.path)
    for name in ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
                 "openblas_get_num_threads64_", "openblas_get_num_threads"):
        fn = getattr(lib, name, None)
        if fn is not None:
            return str(fn())
    return "unknown"


def problems(batch, fan_in, units, dtype, rng):
    """[(product, (trans_a, trans_b, a, b), numpy callable, output shape)] for one layer and batch."""
    x = rng.standard_normal((batch, fan_in)).astype(dtype)
    w = rng.standard_normal((fan_in, units)).astype(dtype)
    dy = rng.standard_normal((batch, units)).astype(dtype)
    return [
        ("forward", (False, False, x, w), (x, w), (batch, units)),
        ("dW", (True, False, x, dy), (x.T, dy), (fan_in, units)),
        ("dX", (False, True, dy, w), (dy, w.T), (batch, fan_in)),
    ]


def callables(gemm_args, np_args, out_shape, dtype, impls):
    ta, tb, a, b = gemm_args
    calls = {}
    for name, fn in impls.items():
        out = np.empty(out_shape, dtype)
        if fn is None:
            calls[name] = lambda out=out: np.matmul(*np_args, out=out)
        else:
            calls[name] = lambda fn=fn, out=out: fn(ta, tb, 1.0, a, b, 0.0, out)
    return calls


def calls_per_sample(fn, sample_s):
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t >= sample_s or n >= 1 << 20:
            return n
        n *= 2


def interleaved_medians(calls, reps, sample_s, warm_s):
    """Median seconds per call of each callable; each repetition times all of them, in rotating order.

    Each timed sample follows ``warm_s`` of untimed calls of the same callable. Measured on this 2-vCPU VM: the
    numba GEMM's second thread ran at full speed only after ~0.1-0.2 s of back-to-back calls (60 GFLOP/s for the
    forward product at batch 128, 31 right after an idle pause or a NumPy sample, whose OpenBLAS threads spin for
    ~0.15 s after each product). A training loop calls back to back, so the warm state is the one to report.
    """
    names = list(calls)
    counts = {k: calls_per_sample(calls[k], sample_s) for k in names}
    samples = {k: [] for k in names}
    for r in range(reps):
        for k in names[r % len(names):] + names[:r % len(names)]:
            fn, n = calls[k], counts[k]
            t = time.perf_counter()
            while time.perf_counter() - t < warm_s:
                fn()
            t = time.perf_counter()
            for _ in range(n):
                fn()
            samples[k].append((time.perf_counter() - t) / n)
    return {k: float(np.median(v)) for k, v in samples.items()}


def header(dtype):
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "not started"
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return [
        f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs (nbkeras runs BLAS at {policy.NUM_THREADS} thread(s))",
        f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}",
        f"policy.GEMM_MODE={policy.GEMM_MODE}, policy.NUM_THREADS={policy.NUM_THREADS}, "
        f"numba threads={numba.get_num_threads()} ({layer} layer, OMP_WAIT_POLICY="
        f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}), OpenBLAS threads={blas_threads()}",
        f"dtype {np.dtype(dtype).name}; load average (1/5/15 min) at start: {load}",
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions per product (median taken)")
    parser.add_argument("--sample-ms", type=float, default=50.0, help="length of one timed sample")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES), help="batch sizes to run")
    parser.add_argument("--warm-ms", type=float, default=150.0, help="untimed calls before each sample")
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype).type
    sample_s = args.sample_ms / 1000.0

    selected = f"gemm ({policy.GEMM_MODE})"
    impls = {"numpy": None, selected: G.gemm}
    if G.gemm is not G.gemm_numba:
        impls["gemm_numba"] = G.gemm_numba

    rng = np.random.default_rng(0)
    table = []
    for batch in args.batches:
        for fan_in, units in LAYERS:
            for product, gemm_args, np_args, out_shape in problems(batch, fan_in, units, dtype, rng):
                table.append((batch, f"{fan_in}x{units}", product, 2.0 * batch * fan_in * units,
                              callables(gemm_args, np_args, out_shape, dtype, impls)))
    # Warm-up: compile, start thread pools, and run every product once (OpenBLAS's first products of one shape
    # can run at a third of their later speed until a transposed product has run; see bench/README.md).
    for *_, calls in table:
        for fn in calls.values():
            fn()

    for line in header(dtype):
        print(line)
    names = list(impls)
    cols = ["batch", "layer", "product"] + [f"{n} GFLOP/s" for n in names] + [f"{n} / numpy" for n in names[1:]]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    t_start = time.perf_counter()
    for batch, layer, product, flops, calls in table:
        med = interleaved_medians(calls, args.reps, sample_s, args.warm_ms / 1000.0)
        rates = [flops / med[n] / 1e9 for n in names]
        ratios = [med["numpy"] / med[n] for n in names[1:]]
        row = [str(batch), layer, product] + [f"{r:.1f}" for r in rates] + [f"{q:.2f}" for q in ratios]
        print("| " + " | ".join(row) + " |", flush=True)

    square = 1024
    a = rng.standard_normal((square, square)).astype(dtype)
    b = rng.standard_normal((square, square)).astype(dtype)
    peak_calls = callables((False, False, a, b), (a, b), (square, square), dtype, impls)
    med = interleaved_medians(peak_calls, 3, sample_s, args.warm_ms / 1000.0)
    peak = ", ".join(f"{n} {2.0 * square ** 3 / med[n] / 1e9:.1f}" for n in names)
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"GEMM peak ({square}^3, GFLOP/s): {peak}")
    print(f"measured in {time.perf_counter() - t_start:.0f} s; load average at end: {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
