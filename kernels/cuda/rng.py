"""Uniform random numbers made on the device (CUDA only: the CPU path draws them with NumPy on the host).

The layers that declare randomness (dropout, noise) read uniforms from the step's ``rand`` buffer; on the GPU that
buffer is filled here, in one launch per chunk of batches, from xoroshiro128+ generator states kept on the device
(numba.cuda.random), so no uniforms cross the bus.
"""

import contextlib
import warnings

import numba
import numpy as np
from numba import cuda
from numba.cuda.random import (
    create_xoroshiro128p_states,
    xoroshiro128p_dtype,
    xoroshiro128p_uniform_float32,
    xoroshiro128p_uniform_float64,
)

from . import _launch
from ._launch import kernel

_STATES = numba.from_dtype(xoroshiro128p_dtype)[::1]

#: Generator states (one per thread) for uniform_fill: blocks x threads. Under the simulator, where every thread
#: (and the jump-ahead that seeds each state) runs as Python, two blocks' worth: the draws keep their meaning.
STATES = (2 if _launch.SIMULATED else 64) * _launch.THREADS


@kernel(numba.types.void(_STATES, numba.float32[::1]))
def _fill32(states, out):
    i = cuda.grid(1)
    for k in range(i, out.shape[0], cuda.gridsize(1)):
        out[k] = xoroshiro128p_uniform_float32(states, i)


@kernel(numba.types.void(_STATES, numba.float64[::1]))
def _fill64(states, out):
    i = cuda.grid(1)
    for k in range(i, out.shape[0], cuda.gridsize(1)):
        out[k] = xoroshiro128p_uniform_float64(states, i)


def make_states(seed):
    """Device generator states for ``uniform_fill``, seeded by ``seed`` (an int)."""
    with _wrapping_is_intended():
        return create_xoroshiro128p_states(STATES, seed=int(seed))


def uniform_fill(states, out):
    """out[:] = uniforms in [0, 1) (float32 or float64), drawn on the device from ``states``."""
    if out.shape[0] == 0:
        return
    fill = _fill32 if out.dtype == numba.float32 or str(out.dtype) == "float32" else _fill64
    # No more threads than values (each thread draws from its own state, striding over the buffer when it is
    # longer than the states are many).
    with _wrapping_is_intended():
        fill[min(STATES // _launch.THREADS, _launch.blocks(out.shape[0])), _launch.THREADS](states, out)


@contextlib.contextmanager
def _wrapping_is_intended():
    """xoroshiro128+ and its splitmix64 seeding wrap uint64 sums and products on purpose. Where they run as NumPy
    scalars (the simulator, numba-cuda's object-mode seeding fallback) NumPy warns about each wrap; the simulator's
    threads do not inherit ``np.errstate``, so the warning is filtered by message for the duration of the call."""
    if not _launch.SIMULATED:
        yield
        return
    with warnings.catch_warnings(), np.errstate(over="ignore"):
        warnings.filterwarnings("ignore", message="overflow encountered", category=RuntimeWarning)
        yield
