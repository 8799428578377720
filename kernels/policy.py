"""How every kernel is compiled, decided in one place.

Environment switches (read once, at import):

``NBKERAS_CACHE_DIR``
    Directory for compiled kernels and generated train steps. Default: ``$XDG_CACHE_HOME/nbkeras`` or
    ``~/.cache/nbkeras``. If it cannot be written, a per-user directory under the system temporary directory
    is used instead, and if that fails too, caching is off; either fallback warns once.
``NBKERAS_CACHE``
    ``0`` turns the on-disk cache off (every process compiles again).
``NBKERAS_NUM_THREADS``
    Threads for the matrix products (the only multi-threaded work). Default: 1 (see ``compute_threads``).
``NBKERAS_GEMM``
    ``auto`` (default), ``blas`` or ``numba``: see ``kernels/cpu/gemm.py``.
``NUMBA_DISABLE_JIT=1``
    Numba's own switch: every kernel runs as plain Python (debugging, coverage); no cache directory is used.

Compiler options, and why:

* ``error_model="numpy"``: numba's default "python" error model checks every division for a zero divisor and
  raises, which blocks vectorisation of any loop that divides (measured: an Adam loop 22x slower). With the
  numpy model, x/0 gives inf/nan as NumPy does.
* ``fastmath`` only with the flags that cannot drop NaN/inf handling: no ``nnan``/``ninf``, so a NaN loss still
  reaches ``TerminateOnNaN``. ``reassoc`` lets reductions vectorise; ``contract`` allows FMA. No ``arcp``: it
  turned x / d into x * (1 / d) and made per-row means differ from Keras's by an ulp;
  divisions only occur in elementwise passes, far from the matrix products that dominate a step.
* ``cache=True`` through a locator owned by this module, so the cache directory is ours and does not move numba's
  global ``NUMBA_CACHE_DIR``. The directory name carries a fingerprint of every kernel source file: numba only
  checks a cached function's own file, so without it a change to a callee (say, gemm.py) would leave stale
  callers (dense.py) in the cache.
"""

import contextlib
import hashlib
import os
import tempfile
import warnings

import numba
from numba.core import caching as _caching
from numba.core import config as _numba_config

from .blas import find_blas

FASTMATH = {"nsz", "contract", "reassoc"}  # numba wants a set, not a frozenset
JIT_OPTIONS = dict(error_model="numpy", fastmath=FASTMATH, nogil=True)

DISABLE_JIT = bool(_numba_config.DISABLE_JIT)


def _env_threads():
    raw = os.environ.get("NBKERAS_NUM_THREADS", "").strip()
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"NBKERAS_NUM_THREADS must be a positive integer, got {raw!r}")
    return n


#: Threads requested through NBKERAS_NUM_THREADS, or None when the user left the default alone.
REQUESTED_THREADS = _env_threads()
#: One thread by default. OpenBLAS's pool spin-waits between products: measured on the 2-core dev machine, W1
#: (batch 128) ran at 39k samples/s with 2 BLAS threads and 34k with 1 on a quiet machine, but with another
#: process busy on one core 2 threads collapsed to 14k while 1 thread kept 30k (W2, batch 32: 2 threads 21k quiet /
#: 7k loaded, 1 thread 27k / 24k). Ask for more with NBKERAS_NUM_THREADS where the cores are yours. (Tried and
#: dropped: splitting each product into row blocks run by numba's passively waiting threads, one single-threaded
#: BLAS call each, degraded gracefully under load but ran slower than one thread on a quiet machine -- 32k vs 35k
#: on W1 -- as waking sleeping threads costs more than the split saves at these sizes.)
NUM_THREADS = REQUESTED_THREADS or 1


def _choose_gemm():
    """Return (mode, Blas or None); mode is 'blas32', 'blas64' or 'numba' and names the cache directory."""
    wanted = os.environ.get("NBKERAS_GEMM", "auto").strip().lower() or "auto"
    if wanted not in ("auto", "blas", "numba"):
        raise ValueError(f"NBKERAS_GEMM must be 'auto', 'blas' or 'numba', got {wanted!r}")
    if wanted == "numba" or DISABLE_JIT:
        return "numba", None
    found = find_blas()
    if found is None:
        if wanted == "blas":
            raise ImportError("NBKERAS_GEMM=blas, but no CBLAS library was found beside NumPy")
        return "numba", None
    return f"blas{found.int_bits}", found


