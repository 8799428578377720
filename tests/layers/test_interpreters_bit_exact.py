"""The eager and the compiled interpreter agree bit for bit, for every layer test.

Both run a layer's one description through the same kernels on the same memory. With nbkeras's production
fastmath flags (``reassoc``, ``contract``) LLVM may vectorise a sum differently in a kernel inlined into the
compiled step than in the standalone copy the eager path calls, so the ordinary layer tests allow a last-bits
difference (tests/support/layer_test.py). Here the layer tests run again in a fresh process with
``NBKERAS_STRICT_FP=1``, which compiles every kernel without value-changing flags, and ``check_description`` then
demands exact equality of outputs, loss, weight and input gradients and updated state.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _has_xdist():
    try:
        import xdist  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(os.environ.get("NBKERAS_STRICT_FP", "0") not in ("", "0"), reason="already strict")
def test_every_layer_test_passes_with_bit_exact_interpreters():
    env = dict(os.environ, NBKERAS_STRICT_FP="1")
    workers = ["-n", "2"] if _has_xdist() else []
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *workers,
                        "tests/layers", "-k", "not bit_exact"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=3600, check=False)
    tail = r.stdout[-3000:]
    print(tail)
    assert r.returncode == 0, tail + r.stderr[-3000:]
    assert " passed" in tail
