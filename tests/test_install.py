"""Importing symasd where its compiled kernels are missing says what to do."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from symasd import KernelsMissingError
from symasd._kernels import COMPILED_MODULES

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(sys.modules["symasd"].__file__).parent


# An editable install (`pip install -e .`, the development setup) adds a finder
# that supplies any symasd module the copied folder lacks from the checkout, so
# the copy would import the checkout's kernels; it is removed first, which leaves
# what a regular installation has.
_IMPORT = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in "
           "getattr(f, '__module__', '')]; import symasd")


def _import_in(folder: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", _IMPORT], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=60)


def _copy_sources(dest: Path) -> None:
    (dest / "symasd").mkdir(parents=True)
    for py in PACKAGE.glob("*.py"):
        shutil.copy(py, dest / "symasd" / py.name)


def test_unbuilt_source_tree_names_the_fix(tmp_path):
    _copy_sources(tmp_path)
    (tmp_path / "setup.py").write_text("")
    (tmp_path / "cysrc").mkdir()
    run = _import_in(tmp_path)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("symasd.errors.KernelsMissingError: symasd was imported from its "
                           "source tree")
    assert "start Python from another folder" in last
    assert "`pip install -v -e .`" in last
    assert "circular import" not in run.stderr


def test_incomplete_installation_says_reinstall(tmp_path):
    _copy_sources(tmp_path / "site-packages")
    run = _import_in(tmp_path / "site-packages")
    assert run.returncode != 0
    assert "the installation is incomplete. Reinstall it" in run.stderr


def test_the_error_is_an_import_error_of_ours():
    assert issubclass(KernelsMissingError, ImportError)


@pytest.mark.skipif(not (ROOT / "cysrc").is_dir(), reason="needs the source tree (cysrc/)")
def test_compiled_module_list_matches_cysrc():
    built = {f"_{p.stem}" for p in (ROOT / "cysrc").glob("*.pyx")} | {"_cyutility"}
    assert set(COMPILED_MODULES) == built
    for name in COMPILED_MODULES:
        assert list(PACKAGE.glob(f"{name}.*.so")) or list(PACKAGE.glob(f"{name}.*.pyd")), name


@pytest.mark.skipif(not (ROOT / "pyproject.toml").exists(), reason="needs the source tree")
def test_every_subpackage_is_installed():
    """pyproject.toml lists every package of the source tree (setuptools installs only
    the listed ones, so a missing subpackage would import here and fail when installed)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "symasd").rglob(
        "__init__.py")}
    assert listed == found
