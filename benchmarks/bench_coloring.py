#!/usr/bin/env python
"""Benchmark: coloring and decompression (``symasd.color``).

Run from the repository root (after ``python setup.py build_ext --inplace``
or ``pip install .``)::

    python benchmarks/bench_coloring.py            # full run (a few minutes)
    python benchmarks/bench_coloring.py --quick    # small sizes only, seconds
    python benchmarks/bench_coloring.py --dense    # dense rows and columns only

Every timing is the **median** of repeated calls in this process after one
untimed warm-up call.  ``symasd.color(pattern, problem, order)`` is timed as
a user calls it: canonicalizing the pattern, ordering, coloring and
precomputing the decompression data.  Decompression is ``r.decompress(B)``
(gather + ``csr_array``) and ``r.decompress_values(B, out=...)`` (gather
only).

Patterns (built with SciPy, no tracing): the 2D 5-point Laplacian on a
``k x k`` grid, the Brusselator (two species on a periodic ``N x N`` grid,
each row: 5-point stencil of its species + the other species at the same
point), ``iter_diff`` (Jacobian of ``np.diff`` applied ``k`` times: ``k + 1``
bands), arrow patterns (dense first row and column plus the diagonal) and
symmetric banded patterns.

Dense rows and columns (``--dense``, also part of the full run): the arrow
pattern at n = 10^6 (column, row, bidirectional, star, acyclic), a random
10^5 x 10^5 pattern with 3 nonzeros per row plus 5 dense rows and 5 dense
columns (every problem; star and acyclic on ``P + P.T``), a near-dense
single-shooting trajectory Jacobian (2000 positions x 4000 controls, row k
depends on the controls of steps 0..k: 4 x 10^6 nonzeros), and the Hessian
patterns of ARWHEAD and BDQRTIC (``benchmarks/problems.py``) at n = 10^4,
10^5, 10^6, with the log-log slope of the time from 10^4 to 10^6.  Each
coloring is checked with ``symasd.is_valid_coloring`` (untimed; skipped
above 10^7 nonzeros).

Comparisons in the same run on the same patterns: ``networkx.greedy_color``
(``largest_first``) on the column intersection graph (built beforehand, not
timed, ``n <= 10^4``), SciPy's ``scipy.optimize._numdiff.group_columns``
(its default random order; it is used by ``least_squares`` for finite
differences) and, if importable, the ``asdex`` coloring (JAX-based; its
``SparsityPattern`` is built from COO arrays inside the timed call) and
CasADi's ``Sparsity.uni_coloring`` / ``star_coloring``; missing ones are
skipped with a printed note.  Ratios are "their time / symasd time".
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]   # run from a checkout without installing

from machine import cpu_model, load_average  # noqa: E402

import symasd  # noqa: E402
from symasd.coloring import ORDERS  # noqa: E402

TARGETS = {
    ("column", "laplacian", 1000): 0.5,
    ("star", "laplacian", 1000): 1.0,
    "decompress": 0.05,
}
# issue 14: colorings with dense rows and columns
DENSE_TARGETS = {"arrow": 1.0, "random_hubs": 0.5, "trajectory": 1.0}


# ---------------------------------------------------------------------------
# patterns


def laplacian2d(k: int, periodic: bool = False) -> sp.csr_array:
    """5-point Laplacian on a k x k grid (row-major numbering)."""
    idx = np.arange(k * k).reshape(k, k)
    rows, cols = [idx.ravel()], [idx.ravel()]
    for axis in (0, 1):
        for shift in (1, -1):
            nb = np.roll(idx, shift, axis=axis)
            keep = np.ones((k, k), bool)
            if not periodic:
                edge = 0 if shift == 1 else k - 1
                if axis == 0:
                    keep[edge, :] = False
                else:
                    keep[:, edge] = False
            rows.append(idx[keep])
            cols.append(nb[keep])
    r, c = np.concatenate(rows), np.concatenate(cols)
    P = sp.csr_array((np.ones(r.size, bool), (r, c)), shape=(k * k, k * k))
    P.sort_indices()
    return P


def brusselator(N: int = 32) -> sp.csr_array:
    """Jacobian pattern of the 2-species Brusselator, state size 2 N^2."""
    L = laplacian2d(N, periodic=True)
    eye = sp.eye_array(N * N, dtype=bool, format="csr")
    return sp.csr_array(sp.block_array([[L, eye], [eye, L]]), dtype=bool)


def iter_diff(n: int, k: int) -> sp.csr_array:
    """Jacobian pattern of ``np.diff`` applied k times: (n - k) x n, k + 1 bands."""
    return sp.csr_array(sp.diags_array([np.ones(n)] * (k + 1), offsets=list(range(k + 1)),
                                       shape=(n - k, n), dtype=bool))


def banded(n: int, b: int) -> sp.csr_array:
    offsets = list(range(-b, b + 1))
    return sp.csr_array(sp.diags_array([np.ones(n)] * len(offsets), offsets=offsets,
                                       shape=(n, n), dtype=bool))


def arrow(n: int) -> sp.csr_array:
    i = np.arange(n)
    r = np.concatenate([i, np.zeros(n - 1, int), i[1:]])
    c = np.concatenate([i, i[1:], np.zeros(n - 1, int)])
    return sp.csr_array((np.ones(r.size, bool), (r, c)), shape=(n, n))


def random_hubs(n: int, per_row: int = 3, dense_rows: int = 5, dense_cols: int = 5,
                seed: int = 0) -> sp.csr_array:
    """n x n: ``per_row`` random nonzeros per row, plus dense rows and columns."""
    rng = np.random.default_rng(seed)
    r = np.repeat(np.arange(n), per_row)
    c = rng.integers(0, n, n * per_row)
    dr = rng.choice(n, dense_rows, replace=False)
    dc = rng.choice(n, dense_cols, replace=False)
    r = np.concatenate([r, np.repeat(dr, n), np.tile(np.arange(n), dense_cols)])
    c = np.concatenate([c, np.tile(np.arange(n), dense_rows), np.repeat(dc, n)])
    P = sp.csr_array((np.ones(r.size, bool), (r, c)), shape=(n, n))
    P.sum_duplicates()
    return P


def trajectory(steps: int = 2000, controls: int = 2) -> sp.csr_array:
    """Single shooting: position k depends on the controls of steps 0..k (near-dense)."""
    lens = controls * (np.arange(steps) + 1)
    r = np.repeat(np.arange(steps), lens)
    c = np.concatenate([np.arange(k) for k in lens])
    return sp.csr_array((np.ones(r.size, bool), (r, c)), shape=(steps, steps * controls))


def hessian_pattern(name: str, n: int) -> sp.csr_array:
    import problems

    return symasd.hessian_sparsity(getattr(problems, name), np.ones(n))


def dense_cases(quick: bool):
    """(kind, label, pattern, problems) with dense rows and columns."""
    out = []
    n = 10_000 if quick else 1_000_000
    out.append(("arrow", f"arrow n={n}", arrow(n),
                ["column", "row", "bidirectional", "star", "acyclic"]))
    n = 10_000 if quick else 100_000
    P = random_hubs(n)
    out.append(("random_hubs", f"random n={n}, 3/row + 5 dense rows + 5 dense cols", P,
                ["column", "row", "bidirectional"]))
    out.append(("random_hubs", "  the same, P + P.T", sp.csr_array(P + P.T),
                ["star", "acyclic"]))
    steps = 300 if quick else 2000
    out.append(("trajectory", f"trajectory {steps} x {2 * steps}", trajectory(steps),
                ["column", "row", "bidirectional"]))
    return out


def dense_section(quick: bool, budget: float) -> None:
    rows = []
    for kind, label, P, problems in dense_cases(quick):
        for problem in problems:
            t, runs, r = median_time(lambda P=P, problem=problem: symasd.color(P, problem),
                                     min_runs=3, budget=budget, max_runs=10)
            valid = "-" if P.nnz > 10**7 else str(symasd.is_valid_coloring(P, r))
            target = DENSE_TARGETS[kind]
            rows.append([label, f"{P.shape[0]}x{P.shape[1]}", str(P.nnz), problem,
                         str(r.ncolors) + (f" ({r.method})" if problem == "bidirectional"
                                           else ""),
                         fmt_time(t), f"< {fmt_time(target)} {'PASS' if t < target else 'FAIL'}",
                         valid])
            print(f"  done: {label} {problem} ({runs} runs)", file=sys.stderr)
    print("## Dense rows and columns (order='largest_first')\n")
    table(["pattern", "shape", "nnz", "problem", "colors", "median", "target", "valid"], rows)

    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    rows = []
    for name in ("arwhead", "bdqrtic"):
        for problem in ("star", "acyclic"):
            times, colors = [], []
            for n in sizes:
                P = hessian_pattern(name, n)
                t, _, r = median_time(lambda P=P, problem=problem: symasd.color(P, problem),
                                      min_runs=3, budget=budget, max_runs=20)
                times.append(t)
                colors.append(r.ncolors)
                assert n > 10**6 or symasd.is_valid_coloring(P, r)
            slope = math.log10(times[-1] / times[0]) / math.log10(sizes[-1] / sizes[0])
            rows.append([name.upper(), problem, " / ".join(map(str, colors))]
                        + [fmt_time(t) for t in times] + [f"{slope:.2f}"])
    print("## Hessian patterns with a dense row and column (order='largest_first')\n")
    table(["problem", "coloring", "colors"] + [f"n={n:.0e}" for n in sizes]
          + [f"slope {sizes[0]:.0e}-{sizes[-1]:.0e}"], rows)


def check_brusselator_against_tracing(P: sp.csr_array) -> str:
    """Compare with the traced pattern of benchmarks/problems.py, when it works."""
    try:
        from problems import brusselator_rhs

        N = int(round((P.shape[0] // 2) ** 0.5))
        y0 = np.random.default_rng(0).uniform(0.5, 1.5, 2 * N * N)
        T = symasd.jacobian_sparsity(brusselator_rhs, y0)
        same = T.shape == P.shape and (sp.csr_array(T, dtype=bool) != P).nnz == 0
        return "equal to the traced pattern" if same else "DIFFERS from the traced pattern"
    except Exception as exc:  # the tracing side is optional here
        return f"not compared with tracing ({type(exc).__name__})"


# ---------------------------------------------------------------------------
# timing and formatting


def median_time(fn, min_runs: int = 3, budget: float = 2.0, max_runs: int = 50):
    """Median wall time of ``fn()`` after one untimed warm-up; returns (median, runs, result)."""
    result = fn()
    times: list[float] = []
    while len(times) < max_runs and (len(times) < min_runs or sum(times) < budget):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times), result


def fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    if t < 1e-3:
        return f"{t * 1e6:.0f} us"
    if t < 1.0:
        return f"{t * 1e3:.1f} ms"
    return f"{t:.2f} s"


def table(head: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def machine_description() -> str:
    model = cpu_model()
    return (f"CPU: {model}, {os.cpu_count()} logical CPUs; Python "
            f"{platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}")


# ---------------------------------------------------------------------------
# competitors


def column_intersection_graph(P: sp.csr_array):
    import networkx as nx

    A = sp.csr_array(P, dtype=np.int8)
    G = sp.triu(A.T @ A, k=1, format="coo")
    g = nx.Graph()
    g.add_nodes_from(range(P.shape[1]))
    g.add_edges_from(zip(G.row.tolist(), G.col.tolist(), strict=True))
    return g


def networkx_column(P: sp.csr_array, budget: float):
    try:
        import networkx as nx
    except ImportError:
        return None
    g = column_intersection_graph(P)
    t, _, colors = median_time(lambda: nx.greedy_color(g, strategy="largest_first"),
                               min_runs=1, budget=budget, max_runs=5)
    return max(colors.values()) + 1 if colors else 0, t


def scipy_group_columns(P: sp.csr_array, budget: float):
    from scipy.optimize._numdiff import group_columns

    A = sp.csr_matrix(P)   # group_columns wants a sparse matrix (or dense)
    t, _, groups = median_time(lambda: group_columns(A), min_runs=1, budget=budget, max_runs=5)
    return int(groups.max()) + 1, t


def load_asdex():
    try:
        import asdex  # noqa: F401
    except Exception as exc:
        return None, f"asdex is not importable here ({type(exc).__name__}: {exc}); skipped"
    return asdex, None


def asdex_color(asdex, P: sp.csr_array, problem: str, budget: float):
    """asdex coloring from COO arrays (building its SparsityPattern is timed,
    as canonicalizing the pattern is in symasd.color)."""
    coo = P.tocoo()
    rows, cols = coo.row.astype(np.int32), coo.col.astype(np.int32)

    def fn():
        pat = asdex.SparsityPattern.from_coo(rows, cols, P.shape)
        if problem == "column":
            return asdex.jacobian_coloring_from_sparsity(pat, mode="fwd")
        return asdex.hessian_coloring_from_sparsity(pat, symmetric=True)

    t, _, res = median_time(fn, min_runs=1, budget=budget, max_runs=5)
    return int(res.num_colors), t


def load_casadi():
    try:
        import casadi
    except Exception as exc:
        return None, f"casadi is not importable here ({type(exc).__name__}); skipped"
    return casadi, None


def casadi_color(casadi, P: sp.csr_array, problem: str, budget: float):
    """CasADi ``Sparsity.uni_coloring`` (column) / ``star_coloring`` (symmetric)."""
    coo = P.tocoo()
    S = casadi.Sparsity.triplet(P.shape[0], P.shape[1], coo.row.tolist(), coo.col.tolist())
    fn = S.uni_coloring if problem == "column" else S.star_coloring
    t, _, res = median_time(fn, min_runs=1, budget=budget, max_runs=5)
    return int(res.size2()), t


# ---------------------------------------------------------------------------
# the benchmark


def cases(quick: bool):
    ks = [30, 100] if quick else [100, 300, 1000]
    out = []
    for k in ks:
        P = laplacian2d(k)
        out.append(("laplacian", k, f"2D Laplacian k={k}", P, ["column", "star"]))
    out.append(("brusselator", 32, "Brusselator N=32", brusselator(32), ["column", "star"]))
    for n in ([1000] if quick else [10_000, 1_000_000]):
        out.append(("iter_diff", n, f"iter_diff n={n}, k=3", iter_diff(n, 3), ["column"]))
    for n in ([300] if quick else [1000, 10_000]):
        out.append(("arrow", n, f"arrow n={n}", arrow(n), ["bidirectional"]))
    for n in ([10_000] if quick else [100_000, 1_000_000]):
        out.append(("banded", n, f"banded n={n}, b=2", banded(n, 2), ["acyclic"]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    ap.add_argument("--dense", action="store_true",
                    help="only the patterns with dense rows and columns")
    ap.add_argument("--budget", type=float, default=2.0,
                    help="seconds of repeated runs per measurement (default 2)")
    args = ap.parse_args(argv)
    budget = 0.3 if args.quick else args.budget

    flags = "".join(f" --{k}" for k in ("quick", "dense") if getattr(args, k))
    print(f"# symasd coloring benchmark{' (quick)' if args.quick else ''}\n")
    print(f"- {machine_description()}")
    print(f"- command: `python benchmarks/bench_coloring.py{flags}`")
    print("- times: median of repeated runs in one process after a warm-up call")
    print(f"- load average at start (1/5/15 min): {load_average()}\n")
    if args.dense:
        dense_section(args.quick, budget)
        print(f"- load average at end (1/5/15 min): {load_average()}")
        return 0

    asdex, asdex_note = load_asdex()
    casadi, casadi_note = load_casadi()
    for note in (asdex_note, casadi_note):
        if note:
            print(f"- note: {note}")
    print()

    # 1. symasd timings (default order largest_first) and comparisons
    head = ["pattern", "shape", "nnz", "problem", "symasd colors", "symasd time", "target",
            "networkx colors", "networkx time", "nx / symasd",
            "group_columns colors", "group_columns time", "gc / symasd"]
    others = [(name, mod, fn) for name, mod, fn in (("asdex", asdex, asdex_color),
                                                      ("casadi", casadi, casadi_color))
              if mod is not None]
    for name, _, _ in others:
        head += [f"{name} colors", f"{name} time", f"{name} / symasd"]
    rows = []
    decompress_case = None
    for kind, size, label, P, problems in cases(args.quick):
        for problem in problems:
            t, runs, r = median_time(lambda P=P, problem=problem: symasd.color(P, problem),
                                     budget=budget)
            target = TARGETS.get((problem, kind, size))
            tgt = "-" if target is None else (
                f"< {fmt_time(target)} {'PASS' if t < target else 'FAIL'}")
            row = [label, f"{P.shape[0]}x{P.shape[1]}", str(P.nnz), problem, str(r.ncolors),
                   fmt_time(t), tgt]
            nxc = gcc = None
            if problem == "column" and P.shape[1] <= 10_000:
                nxc = networkx_column(P, budget)
            if problem == "column" and P.shape[1] <= 1_000_000:
                gcc = scipy_group_columns(P, budget)
            for res in (nxc, gcc):
                if res is None:
                    row += ["-", "-", "-"]
                else:
                    row += [str(res[0]), fmt_time(res[1]), f"{res[1] / t:.1f}x"]
            for _, mod, fn in others:
                if problem in ("column", "star") and P.shape[1] <= 1_000_000:
                    try:
                        oc, ot = fn(mod, P, problem, budget)
                        row += [str(oc), fmt_time(ot), f"{ot / t:.1f}x"]
                    except Exception as exc:
                        row += [f"error: {type(exc).__name__}", "-", "-"]
                else:
                    row += ["-", "-", "-"]
            rows.append(row)
            if kind == "laplacian" and problem == "column":
                decompress_case = (label, P, r)
            print(f"  done: {label} {problem} ({runs} runs)", file=sys.stderr)
    print("## Coloring time (order='largest_first')\n")
    table(head, rows)

    # 2. decompression
    label, P, r = decompress_case
    rng = np.random.default_rng(0)
    M = sp.csr_array(P, dtype=np.float64)
    M.data = rng.standard_normal(M.nnz)
    B = M @ r.seeds()
    out = np.empty(M.nnz)
    t_full, _, J = median_time(lambda: r.decompress(B), min_runs=5, budget=budget, max_runs=100)
    t_vals, _, _ = median_time(lambda: r.decompress_values(B, out=out), min_runs=5,
                               budget=budget, max_runs=100)
    assert np.array_equal(J.data, M.data)
    rows = []
    target = TARGETS["decompress"]
    for what, t in (("decompress(B) -> csr_array", t_full), ("decompress_values(B, out)", t_vals)):
        rows.append([label, f"{P.shape[0]}x{P.shape[1]}", str(P.nnz), f"{r.ncolors}", what,
                     fmt_time(t), f"< {fmt_time(target)} {'PASS' if t < target else 'FAIL'}"
                     if P.shape[0] >= 10**6 else "-"])
    # substitution (acyclic) on the same Laplacian, symmetric values
    ra = symasd.color(P, "acyclic")
    H = M + M.T
    Bh = H @ ra.seeds()
    t_sub, _, Hd = median_time(lambda: ra.decompress(Bh), min_runs=5, budget=budget)
    err = float(abs(Hd - H).max())
    rows.append([label, f"{P.shape[0]}x{P.shape[1]}", str(P.nnz), f"{ra.ncolors} (acyclic)",
                 f"substitution decompress(B), max error {err:.1e}", fmt_time(t_sub), "-"])
    print("## Decompression (column coloring; acyclic substitution)\n")
    table(["pattern", "shape", "nnz", "colors", "operation", "median", "target"], rows)

    # 3. colors per order
    print("## Colors per order\n")
    k = 100 if not args.quick else 30
    pats = [(f"Laplacian k={k} (optimum 5)", laplacian2d(k), ["column", "star", "acyclic"]),
            ("Brusselator N=32 (asdex/CasADi: 12 column colors)", brusselator(32),
             ["column", "row", "star", "acyclic"]),
            ("arrow n=1000", arrow(1000), ["bidirectional", "star"])]
    rows = []
    for label, P, problems in pats:
        for problem in problems:
            counts = [symasd.color(P, problem, order=o).ncolors for o in ORDERS]
            best = symasd.color(P, problem, order="best").ncolors
            extra = ""
            if problem in ("column", "row"):
                extra = str(symasd.color(P, problem, order="best", improve=20).ncolors)
            rows.append([label, problem] + [str(c) for c in counts] + [str(best), extra or "-"])
    table(["pattern", "problem"] + list(ORDERS) + ["best", "best + improve=20"], rows)
    print(f"- Brusselator pattern check: {check_brusselator_against_tracing(brusselator(32))}")
    dense_section(args.quick, budget)
    print(f"- load average at end (1/5/15 min): {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
