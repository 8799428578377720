"""How every kernel is compiled, decided in one place.

Environment switches (read once, at import):

``NBKERAS_CACHE_DIR``
    Directory for compiled kernels and generated train steps. Default: ``$XDG_CACHE_HOME/nbkeras`` or
    ``~/.cache/nbkeras``. Used only if it is owned by this user (or root) and not writable by group or others
    (see "the cache is a trust boundary" below). If it is refused or cannot be made, the per-user directory
    ``nbkeras-cache-<uid>`` under the system temporary directory is used instead (when this user owns it, or can
    make it), and if that fails too, caching is off; either fallback warns once (CacheWarning).
``NBKERAS_CACHE``
    ``0`` turns the on-disk cache off (every process compiles again).
``NBKERAS_NUM_THREADS``
    BLAS threads for the matrix products. Default: 1 (see ``compute_threads``). When set, it also caps numba's
    threads, which the convolutions and long elementwise chains share their work among (conv.py, elementwise.py).
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
import errno
import hashlib
import os
import pickle
import stat
import tempfile
import uuid
import warnings

import numba
from numba.core import caching as _caching
from numba.core import config as _numba_config

from .blas import find_blas

#: NBKERAS_STRICT_FP=1 compiles every kernel and generated step without value-changing fastmath flags (operations
#: in source order, no FMA contraction): the same kernel then gives the same bits inlined into the compiled step as
#: called alone by the eager interpreter, and the layer test demands bit-for-bit agreement of the two. Reductions
#: run slower (unvectorised); for tests and debugging, not for training.
STRICT_FP = os.environ.get("NBKERAS_STRICT_FP", "0").strip() not in ("", "0")
FASTMATH = set() if STRICT_FP else {"nsz", "contract", "reassoc"}  # numba wants a set, not a frozenset
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
    """Hash of every CPU kernel source file (see the module docstring for why). kernels/cuda is left out: its
    kernels are not in this cache, and an edit there must not throw away every compiled CPU kernel (nor should
    CPU-only users pay for reading it at import)."""
    h = hashlib.sha256(numba.__version__.encode())
    root = os.path.dirname(os.path.abspath(__file__))
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames[:] = sorted(d for d in dirnames if not (dirpath == root and d == "cuda"))
        for name in sorted(filenames):
            if name.endswith(".py"):
                with open(os.path.join(dirpath, name), "rb") as f:
                    h.update(name.encode())
                    h.update(f.read())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------ the cache is a trust boundary
# What is read back from the cache runs as code (generated modules, numba's compiled objects) or is unpickled
# (numba's .nbi index and .nbc data files), so it must have been written by this user. The rules:
#
# * A directory is trusted when it is owned by this user -- or by root, who could replace our files anyway, and who
#   owns a cache pre-filled in a container image -- and is not writable by group or others. nbkeras creates every
#   level it needs (the root, the build fingerprint, numba's per-module folders, generated/) mode 0700 and checks
#   each through a descriptor opened without following symbolic links, so a level that someone else made first,
#   or replaced by a link, is refused. Only a root the user named (NBKERAS_CACHE_DIR, XDG_CACHE_HOME, ~/.cache)
#   may itself be a link, and only one owned by this user or root.
# * A numba cache file is used only if it is a regular file (opened without following links) owned by this user
#   or root, not writable by group or others, and intact: nbkeras writes each with a SHA-256 of its payload.
#   Anything else is a miss: the entry is deleted with one CacheWarning and recompiled.
# * A generated module is trusted by its content (its file name is the hash of its text): nbkeras/models/loader.py.

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: None where the OS has no uids (Windows): ownership is not checked there.
_EUID = os.geteuid() if hasattr(os, "geteuid") else None
_TRUSTED_UIDS = frozenset() if _EUID is None else frozenset({_EUID, 0})
# errno values meaning "this cache is read-only" (a pre-filled image, a locked-down container): not worth a warning.
_READ_ONLY_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


class CacheWarning(UserWarning):
    """A cache directory or entry could not be used: nbkeras warns once and carries on without it."""


class UntrustedCacheError(OSError):
    """A cache path is a symbolic link, not a directory / regular file, foreign-owned or writable by others."""


_WARNED = set()


def warn_once(key, message):
    """Issue ``message`` as a CacheWarning the first time ``key`` is seen in this process."""
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, CacheWarning, stacklevel=3)


def distrust(st):
    """Why a file or directory with stat result ``st`` must not be trusted, or None when it may be."""
    if _EUID is None:
        return None
    if st.st_uid not in _TRUSTED_UIDS:
        return f"is owned by uid {st.st_uid}, not by this user"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "is writable by group or others"
    return None


def private_dir(path, create=True):
    """Create ``path`` mode 0700 if it is missing (and ``create``), then check that it may be trusted.

    Raises UntrustedCacheError when it is a link, not a directory, foreign-owned or writable by group or others,
    and the OSError of mkdir when it cannot be made. Its parent must already exist. The mode is set again after
    mkdir through the verified descriptor, so neither the umask nor a path swapped in between changes the result.
    """
    created = False
    if create and not os.path.lexists(path):
        try:
            os.mkdir(path, 0o700)
            created = True
        except FileExistsError:  # made by a concurrent process since: checked below like any existing one
            pass
    try:
        fd = os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
    except OSError as exc:
        if os.path.islink(path):
            raise UntrustedCacheError(f"{path!r} is a symbolic link") from None
        if exc.errno == errno.ENOTDIR:
            raise UntrustedCacheError(f"{path!r} is not a directory") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISDIR(st.st_mode):
            raise UntrustedCacheError(f"{path!r} is not a directory")
        if created and _EUID is not None and stat.S_IMODE(st.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
            st = os.fstat(fd)
        reason = distrust(st)
        if reason:
            raise UntrustedCacheError(f"{path!r} {reason}")
    finally:
        os.close(fd)


def _describe(exc):
    if isinstance(exc, UntrustedCacheError):
        return str(exc)
    return f"{exc.filename!r} is not writable ({exc.strerror})" if exc.filename else f"is not usable ({exc})"


def _open_root(path, allow_link):
    """The real path of a trusted cache root at ``path`` (created 0700 if missing); OSError when refused."""
    path = os.path.abspath(path)
    if not os.path.lexists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        private_dir(path)
        return path
    if allow_link and os.path.islink(path):
        link = os.lstat(path)
        if _EUID is not None and link.st_uid not in _TRUSTED_UIDS:
            raise UntrustedCacheError(f"{path!r} is a symbolic link owned by uid {link.st_uid}")
        path = os.path.realpath(path)  # from here on the verified target, never the link again
    private_dir(path, create=False)
    return path


def _choose_cache_dir(fingerprint):
    """Return (CACHE_DIR or None, warning or None); CACHE_DIR is ``<root>/<fingerprint>``, made and verified."""
    if os.environ.get("NBKERAS_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None, None
    if DISABLE_JIT:  # nothing is compiled: creating directories, or warning that they fail, would be noise
        return None, None
    wanted = os.environ.get("NBKERAS_CACHE_DIR")
    if not wanted:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        wanted = os.path.join(base, "nbkeras")

    def attempt(root, allow_link):
        try:
            path = os.path.join(_open_root(root, allow_link), fingerprint)
            private_dir(path)  # a read-only root holding this build is fine; one that lacks it is not
            return path, None
        except OSError as exc:
            return None, _describe(exc)

    found, reason = attempt(wanted, True)
    if found:
        return found, None
    try:
        # A fixed per-user name, so later processes find the cache again; private_dir refuses it when someone
        # else made it first or put a link there, and then nothing is cached (no litter of unique folders).
        fallback = os.path.join(tempfile.gettempdir(), f"nbkeras-cache-{_EUID if _EUID is not None else 'user'}")
    except (OSError, FileNotFoundError) as exc:  # gettempdir: "No usable temporary directory"
        return None, f"nbkeras: cache directory {wanted!r}: {reason}; no temporary directory either ({exc}); " \
                     f"compiled kernels are not cached"
    found, reason2 = attempt(fallback, False)
    if found:
        return found, f"nbkeras: cache directory {wanted!r} refused: {reason}; using {fallback!r}"
    return None, (f"nbkeras: no usable cache directory ({wanted!r}: {reason}; {fallback!r}: {reason2}); "
                  f"compiled kernels are not cached")


#: Where this build's compiled code lives (made 0700 and verified at import), or None when the cache is off.
CACHE_DIR, _CACHE_WARNING = _choose_cache_dir(
    f"{_source_fingerprint()}-{GEMM_MODE}{'-strictfp' if STRICT_FP else ''}")
if _CACHE_WARNING:
    warnings.warn(_CACHE_WARNING, CacheWarning, stacklevel=2)


def cache_subdir(name):
    """``CACHE_DIR/name``, created 0700 or verified; None when the cache is off or that folder is unusable.

    A folder that exists but is read-only (a pre-filled cache) is returned: readers may use it, writers get an
    OSError and carry on without writing. A refused folder (foreign-owned, a link, writable by others) warns once.
    """
    if CACHE_DIR is None:
        return None
    path = os.path.join(CACHE_DIR, name)
    try:
        private_dir(path)
    except OSError as exc:
        if not (exc.errno in _READ_ONLY_ERRNOS and not isinstance(exc, UntrustedCacheError)):
            warn_once(("dir", path), f"nbkeras: not using cache folder {path!r}: {_describe(exc)}")
        return None
    return path


def generated_dir():
    """Directory for generated train-step modules, or None when the cache is off or it is unusable."""
    return cache_subdir("generated")


# ------------------------------------------------------------------ numba's cache, behind the same checks
_MAGIC = b"nbkeras-cache-1\n"
_DIGEST = 32  # SHA-256 of the payload, right after the magic


class _Damaged(Exception):
    pass


def read_trusted(path):
    """The bytes of regular file ``path`` if it may be trusted (see ``distrust``), opened without following links.

    Raises FileNotFoundError when it is absent and UntrustedCacheError when it is a link, not a regular file,
    foreign-owned or writable by others.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError:
        if os.path.islink(path):
            raise UntrustedCacheError(f"{path!r} is a symbolic link") from None
        raise
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedCacheError(f"{path!r} is not a regular file")
        reason = distrust(st)
        if reason:
            raise UntrustedCacheError(f"{path!r} {reason}")
        return f.read()


