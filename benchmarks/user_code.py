"""Issue 15's user-code benchmarks: the SciPy cookbook's bundle adjustment and a
dense neural-network Hessian, prepared with the default settings.

    python benchmarks/user_code.py bundle [--cameras 1000 --observations 100000]
    python benchmarks/user_code.py mlp [--samples 1000]
    python benchmarks/user_code.py all

``bundle``: the cookbook's residual ``fun(params, n_cameras, n_points,
camera_indices, point_indices, points_2d)`` (tests/bundle_adjustment.py),
prepared as it is with ``symasd.jacobian(fun, x0, *args)``; the median of 3
preparations, and per call (median of 7) next to SciPy's finite differences
with ``jac_sparsity`` (``approx_derivative`` with the cookbook's pattern and
SciPy's column groups, what ``least_squares(jac_sparsity=A)`` does at every
iteration). ``--vm`` also prepares ``engine="vm"`` once (it takes a minute).

``mlp``: the Hessian of a tanh MLP's mean squared loss (10 inputs, 48 hidden
units, 577 weights), with 200 and 1000 samples: the preparation's time and
peak memory, each in a fresh interpreter (``VmHWM``), with the default
engine; and what ``engine="vm"`` does (a clear refusal when it would not fit).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the cookbook's functions

from machine import cpu_model, load_average  # noqa: E402


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bundle(n_cameras: int, n_observations: int, with_vm: bool) -> None:
    import scipy.sparse as sp
    from bundle_adjustment import bundle_adjustment_sparsity, fun, problem
    from scipy.optimize._numdiff import approx_derivative, group_columns

    import symasd

    n_points = n_observations // 5
    x0, args = problem(n_cameras, n_points, n_observations)
    print(f"\n### Bundle adjustment: {n_cameras} cameras, {n_points} points, "
          f"{n_observations} observations ({2 * n_observations} x {x0.size} Jacobian)\n")
    prep_times, jac = [], None
    for _ in range(3):
        t = time.perf_counter()
        jac = symasd.jacobian(fun, x0, *args)
        prep_times.append(time.perf_counter() - t)
    x = x0 * (1 + 1e-4 * np.random.default_rng(1).standard_normal(x0.size))
    J = jac(x, *args)
    call = _median_time(lambda: jac(x, *args), 7)
    A = bundle_adjustment_sparsity(*args[:4])
    t = time.perf_counter()
    groups = group_columns(A)
    t_groups = time.perf_counter() - t
    Acsr = sp.csr_matrix(A)
    fd = approx_derivative(fun, x, method="2-point", sparsity=(Acsr, groups), args=args)
    t_fd = _median_time(lambda: approx_derivative(fun, x, method="2-point",
                                                  sparsity=(Acsr, groups), args=args), 7)
    t_fun = _median_time(lambda: fun(x, *args), 7)
    err = abs(sp.csr_array(fd) - J).max() / abs(J).max()
    same = np.array_equal(jac.sparsity.toarray() if x0.size < 5000 else [],
                          (A.toarray() != 0) if x0.size < 5000 else [])
    print("| what | time | notes |")
    print("| --- | --- | --- |")
    print(f"| symasd.jacobian(fun, x0, *args) (default settings) | "
          f"{statistics.median(prep_times):.2f} s (median of 3: "
          f"{', '.join(f'{t:.2f}' for t in prep_times)}) | engine={jac.engine}, "
          f"mode={jac.mode}, {jac.ncolors} colors, nnz {jac.nnz} (the cookbook's "
          f"pattern: {A.nnz}) |")
    print(f"| symasd call jac(x, *args) | {1e3 * call:.1f} ms (median of 7) | exact |")
    print(f"| SciPy finite differences, jac_sparsity (approx_derivative, 2-point) | "
          f"{1e3 * t_fd:.1f} ms (median of 7) | {len(np.unique(groups))} groups "
          f"(group_columns: {t_groups:.2f} s once), max relative difference to symasd "
          f"{err:.1e} |")
    print(f"| one evaluation of fun | {1e3 * t_fun:.1f} ms | |")
    print(f"\nratio FD / symasd call: {t_fd / call:.2f}" + (
        "; patterns identical" if same and x0.size < 5000 else ""))
    if with_vm:
        t = time.perf_counter()
        vm = symasd.jacobian(fun, x0, *args, engine="vm")
        t_vm = time.perf_counter() - t
        call_vm = _median_time(lambda: vm(x, *args), 7)
        calls = (t_vm - statistics.median(prep_times)) / max(call - call_vm, 1e-9)
        print(f"\nengine='vm': preparation {t_vm:.1f} s, derivative DAG "
              f"{vm.compiled.matrix_graph.n_nodes} nodes, per call {1e3 * call_vm:.1f} ms "
              f"(pays off after {calls:.0f} calls)")


MLP_CODE = """
import json, sys, time
import numpy as np, symasd
n, engine = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
X = rng.standard_normal((n, 10))
Y = np.sin(X[:, 0]) + 0.1 * X[:, 1]

