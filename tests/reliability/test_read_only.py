"""With home, cache, temp and working directories all read-only, nbkeras imports, compiles in memory and trains,
leaving nothing behind; with NBKERAS_CACHE=0 nothing is written anywhere either."""

import os

import pytest

from reliability_helpers import GENERATED, child_env, files_under, run_child

SOURCE = GENERATED.format(variant="read-only")
IMPORT_AND_KERNELS = f"""
import nbkeras
from nbkeras.kernels.cpu import tensor_ops
from nbkeras.models import loader
a = np.zeros(3)
tensor_ops.add_into(a, np.ones(3))
m = loader.load({SOURCE!r})
dst = np.zeros(2)
m.steps(dst, np.ones(2), 2)
report["ok"] = a.tolist() == [1.0] * 3 and dst.tolist() == [2.0, 2.0]
report["in_memory"] = getattr(m, "__file__", None) is None
"""
FIT = """
import nbkeras as keras
x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
y = (x.sum(axis=1) > 0).astype("float32")
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy")
history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
report["loss"] = history.history["loss"]
report["predicted"] = model.predict(x[:4], verbose=0).shape
"""


@pytest.fixture
def read_only(tmp_path):
    """home, xdg cache, tmp, an explicit cache dir and the cwd, all mode 0555; made writable again afterwards."""
    dirs = {name: tmp_path / name for name in ("home", "xdg", "tmp", "cache", "cwd")}
    for d in dirs.values():
        d.mkdir()
    env = child_env(str(tmp_path), HOME=str(dirs["home"]), XDG_CACHE_HOME=str(dirs["xdg"]),
                    TMPDIR=str(dirs["tmp"]), NBKERAS_CACHE_DIR=str(dirs["cache"]))
    for d in dirs.values():
        os.chmod(d, 0o555)
    yield dirs, env
    for d in dirs.values():
        os.chmod(d, 0o755)


# The machine's /tmp is writable and tempfile falls back to it when TMPDIR is not; a locked-down container has no
# writable temporary directory at all, which pinning tempfile to the read-only TMPDIR reproduces.
NO_TEMP = "import tempfile; tempfile.tempdir = os.environ['TMPDIR']"


def check_untouched(dirs):
    for name, d in dirs.items():
        assert files_under(d) == [] and os.listdir(d) == [], f"{name} was written to"


def test_import_and_kernels_work_with_every_directory_read_only(read_only, bound_by_modes):
    dirs, env = read_only
    report = run_child(str(dirs["cwd"]), env, body=IMPORT_AND_KERNELS, preexec_fn=bound_by_modes, setup=NO_TEMP)
    assert report["ok"] and report["in_memory"] and report["cache_dir"] is None
    assert len(report["warnings"]) == 1 and "not cached" in report["warnings"][0]
    check_untouched(dirs)


def test_fit_works_with_every_directory_read_only(read_only, bound_by_modes):
    dirs, env = read_only
    report = run_child(str(dirs["cwd"]), env, body=FIT, preexec_fn=bound_by_modes, setup=NO_TEMP)
    assert report["cache_dir"] is None
    assert len(report["loss"]) == 2 and all(v == v for v in report["loss"])
    assert report["predicted"] == [4, 1]
    check_untouched(dirs)


def test_no_temporary_directory_at_all_is_not_an_import_error(read_only, bound_by_modes):
    """tempfile.gettempdir() raises FileNotFoundError when no candidate is writable: the cache is simply off."""
    dirs, env = read_only
    setup = ("import tempfile; tempfile.tempdir = None; "
             "tempfile._candidate_tempdir_list = lambda: [os.environ['TMPDIR']]")
    report = run_child(str(dirs["cwd"]), env, body=IMPORT_AND_KERNELS, preexec_fn=bound_by_modes, setup=setup)
    assert report["ok"] and report["cache_dir"] is None
    assert len(report["warnings"]) == 1 and "no temporary directory" in report["warnings"][0]
    check_untouched(dirs)


def test_cache_off_leaves_nothing_behind(tmp_path):
    env = child_env(str(tmp_path), NBKERAS_CACHE="0")
    report = run_child(str(tmp_path), env, body=IMPORT_AND_KERNELS + FIT)
    assert report["ok"] and report["in_memory"] and report["warnings"] == []
    assert os.listdir(tmp_path / "tmp") == [], "a process with the cache off left files in the temp directory"
    assert os.listdir(tmp_path / "home") == []


def test_a_prefilled_read_only_cache_is_used_without_writing(tmp_path, bound_by_modes):
    """An administrator fills the cache, then makes it read-only (README: "The compile cache")."""
    cache = tmp_path / "cache"
    env = child_env(str(tmp_path), NBKERAS_CACHE_DIR=str(cache))
    body = IMPORT_AND_KERNELS + """
report["kernel_hits"] = sum(tensor_ops.add_into.stats.cache_hits.values())
report["steps_hits"] = sum(m.steps.stats.cache_hits.values())
"""
    for attempt in range(3):  # a kernel source edited by someone else meanwhile changes the fingerprint folder
        filled = run_child(str(tmp_path), env, body=body)
        for d, dirs, files in os.walk(cache):
            for name in files:
                os.chmod(os.path.join(d, name), 0o444)
            os.chmod(d, 0o555)
        before = files_under(cache)
        try:
            report = run_child(str(tmp_path), env, body=body, preexec_fn=bound_by_modes)
        finally:
            for d, dirs, files in os.walk(cache):
                os.chmod(d, 0o755)
        if report["cache_dir"] == filled["cache_dir"]:
            break
    assert report["ok"] and report["warnings"] == []
    assert report["kernel_hits"] == 1 and report["steps_hits"] == 1 and not report["in_memory"]
    assert files_under(cache) == before
