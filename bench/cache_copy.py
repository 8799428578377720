"""A compile cache that holds this machine's compiled kernels but none of its generated train steps: every model
structure is new to it (bench/first_batch.py, bench/sweep.py)."""

import os
import shutil
import tempfile


def kernels_only_copy(cache_dir):
    """A new cache root (a temporary folder: the caller removes it) with a copy of ``cache_dir``'s kernels."""
    root = tempfile.mkdtemp(prefix="nbkeras-kernels-only-")
    target = os.path.join(root, os.path.basename(cache_dir))
    os.mkdir(target, 0o700)
    for name in os.listdir(cache_dir):
        if not name.startswith("generated"):
            shutil.copytree(os.path.join(cache_dir, name), os.path.join(target, name))
    return root
