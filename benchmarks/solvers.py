#!/usr/bin/env python
"""Benchmark: symasd.solvers against the tools a SciPy user would otherwise use.

Run from the repository root (after ``python setup.py build_ext --inplace``
or ``pip install .``; IPOPT from ``pip install "symasd[ipopt]"``, CasADi from
``pip install casadi``)::

    python benchmarks/solvers.py            # full run, about 3 minutes on 2 cores
    python benchmarks/solvers.py --quick    # small sizes, about 20 s
    python benchmarks/solvers.py --only ipopt   # one part: ipopt, reuse, ivp or newton

Four comparisons, each side by side in one process, the tools of a case run
round-robin (``--repeats`` rounds, medians reported) so that a shared
machine's slow and fast moments fall on all of them alike:

* **IPOPT on the Luksan-Vlcek problem** (chained Rosenbrock objective with
  ``n - 2`` trigonometric-exponential equality constraints, ``x0 = -1.2, 1,
  -1.2, ...``; optimum 6.2324586324), n = 10^3, 10^4, 10^5. Total time from
  the NumPy functions to the solution:
  ``symasd``: ``solvers.minimize(f, x0, method="ipopt", constraints=...)``
  (prepare + solve; the default engine of a one-off solve, the tape), and the
  same with ``engine="vm"`` (the compiled derivatives, compiled at
  preparation); ``CasADi``: the model in CasADi SX symbols, ``nlpsol("ipopt")``
  (build + setup + solve); ``hand``: cyipopt with hand-written NumPy
  derivatives (gradient, Jacobian and Lagrangian Hessian written out, checked
  here against symasd's). Same IPOPT options everywhere (``tol = 1e-8``,
  MUMPS), iterations and optimum reported.
* **A prepared problem solved again**: ``MinimizeProblem`` on the
  Luksan-Vlcek problem (n = 10^3, 10^4 with 30 solves, 10^5 with 3), prepared
  once and solved with IPOPT from starting points moved by up to 1%:
  preparation plus the first k solves with the problem object's default
  engine (``auto``: tape first, compiled once its calls pay) against the tape
  and the compiled engine, and which engine each derivative is on after them.
* **solve_ivp BDF on the 2D Brusselator** (``benchmarks/problems.py``,
  periodic, N = 32 and 64, t in [0, 10], rtol 1e-6, atol 1e-8):
  ``symasd``: ``solvers.solve_ivp`` (prepare + integrate) against SciPy's
  finite differences with ``jac_sparsity`` (the hand-written stencil
  pattern). Wall time, RHS evaluations (counted by a wrapper: SciPy's
  ``nfev`` leaves out those of its finite differences; symasd's are
  evaluations of the traced graph, the Python function runs once, traced),
  Jacobian evaluations, difference of the final states.
* **Newton on the 2D Bratu problem** (256 x 256 interior points, lambda = 6,
  from u = 0, converged when max |F| <= 1e-10 * max |F(0)| is reached):
  ``symasd``: ``solvers.root`` (prepare + solve); ``hand``: the same Newton
  iteration (:func:`symasd.solvers.newton.newton`, same sparse LU) with a
  hand-written Jacobian ``-L - lam diag(exp(u))``; ``krylov``:
  ``scipy.optimize.root(method="krylov")`` (Newton-Krylov, matrix-free).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse as sp
from scipy.optimize import NonlinearConstraint

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # run from a checkout without installing

from machine import cpu_model, load_average  # noqa: E402
from problems import brusselator_rhs  # noqa: E402

import symasd  # noqa: E402
from symasd import solvers  # noqa: E402
from symasd.solvers.linalg import SparseLU  # noqa: E402
from symasd.solvers.newton import newton, options_with  # noqa: E402

try:
    import cyipopt
except ImportError:
    cyipopt = None
try:
    import casadi as ca
except ImportError:
    ca = None

IPOPT_OPTIONS = {"tol": 1e-8, "print_level": 0, "sb": "yes", "linear_solver": "mumps"}
LV_OPT = 6.2324586324


def fmt(t: float) -> str:
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}"


def median(xs):
    return statistics.median(xs)


# ---------------------------------------------------------------------------
# Luksan-Vlcek

def lv_f(x):
    return np.sum(100.0 * (x[:-1] ** 2 - x[1:]) ** 2 + (x[:-1] - 1.0) ** 2)


def lv_c(x):
    a, b, d = x[:-2], x[1:-1], x[2:]
    return (3.0 * b ** 3 + 2.0 * d - 5.0 + np.sin(b - d) * np.sin(b + d) + 4.0 * b
            - a * np.exp(a - b) - 3.0)


def lv_x0(n):
    return np.where(np.arange(n) % 2 == 0, -1.2, 1.0)


class HandLV:
    """cyipopt callbacks with the derivatives of the Luksan-Vlcek problem written
    by hand in NumPy (sin(b - d) sin(b + d) = sin^2 b - sin^2 d: no (b, d) term)."""

    def __init__(self, n):
        self.n = n
        k = np.arange(n - 2)
        self.jrows = np.repeat(k, 3)
        self.jcols = (k[:, None] + np.arange(3)).ravel()
        i = np.arange(n)
        self.hrows = np.concatenate([i, i[1:]])          # diagonal, then subdiagonal
        self.hcols = np.concatenate([i, i[:-1]])
        self.nit = 0

    def objective(self, x):
        return float(lv_f(x))

    def gradient(self, x):
        r = x[:-1] ** 2 - x[1:]
        g = np.zeros(self.n)
        g[:-1] = 400.0 * x[:-1] * r + 2.0 * (x[:-1] - 1.0)
        g[1:] -= 200.0 * r
        return g

    def constraints(self, x):
        return lv_c(x)

    def jacobianstructure(self):
        return self.jrows, self.jcols

    def jacobian(self, x):
        a, b, d = x[:-2], x[1:-1], x[2:]
        e = np.exp(a - b)
        return np.stack([-(1.0 + a) * e, 9.0 * b ** 2 + np.sin(2.0 * b) + 4.0 + a * e,
                         2.0 - np.sin(2.0 * d)], axis=1).ravel()

    def hessianstructure(self):
        return self.hrows, self.hcols

    def hessian(self, x, lam, sigma):
        n = self.n
        diag = np.zeros(n)
        sub = np.zeros(n - 1)
        diag[:-1] += sigma * (1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0)
        diag[1:] += sigma * 200.0
        sub += sigma * (-400.0 * x[:-1])
        a, b, d = x[:-2], x[1:-1], x[2:]
        e = np.exp(a - b)
        diag[:-2] += lam * (-(2.0 + a) * e)
        diag[1:-1] += lam * (18.0 * b + 2.0 * np.cos(2.0 * b) - a * e)
        diag[2:] += lam * (-2.0 * np.cos(2.0 * d))
        sub[:-1] += lam * ((1.0 + a) * e)
        return np.concatenate([diag, sub])

    def intermediate(self, alg_mod, iter_count, *rest):
        self.nit = int(iter_count)
        return True


class TimedHandLV(HandLV):
    """HandLV adding the seconds of its evaluation callbacks to ``eval_time``."""

    def __init__(self, n):
        super().__init__(n)
        self.eval_time = 0.0
        for name in ("objective", "gradient", "constraints", "jacobian", "hessian"):
            setattr(self, name, self._timed(getattr(super(), name)))

    def _timed(self, method):
        def timed(*args):
            t0 = time.perf_counter()
            try:
                return method(*args)
            finally:
                self.eval_time += time.perf_counter() - t0
        return timed


def check_hand_lv(n=50):
    """The hand-written derivatives against symasd's, at a random point."""
    rng = np.random.default_rng(0)
    x, lam, sigma = rng.uniform(-1, 1, n), rng.standard_normal(n - 2), 0.7
    hand = HandLV(n)
    g = symasd.jacobian(lv_f, x, mode="reverse")(x).toarray().ravel()
    J = symasd.jacobian(lv_c, x)(x)
    H = symasd.hessian(lambda y, s, m: s[0] * lv_f(y) + np.sum(m * lv_c(y)), x, np.ones(1),
                       np.ones(n - 2))(x, np.array([sigma]), lam)
    Jh = sp.csr_array((hand.jacobian(x), hand.jacobianstructure()), shape=(n - 2, n))
    Hh = sp.csr_array((hand.hessian(x, lam, sigma), hand.hessianstructure()), shape=(n, n))
    errs = (np.abs(g - hand.gradient(x)).max(), abs(J - Jh).max(),
            abs(sp.tril(H) - Hh).max())
    assert max(errs) < 1e-9, errs
    return max(errs)


