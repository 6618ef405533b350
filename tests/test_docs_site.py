"""The documentation site: it builds with ``--strict``, every code block runs, and
the built pages render in a real browser.

* Every fenced block of ``docs/**/*.md`` names its language; ``python``
  blocks run, ``text`` (output, file layouts) and ``bash`` (shell commands)
  blocks are the explicit exceptions.
* The ``python`` blocks of each page run in order in one fresh namespace (a
  page may build on its earlier blocks), in a temporary folder. A comment
  ``# -> text`` at the end of a line says what the block prints: ``text``
  must appear in its output. A block whose first line is
  ``# requires: name, ...`` needs those modules (CuPy, on a GPU): the page runs
  without it, and once more with it where they import. ``docs/tutorial.md`` is
  run block by block by ``tests/test_examples.py``.
* ``mkdocs build --strict`` (``mkdocs.yml`` at the repository root) passes,
  every page of the navigation is built, every image and internal link of the
  built HTML resolves, and the API reference documents each public module.
* ``docs/check_site.py`` renders the home page, the tutorial and the API
  reference in headless Chromium; that test is skipped only where no
  Chromium binary exists (Debian: ``apt-get install -y chromium``).

All of it needs the source checkout (``docs/``, ``mkdocs.yml``); the build
and browser tests need the ``docs`` extra (part of ``test``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONFIG = ROOT / "mkdocs.yml"
PAGES = sorted(DOCS.rglob("*.md")) if DOCS.is_dir() else []
# tutorial.md: run block by block (each self-contained) by tests/test_examples.py.
RUN_ELSEWHERE = {"tutorial.md"}
LANGUAGES = {"python", "text", "bash"}

FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=indent)```[ ]*$",
                   re.S | re.M)
ARROW = re.compile(r"#\s*->\s*(?P<text>\S.*?)\s*$")

needs_checkout = pytest.mark.skipif(not PAGES or not CONFIG.is_file(),
                                    reason=f"no docs/ and mkdocs.yml at {ROOT} "
                                           "(not a source checkout)")


def _name(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


def fenced_blocks(page: Path) -> list[tuple[str, str, int]]:
    """The fenced code blocks of a page: (language, code, line number of the fence)."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for m in FENCE.finditer(text):
        indent = len(m["indent"])
        body = "".join(line[indent:] for line in m["body"].splitlines(keepends=True))
        blocks.append((m["info"].strip(), body, text.count("\n", 0, m.start()) + 1))
    return blocks


def expected_output(code: str) -> list[str]:
    """The ``# -> text`` promises of a block (one-line ones: a promise continued on
    the next comment line is a picture, checked by the block's own asserts)."""
    lines = code.splitlines()
    promises = []
    for k, line in enumerate(lines):
        m = ARROW.search(line)
        continued = k + 1 < len(lines) and re.match(r"\s*#\s{2,}\S", lines[k + 1])
        if m and not continued:
            promises.append(m["text"])
    return promises


def _squash(text: str) -> str:
    return " ".join(text.split())


RUNNABLE = [p for p in PAGES if _name(p) not in RUN_ELSEWHERE
            and any(lang == "python" for lang, _, _ in fenced_blocks(p))]


@needs_checkout
def test_every_code_block_names_its_language():
    unlabeled = [f"{_name(p)}:{line} ```{lang}" for p in PAGES
                 for lang, _, line in fenced_blocks(p) if lang not in LANGUAGES]
    assert unlabeled == [], ("fenced blocks must be ```python (run by this test), or "
                             "```text / ```bash (not run)")


@needs_checkout
def test_new_pages_have_runnable_examples():
    names = {_name(p) for p in RUNNABLE}
    assert {"index.md", "getting-started.md", "tutorial-part2.md", "howto/tracing.md",
            "howto/export.md", "howto/gpu.md", "migration/scipy.md", "migration/jax.md",
            "migration/casadi.md", "codegen.md", "ensembles.md", "coloring.md"} <= names


def _requirements(code: str) -> list[str]:
    first = code.lstrip().splitlines()[0] if code.strip() else ""
    if not first.startswith("# requires:"):
        return []
    return [name.strip() for name in first.split(":", 1)[1].split(",")]


