"""Minimize the chained Rosenbrock function with SciPy's trust-constr method,
using the gradient and the sparse Hessian prepared by symasd.

    f(x) = sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2

Its Hessian is tridiagonal: 3 Hessian-vector products (star coloring) or 2
(acyclic coloring) give the whole matrix, whatever the dimension.

Run: python examples/rosenbrock_trust_constr.py
"""

import time

import numpy as np
from scipy.optimize import minimize, rosen, rosen_der, rosen_hess

import symasd


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


n = 100
# Start at 0. (From the classic (-1.2, 1, -1.2, 1, ...) the chained function
# leads to its other local minimizer, near x[0] = -1, where f is about 3.99.)
x0 = np.zeros(n)

t0 = time.perf_counter()
hes = symasd.hessian(rosenbrock, x0)
print(f"prepared in {time.perf_counter() - t0:.3f} s: {hes.shape} Hessian, {hes.nnz} "
      f"nonzeros, mode={hes.mode}, {hes.ncolors} HVPs instead of {n}")

# Independent check against SciPy's hand-written derivatives of the same function.
x = np.random.default_rng(0).uniform(-2, 2, n)
v, g, H = hes.value_gradient_and_hessian(x)
assert np.isclose(v, rosen(x), rtol=1e-13)
assert np.allclose(g, rosen_der(x), rtol=1e-12, atol=1e-9)
assert np.allclose(H.toarray(), rosen_hess(x), rtol=1e-12, atol=1e-9)
print("value, gradient and Hessian agree with scipy.optimize.rosen_der / rosen_hess")

# The star and acyclic colorings give the same matrix.
H_acyclic = symasd.hessian(rosenbrock, x0, mode="acyclic")(x)
print(f"acyclic coloring: {symasd.hessian(rosenbrock, x0, mode='acyclic').ncolors} HVPs, "
      f"max difference {abs(H_acyclic - H).max():.1e}")
assert abs(H_acyclic - H).max() < 1e-9 * abs(H).max()


# trust-constr asks for the gradient and the Hessian at (usually) the same
# points: compute all three in one call and remember the last point.
class Derivatives:
    def __init__(self, prepared):
        self.prepared = prepared
        self.x = None

    def _update(self, x):
        if self.x is None or not np.array_equal(x, self.x):
            self.x = x.copy()
            self.v, self.g, self.H = self.prepared.value_gradient_and_hessian(x)

    def fun(self, x):
        self._update(x)
        return self.v

    def grad(self, x):
        self._update(x)
        return self.g

    def hess(self, x):
        self._update(x)
        return self.H                 # a scipy.sparse.csr_array


d = Derivatives(hes)
t0 = time.perf_counter()
res = minimize(d.fun, x0, method="trust-constr", jac=d.grad, hess=d.hess,
               options={"gtol": 1e-10, "xtol": 1e-14})
print(f"trust-constr: {time.perf_counter() - t0:.2f} s, {res.nit} iterations, "
      f"{res.njev} gradients, {res.nhev} Hessians, status {res.status}: {res.message}")
print(f"f = {res.fun:.3e}, max |x - 1| = {np.abs(res.x - 1).max():.1e}")
assert np.abs(res.x - 1.0).max() < 1e-6          # the minimizer is x = (1, ..., 1)
