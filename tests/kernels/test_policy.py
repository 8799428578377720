"""The compile policy (kernels/policy.py), each case in a fresh interpreter.

The policy reads its environment once, at import, so every case runs ``python -c`` in a child process with a
controlled environment: no inherited NBKERAS_*/NUMBA_* variables or PYTHONPATH, HOME and TMPDIR inside the test's
temporary directory, and that directory as cwd (so the repository's own ``kernels/`` folder is not importable by
accident). Children are kept few: each pays numba's import (~0.5 s) plus any compile.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nbkeras.kernels.cpu import metrics

# The child imports everything inside catch_warnings, runs one small kernel, and prints one JSON line.
CHILD = """
import importlib.util, json, sys, tempfile, warnings
{setup}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import numpy as np
    import nbkeras.kernels
    from nbkeras.kernels import policy
    from nbkeras.kernels.cpu import data, metrics
src = np.arange(12.0).reshape(4, 3)
index = np.array([3, 0, 2], np.int64)
dst = np.zeros((2, 3))
data.gather_rows(src, index, 1, 3, dst)
stats = getattr(data.gather_rows, "stats", None)
report = dict(
    cache_dir=policy.CACHE_DIR,
    generated_dir=policy.generated_dir(),
    gemm_mode=policy.GEMM_MODE,
    num_threads=policy.NUM_THREADS,
    warnings=[str(w.message) for w in caught if issubclass(w.category, policy.CacheWarning)],
    compiled=hasattr(data.gather_rows, "py_func"),
    gathered_ok=bool(np.array_equal(dst, src[[0, 2]])),
    hits=None if stats is None else sum(stats.cache_hits.values()),
    top_level_kernels=importlib.util.find_spec("kernels") is not None,
)
{body}
print(json.dumps(report))
"""

# A row-wise metric with ties and a NaN: the plain-Python run must agree with the compiled one.
TOP_K_PRED = [[0.4, 0.4, 0.2], [float("nan"), 0.1, 0.3], [0.1, float("nan"), 0.3], [0.5, 0.1, 0.3]]
TOP_K_LABELS = [1.0, 0.0, 2.0, 2.0]
TOP_K_BODY = f"""
nan = float("nan")
out = np.zeros(4)
metrics.sparse_top_k_categorical_accuracy_forward(np.array({TOP_K_LABELS!r}), np.array({TOP_K_PRED!r}), out, 1)
report["top_k"] = out.tolist()
"""


def child_env(tmp_path, **overrides):
    """A clean environment for a child; an override of None removes the variable."""
    drop = ("PYTHONPATH", "PYTHONWARNINGS", "XDG_CACHE_HOME", "HOME", "TMPDIR", "TEMP", "TMP")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBKERAS_", "NUMBA_")) and k not in drop}
    for name in ("home", "tmp"):
        (tmp_path / name).mkdir(exist_ok=True)
    env.update(HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path / "tmp"))
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_child(tmp_path, code, env):
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def child_report(tmp_path, env, setup="", body=""):
    proc = run_child(tmp_path, CHILD.format(setup=setup, body=body), env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def files_under(path):
    return [os.path.join(d, f) for d, _, names in os.walk(path) for f in names]


def blocker_file(tmp_path):
    """A regular file: any directory 'below' it cannot be created, even by root (chmod would not stop root)."""
    path = tmp_path / "blocker"
    path.write_text("not a directory\n")
    return path


# --- layout and cache ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache_runs(tmp_path_factory):
    """Two processes in turn with one fresh NBKERAS_CACHE_DIR: (first report, second report, cache dir)."""
    tmp_path = tmp_path_factory.mktemp("cache")
    for attempt in range(3):
        cache = tmp_path / f"cache{attempt}"  # a fresh one per attempt: the first process must find it empty
        env = child_env(tmp_path, NBKERAS_CACHE_DIR=str(cache))
        first = child_report(tmp_path, env)
        second = child_report(tmp_path, env)
        # The cache directory carries a fingerprint of every kernel source file; if someone edited one between
        # the two runs, the second process rightly compiled afresh: run the pair again.
        if first["cache_dir"] == second["cache_dir"]:
            break
    return first, second, cache


def test_installed_as_nbkeras_kernels_only(cache_runs):
    first, _, _ = cache_runs
    assert first["compiled"] and first["gathered_ok"]
    assert not first["top_level_kernels"], "kernels/ must not be importable as a top-level module"
    assert first["warnings"] == []


def test_second_process_hits_the_cache(cache_runs):
    first, second, cache = cache_runs
    assert first["cache_dir"].startswith(str(cache)) and first["cache_dir"].endswith(first["gemm_mode"])
    assert first["hits"] == 0, "a fresh cache directory cannot hold compiled code"
    assert second["hits"] >= 1 and second["gathered_ok"]
    assert any(f.endswith(".nbi") for f in files_under(cache)), "no numba index written under NBKERAS_CACHE_DIR"
    assert second["generated_dir"].startswith(first["cache_dir"])


def test_cache_off_writes_nothing_and_hits_nothing(tmp_path):
    cache = tmp_path / "cache"
    env = child_env(tmp_path, NBKERAS_CACHE="0", NBKERAS_CACHE_DIR=str(cache))
    report = child_report(tmp_path, env)
    assert report["cache_dir"] is None and report["generated_dir"] is None
    assert report["hits"] == 0 and report["compiled"] and report["gathered_ok"]
    assert files_under(cache) == [] and files_under(tmp_path / "home") == [] and files_under(tmp_path / "tmp") == []
    assert report["warnings"] == []


# --- read-only installs -------------------------------------------------------------------------------------------


def test_unusable_cache_dir_falls_back_to_temp(tmp_path):
    # A read-only install with no writable home: the default directory ($HOME/.cache/nbkeras) cannot be made.
    home = blocker_file(tmp_path) / "home"
    report = child_report(tmp_path, child_env(tmp_path, HOME=str(home)))
    fallback = tmp_path / "tmp" / f"nbkeras-cache-{os.getuid()}"
    assert len(report["warnings"]) == 1, report["warnings"]
    message = report["warnings"][0]
    assert "not writable" in message and str(home) in message and str(fallback) in message
    assert report["cache_dir"].startswith(str(fallback))
    assert report["compiled"] and report["gathered_ok"]
    assert files_under(fallback), "the fallback directory should hold the compiled kernel"


def test_no_usable_directory_turns_the_cache_off(tmp_path):
    blocker = blocker_file(tmp_path)
    env = child_env(tmp_path, HOME=str(blocker / "home"))
    setup = f"tempfile.tempdir = {str(blocker / 'tmp')!r}"
    report = child_report(tmp_path, env, setup=setup)
    assert len(report["warnings"]) == 1, report["warnings"]
    assert "not cached" in report["warnings"][0]
    assert report["cache_dir"] is None and report["generated_dir"] is None
    assert report["compiled"] and report["gathered_ok"] and report["hits"] == 0


# --- switches -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("NBKERAS_NUM_THREADS", "0", "ValueError: NBKERAS_NUM_THREADS must be a positive integer, got '0'"),
        ("NBKERAS_NUM_THREADS", "abc", "ValueError: NBKERAS_NUM_THREADS must be a positive integer, got 'abc'"),
        ("NBKERAS_GEMM", "bogus", "ValueError: NBKERAS_GEMM must be 'auto', 'blas' or 'numba', got 'bogus'"),
    ],
)
def test_bad_switch_fails_import_with_a_clear_message(tmp_path, name, value, message):
    proc = run_child(tmp_path, "import nbkeras.kernels.policy", child_env(tmp_path, **{name: value}))
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == message


def test_numba_gemm_switch(tmp_path):
    # Compiling the numba GEMM is slow (tens of seconds cold), so this child keeps the user's own cache settings,
    # as any process would: only the first run pays. One thread is valid on every machine.
    inherited = {k: os.environ.get(k) for k in ("HOME", "XDG_CACHE_HOME", "NBKERAS_CACHE_DIR", "NBKERAS_CACHE")}
    env = child_env(tmp_path, NBKERAS_GEMM="numba", NBKERAS_NUM_THREADS="1", **inherited)
    body = """
