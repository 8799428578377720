"""Convolution kernels on the CNN workload's two layers, next to NumPy's matmul on the same im2col matrices.

    python bench/conv_bench.py [--reps 7] [--dtype float32]

Layers (channels-last, 'valid', stride 1): L1 = 28x28x1 -> Conv2D(32, 3), L2 = 13x13x32 -> Conv2D(64, 3), at
batch 64 and batch 1. For each it times

    forward   conv2d_forward (im2col + gemm), and the direct loop defined here that it was measured against
    backward  conv2d_backward with dx, and without (a first layer needs no input gradient)
    matmul    np.matmul on the im2col matrices of the whole batch, the GEMM ceiling of this machine:
              forward cols @ k2, dkernel cols^T @ dy2, dx dy2 @ k2^T (im2col/col2im themselves not included)
    torch     torch.nn.functional.conv2d forward at torch.set_num_threads(1), when torch is importable
    threads   conv2d_forward / conv2d_backward with the batch split among numba's threads (all of them, the
              kernels' default above conv.PARALLEL_MIN_WORK) against numba.set_num_threads(1)

and prints GFLOP/s (2 * multiply-adds of the convolution, 3 such products for a backward with dx, 2 without).
Every timing is the median (and the best) of ``--reps`` interleaved samples, after a warm-up; NumPy's OpenBLAS is
held at one thread (nbkeras's default), and every row but the "N threads" ones runs on one numba thread. It also
shows what a ``cols`` of one or a few images does at batch 64 (a part needs one image's patches, so one image
means no split). The load average is printed: on a shared machine the thread rows depend on it most. Nothing is
asserted; runs in well under a minute.
"""

import argparse
import os
import time

import numba
import numpy as np

from nbkeras.kernels import policy
from nbkeras.kernels.cpu import conv
from nbkeras.kernels.policy import kernel as compiled

LAYERS = (("L1 28x28x1 -> 32", 28, 1, 32), ("L2 13x13x32 -> 64", 13, 32, 64))
K = 3


@compiled
def direct_forward(x, kernel, out, sh, sw, pt, pl, dh, dw):
    """The alternative conv2d_forward was measured against (one group; out holds the bias):
    out[n, i, j, :] += x[n, ih, iw, c] * kernel[p, q, c, :] for every tap inside x, with the same generality
    (strides, pads, dilations). The inner loop runs from 0 along row views so that LLVM vectorises it (written
    with 2-D indices it stayed scalar, at 1.4 GFLOP/s on L1)."""
    n, h, w, c = x.shape
    kh, kw = kernel.shape[0], kernel.shape[1]
    oh, ow = out.shape[1], out.shape[2]
    x2 = x.reshape(-1, c)
    k2 = kernel.reshape(-1, kernel.shape[3])
    o2 = out.reshape(-1, out.shape[3])
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                orow = o2[(b * oh + i) * ow + j]
                for p in range(kh):
                    ih = i * sh - pt + p * dh
                    if ih < 0 or ih >= h:
                        continue
                    for q in range(kw):
                        iw = j * sw - pl + q * dw
                        if iw < 0 or iw >= w:
                            continue
                        s = (b * h + ih) * w + iw
                        for ci in range(c):
                            v = x2[s, ci]
                            krow = k2[(p * kw + q) * c + ci]
                            for o in range(orow.shape[0]):
                                orow[o] += v * krow[o]


def calls_per_sample(fn, min_s):
    fn()
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t >= min_s:
            return n
        n *= 2


def interleaved(calls, reps, threads, min_s=0.02):
    """{label: (median, best) seconds per call}; every repetition samples each callable once, in rotating order,
    so that a change in the machine's load hits all of them alike. ``threads[label]`` numba threads per call."""
    labels = list(calls)
    counts = {}
    for k in labels:
        numba.set_num_threads(threads.get(k, 1))
        counts[k] = calls_per_sample(calls[k], min_s)
    samples = {k: [] for k in labels}
    for r in range(reps):
        for k in labels[r % len(labels):] + labels[:r % len(labels)]:
            fn, n = calls[k], counts[k]
            numba.set_num_threads(threads.get(k, 1))
            t = time.perf_counter()
            for _ in range(n):
                fn()
            samples[k].append((time.perf_counter() - t) / n)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return {k: (float(np.median(v)), min(v)) for k, v in samples.items()}


def problem(batch, side, c, f, dtype, rng):
    o = side - K + 1
    x = rng.standard_normal((batch, side, side, c)).astype(dtype)
    kernel = (rng.standard_normal((K, K, c, f)) * 0.1).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    dy = rng.standard_normal((batch, o, o, f)).astype(dtype)
    return x, kernel, bias, dy, o


