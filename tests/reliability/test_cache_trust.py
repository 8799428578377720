"""The cache directory is a trust boundary: foreign, shared or swapped directories and files are never used."""

import os
import pickle
import hashlib

import pytest

from reliability_helpers import GENERATED, child_env, files_under, run_child, tree_modes

KERNEL_CALL = """
from nbkeras.kernels.cpu import tensor_ops
a = np.zeros(3)
tensor_ops.add_into(a, np.ones(3))
report["ok"] = a.tolist() == [1.0, 1.0, 1.0]
report["hits"] = sum(tensor_ops.add_into.stats.cache_hits.values())
"""


def repeat_if_rebuilt(scenario, tmp_path):
    """Run ``scenario(base)`` (returning its reports) until all its reports name the same build folder.

    Other processes editing a kernel source file between two runs change the fingerprint folder, and the second
    run rightly starts afresh (not meeting what the first one planted); then the scenario runs again in a new
    folder.
    """
    for attempt in range(3):
        base = tmp_path / f"attempt{attempt}"
        base.mkdir()
        reports = scenario(base)
        if len({os.path.basename(r["cache_dir"] or "") for r in reports if r.get("cache_dir")}) <= 1:
            return reports
    return reports


def fallback_dir(tmp_path):
    return os.path.join(tmp_path, "tmp", f"nbkeras-cache-{os.geteuid()}")


def test_created_levels_are_private_even_with_a_permissive_umask(tmp_path):
    cache = tmp_path / "cache"
    env = child_env(str(tmp_path), NBKERAS_CACHE_DIR=str(cache))
    source = GENERATED.format(variant="umask")
    body = KERNEL_CALL + f"""
from nbkeras.models import loader
report["generated"] = loader.load({source!r}).__file__
"""
    report = run_child(str(tmp_path), env, body=body, setup="os.umask(0)")  # before anything is created
    assert report["ok"] and report["warnings"] == []
    modes = tree_modes(cache)
    assert modes, "nothing was cached"
    for rel, mode in modes.items():
        full = cache / rel
        expected = 0o700 if full.is_dir() else 0o600
        assert mode == expected, f"{rel}: {oct(mode)}"
    assert os.stat(cache).st_mode & 0o777 == 0o700


@pytest.mark.parametrize("how", ["group_writable", "world_writable"])
def test_a_cache_dir_writable_by_others_is_refused(tmp_path, how):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o770 if how == "group_writable" else 0o777)
    env = child_env(str(tmp_path), NBKERAS_CACHE_DIR=str(shared))
    report = run_child(str(tmp_path), env, body=KERNEL_CALL)
    assert report["ok"]
    assert len(report["warnings"]) == 1 and "writable by group or others" in report["warnings"][0]
    assert report["cache_dir"].startswith(fallback_dir(tmp_path))
    assert files_under(shared) == [], "nothing may be written into a directory others can write"


def test_a_foreign_owned_cache_dir_is_refused_and_its_planted_module_never_runs(tmp_path, other_uid):
    """Another user made (or replaced) the shared cache directory and planted a generated module in it."""
    marker = tmp_path / "pwned"
    source = GENERATED.format(variant="victim")
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    # The attacker's copy of the victim's future cache, at the exact paths the victim would use.
    env = child_env(str(tmp_path), NBKERAS_CACHE_DIR=str(tmp_path / "probe"))
    fingerprint = os.path.basename(run_child(str(tmp_path), env)["cache_dir"])
    shared = tmp_path / "shared"
    generated = shared / fingerprint / "generated"
    generated.mkdir(parents=True)
    planted = generated / f"nbkeras_generated_{digest}.py"
    planted.write_text(f"open({str(marker)!r}, 'w').write('ran')\n" + source)
    for path in (shared, shared / fingerprint, generated, planted):
        os.chown(path, other_uid, other_uid)
    env = child_env(str(tmp_path), NBKERAS_CACHE_DIR=str(shared))
    body = f"""
from nbkeras.models import loader
m = loader.load({source!r})
dst = np.zeros(2)
m.steps(dst, np.ones(2), 3)
report["ok"] = dst.tolist() == [3.0, 3.0]
"""
    report = run_child(str(tmp_path), env, body=body)
    assert report["ok"]
    assert not marker.exists(), "the planted module ran"
    assert len(report["warnings"]) == 1 and f"owned by uid {other_uid}" in report["warnings"][0]
    assert not report["cache_dir"].startswith(str(shared))


