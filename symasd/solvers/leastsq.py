"""``least_squares``: SciPy's nonlinear least squares with the exact Jacobian of
the residuals, and its prepared form :class:`LeastSquaresProblem`.

The Jacobian goes to ``scipy.optimize.least_squares`` as a sparse matrix with
a fixed structure, so its trust-region reflective method (``"trf"``, the
default) solves the subproblems with LSMR. Small problems (at most 200
unknowns and 4 million Jacobian entries) get the same Jacobian as a dense
array instead, with SciPy's ``tr_solver="exact"``, as SciPy itself does with
finite differences: an SVD of a small dense matrix is cheaper and more
accurate than the iterative solve. A ``tr_solver`` or ``method="lm"`` given
by the caller decides instead (``"exact"`` and ``"lm"`` need a dense matrix).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize
from scipy.optimize import OptimizeResult

from ..api import jacobian as prepare_jacobian
from ..errors import InputError
from .bounds import flat_bounds
from .prepare import (
    Arguments,
    Stopwatch,
    check_x0,
    function,
    resolve_engine,
    scipy_call,
    tracing,
)

__all__ = ["least_squares", "LeastSquaresProblem"]

# computed by symasd: a caller's value would be ignored, so it is refused
_OURS = ("jac", "jac_sparsity", "args")
DENSE_MAX_UNKNOWNS = 200
DENSE_MAX_ENTRIES = 4_000_000


class LeastSquaresProblem:
    """``min 0.5 * sum(fun(x, *args) ** 2)`` prepared once, solved again for new
    starting points, parameters and SciPy options without tracing again.

    ``kwargs`` are keyword arguments of ``fun`` (static, as SciPy's
    ``kwargs``). ``engine`` as in :class:`~symasd.solvers.RootProblem`.

    Example
    -------
    >>> import numpy as np
    >>> from symasd import solvers
    >>> t = np.linspace(0.0, 1.0, 20)
    >>> def residual(p, y):
    ...     return p[0] * np.exp(-p[1] * t) - y
    >>> fit = solvers.LeastSquaresProblem(residual, np.ones(2), args=(np.zeros(20),))
    >>> r = fit.solve(args=(3.0 * np.exp(-2.0 * t),))
    >>> np.round(r.x, 8)
    array([3., 2.])
    >>> np.round(fit.solve(args=(np.exp(-0.5 * t),)).x, 8)
    array([1. , 0.5])
    """

    def __init__(self, fun: Callable, x0, args=(), kwargs: dict | None = None,
                 engine: str = "auto", *, _reuse=True):
        watch = Stopwatch()
        with watch("prepare"):
            self.fun = function(fun, "fun")
            x0 = check_x0(x0)
            self.input_shape = x0.shape
            self.arguments = Arguments(args)
            if kwargs is not None and not isinstance(kwargs, dict):
                raise InputError(f"kwargs must be a dict of keyword arguments of fun, got "
                                 f"{type(kwargs).__name__}")
            fixed = dict(kwargs or {})
            self.engine = resolve_engine(engine, reuse=_reuse)
            a = self.arguments

            def traced(x, *params):
                return self.fun(x, *a.full(params), **fixed)

            with tracing("fun", x0.shape, a):
                self.jacobian = prepare_jacobian(traced, x0, *a.initial, engine=self.engine)
        self.prepare_time = watch.seconds["prepare"]
        self._x0 = x0
        self._fresh = True

    def solve(self, x0=None, args=None, **kwargs) -> OptimizeResult:
        """Run ``scipy.optimize.least_squares`` from ``x0`` (default: the point of
        preparation) with ``args`` (default: those of preparation); every other
        keyword argument of SciPy's passes through (``bounds``, ``method``,
        ``loss``, ``f_scale``, ``x_scale``, ``ftol``, ``xtol``, ``gtol``,
        ``max_nfev``, ``tr_solver``, ``tr_options``, ``verbose``, ``callback`` ...),
        except ``jac`` and ``jac_sparsity``, which symasd supplies.

        The result is SciPy's with ``x`` shaped like ``x0``, and
        ``prepare_time`` (0.0 when reused) and ``solve_time`` in seconds.
        """
        for name in _OURS:
            if name in kwargs:
                raise InputError(f"least_squares: {name}= is supplied by symasd (the exact "
                                 "Jacobian of fun, traced once); call "
                                 "scipy.optimize.least_squares directly to give your own")
        x = self._x0 if x0 is None else check_x0(x0)
        if x.shape != self.input_shape:
            raise InputError(f"x0 has shape {x.shape}, but the problem was prepared with shape "
                             f"{self.input_shape}; pass a point of that shape (or prepare "
                             "a new problem)")
        params = self.arguments.initial if args is None else self.arguments.parameters(args)
        bounds = flat_bounds(kwargs.pop("bounds", None), self.input_shape, pairs=False,
                             strict=True)
        xf = x.ravel()
        if bounds is not None:
            outside = np.flatnonzero((xf < bounds[0]) | (xf > bounds[1]))
            if outside.size:
                i = int(outside[0])
                raise InputError(f"x0 is outside the bounds: x0[{i}] = {xf[i]} is not in "
                                 f"[{bounds[0][i]}, {bounds[1][i]}]")
            if kwargs.get("method") == "lm" and not (np.isinf(bounds[0]).all()
                                                      and np.isinf(bounds[1]).all()):
                raise InputError("method='lm' does not take bounds; use method='trf' (the "
                                 "default) or 'dogbox'")
            kwargs["bounds"] = bounds
        jac, shape = self.jacobian, self.input_shape
        m, n = jac.shape
        dense = (kwargs.get("method") == "lm" or kwargs.get("tr_solver") == "exact"
                 or (kwargs.get("tr_solver") is None and n <= DENSE_MAX_UNKNOWNS
                     and m * n <= DENSE_MAX_ENTRIES))
        if kwargs.get("method") == "lm" and m < n:
            raise InputError(f"method='lm' needs at least as many residuals as unknowns; fun "
                             f"returns {m} residuals for {n} unknowns: use method='trf'")

        def residuals(xf):
            return jac.graph(xf.reshape(shape), *params).ravel()

        if dense:
            def jacobian(xf):
                return jac(xf.reshape(shape), *params).toarray()
        else:
            def jacobian(xf):
                return jac(xf.reshape(shape), *params)

        if not np.isfinite(residuals(xf)).all():
            raise InputError("the residuals are not finite (NaN or inf) at x0; start where "
                             "fun is defined")
        watch = Stopwatch()
        with watch("solve"), scipy_call("scipy.optimize.least_squares"):
            result = optimize.least_squares(residuals, xf, jac=jacobian, **kwargs)
        result.x = result.x.reshape(shape)
        result.prepare_time = self.prepare_time if self._fresh else 0.0
        result.solve_time = watch.seconds["solve"]
        self._fresh = False
        return result


def least_squares(fun: Callable, x0, args=(), engine: str = "auto",
                  **kwargs) -> OptimizeResult:
    """``scipy.optimize.least_squares`` with the exact sparse Jacobian of
    ``fun(x, *args)``: write the residuals in NumPy, symasd supplies ``jac``.

    Every keyword argument of SciPy's passes through (see
    :meth:`LeastSquaresProblem.solve`); SciPy's ``kwargs`` (keyword arguments
    of ``fun``) is taken as static data. Sparse Jacobians go to the ``"trf"``
    method with LSMR; small problems get a dense one (see the module
    docstring). ``engine="auto"`` is the tape for this one solve.

    Example
    -------
    >>> import numpy as np
    >>> from symasd import solvers
    >>> t = np.linspace(0.0, 2.0, 30)
    >>> y = 2.5 * np.exp(-1.3 * t) + 0.5
    >>> r = solvers.least_squares(lambda p: p[0] * np.exp(-p[1] * t) + p[2] - y, np.ones(3))
    >>> r.success, np.round(r.x, 8)
    (True, array([2.5, 1.3, 0.5]))
    """
    fun_kwargs = kwargs.pop("kwargs", None)
    problem = LeastSquaresProblem(fun, x0, args, kwargs=fun_kwargs, engine=engine, _reuse=False)
    return problem.solve(**kwargs)
