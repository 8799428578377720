"""Time the recurrent kernels alone on the shapes of workloads W6 and W7 (forward, backward; medians).

W6: GRU(32), T=40, D=1, N=100, reset_after (Keras 3's default). W7: LSTM(64), T=100, D=64, N=32.
Float32, no masks or dropout, dx computed in both (the timing is of the kernel alone, not of the trainer).
--save / --compare write and check the outputs against an earlier run (to see that a change kept the numbers).

    .venv/bin/python bench/rnn_profile.py [--repeats 30]
"""

import argparse
import time

import numpy as np

from nbkeras.kernels import policy
from nbkeras.kernels.cpu import recurrent as R

E = np.empty((0,), np.float32)
E2 = np.empty((0, 0), np.float32)
E3 = np.empty((0, 0, 0), np.float32)


def _median(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(ts))


def gru_case(repeats, rng):
    n, t, d, u = 100, 40, 1, 32
    f = np.float32
    x = rng.standard_normal((n, t, d)).astype(f)
    h0 = np.zeros((n, u), f)
    k = (rng.standard_normal((d, 3 * u)) * 0.3).astype(f)
    rk = (rng.standard_normal((u, 3 * u)) * 0.2).astype(f)
    b = (rng.standard_normal(6 * u) * 0.1).astype(f)
    seq = np.empty((n, t, u), f)
    ht = np.empty((n, u), f)
    cache = np.empty(R.gru_cache_size(n, t, d, u), f)
    dseq = np.zeros((n, t, u), f)
    dht = rng.standard_normal((n, u)).astype(f)
    dx = np.empty((n, t, d), f)
    dk, drk, db = np.empty_like(k), np.empty_like(rk), np.empty_like(b)

    def fwd():
        R.gru_forward(x, h0, k, rk, b, E2, E3, E3, 1, 2, True, False, False, seq, ht, cache)

    def bwd():
        R.gru_backward(x, h0, k, rk, b, E2, E3, E3, 1, 2, True, False, False, cache, dseq, dht, dx, E2, dk, drk,
                       db, False)
    fwd()
    return _median(fwd, repeats), _median(bwd, repeats), (seq.copy(), dk.copy(), drk.copy(), dx.copy())


def lstm_case(repeats, rng):
    n, t, d, u = 32, 100, 64, 64
    f = np.float32
    x = (rng.standard_normal((n, t, d)) * 0.05).astype(f)
    h0 = np.zeros((n, u), f)
    c0 = np.zeros((n, u), f)
    k = (rng.standard_normal((d, 4 * u)) * 0.1).astype(f)
    rk = (rng.standard_normal((u, 4 * u)) * 0.1).astype(f)
    b = (rng.standard_normal(4 * u) * 0.1).astype(f)
    seq = np.empty((n, t, u), f)
    ht = np.empty((n, u), f)
    ct = np.empty((n, u), f)
    cache = np.empty(R.lstm_cache_size(n, t, d, u), f)
    dseq = np.zeros((n, t, u), f)
    dht = rng.standard_normal((n, u)).astype(f)
    dct = np.zeros((n, u), f)
    dx = np.empty((n, t, d), f)
    dk, drk, db = np.empty_like(k), np.empty_like(rk), np.empty_like(b)

    def fwd():
        R.lstm_forward(x, h0, c0, k, rk, b, E2, E3, E3, 1, 2, False, False, seq, ht, ct, cache)

    def bwd():
        R.lstm_backward(x, h0, c0, k, rk, b, E2, E3, E3, 1, 2, False, False, cache, dseq, dht, dct, dx, E2, E2,
                        dk, drk, db, False)
    fwd()
    return _median(fwd, repeats), _median(bwd, repeats), (seq.copy(), dk.copy(), drk.copy(), dx.copy())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--save", default="")
    p.add_argument("--compare", default="")
    a = p.parse_args()
    rng = np.random.default_rng(0)
    outs = {}
    with policy.compute_threads():
        for name, case in (("W6 GRU(32) T=40 N=100", gru_case), ("W7 LSTM(64) T=100 N=32 D=64", lstm_case)):
            f, b, o = case(a.repeats, rng)
            outs[name] = o
            print(f"{name}: forward {f:.2f} ms, backward {b:.2f} ms, total {f + b:.2f} ms")
    if a.save:
        np.savez(a.save, **{f"{i}_{j}": v for i, o in enumerate(outs.values()) for j, v in enumerate(o)})
    if a.compare:
        ref = np.load(a.compare)
        for i, o in enumerate(outs.values()):
            for j, v in enumerate(o):
                print(f"case {i} out {j}: max abs diff {np.max(np.abs(ref[f'{i}_{j}'] - v)):.2e}")


if __name__ == "__main__":
    main()