def _run_page(page: Path, tmp_path: Path, monkeypatch, with_optional: bool) -> None:
    """Run the page's python blocks in order in one namespace, in tmp_path; blocks
    that need optional modules only when ``with_optional``."""
    # Blocks may write files (exported modules) and read the recorded benchmark
    # numbers as a reader at the repository root would: docs/data/ is copied there.
    if (DOCS / "data").is_dir():
        shutil.copytree(DOCS / "data", tmp_path / "docs" / "data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # ... and import them
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__main__"}
    try:
        for lang, code, line in fenced_blocks(page):
            if lang != "python" or (_requirements(code) and not with_optional):
                continue
            out = io.StringIO()
            where = f"{_name(page)}, block at line {line}"
            with contextlib.redirect_stdout(out):
                exec(compile(code, where, "exec"), namespace)
            printed = _squash(out.getvalue())
            for promise in expected_output(code):
                assert _squash(promise) in printed, (f"{where}: '# -> {promise}' not printed;"
                                                     f" it printed:\n{out.getvalue()}")
    finally:
        # Modules a page wrote and imported (exported derivatives) must not be found
        # under the same name by the next page.
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", "") or "").startswith(str(tmp_path)):
                del sys.modules[name]


@needs_checkout
@pytest.mark.parametrize("page", RUNNABLE, ids=[_name(p) for p in RUNNABLE])
def test_page_python_blocks_run(page, tmp_path, monkeypatch):
    """Every block, except those marked ``# requires:`` (run by the next test)."""
    _run_page(page, tmp_path, monkeypatch, with_optional=False)


OPTIONAL = [p for p in RUNNABLE if any(_requirements(code) for lang, code, _ in fenced_blocks(p)
                                       if lang == "python")]


@needs_checkout
@pytest.mark.parametrize("page", OPTIONAL, ids=[_name(p) for p in OPTIONAL])
def test_page_blocks_needing_optional_modules_run(page, tmp_path, monkeypatch):
    """The whole page, blocks marked ``# requires: cupy`` included, where those modules
    import (CuPy: a machine with an NVIDIA GPU)."""
    for lang, code, _ in fenced_blocks(page):
        for module in _requirements(code) if lang == "python" else []:
            pytest.importorskip(module, reason=f"{_name(page)} has a block that needs {module}")
    _run_page(page, tmp_path, monkeypatch, with_optional=True)


@needs_checkout
def test_timing_figures_are_drawn_from_recorded_numbers(tmp_path, monkeypatch):
    """docs/figures.py draws the benchmark plots from docs/data/*.json alone (no timing
    while drawing), and every record says how and where it was measured."""
    pytest.importorskip("matplotlib")
    for record in (DOCS / "data").glob("*.json"):
        data = json.loads(record.read_text(encoding="utf-8"))
        assert {"what", "command", "machine"} <= set(data), record.name
    spec = importlib.util.spec_from_file_location("symasd_doc_figures_recorded",
                                                  DOCS / "figures.py")
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    monkeypatch.setattr(figures, "IMG", tmp_path)
    monkeypatch.setattr(figures, "measure_benchmark", None)   # would fail if called
    names = ["benchmark", "compare_per_call", "compare_preparation"]
    with contextlib.redirect_stdout(io.StringIO()):
        figures.main(names)
    assert sorted(p.stem for p in tmp_path.glob("*.png")) == sorted(names)


@needs_checkout
def test_getting_started_has_the_readme_commands():
    def first_bash(text: str) -> str:
        return re.search(r"^```bash\n(.*?)^```", text, re.S | re.M)[1]

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    page = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    assert first_bash(page) == first_bash(readme)


# -- the built site -------------------------------------------------------------------

class _Refs(HTMLParser):
    """Links, image sources, element ids and code blocks' classes of a page."""

    def __init__(self):
        super().__init__()
        self.hrefs, self.srcs, self.ids, self.code_classes = [], [], set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.srcs.append(attrs["src"])
        if tag == "div" and "highlight" in (attrs.get("class") or "").split():
            self.code_classes.append(attrs["class"])


def _parse(path: Path) -> _Refs:
    refs = _Refs()
    refs.feed(path.read_text(encoding="utf-8"))
    return refs


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built once with ``mkdocs build --strict`` into a temporary folder."""
    if not CONFIG.is_file():
        pytest.skip(f"no {CONFIG} (not a source checkout)")
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(module.split(".")[0]) is None or (
                "." in module and importlib.util.find_spec(module) is None):
            pytest.skip(f"{module} is not installed: pip install 'symasd[docs]'")
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    # Not -q: it drops warnings before --strict counts them.
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                          "-f", str(CONFIG), "-d", str(out)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    log = run.stdout + run.stderr
    assert run.returncode == 0 and not re.search(r"^WARNING\b", log, re.M), (
        f"mkdocs build --strict:\n{log}")
    return out


def _built_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if p.name != "404.html")


@needs_checkout
def test_site_has_every_page(site):
    for page in PAGES:
        stem = page.relative_to(DOCS).with_suffix("")   # a/b.md -> a/b/index.html
        built = site / (stem.parent if stem.name == "index" else stem) / "index.html"
        assert built.is_file(), f"{_name(page)} was not built (is it in mkdocs.yml's nav?)"


@needs_checkout
def test_site_images_and_internal_links_resolve(site):
    problems = []
    ids_of = {}
    for page in _built_pages(site):
        refs = _parse(page)
        ids_of[page] = refs.ids
    for page in _built_pages(site):
        refs = _parse(page)
        for src in refs.srcs:
            if not urlsplit(src).scheme and not (page.parent / unquote(src)).is_file():
                problems.append(f"{page.relative_to(site)}: missing image {src}")
        for href in refs.hrefs:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:")):
                continue
            target = (page.parent / unquote(parts.path)) if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"{page.relative_to(site)}: broken link {href}")
            elif parts.fragment and target.suffix == ".html":
                ids = ids_of.get(target.resolve()) or ids_of.get(target) or _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{page.relative_to(site)}: broken anchor {href}")
    assert problems == []


@needs_checkout
def test_no_indented_code_blocks():
    """An indented code block has no language, so it could hide an example that never
    runs: Python-Markdown renders it as a bare <pre><code> (fenced ones carry a class)."""
    markdown = pytest.importorskip("markdown")
    extensions = ["fenced_code", "tables", "attr_list", "md_in_html", "admonition", "def_list"]
    bare = [_name(p) for p in PAGES
            for _ in re.findall(r"<pre><code>", markdown.markdown(
                p.read_text(encoding="utf-8"), extensions=extensions))]
    assert bare == [], "indent-only code blocks: fence them as ```bash or ```text"


@needs_checkout
def test_api_reference_documents_each_public_module(site):
    api = {"symasd": "api/symasd/index.html", "symasd.codegen": "api/codegen/index.html",
           "symasd.ensemble": "api/ensemble/index.html",
           "symasd.solvers": "api/solvers/index.html"}
    for module, page in api.items():
        ids = _parse(site / page).ids
        imported = __import__(module, fromlist=["__all__"])
        names = [n for n in getattr(imported, "__all__", ())
                 if callable(getattr(imported, n)) and not n.isupper()]
        missing = [n for n in names if f"{module}.{n}" not in ids]
        assert names and missing == [], f"{page} lacks {missing}"


@needs_checkout
def test_api_docstring_extension():
    """docs/griffe_docstrings.py (mkdocs.yml's Griffe extension) renames ``Example``
    sections and turns Sphinx roles into code: its doctests."""
    pytest.importorskip("griffe", reason="the docs extra is not installed")
    import doctest

    spec = importlib.util.spec_from_file_location("symasd_griffe_docstrings",
                                                  DOCS / "griffe_docstrings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = doctest.testmod(module)
    assert result.attempted >= 2 and result.failed == 0


@needs_checkout
def test_site_renders_in_chromium(site):
    spec = importlib.util.spec_from_file_location("symasd_check_site", DOCS / "check_site.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    if check.find_browser() is None:
        pytest.skip("no Chromium binary on PATH (apt-get install -y chromium)")
    results = check.check_site(site)
    assert set(results) == {"index", "tutorial/", "api/symasd/"}
    assert {page: problems for page, problems in results.items() if problems} == {}