def run_symasd_lv(n, engine):
    t0 = time.perf_counter()
    r = solvers.minimize(lv_f, lv_x0(n), method="ipopt", engine=engine, options=IPOPT_OPTIONS,
                         constraints=NonlinearConstraint(lv_c, 0.0, 0.0))
    total = time.perf_counter() - t0
    return dict(total=total, prep=r.prepare_time, solve=r.solve_time, evals=r.eval_time,
                nit=r.nit, f=r.fun, ok=r.success)


def run_hand_lv(n):
    t0 = time.perf_counter()
    cb = TimedHandLV(n)
    problem = cyipopt.Problem(n=n, m=n - 2, problem_obj=cb, lb=np.full(n, -np.inf),
                              ub=np.full(n, np.inf), cl=np.zeros(n - 2), cu=np.zeros(n - 2))
    for k, v in IPOPT_OPTIONS.items():
        problem.add_option(k, v)
    x, info = problem.solve(lv_x0(n))
    # IPOPT's memory is freed inside the timing, as symasd's solve frees it
    problem.close()
    total = time.perf_counter() - t0
    return dict(total=total, prep=0.0, solve=total, evals=cb.eval_time, nit=cb.nit,
                f=float(info["obj_val"]), ok=info["status"] in (0, 1))


def run_casadi_lv(n):
    t0 = time.perf_counter()
    x = ca.SX.sym("x", n)
    a, b, d = x[: n - 2], x[1: n - 1], x[2:]
    f = ca.sum1(100.0 * (x[: n - 1] ** 2 - x[1:]) ** 2 + (x[: n - 1] - 1.0) ** 2)
    g = (3.0 * b ** 3 + 2.0 * d - 5.0 + ca.sin(b - d) * ca.sin(b + d) + 4.0 * b
         - a * ca.exp(a - b) - 3.0)
    t1 = time.perf_counter()
    opts = {f"ipopt.{k}": v for k, v in IPOPT_OPTIONS.items()}
    opts["print_time"] = False
    solver = ca.nlpsol("lv", "ipopt", {"x": x, "f": f, "g": g}, opts)
    t2 = time.perf_counter()
    sol = solver(x0=lv_x0(n), lbg=0.0, ubg=0.0)
    t3 = time.perf_counter()
    stats = solver.stats()
    evals = sum(stats[f"t_wall_nlp_{k}"] for k in ("f", "g", "grad_f", "jac_g", "hess_l"))
    return dict(total=t3 - t0, prep=t2 - t0, build=t1 - t0, setup=t2 - t1, solve=t3 - t2,
                evals=float(evals), nit=int(stats["iter_count"]), f=float(sol["f"]),
                ok=bool(stats["success"]))


