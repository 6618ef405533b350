"""The 2D Brusselator, a stiff reaction-diffusion system, integrated by BDF
with the exact sparse Jacobian: symasd.solvers.solve_ivp.

Two species u, v live on an N x N periodic grid (state size 2 N^2):

    du/dt = B + u^2 v - (A + 1) u + alpha * lap(u) + forcing(x, y, t)
    dv/dt = A u - u^2 v             + alpha * lap(v)

The forcing switches on at t = 1.1 inside a small disc. The right-hand side
is written once in NumPy, ``rhs(t, y)`` as SciPy wants it; symasd traces
``t`` as a parameter, so one preparation serves every Jacobian the solver
asks for. The same integration with SciPy's finite differences restricted to
a hand-written pattern (``jac_sparsity``) is the reference: the same
solution, more right-hand-side evaluations (each finite-difference Jacobian
costs one per color of the pattern; SciPy's ``nfev`` leaves those out, so
they are counted here).

Run: python examples/brusselator_bdf.py
"""

import time

import numpy as np
import scipy.sparse as sp
from scipy.integrate import solve_ivp

from symasd import solvers

N = 32                       # grid points per side: 2 * 32^2 = 2048 unknowns
A, B, ALPHA = 3.4, 1.0, 10.0
xs = np.linspace(0.0, 1.0, N)
X, Y = np.meshgrid(xs, xs, indexing="ij")
DISC = ((X - 0.3) ** 2 + (Y - 0.6) ** 2 <= 0.1**2).astype(float)   # where forcing acts


def laplacian(w):
    """Five-point Laplacian with periodic boundaries (np.roll is traced by symasd)."""
    return (np.roll(w, 1, 0) + np.roll(w, -1, 0) + np.roll(w, 1, 1) + np.roll(w, -1, 1)
            - 4 * w) * (N - 1) ** 2


def rhs(t, y):
    """Right-hand side in plain NumPy, SciPy's signature."""
    u, v = y[: N * N].reshape(N, N), y[N * N:].reshape(N, N)
    forcing = 5.0 * DISC * np.where(t >= 1.1, 1.0, 0.0)
    du = B + u * u * v - (A + 1) * u + ALPHA * laplacian(u) + forcing
    dv = A * u - u * u * v + ALPHA * laplacian(v)
    return np.concatenate([du.ravel(), dv.ravel()])


class Counted:
    """rhs, counting its evaluations (one per column when SciPy passes several)."""

    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, t, y):
        self.calls += 1 if y.ndim == 1 else y.shape[1]
        return self.f(t, y)


# Initial condition of the classic benchmark.
u0 = 22.0 * (Y * (1 - Y)) ** 1.5
v0 = 27.0 * (X * (1 - X)) ** 1.5
y0 = np.concatenate([u0.ravel(), v0.ravel()])
t_end = 3.0
options = dict(method="BDF", rtol=1e-6, atol=1e-8)

# 1. symasd: exact sparse Jacobian, prepared once (the preparation is in the time).
t0 = time.perf_counter()
sol = solvers.solve_ivp(rhs, (0.0, t_end), y0, **options)
t_symasd = time.perf_counter() - t0
print(f"symasd Jacobian:    {t_symasd:.2f} s (preparation {sol.prepare_time * 1e3:.0f} ms), "
      f"{sol.nfev} RHS evaluations (of the traced graph; rhs itself ran once, traced), "
      f"{sol.njev} Jacobians, {sol.nlu} LU factorizations")
assert sol.success

# 2. SciPy: finite differences, restricted to the pattern a user writes by hand.
idx = np.arange(N * N).reshape(N, N)          # grid point -> unknown number
rows = np.repeat(idx.ravel(), 5)
cols = np.stack([idx, np.roll(idx, 1, 0), np.roll(idx, -1, 0), np.roll(idx, 1, 1),
                 np.roll(idx, -1, 1)], axis=-1).ravel()
stencil = sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(N * N, N * N))
# each species sees its own stencil, and the other species at the same point
pattern = sp.kron(np.ones((2, 2)), sp.identity(N * N)) + sp.kron(sp.identity(2), stencil)
pattern = sp.csr_array(pattern != 0)

counted = Counted(rhs)
t0 = time.perf_counter()
ref = solve_ivp(counted, (0.0, t_end), y0, jac_sparsity=pattern, **options)
t_fd = time.perf_counter() - t0
print(f"finite differences: {t_fd:.2f} s, {counted.calls} RHS evaluations ({ref.nfev} by the "
      f"integrator, the rest by the differences), {ref.njev} Jacobians, {ref.nlu} LU "
      "factorizations")
assert ref.success
diff = np.abs(sol.y[:, -1] - ref.y[:, -1]).max()
print(f"max difference of the final states: {diff:.1e} (max |y| = {np.abs(ref.y).max():.1f}, "
      f"rtol = 1e-6); RHS evaluations {sol.nfev} vs {counted.calls}")
assert diff < 1e-3
assert sol.nfev < counted.calls

# 3. Independent checks of the Jacobian: the pattern symasd found is the stencil's,
#    and its values agree with central differences.
problem = solvers.IVPProblem(rhs, y0)
jac = problem.jacobian
assert (pattern != jac.sparsity).nnz == 0
print(f"symasd's pattern equals the hand-written stencil: {jac.nnz} nonzeros, "
      f"{jac.ncolors} compressed products instead of {jac.shape[1]}")
rng = np.random.default_rng(0)
yt = y0 + 0.1 * rng.standard_normal(y0.size)
J = jac(yt, np.array([2.0]))
step = 1e-6
for j in rng.choice(y0.size, 20, replace=False):
    e = np.zeros(y0.size)
    e[j] = step
    col = (rhs(2.0, yt + e) - rhs(2.0, yt - e)) / (2 * step)
    assert np.abs(J[:, [j]].toarray().ravel() - col).max() < 1e-6 * np.abs(col).max()
print("Jacobian columns agree with central differences")
