"""GPU check of the generated CuPy code: one prepared script, under five minutes.

1. Correctness: f, J and H of the test problems (Brusselator, iter_diff,
   chained and extended Rosenbrock, arrow) through the generated CuPy module
   against the generated NumPy module, at one point and at a batch of 64.
2. Timings, medians of repeated calls (``cupy.cuda`` events around each
   call, device synchronized): batched Brusselator Jacobian data, N = 32 with
   batch 1 ... 4096 and N = 256, 512 with batch 1, for the CuPy module on the
   GPU, the same generated NumPy module on the CPU and, where installed, JAX
   ``jacfwd`` (dense, N = 32 only) and asdex on the GPU.

Run on a machine with a GPU and CuPy: ``python benchmarks/gpu_check.py``;
without CuPy or a GPU it says so and exits with status 2.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
from problems import brusselator_rhs, chained_rosenbrock, iter_diff

import symasd
from symasd.codegen import load_module

BUDGET = 0.5  # seconds of repeated calls per timing


def extended_rosenbrock(x):
    a, b = x[0::2], x[1::2]
    return np.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)


def arrow(x):
    return np.concatenate([x[:-1] * x[-1], [np.sum(x**2)]])


def cpu_time(fn, *args):
    fn(*args)
    times, start = [], time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < BUDGET:
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gpu_time(cp, fn, *args):
    fn(*args)
    cp.cuda.Device().synchronize()
    times, start = [], time.perf_counter()
    while len(times) < 10 or time.perf_counter() - start < BUDGET:
        begin, end = cp.cuda.Event(), cp.cuda.Event()
        begin.record()
        fn(*args)
        end.record()
        end.synchronize()
        times.append(cp.cuda.get_elapsed_time(begin, end) / 1e3)
    return statistics.median(times)


def check(cp) -> bool:
    rng = np.random.default_rng(0)
    ok = True
    cases = [("jacobian", brusselator_rhs, 2 * 16 * 16), ("jacobian", iter_diff, 1000),
             ("jacobian", arrow, 200), ("hessian", chained_rosenbrock, 1000),
             ("hessian", extended_rosenbrock, 1000)]
    for kind, f, n in cases:
        prepared = (symasd.jacobian if kind == "jacobian" else symasd.hessian)(f, np.zeros(n))
        on_cpu = load_module(prepared.to_source("numpy"), "cpu")
        on_gpu = load_module(prepared.to_source("cupy"), "gpu")
        data = "jacobian_data" if kind == "jacobian" else "hessian_data"
        for X in (rng.uniform(0.1, 1.0, n), rng.uniform(0.1, 1.0, (64, n))):
            for name in ("f", data, *(["gradient"] if kind == "hessian" else [])):
                want = getattr(on_cpu, name)(X)
                got = cp.asnumpy(getattr(on_gpu, name)(cp.asarray(X)))
                scale = 1 + np.abs(want).max()
                err = float(np.abs(got - want).max()) / scale
                good = got.shape == want.shape and err < 1e-12
                ok &= good
                print(f"  {'ok  ' if good else 'FAIL'} {f.__name__} n={n} {name} "
                      f"batch={X.shape[:-1]}: max error / scale {err:.1e}")
        M = on_gpu.jacobian(cp.asarray(X[0])) if kind == "jacobian" else \
            on_gpu.hessian(cp.asarray(X[0]))
        ok &= M.shape == prepared.shape
    return ok


def asdex_call(N):
    try:
        import asdex
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    n = 2 * N * N

    def fj(y):
        return brusselator_rhs(y, xp=jnp)

    coloring = asdex.jacobian_coloring(fj, jnp.zeros(n))
    jac = jax.jit(asdex.jacobian_from_coloring(fj, coloring))
    return lambda y: jac(y).data.block_until_ready()


def jax_dense_call(N):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    jac = jax.jit(jax.jacfwd(lambda y: brusselator_rhs(y, xp=jnp)))
    return lambda y: jac(y).block_until_ready()


def timings(cp) -> None:
    rng = np.random.default_rng(1)
    print("\n| case | batch | CuPy (GPU) | per point | NumPy (CPU) | per point | "
          "JAX jacfwd (GPU) | asdex (GPU) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for N, batches in ((32, (1, 16, 256, 1024, 4096)), (256, (1,)), (512, (1,))):
        n = 2 * N * N
        jac = symasd.jacobian(brusselator_rhs, np.zeros(n))
        on_cpu = load_module(jac.to_source("numpy"), "cpu")
        on_gpu = load_module(jac.to_source("cupy"), "gpu")
        others = {}
        for label, build in (("jax", jax_dense_call if N == 32 else None),
                             ("asdex", asdex_call)):
            try:
                others[label] = build(N) if build else None
            except Exception as err:  # noqa: BLE001  (a peer that fails is reported, not fatal)
                print(f"  ({label} failed at N={N}: {type(err).__name__}: {err})")
                others[label] = None
        for batch in batches:
            X = rng.uniform(0, 1, (batch, n) if batch > 1 else (n,))
            Xd = cp.asarray(X)
            t_gpu = gpu_time(cp, on_gpu.jacobian_data, Xd)
            t_cpu = cpu_time(on_cpu.jacobian_data, X) if batch <= 256 else None
            peer = {}
            for label, call in others.items():
                if call is None or batch > 1:
                    peer[label] = "-"
                    continue
                import jax.numpy as jnp

                y = jnp.asarray(X)
                peer[label] = f"{cpu_time(call, y) * 1e3:.3f} ms"
            cpu = "-" if t_cpu is None else f"{t_cpu * 1e3:.3f} ms"
            cpu_pp = "-" if t_cpu is None else f"{t_cpu / batch * 1e6:.2f} us"
            print(f"| Brusselator N={N} | {batch} | {t_gpu * 1e3:.3f} ms | "
                  f"{t_gpu / batch * 1e6:.3f} us | {cpu} | {cpu_pp} | {peer['jax']} | "
                  f"{peer['asdex']} |", flush=True)


def main() -> int:
    try:
        import cupy as cp

        cp.cuda.runtime.getDeviceCount()
    except Exception as err:  # noqa: BLE001  (no CuPy, no driver, no device: all mean no GPU)
        print(f"gpu_check: no usable GPU ({type(err).__name__}: {err}); nothing run")
        return 2
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    print(f"# symasd gpu_check on {props['name'].decode()}, CuPy {cp.__version__}, "
          f"symasd {symasd.__version__}\n")
    start = time.perf_counter()
    ok = check(cp)
    timings(cp)
    print(f"\ncorrectness: {'all ok' if ok else 'FAILURES above'}; "
          f"{time.perf_counter() - start:.0f} s in all")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
