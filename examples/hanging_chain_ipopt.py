"""The hanging chain (COPS problem 1) solved by IPOPT with the exact Hessian
of the Lagrangian, prepared by symasd from plain NumPy functions.

A chain of length L = 4 hangs between the heights a = 1 at t = 0 and b = 3 at
t = 1; it takes the shape x(t) of least potential energy:

    minimize   int_0^1 x sqrt(1 + x'^2) dt
    subject to int_0^1 sqrt(1 + x'^2) dt = L,   x(0) = a,   x(1) = b.

Direct transcription as in the COPS collection (Dolan, More & Munson, 2004):
the heights x_j and slopes u_j at nh + 1 grid points, the trapezoidal rule for
both integrals and the collocation constraints x_j - x_{j-1} = h (u_j +
u_{j-1}) / 2. IPOPT gets the gradient, the sparse constraint Jacobian and
the sparse Hessian of sigma f + lambda . g, which symasd prepares once with
sigma and lambda as parameters.

The answer is checked against the continuous solution, the catenary
x(t) = C cosh((t - t0) / C) + D, found independently with SciPy's fsolve:
the discrete optimum approaches it as the grid is refined.

Run: python examples/hanging_chain_ipopt.py       (needs pip install "symasd[ipopt]")
"""
# requires: cyipopt

import time

import numpy as np
from scipy.integrate import quad
from scipy.optimize import Bounds, NonlinearConstraint, fsolve

from symasd import solvers

A, B, L = 1.0, 3.0, 4.0


def chain(nh):
    """The transcription on nh intervals: objective, constraints, start, bounds."""
    h = 1.0 / nh
    t = np.linspace(0.0, 1.0, nh + 1)

    def trapezoid(w):
        return h * (np.sum(w) - 0.5 * (w[0] + w[-1]))

    def energy(z):
        x, u = z[: nh + 1], z[nh + 1:]
        return trapezoid(x * np.sqrt(1.0 + u ** 2))

    def constraints(z):
        x, u = z[: nh + 1], z[nh + 1:]
        collocation = x[1:] - x[:-1] - 0.5 * h * (u[1:] + u[:-1])
        length = trapezoid(np.sqrt(1.0 + u ** 2)) - L
        return np.concatenate([collocation, length[None]])

    # the COPS starting point: a parabola through the end points
    tmin = 0.25 if B > A else 0.75
    z0 = np.concatenate([4.0 * abs(B - A) * t * (0.5 * t - tmin) + A,
                         4.0 * abs(B - A) * (t - tmin)])
    lb, ub = np.full(z0.size, -np.inf), np.full(z0.size, np.inf)
    lb[0] = ub[0] = A                 # x(0) = a and x(1) = b: fixed variables
    lb[nh] = ub[nh] = B
    return t, energy, NonlinearConstraint(constraints, 0.0, 0.0), z0, Bounds(lb, ub)


# The continuous solution: the catenary through (0, a) and (1, b) with arc length L.
def catenary(p):
    C, s = p
    return [C * (np.sinh((1 - s) / C) + np.sinh(s / C)) - L,
            C * (np.cosh((1 - s) / C) - np.cosh(s / C)) - (B - A)]


C, S = fsolve(catenary, [0.5, 0.5], xtol=1e-13)
D = A - C * np.cosh(-S / C)
ENERGY = quad(lambda tt: (C * np.cosh((tt - S) / C) + D) * np.cosh((tt - S) / C), 0.0, 1.0,
              epsabs=1e-13)[0]
print(f"catenary: C = {C:.6f}, t0 = {S:.6f}, D = {D:.6f}, energy {ENERGY:.8f}")

errors = []
for nh in (100, 200, 400):
    t, energy, cons, z0, bounds = chain(nh)
    t0 = time.perf_counter()
    problem = solvers.MinimizeProblem(energy, z0, constraints=cons)
    r = problem.solve(method="ipopt", bounds=bounds)
    assert r.success, r.message
    x = r.x[: nh + 1]
    shape_err = np.abs(x - (C * np.cosh((t - S) / C) + D)).max()
    errors.append((abs(r.fun - ENERGY), shape_err))
    H = problem.nlp.lagrangian_hessian
    print(f"nh = {nh} ({z0.size} unknowns): {r.nit} IPOPT iterations, "
          f"{time.perf_counter() - t0:.2f} s with preparation; energy {r.fun:.8f}, "
          f"error {errors[-1][0]:.1e}; max |x - catenary| = {shape_err:.1e}; Lagrangian "
          f"Hessian {H.nnz} nonzeros from {H.ncolors} Hessian-vector products")

# refining the grid brings the discrete optimum to the catenary
for (e1, s1), (e2, s2) in zip(errors, errors[1:], strict=False):
    assert e2 < e1 / 2 and s2 < s1 / 2
assert errors[-1][0] < 2e-4 and errors[-1][1] < 2e-2

# The multipliers satisfy the KKT conditions: the gradient of the Lagrangian vanishes
# at the free variables (x_0 and x_nh are fixed).
_, g = problem.nlp.value_and_gradient(r.x, ())
kkt = g + problem.nlp.jacobian(r.x).T @ r.mult_g - r.mult_x_L + r.mult_x_U
free = np.delete(np.arange(r.x.size), [0, nh])
print(f"KKT residual at the free variables: {np.abs(kkt[free]).max():.1e}")
assert np.abs(kkt[free]).max() < 1e-6

# Without the exact Hessian: IPOPT's limited-memory quasi-Newton approximation on the
# same prepared problem (no Hessian evaluated) needs many more iterations.
q = problem.solve(method="ipopt", bounds=bounds,
                  options={"hessian_approximation": "limited-memory", "max_iter": 3000})
print(f"nh = {nh} with limited-memory BFGS instead: {q.nit} iterations (exact Hessian: "
      f"{r.nit}), energy {q.fun:.8f}")
assert q.nit > 3 * r.nit
