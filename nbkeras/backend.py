"""The one dispatch point between the Keras-compatible API and the kernels.

Layers, losses, optimizers and the trainer reach compute only through ``kernels()`` (eager calls) and
``kernel_module_paths()`` (imports written into generated train steps), so adding a CUDA kernel set changes this
file, not the layers. Also holds Keras's backend settings: floatx, epsilon, the layer-name counters and the one
random generator.
"""

import importlib

import numpy as np

_DEVICE = "cpu"
#: Every kernel family of a kernel set (modules of ``nbkeras.kernels.<device>``).
_KERNEL_MODULES = ("gemm", "dense", "activations", "losses", "optimizers", "metrics", "data", "tensor_ops",
                   "views", "step", "conv", "pooling", "normalization", "shape_ops", "penalties", "embedding",
                   "recurrent", "elementwise", "reduce", "linalg", "norm_ops", "merge_ops", "noise", "confusion")

_FLOATX = "float32"
_EPSILON = 1e-7
_UIDS = {}
_RNG = np.random.default_rng()


def device():
    """The kernel set in use: 'cpu' (a 'cuda' set has the same names and meanings)."""
    return _DEVICE


def kernel_module_paths():
    """{family: import path} of the active kernel set, for generated code."""
    return {name: f"nbkeras.kernels.{_DEVICE}.{name}" for name in _KERNEL_MODULES}


class _Kernels:
    """The active kernel modules as attributes, imported on first use: ``kernels().dense.dense_forward(...)``."""

    def __getattr__(self, family):
        path = kernel_module_paths().get(family)
        if path is None:
            raise AttributeError(f"no kernel family {family!r} in the {_DEVICE} kernel set")
        module = importlib.import_module(path)
        setattr(self, family, module)
        return module


_kernels_ns = _Kernels()


def kernels():
    """Namespace of the active kernel modules: ``kernels().dense.dense_forward(...)``."""
    return _kernels_ns


def kernel(name):
    """The kernel 'family.name' of the active set."""
    family, fn = name.split(".")
    return getattr(getattr(_kernels_ns, family), fn)


def compute_threads():
    """Context in which compiled steps run: the kernel set's thread policy (see kernels/policy.py)."""
    from nbkeras.kernels import policy

    return policy.compute_threads()


def floatx():
    return _FLOATX


def set_floatx(value):
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(f"set_floatx: nbkeras supports 'float32' and 'float64', got {value!r}")
    _FLOATX = str(value)


def epsilon():
    return _EPSILON


def set_epsilon(value):
    global _EPSILON
    _EPSILON = float(value)


def image_data_format():
    return "channels_last"


def backend():
    return "numba"


def get_uid(prefix=""):
    """Keras's per-prefix counter: 1 for the first call, then 2, 3, ..."""
    _UIDS[prefix] = _UIDS.get(prefix, 0) + 1
    return _UIDS[prefix]


def unique_name(prefix):
    """'dense', then 'dense_1', 'dense_2', ... as Keras names layers and models."""
    uid = get_uid(prefix)
    return prefix if uid == 1 else f"{prefix}_{uid - 1}"


def clear_session():
    _UIDS.clear()


def rng():
    """The generator behind initializers, dropout masks and shuffling (seeded by utils.set_random_seed)."""
    return _RNG


def set_seed(seed):
    global _RNG
    _RNG = np.random.default_rng(seed)
