"""docs/design.md's map of modules lists every module of symasd/ (a
subpackage's as ``solvers.prepare``, its ``__init__`` as ``solvers``) and every
kernel source of cysrc/, symasd's in the order of their dependencies."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "design.md"

pytestmark = pytest.mark.skipif(not DESIGN.exists(), reason="needs the source tree")


def _map_rows(title: str) -> list[str]:
    text = DESIGN.read_text()
    section = text.split("## The map of modules", 1)[1].split("\n## ", 1)[0]
    table = section.split(title, 1)[1].split("`cysrc/`", 1)[0 if title == "`symasd/`" else -1]
    return re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE)


def _path(name: str) -> Path:
    """The file of a listed module: ``api`` -> symasd/api.py, ``solvers`` ->
    symasd/solvers/__init__.py, ``solvers.ivp`` -> symasd/solvers/ivp.py."""
    path = ROOT / "symasd" / Path(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _imports(name: str) -> set[str]:
    """The symasd modules that a listed module imports by relative imports, named
    as in the map."""
    path = _path(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    here = package.split(".") if package else []
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and 1 <= node.level <= len(here) + 1:
            base = here[: len(here) - (node.level - 1)]
            if node.module:
                names.add(".".join(base + [node.module]))
            else:
                names.update(".".join(base + [a.name]) for a in node.names)
    return names


def _modules() -> list[str]:
    root = ROOT / "symasd"
    names = [p.stem for p in root.glob("*.py") if p.stem != "__init__"]
    for init in root.glob("*/**/__init__.py"):
        sub = ".".join(init.parent.relative_to(root).parts)
        names.append(sub)
        names += [f"{sub}.{p.stem}" for p in init.parent.glob("*.py") if p.stem != "__init__"]
    return sorted(names)


def test_every_module_in_dependency_order():
    listed = _map_rows("`symasd/`")
    assert sorted(listed) == _modules()
    for i, name in enumerate(listed):
        later = set(listed[i + 1:]) & _imports(name)
        assert not later, f"{name} imports {later}, listed below it"


def test_every_kernel_source():
    listed = set(_map_rows("`cysrc/`"))
    sources = {p.name for p in (ROOT / "cysrc").iterdir() if p.suffix in (".pyx", ".py")}
    assert sources <= listed
