"""The 2D Bratu problem solved by Newton's method with a sparse Jacobian.

Find u on the unit square with u = 0 on the boundary and

    -lap(u) = lam * exp(u),

discretized with the five-point stencil on an N x N grid of interior points.
Newton's method needs the Jacobian of the residual at every iterate; symasd
prepares it once (pattern, coloring, compiled derivative) and each iteration
only evaluates it and calls a sparse direct solver.

Run: python examples/newton_bratu.py
"""

import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

import symasd

N = 40                          # interior points per side: 1600 unknowns
h = 1.0 / (N + 1)


def residual(u, lam):
    """F(u) = -lap(u) - lam * exp(u); ``lam`` is a parameter (shape (1,))."""
    U = np.pad(u.reshape(N, N), 1)              # zero Dirichlet boundary
    lap = (U[:-2, 1:-1] + U[2:, 1:-1] + U[1:-1, :-2] + U[1:-1, 2:]
           - 4 * U[1:-1, 1:-1]) / h**2
    return (-lap - lam[0] * np.exp(U[1:-1, 1:-1])).ravel()


lam = np.array([6.0])           # below the turning point lam* ~ 6.81
u = np.zeros(N * N)

t0 = time.perf_counter()
jac = symasd.jacobian(residual, u, lam)
print(f"prepared in {time.perf_counter() - t0:.3f} s")
print("\n".join(str(jac).splitlines()[:4]))     # print(jac) also draws the pattern

# Newton: solve J(u) du = -F(u); value_and_jacobian shares the work of both.
for it in range(20):
    F, J = jac.value_and_jacobian(u, lam)
    norm = np.linalg.norm(F) * h               # discrete L2 norm
    print(f"iteration {it}: |F| = {norm:.3e}")
    if norm < 1e-10:
        break
    u -= spsolve(J.tocsc(), F)
assert norm < 1e-10, "Newton did not converge"
print(f"max u = {u.max():.6f} after {it} Newton steps")

# Independent check 1: the Jacobian against the one written by hand,
# J = -L - lam * diag(exp(u)) with L the 2D Laplacian (Kronecker sums).
T = sp.diags_array([1.0, -2.0, 1.0], offsets=[-1, 0, 1], shape=(N, N)) / h**2
L = sp.kron(sp.identity(N), T) + sp.kron(T, sp.identity(N))
J_ref = -L - lam[0] * sp.diags_array(np.exp(u))
err = abs(jac(u, lam) - J_ref).max()
print(f"max difference to the hand-written Jacobian: {err:.1e}")
assert err < 1e-8 * abs(J_ref).max()

# Independent check 2: the residual with the hand-written operator is zero.
assert np.linalg.norm(-L @ u - lam[0] * np.exp(u)) * h < 1e-9
# Check 3: the problem is symmetric under the square's reflections, so is u.
Us = u.reshape(N, N)
assert np.allclose(Us, Us.T) and np.allclose(Us, Us[::-1]) and np.allclose(Us, Us[:, ::-1])
