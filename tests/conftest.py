"""Test-session settings shared by every test.

Hypothesis profiles (choose with HYPOTHESIS_PROFILE):
  ci   (default) few examples per property, derandomized so CI runs repeat exactly; the suite stays fast.
  dev  200 examples, random seeds: run this before changing a kernel.
Both use deadline=None: a first call compiles (0.1-3 s) and would trip any deadline.
"""

import os

import numpy as np
import pytest
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
