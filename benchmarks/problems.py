"""Shared test problems for the symasd benchmarks.

Every function is ordinary NumPy code on a flat float64 array, so that
``symasd.trace`` sees it unmodified. Each takes a keyword-only ``xp``
argument (the array namespace, ``numpy`` by default) only so that the very
same source can be handed to JAX-based tools (``xp=jax.numpy``) for
side-by-side comparisons; symasd always runs them with the default.

Known pattern sizes (used by the benchmarks as a cross-check):

=====================  =====================  ===========================
problem                shape                  nnz
=====================  =====================  ===========================
iter_diff(x, k)        (n - k) x n            (n - k) * (k + 1)
brusselator_rhs(y)     2N^2 x 2N^2            12 N^2 (N >= 3)
chained_rosenbrock(x)  Hessian n x n          3 n - 2
arwhead(x)             Hessian n x n          3 n - 2
bdqrtic(x)             Hessian n x n          9 n - 20 (n >= 5)
conv_tanh(img)         576 x 784              576 * 25 = 14400
=====================  =====================  ===========================
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "iter_diff",
    "brusselator_rhs",
    "brusselator_size",
    "chained_rosenbrock",
    "arwhead",
    "bdqrtic",
    "conv_tanh",
    "CONV_KERNEL",
    "godunov_burgers",
    "softmax_cross_entropy",
    "hanging_chain",
    "expected_nnz",
]


def iter_diff(x, k=3, *, xp=np):
    """``k``-fold forward difference of ``x`` (``np.diff`` applied ``k`` times).

    The seed example of issue 2: for ``x`` of length ``n`` the Jacobian is the
    banded ``(n - k) x n`` matrix of binomial coefficients with ``k + 1``
    nonzeros per row.
    """
    for _ in range(k):
        x = xp.diff(x)
    return x


def brusselator_size(y) -> int:
    """Grid size ``N`` of a Brusselator state ``y`` of length ``2 N^2``."""
    n = int(np.size(y))
    N = math.isqrt(n // 2)
    if 2 * N * N != n:
        raise ValueError(f"a Brusselator state has length 2 N^2, got {n}")
    return N


def brusselator_rhs(y, *, A=3.4, B=1.0, alpha=10.0, xp=np):
    """Right-hand side of the 2D Brusselator reaction-diffusion system.

    ``y`` holds ``u`` and ``v`` on an ``N x N`` grid of the unit square,
    stacked: ``y = [u.ravel(), v.ravel()]`` (length ``2 N^2``). With the
    periodic 5-point Laplacian ``L`` and grid step ``dx = 1 / (N - 1)``::

        du = alpha / dx^2 * L(u) + B + u^2 v - (A + 1) u
        dv = alpha / dx^2 * L(v) + A u - u^2 v

    This is the system of the Julia sparsity benchmarks (SparseDiffTools,
    SparseConnectivityTracer), without its time-dependent forcing term (zero
    at ``t = 0``). Each row of the Jacobian has 6 nonzeros: the 5-point
    stencil of its own species and the other species at the same point.
    """
    N = brusselator_size(y)
    a = alpha * (N - 1) ** 2
    u = y[: N * N].reshape(N, N)
    v = y[N * N:].reshape(N, N)

    def lap(w):
        return (xp.roll(w, 1, axis=0) + xp.roll(w, -1, axis=0)
                + xp.roll(w, 1, axis=1) + xp.roll(w, -1, axis=1) - 4.0 * w)

    uuv = u * u * v
    du = a * lap(u) + B + uuv - (A + 1.0) * u
    dv = a * lap(v) + A * u - uuv
    return xp.concatenate([du.ravel(), dv.ravel()])


def chained_rosenbrock(x, *, xp=np):
    """Chained (extended) Rosenbrock function, a scalar.

    ``sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2`` for ``i = 0 .. n-2``;
    its Hessian is tridiagonal (``3 n - 2`` nonzeros).
    """
    head = x[:-1]
    return xp.sum(100.0 * (x[1:] - head ** 2) ** 2 + (1.0 - head) ** 2)


def arwhead(x, *, xp=np):
    """ARWHEAD (CUTEst): ``sum_i (3 - 4 x[i]) + (x[i]^2 + x[n-1]^2)^2``, i < n - 1.

    An arrowhead Hessian: the diagonal and a dense last row and column
    (``3 n - 2`` nonzeros); 2 star colors, while column coloring needs ``n``.
    """
    return xp.sum(3.0 - 4.0 * x[:-1]) + xp.sum((x[:-1] ** 2 + x[-1] ** 2) ** 2)


def bdqrtic(x, *, xp=np):
    """BDQRTIC (CUTEst): ``sum_i (3 - 4 x[i])^2 + (x[i]^2 + 2 x[i+1]^2 + 3 x[i+2]^2
    + 4 x[i+3]^2 + 5 x[n-1]^2)^2`` for ``i < n - 4``.

    A band of half-bandwidth 3 plus a dense last row and column.
    """
    q = (x[:-4] ** 2 + 2.0 * x[1:-3] ** 2 + 3.0 * x[2:-2] ** 2 + 4.0 * x[3:-1] ** 2
         + 5.0 * x[-1] ** 2)
    return xp.sum((3.0 - 4.0 * x[:-4]) ** 2) + xp.sum(q ** 2)


# A fixed 5 x 5 kernel with no zero entry (so that every tap is structural).
CONV_KERNEL = np.round(np.random.default_rng(5).uniform(0.1, 1.0, (5, 5))
                       * np.where(np.arange(25).reshape(5, 5) % 2, -1.0, 1.0), 3)


def conv_tanh(img, *, xp=np):
    """``tanh`` of the 'valid' 5x5 convolution of a 28x28 image, flattened.

    ``img`` is the flat image (784 values, row-major); the convolution with
    the constant :data:`CONV_KERNEL` is written with slicing (25 shifted
    24x24 windows), so the output has 576 entries and the Jacobian has 25
    nonzeros per row (576 x 784, 14400 nonzeros).
    """
    im = img.reshape(28, 28)
    kh, kw = CONV_KERNEL.shape
    oh, ow = 28 - kh + 1, 28 - kw + 1
    acc = None
    for a in range(kh):
        for b in range(kw):
            term = float(CONV_KERNEL[a, b]) * im[a:a + oh, b:b + ow]
            acc = term if acc is None else acc + term
    return xp.tanh(acc).ravel()


def godunov_burgers(u, *, xp=np):
    """The finite-volume residual of Burgers' equation with Godunov's flux, the
    kind of code a new user writes for a conservation law: for the convex flux
    ``u^2 / 2`` the flux between cells ``i`` and ``i+1`` is
    ``max(f(max(u_i, 0)), f(min(u_i+1, 0)))``; walls at both ends. A
    tridiagonal Jacobian built from selections (``maximum``, ``minimum``).
    """
    flux = xp.maximum(0.5 * xp.maximum(u[:-1], 0.0) ** 2, 0.5 * xp.minimum(u[1:], 0.0) ** 2)
    return xp.concatenate([xp.zeros(1), flux]) - xp.concatenate([flux, xp.zeros(1)])


SOFTMAX_CLASSES = 10


def softmax_cross_entropy(z, *, xp=np):
    """The cross-entropy of a softmax over :data:`SOFTMAX_CLASSES` classes, summed
    over ``z.size // SOFTMAX_CLASSES`` samples whose labels cycle through the
    classes: ``sum_s logsumexp(z_s) - z_s[label_s]``. Its Hessian is block
    diagonal, a dense ``10 x 10`` block ``diag(p) - p p^T`` per sample.
    """
    from scipy.special import logsumexp

    Z = z.reshape(-1, SOFTMAX_CLASSES)
    rows = np.arange(Z.shape[0])
    return xp.sum(logsumexp(Z, axis=1) - Z[rows, rows % SOFTMAX_CLASSES])


def hanging_chain(z, *, xp=np):
    """The potential energy of a hanging chain by the trapezoidal rule
    (``examples/hanging_chain_ipopt.py``'s objective): ``z`` holds the heights
    ``x`` at ``m + 1`` points and the slopes ``u`` of the ``m`` segments, ``m =
    (z.size - 1) // 2`` (a last entry of even-sized ``z`` is unused);
    ``h * (sum(w) - (w_0 + w_m-1) / 2)`` with ``w = x[:-1] sqrt(1 + u^2)``.
    """
    m = (z.size - 1) // 2
    x, u = z[: m + 1], z[m + 1: 2 * m + 1]
    w = x[:-1] * xp.sqrt(1.0 + u ** 2)
    return (1.0 / m) * (xp.sum(w) - 0.5 * (w[0] + w[-1]))


def expected_nnz(name: str, n: int, k: int = 3) -> int:
    """Nonzeros of the exact pattern of problem ``name`` at input size ``n``."""
    if name == "iter_diff":
        return (n - k) * (k + 1)
    if name == "brusselator":
        return 6 * n
    if name in ("rosenbrock", "arwhead"):
        return 3 * n - 2
    if name == "bdqrtic":
        return 9 * n - 20
    if name == "conv_tanh":
        return 576 * 25
    raise KeyError(name)
