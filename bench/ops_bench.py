"""keras.ops inside nbkeras models: the cost of writing a layer or an expression with ops instead of built-ins.

    python bench/ops_bench.py [--rounds 3] [--n 25600] [--size 1048576]

(a) Training: the W1 network (Dense 784-256 relu-128 relu-10 softmax, sparse categorical crossentropy, Adam 1e-3,
    batch 128, float32) built twice -- once with the built-in ``Dense(relu)`` hidden layers, once with a custom
    ``Layer`` whose ``call`` is ``ops.relu(ops.matmul(x, w) + b)`` -- and trained in one process, one timed epoch
    each in turn per round after a warm-up epoch (which also compiles). Reports median samples/s and the ratio.
    The issue's target: the custom layer within 1.5x of the built-in one.
(b) Elementwise chains of ops in a functional model's ``predict`` over ``--size`` float32 values (one batch), against
    the same chain written in NumPy on the same array: ns per element, best of the rounds (at least 5), and single
    ops to show where a chain's time goes. The target: not slower per element than NumPy.

Measured (2-core machine shared with other jobs, defaults): (a) Dense(relu) 114k samples/s, OpDense 99k (1.15x the
time); (b) ns/element, predict vs NumPy in the same run, at load ~1.5-2 (another agent working). "unfused": the same
code with the fusion pass switched off (fuse_elementwise.fuse replaced by the identity), run alternately:
                            fused, float32 tanh   unfused, f32 tanh    fused, tanh via f64  before (unfused, f64)
    tanh(2x+1)*exp(-x)      1.38, 1.40 vs 0.91    1.57, 1.40 vs 0.97   1.62, 1.52 vs 0.91   1.77 vs 0.98 (1.81x)
    (x*x*0.5+3x-1)/(x*x+1)  0.98, 1.08 vs 0.70    1.71, 1.44 vs 0.86   1.06, 0.96 vs 0.80   1.38 vs 0.81 (1.70x)
    x*2+1 (one op: unfused) 0.49, 0.47 vs 0.17                                              0.41 vs 0.15
    tanh(x)                 0.47, 0.46 vs 0.17                         0.75 vs 0.16         0.80 vs 0.16 (4.9x)
    exp(x)                  0.59, 0.62 vs 0.32                         0.58 vs 0.33         0.57 vs 0.33
Those rows timed a model's first predicts, partly on the eager interpreter while the step compiled. The bench now
waits for the compiled step before timing (steady state, as NumPy's): 2026-11-30, load ~1, best of 10:
tanh(2x+1)*exp(-x) 1.29 vs 1.01 (1.28x), (x*x*0.5+3x-1)/(x*x+1) 0.86 vs 0.82 (1.05x), x*2+1 0.43 vs 0.20,
tanh 0.45 vs 0.17, exp 0.61 vs 0.35. Four later runs the same night (load ~1) put the chains at 1.27-1.33
vs 0.91-0.95 (1.40x) and 0.90-0.99 vs 0.66-0.73 (1.32-1.50x): NumPy's own time for the second chain moved from
0.82 to 0.66-0.73, so its 1.05x was the kind end of the range. x*2+1 taken apart (the engine's predict timed alone,
output preallocated): gather + chain + copy 0.26 ns an element, of which the input gather and the output copy are
~0.07 each.
Fusion (nbkeras/models/fuse_elementwise.py) runs a chain of ops in a forward-only program as one
elementwise.chain_forward call: blocks of 4096 values, each op one loop over the block, the intermediates in cache.
vmath's float32 tanh now runs in float32 arithmetic (0.18 ns an element alone, NumPy 0.17; was 0.45 via float64).
2026-11-30, later (load 0.5-0.7, three runs of this script, then one with --size 4194304), after four changes: the
predict program reads the input rows and writes the result's rows in place (nbkeras/models/predict_io.py: no gather,
no output copy), float32 exp in float32 arithmetic (0.18 ns an element, was 0.29), long chains shared among numba's
threads (elementwise.chain_forward), and a lone op run as a chain of one. ns per element, the time against NumPy's:
                            2 threads                      1 thread                       NumPy
    tanh(2x+1)*exp(-x)      0.45-0.47 (0.58-0.59x)         0.60-0.63 (0.78-0.80x)         0.76-0.82
    (x*x*0.5+3x-1)/(x*x+1)  0.32-0.37 (0.57-0.62x)         0.40-0.43 (0.67-0.76x)         0.56-0.60
    x*2+1                   0.14 (0.88-1.06x)              0.13 (0.82-1.00x)              0.13-0.16
    tanh(x)                 0.19-0.20 (1.17-1.26x)         0.21-0.22 (1.33-1.37x)         0.16-0.17
    exp(x)                  0.20-0.22 (0.59-0.68x)         0.22-0.23 (0.69-0.70x)         0.32-0.33
    4M values: the chains 0.27x and 0.22x (1 thread 0.42x, 0.32x: NumPy's passes leave the cache), x*2+1 0.90x
    (1.04x), tanh(x) 0.97x (1.27x), exp(x) 0.55x (0.69x).
A chain of several ops beats NumPy on one thread too; x*2+1 is even with it. tanh(x) alone is not: vmath's tanh is
as fast as NumPy's (0.17), so predict's fixed cost (~31 us of Python a call, plus the step's dispatch) is what it
loses by at 1M values. Left: ~25 ns per instruction per block in chain_forward (measured with 64-element blocks;
it keeps blocks at 4096 values, so every instruction reads and writes L1/L2 rather than registers).

Earlier (before fusion, one run): tanh(2x+1)*exp(-x) 2.42 vs 1.06, was 14.7 vs 1.09 before kernels/cpu/vmath.py,
when elementwise.unary_forward called scalar libm tanh/exp (~14 and ~2 ns an element). vmath's vectorised versions
compute float32 in float64 (8 lanes): exp 0.29 ns an element alone (NumPy 0.33), tanh 0.45. A model of the single op
x*1.0 costs ~0.28 ns an element where the kernel itself takes 0.06.
"""