def rows_for(batch, side, c, f, dtype, rng, reps, chunk_images):
    x, kernel, bias, dy, o = problem(batch, side, c, f, dtype, rng)
    geo = (1, 1, 0, 0, 1, 1)
    per = conv.conv2d_scratch_min(o, o, K, K, c, 1)
    cols = np.empty(per * batch, dtype)
    out = np.empty((batch, o, o, f), dtype)
    dx, dk, db = np.empty_like(x), np.empty_like(kernel), np.empty_like(bias)
    no_dx = np.empty((0, 0, 0, 0), dtype)
    flop = 2.0 * batch * o * o * K * K * c * f
    calls, flops, threads = {}, {}, {}

    def add(label, fn, work, n_threads=1):
        calls[label], flops[label], threads[label] = fn, work, n_threads

    def direct():
        out[...] = bias
        direct_forward(x, kernel, out, *geo)

    add("forward: conv2d_forward (im2col + gemm)",
        lambda: conv.conv2d_forward(x, kernel, bias, out, cols, *geo, 1), flop)
    add("forward: direct loop (bench's own)", direct, flop)
    add("backward with dx", lambda: conv.conv2d_backward(x, kernel, dy, dx, dk, db, cols, *geo, 1, False), 3 * flop)
    add("backward without dx",
        lambda: conv.conv2d_backward(x, kernel, dy, no_dx, dk, db, cols, *geo, 1, False), 2 * flop)
    # The GEMM ceiling: the same products on ready-made im2col matrices.
    c2 = np.random.default_rng(0).standard_normal((batch * o * o, K * K * c)).astype(dtype)
    k2, d2 = kernel.reshape(-1, f), dy.reshape(-1, f)
    o2, dk2, dc2 = np.empty((c2.shape[0], f), dtype), np.empty_like(k2), np.empty_like(c2)
    add("np.matmul forward cols @ k2", lambda: np.matmul(c2, k2, out=o2), flop)
    add("np.matmul 3 products (fwd+bwd)", lambda: (np.matmul(c2, k2, out=o2), np.matmul(c2.T, d2, out=dk2),
                                                   np.matmul(d2, k2.T, out=dc2)), 3 * flop)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        tw = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        tb = torch.from_numpy(bias)

        def torch_forward():
            with torch.no_grad():
                torch.nn.functional.conv2d(tx, tw, tb)

        add("torch conv2d forward (1 thread)", torch_forward, flop)
    every = numba.config.NUMBA_NUM_THREADS
    if every > 1 and batch > 1:
        add(f"forward, {every} threads", lambda: conv.conv2d_forward(x, kernel, bias, out, cols, *geo, 1), flop, every)
        add(f"backward with dx, {every} threads",
            lambda: conv.conv2d_backward(x, kernel, dy, dx, dk, db, cols, *geo, 1, False), 3 * flop, every)
        add(f"backward without dx, {every} threads",
            lambda: conv.conv2d_backward(x, kernel, dy, no_dx, dk, db, cols, *geo, 1, False), 2 * flop, every)
    for images in chunk_images:
        small = np.empty(images * per, dtype)
        label = f"cols of {images} image{'s' if images > 1 else ''}"
        add(f"forward, {label}", lambda small=small: conv.conv2d_forward(x, kernel, bias, out, small, *geo, 1), flop)
        add(f"backward with dx, {label}",
            lambda small=small: conv.conv2d_backward(x, kernel, dy, dx, dk, db, small, *geo, 1, False), 3 * flop)
    times = interleaved(calls, reps, threads)
    return {k: (times[k], flops[k]) for k in calls}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    a = parser.parse_args(argv)
    rng = np.random.default_rng(1)
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"policy.GEMM_MODE={policy.GEMM_MODE}, dtype {a.dtype}, BLAS at one thread, numba threads "
          f"{numba.config.NUMBA_NUM_THREADS}; load average at start: {load}")
    with policy.compute_threads():
        for name, side, c, f in LAYERS:
            for batch in (64, 1):
                times = rows_for(batch, side, c, f, np.dtype(a.dtype), rng, a.reps, (1, 4) if batch > 1 else ())
                print(f"\n{name}, batch {batch}")
                print(f"  {'':44s} {'median ms':>10s} {'GFLOP/s':>8s} {'best ms':>8s} {'GFLOP/s':>8s}")
                for label, ((med, best), flop) in times.items():
                    print(f"  {label:44s} {med * 1e3:10.3f} {flop / med / 1e9:8.1f} {best * 1e3:8.3f} "
                          f"{flop / best / 1e9:8.1f}")
    print(f"\nload average at end: {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
