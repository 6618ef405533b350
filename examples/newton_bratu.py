"""The 2D Bratu problem on a 256 x 256 grid by Newton's method with the exact
sparse Jacobian: symasd.solvers.root.

Find u on the unit square with u = 0 on the boundary and

    -lap(u) = lam * exp(u),

discretized with the five-point stencil on N x N interior points (65,536
unknowns). The residual is written once in NumPy; solvers.root traces it,
prepares the sparse Jacobian (pattern, coloring, derivative) and runs Newton
with a sparse direct solve (its fill-reducing ordering computed once per
solve: the structure never changes) and a line search. A RootProblem
prepares once and solves for several lam (a continuation: each solve starts
from the last solution). Past the turning point lam* ~ 6.81 the problem has
no solution, and Newton says so instead of raising.

Run: python examples/newton_bratu.py
"""

import time

import numpy as np
import scipy.sparse as sp

from symasd import solvers

N = 256
h = 1.0 / (N + 1)


def residual(u, lam):
    """F(u) = -lap(u) - lam exp(u); ``lam`` is a parameter (a float array)."""
    U = np.pad(u.reshape(N, N), 1)              # zero Dirichlet boundary
    lap = (U[:-2, 1:-1] + U[2:, 1:-1] + U[1:-1, :-2] + U[1:-1, 2:]
           - 4 * U[1:-1, 1:-1]) / h**2
    return (-lap - lam[0] * np.exp(U[1:-1, 1:-1])).ravel()


# One solve, as scipy.optimize.root would be called.
t0 = time.perf_counter()
r = solvers.root(residual, np.zeros(N * N), args=(np.array([6.0]),))
print(f"lam = 6: {r.message} after {r.nit} Newton steps, {time.perf_counter() - t0:.2f} s "
      f"(preparation {r.prepare_time:.2f} s), max u = {r.x.max():.6f}")
assert r.success

# A continuation in lam with one preparation.
problem = solvers.RootProblem(residual, np.zeros(N * N), args=(np.array([1.0]),))
jac = problem.jacobian
print(f"prepared once in {problem.prepare_time:.2f} s: Jacobian {jac.shape}, {jac.nnz} "
      f"nonzeros, {jac.ncolors} compressed products (mode {jac.mode})")
u = np.zeros(N * N)
for lam in (2.0, 4.0, 6.0):
    t0 = time.perf_counter()
    s = problem.solve(x0=u, args=(np.array([lam]),))
    assert s.success        # (only the first solve reports the preparation time)
    u = s.x
    print(f"lam = {lam}: {s.nit} Newton steps in {time.perf_counter() - t0:.2f} s, "
          f"max u = {u.max():.6f}")
np.testing.assert_allclose(u, r.x, atol=1e-9)

# Past the turning point there is no solution: the solver stops and says why.
t0 = time.perf_counter()
s = problem.solve(x0=u, args=(np.array([7.0]),), options={"maxiter": 15})
print(f"lam = 7: success = {s.success} after {s.nit} steps, {time.perf_counter() - t0:.2f} s: "
      f"{s.message}")
assert not s.success

# Independent check 1: the Jacobian against the one written by hand,
# J = -L - lam diag(exp(u)) with L the 2D Laplacian (Kronecker sums).
lam = np.array([6.0])
T = sp.diags_array([1.0, -2.0, 1.0], offsets=[-1, 0, 1], shape=(N, N)) / h**2
Lap = sp.kron(sp.identity(N), T) + sp.kron(T, sp.identity(N))
J_ref = -Lap - lam[0] * sp.diags_array(np.exp(u))
err = abs(jac(u, lam) - J_ref).max()
print(f"max difference to the hand-written Jacobian: {err:.1e}")
assert err < 1e-9 * abs(J_ref).max()

# Check 2: the residual with the hand-written operator is zero at the solution.
assert np.abs(-Lap @ u - lam[0] * np.exp(u)).max() < 1e-8
# Check 3: the problem is symmetric under the square's reflections, so is u.
Us = u.reshape(N, N)
assert np.allclose(Us, Us.T) and np.allclose(Us, Us[::-1]) and np.allclose(Us, Us[:, ::-1])