def write_private(path, data):
    """Write ``data`` to ``path`` atomically: a new 0600 file beside it, then os.replace (readers never see half)."""
    tmp = f"{path}.{uuid.uuid4().hex[:16]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            if _EUID is not None:
                os.fchmod(fd, 0o600)  # the umask may have taken the owner's bits
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def discard_entry(path, why):
    """Delete a damaged or foreign cache file (if this user can) and warn once."""
    with contextlib.suppress(OSError):
        os.unlink(path)
    warn_once(("entry", path), f"nbkeras: discarded cache entry {path!r} ({why}); it is compiled again")


class _TrustedCacheFile(_caching.IndexDataCacheFile):
    """numba's index (.nbi) and data (.nbc) files, read back only when this user wrote them and they are intact.

    Both are ``magic + sha256(payload) + payload``; numba's own format (a bare pickle) has no checksum, so a
    truncated file reached the unpickler and raised (UnpicklingError, EOFError) on every later run.
    """

    def _read_payload(self, path):
        """The verified payload, or None when absent; a damaged or foreign file is discarded (one warning)."""
        try:
            blob = read_trusted(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            discard_entry(path, _describe(exc) if isinstance(exc, UntrustedCacheError) else str(exc))
            return None
        head = len(_MAGIC) + _DIGEST
        if blob[: len(_MAGIC)] != _MAGIC or hashlib.sha256(blob[head:]).digest() != blob[len(_MAGIC):head]:
            discard_entry(path, "truncated or corrupted" if blob else "empty")
            return None
        return blob[head:]

    def _write_payload(self, path, payload):
        write_private(path, _MAGIC + hashlib.sha256(payload).digest() + payload)

    def _load_index(self):
        payload = self._read_payload(self._index_path)
        if payload is None:
            return {}
        try:
            version, stamp, overloads = pickle.loads(payload)
        except Exception as exc:  # intact bytes that do not unpickle: written by something else
            discard_entry(self._index_path, f"{type(exc).__name__}: {exc}")
            return {}
        if version != self._version or stamp != self._source_stamp:
            return {}  # another numba or an edited source file: stale, overwritten by the next save
        return overloads

    def _save_index(self, overloads):
        self._write_payload(self._index_path, self._dump((self._version, self._source_stamp, overloads)))

    def _load_data(self, name):
        path = self._data_path(name)
        payload = self._read_payload(path)
        if payload is None:
            return None
        try:
            return pickle.loads(payload)
        except ImportError:
            return None  # the module it belongs to is not importable now (a generated one no longer loaded)
        except Exception as exc:
            discard_entry(path, f"{type(exc).__name__}: {exc}")
            return None

    def _save_data(self, name, data):
        self._write_payload(self._data_path(name), self._dump(data))


class _Locator(_caching._SourceFileBackedLocatorMixin, _caching._CacheLocator):
    """Puts a function's cache under CACHE_DIR, in a sub-folder named after its source directory."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(CACHE_DIR, self.get_suitable_cache_subpath(py_file))

    def get_cache_path(self):
        return self._cache_path

    def ensure_cache_path(self):
        # numba's version insists on writing a probe file; a trusted read-only folder is enough to load from.
        private_dir(self._cache_path)

    @classmethod
    def from_function(cls, py_func, py_file):
        # None for a function whose source is not a file on disk (a generated module compiled in memory): such a
        # function is compiled in every process, never cached.
        if CACHE_DIR is None:
            return None
        return super().from_function(py_func, py_file)


class _CacheImpl(_caching.CompileResultCacheImpl):
    _locator_classes = [_Locator]


class _FunctionCache(_caching.FunctionCache):
    """numba's per-function cache on _TrustedCacheFile; any failure to load is a miss, any failure to save is
    kept in memory (a read-only cache silently, anything else with one warning)."""

    _impl_class = _CacheImpl

    def __init__(self, py_func):
        super().__init__(py_func)
        self._cache_file = _TrustedCacheFile(self._cache_path, self._impl.filename_base,
                                             self._cache_file._source_stamp)

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception as exc:  # the payload was intact but could not be rebuilt: compile instead
            warn_once(("load", self._cache_path, self._impl.filename_base),
                      f"nbkeras: could not load {self._impl.filename_base} from the cache "
                      f"({type(exc).__name__}: {exc}); it is compiled again")
            return None

    def has_overload(self, sig, target_context):
        """Whether the index lists ``sig`` compiled for this machine, without loading it (False when unsure)."""
        try:
            return self._index_key(sig, target_context.codegen()) in self._cache_file._load_index()
        except Exception:
            return False

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except OSError as exc:
            if exc.errno not in _READ_ONLY_ERRNOS or isinstance(exc, UntrustedCacheError):
                warn_once(("save", self._cache_path),
                          f"nbkeras: could not write to the cache folder {self._cache_path!r} ({exc})")


def _enable_cache(dispatcher):
    if CACHE_DIR is None:
        return
    try:
        dispatcher._cache = _FunctionCache(dispatcher.py_func)
    except RuntimeError:
        # No locator: the source is not a file (generated in memory), or its folder is unusable: stay uncached.
        pass


def is_cached(dispatcher, sig):
    """Whether ``dispatcher`` (a ``kernel``) has ``sig`` compiled in memory or listed in the disk cache."""
    if tuple(sig) in getattr(dispatcher, "overloads", {}):
        return True
    cache = getattr(dispatcher, "_cache", None)
    return isinstance(cache, _FunctionCache) and cache.has_overload(tuple(sig), dispatcher.targetctx)


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