def bench_ipopt(sizes, repeats):
    print("\n## IPOPT on the Luksan-Vlcek problem\n")
    if cyipopt is None:
        print('- skipped: cyipopt is not installed (pip install "symasd[ipopt]")')
        return []
    print(f"- hand-written derivatives agree with symasd's to {check_hand_lv():.1e} (n = 50)")
    print(f"- IPOPT {'.'.join(map(str, cyipopt.IPOPT_VERSION))} (cyipopt "
          f"{cyipopt.__version__}); CasADi {ca.__version__ if ca else '(not installed)'} with "
          "its own bundled IPOPT; options " + ", ".join(f"{k}={v}" for k, v in
                                                        IPOPT_OPTIONS.items()))
    print("- total = from the NumPy functions (or CasADi symbols) to the solution; symasd's "
          "preparation = trace + patterns + colorings (+ compile for vm); CasADi's = build "
          "+ nlpsol setup; evaluations = the time in the function and derivative callbacks "
          "(CasADi: its t_wall_nlp_* statistics); IPOPT = solve - evaluations, IPOPT's own "
          "work (CasADi bundles its own IPOPT build, faster than the wheel's)\n")
    print("| n | tool | total | preparation | evaluations | IPOPT | iterations | f* "
          "| total / symasd |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for n in sizes:
        tools = {"symasd": lambda n=n: run_symasd_lv(n, "auto"),
                 "symasd (engine=vm)": lambda n=n: run_symasd_lv(n, "vm"),
                 "hand (NumPy + cyipopt)": lambda n=n: run_hand_lv(n)}
        if ca is not None:
            tools["CasADi nlpsol"] = lambda n=n: run_casadi_lv(n)
        runs = {name: [] for name in tools}
        for k in range(repeats):
            for name, run in tools.items():
                if name == "CasADi nlpsol" and n > 10_000 and k > 0:
                    continue      # 20-25 s each at n = 10^5: one run
                runs[name].append(run())
        med = {name: {k: median([r[k] for r in rs]) if isinstance(rs[0][k], float) else rs[0][k]
                      for k in rs[0]} for name, rs in runs.items()}
        base = med["symasd"]["total"]
        for name, m in med.items():
            print(f"| {n} | {name} | {fmt(m['total'])} | {fmt(m['prep'])} | {fmt(m['evals'])} "
                  f"| {fmt(m['solve'] - m['evals'])} | {m['nit']} | "
                  f"{m['f']:.10f}{'' if m['ok'] else ' (failed)'} | "
                  f"{ratio(m['total'], base)} |", flush=True)
        rows.append((n, med))
    print("\nTargets: symasd total <= 0.5 x CasADi's total; within 1.3 x the hand-written "
          "derivatives. IPOPT's own work varies by tens of percent between runs on a shared "
          "machine, so the derivative cost (preparation + evaluations) is compared too")
    for n, med in rows:
        s = med["symasd"]
        parts = [f"n = {n}"]
        if "CasADi nlpsol" in med:
            c = med["CasADi nlpsol"]
            parts.append(f"symasd / CasADi total {ratio(s['total'], c['total'])} "
                         f"({'met' if s['total'] <= 0.5 * c['total'] else 'NOT met'})")
        h = med["hand (NumPy + cyipopt)"]
        ours = s["prep"] + s["evals"]
        parts.append(f"symasd / hand total {ratio(s['total'], h['total'])} "
                     f"({'met' if s['total'] <= 1.3 * h['total'] else 'NOT met'}); "
                     "with the hand run's IPOPT time (removing IPOPT's run-to-run noise) "
                     f"{ratio(h['solve'] - h['evals'] + ours, h['total'])}; symasd's "
                     f"preparation + evaluations {fmt(ours)}, the hand-written evaluations "
                     f"{fmt(h['evals'])}")
        same = all(m["nit"] == s["nit"] and abs(m["f"] - LV_OPT) < 1e-8 for m in med.values())
        parts.append("same iterations and optimum" if same else "iterations or optima differ")
        print("- " + "; ".join(parts))
    return rows


# ---------------------------------------------------------------------------
# A prepared problem solved again (parameter sweeps, model-predictive control)

REUSE_CHECKPOINTS = (1, 3, 10, 30)


def run_reuse_lv(n, engine, solves):
    """Prepare the Luksan-Vlcek problem once with ``engine``, then solve it
    ``solves`` times from starting points moved by up to 1%: the cumulative time
    after each solve and which engine each derivative runs on after it."""
    t0 = time.perf_counter()
    problem = solvers.MinimizeProblem(lv_f, lv_x0(n),
                                      constraints=NonlinearConstraint(lv_c, 0.0, 0.0),
                                      engine=engine)
    problem.nlp.prepare_hessian()
    prep = time.perf_counter() - t0
    nlp = problem.nlp
    cumulative, engines, iterations = [], [], []
    for k in range(solves):
        x0 = lv_x0(n) * (1.0 + 0.01 * k / max(solves - 1, 1))
        r = problem.solve(x0=x0, method="ipopt", options=IPOPT_OPTIONS)
        assert r.success and abs(r.fun - LV_OPT) < 1e-6, (engine, n, k, r.fun)
        cumulative.append(time.perf_counter() - t0)
        engines.append("/".join(d.engine for d in (nlp.objective, nlp.constraint_jacobian,
                                                    nlp.lagrangian_hessian)))
        iterations.append(r.nit)
    return prep, cumulative, engines, iterations


def bench_reuse(sizes, repeats):
    print("\n## A prepared problem solved again: `MinimizeProblem` with IPOPT\n")
    if cyipopt is None:
        print('- skipped: cyipopt is not installed (pip install "symasd[ipopt]")')
        return
    print("- the Luksan-Vlcek problem prepared once (`MinimizeProblem`, the Lagrangian's "
          "Hessian included), then solved again and again from starting points moved by up "
          "to 1%: preparation plus the first k solves, for the default engine of a "
          "problem object (`auto`: tape first, each derivative compiled at the call after "
          "which its tape calls have cost the estimated compile) and the two fixed "
          "engines; `auto / best` is over the better fixed engine at that k; the last "
          "column lists the engines of the gradient / constraint Jacobian / Hessian after "
          "each checkpoint\n")
    for n, solves in sizes:
        marks = [k for k in REUSE_CHECKPOINTS if k <= solves]
        print(f"### n = {n}\n")
        print("| engine | preparation | " + " | ".join(f"{k} solves" for k in marks)
              + " | engines after " + ", ".join(map(str, marks)) + " |")
        print("|---|---|" + "---|" * len(marks) + "---|")
        runs = {e: [] for e in ("auto", "tape", "vm")}
        for _ in range(repeats):
            for engine in runs:
                runs[engine].append(run_reuse_lv(n, engine, solves))
        med = {}
        for engine, rs in runs.items():
            prep = median([r[0] for r in rs])
            cum = [median([r[1][k - 1] for r in rs]) for k in marks]
            med[engine] = cum
            after = ", ".join(rs[0][2][k - 1] for k in marks)
            print(f"| {engine} | {fmt(prep)} | " + " | ".join(fmt(c) for c in cum)
                  + f" | {after} |")
        best = [min(med["tape"][i], med["vm"][i]) for i in range(len(marks))]
        ratios = (ratio(a, b) for a, b in zip(med["auto"], best, strict=True))
        print("| auto / best | | " + " | ".join(ratios) + " | |\n")
        its = {tuple(r[3]) for rs in runs.values() for r in rs}
        same = "the same for every engine" if len(its) == 1 else "differ between engines"
        counts = sorted({i for it in its for i in it})
        print(f"- IPOPT iterations per solve: {same} ({', '.join(map(str, counts))})\n")


# ---------------------------------------------------------------------------
# Brusselator with BDF

def brusselator_y0(N):
    xs = np.linspace(0.0, 1.0, N)
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    return np.concatenate([(22.0 * (Y * (1 - Y)) ** 1.5).ravel(),
                           (27.0 * (X * (1 - X)) ** 1.5).ravel()])


def brusselator_pattern(N):
    """The stencil pattern a SciPy user writes by hand for jac_sparsity."""
    idx = np.arange(N * N).reshape(N, N)
    rows = np.repeat(idx.ravel(), 5)
    cols = np.stack([idx, np.roll(idx, 1, 0), np.roll(idx, -1, 0), np.roll(idx, 1, 1),
                     np.roll(idx, -1, 1)], axis=-1).ravel()
    stencil = sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(N * N, N * N))
    P = sp.kron(np.ones((2, 2)), sp.identity(N * N)) + sp.kron(sp.identity(2), stencil)
    return sp.csr_array(P != 0)


