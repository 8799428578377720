"""Compiled code of architectures no model uses any more is released (where numba allows it).

numba alone never frees a module-level dispatcher: its finalizer keeps the compiled code, whose environment keeps
the module's globals, which keep the dispatcher. loader.load(source, owner) frees a module once its owners are gone
(beyond IDLE_MODULES idle ones); here a sweep of distinct generated modules checks that the machine code (numba's
code library objects) is really collected, and reports the resident memory per architecture.
"""

import json

from reliability_helpers import child_env, run_child

SWEEP = """
import gc, weakref
from nbkeras.models import loader

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

ACTS = ["relu_forward(x, y, 0.0, np.inf, 0.0)", "sigmoid_forward(x, y)", "tanh_forward(x, y)", "elu_forward(x, y, 1.0)"]

def source(i):
    lines = ["import numpy as np", "from nbkeras.kernels.policy import kernel",
             "from nbkeras.kernels.cpu import tensor_ops", "from nbkeras.kernels.cpu import activations as act",
             "", "", "@kernel", "def steps(x, y, z):"]
    for k in range(12):
        lines.append("    act." + ACTS[(k * (i + 1)) % len(ACTS)])
        lines.append("    tensor_ops.add_into(z, y)" if (i >> (k % 5)) & 1 else "    tensor_ops.copy_into(x, z)")
    lines.append("    return z[0]")
    return "\\n".join(lines) + "\\n"

class Model:
    pass

x, y, z = np.linspace(-1, 1, 8), np.empty(8), np.zeros(8)
libraries = []
marks = []
for i in range(N):
    model = Model()
    model.module = loader.load(source(i), owner=model)
    model.module.steps(x, y, z)
    libraries.append(weakref.ref(next(iter(model.module.steps.overloads.values())).library))
    del model
    gc.collect()
    marks.append(rss_mib())
report["held"] = len(loader.loaded())
report["idle_limit"] = loader.IDLE_MODULES
report["libraries_alive"] = sum(ref() is not None for ref in libraries)
report["rss"] = marks
"""


def test_a_sweep_of_architectures_keeps_only_the_idle_few(tmp_path):
    env = child_env(str(tmp_path), NBKERAS_CACHE="0")
    n = 12
    report = run_child(str(tmp_path), env, body=f"N = {n}\n" + SWEEP)
    assert report["held"] <= report["idle_limit"]
    # The modules still held (idle, and the last one pending its owner's count-down) keep their code; every
    # other library has been collected.
    assert report["libraries_alive"] <= report["idle_limit"] + 1, report
    rss = report["rss"]
    per_arch = (rss[-1] - rss[3]) / (n - 4)
    print(json.dumps({"rss_mib_per_architecture_after_warmup": round(per_arch, 2), "rss": rss}))
