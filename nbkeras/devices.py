"""Which device runs a model's steps: the CPU (numba ``@njit`` kernels) or an NVIDIA GPU (``numba.cuda`` kernels).

As in Keras 3, ``with nbkeras.device("gpu:0"):`` places what is built and run inside the block; outside any block
the environment decides: ``NBKERAS_DEVICE=cpu|cuda|auto`` (default ``auto``). ``auto`` picks CUDA only for a real
GPU -- numba-cuda installed (``pip install "nbkeras[cuda]"``), an NVIDIA driver present, ``numba.cuda.is_available()``
-- and never numba's CUDA simulator; otherwise the CPU. Asking for CUDA explicitly on a machine without it raises
an error that says how to get it or choose the CPU. The simulator is used only when CUDA is asked for explicitly
and ``NUMBA_ENABLE_CUDASIM=1`` (the tests do that).

A model takes its device when its engine is built (first ``fit``/``evaluate``/``predict`` after ``compile``): the
scope active at ``compile()`` if there was one, else the scope or environment at that moment.

Nothing here imports numba.cuda unless CUDA is asked for or ``auto`` finds a driver, so ``import nbkeras`` and CPU
runs cost the same with or without the extra installed.
"""

import contextlib
import importlib.util
import os
import threading

_local = threading.local()
_AUTO_RESULT = []

_CPU_NAMES = ("cpu",)
_GPU_NAMES = ("gpu", "cuda")

INSTALL_HINT = ('install the extra with `pip install "nbkeras[cuda]"` on a machine with an NVIDIA GPU and its '
                'driver, or run on the CPU (NBKERAS_DEVICE=cpu, or `with nbkeras.device("cpu"):`)')


def _parse(name, where):
    if not isinstance(name, str):
        raise TypeError(f"{where}: expected a device name such as 'cpu', 'gpu:0' or 'cuda', got {name!r}")
    kind, _, index = name.strip().lower().partition(":")
    if kind == "auto" and not index:
        return "auto", 0
    if kind not in _CPU_NAMES + _GPU_NAMES or (index and not index.isdigit()):
        raise ValueError(f"{where}: unknown device {name!r}; expected 'cpu', 'gpu', 'gpu:N', 'cuda', 'cuda:N' or "
                         f"'auto'")
    return ("cpu" if kind in _CPU_NAMES else "cuda"), int(index or 0)


@contextlib.contextmanager
def device(device_name):
    """Keras 3's ``keras.device``: run what is built and run in this block on ``device_name`` ('cpu', 'gpu:0')."""
    spec = _parse(device_name, "device()")
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(spec)
    try:
        yield
    finally:
        stack.pop()


def scoped():
    """The innermost ``device()`` scope of this thread, or None."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


def requested():
    """(kind, index) asked for now: the innermost scope, else NBKERAS_DEVICE, else auto."""
    spec = scoped()
    if spec is not None:
        return spec
    return _parse(os.environ.get("NBKERAS_DEVICE", "auto") or "auto", "NBKERAS_DEVICE")


def simulator_enabled():
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def real_gpu_available():
    """True when a real CUDA GPU can run kernels (never the simulator); checked once per process, importing
    numba.cuda only when the package and a driver are both present."""
    if not _AUTO_RESULT:
        ok = False
        if not simulator_enabled() and _driver_present() and importlib.util.find_spec("numba_cuda") is not None:
            try:
                from numba import cuda

                ok = bool(cuda.is_available())
            except Exception:  # noqa: BLE001 - a broken driver means no GPU, not a crash
                ok = False
        _AUTO_RESULT.append(ok)
    return _AUTO_RESULT[0]


#: Where an NVIDIA driver shows itself (Linux, WSL2). Plain path checks: ctypes.util.find_library would run gcc
#: and ldconfig in a subprocess on every first model, and fails in a read-only temporary directory.
_DRIVER_PATHS = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/dxg", "/usr/lib/wsl/lib/libcuda.so.1",
                 "/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib64/libcuda.so.1",
                 "/usr/lib/aarch64-linux-gnu/libcuda.so.1", "/usr/local/cuda/compat/libcuda.so.1")


def _driver_present():
    if any(os.path.exists(p) for p in _DRIVER_PATHS):
        return True
    return any(os.path.exists(os.path.join(d, "libcuda.so.1"))
               for d in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d)


def resolve(spec=None):
    """'cpu' or 'cuda' for a request (default: ``requested()``); raises when CUDA is asked for and missing."""
    kind, index = spec if spec is not None else requested()
    if kind == "cpu":
        return "cpu"
    if kind == "auto":
        return "cuda" if real_gpu_available() else "cpu"
    if importlib.util.find_spec("numba_cuda") is None and not _builtin_cuda():
        raise RuntimeError(f"CUDA was requested but numba-cuda is not installed: {INSTALL_HINT}")
    if simulator_enabled():
        return "cuda"  # asked for explicitly under NUMBA_ENABLE_CUDASIM=1: numba's simulator (tests)
    if not real_gpu_available():
        raise RuntimeError(f"CUDA was requested but no usable NVIDIA GPU was found (numba.cuda.is_available() is "
                           f"False): {INSTALL_HINT}")
    from numba import cuda

    if index >= len(cuda.gpus):
        raise ValueError(f"device 'gpu:{index}' does not exist: this machine has {len(cuda.gpus)} GPU(s)")
    return "cuda"


def _builtin_cuda():
    return importlib.util.find_spec("numba.cuda") is not None