def bench_ivp(sizes, repeats, t_end=10.0):
    print("\n## solve_ivp BDF on the 2D Brusselator\n")
    print(f"- t in [0, {t_end}], rtol = 1e-6, atol = 1e-8; SciPy: finite differences with "
          "jac_sparsity = the hand-written stencil pattern (equal to symasd's)\n")
    print("| N | n | tool | wall time | RHS evaluations | Jacobians | LU | max diff of y(t_end) "
          "| time / SciPy FD |")
    print("|---|---|---|---|---|---|---|---|---|")
    from scipy.integrate import solve_ivp

    calls = [0]

    def fun(t, y):
        calls[0] += 1 if y.ndim == 1 else y.shape[1]
        return brusselator_rhs(y)

    rows = []
    for N in sizes:
        y0 = brusselator_y0(N)
        P = brusselator_pattern(N)
        assert (P != symasd.jacobian_sparsity(brusselator_rhs, y0)).nnz == 0
        kw = dict(method="BDF", rtol=1e-6, atol=1e-8)
        runs = {"symasd": [], "symasd (engine=vm)": [], "SciPy FD + jac_sparsity": []}
        for _ in range(repeats):
            for name in runs:
                calls[0] = 0
                t0 = time.perf_counter()
                if name == "SciPy FD + jac_sparsity":
                    sol = solve_ivp(fun, (0.0, t_end), y0, jac_sparsity=P, **kw)
                    sol.rhs_evaluations = calls[0]
                else:
                    engine = "vm" if "vm" in name else "auto"
                    sol = solvers.solve_ivp(fun, (0.0, t_end), y0, engine=engine, **kw)
                    assert calls[0] == 1                      # the trace
                    sol.rhs_evaluations = sol.nfev
                runs[name].append((time.perf_counter() - t0, sol))
        ref = runs["SciPy FD + jac_sparsity"][0][1]
        t_fd = median([t for t, _ in runs["SciPy FD + jac_sparsity"]])
        out = {}
        for name, rs in runs.items():
            t, sol = median([t for t, _ in rs]), rs[0][1]
            diff = np.abs(sol.y[:, -1] - ref.y[:, -1]).max()
            out[name] = (t, sol, diff)
            print(f"| {N} | {2 * N * N} | {name} | {fmt(t)} | {sol.rhs_evaluations} | {sol.njev} | "
                  f"{sol.nlu} | {diff:.1e} | {ratio(t, t_fd)} |", flush=True)
        out["work"] = derivative_work(N, y0, P, out)
        rows.append((N, out))
    print("\nWhere the time goes: SuperLU (the factorizations of I - c J and the solves with "
          "them) is the same work for every tool and most of the wall time; the part that "
          "differs is the right-hand side and the Jacobian. Their cost per call (median of "
          "repeated calls at the final state) times the counts of one integration:\n")
    print("| N | tool | preparation | RHS per call | Jacobian per call | preparation + RHS + "
          "Jacobians of the integration | of its wall time |")
    print("|---|---|---|---|---|---|---|")
    for N, out in rows:
        for name, (prep, t_rhs, t_jac, total, share) in out["work"].items():
            print(f"| {N} | {name} | {fmt(prep)} | {t_rhs * 1e6:.0f} us | {t_jac * 1e6:.0f} us "
                  f"| {fmt(total)} | {100 * share:.1f}% |")
    print("\nTargets: fewer RHS evaluations and less wall time than SciPy's finite "
          "differences, the same solution to the tolerance")
    for N, out in rows:
        s, f = out["symasd"], out["SciPy FD + jac_sparsity"]
        scale = np.abs(f[1].y[:, -1]).max()
        ns, nf = s[1].rhs_evaluations, f[1].rhs_evaluations
        print(f"- N = {N}: RHS evaluations {ns} vs {nf} ({'met' if ns < nf else 'NOT met'}; "
              f"SciPy's nfev: {f[1].nfev}); wall time "
              f"{ratio(s[0], f[0])} x ({'met' if s[0] < f[0] else 'NOT met'}); final states "
              f"differ by {s[2]:.1e} (max |y| = {scale:.1f}, rtol 1e-6)")
    return rows


