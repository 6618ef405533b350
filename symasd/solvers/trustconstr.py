"""``minimize(method="trust-constr")``: SciPy's trust-region interior-point /
SQP method with the exact gradient, the exact sparse Hessian of the
objective, the stacked sparse constraint Jacobian and the exact constraint
Hessian ``sum_i v_i H_{g_i}``, all from one :class:`~symasd.solvers.nlp.NLP`.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize
from scipy.optimize import Bounds, LinearConstraint, NonlinearConstraint, OptimizeResult

from .nlp import NLP
from .prepare import scipy_call

__all__ = ["solve"]


def solve(nlp: NLP, x0f: np.ndarray, params: tuple, bounds, tol, options: dict | None,
          callback) -> OptimizeResult:
    """Run ``scipy.optimize.minimize(method="trust-constr")`` on ``nlp`` from the
    flat ``x0f``; ``bounds`` is ``(lb, ub, keep_feasible)`` or None. The result is
    SciPy's, with the multipliers also as ``mult_g`` (stacked, internal order),
    ``mult_x_L`` and ``mult_x_U`` (IPOPT's convention: ``grad f + J^T mult_g -
    mult_x_L + mult_x_U = 0``, both bound multipliers >= 0).

    Example
    -------
    >>> import numpy as np
    >>> from symasd.solvers.constraints import ConstraintSet
    >>> from symasd.solvers.nlp import NLP
    >>> from symasd.solvers.prepare import Arguments
    >>> from symasd.solvers import trustconstr
    >>> nlp = NLP(lambda x: np.sum((x - 3.0) ** 2), np.zeros(2), Arguments(()),
    ...           ConstraintSet((), (2,)), "tape")
    >>> r = trustconstr.solve(nlp, np.zeros(2), (), None, None, None, None)
    >>> np.round(r.x, 6)
    array([3., 3.])
    """
    n_nl = nlp.constraints.m_nonlinear
    zeros = np.zeros(n_nl)

    def fun(x):
        return nlp.value(x, params)

    def jac(x):
        return nlp.gradient(x, params)

    def hess(x):
        return nlp.hessian(x, 1.0, zeros, params)

    cs = nlp.constraints
    constraints = []
    if nlp.m and n_nl:
        constraints = [NonlinearConstraint(nlp.constraint_values, cs.cl, cs.cu, jac=nlp.jacobian,
                                           hess=lambda x, v: nlp.hessian(x, 0.0, v, params),
                                           keep_feasible=cs.keep_feasible)]
    elif nlp.m:
        constraints = [LinearConstraint(cs.A, cs.cl, cs.cu, keep_feasible=cs.keep_feasible)]
    scipy_bounds = None if bounds is None else Bounds(bounds[0], bounds[1], bounds[2])
    with scipy_call("scipy.optimize.minimize(method='trust-constr')"):
        try:
            result = optimize.minimize(fun, x0f, method="trust-constr", jac=jac, hess=hess,
                                       bounds=scipy_bounds, constraints=constraints, tol=tol,
                                       options=options, callback=callback)
        except ValueError as err:
            if _UNBOUNDED not in str(err):
                raise
            return _unbounded(nlp, x0f, params)
    v = list(result.get("v", []))
    result.mult_g = np.asarray(v[0], dtype=np.float64) if constraints else np.zeros(0)
    # SciPy appends the bounds as one more constraint (identity Jacobian)
    vb = np.asarray(v[-1], dtype=np.float64) if scipy_bounds is not None and v else np.zeros(nlp.n)
    result.mult_x_L = np.maximum(-vb, 0.0)
    result.mult_x_U = np.maximum(vb, 0.0)
    return result


# what SciPy's trust-constr raises (a ValueError) when it meets negative curvature
# on a problem without constraints or bounds: one without a minimum, usually
_UNBOUNDED = "Negative curvature not allowed for unrestricted problems"


def _unbounded(nlp: NLP, x0f: np.ndarray, params: tuple) -> OptimizeResult:
    """The result of a solve that SciPy gave up on at negative curvature: not an
    error of the caller's, a problem that may have no minimum (``success=False``,
    ``x`` the starting point)."""
    x = np.array(x0f, dtype=np.float64)
    return OptimizeResult(
        x=x, fun=nlp.value(x, params), success=False, status=-1, nit=0,
        message="trust-constr stopped where SciPy's unconstrained trust region found no "
                "positive curvature (it allows none without constraints or bounds): the "
                "objective may have no minimum; add bounds or constraints, or start "
                "elsewhere",
        v=[], mult_g=np.zeros(0), mult_x_L=np.zeros(nlp.n), mult_x_U=np.zeros(nlp.n))
