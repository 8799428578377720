"""kernels/cuda covers every CPU kernel: same family modules, same public names, each written for CUDA."""

import importlib

import pytest
from numba.core.registry import CPUDispatcher

from nbkeras import backend


def cpu_kernels():
    out = []
    for family in backend._KERNEL_MODULES:
        mod = importlib.import_module(f"nbkeras.kernels.cpu.{family}")
        out += [(family, n) for n, v in vars(mod).items()
                if not n.startswith("_") and isinstance(v, CPUDispatcher) and v.py_func.__module__ == mod.__name__]
    return out


def test_cpu_kernel_list_is_the_real_one():
    names = cpu_kernels()
    assert len(names) > 200 and ("dense", "dense_forward") in names and ("gemm", "gemm") in names


@pytest.mark.parametrize("family", backend._KERNEL_MODULES)
def test_every_cpu_kernel_has_a_cuda_twin(family):
    cuda_mod = importlib.import_module(f"nbkeras.kernels.cuda.{family}")
    missing, borrowed = [], []
    for fam, name in cpu_kernels():
        if fam != family:
            continue
        twin = getattr(cuda_mod, name, None)
        if twin is None or not callable(twin):
            missing.append(name)
        elif isinstance(twin, CPUDispatcher) or getattr(twin, "__module__", "").startswith("nbkeras.kernels.cpu"):
            borrowed.append(name)  # the CPU kernel re-exported is not a twin
    assert not missing, f"kernels/cuda/{family}.py lacks twins of {missing}"
    assert not borrowed, f"kernels/cuda/{family}.py re-exports CPU kernels {borrowed}"
