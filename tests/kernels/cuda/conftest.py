"""The CUDA kernel tests run in numba's CUDA simulator (tests/conftest.py turns it on before numba is imported)
unless NBKERAS_TEST_REAL_CUDA=1 asks for a real device. Without the ``[cuda]`` extra they are skipped."""

import pytest

pytest.importorskip("numba.cuda", reason="the [cuda] extra (numba-cuda) is not installed")