#: How matrix products run: 'blas64'/'blas32' (NumPy's OpenBLAS called from compiled code) or 'numba'.
GEMM_MODE, BLAS = _choose_gemm()


def _source_fingerprint():
    """Hash of every kernel source file (see the module docstring for why)."""
    h = hashlib.sha256(numba.__version__.encode())
    root = os.path.dirname(os.path.abspath(__file__))
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".py"):
                with open(os.path.join(dirpath, name), "rb") as f:
                    h.update(name.encode())
                    h.update(f.read())
    return h.hexdigest()[:16]


def _writable(path):
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
        return True
    except OSError:
        return False


def _choose_cache_root():
    """Return (directory or None, warning or None)."""
    if os.environ.get("NBKERAS_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None, None
    if DISABLE_JIT:  # nothing is compiled: creating directories, or warning that they fail, would be noise
        return None, None
    wanted = os.environ.get("NBKERAS_CACHE_DIR")
    if not wanted:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        wanted = os.path.join(base, "nbkeras")
    if _writable(wanted):
        return wanted, None
    try:
        user = str(os.getuid())
    except AttributeError:
        user = "user"
    fallback = os.path.join(tempfile.gettempdir(), f"nbkeras-cache-{user}")
    if _writable(fallback):
        return fallback, f"nbkeras: cache directory {wanted!r} is not writable; using {fallback!r}"
    return None, f"nbkeras: no writable cache directory ({wanted!r}, {fallback!r}); compiled kernels are not cached"


class CacheWarning(UserWarning):
    """The configured cache directory could not be used (issued once, at import)."""


_CACHE_ROOT, _CACHE_WARNING = _choose_cache_root()
if _CACHE_WARNING:
    warnings.warn(_CACHE_WARNING, CacheWarning, stacklevel=2)

#: Where this build's compiled code lives, or None when the cache is off.
CACHE_DIR = (
    os.path.join(_CACHE_ROOT, f"{_source_fingerprint()}-{GEMM_MODE}") if _CACHE_ROOT and not DISABLE_JIT else None
)


class _Locator(_caching._SourceFileBackedLocatorMixin, _caching._CacheLocator):
    """Puts a function's cache under CACHE_DIR, in a sub-folder named after its source directory."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(CACHE_DIR, self.get_suitable_cache_subpath(py_file))

    def get_cache_path(self):
        return self._cache_path

    @classmethod
    def from_function(cls, py_func, py_file):
        if CACHE_DIR is None:
            return None
        return super().from_function(py_func, py_file)


class _CacheImpl(_caching.CompileResultCacheImpl):
    _locator_classes = [_Locator]


class _FunctionCache(_caching.FunctionCache):
    _impl_class = _CacheImpl


def _enable_cache(dispatcher):
    if CACHE_DIR is None:
        return
    try:
        dispatcher._cache = _FunctionCache(dispatcher.py_func)
    except RuntimeError:
        # No locator could write its directory (e.g. it vanished since import): stay uncached.
        pass


def kernel(fn=None, *, parallel=False, inline="never"):
    """Compile ``fn`` with the project's options; under NUMBA_DISABLE_JIT=1 return it unchanged.

    ``parallel=True`` is for work of ~100 us or more only: entering a parallel region costs 1.5-30 us.
    """

    def wrap(f):
        if DISABLE_JIT:
            return f
        d = numba.njit(parallel=parallel, inline=inline, **JIT_OPTIONS)(f)
        _enable_cache(d)
        return d

    return wrap if fn is None else wrap(fn)


@contextlib.contextmanager
def compute_threads():
    """Run compiled training/inference with NUM_THREADS BLAS threads, then give NumPy back its own setting.

    NumPy shares the OpenBLAS library (and its thread setting) with nbkeras, so the setting is changed only while
    nbkeras runs its steps, never for the user's own NumPy code outside fit/evaluate/predict.
    """
    blas = BLAS
    before = blas.get_num_threads() if blas is not None else None
    if before is not None and before != NUM_THREADS:
        blas.set_num_threads(NUM_THREADS)
    try:
        yield
    finally:
        if before is not None and before != NUM_THREADS:
            blas.set_num_threads(before)


def generated_dir():
    """Directory for generated train-step modules, or None when the cache is off."""
    if CACHE_DIR is None:
        return None
    path = os.path.join(CACHE_DIR, "generated")
    return path if _writable(path) else None
