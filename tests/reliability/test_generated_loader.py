"""nbkeras.models.loader in this process: verified cache files, in-memory compilation, owners and freeing."""

import gc
import os
import sys
import threading
import warnings

import numpy as np
import pytest

from nbkeras.kernels import policy
from nbkeras.models import loader
from reliability_helpers import GENERATED

# Sources that define functions without calling them compile nothing: these tests stay fast.
PLAIN = '''"""A generated-like module that compiles nothing."""
import numpy as np


def describe():
    return "{variant}"
'''


@pytest.fixture
def generated(tmp_path, monkeypatch):
    """A private generated/ folder for this test (0700, as policy makes it)."""
    folder = tmp_path / "generated"
    folder.mkdir(mode=0o700)
    monkeypatch.setattr(policy, "generated_dir", lambda: str(folder))
    return folder


def name_of(source):
    return f"{loader.PREFIX}{loader.digest(source)}"


def test_module_is_written_once_and_memoised(generated):
    source = PLAIN.format(variant="memo")
    module = loader.load(source)
    assert module.describe() == "memo" and module.__name__ == name_of(source)
    assert sys.modules[module.__name__] is module
    path = generated / f"{name_of(source)}.py"
    assert module.__file__ == str(path) and path.read_text() == source
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert loader.load(source) is module
    assert [p.name for p in generated.iterdir()] == [path.name], "no temporary file left behind"


def test_a_wrong_file_is_replaced_and_its_text_never_runs(generated, tmp_path):
    source = PLAIN.format(variant="wrong")
    marker = tmp_path / "ran"
    path = generated / f"{name_of(source)}.py"
    path.write_text(f"open({str(marker)!r}, 'w')\n" + source)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = loader.load(source)
    assert module.describe() == "wrong" and not marker.exists()
    assert [str(w.message) for w in caught if w.category is policy.CacheWarning] == [
        f"nbkeras: discarded cached module {str(path)!r}: its text does not match its name (truncated, edited or "
        f"planted); it is written again"]
    assert path.read_text() == source


def test_a_link_at_the_modules_name_is_not_followed(generated, tmp_path):
    source = PLAIN.format(variant="link")
    target = tmp_path / "target.py"
    target.write_text(source)  # even the right text: a link is replaced, its target left alone
    path = generated / f"{name_of(source)}.py"
    os.symlink(target, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", policy.CacheWarning)
        module = loader.load(source)
    assert module.describe() == "link"
    assert not os.path.islink(path) and path.read_text() == source
    assert target.read_text() == source


def test_without_a_cache_folder_nothing_is_written_and_numba_does_not_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(policy, "generated_dir", lambda: None)
    source = GENERATED.format(variant="in-memory")
    module = loader.load(source)
    assert not hasattr(module, "__file__")
    dst = np.zeros(3)
    assert module.steps(dst, np.ones(3), 2) == 2.0
    assert module.steps.stats.cache_path is None, "a function without a source file must not be disk-cached"


def test_concurrent_loads_give_one_module(generated):
    source = PLAIN.format(variant="threads")
    results = []
    barrier = threading.Barrier(4)

    def work():
        barrier.wait()
        results.append(loader.load(source))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(m is results[0] for m in results)


class Owner:
    """Stands for a model's engine: it holds the module while it lives."""

    def __init__(self, module):
        self.module = module


def test_a_module_is_freed_once_its_owners_are_gone(generated):
    source = GENERATED.format(variant="owned")
    first_owner = Owner(None)
    module = loader.load(source, owner=first_owner)
    first_owner.module = module
    dst = np.zeros(2)
    module.steps(dst, np.ones(2), 1)
    second_owner = Owner(loader.load(source, owner=Owner))  # a class is an owner too; it outlives the test
    assert second_owner.module is module
    name = module.__name__
    del first_owner, second_owner
    gc.collect()
    assert name in loader.loaded(), "still owned by the class"

    source2 = GENERATED.format(variant="owned-2")
    owner = Owner(None)
    owner.module = loader.load(source2, owner=owner)
    name2 = owner.module.__name__
    owner.module.steps(dst, np.ones(2), 1)
    del owner
    gc.collect()
    assert name2 in loader.loaded(), "kept idle (IDLE_MODULES) until trimmed"
    assert loader.trim(0) >= 1
    assert name2 not in loader.loaded() and name2 not in sys.modules
    again = loader.load(source2)  # loading it again works: a fresh module
    dst[:] = 0.0
    assert again.steps(dst, np.ones(2), 3) == 3.0
