"""docs/design.md's map of modules lists every module of symasd/ and every
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


def _imports(module: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names.update([node.module] if node.module else [a.name for a in node.names])
    return names


def test_every_module_in_dependency_order():
    listed = _map_rows("`symasd/`")
    modules = sorted(p.stem for p in (ROOT / "symasd").glob("*.py") if p.stem != "__init__")
    assert sorted(listed) == modules
    for i, name in enumerate(listed):
        later = set(listed[i + 1:]) & _imports(ROOT / "symasd" / f"{name}.py")
        assert not later, f"{name} imports {later}, listed below it"


def test_every_kernel_source():
    listed = set(_map_rows("`cysrc/`"))
    sources = {p.name for p in (ROOT / "cysrc").iterdir() if p.suffix in (".pyx", ".py")}
    assert sources <= listed
