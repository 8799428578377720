"""Finds a CBLAS ``sgemm``/``dgemm`` (and the matching ``?gemv``) that compiled code can call, without adding a dependency.

NumPy's wheels carry OpenBLAS (``numpy.libs/libscipy_openblas64_*``); NumPy has already loaded it, so opening the
same file again returns the same library and the same thread pool. The symbols are registered with LLVM under
fixed names (``nbkeras_sgemm``, ``nbkeras_dgemm``), so compiled callers refer to them by name and stay cacheable:
each process registers the addresses again before any cached code is linked.

Returns nothing when no such library is found (a NumPy built against Accelerate or MKL, say); the numba GEMM is
then used.
"""

import ctypes
import glob
import os

import llvmlite.binding as _llvm
import numpy as np

SGEMM_SYMBOL = "nbkeras_sgemm"
DGEMM_SYMBOL = "nbkeras_dgemm"
#: The matrix-vector products (a product with one row or one column: OpenBLAS's ?gemm takes 4x longer there).
SGEMV_SYMBOL = "nbkeras_sgemv"
DGEMV_SYMBOL = "nbkeras_dgemv"

# (sgemm, dgemm, set_num_threads) symbol names and the integer width of the interface.
_VARIANTS = (
    ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", "scipy_openblas_set_num_threads64_", 64),
    ("scipy_cblas_sgemm", "scipy_cblas_dgemm", "scipy_openblas_set_num_threads", 32),
    ("cblas_sgemm64_", "cblas_dgemm64_", "openblas_set_num_threads64_", 64),
    ("cblas_sgemm", "cblas_dgemm", "openblas_set_num_threads", 32),
)
# The matching getters: same names with get_ for set_.


def _candidate_paths():
    root = os.path.dirname(os.path.abspath(np.__file__))
    patterns = [
        os.path.join(root, os.pardir, "numpy.libs", "*openblas*"),  # Linux and Windows wheels
        os.path.join(root, ".dylibs", "*openblas*"),  # macOS wheels
    ]
    for mod in ("scipy_openblas64", "scipy_openblas32"):  # the standalone wheels, if installed
        try:
            pkg = __import__(mod)
            patterns.append(os.path.join(pkg.get_lib_dir(), "*openblas*"))
        except Exception:
            pass
    for pattern in patterns:
        yield from sorted(glob.glob(pattern))


class Blas:
    """A loaded CBLAS: where it came from, its integer width, and its thread control."""

    def __init__(self, path, lib, names, int_bits):
        self.path = path
        self.int_bits = int_bits
        self.sgemm_name, self.dgemm_name, set_threads_name, _ = names
        self._set_threads = getattr(lib, set_threads_name, None)
        self._get_threads = getattr(lib, set_threads_name.replace("_set_", "_get_"), None)
        if self._get_threads is not None:
            self._get_threads.restype = ctypes.c_int
        _llvm.add_symbol(SGEMM_SYMBOL, ctypes.cast(getattr(lib, self.sgemm_name), ctypes.c_void_p).value)
        _llvm.add_symbol(DGEMM_SYMBOL, ctypes.cast(getattr(lib, self.dgemm_name), ctypes.c_void_p).value)
        _llvm.add_symbol(SGEMV_SYMBOL, ctypes.cast(getattr(lib, self.sgemm_name.replace("gemm", "gemv")),
                                                   ctypes.c_void_p).value)
        _llvm.add_symbol(DGEMV_SYMBOL, ctypes.cast(getattr(lib, self.dgemm_name.replace("gemm", "gemv")),
                                                   ctypes.c_void_p).value)

    def set_num_threads(self, n):
        if self._set_threads is not None:
            self._set_threads(int(n))

    def get_num_threads(self):
        return int(self._get_threads()) if self._get_threads is not None else None


def find_blas():
    """Return a registered ``Blas`` or None."""
    for path in _candidate_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for names in _VARIANTS:
            gemv = [n.replace("gemm", "gemv") for n in names[:2]]
            if all(hasattr(lib, n) for n in list(names[:2]) + gemv):
                return Blas(path, lib, names, names[3])
    return None
