"""What a PyPI user gets: a license, one version, typed packages that all ship, and an
`import adkit` that loads the subpackages only when they are used."""

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

import adkit

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib", reason="tomllib comes with Python 3.11")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_license_is_mit_by_spdx_expression_and_ships():
    project = _pyproject()["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "adkit developers" in text
    assert not any(c.startswith("License ::") for c in project["classifiers"]), \
        "PEP 639: a license expression replaces the License classifiers"


def test_version_is_written_once():
    project = _pyproject()["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "adkit.__version__"}
    assert importlib.metadata.version("adkit") == adkit.__version__


def test_every_package_directory_is_listed_and_typed():
    setuptools = _pyproject()["tool"]["setuptools"]
    roots = {name: ROOT / folder for name, folder in setuptools["package-dir"].items()}
    on_disk = set()
    for name, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder).parts
            on_disk.add(".".join((name, *relative)))
    assert set(setuptools["packages"]) == on_disk, "pyproject's packages list and the tree differ"
    for name, folder in roots.items():
        assert (folder / "py.typed").is_file(), f"{folder}/py.typed is missing"
        assert "py.typed" in setuptools["package-data"][name]


def _fresh(code: str) -> dict:
    """Run `code` in a new interpreter; it prints one JSON value."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True, cwd=ROOT)
    return json.loads(out.stdout)


def test_import_adkit_leaves_the_subpackages_unloaded():
    loaded = _fresh("import json, sys, adkit; print(json.dumps(sorted(sys.modules)))")
    for heavy in ("adkit.nn", "adkit.kernels", "adkit.numeric", "adkit.symbolic", "pyopencl",
                  "sympy", "matplotlib"):
        assert heavy not in loaded, f"`import adkit` loaded {heavy}"


@pytest.mark.parametrize("name, attribute", [("nn", "Sequential"), ("kernels", None),
                                             ("numeric", None), ("symbolic", None)])
def test_subpackages_load_on_first_attribute_access(name, attribute):
    code = ("import json, sys, adkit\n"
            f"before = 'adkit.{name}' in sys.modules\n"
            f"module = adkit.{name}\n"
            f"print(json.dumps([before, 'adkit.{name}' in sys.modules, module.__name__, "
            f"{name!r} in dir(adkit)]))")
    assert _fresh(code) == [False, True, f"adkit.{name}", True]
    if attribute:
        assert getattr(getattr(adkit, name), attribute) is not None


def test_an_unknown_attribute_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'adkit' has no attribute 'nope'"):
        adkit.nope  # noqa: B018
