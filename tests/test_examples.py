"""The example scripts and the tutorial's code blocks run as written.

Each script in ``examples/`` runs in a fresh interpreter (``sys.executable``)
and must exit with status 0: the scripts assert their results against
independent references. The Python blocks of ``docs/tutorial.md`` run one by
one, each in a fresh namespace, as a reader would paste them.

Both folders are found relative to this file; the tests are skipped when
they are absent (a test tree copied without the source checkout). A script
that needs an optional package says so in a line ``# requires: cyipopt``; it
is skipped where that package cannot be imported (the test extra installs it).
"""

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import symasd

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TUTORIAL = ROOT / "docs" / "tutorial.md"
FIGURES = ROOT / "docs" / "figures.py"

SCRIPTS = sorted(EXAMPLES.glob("*.py")) if EXAMPLES.is_dir() else []


def _env() -> dict:
    """The environment of the subprocess: it must import the same symasd as this
    process (an in-place build or the installed package)."""
    env = dict(os.environ)
    here = str(Path(symasd.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    return env


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"no examples folder at {EXAMPLES} "
                    "(not a source checkout)")
def test_examples_folder_has_scripts():
    names = {p.name for p in SCRIPTS}
    assert {"newton_bratu.py", "brusselator_bdf.py", "rosenbrock_trust_constr.py",
            "sympy_model.py", "patterns_and_colorings.py", "hanging_chain_ipopt.py"} <= names


@pytest.mark.skipif(not SCRIPTS, reason=f"no example scripts at {EXAMPLES} "
                    "(not a source checkout)")
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_runs(script, tmp_path):
    for module in re.findall(r"^# requires: (\S+)$", script.read_text(encoding="utf-8"), re.M):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{script.name} needs {module}, which is not installed")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (
        f"{script.name} exited with {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}"
        f"\n--- stderr\n{proc.stderr[-3000:]}")


def _tutorial_blocks() -> list[str]:
    if not TUTORIAL.is_file():
        return []
    return re.findall(r"^```python\n(.*?)^```", TUTORIAL.read_text(encoding="utf-8"),
                      re.S | re.M)


BLOCKS = _tutorial_blocks()


@pytest.mark.skipif(not BLOCKS, reason=f"no tutorial at {TUTORIAL} (not a source checkout)")
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_tutorial_block_runs(index):
    code = compile(BLOCKS[index], f"{TUTORIAL.name}, python block {index + 1}", "exec")
    with contextlib.redirect_stdout(io.StringIO()):
        exec(code, {"__name__": "__tutorial__"})


@pytest.mark.skipif(not FIGURES.is_file(), reason=f"no {FIGURES} (not a source checkout)")
def test_figures_script_draws(tmp_path, monkeypatch):
    """docs/figures.py draws its deterministic figures (the benchmark is skipped:
    it measures times)."""
    pytest.importorskip("matplotlib")
    import importlib.util

    spec = importlib.util.spec_from_file_location("symasd_doc_figures", FIGURES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "IMG", tmp_path)
    names = [name for name in module.FIGURES if name not in ("benchmark", "colors_vs_n")]
    with contextlib.redirect_stdout(io.StringIO()):
        module.main(names)
    for png in tmp_path.glob("*.png"):
        assert png.stat().st_size < 150_000, png.name
    assert len(list(tmp_path.glob("*.png"))) == len(names)
