"""Device selection (nbkeras/devices.py): Keras 3's device scope, NBKERAS_DEVICE, auto never picking the simulator,
clear errors when CUDA is asked for and missing, and no CUDA import unless asked."""

import os
import subprocess
import sys

import pytest

import nbkeras as keras
from nbkeras import devices


def test_device_scope_parses_keras_names_and_nests():
    assert devices.scoped() is None
    with keras.device("gpu:0"):
        assert devices.scoped() == ("cuda", 0)
        with keras.device("cpu"):
            assert devices.resolve() == "cpu"
        assert devices.scoped() == ("cuda", 0)
    assert devices.scoped() is None
    with keras.device("cuda:1"):
        assert devices.scoped() == ("cuda", 1)


@pytest.mark.parametrize("bad", ["tpu", "gpu:x", "", "cpu:-1"])
def test_unknown_device_names_raise(bad):
    with pytest.raises(ValueError, match="unknown device"), keras.device(bad):
        pass


def test_device_name_must_be_a_string():
    with pytest.raises(TypeError, match="device name"), keras.device(0):
        pass


def test_auto_never_picks_the_simulator(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    assert devices.resolve(("auto", 0)) == "cpu"


def test_environment_variable_is_read(monkeypatch):
    monkeypatch.setenv("NBKERAS_DEVICE", "cpu")
    assert devices.requested() == ("cpu", 0)
    monkeypatch.setenv("NBKERAS_DEVICE", "bogus")
    with pytest.raises(ValueError, match="NBKERAS_DEVICE"):
        devices.requested()


def _fresh(code, **env):
    full = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=300,
                          check=False)


def test_import_and_a_cpu_fit_never_import_cuda():
    code = ("import sys, numpy as np, nbkeras as keras\n"
            "assert not [m for m in sys.modules if m.startswith(('numba.cuda', 'numba_cuda'))], 'imported at import'\n"
            "m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])\n"
            "m.compile(optimizer='sgd', loss='mse')\n"
            "m.fit(np.ones((8, 3), 'float32'), np.ones((8, 1), 'float32'), verbose=0)\n"
            "print(type(m._engine).__name__)\n"
            "print(sorted(m for m in sys.modules if m.startswith(('numba.cuda', 'numba_cuda'))))\n")
    r = _fresh(code)
    assert r.returncode == 0, r.stderr
    engine, cuda_modules = r.stdout.split("\n")[:2]
    assert engine == "CompiledEngine"
    if not devices.real_gpu_available():
        assert cuda_modules == "[]"


def test_requesting_cuda_without_a_gpu_says_what_to_do():
    if devices.real_gpu_available():
        pytest.skip("this machine has a GPU")
    code = ("import numpy as np, nbkeras as keras\n"
            "m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])\n"
            "m.compile(optimizer='sgd', loss='mse')\n"
            "m.fit(np.ones((8, 3), 'float32'), np.ones((8, 1), 'float32'), verbose=0)\n")
    r = _fresh(code, NBKERAS_DEVICE="cuda")
    assert r.returncode != 0
    assert "RuntimeError: CUDA was requested" in r.stderr and "nbkeras[cuda]" in r.stderr
    assert "NBKERAS_DEVICE=cpu" in r.stderr
