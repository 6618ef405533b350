"""``minimize``: ``min f(x)`` subject to bounds and constraints, with exact
sparse derivatives, by SciPy's ``trust-constr`` or by IPOPT; and its prepared
form :class:`MinimizeProblem`.

Both methods get the same prepared derivatives (:class:`~symasd.solvers.nlp.NLP`)
and give results with the same fields: SciPy's (``x`` shaped like ``x0``,
``fun``, ``success``, ``status``, ``message``, ``nit`` ...) and the multipliers

* ``v``: one array per constraint, in the order given, and ``mult_g``: the
  same stacked into one vector;
* ``mult_x_L``, ``mult_x_U``: of the lower and upper bounds (>= 0),

with IPOPT's sign convention, at a solution: ``grad f + sum_i J_i^T v_i -
mult_x_L + mult_x_U = 0``. ``constr`` holds the constraint values, one array
per constraint; ``prepare_time`` and ``solve_time`` the seconds spent.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import OptimizeResult

from .. import _validation as validation
from ..errors import InputError
from . import ipopt, trustconstr
from .bounds import flat_bounds
from .constraints import ConstraintSet
from .nlp import NLP
from .prepare import Arguments, Stopwatch, check_x0, function, resolve_engine, tolerance

__all__ = ["minimize", "MinimizeProblem"]

METHODS = ("trust-constr", "ipopt")
# scipy.optimize.minimize's own arguments, which symasd passes: not trust-constr options
_SUPPLIED = frozenset({"fun", "x0", "args", "method", "jac", "grad", "hess", "hessp",
                       "bounds", "constraints", "tol", "callback"})


class MinimizeProblem:
    """``min fun(x, *args)`` subject to ``constraints`` prepared once: the
    objective's gradient and the constraint Jacobian at construction, the
    Lagrangian's Hessian at the first solve that needs it. Solve again for new
    starting points, parameters (float arrays in ``args``), bounds and methods
    without tracing again. ``nlp`` holds the prepared derivatives
    (:class:`~symasd.solvers.nlp.NLP`: ``objective``, ``constraint_jacobian``,
    ``lagrangian_hessian``, and methods evaluating them at a flat point).
    ``engine`` as in :class:`~symasd.solvers.RootProblem`.

    Example
    -------
    >>> import numpy as np
    >>> from scipy.optimize import NonlinearConstraint
    >>> from symasd import solvers
    >>> def distance(x, c):                  # the point of the unit circle nearest to c
    ...     return np.sum((x - c) ** 2)
    >>> circle = NonlinearConstraint(lambda x: np.sum(x ** 2), 1.0, 1.0)
    >>> problem = solvers.MinimizeProblem(distance, np.array([1.0, 0.0]), args=(np.ones(2),),
    ...                                   constraints=circle)
    >>> for c in ([3.0, 4.0], [0.0, -2.0]):
    ...     r = problem.solve(args=(np.array(c),))
    ...     print(np.round(r.x, 6), r.success)
    [0.6 0.8] True
    [ 0. -1.] True
    """

    def __init__(self, fun: Callable, x0, args=(), constraints=(), engine: str = "auto", *,
                 _reuse=True):
        watch = Stopwatch()
        with watch("prepare"):
            function(fun, "fun")
            x0 = check_x0(x0)
            self.input_shape = x0.shape
            self.arguments = Arguments(args)
            self.engine = resolve_engine(engine, reuse=_reuse)
            self.constraints = ConstraintSet(constraints, x0.shape)
            self.nlp = NLP(fun, x0, self.arguments, self.constraints, self.engine)
        self.prepare_time = watch.seconds["prepare"]
        self._x0 = x0
        self._fresh = True

    def solve(self, x0=None, args=None, method: str = "trust-constr", bounds=None,
              tol: float | None = None, options: dict | None = None,
              callback=None) -> OptimizeResult:
        """Minimize from ``x0`` (default: the point of preparation) with ``args``
        (default: those of preparation).

        ``bounds``: a ``scipy.optimize.Bounds`` or a sequence of ``(low, high)``
        per unknown (``None`` for no bound). ``method``: ``"trust-constr"``
        (``options`` and ``callback`` as SciPy's) or ``"ipopt"`` (``options``
        are IPOPT's, ``tol`` its ``tol``; needs ``pip install "symasd[ipopt]"``).
        The result's fields are listed in :mod:`symasd.solvers.optimize`.
        """
        if method not in METHODS:
            raise InputError(f"unknown method {method!r} of symasd.solvers.minimize; it has "
                             f"{', '.join(map(repr, METHODS))} (use scipy.optimize.minimize for "
                             "the others)")
        if method == "ipopt":
            ipopt.load_cyipopt()        # a missing IPOPT is reported before any work
            if callback is not None:
                raise InputError("callback is not supported with method='ipopt'; use IPOPT's "
                                 "own output (options={'print_level': 5})")
        if options is not None and not isinstance(options, dict):
            raise InputError(f"options must be a dict, got {type(options).__name__}")
        supplied = sorted(set(options or ()) & _SUPPLIED) if method == "trust-constr" else []
        if supplied:
            raise InputError(f"options {', '.join(map(repr, supplied))}: symasd supplies the "
                             "derivatives, and fun, x0, bounds, constraints, tol and callback "
                             "are minimize's own arguments, not options")
        tol = None if tol is None else tolerance(tol)
        validation.function(callback, "callback", "the current point (SciPy's convention)")
        x = self._x0 if x0 is None else check_x0(x0)
        if x.shape != self.input_shape:
            raise InputError(f"x0 has shape {x.shape}, but the problem was prepared with shape "
                             f"{self.input_shape}; pass a point of that shape (or prepare "
                             "a new problem)")
        params = self.arguments.initial if args is None else self.arguments.parameters(args)
        flat = flat_bounds(bounds, self.input_shape, pairs=True)
        # the solvers evaluate f at x0 first, except IPOPT at an x0 outside the open
        # box, which it moves inside (a start on a bound where f is not finite, such
        # as x log x at 0, is IPOPT's to handle)
        inside = flat is None or bool(np.all((flat[0] < x.ravel()) & (x.ravel() < flat[1])))
        if ((method == "trust-constr" or inside)
                and not np.isfinite(self.nlp.value(x.ravel(), params))):
            raise InputError("fun(x0) is not finite (NaN or inf); start where the objective "
                             "is defined")
        if flat is not None:
            # keep_feasible as Bounds holds it: one flag, or one per unknown (flat, or
            # in x0's shape like the bounds themselves)
            keep = np.asarray(getattr(bounds, "keep_feasible", False), dtype=bool)
            if keep.size == x.size:
                keep = keep.ravel()
            elif keep.size != 1:
                raise InputError(f"bounds.keep_feasible has shape {keep.shape}; give one flag "
                                 f"or one per unknown (x0 has shape {self.input_shape})")
            flat = (flat[0], flat[1], keep.ravel()[0] if keep.size == 1 else keep)
        prepare = self.prepare_time if self._fresh else 0.0
        needs_hessian = method == "trust-constr" or (options or {}).get(
            "hessian_approximation", "exact") == "exact"
        watch = Stopwatch()
        if needs_hessian and self.nlp._lagrangian is None:
            with watch("prepare"):
                self.nlp.prepare_hessian()
            prepare += watch.seconds["prepare"]
        with watch("solve"):
            if method == "ipopt":
                result = ipopt.solve(self.nlp, x.ravel(), params, flat, tol, options)
            else:
                result = trustconstr.solve(self.nlp, x.ravel(), params, flat, tol, options,
                                           callback)
        cs = self.constraints
        result.x = np.asarray(result.x).reshape(self.input_shape)
        result.v = cs.split(result.mult_g)
        result.mult_g = cs.to_caller_order(result.mult_g)
        values = result.pop("_constraint_values", None)
        if values is None:
            values = self.nlp.constraint_values(result.x.ravel())
        result.constr = cs.split(values)
        result.method = method
        result.prepare_time = prepare
        result.solve_time = watch.seconds["solve"]
        self._fresh = False
        return result


def minimize(fun: Callable, x0, args=(), method: str = "trust-constr", bounds=None,
             constraints=(), tol: float | None = None, options: dict | None = None,
             callback=None, engine: str = "auto") -> OptimizeResult:
    """Minimize ``fun(x, *args)`` subject to ``bounds`` and ``constraints`` with
    exact sparse derivatives.

    ``method="trust-constr"`` runs SciPy's method with the exact gradient, the
    sparse Hessian, the sparse constraint Jacobian and the constraint Hessians;
    ``method="ipopt"`` runs IPOPT (cyipopt) with the exact sparse Jacobian and
    the exact sparse Hessian of the Lagrangian. Constraints as SciPy takes them
    (``NonlinearConstraint`` with a NumPy ``fun``, ``LinearConstraint``, the
    dict form, or a list); bounds a ``Bounds`` or ``(low, high)`` pairs. The
    result carries the multipliers (see :mod:`symasd.solvers.optimize`).
    ``engine="auto"`` is the tape for this one solve.

    Example
    -------
    >>> import numpy as np
    >>> from scipy.optimize import NonlinearConstraint
    >>> from symasd import solvers
    >>> rosen = lambda x: np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    >>> r = solvers.minimize(rosen, np.zeros(10), options={"gtol": 1e-10})
    >>> r.success, bool(np.abs(r.x - 1).max() < 1e-6)
    (True, True)
    >>> ring = NonlinearConstraint(lambda x: x[0] ** 2 + x[1] ** 2, 1.0, 1.0)
    >>> r = solvers.minimize(lambda x: x[0] + x[1], np.array([1.0, 0.0]), constraints=ring)
    >>> np.round(r.x, 6), np.round(r.v[0], 6)      # x = -(1, 1)/sqrt(2), v = 1/sqrt(2)
    (array([-0.707107, -0.707107]), array([0.707107]))
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r} of symasd.solvers.minimize; it has "
                         f"{', '.join(map(repr, METHODS))} (use scipy.optimize.minimize for "
                         "the others)")
    if method == "ipopt":
        ipopt.load_cyipopt()
    problem = MinimizeProblem(fun, x0, args, constraints, engine=engine, _reuse=False)
    return problem.solve(method=method, bounds=bounds, tol=tol, options=options,
                         callback=callback)
