"""Turns generated source (a model's train step, see codegen.py) into a module, safely.

A generated module is named after its text: ``nbkeras_generated_<digest>``, the digest being the first 24 hex
digits of the SHA-256 of the source. With the compile cache on, the text is kept as
``<cache>/generated/nbkeras_generated_<digest>.py`` so that numba's disk cache finds the compiled functions again in
the next process (numba keys its cache on a source *file*). That file is a trust boundary, so:

* the cached file is read once (without following a link) and used only if its bytes are exactly the source asked
  for; the module then runs the caller's own bytes, never the file's, so nothing can change between check and use;
* a missing file is written atomically (a 0600 temporary file in the same folder, then ``os.replace``); a wrong one
  (truncated, emptied, edited, planted by someone else) is replaced the same way, with one CacheWarning;
* with no usable cache folder (``NBKERAS_CACHE=0``, everything read-only, a refused folder) the source is compiled
  in memory and no file is written anywhere: the module's functions then have no file, so ``kernel``'s locator
  finds none and numba compiles them in every process (the kernels they call are still cached).

The module is registered in ``sys.modules`` while loaded: numba's cache re-imports a cached function's module by
name when it rebuilds its environment.

Memory: numba never frees a module-level compiled function by itself (its dispatcher finalizer holds the compiled
code, whose environment holds the module's globals, which hold the dispatcher), so every distinct architecture
stayed in memory for the life of the process. ``load(source, owner)`` ties a module to the objects that use it:
once every owner has been garbage-collected the module goes to a short list of idle ones (``IDLE_MODULES``, so a
model rebuilt in a loop is not recompiled), and the oldest idle module is freed at the next ``load``: removed from
``sys.modules`` and the memo, and numba's own finalizer run, which releases the machine code. A module loaded
without an owner is kept for the life of the process.
"""

import collections
import hashlib
import linecache
import os
import stat
import sys
import threading
import types
import weakref

from ..kernels import policy

PREFIX = "nbkeras_generated_"
#: Modules no longer owned that are kept (most recently used) before their compiled code is freed.
IDLE_MODULES = 4
_DIGEST_CHARS = 24

_LOCK = threading.RLock()
_LOADED = {}  # digest -> _Entry
_IDLE = collections.OrderedDict()  # digests of unowned, unpinned modules, oldest first
_ORPHANED = collections.deque()  # digests whose owner was collected; counted down at the next load (not in GC)


class _Entry:
    __slots__ = ("module", "owners", "pinned")

    def __init__(self, module):
        self.module = module
        self.owners = 0
        self.pinned = False


def digest(source):
    """The name-giving hash of ``source``: 24 hex digits of its SHA-256 (UTF-8)."""
    return hashlib.sha256(source.encode()).hexdigest()[:_DIGEST_CHARS]


def load(source, owner=None):
    """The module defined by ``source`` (a str of Python); every function ``source`` defines is its attribute.

    Loaded once per process while in use (the same source gives the same module object). ``owner``: an object
    whose lifetime bounds the module's use (say, the model's engine; it must hold the module or its functions,
    and must not be reachable from them); when every owner is gone the module may be freed (see the module
    docstring). Without an owner the module is kept for the life of the process. Thread-safe.
    """
    data = source.encode()
    key = hashlib.sha256(data).hexdigest()[:_DIGEST_CHARS]
    with _LOCK:
        _settle()
        entry = _LOADED.get(key)
        if entry is None:
            entry = _LOADED[key] = _Entry(_execute(key, data, source))
        if owner is None:
            entry.pinned = True
        else:
            entry.owners += 1
            weakref.finalize(owner, _ORPHANED.append, key).atexit = False
        _IDLE.pop(key, None)
        return entry.module


def loaded():
    """Names of the generated modules held now (in use or idle)."""
    with _LOCK:
        _settle()
        return sorted(e.module.__name__ for e in _LOADED.values())


def trim(keep=0):
    """Free idle modules until at most ``keep`` remain (``load`` keeps IDLE_MODULES); returns how many were freed."""
    with _LOCK:
        _settle()
        return _evict(keep)


def _settle():
    """Count down the owners collected since the last call (finalizers only queue: no work inside the GC)."""
    while _ORPHANED:
        key = _ORPHANED.popleft()
        entry = _LOADED.get(key)
        if entry is None:
            continue
        entry.owners -= 1
        if entry.owners <= 0 and not entry.pinned:
            _IDLE[key] = None
            _IDLE.move_to_end(key)
    _evict(IDLE_MODULES)


def _evict(keep):
    freed = 0
    while len(_IDLE) > keep:
        key, _ = _IDLE.popitem(last=False)
        _free(_LOADED.pop(key).module)
        freed += 1
    return freed


def _free(module):
    """Forget ``module`` and let numba release its compiled code.

    Each dispatcher's weakref finalizer (numba's, which removes its entry points from the target context) is run
    now, since it would otherwise never run: it holds the dispatcher alive itself. Then the overloads and the
    module's namespace are cleared, which breaks the remaining cycles for the garbage collector.
    """
    from numba.core.dispatcher import Dispatcher

    sys.modules.pop(module.__name__, None)
    linecache.cache.pop(f"<nbkeras generated {module.__name__[len(PREFIX):]}>", None)
    namespace = module.__dict__
    dispatchers = [v for v in namespace.values()
                   if isinstance(v, Dispatcher) and getattr(v.py_func, "__globals__", None) is namespace]
    if dispatchers:
        ids = {id(d) for d in dispatchers}
        for fin in list(weakref.finalize._registry):
            info = fin.peek()
            if info is not None and id(info[0]) in ids:
                fin()
        for d in dispatchers:
            d._reset_overloads()
    namespace.clear()


def _execute(key, data, source):
    name = PREFIX + key
    path = _cached_file(name, data)
    filename = path or f"<nbkeras generated {key}>"
    module = types.ModuleType(name)
    if path is not None:
        module.__file__ = path
    code = compile(data, filename, "exec", dont_inherit=True)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    if path is None:  # tracebacks and numba's error messages can still show the generated lines
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return module


def _cached_file(name, data):
    """Path of a cache file holding exactly ``data`` (written if needed), or None: then compile in memory."""
    directory = policy.generated_dir()
    if directory is None:
        return None
    path = os.path.join(directory, name + ".py")
    found = _read_at_most(path, len(data) + 1)
    if found == data:
        return path
    if found is not None:
        what = "empty" if not found else "its text does not match its name (truncated, edited or planted)"
        policy.warn_once(("generated", path), f"nbkeras: discarded cached module {path!r}: {what}; it is "
                                              f"written again")
    try:
        policy.write_private(path, data)
    except OSError:
        return None  # a read-only cache: this module is compiled in memory, the rest of the cache still serves
    return path


def _read_at_most(path, limit):
    """Up to ``limit`` bytes of the regular file ``path`` (not through a link); None when absent,
    b"\\0" (never valid source) when it is a link or not a regular file."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError:
        return b"\0"
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b"\0"
        return f.read(limit)