import argparse
import statistics
import time

import numba
import numpy as np

import nbkeras as keras
from nbkeras import ops


class OpDense(keras.layers.Layer):
    """A Dense-like layer written with ops: relu(x @ w + b)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        return ops.relu(ops.matmul(inputs, self.w) + self.b)


def w1_model(custom):
    hidden = (lambda u: OpDense(u)) if custom else (lambda u: keras.layers.Dense(u, activation="relu"))
    model = keras.Sequential([keras.Input((784,)), hidden(256), hidden(128),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return model


def w1_data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 784)).astype("float32")
    teacher = rng.normal(size=(784, 10)).astype("float32")
    return x, (x @ teacher).argmax(axis=1).astype("int64")


def bench_training(n, rounds):
    x, y = w1_data(n)
    models = {"Dense(relu)": w1_model(False), "OpDense (ops)": w1_model(True)}
    models["OpDense (ops)"].set_weights(models["Dense(relu)"].get_weights())
    rates = {name: [] for name in models}
    for model in models.values():  # warm-up: compile and first epoch
        model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    for _ in range(rounds):
        for name, model in models.items():
            t0 = time.perf_counter()
            model.fit(x, y, batch_size=128, epochs=1, verbose=0)
            rates[name].append(n / (time.perf_counter() - t0))
    return {name: statistics.median(r) for name, r in rates.items()}


CHAINS = {
    "tanh(2x+1)*exp(-x)": (lambda o, x: o.tanh(x * 2.0 + 1.0) * o.exp(-x)),
    "(x*x*0.5+3x-1)/(x*x+1)": (lambda o, x: (x * x * 0.5 + x * 3.0 - 1.0) / (x * x + 1.0)),
    # single ops, to say where a chain's time goes (predict's fixed cost is in the x*2+1 row)
    "x*2+1": (lambda o, x: x * 2.0 + 1.0),
    "tanh(x)": (lambda o, x: o.tanh(x)),
    "exp(x)": (lambda o, x: o.exp(x)),
}


def bench_chains(size, rounds):
    """ns per element of each chain: (predict on numba's threads, predict on one thread, NumPy), best of ``rounds``
    taken in turn in one process (numba.set_num_threads between the two predicts)."""
    cols = 1024
    rows = size // cols
    x = np.random.default_rng(1).uniform(-2, 2, size=(rows, cols)).astype("float32")
    threads = numba.get_num_threads()
    out = {}
    for name, chain in CHAINS.items():
        inp = keras.Input((cols,))
        model = keras.Model(inp, chain(ops, inp))
        got = model.predict(x, batch_size=rows, verbose=0)  # warm-up: runs eagerly, starts the step's compilation
        # Wait for the compiled step (a new model structure first runs on the eager interpreter while its step
        # compiles in the background), so that the rounds time the steady state, as NumPy's are.
        waiter = getattr(model._inference_engine(), "_function", None)
        if waiter is not None:
            waiter()
        model.predict(x, batch_size=rows, verbose=0)
        want = chain(np, x)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        times = ([], [], [])
        for _ in range(rounds):
            for k, n_threads in enumerate((threads, 1)):
                numba.set_num_threads(n_threads)
                t0 = time.perf_counter()
                model.predict(x, batch_size=rows, verbose=0)
                times[k].append(time.perf_counter() - t0)
            numba.set_num_threads(threads)
            t0 = time.perf_counter()
            chain(np, x)
            times[2].append(time.perf_counter() - t0)
        out[name] = tuple(min(t) / x.size * 1e9 for t in times)
    return out, threads


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=25600, help="training samples per epoch in (a)")
    parser.add_argument("--size", type=int, default=1 << 20, help="values per predict call in (b)")
    args = parser.parse_args()

    rates = bench_training(args.n, args.rounds)
    base = rates["Dense(relu)"]
    print(f"(a) W1 training, batch 128, Adam, {args.n} samples/epoch, median of {args.rounds} interleaved epochs")
    print(f"    {'hidden layers':<24}{'samples/s':>12}{'time vs Dense':>15}")
    for name, rate in rates.items():
        print(f"    {name:<24}{rate:>12.0f}{base / rate:>14.2f}x")
    chains, threads = bench_chains(args.size, max(args.rounds, 5))
    print(f"(b) elementwise chains over {args.size} float32 values, predict (on {threads} numba threads, then on 1) "
          f"and NumPy in turn, best of {max(args.rounds, 5)}; ns per element and the time against NumPy's")
    print(f"    {'chain':<28}{f'{threads} threads':>10}{'ratio':>8}{'1 thread':>10}{'ratio':>8}{'NumPy':>8}")
    for name, (t_model, t_one, t_np) in chains.items():
        print(f"    {name:<28}{t_model:>10.2f}{t_model / t_np:>7.2f}x{t_one:>10.2f}{t_one / t_np:>7.2f}x{t_np:>8.2f}")


if __name__ == "__main__":
    main()
