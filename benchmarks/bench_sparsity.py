#!/usr/bin/env python
"""Benchmark: trace + exact Jacobian / Hessian sparsity detection.

Run from the repository root (after ``python setup.py build_ext --inplace``
or ``pip install .``)::

    python benchmarks/bench_sparsity.py            # full run (a few minutes)
    python benchmarks/bench_sparsity.py --quick    # small sizes only, seconds

Every timing is the **median** of repeated calls of the public functions
``symasd.jacobian_sparsity(f, x0)`` / ``symasd.hessian_sparsity(f, x0)``
in this process (so trace + graph building + pattern detection + building the
``csr_array``), after one untimed warm-up call. Where ``jax`` and ``asdex``
are importable, ``asdex.jacobian_sparsity`` / ``asdex.hessian_sparsity`` are
timed the same way on the same functions (``xp=jax.numpy``) and their
patterns are compared with symasd's. Small cases are also checked against a
dense numerical Jacobian (complex step) or Hessian (complex step over central
differences): the symasd pattern must equal the set of numerically nonzero
entries at a random point.

Peak memory of the ``n = 10^6`` cases is measured in a fresh subprocess per
case, as the process's peak resident set size (``ru_maxrss``), which sees
every allocation (NumPy, Cython ``malloc``, the interpreter); the increase
over the baseline after imports is reported too.

The problems are in ``benchmarks/problems.py``; the targets are those of
issue 2 (for the 2-core reference machine).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Prefer the working tree (in-place build) over an installed copy.
sys.path[:0] = [str(ROOT), str(HERE)]
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import problems  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from machine import cpu_model, load_average  # noqa: E402

import symasd  # noqa: E402

GB = 1024 ** 3
MEMORY_TARGET = 2 * GB


# ---------------------------------------------------------------------------
# cases


@dataclass
class Case:
    key: str
    problem: str
    kind: str  # "jacobian" | "hessian"
    func: object  # NumPy function of x (keyword-only xp for JAX)
    n: int
    size: str
    target: float | None = None  # seconds
    check: bool = False  # dense numerical check of the pattern
    memory: bool = False  # peak-memory subprocess
    expected_nnz: int | None = None
    result: dict = field(default_factory=dict)


def make_cases(quick: bool) -> list[Case]:
    cases = []
    exps = (3, 4) if quick else (3, 4, 5, 6)
    for e in exps:
        n = 10 ** e
        cases.append(Case(f"iter_diff-1e{e}", "iter_diff (k=3)", "jacobian",
                          functools.partial(problems.iter_diff, k=3), n, f"n=10^{e}",
                          target=1.0 if e == 6 else None, check=e == 3, memory=e == 6,
                          expected_nnz=problems.expected_nnz("iter_diff", n)))
    targets = {32: 2e-3, 64: 15e-3, 128: 30e-3, 256: 0.12}
    for N in (32, 64) if quick else (32, 64, 128, 256):
        n = 2 * N * N
        cases.append(Case(f"brusselator-N{N}", "Brusselator 2D RHS", "jacobian",
                          problems.brusselator_rhs, n, f"N={N} (n={n})", target=targets[N],
                          check=N == 32, expected_nnz=problems.expected_nnz("brusselator", n)))
    for e in exps:
        n = 10 ** e
        cases.append(Case(f"rosenbrock-1e{e}", "chained Rosenbrock", "hessian",
                          problems.chained_rosenbrock, n, f"n=10^{e}",
                          target={5: 0.2, 6: 2.0}.get(e), check=e == 3, memory=e == 6,
                          expected_nnz=problems.expected_nnz("rosenbrock", n)))
    cases.append(Case("conv_tanh", "conv 5x5 + tanh", "jacobian", problems.conv_tanh, 784,
                      "576x784", check=True, expected_nnz=problems.expected_nnz("conv_tanh", 784)))
    return cases


def symasd_call(case: Case, x0: np.ndarray):
    if case.kind == "jacobian":
        return symasd.jacobian_sparsity(case.func, x0)
    return symasd.hessian_sparsity(case.func, x0)


def point(n: int) -> np.ndarray:
    return np.random.default_rng(0).uniform(0.5, 1.5, n)


# ---------------------------------------------------------------------------
# timing


def median_time(fn, min_runs: int, budget: float, max_runs: int = 200):
    """Median wall time of ``fn()`` after one untimed warm-up call.

    Runs at least ``min_runs`` times and keeps going while the total stays
    under ``budget`` seconds. Returns ``(median wall time, median CPU time of
    the calling thread, runs, warm-up result)``; the CPU time shows how much
    of the wall time other processes took on a shared machine.
    """
    result = fn()
    times: list[float] = []
    cpu: list[float] = []
    while len(times) < max_runs and (len(times) < min_runs or sum(times) < budget):
        c0 = time.thread_time()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return statistics.median(times), statistics.median(cpu), len(times), result


# ---------------------------------------------------------------------------
# dense numerical checks


def numeric_jacobian_pattern(f, x: np.ndarray) -> np.ndarray:
    """Nonzeros of the Jacobian at ``x`` by complex step (exact zeros stay zero)."""
    h = 1e-30
    cols = []
    xc = x.astype(complex)
    for j in range(x.size):
        xc[j] += 1j * h
        cols.append(np.imag(np.asarray(f(xc))).ravel() / h)
        xc[j] -= 1j * h
    return np.stack(cols, axis=1) != 0


def numeric_hessian_pattern(f, x: np.ndarray) -> np.ndarray:
    """Nonzeros of the Hessian at ``x``: complex step in ``x_i`` over a central
    difference in ``x_j``. Entries that no term couples are exactly zero."""
    h, d = 1e-30, 1e-4
    n = x.size
    H = np.zeros((n, n))
    xc = x.astype(complex)
    for i in range(n):
        xc[i] += 1j * h
        for j in range(n):
            xc[j] += d
            fp = np.imag(f(xc))
            xc[j] -= 2 * d
            fm = np.imag(f(xc))
            xc[j] += d
            H[i, j] = (fp - fm) / (2 * d * h)
        xc[i] -= 1j * h
    return H != 0


def dense_check(case: Case) -> str:
    """Compare the symasd pattern with the numerical one at a random point."""
    n = case.n if case.kind == "jacobian" else 100  # the Hessian check costs 2 n^2 calls
    x = point(n)
    P = symasd_call(case, x).toarray()
    if case.kind == "jacobian":
        N = numeric_jacobian_pattern(case.func, x)
    else:
        N = numeric_hessian_pattern(case.func, x)
    missing = int(np.sum(N & ~P))
    extra = int(np.sum(P & ~N))
    assert missing == 0 and extra == 0, (
        f"{case.key}: symasd pattern differs from the numerical one at n={n} "
        f"({missing} missing, {extra} never nonzero)")
    return "exact" if n == case.n else f"exact (n={n})"


# ---------------------------------------------------------------------------
# asdex


def load_asdex():
    try:
        import asdex
        import jax
        import jax.numpy as jnp
    except Exception as exc:  # ImportError, or a broken JAX install
        return None, f"{type(exc).__name__}: {exc}"
    return (asdex, jax, jnp), None


def asdex_call(mods, case: Case, x0: np.ndarray):
    asdex, _, jnp = mods
    f = functools.partial(case.func, xp=jnp)
    if case.kind == "jacobian":
        return asdex.jacobian_sparsity(f, x0)
    return asdex.hessian_sparsity(f, x0)


def same_pattern(P: sp.csr_array, rows, cols, shape) -> bool:
    if tuple(P.shape) != tuple(shape):
        return False
    Q = sp.csr_array((np.ones(len(rows), dtype=bool),
                      (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
                     shape=shape)
    Q.sum_duplicates()
    return P.nnz == Q.nnz and (P != Q).nnz == 0


# ---------------------------------------------------------------------------
# peak memory (one fresh process per case)


def _status_bytes(field: str) -> int | None:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in bytes."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def memory_child(key: str) -> None:
    """Run one case once in this (fresh) process and report its peak memory.

    The peak is the high-water mark of the resident set size of this process's
    address space (``VmHWM``), reset to the current size just before the call
    where the kernel allows it (``/proc/self/clear_refs``). ``ru_maxrss`` is
    not used: Linux carries it over from the parent through fork and exec, so
    in a child of a large benchmark process it reports the parent's size.
    """
    case = next(c for c in make_cases(quick=False) if c.key == key)
    x0 = point(case.n)
    base = _status_bytes("VmRSS")
    reset = False
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        reset = True
    except OSError:
        pass
    t0 = time.perf_counter()
    P = symasd_call(case, x0)
    elapsed = time.perf_counter() - t0
    peak = _status_bytes("VmHWM")
    if base is None or peak is None:  # not Linux: fall back to ru_maxrss (bytes on macOS)
        scale = 1 if sys.platform == "darwin" else 1024
        base = 0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    print(json.dumps({"key": key, "base": base, "peak": peak, "reset": reset,
                      "nnz": int(P.nnz), "seconds": elapsed}))


def measure_memory(case: Case) -> dict:
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--memory-child",
                          case.key], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# reporting


def fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    if t < 1e-3:
        return f"{t * 1e6:.0f} us"
    if t < 1.0:
        return f"{t * 1e3:.2f} ms" if t < 0.1 else f"{t * 1e3:.1f} ms"
    return f"{t:.2f} s"


def fmt_bytes(b: float) -> str:
    return f"{b / GB:.2f} GB" if b >= GB else f"{b / 1024 ** 2:.0f} MB"


def machine_description() -> list[str]:
    model = cpu_model()
    lines = [
        f"- CPU: {model}, {os.cpu_count()} logical CPUs; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, SciPy {scipy.__version__}, "
        f"symasd {getattr(symasd, '__version__', '?')}",
    ]
    return lines


def print_table(cases: list[Case], asdex_note: str | None) -> None:
    has_asdex = asdex_note is None
    head = ["problem", "size", "pattern", "nnz", "symasd (median)", "symasd CPU", "runs",
            "target", "status"]
    if has_asdex:
        head += ["asdex (median)", "asdex / symasd", "same pattern"]
    head += ["numeric check"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for c in cases:
        r = c.result
        shape = f"{r['shape'][0]}x{r['shape'][1]}"
        status = "-" if c.target is None else ("PASS" if r["time"] < c.target else "FAIL")
        row = [c.problem, c.size, f"{c.kind} {shape}", str(r["nnz"]), fmt_time(r["time"]),
               fmt_time(r["cpu"]), str(r["runs"]),
               "-" if c.target is None else f"< {fmt_time(c.target)}", status]
        if has_asdex:
            if "asdex_time" in r:
                row += [fmt_time(r["asdex_time"]) + f" ({r['asdex_runs']})",
                        f"{r['asdex_time'] / r['time']:.1f}x",
                        "yes" if r["agree"] else "**NO**"]
            else:
                row += [r.get("asdex_skip", "-"), "-", "-"]
        row += [r.get("check", "-")]
        print("| " + " | ".join(row) + " |")
    if not has_asdex:
        print(f"\nasdex comparison skipped: jax/asdex not importable ({asdex_note}); "
              "`pip install jax asdex` (or the `bench` extra) to include it.")


def print_memory(rows: list[tuple[Case, dict]]) -> None:
    if not rows:
        return
    print("\nPeak memory: one fresh process per case; peak resident set size (VmHWM) "
          "of the whole process, so including the interpreter, NumPy and SciPy, and "
          "its increase over the resident size just before the call:\n")
    print("| case | peak RSS | increase during the call | target | status |")
    print("|---|---|---|---|---|")
    for c, m in rows:
        status = "PASS" if m["peak"] < MEMORY_TARGET else "FAIL"
        print(f"| {c.problem} {c.kind} {c.size} | {fmt_bytes(m['peak'])} | "
              f"{fmt_bytes(m['peak'] - m['base'])} | < {fmt_bytes(MEMORY_TARGET)} | "
              f"{status} |")


# ---------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes only (n <= 10^4, N <= 64), no memory runs")
    ap.add_argument("--budget", type=float, default=2.0,
                    help="seconds of timed runs per case and tool (default 2)")
    ap.add_argument("--min-runs", type=int, default=5,
                    help="minimum timed runs per case for symasd (default 5)")
    ap.add_argument("--asdex-min-runs", type=int, default=3,
                    help="minimum timed runs per case for asdex (default 3)")
    ap.add_argument("--no-asdex", action="store_true", help="skip the asdex comparison")
    ap.add_argument("--asdex-max-n", type=int, default=10 ** 6,
                    help="largest input size timed with asdex (default 10^6: all)")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    ap.add_argument("--no-check", action="store_true", help="skip the dense numerical checks")
    ap.add_argument("--only", default="", help="run only cases whose key contains this text")
    ap.add_argument("--memory-child", metavar="KEY", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.memory_child:
        memory_child(args.memory_child)
        return 0

    cases = [c for c in make_cases(args.quick) if args.only in c.key]
    mods, asdex_note = (None, "--no-asdex") if args.no_asdex else load_asdex()

    print("# symasd sparsity benchmark\n")
    print(f"command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`".rstrip())
    for line in machine_description():
        print(line)
    if mods is not None:
        from importlib.metadata import version

        print(f"- jax {mods[1].__version__}, asdex {version('asdex')} (CPU)")
    print(f"- load average at start: {load_average(' ')}\n")

    for c in cases:
        x0 = point(c.n)
        t, cpu, runs, P = median_time(lambda c=c, x0=x0: symasd_call(c, x0), args.min_runs,
                                      args.budget)
        r = c.result
        r.update(time=t, cpu=cpu, runs=runs, nnz=int(P.nnz), shape=P.shape)
        if c.expected_nnz is not None:
            assert P.nnz == c.expected_nnz, f"{c.key}: nnz {P.nnz} != {c.expected_nnz}"
        if c.check and not args.no_check:
            r["check"] = dense_check(c)
        if mods is not None:
            if c.n <= args.asdex_max_n:
                ta, _, runs_a, Q = median_time(lambda c=c, x0=x0: asdex_call(mods, c, x0),
                                            args.asdex_min_runs, args.budget)
                r.update(asdex_time=ta, asdex_runs=runs_a,
                         agree=same_pattern(P, Q.rows, Q.cols, Q.shape))
            else:
                r["asdex_skip"] = "not run (--asdex-max-n)"
        line = f"{c.key}: {fmt_time(t)} ({runs} runs), nnz {P.nnz}"
        if "asdex_time" in r:
            line += (f"; asdex {fmt_time(r['asdex_time'])}, "
                     f"same pattern: {r['agree']}")
        print(line, file=sys.stderr, flush=True)

    mem_rows = []
    if not (args.quick or args.no_memory):
        for c in cases:
            if c.memory:
                mem_rows.append((c, measure_memory(c)))

    print()
    print_table(cases, asdex_note if mods is None else None)
    print_memory(mem_rows)
    print(f"\nload average at end: {load_average(' ')}")

    failed = [c.key for c in cases if c.target is not None and c.result["time"] >= c.target]
    failed += [f"{c.key} (memory)" for c, m in mem_rows if m["peak"] >= MEMORY_TARGET]
    disagree = [c.key for c in cases if c.result.get("agree") is False]
    if disagree:
        print(f"\nPATTERN MISMATCH with asdex: {', '.join(disagree)}")
    if failed:
        print(f"\ntargets missed: {', '.join(failed)}")
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
