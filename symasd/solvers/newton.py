"""Newton's method for ``F(x) = 0`` with a sparse Jacobian and a line search.

Each iteration factorizes the Jacobian (:class:`~symasd.solvers.linalg.SparseLU`:
the structure never changes, so the ordering is computed once per solve),
takes the Newton step ``dx = -J^{-1} F`` and backtracks along it until the
residual norm decreases enough (Armijo on ``||F||_2``: ``||F(x + t dx)|| <=
(1 - 1e-4 t) ||F(x)||``, halving ``t``). Trial points where ``F`` is not
finite count as failures of the line search, so a step into a region where
the model is undefined (``log`` of a negative number) is shortened, not taken.

It never raises for a problem that does not converge: the result says why it
stopped (``status``):

==  ==========================================================================
 1  converged: ``max |F| <= fatol``
 2  converged: a full Newton step was smaller than ``xtol * (1 + max |x|)``
 0  the iteration limit ``maxiter`` was reached
-1  no progress: the line search could not reduce ``||F||`` (a local minimum
    of ``||F||`` that is not a root, or no root at all)
-2  the Jacobian is singular
-3  ``F(x0)`` is not finite
==  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import OptimizeResult

from ..errors import InputError
from .linalg import SingularMatrixError, SparseLU
from .prepare import tolerance

__all__ = ["newton", "OPTIONS"]

# the defaults of the options; ``tol`` of :func:`symasd.solvers.root` sets fatol
OPTIONS = {
    "maxiter": 50,          # Newton iterations
    "fatol": 1e-10,         # convergence: max |F| <= fatol
    "xtol": 1e-12,          # convergence: full step <= xtol * (1 + max |x|)
    "line_search": True,    # False: always take the full Newton step
    "min_step": 1e-10,      # the line search gives up below this step fraction
    "permc_spec": None,     # SuperLU column ordering; None: by the structure
    "diag_pivot_thresh": None,  # SuperLU's pivoting threshold; None: its default
}

_MESSAGES = {
    1: "converged: max |F(x)| <= fatol",
    2: "converged: the Newton step is below xtol",
    0: "the iteration limit maxiter was reached",
    -1: "no progress: the line search could not reduce |F(x)|; the system may have no "
        "root near x0 (x is a local minimizer of |F|)",
    -2: "the Jacobian is singular",
    -3: "F(x0) is not finite (NaN or inf)",
}


def options_with(options: dict | None, tol: float | None) -> dict:
    """The Newton options: defaults, ``tol`` (as ``fatol``), then ``options``;
    unknown names are an :class:`~symasd.errors.InputError`."""
    opts = dict(OPTIONS)
    if tol is not None:
        opts["fatol"] = tolerance(tol)
    if options:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise InputError(f"unknown option(s) {', '.join(map(repr, unknown))} of "
                             f"method='newton'; it takes {', '.join(OPTIONS)}")
        opts.update(options)
    for name in ("fatol", "xtol", "min_step"):
        opts[name] = tolerance(opts[name], f"option {name}")
    maxiter = opts["maxiter"]
    whole = (isinstance(maxiter, int | np.integer | float | np.floating)
             and not isinstance(maxiter, bool) and float(maxiter).is_integer())
    if not whole or maxiter < 0:
        raise InputError(f"option maxiter must be a whole number >= 0, got {maxiter!r}")
    opts["maxiter"] = int(maxiter)
    return opts


def newton(residual: Callable[[np.ndarray], np.ndarray],
           jacobian: Callable[[np.ndarray], object], x0: np.ndarray,
           lu: SparseLU, options: dict) -> OptimizeResult:
    """Solve ``residual(x) = 0`` from the flat float64 ``x0``.

    ``jacobian(x)`` returns a ``csr_array`` with the structure ``lu`` was made
    for; ``options`` as returned by :func:`options_with`. Returns an
    ``OptimizeResult`` with ``x``, ``fun`` (flat), ``success``, ``status``,
    ``message``, ``nit``, ``nfev``, ``njev`` and ``nfactor``.

    Example
    -------
    >>> import numpy as np, scipy.sparse as sp
    >>> from symasd.solvers.linalg import SparseLU
    >>> from symasd.solvers.newton import newton, options_with
    >>> F = lambda x: x ** 2 - np.array([4.0, 9.0])
    >>> J = lambda x: sp.csr_array(sp.diags_array(2 * x))
    >>> lu = SparseLU(np.array([0, 1, 2]), np.array([0, 1]), (2, 2))
    >>> r = newton(F, J, np.ones(2), lu, options_with(None, None))
    >>> r.x, r.status
    (array([2., 3.]), 1)
    """
    maxiter = int(options["maxiter"])
    fatol, xtol = float(options["fatol"]), float(options["xtol"])
    min_step = float(options["min_step"])
    search = bool(options["line_search"])
    x = np.array(x0, dtype=np.float64)
    # trial points far out may overflow: that is a failed trial, not a warning
    with np.errstate(over="ignore", invalid="ignore"):
        return _newton(residual, jacobian, x, lu, maxiter, fatol, xtol, min_step, search)


def _newton(residual, jacobian, x, lu, maxiter, fatol, xtol, min_step, search):
    F = residual(x)
    nfev, njev, nit = 1, 0, 0
    status = 0
    if not np.isfinite(F).all():
        status = -3
    else:
        norm = np.linalg.norm(F)
        while True:
            if np.max(np.abs(F), initial=0.0) <= fatol:
                status = 1
                break
            if nit >= maxiter:
                status = 0
                break
            J = jacobian(x)
            njev += 1
            try:
                lu.factorize(J.data)
                dx = lu.solve(-F)
            except SingularMatrixError:
                status = -2
                break
            if np.max(np.abs(dx), initial=0.0) <= xtol * (1.0 + np.max(np.abs(x))):
                # converged by step: a step this small is rounding noise, and a line
                # search on it would fail (no decrease) and report no progress
                xt = x + dx
                Ft = residual(xt)
                nfev += 1
                nit += 1
                if np.isfinite(Ft).all() and np.linalg.norm(Ft) <= norm:
                    x, F = xt, Ft
                status = 1 if np.max(np.abs(F), initial=0.0) <= fatol else 2
                break
            t = 1.0
            while True:
                xt = x + t * dx
                Ft = residual(xt)
                nfev += 1
                if not search:
                    break
                if np.isfinite(Ft).all():
                    norm_t = np.linalg.norm(Ft)
                    if norm_t <= (1.0 - 1e-4 * t) * norm:
                        break
                t *= 0.5
                if t < min_step:
                    break
            if search and t < min_step:
                status = -1
                break
            if not np.isfinite(Ft).all():   # no line search: the full step left the domain
                status = -1
                break
            nit += 1
            full_step = t == 1.0
            x, F = xt, Ft
            norm = np.linalg.norm(F)
            if full_step and np.max(np.abs(dx)) <= xtol * (1.0 + np.max(np.abs(x))):
                status = 1 if np.max(np.abs(F), initial=0.0) <= fatol else 2
                break
    message = _MESSAGES[status]
    if status == -2:
        message = _singular_message(lu)
    return OptimizeResult(x=x, fun=F, success=status > 0, status=status, message=message,
                          nit=nit, nfev=nfev, njev=njev, nfactor=lu.factorizations)


def _singular_message(lu: SparseLU) -> str:
    rows, cols = lu.empty_rows(), lu.empty_columns()
    if rows.size:
        return (f"the Jacobian is singular: structurally, since equation(s) "
                f"{_few(rows)} depend on no unknown")
    if cols.size:
        return (f"the Jacobian is singular: structurally, since unknown(s) {_few(cols)} "
                "appear in no equation")
    return "the Jacobian is singular at the current point"


def _few(idx: np.ndarray) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:5])
    return shown + (f" and {idx.size - 5} more" if idx.size > 5 else "")