def _per_call(f, budget=0.2):
    f()
    reps, t0 = 0, time.perf_counter()
    times = []
    while time.perf_counter() - t0 < budget or reps < 5:
        a = time.perf_counter()
        f()
        times.append(time.perf_counter() - a)
        reps += 1
    return median(times)


def derivative_work(N, y0, P, out):
    """Per-call cost of the RHS and the Jacobian for each tool, and their total over
    the counts of the integration in ``out``."""
    # SciPy's own finite differences, as BDF calls them (private helpers of SciPy 1.17)
    from scipy.integrate._ivp.common import num_jac
    from scipy.optimize._numdiff import group_columns

    yf = out["SciPy FD + jac_sparsity"][1].y[:, -1].copy()
    t1 = np.zeros(1)
    work = {}
    for name, engine in (("symasd", "tape"), ("symasd (engine=vm)", "vm")):
        jac = solvers.IVPProblem(lambda t, y: brusselator_rhs(y), y0, engine=engine).jacobian
        t_rhs = _per_call(lambda jac=jac: jac.graph(yf, t1))
        t_jac = _per_call(lambda jac=jac: jac(yf, t1))
        work[name] = (t_rhs, t_jac)
    Pc = sp.csc_matrix(P)
    groups = group_columns(Pc)

    def vectorized(t, Y):
        return np.stack([brusselator_rhs(Y[:, i]) for i in range(Y.shape[1])], axis=1)

    f = brusselator_rhs(yf)
    t_rhs = _per_call(lambda: brusselator_rhs(yf))
    t_jac = _per_call(lambda: num_jac(vectorized, 0.0, yf, f, 1e-8, None, (Pc, groups)))
    work["SciPy FD + jac_sparsity"] = (t_rhs, t_jac)
    result = {}
    for name, (t_rhs, t_jac) in work.items():
        wall, sol = out[name][0], out[name][1]
        # sol.nfev: the integrator's evaluations; the finite differences' own are in t_jac
        prep = getattr(sol, "prepare_time", 0.0)
        total = prep + sol.nfev * t_rhs + sol.njev * t_jac
        result[name] = (prep, t_rhs, t_jac, total, total / wall)
    return result