def loss(w, X, Y):
    W1 = w[:480].reshape(10, 48)
    b1 = w[480:528]
    W2 = w[528:576]
    b2 = w[576]
    h = np.tanh(X @ W1 + b1)
    return np.mean((h @ W2 + b2 - Y) ** 2)

w0 = 0.3 * rng.standard_normal(577)
out = {}
t = time.perf_counter()
try:
    hes = symasd.hessian(loss, w0, X, Y, engine=engine)
    out["prepare"] = time.perf_counter() - t
    out.update(engine=hes.engine, mode=hes.mode, ncolors=hes.ncolors, nnz=hes.nnz)
    t = time.perf_counter()
    H = hes(w0, X, Y)
    out["call"] = time.perf_counter() - t
except symasd.InputError as err:
    out["refused"] = str(err)
    out["prepare"] = time.perf_counter() - t
# VmHWM: this process's peak since exec (ru_maxrss would include the forked parent's)
with open("/proc/self/status") as f:
    out["peak_mb"] = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
print(json.dumps(out))
"""


def mlp(samples: list[int]) -> None:
    print("\n### Dense Hessian: tanh MLP loss, 577 weights (each run in a fresh interpreter)\n")
    print("| samples | engine asked | preparation | engine taken | colors | first call "
          "| peak memory | notes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in samples:
        for engine in ("auto", "vm"):
            res = subprocess.run([sys.executable, "-c", MLP_CODE, str(n), engine],
                                 capture_output=True, text=True, timeout=1800)
            if res.returncode != 0:
                print(f"| {n} | {engine} | failed: {res.stderr.strip().splitlines()[-1]} |")
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            if "refused" in r:
                print(f"| {n} | {engine} | {r['prepare']:.2f} s | refused | | | "
                      f"{r['peak_mb']:.0f} MB | InputError: {r['refused'][:160]}... |")
            else:
                print(f"| {n} | {engine} | {r['prepare']:.2f} s | {r['engine']} | "
                      f"{r['ncolors']} | {r['call']:.2f} s | {r['peak_mb']:.0f} MB | "
                      f"{r['mode']}, nnz {r['nnz']} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["bundle", "mlp", "all"])
    ap.add_argument("--cameras", type=int, default=1000)
    ap.add_argument("--observations", type=int, default=100_000)
    ap.add_argument("--samples", type=int, action="append")
    ap.add_argument("--vm", action="store_true", help="bundle: also prepare engine='vm'")
    args = ap.parse_args(argv)
    print(f"- machine: {cpu_model()}, load average {load_average()}")
    print(f"- command: python benchmarks/user_code.py {' '.join(argv or sys.argv[1:])}")
    if args.what in ("bundle", "all"):
        bundle(args.cameras, args.observations, args.vm)
    if args.what in ("mlp", "all"):
        mlp(args.samples or [200, 1000])
    print(f"- load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
