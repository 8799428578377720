"""What every CUDA kernel module shares: the ``kernel`` declaration, launch geometry and a launch counter.

``@kernel("void(F[:, ::1], F[::1], int64)")`` declares a ``numba.cuda`` kernel together with the signatures it is
launched with; ``F`` stands for both float32 and float64 (write ``float32``/``int64`` for fixed types). The
declaration does three things:

- compiles nothing at import (the kernel is a lazy ``cuda.jit`` dispatcher, compiled on first launch);
- records the kernel and its signatures in ``REGISTRY``, so ``ptxcheck`` can compile every kernel to PTX for real
  compute capabilities on a machine without a GPU (the simulator accepts code that NVVM rejects);
- under the CUDA simulator, checks every launch's arguments against the declared signatures, so a test that runs
  a kernel in the simulator also proves the PTX that ``ptxcheck`` compiled is the one a real launch would use.

``LAUNCHES`` counts kernel launches (read it before and after a step to report launches per step).
"""

import math
import re

import numpy as np
from numba import cuda, types

try:  # numba-cuda exposes its own configuration; numba's built-in target kept ENABLE_CUDASIM in numba.config
    from numba.cuda import config as _cuda_config
except ImportError:  # pragma: no cover - older numba
    from numba import config as _cuda_config
SIMULATED = bool(_cuda_config.ENABLE_CUDASIM)

#: Threads per block for one-dimensional launches.
THREADS = 256

#: [(module, name, python function, [numba signatures])] of every declared kernel.
REGISTRY = []

LAUNCHES = [0]

_NAMES = {n: getattr(types, n) for n in ("float32", "float64", "int8", "int16", "int32", "int64", "uint8",
                                          "uint32", "uint64", "boolean", "void", "intp")}


def _expand(signature):
    """'void(F[::1], int64)' -> [signature for float32, signature for float64]; without F, itself. A numba
    signature object is taken as it is (for types the strings cannot name, such as record arrays)."""
    if not isinstance(signature, str):
        return [signature]
    forms = [signature] if not re.search(r"\bF\b", signature) else [
        re.sub(r"\bF\b", t, signature) for t in ("float32", "float64")]
    return [eval(form, {"__builtins__": {}}, _NAMES) for form in forms]  # numba type expressions only


class _Declared:
    """A declared kernel: ``k[blocks, threads](*args)`` launches it (counted; checked under the simulator)."""

    def __init__(self, fn, signatures):
        self.py_func = fn
        self.signatures = signatures
        self.dispatcher = cuda.jit(fn)
        self.__name__ = fn.__name__
        self.__doc__ = fn.__doc__

    def __getitem__(self, config):
        LAUNCHES[0] += 1
        launch = self.dispatcher[config]
        if not SIMULATED:
            return launch
        return lambda *args: (_check(self, args), launch(*args))[1]


def kernel(*signatures):
    """Declare a CUDA kernel and the signatures it is launched with (see the module docstring)."""
    if not signatures:
        raise TypeError("kernel() needs at least one signature, e.g. 'void(F[::1], int64)'")

    def wrap(fn):
        sigs = [s for sig in signatures for s in _expand(sig)]
        declared = _Declared(fn, sigs)
        REGISTRY.append((fn.__module__, fn.__qualname__, fn, sigs))
        return declared

    return wrap


def device(fn):
    """A device function (inlined into the kernels that call it; compiled with them)."""
    return cuda.jit(device=True)(fn)


def blocks(n, threads=THREADS):
    """Blocks of ``threads`` covering ``n`` items (at least one block, so a launch over nothing is legal)."""
    return max(1, math.ceil(n / threads))


def grid(n, threads=THREADS):
    """``[blocks, threads]`` launch configuration covering ``n`` items in one dimension."""
    return blocks(n, threads), threads


def _arg_matches(t, a):
    if isinstance(t, types.Array):
        if not hasattr(a, "shape") or not hasattr(a, "dtype") or isinstance(a, np.ndarray):
            return False  # a host array would be copied per launch: the interpreters pass device arrays
        want = t.dtype.dtype if isinstance(t.dtype, types.Record) else np.dtype(str(t.dtype))
        if np.dtype(a.dtype) != want or len(a.shape) != t.ndim:
            return False
        if t.layout == "C":
            return _c_contiguous(a)
        return True
    if isinstance(t, types.Boolean):
        return isinstance(a, (bool, np.bool_))
    if isinstance(t, types.Integer):
        return isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_))
    if isinstance(t, types.Float):
        return isinstance(a, (float, np.floating))
    return True


def _c_contiguous(a):
    flags = getattr(a, "flags", None)
    if flags is not None:
        try:
            return bool(flags["C_CONTIGUOUS"])
        except (KeyError, TypeError):
            return bool(getattr(flags, "c_contiguous", True))
    return True


def _check(declared, args):
    for sig in declared.signatures:
        if len(sig.args) == len(args) and all(_arg_matches(t, a) for t, a in zip(sig.args, args)):
            return
    got = ", ".join(_describe(a) for a in args)
    raise TypeError(f"CUDA kernel {declared.__name__} launched with ({got}), which matches none of its declared "
                    f"signatures {[_sig_text(s) for s in declared.signatures]}: declare it (ptxcheck compiles only "
                    f"declared signatures) or pass the declared types")


def _describe(a):
    if hasattr(a, "shape") and hasattr(a, "dtype"):
        return f"{np.dtype(a.dtype)}[{len(a.shape)}d{', C' if _c_contiguous(a) else ''}]"
    return type(a).__name__


def _sig_text(sig):
    def one(t):
        if isinstance(t, types.Array):
            return f"{t.dtype}[{t.ndim}d{', C' if t.layout == 'C' else ''}]"
        return str(t)
    return "(" + ", ".join(one(t) for t in sig.args) + ")"
