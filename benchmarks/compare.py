#!/usr/bin/env python
"""Benchmark: prepared sparse derivatives, symasd vs JAX, asdex, CasADi, NumPy.

Run from the repository root (after ``python setup.py build_ext --inplace``
or ``pip install .``)::

    python benchmarks/compare.py                     # full run, 2-3 minutes on 2 cores
    python benchmarks/compare.py --quick             # small sizes, about 30 s
    python benchmarks/compare.py --only brusselator  # one problem (repeatable)

Problems (from ``benchmarks/problems.py``, plain NumPy; the JAX-based tools
run the very same source with ``xp=jax.numpy``, CasADi gets its own
transcription below):

* ``brusselator``: Jacobian of the 2D Brusselator right-hand side,
  N = 32, 64, 128 (n = 2 N^2);
* ``iter_diff``: Jacobian of ``np.diff`` applied k = 3 times, n = 10^4 ... 10^6;
* ``rosenbrock``: Hessian of the chained Rosenbrock function, n = 10^3 ... 10^5;
* ``ext_rosenbrock``: Hessian of the extended Rosenbrock function (independent
  pairs, 2 x 2 diagonal blocks), n = 10^3 ... 10^5;
* ``dense``: a short sweep (n = 1000 ... 4000) of the tape engine against
  JAX's dense ``jacfwd`` / ``hessian``, where a dense Jacobian still fits.

Tools, each in the same process on the same points:

* ``symasd vm``: ``symasd.jacobian(f, x0, engine="vm")`` (or ``hessian``):
  trace, detect, color, choose the mode, compile the derivative DAG; a call
  evaluates it on the Cython VM and returns a ``csr_array``;
* ``symasd numpy``: ``engine="numpy"``: the compiled derivative DAG printed as
  vectorized NumPy (the code ``to_source`` / ``export`` give), run from memory;
* ``symasd tape``: ``engine="tape"``: numeric compressed sweeps, no compiling;
* ``NumPy (hand)``: a hand-written vectorized Jacobian/Hessian: the CSR
  structure and constant entries are built once, a call computes the
  variable entries with NumPy and returns ``scipy.sparse.csr_array``;
* ``JAX jacfwd`` / ``JAX hessian``: dense, ``jax.jit``-ted, float64; skipped
  above n = 5000 (the dense matrix alone would be > 200 MB);
* ``asdex (jit)``: ``asdex.jacobian_coloring`` / ``hessian_coloring`` +
  ``*_from_coloring`` (BCOO output) under ``jax.jit``; a call returns the
  nonzero values as a NumPy array (``np.asarray(J.data)``);
* ``CasADi SX`` / ``CasADi MX``: the function built from CasADi symbols,
  ``casadi.jacobian`` / ``casadi.hessian``, a ``casadi.Function``; a call
  evaluates it through ``Function.buffer()`` straight into a NumPy array (its
  fastest path from Python; ``F(x)`` returning a ``DM`` is several times
  slower) and wraps the nonzeros, copied, in a ``scipy.sparse.csc_array``.

What is timed:

* preparation: everything from the function to a callable that returns the
  derivative: symasd's ``jacobian``/``hessian``; JAX: ``jax.jit`` + the first
  call (compilation); asdex: detection + coloring + ``jax.jit`` + the first
  call; CasADi: building the expression graph, ``jacobian``/``hessian`` and
  ``Function``; NumPy: building the CSR structure. Timed once (cold).
* per call: the median of repeated calls at a point different from the
  preparation point, after one untimed warm-up call, with
  ``block_until_ready`` for JAX. The tools of one case are timed
  round-robin, in short batches (about 20 ms each), so that the slow and
  fast windows of a shared machine fall on every tool alike and the ratios
  hold even when the absolute times drift.

Errors are the maximum absolute difference from ``symasd vm`` (the ``symasd
vm`` row itself is compared with the hand-written NumPy derivative). Ratios
are "symasd time / their time": below 1 symasd is faster. Tools that are not
importable are skipped with a printed note; ``pip install jax asdex casadi``
installs them.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # run from a checkout without installing

from machine import cpu_model, load_average  # noqa: E402
from problems import brusselator_rhs, chained_rosenbrock, iter_diff  # noqa: E402

import symasd  # noqa: E402

DENSE_LIMIT = 5000  # largest n for dense JAX jacfwd / hessian
CALL_BUDGET = 0.4  # seconds of repeated calls per measurement
MIN_REPS, MAX_REPS = 5, 2000
ROUND = 0.02  # seconds of one tool's calls per round of the round-robin timing

NOTES: list[str] = []
_PRINT_NOTES = False  # notes from the imports are printed after the header


def note(msg: str) -> None:
    if msg not in NOTES:
        NOTES.append(msg)
        if _PRINT_NOTES:
            print(f"- note: {msg}", flush=True)


# ---------------------------------------------------------------------------
# optional tools


def _import_jax():
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        return jax, jnp
    except Exception as e:  # noqa: BLE001
        note(f"jax is not importable here ({type(e).__name__}: {e}); JAX and asdex skipped")
        return None, None


def _import_asdex():
    try:
        import asdex

        return asdex
    except Exception as e:  # noqa: BLE001
        note(f"asdex is not importable here ({type(e).__name__}); asdex skipped")
        return None


def _import_casadi():
    try:
        import casadi

        return casadi
    except Exception as e:  # noqa: BLE001
        note(f"casadi is not importable here ({type(e).__name__}); CasADi skipped")
        return None


JAX, JNP = _import_jax()
if JAX is not None:
    # start the XLA backend once, so that no preparation time below pays for it
    JAX.jit(lambda v: v + 1.0)(JNP.zeros(3)).block_until_ready()
ASDEX = _import_asdex() if JAX is not None else None
CA = _import_casadi()


# ---------------------------------------------------------------------------
# one more problem: the extended Rosenbrock function (not in problems.py)


def extended_rosenbrock(x, *, xp=np):
    """``sum_i 100 (x[2i+1] - x[2i]^2)^2 + (1 - x[2i])^2`` (n even).

    Independent pairs: the Hessian is block diagonal with 2 x 2 blocks
    (``2 n`` nonzeros).
    """
    a = x[0::2]
    b = x[1::2]
    return xp.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)


# ---------------------------------------------------------------------------
# hand-written vectorized NumPy derivatives: build(n) -> callable(x) -> csr_array


def _csr(data, indices, indptr, shape):
    return sp.csr_array((data, indices, indptr), shape=shape)


def hand_iter_diff(n: int, k: int = 3):
    """Banded constants: row i holds the binomial coefficients at columns i..i+k."""
    m = n - k
    coef = np.array([(-1.0) ** (k - j) * math.comb(k, j) for j in range(k + 1)])
    indptr = np.arange(0, (k + 1) * m + 1, k + 1, dtype=np.int32)
    indices = (np.arange(m, dtype=np.int32)[:, None] + np.arange(k + 1, dtype=np.int32)).ravel()

    def jac(x):
        return _csr(np.tile(coef, m), indices, indptr, (m, n))

    return jac


def hand_brusselator(n: int, A=3.4, B=1.0, alpha=10.0):
    """Analytic: the periodic Laplacian's constants plus the 2x2 reaction blocks."""
    N = math.isqrt(n // 2)
    NN = N * N
    a = alpha * (N - 1) ** 2
    idx = np.arange(NN).reshape(N, N)
    nbs = [np.roll(idx, s, axis=ax).ravel() for ax in (0, 1) for s in (1, -1)]
    p = idx.ravel()
    # entries: kind 0 = Laplacian neighbour (a), 1 = own diagonal (-4a + reaction),
    # 2 = other species at the same point (reaction only)
    rows, cols, kind, species = [], [], [], []
    for s in (0, 1):
        off, other = s * NN, (1 - s) * NN
        for nb in nbs:
            rows.append(p + off)
            cols.append(nb + off)
            kind.append(np.zeros(NN, np.int8))
            species.append(np.full(NN, s, np.int8))
        rows.append(p + off)
        cols.append(p + off)
        kind.append(np.ones(NN, np.int8))
        species.append(np.full(NN, s, np.int8))
        rows.append(p + off)
        cols.append(p + other)
        kind.append(np.full(NN, 2, np.int8))
        species.append(np.full(NN, s, np.int8))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    kind, species = np.concatenate(kind), np.concatenate(species)
    order = np.lexsort((cols, rows))
    rows, cols, kind, species = rows[order], cols[order], kind[order], species[order]
    indptr = np.zeros(n + 1, np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    indices = cols.astype(np.int32)
    const = np.where(kind == 0, a, np.where(kind == 1, -4.0 * a, 0.0))
    pos = {}
    for s in (0, 1):
        for kd in (1, 2):
            sel = np.flatnonzero((kind == kd) & (species == s))
            # rows are sorted, so the entries of each kind come in point order
            pos[s, kd] = sel
    du_du, du_dv, dv_du, dv_dv = pos[0, 1], pos[0, 2], pos[1, 2], pos[1, 1]

    def jac(y):
        u, v = y[:NN], y[NN:]
        uv2 = 2.0 * u * v
        uu = u * u
        data = const.copy()
        data[du_du] += uv2 - (A + 1.0)
        data[du_dv] = uu
        data[dv_du] = A - uv2
        data[dv_dv] -= uu
        return _csr(data, indices, indptr, (n, n))

    return jac


def hand_chained_rosenbrock(n: int):
    """Tridiagonal Hessian: rows [i-1, i, i+1]."""
    indptr = np.zeros(n + 1, np.int32)
    indptr[1:] = np.minimum(np.arange(1, n + 1) * 3 - 1, 3 * n - 2)
    indices = np.empty(3 * n - 2, np.int32)
    indices[:2] = [0, 1]
    indices[2:-2] = (
        np.arange(1, n - 1, dtype=np.int32)[:, None] + np.array([-1, 0, 1], np.int32)
    ).ravel()
    indices[-2:] = [n - 2, n - 1]

    def hes(x):
        head, tail = x[:-1], x[1:]
        d = np.empty(n)
        d[:-1] = 1200.0 * head * head - 400.0 * tail + 2.0
        d[-1] = 0.0
        d[1:] += 200.0
        o = -400.0 * head
        data = np.empty(3 * n - 2)
        data[0], data[1] = d[0], o[0]
        mid = data[2:-2].reshape(n - 2, 3)
        mid[:, 0] = o[:-1]
        mid[:, 1] = d[1:-1]
        mid[:, 2] = o[1:]
        data[-2], data[-1] = o[-1], d[-1]
        return _csr(data, indices, indptr, (n, n))

    return hes


def hand_extended_rosenbrock(n: int):
    """Block diagonal Hessian with 2 x 2 blocks."""
    indptr = np.arange(0, 2 * n + 1, 2, dtype=np.int32)
    indices = np.repeat(np.arange(0, n, 2, dtype=np.int32), 4) + np.tile(
        np.array([0, 1], np.int32), n
    )

    def hes(x):
        a, b = x[0::2], x[1::2]
        data = np.empty((n // 2, 4))
        data[:, 0] = 1200.0 * a * a - 400.0 * b + 2.0
        data[:, 1] = -400.0 * a
        data[:, 2] = data[:, 1]
        data[:, 3] = 200.0
        return _csr(data.ravel(), indices, indptr, (n, n))

    return hes


# ---------------------------------------------------------------------------
# CasADi transcriptions: build(S, n) -> (x symbol, output expression)


def ca_iter_diff(S, n, k=3):
    x = S.sym("x", n)
    y = x
    for _ in range(k):
        y = y[1:] - y[:-1]
    return x, y


def ca_brusselator(S, n, A=3.4, B=1.0, alpha=10.0):
    N = math.isqrt(n // 2)
    NN = N * N
    a = alpha * (N - 1) ** 2
    y = S.sym("y", n)
    u, v = y[:NN], y[NN:]
    idx = np.arange(NN).reshape(N, N)
    shifts = [np.roll(idx, s, axis=ax).ravel().tolist() for ax in (0, 1) for s in (1, -1)]

    def lap(w):
        return w[shifts[0]] + w[shifts[1]] + w[shifts[2]] + w[shifts[3]] - 4.0 * w

    uuv = u * u * v
    du = a * lap(u) + B + uuv - (A + 1.0) * u
    dv = a * lap(v) + A * u - uuv
    return y, CA.vertcat(du, dv)


def ca_chained_rosenbrock(S, n):
    x = S.sym("x", n)
    head, tail = x[: n - 1], x[1:]
    return x, CA.sum1(100.0 * (tail - head**2) ** 2 + (1.0 - head) ** 2)


def ca_extended_rosenbrock(S, n):
    x = S.sym("x", n)
    a, b = x[0::2], x[1::2]
    return x, CA.sum1(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)


# ---------------------------------------------------------------------------
# problems


@dataclass
class Problem:
    name: str  # command-line name
    title: str
    kind: str  # "jacobian" | "hessian"
    f: object  # NumPy function f(x, xp=...)
    hand: object  # build(n) -> callable
    casadi: object  # build(S, n) -> (x, expr)
    sizes: list  # (label, n)
    quick_sizes: list
    point: object  # rng, n -> x


def _bru_point(rng, n):
    return rng.uniform(0.5, 1.5, n)


def _normal_point(rng, n):
    return rng.standard_normal(n)


def _ros_point(rng, n):
    return rng.uniform(-1.5, 1.5, n)


PROBLEMS = {
    "brusselator": Problem(
        "brusselator",
        "Brusselator Jacobian (2D, periodic, n = 2 N^2)",
        "jacobian",
        brusselator_rhs,
        hand_brusselator,
        ca_brusselator,
        [(f"N={N}", 2 * N * N) for N in (32, 64, 128)],
        [(f"N={N}", 2 * N * N) for N in (8, 16)],
        _bru_point,
    ),
    "iter_diff": Problem(
        "iter_diff",
        "iter_diff Jacobian (k = 3, (n-3) x n)",
        "jacobian",
        iter_diff,
        hand_iter_diff,
        ca_iter_diff,
        [(f"n=10^{e}", 10**e) for e in (4, 5, 6)],
        [(f"n=10^{e}", 10**e) for e in (3, 4)],
        _normal_point,
    ),
    "rosenbrock": Problem(
        "rosenbrock",
        "Chained Rosenbrock Hessian (tridiagonal)",
        "hessian",
        chained_rosenbrock,
        hand_chained_rosenbrock,
        ca_chained_rosenbrock,
        [(f"n=10^{e}", 10**e) for e in (3, 4, 5)],
        [(f"n=10^{e}", 10**e) for e in (2, 3)],
        _ros_point,
    ),
    "ext_rosenbrock": Problem(
        "ext_rosenbrock",
        "Extended Rosenbrock Hessian (2 x 2 blocks)",
        "hessian",
        extended_rosenbrock,
        hand_extended_rosenbrock,
        ca_extended_rosenbrock,
        [(f"n=10^{e}", 10**e) for e in (3, 4, 5)],
        [(f"n=10^{e}", 10**e) for e in (2, 3)],
        _ros_point,
    ),
}

# the tape-vs-dense sweep: (problem, label, n)
DENSE_SWEEP = [
    ("iter_diff", "n=1000", 1000),
    ("iter_diff", "n=2000", 2000),
    ("iter_diff", "n=4000", 4000),
    ("brusselator", "N=23", 2 * 23 * 23),
    ("brusselator", "N=32", 2048),
    ("brusselator", "N=45", 2 * 45 * 45),
    ("rosenbrock", "n=1000", 1000),
    ("rosenbrock", "n=2000", 2000),
    ("rosenbrock", "n=4000", 4000),
]
DENSE_SWEEP_QUICK = [("iter_diff", "n=1000", 1000), ("rosenbrock", "n=1000", 1000)]


# ---------------------------------------------------------------------------
# timing


def time_calls(calls: list[tuple]) -> list[float]:
    """Median seconds per call of each ``(fn, x)`` in ``calls``, timed round-robin.

    Every function gets one untimed warm-up call; then rounds follow in which
    each function runs a short batch of timed calls (about ``ROUND`` seconds),
    until each has had ``CALL_BUDGET`` seconds (at least ``MIN_REPS`` calls, at
    most ``MAX_REPS``). Interleaving the tools this way exposes all of them to the
    same fast and slow windows of a busy machine, so their ratios stay
    meaningful when the absolute times drift.
    """
    batch = []
    failed: set[int] = set()  # a tool that raises while timed gets no time, the others go on
    for i, (fn, x) in enumerate(calls):
        t0 = time.perf_counter()
        try:
            fn(x)
        except Exception:  # noqa: BLE001
            traceback.print_exc(limit=3)
            failed.add(i)
        batch.append(max(1, min(MAX_REPS, int(ROUND / max(time.perf_counter() - t0, 1e-7)))))
    times: list[list[float]] = [[] for _ in calls]
    spent = [0.0] * len(calls)
    while True:
        active = [
            i for i in range(len(calls))
            if i not in failed and len(times[i]) < MAX_REPS
            and (len(times[i]) < MIN_REPS or spent[i] < CALL_BUDGET)
        ]
        if not active:
            break
        for i in active:
            fn, x = calls[i]
            try:
                for _ in range(min(batch[i], MAX_REPS - len(times[i]))):
                    t0 = time.perf_counter()
                    fn(x)
                    dt = time.perf_counter() - t0
                    times[i].append(dt)
                    spent[i] += dt
            except Exception:  # noqa: BLE001
                traceback.print_exc(limit=3)
                failed.add(i)
    return [None if i in failed else statistics.median(t) for i, t in enumerate(times)]


def fmt_time(t) -> str:
    if t is None:
        return "-"
    if t >= 1.0:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.1f} ms"
    return f"{t * 1e6:.0f} us"


def fmt_ratio(a, b) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}"


def fmt_err(e) -> str:
    return "-" if e is None else f"{e:.1e}"


@dataclass
class Result:
    tool: str
    prep: float | None = None
    call: float | None = None
    colors: object = "-"
    nnz: object = "-"
    err: float | None = None
    matrix: object = None  # scipy sparse / dense ndarray, for the error check
    info: str = ""
    timed: tuple | None = None  # (callable, point) whose calls run_case times


def max_abs_diff(A, ref: sp.csr_array) -> float:
    if isinstance(A, np.ndarray):
        return float(np.max(np.abs(A - ref.toarray()))) if A.size else 0.0
    D = (sp.csr_array(A) - ref).tocsr()
    return float(np.max(np.abs(D.data))) if D.nnz else 0.0


# ---------------------------------------------------------------------------
# tools: each returns a Result (timing included) or raises


def run_symasd(prob: Problem, x0, x1, engine: str) -> Result:
    build = symasd.jacobian if prob.kind == "jacobian" else symasd.hessian
    gc.collect()
    t0 = time.perf_counter()
    obj = build(prob.f, x0, engine=engine)
    prep = time.perf_counter() - t0
    info = f"mode {obj.mode}"
    if getattr(obj, "compiled", None) is not None:
        info += f", DAG {obj.compiled.matrix_graph.n_nodes} nodes"
    return Result(f"symasd {engine}", prep, None, obj.ncolors, obj.nnz, matrix=obj(x1), info=info,
                  timed=(obj, x1))


def run_hand(prob: Problem, x0, x1) -> Result:
    t0 = time.perf_counter()
    fn = prob.hand(x0.size)
    prep = time.perf_counter() - t0
    M = fn(x1)
    return Result("NumPy (hand)", prep, None, "-", M.nnz, matrix=M, timed=(fn, x1))


def run_jax_dense(prob: Problem, x0, x1) -> Result:
    jax, jnp = JAX, JNP
    f = prob.f

    def fj(x):
        return f(x, xp=jnp)

    d = jax.jacfwd(fj) if prob.kind == "jacobian" else jax.hessian(fj)
    t0 = time.perf_counter()
    jf = jax.jit(d)
    xd0 = jnp.asarray(x0)
    jf(xd0).block_until_ready()
    prep = time.perf_counter() - t0
    xd1 = jnp.asarray(x1)

    def call(x):
        return jf(x).block_until_ready()

    M = np.asarray(jf(xd1))
    name = "JAX jacfwd (dense)" if prob.kind == "jacobian" else "JAX hessian (dense)"
    return Result(name, prep, None, x0.size, M.size, matrix=M, timed=(call, xd1))


def run_asdex(prob: Problem, x0, x1) -> Result:
    jax, jnp, asdex = JAX, JNP, ASDEX
    f = prob.f

    def fj(x):
        return f(x, xp=jnp)

    xd0 = jnp.asarray(x0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        if prob.kind == "jacobian":
            coloring = asdex.jacobian_coloring(fj, xd0)
            d = asdex.jacobian_from_coloring(fj, coloring)
        else:
            coloring = asdex.hessian_coloring(fj, xd0)
            d = asdex.hessian_from_coloring(fj, coloring)
        jf = jax.jit(d)
        jf(xd0).data.block_until_ready()
        prep = time.perf_counter() - t0
    xd1 = jnp.asarray(x1)

    def call(x):
        return np.asarray(jf(x).data.block_until_ready())

    data = call(xd1)
    sparsity = coloring.sparsity
    rows, cols = np.asarray(sparsity.rows), np.asarray(sparsity.cols)
    M = sp.csr_array(sp.coo_array((data, (rows, cols)), shape=tuple(sparsity.shape)))
    return Result(
        "asdex (jit)",
        prep,
        None,
        int(coloring.num_colors),
        int(sparsity.nnz),
        matrix=M,
        info=f"mode {coloring.mode}",
        timed=(call, xd1),
    )


def run_casadi(prob: Problem, x0, x1, S) -> Result:
    ca = CA
    gc.collect()
    t0 = time.perf_counter()
    x, expr = prob.casadi(S, x0.size)
    if prob.kind == "jacobian":
        D = ca.jacobian(expr, x)
    else:
        D, _ = ca.hessian(expr, x)
    F = ca.Function("d", [x], [D])
    prep = time.perf_counter() - t0
    spy = F.sparsity_out(0)
    colind, row = spy.get_ccs()
    shape = (spy.size1(), spy.size2())
    indptr = np.asarray(colind, dtype=np.int32)
    indices = np.asarray(row, dtype=np.int32)
    buf, ev = F.buffer()
    xin = np.zeros(x0.size)
    out = np.zeros(F.nnz_out(0))
    buf.set_arg(0, memoryview(xin))
    buf.set_res(0, memoryview(out))

    def call(xv, _buf=buf):  # the buffer must outlive ev: ev() on a freed buffer crashes
        xin[:] = xv
        ev()
        return sp.csc_array((out.copy(), indices, indptr), shape=shape)

    M = call(x1)
    return Result(
        f"CasADi {S.__name__}", prep, None, "-", int(indptr[-1]), matrix=M.tocsr(), info="CSC",
        timed=(call, x1),
    )


# ---------------------------------------------------------------------------
# driving


def run_case(
    prob: Problem, label: str, n: int, tools: list[str], seed: int = 0, ref_tool: str = "symasd vm"
) -> list[Result]:
    rng = np.random.default_rng(seed)
    x0 = prob.point(rng, n)
    x1 = prob.point(rng, n)
    results: list[Result] = []
    plan = []
    for tool in tools:
        if tool == "vm":
            plan.append(("symasd vm", lambda: run_symasd(prob, x0, x1, "vm")))
        elif tool == "tape":
            plan.append(("symasd tape", lambda: run_symasd(prob, x0, x1, "tape")))
        elif tool == "numpy":
            plan.append(("symasd numpy", lambda: run_symasd(prob, x0, x1, "numpy")))
        elif tool == "hand":
            plan.append(("NumPy (hand)", lambda: run_hand(prob, x0, x1)))
        elif tool == "jax":
            if JAX is None:
                continue
            if n > DENSE_LIMIT:
                note(f"dense JAX (jacfwd / hessian) skipped above n = {DENSE_LIMIT}")
                continue
            plan.append(("JAX dense", lambda: run_jax_dense(prob, x0, x1)))
        elif tool == "asdex":
            if ASDEX is None:
                continue
            plan.append(("asdex (jit)", lambda: run_asdex(prob, x0, x1)))
        elif tool in ("sx", "mx"):
            if CA is None:
                continue
            S = CA.SX if tool == "sx" else CA.MX
            plan.append((f"CasADi {tool.upper()}", lambda S=S: run_casadi(prob, x0, x1, S)))
    for name, job in plan:
        try:
            r = job()
        except Exception as e:  # noqa: BLE001
            note(f"{name} failed on {prob.name} {label}: {type(e).__name__}: {e}")
            traceback.print_exc(limit=3)
            continue
        results.append(r)
    gc.collect()
    for r, t in zip(results, time_calls([r.timed for r in results]), strict=True):
        r.call, r.timed = t, None
        if t is None:
            note(f"{r.tool} failed while timed on {prob.name} {label}; left out")
            continue
        print(
            f"  {prob.name} {label}: {r.tool}: prep {fmt_time(r.prep)}, call {fmt_time(r.call)}",
            file=sys.stderr,
            flush=True,
        )
    # errors against symasd vm (and vm against the hand-written derivative)
    ref = next((r for r in results if r.tool == ref_tool), None)
    hand = next((r for r in results if r.tool == "NumPy (hand)"), None)
    for r in results:
        try:
            if r is ref:
                if hand is not None:
                    r.err = max_abs_diff(r.matrix, hand.matrix)
            elif ref is not None:
                r.err = max_abs_diff(r.matrix, ref.matrix)
        except Exception as e:  # noqa: BLE001
            note(f"error check of {r.tool} on {prob.name} {label} failed: {e}")
    for r in results:
        r.matrix = None
    return [r for r in results if r.call is not None]


def print_table(prob: Problem, rows: list[tuple[str, int, list[Result]]]) -> None:
    print(f"\n### {prob.title}\n")
    print(
        "| size | n | tool | preparation | per call | colors | nnz | max abs error | "
        "vm/this prep | vm/this call | tape/this call | notes |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, n, results in rows:
        vm = next((r for r in results if r.tool == "symasd vm"), None)
        tape = next((r for r in results if r.tool == "symasd tape"), None)
        for r in results:
            own = r.tool.startswith("symasd")
            err = fmt_err(r.err) + (
                " (vs hand)" if r.tool == "symasd vm" and r.err is not None else ""
            )
            print(
                f"| {label} | {n} | {r.tool} | {fmt_time(r.prep)} | {fmt_time(r.call)} | "
                f"{r.colors} | "
                f"{r.nnz} | {err} | "
                f"{'-' if own or vm is None else fmt_ratio(vm.prep, r.prep)} | "
                f"{'-' if own or vm is None else fmt_ratio(vm.call, r.call)} | "
                f"{'-' if own or tape is None else fmt_ratio(tape.call, r.call)} | {r.info} |"
            )
    sys.stdout.flush()


def targets(all_rows: dict, sweep_rows: list) -> None:
    """Print the issue's performance targets with PASS/MISS and the measured ratios."""
    lines = []

    def get(results, tool):
        return next((r for r in results if r.tool == tool), None)

    for pname in ("brusselator", "iter_diff", "rosenbrock", "ext_rosenbrock"):
        for label, _n, results in all_rows.get(pname, []):
            vm, tape, hand = (
                get(results, "symasd vm"),
                get(results, "symasd tape"),
                get(results, "NumPy (hand)"),
            )
            asd, sx, mx = (
                get(results, "asdex (jit)"),
                get(results, "CasADi SX"),
                get(results, "CasADi MX"),
            )
            if vm is None:
                continue
            case = f"{pname} {label}"
            if asd is not None:
                lines.append(
                    (
                        case,
                        "call: vm faster than asdex",
                        vm.call < asd.call,
                        f"vm/asdex = {vm.call / asd.call:.2f}",
                    )
                )
            cas = [c for c in (sx, mx) if c is not None]
            if cas:
                best = min(cas, key=lambda c: c.call)
                lines.append(
                    (
                        case,
                        "call: vm faster than CasADi (best of SX, MX)",
                        vm.call < best.call,
                        f"vm/{best.tool} = {vm.call / best.call:.2f}",
                    )
                )
            if hand is not None:
                lines.append(
                    (
                        case,
                        "call: vm within 2x of hand-written NumPy",
                        vm.call <= 2 * hand.call,
                        f"vm/hand = {vm.call / hand.call:.2f}",
                    )
                )
            if asd is not None:
                lines.append(
                    (
                        case,
                        "prep: vm faster than asdex",
                        vm.prep < asd.prep,
                        f"vm/asdex = {vm.prep / asd.prep:.2f}",
                    )
                )
            if sx is not None:
                lines.append(
                    (
                        case,
                        "prep: vm faster than CasADi SX",
                        vm.prep < sx.prep,
                        f"vm/SX = {vm.prep / sx.prep:.2f}",
                    )
                )
            if tape is not None and asd is not None:
                lines.append(
                    (
                        case,
                        "call: tape within 5x of asdex",
                        tape.call <= 5 * asd.call,
                        f"tape/asdex = {tape.call / asd.call:.2f}",
                    )
                )
    for pname, label, n, results in sweep_rows:
        tape, dense = (
            get(results, "symasd tape"),
            next((r for r in results if r.tool.startswith("JAX")), None),
        )
        if tape is not None and dense is not None and n >= 1000:
            lines.append(
                (
                    f"{pname} {label} (n={n})",
                    "call: tape faster than JAX dense",
                    tape.call < dense.call,
                    f"tape/dense = {tape.call / dense.call:.2f}",
                )
            )
    if not lines:
        return
    print("\n### Targets of issue 4\n")
    print("| case | target | result | measured |")
    print("|---|---|---|---|")
    for case, what, ok, measured in lines:
        print(f"| {case} | {what} | {'PASS' if ok else 'MISS'} | {measured} |")
    npass = sum(1 for line in lines if line[2])
    print(f"\n{npass} of {len(lines)} target checks pass.")


def header(args) -> None:
    print("# symasd vs JAX, asdex, CasADi and hand-written NumPy: prepared sparse derivatives\n")
    print(f"- command: `{' '.join(['python benchmarks/compare.py', *sys.argv[1:]])}`")
    print(
        f"- nproc: {os.cpu_count()}; load average at start (1/5/15 min): "
        + load_average()
    )
    print(f"- CPU: {cpu_model()}")
    vers = [
        f"Python {platform.python_version()}",
        f"NumPy {np.__version__}",
        f"SciPy {scipy.__version__}",
    ]
    if JAX is not None:
        vers.append(f"JAX {JAX.__version__}")
    if ASDEX is not None:
        try:
            from importlib.metadata import version

            vers.append(f"asdex {version('asdex')}")
        except Exception:  # noqa: BLE001
            vers.append("asdex")
    if CA is not None:
        vers.append(f"CasADi {CA.__version__}")
    print("- versions: " + ", ".join(vers))
    print(
        f"- per call: median of repeated calls (>= {MIN_REPS}, about {CALL_BUDGET} s each) after a "
        f"warm-up call, the tools of a case interleaved in batches of about {ROUND * 1e3:.0f} ms; "
        "preparation: one cold run"
    )
    print("- ratios: symasd time / this tool's time (below 1: symasd faster)")


def main(argv=None) -> int:
    global CALL_BUDGET, _PRINT_NOTES
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    ap.add_argument(
        "--only",
        action="append",
        choices=[*PROBLEMS, "dense"],
        help="run only this problem (may be repeated)",
    )
    ap.add_argument(
        "--tools",
        default="vm,numpy,tape,hand,jax,asdex,sx,mx",
        help="comma-separated subset of vm,numpy,tape,hand,jax,asdex,sx,mx",
    )
    ap.add_argument(
        "--budget",
        type=float,
        default=CALL_BUDGET,
        help="seconds of repeated calls per per-call measurement",
    )
    args = ap.parse_args(argv)
    CALL_BUDGET = args.budget
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    header(args)
    for msg in list(NOTES):
        print(f"- note: {msg}")
    _PRINT_NOTES = True
    print(flush=True)
    selected = args.only or [*PROBLEMS, "dense"]
    t_start = time.perf_counter()
    all_rows = {}
    for pname in PROBLEMS:
        if pname not in selected:
            continue
        prob = PROBLEMS[pname]
        rows = []
        for label, n in prob.quick_sizes if args.quick else prob.sizes:
            rows.append((label, n, run_case(prob, label, n, tools)))
        all_rows[pname] = rows
        print_table(prob, rows)
    sweep_rows = []
    if "dense" in selected and JAX is not None:
        sweep_tools = [t for t in ("tape", "jax") if t in tools]
        print("\n### Tape engine vs dense JAX (n = 1000 ... 4000; errors against symasd tape)\n")
        print(
            "| problem | size | n | tool | preparation | per call | colors | max abs error "
            "| tape/this call |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for pname, label, n in DENSE_SWEEP_QUICK if args.quick else DENSE_SWEEP:
            prob = PROBLEMS[pname]
            # errors here are against the tape result (no vm run in the sweep)
            results = run_case(prob, label, n, sweep_tools, ref_tool="symasd tape")
            tape = next((r for r in results if r.tool == "symasd tape"), None)
            sweep_rows.append((pname, label, n, results))
            for r in results:
                print(
                    f"| {pname} | {label} | {n} | {r.tool} | {fmt_time(r.prep)} | "
                    f"{fmt_time(r.call)} | "
                    f"{r.colors} | {fmt_err(r.err)} | "
                    f"{'-' if r is tape or tape is None else fmt_ratio(tape.call, r.call)} |",
                    flush=True,
                )
    targets(all_rows, sweep_rows)
    print(
        f"\ntotal time: {time.perf_counter() - t_start:.0f} s; load average at end: "
        + load_average()
    )
    if NOTES:
        print("\nnotes:")
        for msg in NOTES:
            print(f"- {msg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
