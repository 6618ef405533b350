"""The 2D Brusselator, a stiff reaction-diffusion system, integrated with
SciPy's BDF method and a sparse Jacobian prepared by symasd.

Two species u, v live on an N x N periodic grid (state size 2 N^2):

    du/dt = B + u^2 v - (A + 1) u + alpha * lap(u) + forcing(x, y, t)
    dv/dt = A u - u^2 v             + alpha * lap(v)

The forcing switches on at t = 1.1 inside a small disc. Time enters the
right-hand side as a *parameter*: symasd traces it but does not
differentiate with respect to it, so one preparation serves every call of
``jac(t, y)`` made by the solver.

Run: python examples/brusselator_bdf.py
"""

import time

import numpy as np
import scipy.sparse as sp
from scipy.integrate import solve_ivp

import symasd

N = 16                       # grid points per side: 2 * 16^2 = 512 unknowns
A, B, ALPHA = 3.4, 1.0, 10.0
xs = np.linspace(0.0, 1.0, N)
X, Y = np.meshgrid(xs, xs, indexing="ij")
DISC = ((X - 0.3) ** 2 + (Y - 0.6) ** 2 <= 0.1**2).astype(float)   # where forcing acts


def laplacian(w):
    """Five-point Laplacian with periodic boundaries (np.roll is traced by symasd)."""
    return (np.roll(w, 1, 0) + np.roll(w, -1, 0) + np.roll(w, 1, 1) + np.roll(w, -1, 1)
            - 4 * w) * (N - 1) ** 2


def rhs(y, t):
    """Right-hand side written in plain NumPy; ``t`` is a length-1 array."""
    u, v = y[: N * N].reshape(N, N), y[N * N:].reshape(N, N)
    forcing = 5.0 * DISC * np.where(t[0] >= 1.1, 1.0, 0.0)
    du = B + u * u * v - (A + 1) * u + ALPHA * laplacian(u) + forcing
    dv = A * u - u * u * v + ALPHA * laplacian(v)
    return np.concatenate([du.ravel(), dv.ravel()])


# Initial condition of the classic benchmark.
u0 = 22.0 * (Y * (1 - Y)) ** 1.5
v0 = 27.0 * (X * (1 - X)) ** 1.5
y0 = np.concatenate([u0.ravel(), v0.ravel()])

# 1. Preparation: trace, detect the pattern, color it, compile the derivative.
t0 = time.perf_counter()
jac = symasd.jacobian(rhs, y0, np.array([0.0]))
print(f"preparation: {time.perf_counter() - t0:.3f} s")
print(f"Jacobian {jac.shape}, {jac.nnz} nonzeros, mode={jac.mode}, "
      f"{jac.ncolors} compressed products instead of {jac.shape[1]}")

# 2. Independent check of the Jacobian: central finite differences.
rng = np.random.default_rng(0)
yt = y0 + 0.1 * rng.standard_normal(y0.size)
J = jac(yt, np.array([2.0])).toarray()
h = 1e-6
J_fd = np.empty_like(J)
for j in range(y0.size):
    e = np.zeros(y0.size)
    e[j] = h
    J_fd[:, j] = (rhs(yt + e, np.array([2.0])) - rhs(yt - e, np.array([2.0]))) / (2 * h)
err = np.abs(J - J_fd).max() / np.abs(J_fd).max()
print(f"relative difference to finite differences: {err:.1e}")
assert err < 1e-6

# 3. The solver wants f(t, y) and jac(t, y); adapt the argument order.
def fun(t, y):
    return rhs(y, np.array([t]))


def jac_fun(t, y):
    return jac(y, np.array([t]))     # scipy.sparse.csr_array, same structure every call


t_end = 3.0
t0 = time.perf_counter()
sol = solve_ivp(fun, (0.0, t_end), y0, method="BDF", jac=jac_fun, rtol=1e-6, atol=1e-8)
t_sparse = time.perf_counter() - t0
print(f"BDF with the symasd Jacobian: {t_sparse:.2f} s, {sol.nfev} f-evaluations, "
      f"{sol.njev} Jacobians, {sol.nlu} LU factorizations")
assert sol.success

# 4. Independent check of the solution: BDF again, with SciPy's own finite-
#    difference Jacobian restricted to a hand-written pattern.
idx = np.arange(N * N).reshape(N, N)          # grid point -> unknown number
rows = np.repeat(idx.ravel(), 5)
cols = np.stack([idx, np.roll(idx, 1, 0), np.roll(idx, -1, 0), np.roll(idx, 1, 1),
                 np.roll(idx, -1, 1)], axis=-1).ravel()
stencil = sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(N * N, N * N))
# each species sees its own stencil, and the other species at the same point
pattern = sp.kron(np.ones((2, 2)), sp.identity(N * N)) + sp.kron(sp.identity(2), stencil)
pattern = sp.csr_array(pattern != 0)
assert (pattern != jac.sparsity).nnz == 0
print("symasd's pattern equals the hand-written stencil pattern")

t0 = time.perf_counter()
ref = solve_ivp(fun, (0.0, t_end), y0, method="BDF", jac_sparsity=pattern,
                rtol=1e-6, atol=1e-8)
print(f"BDF with finite-difference Jacobian: {time.perf_counter() - t0:.2f} s")
diff = np.abs(sol.y[:, -1] - ref.y[:, -1]).max()
print(f"max difference of the final states: {diff:.1e}")
assert diff < 1e-3
