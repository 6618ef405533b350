#!/usr/bin/env python
"""Benchmark: preparation time of ``symasd.jacobian`` / ``symasd.hessian``.

Run from the repository root (after ``python setup.py build_ext --inplace``)
with a Python that has CasADi for the comparison section::

    python benchmarks/preparation.py                     # everything, several minutes
    python benchmarks/preparation.py --quick             # small sizes, under a minute
    python benchmarks/preparation.py --section arrow --sizes 4 5 6
    python benchmarks/preparation.py --against /path/to/other/checkout   # A/B

Sections (``--section``, repeatable; default all):

* ``arrow``: Hessians of ARWHEAD and BDQRTIC (``benchmarks/problems.py``:
  a dense last row and column) at n = 10^4, 10^5, 10^6 (``--sizes``
  exponents), with the default engine (``symasd.hessian(f, x0)``: what it
  picks is shown) and with ``mode="star"`` and ``mode="acyclic"``
  (``engine="vm"``): preparation time, colors, and the log-log slope of
  preparation time between the smallest and the largest size.
* ``compare``: the cases of ``benchmarks/compare.py`` (Brusselator
  Jacobian N = 32, 64, 128, ``iter_diff`` Jacobian 10^4 ... 10^6, chained
  and extended Rosenbrock Hessians 10^3 ... 10^5): the default engine's
  preparation, the compiled engine's (``engine="vm"``), and the default's
  per-call time once it has compiled, against CasADi MX's build (graph +
  ``jacobian`` / ``hessian`` + ``Function``) and call, with compare.py's
  own builders (``ca_*``), as ratios (below 1: symasd is faster).
* ``engine``: what ``engine="auto"`` chooses, against both choices: the
  ``compare`` cases, ARWHEAD and BDQRTIC, and three models a new user
  writes (``benchmarks/problems.py``: a Godunov finite-volume residual, a
  softmax cross-entropy over 10 classes, a hanging chain's energy) at
  n = 10^4 and 10^5: preparation and per-call time with ``engine="tape"``,
  ``"vm"`` and the default, the calls after which compiling has paid back
  (``(vm prep - tape prep) / (tape call - vm call)``; "never" where the
  compiled call is not faster), and the default (``symasd.tiering``)
  followed call by call: the engine it prepares, the call at which it
  compiled, and its preparation plus k calls over the better fixed engine's
  for that k (k = 10 ... 10^4).
* ``memory``: the peak resident memory (``ru_maxrss``) of a process that
  prepares the ``iter_diff`` Jacobian at n = 10^6 and the chained
  Rosenbrock Hessian at n = 10^6 (default engine), next to that of the
  same process before preparing (imports and a tiny warm-up case).

Every measurement runs in a fresh subprocess (``--worker``), which imports
symasd, prepares a tiny instance of the same case untimed (imports, first
calls), then times one preparation (cold, as a user meets it) and the
median of repeated calls. Each number printed is the median over
``--repeats`` such processes; the tools (and, with ``--against``, the two
checkouts) take turns, so that a busy machine's slow spells fall on all
alike. ``--against DIR`` measures every symasd case also with the symasd of
another checkout (built in place) and prints ``this/other`` ratios.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CALL_BUDGET = 0.3  # seconds of repeated calls per per-call measurement
TINY = {"arwhead": 64, "bdqrtic": 64, "iter_diff": 64, "rosenbrock": 64,
        "ext_rosenbrock": 64, "brusselator": 2 * 8 * 8, "godunov": 64, "softmax": 80,
        "chain": 65}


# ---------------------------------------------------------------------------
# worker: one measurement in this process


def _problem(name: str):
    """``(f, kind, point(n))`` of a problem by name."""
    import numpy as np
    import problems

    def uniform(lo, hi):
        return lambda n: np.random.default_rng(1).uniform(lo, hi, n)

    if name == "ext_rosenbrock":
        # compare.py's definition, repeated so that a worker need not import it
        # (and JAX with it)
        def ext(x):
            a = x[0::2]
            b = x[1::2]
            return np.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)

        return ext, "hessian", uniform(-1.5, 1.5)
    table = {
        "arwhead": (problems.arwhead, "hessian", uniform(-1.0, 1.0)),
        "bdqrtic": (problems.bdqrtic, "hessian", uniform(-1.0, 1.0)),
        "iter_diff": (problems.iter_diff, "jacobian", uniform(-1.0, 1.0)),
        "rosenbrock": (problems.chained_rosenbrock, "hessian", uniform(-1.5, 1.5)),
        "brusselator": (problems.brusselator_rhs, "jacobian", uniform(0.5, 1.5)),
        "godunov": (problems.godunov_burgers, "jacobian", uniform(-1.0, 1.0)),
        "softmax": (problems.softmax_cross_entropy, "hessian", uniform(-2.0, 2.0)),
        "chain": (problems.hanging_chain, "hessian", uniform(0.5, 1.5)),
    }
    return table[name]


def _median_call(fn, x) -> float:
    fn(x)
    times = []
    end = time.perf_counter() + CALL_BUDGET
    while len(times) < 5 or (time.perf_counter() < end and len(times) < 2000):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux (bytes on macOS)
    scale = 1 / 1024 ** 2 if sys.platform == "darwin" else 1 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def worker(spec: dict) -> dict:
    """Measure one case: ``spec`` has ``tool`` ("symasd" or "mx"), ``problem``,
    ``n`` and for symasd ``mode`` / ``engine``; returns preparation seconds,
    per-call seconds, colors, engine and peak memory before and after."""
    sys.path[:0] = [spec["root"], str(HERE)]
    import numpy as np

    f, kind, point = _problem(spec["problem"])
    n = spec["n"]
    x0, x1 = point(n), point(n)[::-1].copy()
    if spec["tool"] == "mx":
        import casadi
        import compare  # its CasADi builders (ca_*) use its module globals

        build = compare.PROBLEMS[spec["problem"]].casadi

        def prepare(m):
            x, expr = build(casadi.MX, m)
            D = casadi.jacobian(expr, x) if kind == "jacobian" else casadi.hessian(expr, x)[0]
            return casadi.Function("d", [x], [D])

        prepare(TINY[spec["problem"]])
        before = _rss_mb()
        t = time.perf_counter()
        F = prepare(n)
        prep = time.perf_counter() - t
        buf, ev = F.buffer()
        xin, out = np.zeros(n), np.zeros(F.nnz_out(0))
        buf.set_arg(0, memoryview(xin))
        buf.set_res(0, memoryview(out))

        def call(v):
            xin[:] = v
            ev()
            return out.copy()

        return {"prep": prep, "call": _median_call(call, x1), "colors": None,
                "engine": "MX", "rss_before": before, "rss_peak": _rss_mb()}
    import symasd

    fn = symasd.jacobian if kind == "jacobian" else symasd.hessian
    kw = {k: spec[k] for k in ("mode", "engine") if spec.get(k)}
    fn(f, point(TINY[spec["problem"]]), **kw)
    before = _rss_mb()
    t = time.perf_counter()
    d = fn(f, x0, **kw)
    prep = time.perf_counter() - t
    engine = str(getattr(d, "engine", "?"))
    follow = _follow_schedule(d, x1) if spec.get("follow") else {}
    call = _median_call(d, x1) if spec.get("calls", True) else None
    return {"prep": prep, "call": call, "colors": int(d.ncolors), "engine": engine,
            "rss_before": before, "rss_peak": _rss_mb(), **follow}


FOLLOW_CALLS = 100_000  # calls, at most, that --section engine waits for auto to decide
FOLLOW_SECONDS = 30.0
CHECKPOINTS = (10, 100, 1000, 10_000)


def _undecided(d) -> bool:
    """Whether an ``engine="auto"`` derivative may still compile."""
    schedule = getattr(d, "_schedule", None)
    return schedule is not None and not schedule.never


def _follow_schedule(d, x) -> dict:
    """Call an ``engine="auto"`` derivative until its schedule has decided (compiled,
    or found the compiled DAG slower), at most FOLLOW_CALLS calls or FOLLOW_SECONDS:
    the call that compiled (None: not decided), and the time of the first k calls
    for each k of CHECKPOINTS that was reached (the call that compiles included)."""
    times = []
    end = time.perf_counter() + FOLLOW_SECONDS
    while _undecided(d) and len(times) < FOLLOW_CALLS and time.perf_counter() < end:
        t = time.perf_counter()
        d(x)
        times.append(time.perf_counter() - t)
    decided = not _undecided(d)
    sums = {str(k): math.fsum(times[:k]) for k in CHECKPOINTS if k <= len(times)}
    return {"decided_at": len(times) if decided and times else None,
            "after": str(getattr(d, "engine", "?")), "first_calls": sums,
            "followed": len(times), "followed_seconds": math.fsum(times)}


# ---------------------------------------------------------------------------
# driver


def run_worker(spec: dict) -> dict | None:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker",
                           json.dumps(spec)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"  worker failed ({spec}):\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(specs: dict[str, dict], repeats: int) -> dict[str, dict]:
    """Median results of each named spec over ``repeats`` worker processes, the
    specs taking turns."""
    runs: dict[str, list[dict]] = {k: [] for k in specs}
    for _ in range(repeats):
        for key, spec in specs.items():
            r = run_worker(spec)
            if r is not None:
                runs[key].append(r)
    out = {}
    for key, rs in runs.items():
        if not rs:
            continue
        med = {}
        for field in ("prep", "call", "rss_before", "rss_peak"):
            vals = [r[field] for r in rs if r[field] is not None]
            med[field] = statistics.median(vals) if vals else None
        med["colors"], med["engine"] = rs[0]["colors"], rs[0]["engine"]
        for field in ("decided_at", "after", "first_calls", "followed", "followed_seconds"):
            if field in rs[0]:  # one process's schedule (its timings are not medians)
                med[field] = rs[len(rs) // 2][field]
        med["runs"] = len(rs)
        out[key] = med
        print(f"  {key}: prep {fmt(med['prep'])}, call {fmt(med['call'])}",
              file=sys.stderr, flush=True)
    return out


def fmt(t) -> str:
    if t is None:
        return "-"
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.1f} ms"
    return f"{t * 1e6:.1f} us"


def ratio(a, b) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def slope(t_lo, t_hi, n_lo, n_hi) -> str:
    if t_lo is None or t_hi is None or n_hi == n_lo:
        return "-"
    return f"{math.log(t_hi / t_lo) / math.log(n_hi / n_lo):.2f}"


def section_arrow(args, roots) -> None:
    print("\n### ARWHEAD and BDQRTIC Hessian preparation (dense last row and column)\n")
    sizes = [10 ** e for e in args.sizes]
    variants = [("default", {}), ("star", {"mode": "star", "engine": "vm"}),
                ("acyclic", {"mode": "acyclic", "engine": "vm"})]
    head = "| problem | variant | " + " | ".join(f"n=10^{e}" for e in args.sizes)
    head += " | colors | engine | slope |"
    cols = len(args.sizes) + 3
    if len(roots) > 1:
        head += " before (" + roots[1][0] + ") | this/before |"
        cols += 2
    print(head)
    print("|---|---|" + "---|" * cols)
    for prob in ("arwhead", "bdqrtic"):
        for vname, kw in variants:
            specs = {}
            for label, root in roots:
                for n in sizes:
                    specs[f"{prob} {vname} n={n} {label}"] = dict(
                        tool="symasd", problem=prob, n=n, root=root, calls=False, **kw)
            res = measure(specs, args.repeats)
            label0 = roots[0][0]
            mine = [res.get(f"{prob} {vname} n={n} {label0}") for n in sizes]
            t = [r["prep"] if r else None for r in mine]
            last = next((r for r in reversed(mine) if r), None)
            row = (f"| {prob} | {vname} | " + " | ".join(fmt(x) for x in t)
                   + f" | {last['colors'] if last else '-'} | {last['engine'] if last else '-'}"
                   + f" | {slope(t[0], t[-1], sizes[0], sizes[-1])} |")
            if len(roots) > 1:
                other = [res.get(f"{prob} {vname} n={n} {roots[1][0]}") for n in sizes]
                tb = [r["prep"] if r else None for r in other]
                lastb = next((r for r in reversed(other) if r), None)
                row += (" " + " / ".join(fmt(x) for x in tb)
                        + f" ({lastb['colors'] if lastb else '-'} colors,"
                        + f" {lastb['engine'] if lastb else '-'}) | "
                        + " / ".join(ratio(a, b) for a, b in zip(t, tb, strict=True)) + " |")
            print(row, flush=True)


COMPARE_CASES = {
    "brusselator": [(f"N={N}", 2 * N * N) for N in (32, 64, 128)],
    "iter_diff": [(f"n=10^{e}", 10 ** e) for e in (4, 5, 6)],
    "rosenbrock": [(f"n=10^{e}", 10 ** e) for e in (3, 4, 5)],
    "ext_rosenbrock": [(f"n=10^{e}", 10 ** e) for e in (3, 4, 5)],
}
COMPARE_QUICK = {
    "brusselator": [("N=32", 2048)],
    "iter_diff": [("n=10^4", 10 ** 4)],
    "rosenbrock": [("n=10^3", 10 ** 3)],
    "ext_rosenbrock": [("n=10^3", 10 ** 3)],
}


def section_compare(args, roots) -> None:
    print("\n### compare.py cases: preparation vs CasADi MX build\n")
    print("'symasd prep' is the default engine's (engine='auto': the tape, compiled once "
          "its calls have paid, see symasd.tiering), followed call by call until it has "
          "compiled; 'compiled prep' is engine='vm' (trace, pattern, coloring and the "
          "compiler); 'symasd call' is the default's median call after that.\n")
    head = ("| case | size | symasd prep | compiled prep | MX build | prep symasd/MX "
            "| compiled/MX | symasd call | MX call | call symasd/MX | engine at prep "
            "| compiled at call |")
    if len(roots) > 1:
        head += f" {roots[1][0]} prep | {roots[1][0]} call | prep this/{roots[1][0]} |"
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    cases = COMPARE_QUICK if args.quick else COMPARE_CASES
    for prob, sizes in cases.items():
        if args.only and prob not in args.only:
            continue
        for label, n in sizes:
            specs = {f"{prob} {label} mx": dict(tool="mx", problem=prob, n=n, root=roots[0][1]),
                     f"{prob} {label} vm": dict(tool="symasd", problem=prob, n=n,
                                                root=roots[0][1], engine="vm", calls=False)}
            for name, root in roots:
                specs[f"{prob} {label} {name}"] = dict(tool="symasd", problem=prob, n=n,
                                                      root=root, follow=True)
            res = measure(specs, args.repeats)
            mx = res.get(f"{prob} {label} mx") or {}
            vm = res.get(f"{prob} {label} vm") or {}
            me = res.get(f"{prob} {label} {roots[0][0]}") or {}
            decided = me.get("decided_at")
            row = (f"| {prob} | {label} | {fmt(me.get('prep'))} | {fmt(vm.get('prep'))} | "
                   f"{fmt(mx.get('prep'))} | {ratio(me.get('prep'), mx.get('prep'))} | "
                   f"{ratio(vm.get('prep'), mx.get('prep'))} | {fmt(me.get('call'))} | "
                   f"{fmt(mx.get('call'))} | {ratio(me.get('call'), mx.get('call'))} | "
                   f"{me.get('engine', '-')} | {decided if decided is not None else '-'} |")
            if len(roots) > 1:
                ot = res.get(f"{prob} {label} {roots[1][0]}") or {}
                row += (f" {fmt(ot.get('prep'))} | {fmt(ot.get('call'))} | "
                        f"{ratio(me.get('prep'), ot.get('prep'))} |")
            print(row, flush=True)


ENGINE_CASES = {
    **{prob: [(label, n) for label, n in sizes] for prob, sizes in COMPARE_CASES.items()},
    **{prob: [(f"n=10^{e}", 10 ** e) for e in (4, 5)]
       for prob in ("arwhead", "bdqrtic", "godunov", "softmax", "chain")},
}

ENGINE_QUICK = {**COMPARE_QUICK,
                **{prob: [("n=10^4", 10 ** 4)] for prob in ("godunov", "softmax", "chain")}}


def _payback(tape, vm) -> str:
    gain = tape["call"] - vm["call"]
    if gain <= 0:
        return "never"
    return f"{max(0.0, (vm['prep'] - tape['prep']) / gain):.0f}"


def _auto_total(auto, k: int) -> float:
    """The time of auto's preparation and first ``k`` calls: measured up to where
    its schedule decided, its median call after."""
    sums = auto.get("first_calls") or {}
    if str(k) in sums:
        return auto["prep"] + sums[str(k)]
    followed = auto.get("followed") or 0
    return auto["prep"] + (auto.get("followed_seconds") or 0.0) + (k - followed) * auto["call"]


def section_engine(args, roots) -> None:
    print("\n### engine='auto' against both engines: preparation, calls, payback\n")
    print("'auto' is followed call by call until its schedule decides (at most "
          f"{FOLLOW_CALLS} calls or {FOLLOW_SECONDS:.0f} s); 'k calls' is the time of the "
          "preparation and k calls, auto's over the better of tape and vm for that k.\n")
    print("| case | size | tape prep | vm prep | tape call | vm call | payback (calls) "
          "| auto prep / tape prep | auto at prep | compiled at call | auto then "
          + " | ".join(f"{k} calls" for k in CHECKPOINTS) + " |")
    print("|---" * (11 + len(CHECKPOINTS)) + "|")
    cases = ENGINE_QUICK if args.quick else ENGINE_CASES
    for prob, sizes in cases.items():
        if args.only and prob not in args.only:
            continue
        for label, n in sizes:
            base = dict(tool="symasd", problem=prob, n=n, root=roots[0][1])
            res = measure({e: dict(base, engine=e) for e in ("tape", "vm")}
                          | {"auto": dict(base, follow=True)}, args.repeats)
            if not all(k in res for k in ("tape", "vm", "auto")):
                continue
            tape, vm, auto = res["tape"], res["vm"], res["auto"]
            totals = []
            for k in CHECKPOINTS:
                best = min(e["prep"] + k * e["call"] for e in (tape, vm))
                totals.append(f"{_auto_total(auto, k) / best:.2f}")
            decided = auto.get("decided_at")
            print(f"| {prob} | {label} | {fmt(tape['prep'])} | {fmt(vm['prep'])} | "
                  f"{fmt(tape['call'])} | {fmt(vm['call'])} | {_payback(tape, vm)} | "
                  f"{ratio(auto['prep'], tape['prep'])} | {auto['engine']} | "
                  f"{decided if decided is not None else '-'} | {auto.get('after', '?')} | "
                  + " | ".join(totals) + " |", flush=True)


def section_memory(args, roots) -> None:
    print("\n### Peak memory of preparing (ru_maxrss of the process, default engine)\n")
    print("| case | checkout | RSS before | peak RSS | prep |")
    print("|---|---|---|---|---|")
    n = 10 ** args.memory_size
    for prob in ("iter_diff", "rosenbrock"):
        specs = {f"{prob} {name}": dict(tool="symasd", problem=prob, n=n, root=root,
                                        calls=False) for name, root in roots}
        res = measure(specs, 1)
        for name, _ in roots:
            r = res.get(f"{prob} {name}")
            if r:
                print(f"| {prob} n=10^{args.memory_size} | {name} | {r['rss_before']:.0f} MB | "
                      f"{r['rss_peak']:.0f} MB | {fmt(r['prep'])} |", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--section", action="append",
                    choices=("arrow", "compare", "engine", "memory"))
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, one repeat: under a minute")
    ap.add_argument("--sizes", type=int, nargs="+", default=None,
                    help="exponents of n for the arrow section (default 4 5 6)")
    ap.add_argument("--only", nargs="+", default=None, help="compare cases to run")
    ap.add_argument("--memory-size", type=int, default=None,
                    help="exponent of n for the memory section (default 6)")
    ap.add_argument("--repeats", type=int, default=None, help="processes per number (default 3)")
    ap.add_argument("--against", default=None, help="another checkout to compare with")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    args.sizes = args.sizes or ([3, 4] if args.quick else [4, 5, 6])
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.memory_size = args.memory_size or (5 if args.quick else 6)
    roots = [("this", str(ROOT))]
    if args.against:
        roots.append(("before", str(Path(args.against).resolve())))
    print(f"# symasd preparation benchmark ({os.cpu_count()} CPUs, load "
          f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}; medians of {args.repeats} "
          f"processes; python {sys.version.split()[0]})")
    for name, fn in (("arrow", section_arrow), ("compare", section_compare),
                     ("engine", section_engine), ("memory", section_memory)):
        if args.section is None or name in args.section:
            fn(args, roots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
