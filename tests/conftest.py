"""Test-session settings shared by every test.

Hypothesis profiles (choose with HYPOTHESIS_PROFILE):
  ci   (default) few examples per property, derandomized so CI runs repeat exactly; the suite stays fast.
  dev  200 examples, random seeds: run this before changing a kernel.
Both use deadline=None: a first call compiles (0.1-3 s) and would trip any deadline.
"""

import os

# CUDA kernels are tested in numba's CUDA simulator unless NBKERAS_TEST_REAL_CUDA=1 asks for a real GPU. numba reads
# this once, when it is first imported, so it is set before anything imports numba. It changes nothing else: the
# CPU kernels do not look at it, and nbkeras never picks the simulator as a device.
if os.environ.get("NBKERAS_TEST_REAL_CUDA") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    """A fresh, fixed-seed generator per test: tests pass their randomness explicitly."""
    return np.random.default_rng(1234)
