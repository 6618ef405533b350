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
