"""Where one W3 training step spends its time: every kernel call of the step, timed one by one.

    python bench/cnn_profile.py [--steps 40] [--batch 64] [--against REV] [--unfused]

The W3 network (bench/workloads.py): 28x28x1 -> Conv2D(32, 3, relu) -> MaxPooling2D(2) -> Conv2D(64, 3, relu) ->
MaxPooling2D(2) -> Flatten -> Dense(10, softmax), Adam, sparse categorical crossentropy, float32.

It builds the model with nbkeras, trains it with ``run_eagerly=True`` (the eager interpreter runs the same kernels,
on the same buffers, in the same order as the compiled step) and wraps every kernel so that each call's wall time
is recorded. A step's calls come in a fixed order, so call number i of every step is the same kernel call; the
table gives, per call, the median over ``--steps`` steps (after a warm-up), and the sum. For comparison it also
times whole compiled steps (``train_on_batch`` without run_eagerly), interleaved with the eager steps so that the
machine's load hits both alike: the difference is the eager interpreter's Python overhead (a few us per call).
Runs at NumPy's/nbkeras's one thread (nbkeras's default); prints the load average, since other jobs share the
machine.

``--against REV`` (a git revision) also builds a second eager model whose pooling, activation and convolution
kernels are those files as they were at REV (copied to a temporary directory and compiled there), and times its
steps interleaved with the current ones: a before/after comparison in one process, which a busy shared machine
cannot skew one way.
"""

import argparse
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import nbkeras as keras


def build(run_eagerly):
    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                              L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                              L.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  run_eagerly=run_eagerly)
    return model


BASELINE_MODULES = ("pooling", "activations", "conv")


