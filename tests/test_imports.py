"""The package's modules import each other without cycles.

Dependencies point one way (frontends -> graph -> analysis/AD -> backends);
a cycle means two modules are one concept, or a pass was put in the IR. The
test reads every ``symasd/*.py`` with ``ast`` (imports inside functions
included: they are deferred, not absent) and fails naming a cycle.
"""

import ast
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import symasd

PACKAGE = Path(symasd.__file__).parent
NAME = "symasd"


def _modules() -> dict[str, Path]:
    """The package's modules by name: its Python files and its compiled kernels
    (``_vm``, ``_sweeps`` ...: leaves, since the Cython sources import no Python
    module of the package). A subpackage's modules are named with dots
    (``solvers.prepare``), its ``__init__`` by the subpackage's name (``solvers``)."""
    modules = {p.stem: p for p in sorted(PACKAGE.glob("*.py"))}
    for init in sorted(PACKAGE.glob("*/**/__init__.py")):
        sub = ".".join(init.parent.relative_to(PACKAGE).parts)
        modules[sub] = init
        for p in sorted(init.parent.glob("*.py")):
            if p.stem != "__init__":
                modules[f"{sub}.{p.stem}"] = p
    suffixes = sorted(EXTENSION_SUFFIXES, key=len, reverse=True)  # .cpython-311-...so first
    for p in sorted(PACKAGE.iterdir()):
        suffix = next((s for s in suffixes if p.name.endswith(s)), None)
        if suffix:
            modules.setdefault(p.name[: -len(suffix)], p)
    return modules


def _target(dotted: str, modules) -> str | None:
    """The package module that ``dotted`` (relative to the package, "" for the
    package itself) names: its longest leading part that is a module, or
    ``__init__``."""
    if not dotted:
        return "__init__"
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in modules:
            return ".".join(parts[:k])
    return None


def _edges(source: str, modules, package: str = "") -> set[str]:
    """The package modules that one module's source imports; ``package`` is the
    dotted subpackage the module is in ("" for the package's top level), against
    which relative imports are resolved."""
    found: set[str] = set()
    here = package.split(".") if package else []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == NAME or alias.name.startswith(NAME + "."):
                    found.add(_target(alias.name[len(NAME) + 1:], modules) or "__init__")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 > len(here):
                    continue  # above the package: not one of its modules
                parts = here[: len(here) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            elif node.module == NAME or (node.module or "").startswith(NAME + "."):
                base = node.module[len(NAME) + 1:]
            else:
                continue
            if node.module:
                target = _target(base, modules)
                if target:
                    found.add(target)
                continue
            # from . import a, b: submodules, or names of the (sub)package's __init__
            for alias in node.names:
                name = f"{base}.{alias.name}" if base else alias.name
                found.add(name if name in modules else (base or "__init__"))
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (itself left out)."""
    modules = _modules()
    return {name: (_edges(path.read_text(encoding="utf-8"), modules, _package_of(name, path))
                   - {name} if path.suffix == ".py" else set())
            for name, path in modules.items()}


def _package_of(name: str, path: Path) -> str:
    """The dotted subpackage a module is in ("" at the top level)."""
    if path.name == "__init__.py":
        return "" if name == "__init__" else name
    return name.rpartition(".")[0]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    # the walk sees the package: the graph, its passes and the kernels are there
    assert {"graph", "_vm"} <= graph["evaluation"] and "graph" in graph["sympy_bridge"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_subpackages_are_seen_and_sit_at_the_end():
    """The solvers subpackage's modules are in the graph with their edges, and no
    module of the core imports them (``__init__`` loads symasd.solvers lazily,
    with importlib, which is why it has no edge)."""
    graph = import_graph()
    assert {"solvers", "solvers.prepare", "solvers.ivp"} <= set(graph)
    assert {"solvers.prepare", "api"} <= graph["solvers.ivp"]
    assert "solvers.ivp" in graph["solvers"]
    core = [m for m in graph if not m.startswith("solvers")]
    assert not [m for m in core if any(t.startswith("solvers") for t in graph[m])]


def test_the_finder_sees_cycles_and_all_import_forms():
    modules = {"a": None, "b": None, "c": None}
    source = ("import symasd.a\nfrom symasd import b\nfrom symasd.c import x\n"
              "def f():\n    from . import a as aa, Graph\n    from .b.sub import y\n"
              "from .. import other\nimport numpy\n")
    assert _edges(source, modules) == {"a", "b", "c", "__init__"}
    sub = {"a": None, "p": None, "p.b": None, "p.c": None}
    source = ("from .b import x\nfrom . import c, other\nfrom .. import a, name\n"
              "from ..a import y\nfrom ... import beyond\n")
    assert _edges(source, sub, "p") == {"p.b", "p.c", "p", "a", "__init__"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
