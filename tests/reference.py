"""Independent numerical references for derivatives (no symasd code)."""

import numpy as np


def central_jacobian(f, x, h=1e-6):
    """Dense Jacobian of ``f`` (flattened in and out) by central differences."""
    x = np.asarray(x, dtype=float)
    cols = []
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = h
        hi = np.asarray(f((x.ravel() + e).reshape(x.shape)), dtype=float).ravel()
        lo = np.asarray(f((x.ravel() - e).reshape(x.shape)), dtype=float).ravel()
        cols.append((hi - lo) / (2 * h))
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0))


def complex_step_jacobian(f, x, h=1e-30):
    """Dense Jacobian of ``f`` by the complex step: exact to rounding, and exactly
    zero where the derivative is structurally zero."""
    x = np.asarray(x, dtype=float)
    cols = []
    for j in range(x.size):
        z = x.ravel().astype(complex)
        z[j] += 1j * h
        cols.append(np.asarray(f(z.reshape(x.shape))).ravel().imag / h)
    return np.stack(cols, axis=1)


def complex_step_hessian(f, x, h=1e-5):
    """Dense Hessian of scalar ``f``: central differences of the complex-step gradient."""
    x = np.asarray(x, dtype=float)

    def grad(y):
        return complex_step_jacobian(f, y)[0]

    return central_jacobian(grad, x, h)


def ulp_distance(a, b):
    """Units in the last place between finite float64 arrays ``a`` and ``b``:
    how many floats lie between them, plus one (``+0.0`` and ``-0.0`` are 0
    apart, ``0.0`` and the smallest subnormal 1), as ``uint64``."""
    ia = np.asarray(a, dtype=np.float64).view(np.int64)
    ib = np.asarray(b, dtype=np.float64).view(np.int64)
    # ordered integers: negative floats count down from zero
    oa = np.where(ia < 0, np.int64(-(2**63)) - ia, ia)
    ob = np.where(ib < 0, np.int64(-(2**63)) - ib, ib)
    same_sign = (oa < 0) == (ob < 0)
    # the same sign: no overflow; opposite signs: |oa| + |ob| < 2**64 for finite floats
    return np.where(same_sign, np.abs(np.where(same_sign, oa - ob, 0)).astype(np.uint64),
                    np.abs(oa).astype(np.uint64) + np.abs(ob).astype(np.uint64))


def assert_same_values(actual, expected, ulps=4, err_msg=""):
    """Assert that two implementations of the same math agree: special values
    exactly, finite values within ``ulps`` units in the last place.

    NumPy picks SIMD kernels for ``cbrt``, ``expm1``, ``arccos``, ``power``, ...
    by CPU, and their results may differ from libm's (which the compiled
    kernels call) in the last bit on one machine and not on the next; a
    bit-for-bit comparison is then a test of the CPU. What must not differ:
    a NaN is a NaN on both sides, an infinity the same infinity, a zero a zero
    of the same sign, a finite value finite on both sides.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"shapes differ: {a.shape} != {e.shape}. {err_msg}"
    a, e = a.ravel(), e.ravel()

    def where(mask):
        i = np.flatnonzero(mask)[:5]
        return f"at flat indices {i.tolist()}: got {a[i].tolist()}, expected {e[i].tolist()}"

    bad = np.isnan(a) != np.isnan(e)
    assert not bad.any(), f"NaN on one side only {where(bad)}. {err_msg}"
    bad = (np.isinf(a) | np.isinf(e)) & (a != e)
    assert not bad.any(), f"infinities differ {where(bad)}. {err_msg}"
    bad = (a == 0) & (e == 0) & (np.signbit(a) != np.signbit(e))
    assert not bad.any(), f"signs of zero differ {where(bad)}. {err_msg}"
    finite = np.isfinite(a) & np.isfinite(e)
    bad = np.zeros_like(finite)
    bad[finite] = ulp_distance(a[finite], e[finite]) > ulps
    assert not bad.any(), f"more than {ulps} ulp apart {where(bad)}. {err_msg}"