# ---------------------------------------------------------------------------
# Bratu with Newton

def bench_newton(N, repeats, lam=6.0):
    print(f"\n## Newton on the 2D Bratu problem, {N} x {N}\n")
    h = 1.0 / (N + 1)

    def residual(u, lam):
        U = np.pad(u.reshape(N, N), 1)
        lap = (U[:-2, 1:-1] + U[2:, 1:-1] + U[1:-1, :-2] + U[1:-1, 2:]
               - 4.0 * U[1:-1, 1:-1]) / h ** 2
        return (-lap - lam[0] * np.exp(U[1:-1, 1:-1])).ravel()

    p = np.array([lam])
    u0 = np.zeros(N * N)
    fatol = 1e-10 * np.abs(residual(u0, p)).max()
    T = sp.diags_array([1.0, -2.0, 1.0], offsets=[-1, 0, 1], shape=(N, N)) / h ** 2
    L = sp.csr_array(sp.kron(sp.identity(N), T) + sp.kron(T, sp.identity(N)))
    L.sort_indices()

    def hand():
        # the hand-written Jacobian -L - lam diag(exp(u)): L's structure holds the diagonal
        diag = np.flatnonzero(np.repeat(np.arange(N * N), np.diff(L.indptr)) == L.indices)

        def jac(u):
            data = -L.data.copy()
            data[diag] -= lam * np.exp(u)
            return sp.csr_array((data, L.indices, L.indptr), shape=L.shape)

        lu = SparseLU(L.indptr, L.indices, L.shape)
        return newton(lambda u: residual(u, p), jac, u0, lu, options_with({"fatol": fatol}, None))

    def krylov():
        from scipy.optimize import root
        return root(residual, u0, args=(p,), method="krylov", options={"fatol": fatol})

    tools = {"symasd": lambda: solvers.root(residual, u0, args=(p,), tol=fatol),
             "symasd (engine=vm)": lambda: solvers.root(residual, u0, args=(p,), tol=fatol,
                                                        engine="vm"),
             "hand (same Newton)": hand,
             "SciPy root krylov": krylov}
    runs = {name: [] for name in tools}
    for k in range(repeats):
        for name, run in tools.items():
            if name == "SciPy root krylov" and k > 0:
                continue        # about 20 times slower than the others: one run
            t0 = time.perf_counter()
            r = run()
            runs[name].append((time.perf_counter() - t0, r))
    print(f"- lambda = {lam}, {N * N} unknowns, from u = 0, converged at max |F| <= "
          f"{fatol:.2e} (1e-10 x max |F(0)|)\n")
    print("| tool | total | preparation | iterations | max F | max u | total / symasd |")
    print("|---|---|---|---|---|---|---|")
    base = median([t for t, _ in runs["symasd"]])
    ref = runs["hand (same Newton)"][0][1].x
    out = {}
    for name, rs in runs.items():
        t, r = median([t for t, _ in rs]), rs[0][1]
        res = np.abs(residual(r.x, p)).max()
        prep = getattr(r, "prepare_time", 0.0)
        nit = r.nit if "nit" in r else "?"
        print(f"| {name} | {fmt(t)} | {fmt(prep)} | {nit} | {res:.1e} | {r.x.max():.6f} | "
              f"{ratio(t, base)} |", flush=True)
        out[name] = (t, r)
    s, hnd, k = out["symasd"], out["hand (same Newton)"], out["SciPy root krylov"]
    print("\nTargets: total within 1.5 x the hand-written Jacobian's; faster than "
          "scipy.optimize.root(method='krylov')")
    print(f"- symasd / hand {ratio(s[0], hnd[0])} ({'met' if s[0] <= 1.5 * hnd[0] else 'NOT met'})"
          f"; symasd / krylov {ratio(s[0], k[0])} ({'met' if s[0] < k[0] else 'NOT met'}); "
          f"solutions differ by {np.abs(s[1].x - ref).max():.1e} (symasd) and "
          f"{np.abs(k[1].x - ref).max():.1e} (krylov)")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    ap.add_argument("--only", action="append", choices=["ipopt", "reuse", "ivp", "newton"])
    ap.add_argument("--repeats", type=int, default=3, help="rounds per case (medians)")
    args = ap.parse_args(argv)
    parts = args.only or ["ipopt", "reuse", "ivp", "newton"]
    print("# symasd.solvers vs CasADi, hand-written derivatives and SciPy's finite differences\n")
    print(f"- command: `{' '.join(['python benchmarks/solvers.py', *sys.argv[1:]])}`")
    print(f"- nproc: {os.cpu_count()}; load average at start (1/5/15 min): {load_average()}")
    print(f"- CPU: {cpu_model()}")
    print(f"- versions: Python {platform.python_version()}, NumPy {np.__version__}, SciPy "
          f"{scipy.__version__}, symasd {symasd.__version__}")
    print(f"- medians of {args.repeats} rounds, tools interleaved (CasADi at n = 10^5 and "
          "SciPy's krylov: one run each)")
    t0 = time.perf_counter()
    if "ipopt" in parts:
        bench_ipopt([1000] if args.quick else [1000, 10_000, 100_000], args.repeats)
    if "reuse" in parts:
        bench_reuse([(1000, 3)] if args.quick else [(1000, 30), (10_000, 30), (100_000, 3)],
                    args.repeats)
    if "ivp" in parts:
        bench_ivp([16] if args.quick else [32, 64], args.repeats, t_end=2.0 if args.quick
                  else 10.0)
    if "newton" in parts:
        bench_newton(64 if args.quick else 256, args.repeats)
    print(f"\ntotal time: {time.perf_counter() - t0:.0f} s; load average at end: "
          f"{load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