from nbkeras.kernels.cpu import gemm
rng = np.random.default_rng(0)
a, b = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
c = np.ones((5, 3))
gemm.gemm(False, True, 2.0, a, b, 0.5, c)
report["gemm_is_numba"] = gemm.gemm is gemm.gemm_numba
report["gemm_ok"] = bool(np.allclose(c, 2.0 * a @ b.T + 0.5, rtol=1e-12, atol=1e-12))
"""
    report = child_report(tmp_path, env, body=body)
    assert report["gemm_mode"] == "numba" and report["gemm_is_numba"] and report["gemm_ok"]
    assert report["num_threads"] == 1


def test_disable_jit_runs_plain_python_with_the_same_results(tmp_path):
    env = child_env(tmp_path, NUMBA_DISABLE_JIT="1")
    report = child_report(tmp_path, env, body=TOP_K_BODY)
    assert not report["compiled"], "under NUMBA_DISABLE_JIT=1 a kernel must be the plain function"
    assert report["gathered_ok"] and report["hits"] is None
    assert report["cache_dir"] is None and report["gemm_mode"] == "numba"
    compiled = np.zeros(4)
    metrics.sparse_top_k_categorical_accuracy_forward(np.array(TOP_K_LABELS), np.array(TOP_K_PRED), compiled, 1)
    assert report["top_k"] == compiled.tolist() == [1.0, 0.0, 1.0, 0.0]
    assert report["warnings"] == []
    assert not (tmp_path / "home" / ".cache").exists(), "nothing is compiled, so no cache directory is made"
