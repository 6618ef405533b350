"""Regenerate every figure of the documentation into docs/img/*.png.

Needs matplotlib (the optional extra ``plot``: ``pip install "symasd[plot]"``).
Run from anywhere:

    python docs/figures.py                      # all figures
    python docs/figures.py benchmark            # only the named ones
    python docs/figures.py --measure benchmark  # time iter_diff again, then plot
    python docs/figures.py --measure engine_auto  # time the engines again, then plot

The pattern and coloring figures are computed from symasd itself. The timing
figures are drawn from **recorded numbers** in docs/data/: ``benchmark`` (the
tutorial's three regimes) from ``iter_diff_benchmark.json``, which
``--measure`` rewrites with times measured on the machine that runs it, and
``compare_*`` (docs/benchmark-plots.md) from ``compare_7be8f2f.json``, the
tables of one recorded run of ``benchmarks/compare.py`` in docs/benchmarks.md,
and ``engine_auto`` (the tutorial's engines) from ``engine_auto.json``, which
``--measure`` rewrites.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

import symasd  # noqa: E402
from symasd.demo import iter_diff, median_time  # noqa: E402
from symasd.dense import dense_jacobian  # noqa: E402

IMG = Path(__file__).resolve().parent / "img"
DATA = Path(__file__).resolve().parent / "data"
DPI = 100
# A qualitative palette; color c (0-based) is PALETTE[c % len(PALETTE)].
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#edc948",
           "#76b7b2", "#ff9da7", "#9c755f", "#bab0ac", "#86bcb6", "#d37295"]
EMPTY = "#f4f4f4"


def _save(fig, name: str) -> None:
    IMG.mkdir(exist_ok=True)
    path = IMG / f"{name}.png"
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def _color_image(pattern, entry_colors) -> np.ndarray:
    """An integer image: -1 for zeros, the color of each structural nonzero otherwise."""
    P = sp.coo_array(pattern)
    img = np.full(P.shape, -1, dtype=np.int64)
    img[P.row, P.col] = entry_colors(P.row, P.col)
    return img


def _show(ax, img, ncolors: int, title: str, labels: bool = False, grid: bool = True,
          palette: list[str] = PALETTE) -> None:
    cmap = ListedColormap([EMPTY] + [palette[c % len(palette)] for c in range(ncolors)])
    ax.imshow(img + 1, cmap=cmap, vmin=0, vmax=ncolors, interpolation="nearest")
    m, n = img.shape
    if grid:
        ax.set_xticks(np.arange(-0.5, n, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, m, 1), minor=True)
        ax.grid(which="minor", color="white", linewidth=1)
        ax.tick_params(which="minor", length=0)
    if labels:
        for i, j in zip(*np.nonzero(img >= 0), strict=True):
            ax.text(j, i, str(img[i, j] + 1), ha="center", va="center", fontsize=8,
                    color="white", fontweight="bold")
    ax.set_title(title, fontsize=10)


def _column_colored(pattern, colors):
    return _color_image(pattern, lambda r, c: np.asarray(colors)[c])


# ----------------------------------------------------------------------------
def fig_iter_diff_coloring() -> None:
    """The iter_diff (n=10, k=3) Jacobian colored by column color, and its compression."""
    J = symasd.jacobian_sparsity(iter_diff, np.zeros(10))
    r = symasd.color(J, "column", order="natural")
    S = r.seeds()
    B_img = np.full((J.shape[0], r.ncolors), -1)
    for i in range(J.shape[0]):
        for j in J.indices[J.indptr[i]:J.indptr[i + 1]]:
            B_img[i, r.colors[j]] = r.colors[j]
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2),
                             gridspec_kw={"width_ratios": [10, 4, 4]})
    _show(axes[0], _column_colored(J, r.colors), r.ncolors,
          "Jacobian pattern (7 x 10),\ncolumns colored", labels=True)
    axes[0].set_xticks(range(10), [str(c + 1) for c in r.colors], fontsize=8)
    axes[0].set_xlabel("column color", fontsize=9)
    axes[0].set_yticks([])
    seed_img = np.where(S > 0, np.arange(r.ncolors)[None, :], -1)
    _show(axes[1], seed_img, r.ncolors, "seed matrix S\n(10 x 4)")
    _show(axes[2], B_img, r.ncolors, "compressed J S\n(7 x 4): 4 JVPs", labels=True)
    for ax in axes[1:]:
        ax.set_xticks(range(r.ncolors), [str(c + 1) for c in range(r.ncolors)], fontsize=8)
        ax.set_yticks([])
    fig.tight_layout()
    _save(fig, "iter_diff_coloring")


def _brusselator(N: int):
    def rhs(y, A=3.4, B=1.0, alpha=10.0):
        u, v = y[: N * N].reshape(N, N), y[N * N:].reshape(N, N)

        def lap(w):
            return (np.roll(w, 1, 0) + np.roll(w, -1, 0) + np.roll(w, 1, 1)
                    + np.roll(w, -1, 1) - 4 * w) * (N - 1) ** 2

        du = B + u * u * v - (A + 1) * u + alpha * lap(u)
        dv = A * u - u * u * v + alpha * lap(v)
        return np.concatenate([du.ravel(), dv.ravel()])

    return rhs


def fig_brusselator() -> None:
    """The Brusselator (N=8, 128 unknowns) Jacobian colored by column color, and the
    number of colors of each order."""
    N = 8
    jac = symasd.jacobian(_brusselator(N), np.zeros(2 * N * N), mode="forward", order="best")
    r = jac.coloring
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.3), gridspec_kw={"width_ratios": [1.25, 1]})
    _show(axes[0], _column_colored(jac.sparsity, r.colors), r.ncolors,
          f"Brusselator N={N}: {jac.shape[0]} x {jac.shape[1]} Jacobian,\n"
          f"{jac.nnz} nonzeros, {r.ncolors} column colors ({r.order} order)", grid=False)
    axes[0].axhline(N * N - 0.5, color="k", lw=0.5)
    axes[0].axvline(N * N - 0.5, color="k", lw=0.5)
    axes[0].set_xticks([N * N / 2, 1.5 * N * N], ["u", "v"])
    axes[0].set_yticks([N * N / 2, 1.5 * N * N], ["du/dt", "dv/dt"])
    orders = ["natural", "random", "largest_first", "smallest_last", "incidence_degree",
              "dynamic_largest_first"]
    counts = [symasd.color(jac.sparsity, "column", order=o, seed=0).ncolors for o in orders]
    ax = axes[1]
    bars = ax.barh(range(len(orders)), counts, color=PALETTE[0])
    ax.bar_label(bars, padding=2, fontsize=9)
    ax.set_yticks(range(len(orders)), [o.replace("_", " ") for o in orders], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel(f"column colors (JVPs), out of {jac.shape[1]} columns", fontsize=9)
    ax.set_xlim(0, max(counts) * 1.2)
    ax.set_title("greedy coloring: the order matters", fontsize=10)
    fig.tight_layout()
    _save(fig, "brusselator_coloring")


def fig_rosenbrock_hessian() -> None:
    """The Rosenbrock Hessian pattern with column, star and acyclic colorings."""
    n = 10

    def rosenbrock(x):
        return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    H = symasd.hessian_sparsity(rosenbrock, np.zeros(n))
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.4))
    for ax, problem in zip(axes, ["column", "star", "acyclic"], strict=True):
        r = symasd.color(H, problem, order="natural")
        _show(ax, _column_colored(H, r.colors), r.ncolors,
              f"{problem}: {r.ncolors} HVPs", labels=True)
        ax.set_xticks(range(n), [str(c + 1) for c in r.colors], fontsize=8)
        ax.set_yticks([])
    axes[0].set_ylabel(f"Rosenbrock Hessian, n = {n}", fontsize=9)
    fig.tight_layout()
    _save(fig, "rosenbrock_hessian_colorings")


def fig_arrow_bicoloring() -> None:
    """The arrow pattern: which entries are read from the VJP and which from JVPs."""
    n = 10
    A = np.eye(n, dtype=bool)
    A[0, :] = A[:, 0] = True
    r = symasd.color(A, "bidirectional")
    P = r.pattern
    side = np.empty(P.nnz, dtype=np.int64)          # 0: read from a VJP, 1+c: JVP color c
    rows = np.repeat(np.arange(n), np.diff(P.indptr))
    cols = P.indices
    from_col = np.asarray(r.from_column)
    side[~from_col] = 0
    side[from_col] = 1 + np.asarray(r.column_colors)[cols[from_col]]
    img = np.full((n, n), -1)
    img[rows, cols] = side
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.4))
    _show(axes[0], np.where(A, 0, -1), 1, f"arrow pattern: {n} JVPs or {n} VJPs",
          palette=["#555555"])
    _show(axes[1], img, 1 + r.n_column_colors,
          f"bicoloring: {r.n_row_colors} VJP + {r.n_column_colors} JVPs")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_xlabel("any two columns share row 1: all colors differ", fontsize=8)
    axes[1].set_xlabel("blue: read from the VJP; other colors: one per JVP", fontsize=8)
    fig.tight_layout()
    _save(fig, "arrow_bicoloring")


def fig_colors_vs_n() -> None:
    """Colors of iter_diff for several k and n: constant k + 1, whatever n."""
    sizes = np.unique(np.logspace(1, 4, 10).round().astype(int))
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for k in (1, 2, 3, 5, 8):
        counts = []
        for n in sizes:
            J = symasd.jacobian_sparsity(lambda x, k=k: iter_diff(x, k), np.zeros(n))
            counts.append(symasd.color(J, "column", order="natural").ncolors)
        ax.semilogx(sizes, counts, "o-", label=f"k = {k}", color=PALETTE[k % len(PALETTE)])
    ax.set_xlabel("input size n")
    ax.set_ylabel("column colors (JVPs)")
    ax.set_title("iter_diff: colors do not grow with n (k + 1 bands, k + 1 colors)",
                 fontsize=10)
    ax.set_ylim(0, 10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(ncols=5, fontsize=8, loc="upper center")
    fig.tight_layout()
    _save(fig, "colors_vs_n")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def measure_benchmark(k: int = 3, max_n: int = 10_000) -> None:
    """Time one Jacobian of iter_diff for n = 10 ... max_n four ways (dense AD, sparse
    with preparation, sparse reused on the tape and compiled) and record the medians
    in docs/data/iter_diff_benchmark.json (atomically)."""
    sizes = np.unique(np.logspace(1, np.log10(max_n), 9).round().astype(int))
    rng = np.random.default_rng(0)
    rows = []
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    for n in sizes:
        x0, x = np.zeros(n), rng.standard_normal(n)
        f = lambda v: iter_diff(v, k)  # noqa: E731
        g = symasd.trace(f, x0)
        t_dense = median_time(lambda: dense_jacobian(g, x), 3)  # noqa: B023
        t_prep = median_time(lambda: symasd.jacobian(f, x0, engine="vm")(x), 5)  # noqa: B023
        tape = symasd.jacobian(f, x0, engine="tape")
        t_tape = median_time(lambda: tape(x), 20)  # noqa: B023
        jac = symasd.jacobian(f, x0, engine="vm")
        t_vm = median_time(lambda: jac(x), 50)  # noqa: B023
        rows.append([int(n), t_dense, t_prep, t_tape, t_vm])
        print(f"  n={n:>6}: dense {t_dense:.1e} s, sparse+prep {t_prep:.1e} s, "
              f"reused tape {t_tape:.1e} s, reused compiled {t_vm:.1e} s")
    record = {
        "what": f"seconds per Jacobian of iter_diff (k = {k}), medians of repeated calls",
        "command": "python docs/figures.py --measure benchmark",
        "symasd": symasd.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {_cpu_name()}"
                   f"; Python {platform.python_version()}, NumPy {np.__version__}",
        "load_average_at_start": load_start,
        "date": time.strftime("%Y-%m-%d"),
        "k": k,
        "columns": ["n", "dense AD", "sparse AD with preparation", "sparse AD reused, tape",
                    "sparse AD reused, compiled"],
        "rows": rows,
    }
    _write_record(record, "iter_diff_benchmark.json")


def _write_record(record: dict, name: str) -> None:
    DATA.mkdir(exist_ok=True)
    path = DATA / name
    fd, tmp = tempfile.mkstemp(dir=DATA, suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        json.dump(record, out, indent=1)
        out.write("\n")
    os.replace(tmp, path)
    print(f"wrote {path}")


def _rosenbrock(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def _cross_entropy(z):
    from scipy.special import logsumexp

    Z = z.reshape(-1, 10)
    rows = np.arange(Z.shape[0])
    return np.sum(logsumexp(Z, axis=1) - Z[rows, rows % 10])


def measure_engine_auto(n: int = 10_000, calls: int = 3000) -> None:
    """Preparation plus k calls of a Hessian with each engine (tape, vm, and the
    default, which starts on the tape and compiles once its calls have paid), for
    the chained Rosenbrock function and a softmax cross-entropy (whose compiled
    DAG is slower than the tape): the cumulative seconds at log-spaced k, recorded
    in docs/data/engine_auto.json (atomically)."""
    ks = np.unique(np.logspace(0, np.log10(calls), 40).round().astype(int))
    cases = {}
    rng = np.random.default_rng(0)
    for title, f in (("chained Rosenbrock Hessian", _rosenbrock),
                     ("softmax cross-entropy Hessian", _cross_entropy)):
        x = rng.uniform(-1, 1, n)
        symasd.hessian(f, x[:100])  # imports and first calls, untimed
        curves, switched = {}, None
        for engine in ("tape", "vm", "auto"):
            start = time.perf_counter()
            hes = symasd.hessian(f, x, engine=engine)
            times = [time.perf_counter() - start]
            for k in range(calls):
                t = time.perf_counter()
                hes(x)
                times.append(time.perf_counter() - t)
                if engine == "auto" and switched is None and hes._schedule is None:
                    switched = k + 1
            total = np.cumsum(times)
            curves[engine] = [float(total[k]) for k in ks]
        cases[title] = {"curves": curves, "decided_at": switched,
                        "auto_then": hes.engine}
        print(f"  {title}: auto decided at call {switched} ({hes.engine})")
    _write_record({
        "what": f"seconds of preparation plus k calls of a Hessian at n = {n}, by engine",
        "command": "python docs/figures.py --measure engine_auto",
        "symasd": symasd.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {_cpu_name()}"
                   f"; Python {platform.python_version()}, NumPy {np.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "n": n, "k": [int(k) for k in ks], "cases": cases,
    }, "engine_auto.json")


def fig_engine_auto() -> None:
    """Preparation plus k calls with each engine (the recorded numbers of
    docs/data/engine_auto.json): the default follows the tape, then the compiled
    derivative, and keeps the tape where the compiled DAG is slower."""
    record = _recorded("engine_auto.json")
    k = np.array(record["k"])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    styles = {"tape": ("engine='tape'", PALETTE[6], "--"),
              "vm": ("engine='vm' (compiled at preparation)", PALETTE[0], "-"),
              "auto": ("engine='auto' (the default)", PALETTE[3], "-")}
    for ax, (title, case) in zip(axes, record["cases"].items(), strict=True):
        for engine, (label, color, style) in styles.items():
            ax.loglog(k, case["curves"][engine], style, color=color, label=label,
                      lw=2.2 if engine == "auto" else 1.2)
        at = case["decided_at"]
        if at:
            y = np.interp(at, k, case["curves"]["auto"])
            verb = "compiles" if case["auto_then"] == "vm" else "tries, keeps the tape"
            ax.annotate(f"{verb} at call {at}", (at, y), xytext=(0.08, 0.85),
                        textcoords="axes fraction", fontsize=7,
                        arrowprops={"arrowstyle": "->", "lw": 0.6})
        ax.set_title(f"{title}, n = {record['n']}", fontsize=9)
        ax.set_xlabel("calls k", fontsize=8)
        ax.set_ylabel("seconds: preparation + k calls", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    _save(fig, "engine_auto")


def _recorded(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def fig_benchmark() -> None:
    """Time per Jacobian of iter_diff: dense AD, sparse with preparation, sparse reused
    (the recorded numbers of docs/data/iter_diff_benchmark.json)."""
    record = _recorded("iter_diff_benchmark.json")
    data = np.array(record["rows"], dtype=float)
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = ["dense AD (n JVPs)", "sparse AD, preparation included",
              "sparse AD reused (compressed JVPs, tape)",
              "sparse AD reused (compiled derivative)"]
    for j, label in enumerate(labels, start=1):
        ax.loglog(data[:, 0], data[:, j], "o-", label=label, color=PALETTE[j - 1], ms=4)
    n_ref, a = data[:, 0], len(data) - 3           # reference lines through the 3rd-last point
    ax.loglog(n_ref, data[a, 1] * (n_ref / n_ref[a]) ** 2, "k:", lw=0.8, label="slope 2")
    ax.loglog(n_ref, data[a, 3] * (n_ref / n_ref[a]), "k--", lw=0.8, label="slope 1")
    ax.set_xlabel("input size n")
    ax.set_ylabel("seconds per Jacobian")
    ax.set_title(f"Jacobian of iter_diff (k = {record['k']})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, "benchmark")


# The tools of benchmarks/compare.py as drawn: label in the record -> (legend, color, style).
COMPARE_TOOLS = {
    "symasd vm": ("symasd (compiled)", PALETTE[0], "o-"),
    "symasd tape": ("symasd (tape)", PALETTE[6], "o--"),
    "NumPy (hand)": ("hand-written NumPy", "#555555", "s:"),
    "asdex (jit)": ("asdex (jit)", PALETTE[1], "^-"),
    "CasADi SX": ("CasADi SX", PALETTE[2], "v-"),
    "CasADi MX": ("CasADi MX", PALETTE[4], "v--"),
    "JAX jacfwd (dense)": ("JAX dense", PALETTE[3], "x-"),
    "JAX hessian (dense)": ("JAX dense", PALETTE[3], "x-"),
}


def _compare_figure(column: str, ylabel: str, name: str, tools: list[str]) -> None:
    record = _recorded("compare_7be8f2f.json")
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.4))
    for ax, (title, rows) in zip(axes.ravel(), record["problems"].items(), strict=True):
        for tool in tools:
            points = sorted((r["n"], r[column]) for r in rows if r["tool"] == tool)
            if not points:
                continue
            label, color, style = COMPARE_TOOLS[tool]
            n, t = np.array(points).T
            ax.loglog(n, t, style, color=color, label=label, ms=4)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("n", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_minor_formatter(NullFormatter())   # the Brusselator's span is short
        ax.grid(True, which="major", alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=len(labels), fontsize=8)
    fig.suptitle(f"{record['command']} (commit {record['commit']}): {ylabel}", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    _save(fig, name)


def fig_compare_per_call() -> None:
    """Seconds per call of each tool on the four problems (recorded run)."""
    _compare_figure("per_call_s", "seconds per call", "compare_per_call",
                    ["symasd vm", "symasd tape", "NumPy (hand)", "asdex (jit)", "CasADi SX",
                     "CasADi MX", "JAX jacfwd (dense)", "JAX hessian (dense)"])


def fig_compare_preparation() -> None:
    """Seconds of preparation (trace, detect, color, compile; jit) of each tool."""
    _compare_figure("preparation_s", "seconds of preparation", "compare_preparation",
                    ["symasd vm", "symasd tape", "asdex (jit)", "CasADi SX", "CasADi MX",
                     "JAX jacfwd (dense)", "JAX hessian (dense)"])


FIGURES = {
    "iter_diff": fig_iter_diff_coloring,
    "brusselator": fig_brusselator,
    "rosenbrock": fig_rosenbrock_hessian,
    "arrow": fig_arrow_bicoloring,
    "colors_vs_n": fig_colors_vs_n,
    "benchmark": fig_benchmark,
    "compare_per_call": fig_compare_per_call,
    "compare_preparation": fig_compare_preparation,
    "engine_auto": fig_engine_auto,
}
# the figures drawn from recorded timings, and what records them again
MEASURES = {"benchmark": measure_benchmark, "engine_auto": measure_engine_auto}


def main(names: list[str]) -> None:
    measure = "--measure" in names
    names = [n for n in names if n != "--measure"]
    unknown = sorted(set(names) - set(FIGURES))
    if unknown:
        raise SystemExit(f"unknown figure(s) {unknown}; choose from {sorted(FIGURES)}")
    if measure:
        for name in names or MEASURES:
            if name in MEASURES:
                MEASURES[name]()
    for name in names or FIGURES:
        FIGURES[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
