"""kernels/cuda/rng.py: the dropout uniforms the GPU path makes on the device (no CPU twin: the CPU path draws them
with NumPy on the host)."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import rng
from numba import cuda


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniforms_lie_in_the_unit_interval_and_depend_on_the_seed(dtype):
    out = cuda.device_array(600, dtype)
    a = rng.make_states(7)
    rng.uniform_fill(a, out)
    first = out.copy_to_host()
    assert first.dtype == dtype
    assert first.min() >= 0.0 and first.max() < 1.0
    assert 0.4 < first.mean() < 0.6 and np.unique(first).size > 590
    rng.uniform_fill(a, out)
    assert not np.array_equal(out.copy_to_host(), first)  # the states advance
    again = cuda.device_array(600, dtype)
    rng.uniform_fill(rng.make_states(7), again)
    np.testing.assert_array_equal(again.copy_to_host(), first)  # same seed, same stream


def test_an_empty_buffer_launches_nothing():
    from nbkeras.kernels.cuda import _launch

    before = _launch.LAUNCHES[0]
    rng.uniform_fill(rng.make_states(1), cuda.device_array(0, np.float32))
    assert _launch.LAUNCHES[0] == before
