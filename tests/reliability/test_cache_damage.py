"""A damaged cache entry is discarded with one warning, compiled again, and the run succeeds; the next run is clean."""

import os

import pytest

from reliability_helpers import GENERATED, child_env, files_under, run_child

SOURCE = GENERATED.format(variant="damage")
BODY = f"""
from nbkeras.kernels.cpu import tensor_ops
from nbkeras.models import loader
a = np.zeros(3)
tensor_ops.add_into(a, np.ones(3))
m = loader.load({SOURCE!r})
dst = np.zeros(2)
m.steps(dst, np.ones(2), 4)
report["ok"] = a.tolist() == [1.0] * 3 and dst.tolist() == [4.0, 4.0]
report["kernel_hits"] = sum(tensor_ops.add_into.stats.cache_hits.values())
report["steps_hits"] = sum(m.steps.stats.cache_hits.values())
report["generated"] = m.__file__
"""


def truncate(path):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def empty(path):
    open(path, "wb").close()


def raw_numba_format(path):
    """numba's own unchecksummed layout (a bare pickle), as an older nbkeras or numba wrote it."""
    import pickle

    with open(path, "wb") as f:
        pickle.dump("0.0.0", f)
        f.write(pickle.dumps(("stamp", {})))


def pick(cache, generated, kind):
    if kind == "generated":
        return generated
    suffix = {"index": ".nbi", "data": ".nbc"}[kind]
    found = [f for f in files_under(cache) if "add_into" in os.path.basename(f) and f.endswith(suffix)]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("kind, damage", [
    ("generated", truncate),  # was: SyntaxError on every later run
    ("generated", empty),  # was: AttributeError (a module without `steps`)
    ("index", truncate),  # was: UnpicklingError
    ("index", raw_numba_format),
    ("data", empty),  # was: EOFError
    ("data", truncate),
])
def test_damaged_entry_heals(tmp_path, kind, damage):
    # Another process editing a kernel source file between the runs changes the cache's fingerprint folder, and
    # the later runs rightly start afresh: then the scenario is repeated in a new folder.
    for attempt in range(3):
        cache = tmp_path / f"cache{attempt}"
        runs = scenario(tmp_path, cache, kind, damage)
        if len({r["cache_dir"] for r in runs}) == 1:
            break
    first, second, third = runs
    assert second["ok"], "the run with a damaged entry must succeed"
    assert len(second["warnings"]) == 1, second["warnings"]
    if kind != "generated":
        assert second["kernel_hits"] == 0, "the damaged kernel entry was compiled again"
    assert third["ok"] and third["warnings"] == []
    assert third["kernel_hits"] == 1 and third["steps_hits"] == 1, "healed: both load from the cache again"


def scenario(tmp_path, cache, kind, damage):
    env = child_env(str(tmp_path), NBKERAS_CACHE_DIR=str(cache))
    first = run_child(str(tmp_path), env, body=BODY)
    assert first["ok"] and first["warnings"] == []
    path = pick(cache, first["generated"], kind)
    damage(path)
    second = run_child(str(tmp_path), env, body=BODY)
    if second["cache_dir"] == first["cache_dir"]:
        assert os.path.basename(path) in " ".join(second["warnings"])
        if kind == "generated":
            with open(path) as f:
                assert f.read() == SOURCE, "the module is written again"
    third = run_child(str(tmp_path), env, body=BODY)
    return first, second, third