def load_baseline(rev):
    """The kernel modules BASELINE_MODULES as they were at git revision ``rev``, imported from a temporary copy
    (relative imports made absolute: they compile against today's policy, gemm, vmath)."""
    from nbkeras.kernels import policy

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=root, check=True,
                            capture_output=True, text=True).stdout.strip()
    # One private folder per commit inside nbkeras's cache (made 0700 and checked by policy), so a second run
    # finds numba's compiled copies again instead of compiling and caching them under a new name each time.
    folder = policy.cache_subdir(f"baseline-{commit[:16]}") or tempfile.mkdtemp(prefix="nbkeras-baseline-")
    modules = {}
    for name in BASELINE_MODULES:
        src = subprocess.run(["git", "show", f"{commit}:kernels/cpu/{name}.py"], cwd=root, check=True,
                             capture_output=True, text=True).stdout
        src = re.sub(r"^from \.\.(\w*) import", lambda m: f"from nbkeras.kernels{'.' if m[1] else ''}{m[1]} import",
                     src, flags=re.M)
        src = re.sub(r"^from \.(\w*) import", lambda m: f"from nbkeras.kernels.cpu{'.' if m[1] else ''}{m[1]} import",
                     src, flags=re.M)
        path = os.path.join(folder, f"baseline_{name}.py")
        if not os.path.exists(path) or open(path).read() != src:  # rewriting would make numba compile again
            with open(path, "w") as f:
                f.write(src)
        spec = importlib.util.spec_from_file_location(f"baseline_{name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        modules[name] = module
    return modules


def label_calls(program):
    """One label per kernel call of a training step, in the order the eager interpreter runs them."""
    labels = []
    for section in ("forward", "metrics", "backward", "update"):
        for call in program.sections[section]:
            shapes = []
            for a in call.args:
                dims = getattr(a, "dims", None)
                if dims and len(dims) >= 2:
                    shapes.append("x".join(str(d) for d in dims))
            hint = f" [{', '.join(shapes[:2])}]" if shapes else ""
            labels.append(f"{section:8s} {call.fn}{hint}")
    return labels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--unfused", action="store_true", help="also time, interleaved, a compiled model built "
                        "with the layer-call fusions off (NBKERAS_FUSION=0's switch, set for that model only)")
    parser.add_argument("--against", metavar="REV", help="also time eager steps with the pooling, activation and "
                        "convolution kernels of git revision REV, interleaved")
    a = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.random((a.batch, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, a.batch)
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"W3 step, batch {a.batch}, float32, {a.steps} steps; load average at start: {load}")

    eager, compiled = build(True), build(False)
    eager.train_on_batch(x, y)  # builds the plan and engine, compiles every kernel
    compiled.train_on_batch(x, y)
    compiled._engine._function()  # the compiled step, not the eager phase of a background compilation
    unfused = None
    if a.unfused:
        from nbkeras.models import fuse_conv_pool, fuse_elementwise

        saved = fuse_conv_pool.ENABLED, fuse_elementwise.ENABLED
        fuse_conv_pool.ENABLED = fuse_elementwise.ENABLED = False
        try:
            unfused = build(False)
            unfused.train_on_batch(x, y)  # the program is built here, without fusion
        finally:
            fuse_conv_pool.ENABLED, fuse_elementwise.ENABLED = saved
        unfused._engine._function()
        unfused_steps = []
    engine = eager._engine
    run = engine._eager
    labels = label_calls(engine.plan.program)
    record = []

    def timed(fn):
        def wrapper(*args):
            t = time.perf_counter()
            fn(*args)
            record.append(time.perf_counter() - t)
        return wrapper

    run._fns = {name: timed(fn) for name, fn in run._fns.items()}
    base = base_steps = base_calls = None
    if a.against:
        old = load_baseline(a.against)
        base = build(True)
        base.train_on_batch(x, y)
        brun = base._engine._eager
        for name in brun._fns:
            family, fn = name.split(".")
            if family in old and hasattr(old[family], fn):  # a kernel new since REV runs as it is now
                brun._fns[name] = getattr(old[family], fn)
        brun._fns = {name: timed(fn) for name, fn in brun._fns.items()}
        base.train_on_batch(x, y)  # compiles the baseline kernels
        base_steps, base_calls = [], [[] for _ in labels]
    per_call = [[] for _ in labels]
    eager_steps, compiled_steps = [], []
    for _ in range(a.steps):
        if base is not None:
            record.clear()
            t = time.perf_counter()
            base.train_on_batch(x, y)
            base_steps.append(time.perf_counter() - t)
            for i, dt in enumerate(record):
                base_calls[i].append(dt)
        record.clear()
        t = time.perf_counter()
        eager.train_on_batch(x, y)
        eager_steps.append(time.perf_counter() - t)
        if len(record) != len(labels):
            raise RuntimeError(f"expected {len(labels)} kernel calls per step, recorded {len(record)}")
        for i, dt in enumerate(record):
            per_call[i].append(dt)
        t = time.perf_counter()
        compiled.train_on_batch(x, y)
        compiled_steps.append(time.perf_counter() - t)
        if unfused is not None:
            t = time.perf_counter()
            unfused.train_on_batch(x, y)
            unfused_steps.append(time.perf_counter() - t)

    medians = [statistics.median(v) for v in per_call]
    total = sum(medians)
    print(f"\n  {'#':>2s}  {'kernel call':70s} {'median us':>10s} {'share':>6s}")
    for i, (label, med) in enumerate(zip(labels, medians)):
        print(f"  {i:2d}  {label:70s} {med * 1e6:10.1f} {med / total:6.1%}")
    print(f"\n  sum of the per-call medians      {total * 1e3:8.3f} ms  ({a.batch / total:,.0f} samples/s)")
    es, cs = statistics.median(eager_steps), statistics.median(compiled_steps)
    print(f"  eager train_on_batch, median     {es * 1e3:8.3f} ms")
    print(f"  compiled train_on_batch, median  {cs * 1e3:8.3f} ms  ({a.batch / cs:,.0f} samples/s)")
    if unfused is not None:
        us = statistics.median(unfused_steps)
        print(f"  the same unfused, median          {us * 1e3:8.3f} ms  ({a.batch / us:,.0f} samples/s; fused "
              f"{us / cs:.2f}x faster)")
    groups = {}
    for label, med in zip(labels, medians):
        fn = label.split()[1]
        groups[fn] = groups.get(fn, 0.0) + med
    print("\n  by kernel:")
    for fn, t in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"    {fn:40s} {t * 1e6:10.1f} us {t / total:6.1%}")
    if base is not None:
        bs = statistics.median(base_steps)
        print(f"\n  against {a.against} (eager steps, interleaved with the current ones):")
        print(f"    eager train_on_batch, median: {a.against} {bs * 1e3:.3f} ms, now {es * 1e3:.3f} ms "
              f"({bs / es:.2f}x)")
        old_groups = {}
        for label, v in zip(labels, base_calls):
            fn = label.split()[1]
            old_groups[fn] = old_groups.get(fn, 0.0) + statistics.median(v)
        print(f"    {'kernel':40s} {'before us':>10s} {'now us':>10s}")
        for fn, t in sorted(groups.items(), key=lambda kv: -kv[1]):
            if fn.split(".")[0] in BASELINE_MODULES:
                print(f"    {fn:40s} {old_groups[fn] * 1e6:10.1f} {t * 1e6:10.1f}")
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"\nload average at end: {load}")


if __name__ == "__main__":
    main()
