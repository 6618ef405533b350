"""Code generation: time to generate, size, import time, and batched evaluation.

Measured on the Brusselator Jacobian (``benchmarks/problems.py``):

* generation: ``jac.to_source("numpy")`` for N = 32 and N = 256 (n = 131,072),
  the source's size with and without its index constants (the code should
  grow with the number of runs, not of nonzeros), and the time to import the
  written module in a fresh interpreter that has already imported NumPy and
  SciPy (``python -c``, timed inside it);
* batched evaluation: the generated module's ``jacobian_data`` at one point
  and at batches of 10 ... 1000 points (N = 32), time per point and its ratio
  to the single-point call (a new result; a reused one, ``out=``; and a
  Fortran-ordered batch, which is node-major and read without a copy),
  medians of repeated calls; and the same single point through
  ``engine="numpy"`` and the virtual machine;
* the memory floor: the time to only write a batch of 1000 results (new
  memory and memory already touched), against the target's budget.

Run: ``python benchmarks/codegen.py`` (about a minute).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import cpu_model, load_average
from problems import brusselator_rhs

import symasd

HERE = Path(__file__).resolve().parent


def median_time(fn, *args, budget=1.0, min_reps=5):
    fn(*args)
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def import_time(path: Path) -> float:
    code = ("import time, importlib.util, numpy, scipy.sparse\n"
            f"spec = importlib.util.spec_from_file_location('m', {str(path)!r})\n"
            "m = importlib.util.module_from_spec(spec)\n"
            "t0 = time.perf_counter(); spec.loader.exec_module(m)\n"
            "print(time.perf_counter() - t0)\n")
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(5)]
    return statistics.median(runs)


def code_size(source: str) -> int:
    """Characters of the source before the constants section."""
    return len(source.split("# -- constants:", 1)[0])


def main() -> int:
    print(f"# symasd code generation ({cpu_model()}, {os.cpu_count()} cores, "
          f"load {load_average()})\n")
    print("| N | n | nnz | prepare (vm) | to_source | source | code without constants "
          "| import |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    sizes = {}
    folder = Path(tempfile.mkdtemp())
    for N in (32, 256):
        x0 = np.zeros(2 * N * N)
        t0 = time.perf_counter()
        jac = symasd.jacobian(brusselator_rhs, x0, engine="vm")
        prep = time.perf_counter() - t0
        gen = min(median_time(jac.to_source, budget=0.5, min_reps=3) for _ in range(1))
        src = jac.to_source()
        path = folder / f"bru{N}.py"
        jac.export(path)
        sizes[N] = code_size(src)
        print(f"| {N} | {x0.size} | {jac.nnz} | {prep:.2f} s | {gen:.2f} s | "
              f"{len(src) / 1e3:.0f} kB | {sizes[N] / 1e3:.1f} kB | "
              f"{import_time(path) * 1e3:.0f} ms |")
    print(f"\ncode without constants, N = 256 / N = 32: {sizes[256] / sizes[32]:.2f}\n")

    N = 32
    n = 2 * N * N
    rng = np.random.default_rng(0)
    jac = symasd.jacobian(brusselator_rhs, np.zeros(n), engine="numpy")
    vm = symasd.jacobian(brusselator_rhs, np.zeros(n), engine="vm")
    mod = jac._generated
    x = rng.uniform(0, 1, n)
    single = median_time(mod.jacobian_data, x)
    print(f"Brusselator N = {N}: single point, module jacobian_data {single * 1e6:.1f} us, "
          f"engine='numpy' call (csr_array) {median_time(jac, x) * 1e6:.1f} us, "
          f"engine='vm' call {median_time(vm, x) * 1e6:.1f} us\n")
    print("Per point / single point, for x C-ordered (batch, n) with a new result, the same "
          "x into a reused result (out=), and x Fortran-ordered (node-major, read in place) "
          "into a reused result:\n")
    print("| batch | time per call (new) | per point (new) | new | out= | node-major x, out= |")
    print("| --- | --- | --- | --- | --- | --- |")
    for batch in (1, 10, 100, 1000):
        X = rng.uniform(0, 1, (batch, n))
        XF = np.asfortranarray(X)
        D = mod.jacobian_data(X)
        t = median_time(mod.jacobian_data, X)
        t_out = median_time(lambda X=X, D=D: mod.jacobian_data(X, out=D))
        t_f = median_time(lambda X=XF, D=D: mod.jacobian_data(X, out=D))
        print(f"| {batch} | {t * 1e3:.2f} ms | {t / batch * 1e6:.2f} us | "
              f"{t / batch / single:.2f} | {t_out / batch / single:.2f} | "
              f"{t_f / batch / single:.2f} |")
    memory_floor(jac.nnz, 1000, single)
    return 0


def memory_floor(nnz: int, batch: int, single: float) -> None:
    """What only writing a batch's result costs on this machine, against the
    budget of 0.25x a single-point call per point: a row copied into every point
    of a new array (first touch of fresh memory included) and of an existing one
    (NumPy's fastest store of a broadcast row), and a scalar fill."""
    row = np.random.default_rng(1).uniform(0, 1, nnz)
    existing = np.empty((batch, nnz))
    new = median_time(lambda: np.copyto(np.empty((batch, nnz)), row))
    reused = median_time(lambda: np.copyto(existing, row))
    fill = median_time(lambda: existing.fill(1.0))
    print(f"\nWriting the result alone at batch {batch} ({batch * nnz * 8 / 1e6:.0f} MB): a row "
          f"copied into a new array {new * 1e3:.2f} ms, into an existing one "
          f"{reused * 1e3:.2f} ms, a scalar fill {fill * 1e3:.2f} ms; the target's budget "
          f"(0.25x the single point per point) is {0.25 * single * batch * 1e3:.2f} ms")


if __name__ == "__main__":
    os.chdir(HERE)
    sys.exit(main())
