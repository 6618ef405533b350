"""Ensembles on Dask: throughput of Jacobian data at many points.

Brusselator N = 32 (n = 2048, 12,288 nonzeros per point), B = 10^5 points by
default, generated on the workers (``dask.array.random``) and reduced there
(the sum over points of the nonzeros), so that what is timed is evaluation,
not moving 9.8 GB of results to the client. Measured:

* one process: the generated module's ``jacobian_data`` over chunks of the
  points, in a loop (no Dask), drawing each chunk's points and summing its
  result as the Dask graph does;
* ``ensemble.data`` on Dask's threaded scheduler in this process;
* ``ensemble.data`` on a ``LocalCluster`` with 1 and 2 worker processes (one
  thread each);
* the scheduler's overhead per chunk: the same on a tiny problem with many
  chunks, time per chunk.

Run: ``python benchmarks/ensemble.py [--points 100000] [--chunk 1000]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster
from machine import cpu_model, load_average
from problems import brusselator_rhs

import symasd
from symasd import ensemble


def timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--chunk", type=int, default=1000)
    args = ap.parse_args(argv)
    B, c, N = args.points, args.chunk, 32
    n = 2 * N * N
    print(f"# symasd ensemble benchmark ({cpu_model()}, {os.cpu_count()} cores, load "
          f"{load_average()}); Brusselator N = {N}, {B} points, chunks of {c}\n")
    jac = symasd.jacobian(brusselator_rhs, np.zeros(n))
    mod = symasd.codegen.load_module(jac.to_source(), "bru")
    rng = np.random.default_rng(0)

    def one_process():  # the same work as the Dask graph: draw the points, evaluate, sum
        total = np.zeros(jac.nnz)
        for _ in range(B // c):
            total += mod.jacobian_data(rng.random((c, n))).sum(axis=0)
        return total

    def on_dask():
        X = da.random.random((B, n), chunks=(c, n))
        return ensemble.data(jac, X).sum(axis=0).compute()

    rows = [("one process, module in a loop", timed(one_process, 2))]
    with dask.config.set(scheduler="threads"):
        rows.append(("Dask threaded scheduler (2 threads)", timed(on_dask, 2)))
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster):
            on_dask()  # warm-up: workers start, receive and compile the module
            rows.append((f"LocalCluster, {workers} worker process(es)", timed(on_dask, 2)))
        print(f"  done: {workers} workers", file=sys.stderr)
    print("| where | time | points per second | per point |")
    print("| --- | --- | --- | --- |")
    for name, t in rows:
        print(f"| {name} | {t:.2f} s | {B / t:,.0f} | {t / B * 1e6:.1f} us |")

    tiny = symasd.jacobian(lambda x: x * x, np.zeros(4))
    chunks = 2000
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        X = da.random.random((chunks, 4), chunks=(1, 4))
        ensemble.data(tiny, X).sum().compute()
        t = timed(lambda: ensemble.data(tiny, X).sum().compute(), 2)
    print(f"\nscheduler overhead: {chunks} chunks of one point (LocalCluster, 2 workers): "
          f"{t:.2f} s, {t / chunks * 1e3:.2f} ms per chunk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
