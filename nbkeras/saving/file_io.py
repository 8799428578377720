"""Crash-safe file writes: write to a temporary name in the target directory, flush to disk, rename over.

A crash, ``kill -9`` or Ctrl-C at any point leaves either the previous file or the complete new one, never a
partial file under the target name (``os.replace`` is atomic within one file system). The temporary file is
created with mode 0666 minus the umask, as ``open()`` would.
"""

import contextlib
import os
import secrets


@contextlib.contextmanager
def atomic_write(path):
    """``with atomic_write(path) as f: f.write(...)`` -- ``path`` appears only once ``f`` is complete."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Cannot save to {path!r}: the directory {directory!r} does not exist")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory):
    """Make the rename itself durable (best effort: not every platform can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def import_h5py():
    """h5py, imported on first use (it costs ~0.1 s at import; nbkeras does not need it until a file is read or
    written)."""
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - h5py is a dependency
        raise ImportError("Reading or writing .keras / .weights.h5 files needs h5py: pip install h5py") from e
    return h5py
