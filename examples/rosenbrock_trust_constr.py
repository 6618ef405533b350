"""Minimize the chained Rosenbrock function with SciPy's trust-constr method
and the exact sparse Hessian: symasd.solvers.minimize.

    f(x) = sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2

Only f is written; the solver receives the exact gradient and the sparse
(tridiagonal) Hessian, computed with 3 Hessian-vector products (a star
coloring) whatever the dimension. The same method with SciPy's hand-written
derivatives (rosen_der, rosen_hess) is the reference, and a bound constraint
shows the multipliers.

Run: python examples/rosenbrock_trust_constr.py
"""

import time

import numpy as np
from scipy.optimize import Bounds, minimize, rosen, rosen_der, rosen_hess

from symasd import solvers


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


n = 100
# Start at 0. (From the classic (-1.2, 1, -1.2, 1, ...) the chained function
# leads to its other local minimizer, near x[0] = -1, where f is about 3.99.)
x0 = np.zeros(n)
options = {"gtol": 1e-10, "xtol": 1e-14}

problem = solvers.MinimizeProblem(rosenbrock, x0)
t0 = time.perf_counter()
r = problem.solve(options=options)
print(f"symasd: {time.perf_counter() - t0:.2f} s (preparation {r.prepare_time:.3f} s), "
      f"{r.nit} iterations, status {r.status}: {r.message}")
print(f"  f = {r.fun:.3e}, max |x - 1| = {np.abs(r.x - 1).max():.1e}")
assert np.abs(r.x - 1.0).max() < 1e-6          # the minimizer is x = (1, ..., 1)
H = problem.nlp.lagrangian_hessian
print(f"  Hessian {H.shape}, {H.nnz} nonzeros, mode {H.mode}, {H.ncolors} Hessian-vector "
      f"products instead of {n}")

# Independent check: value, gradient and Hessian against SciPy's hand-written ones.
x = np.random.default_rng(0).uniform(-2, 2, n)
v, g = problem.nlp.value_and_gradient(x, ())
Hx = problem.nlp.hessian(x, 1.0, [], ())
assert np.isclose(v, rosen(x), rtol=1e-13)
assert np.allclose(g, rosen_der(x), rtol=1e-12, atol=1e-9)
assert np.allclose(Hx.toarray(), rosen_hess(x), rtol=1e-12, atol=1e-9)
print("value, gradient and Hessian agree with scipy.optimize.rosen_der / rosen_hess")

# The same method with the hand-written derivatives takes nearly the same path (the
# rounding of the two Hessians differs, and over hundreds of iterations it shows).
t0 = time.perf_counter()
ref = minimize(rosen, x0, method="trust-constr", jac=rosen_der, hess=rosen_hess,
               options=options)
print(f"SciPy with rosen_der / rosen_hess: {time.perf_counter() - t0:.2f} s, {ref.nit} "
      f"iterations, max |x - 1| = {np.abs(ref.x - 1).max():.1e}")
assert abs(ref.nit - r.nit) <= 0.05 * ref.nit and np.abs(ref.x - 1.0).max() < 1e-6

# With a bound x[0] <= 0.5 the minimizer moves; the bound's multiplier is positive, and
# the gradient equals minus the bound multipliers there (grad f + mult_x_U = 0).
b = problem.solve(bounds=Bounds(-np.inf, np.r_[0.5, np.full(n - 1, np.inf)]), options=options)
_, gb = problem.nlp.value_and_gradient(b.x, ())
print(f"with x[0] <= 0.5: f = {b.fun:.6f}, x[0] = {b.x[0]:.6f}, multiplier of the bound "
      f"{b.mult_x_U[0]:.4f}, max |grad f + mult_x_U - mult_x_L| = "
      f"{np.abs(gb + b.mult_x_U - b.mult_x_L).max():.1e}")
assert b.x[0] <= 0.5 + 1e-6 and b.mult_x_U[0] > 0
assert np.abs(gb + b.mult_x_U - b.mult_x_L).max() < 1e-5
