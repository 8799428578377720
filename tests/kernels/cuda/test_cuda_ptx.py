"""Every declared CUDA kernel compiles to PTX for sm_70, sm_80 and sm_90 (NVVM from the [cu12] wheels; no GPU).

The simulator runs kernels as Python, so it accepts code NVVM rejects; this is the check that the same kernels
build for real devices. It runs ``ptxcheck`` in a fresh process without the simulator."""

import os
import subprocess
import sys

import pytest


def test_every_kernel_compiles_to_ptx():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    probe = subprocess.run(
        [sys.executable, "-c", "from numba import cuda; cuda.compile_ptx(lambda: None, (), cc=(7, 0))"],
        env=env, capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no NVVM here (install the [cuda] extra): {probe.stderr.strip().splitlines()[-1:]}")
    r = subprocess.run([sys.executable, "-m", "nbkeras.kernels.cuda.ptxcheck", "--jobs", "2"], env=env,
                       capture_output=True, text=True, timeout=1500, check=False)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
