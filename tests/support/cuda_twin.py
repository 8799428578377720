"""Compare a CUDA kernel with its CPU twin on the same arguments.

``check_twin("dense.dense_forward", x, w, b, out, ...)`` runs the CPU kernel on copies of the NumPy arguments and
the CUDA kernel on device copies (scalars as given), then compares every array argument afterwards (inputs must be
unchanged, outputs written alike) and the return values. Give every array, outputs included, defined contents
(``arrays()`` below) so untouched entries compare equal too.
"""

import importlib

import numpy as np

TOLERANCE = {np.dtype(np.float64): (1e-10, 1e-12), np.dtype(np.float32): (2e-5, 2e-6)}


def twins(name):
    family, fn = name.split(".")
    cpu = getattr(importlib.import_module(f"nbkeras.kernels.cpu.{family}"), fn)
    gpu = getattr(importlib.import_module(f"nbkeras.kernels.cuda.{family}"), fn)
    return cpu, gpu


def to_device(a):
    from numba import cuda

    return cuda.to_device(a) if isinstance(a, np.ndarray) else a


def to_host(a):
    return a.copy_to_host() if hasattr(a, "copy_to_host") else a


def check_twin(name, *args, rtol=None, atol=None, ignore=()):
    """Run both twins; assert equal array arguments afterwards (except indices in ``ignore``, e.g. scratch) and
    equal return values. Returns (cpu arrays, cuda arrays) after the call."""
    cpu, gpu = twins(name)
    host = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    dev = [to_device(a) for a in args]
    r_cpu = cpu(*host)
    r_gpu = gpu(*dev)
    back = [to_host(d) for d in dev]
    for i, (h, g) in enumerate(zip(host, back)):
        if not isinstance(h, np.ndarray) or i in ignore:
            continue
        r, a = _tol(h.dtype, rtol, atol)
        np.testing.assert_allclose(g, h, rtol=r, atol=a, err_msg=f"{name}: argument {i} differs")
    _compare_result(name, r_cpu, r_gpu, rtol, atol)
    return host, back


def _tol(dtype, rtol, atol):
    r, a = TOLERANCE.get(np.dtype(dtype), (0, 0))
    return (r if rtol is None else rtol), (a if atol is None else atol)


def _compare_result(name, c, g, rtol, atol):
    if isinstance(c, tuple):
        assert isinstance(g, tuple) and len(g) == len(c), f"{name}: returned {g!r}, CPU returned {c!r}"
        for x, y in zip(c, g):
            _compare_result(name, x, y, rtol, atol)
        return
    g = to_host(g)
    if c is None:
        assert g is None, f"{name}: returned {g!r}, CPU returned None"
        return
    c, g = np.asarray(c), np.asarray(g)
    r, a = _tol(c.dtype, rtol, atol) if c.dtype.kind == "f" else (0, 0)
    np.testing.assert_allclose(g, c, rtol=r, atol=a, err_msg=f"{name}: return values differ")


def arrays(rng, dtype, *shapes, low=-1.0, high=1.0):
    """Arrays of the given shapes with uniform contents in [low, high) (outputs included)."""
    return [rng.uniform(low, high, size=s).astype(dtype) for s in shapes]
