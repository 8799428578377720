"""Every package directory of nbkeras is listed in pyproject.toml (a plain `pip install .` installs only those)."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_package_is_listed():
    text = (ROOT / "pyproject.toml").read_text()
    listed = set(re.findall(r'"(nbkeras(?:\.[a-z_]+)*)"', text.split("packages = [", 1)[1].split("]", 1)[0]))
    found = {".".join(("nbkeras",) + p.parent.relative_to(ROOT / "nbkeras").parts) if p.parent != ROOT / "nbkeras"
             else "nbkeras" for p in (ROOT / "nbkeras").rglob("__init__.py")}
    found |= {"nbkeras.kernels" + "".join("." + part for part in p.parent.relative_to(ROOT / "kernels").parts)
              for p in (ROOT / "kernels").rglob("__init__.py")}
    assert found <= listed, f"not in pyproject.toml's packages: {sorted(found - listed)}"
