"""Cold compile time of the kernel set, and its load time from the cache in a fresh process.

    python bench/kernel_compile.py

Runs a probe twice in fresh processes sharing one new cache directory: the first compiles every kernel (every
activation, loss, metric and optimizer kernel, dense and gemm) for float32, forward and backward; the second loads
them all from the cache. The probe calls kernels through the nbkeras API objects, so it compiles exactly the
signatures training uses.
"""

import os
import subprocess
import sys
import tempfile
import time

PROBE = r"""
import time
t0 = time.perf_counter()
import numpy as np
import nbkeras as keras
from nbkeras import activations, backend, losses, metrics, optimizers
from nbkeras.activations import _TABLE
t_import = time.perf_counter() - t0
k = backend.kernels()
rng = np.random.default_rng(0)
f = lambda *shape: rng.uniform(0.1, 0.9, size=shape).astype("float32")
count = 0
for name in _TABLE:
    # threshold has no defaults in Keras; glu halves its axis (6 -> 3 here)
    spec = activations.ActivationSpec(name, **({"threshold": 0.5, "default_value": 0.0} if name == "threshold"
                                                else {}))
    x, dx = f(4, 6), np.empty((4, 6), "float32")
    out_shape = spec.output_shape((None, 6))
    y, dy = np.empty((4, out_shape[1]), "float32"), f(4, out_shape[1])
    spec.forward_into(x, y, (None, 6))
    spec.backward_into(x, y, dy, dx, (None, 6))
    count += 2
for cls in (losses.MeanSquaredError, losses.MeanAbsoluteError, losses.MeanAbsolutePercentageError,
            losses.MeanSquaredLogarithmicError, losses.Huber, losses.LogCosh, losses.Hinge, losses.SquaredHinge,
            losses.CategoricalHinge, losses.KLDivergence, losses.Poisson, losses.CosineSimilarity,
            losses.BinaryCrossentropy, losses.CategoricalCrossentropy, losses.SparseCategoricalCrossentropy):
    spec = cls().spec()
    yt = np.array([0, 2, 1, 0], "float32") if spec.sparse else f(4, 3)
    yp, vals, dv, dp = f(4, 3), np.empty(4, "float32"), f(4), np.empty((4, 3), "float32")
    getattr(k.losses, spec.kernel + "_forward")(yt, yp, vals, *spec.args)
    getattr(k.losses, spec.kernel + "_backward")(yt, yp, dv, dp, *spec.args)
    count += 2
k.losses.weighted_sum(vals, np.empty(0, "float32")); k.losses.loss_upstream(np.empty(0, "float32"), 0.5, dv)
for cls in (metrics.BinaryAccuracy, metrics.CategoricalAccuracy, metrics.SparseCategoricalAccuracy,
            metrics.TopKCategoricalAccuracy, metrics.SparseTopKCategoricalAccuracy):
    m = cls()
    yt = np.array([0, 2, 1, 0]) if m.spec().sparse else f(4, 3)
    m.update_state(yt, f(4, 3))
    count += 1
def run_update(opt, params, grads, segments):
    # One optimizer step: the calls its describe_update states, resolved here as the eager interpreter does.
    from nbkeras.models.program import Arg, Builder, Const

    b = Builder(lambda var: True)
    b.section = "update"
    opt.describe_update(b)
    env = {"ptrain": params, "grads": grads, "segments": segments, "lr": 1e-3, "t": 1, "u_product": opt._u_product,
           "empty1": np.empty(0, "float32")}
    for call in b.program.sections["update"]:
        args = [a.value if isinstance(a, Const) else env[a.name] if isinstance(a, Arg) else opt._slots[a.index]
                for a in call.args]
        backend.kernel(call.fn)(*args)


for cls in (optimizers.SGD, optimizers.Adam, optimizers.RMSprop, optimizers.Adagrad, optimizers.Adadelta,
            optimizers.Adamax, optimizers.Nadam):
    for kwargs in ({}, {"clipnorm": 1.0}, {"global_clipnorm": 1.0}, {"clipvalue": 1.0, "weight_decay": 0.01}):
        opt = cls(**kwargs)
        opt.build(10, np.dtype("float32"))
        run_update(opt, f(10), f(10), np.array([[0, 4], [4, 10]], np.int64))
    count += 1
x, w, b = f(4, 5), f(5, 3), f(3)
out, dx, dw, db = np.empty((4, 3), "float32"), np.empty((4, 5), "float32"), f(5, 3), f(3)
k.dense.dense_forward(x, w, b, out)
k.dense.dense_backward(x, w, out, dx, dw, db, False)
for ta in (False, True):
    for tb in (False, True):
        k.gemm.gemm(ta, tb, 1.0, f(4, 4), f(4, 4), 0.0, np.empty((4, 4), "float32"))
count += 6
print(f"kernels={count} import={t_import:.2f} total={time.perf_counter() - t0:.2f}")
"""


def run(env):
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - t, out.stdout.strip()


def main():
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBKERAS_")}
    env["NBKERAS_CACHE_DIR"] = tempfile.mkdtemp(prefix="nbkeras-compile-")
    cold, cold_out = run(env)
    warm, warm_out = run(env)
    print(f"cold (empty cache): {cold:.1f} s wall   [{cold_out}]")
    print(f"warm (cached):      {warm:.1f} s wall   [{warm_out}]")


if __name__ == "__main__":
    main()