def test_a_planted_generated_module_inside_a_trusted_cache_is_replaced_not_run(tmp_path, other_uid):
    """Even in our own directory, a module whose text does not hash to its name is never imported."""
    source = GENERATED.format(variant="planted")
    body = f"""
from nbkeras.models import loader
m = loader.load({source!r})
dst = np.zeros(2)
m.steps(dst, np.ones(2), 2)
report["ok"] = dst.tolist() == [2.0, 2.0]
report["file"] = m.__file__
"""

    def scenario(base):
        env = child_env(str(base), NBKERAS_CACHE_DIR=str(base / "cache"))
        first = run_child(str(base), env, body=body)
        with open(first["file"], "w") as f:  # same name, the attacker's text
            f.write(f"open({str(base / 'pwned')!r}, 'w').write('ran')\n" + source)
        os.chown(first["file"], other_uid, other_uid)
        return first, run_child(str(base), env, body=body)

    first, second = repeat_if_rebuilt(scenario, tmp_path)
    path = first["file"]
    assert second["ok"] and not list(tmp_path.rglob("pwned")), "the planted text ran"
    assert len(second["warnings"]) == 1 and "does not match its name" in second["warnings"][0]
    with open(path) as f:
        assert f.read() == source
    assert os.stat(path).st_uid == os.geteuid() and os.stat(path).st_mode & 0o777 == 0o600


class Payload:
    """Unpickling this creates the file ``path``: proof that a pickle was loaded."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_foreign_numba_index_is_never_unpickled(tmp_path, other_uid):
    """A .nbi file is a pickle: one owned by someone else is discarded unread, even with a valid checksum."""

    def scenario(base):
        cache = base / "cache"
        env = child_env(str(base), NBKERAS_CACHE_DIR=str(cache))
        first = run_child(str(base), env, body=KERNEL_CALL)
        index = [f for f in files_under(cache) if "add_into" in f and f.endswith(".nbi")]
        assert len(index) == 1
        body = pickle.dumps(Payload(str(base / "pwned")))
        with open(index[0], "wb") as f:  # checksummed like a genuine entry: only the owner check stops it
            f.write(b"nbkeras-cache-1\n" + hashlib.sha256(body).digest() + body)
        os.chown(index[0], other_uid, other_uid)
        return first, run_child(str(base), env, body=KERNEL_CALL)

    _, report = repeat_if_rebuilt(scenario, tmp_path)
    assert report["ok"] and not list(tmp_path.rglob("pwned"))
    assert len(report["warnings"]) == 1 and f"owned by uid {other_uid}" in report["warnings"][0]
    assert report["hits"] == 0


def test_the_temp_fallback_refuses_a_link_or_a_foreign_directory(tmp_path, other_uid):
    """The fallback name is predictable, so whoever made it first must be us, and it must not be a link."""
    blocked_home = tmp_path / "blocker"
    blocked_home.write_text("a file: nothing can be created below it\n")
    target = tmp_path / "attacker"
    target.mkdir()
    fallback = fallback_dir(tmp_path)
    env = child_env(str(tmp_path), HOME=str(blocked_home / "home"))
    os.makedirs(os.path.dirname(fallback), exist_ok=True)
    os.symlink(target, fallback)
    report = run_child(str(tmp_path), env, body=KERNEL_CALL)
    assert report["ok"] and report["cache_dir"] is None
    assert len(report["warnings"]) == 1 and "symbolic link" in report["warnings"][0]
    assert files_under(target) == []
    os.unlink(fallback)
    os.mkdir(fallback, 0o700)
    os.chown(fallback, other_uid, other_uid)
    report = run_child(str(tmp_path), env, body=KERNEL_CALL)
    assert report["ok"] and report["cache_dir"] is None
    assert len(report["warnings"]) == 1 and f"owned by uid {other_uid}" in report["warnings"][0]
    assert files_under(fallback) == []


def test_a_level_replaced_by_a_link_is_refused(tmp_path):
    def scenario(base):
        env = child_env(str(base), NBKERAS_CACHE_DIR=str(base / "cache"))
        first = run_child(str(base), env, body=KERNEL_CALL)
        os.rename(first["cache_dir"], base / "elsewhere")
        os.symlink(base / "elsewhere", first["cache_dir"])
        return first, run_child(str(base), env, body=KERNEL_CALL)

    first, report = repeat_if_rebuilt(scenario, tmp_path)
    assert report["ok"] and report["hits"] == 0
    assert len(report["warnings"]) == 1 and "symbolic link" in report["warnings"][0]
    assert report["cache_dir"].startswith(fallback_dir(os.path.dirname(os.path.dirname(first["cache_dir"]))))


def test_a_root_that_is_the_users_own_link_is_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    os.symlink(real, link)
    env = child_env(str(tmp_path), NBKERAS_CACHE_DIR=str(link))
    report = run_child(str(tmp_path), env, body=KERNEL_CALL)
    assert report["ok"] and report["warnings"] == []
    assert report["cache_dir"].startswith(str(real))
