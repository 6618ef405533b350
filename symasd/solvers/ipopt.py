"""``minimize(method="ipopt")``: IPOPT through cyipopt, with the exact gradient,
the stacked sparse constraint Jacobian and the exact sparse Hessian of the
Lagrangian ``sigma * f(x) + lam . g(x)``, prepared once as one Hessian with
``sigma`` and ``lam`` as parameters; IPOPT receives its lower triangle in
fixed coordinates (``hessianstructure`` is computed once from the prepared
pattern, and every ``hessian`` call returns the same entries in that order).

IPOPT is optional: ``pip install "symasd[ipopt]"`` (see the README for the
package it installs). Its options pass through ``options``; symasd only
changes two defaults, ``print_level = 0`` and ``sb = "yes"`` (no banner), so
that a solve prints nothing unless asked to.
"""

from __future__ import annotations

import time
from functools import wraps

import numpy as np
from scipy.optimize import OptimizeResult

from ..errors import InputError, MissingDependencyError
from .nlp import NLP

__all__ = ["solve", "load_cyipopt", "INSTALL"]

INSTALL = 'pip install "symasd[ipopt]"'
DEFAULT_OPTIONS = {"print_level": 0, "sb": "yes"}
# IPOPT's return statuses that are a solution (Solve_Succeeded, Solved_To_Acceptable_Level)
_SOLVED = (0, 1)


def load_cyipopt():
    """The ``cyipopt`` module, or a :class:`~symasd.errors.MissingDependencyError`
    that says how to install it.

    Example
    -------
    >>> from symasd.solvers.ipopt import load_cyipopt
    >>> load_cyipopt().__name__          # doctest: +SKIP
    'cyipopt'
    """
    try:
        import cyipopt
    except ImportError as err:
        raise MissingDependencyError(
            'minimize(method="ipopt") needs IPOPT through cyipopt, which is not installed: '
            f'{INSTALL} (installs the cyipopt-wheels package, a wheel that bundles Ipopt '
            "and MUMPS and imports as cyipopt; a cyipopt built against your own Ipopt works "
            f"too). Import error: {err}") from err
    return cyipopt


def _timed(method):
    """Add the seconds a callback takes to ``self.eval_time`` (IPOPT's "seconds in
    NLP function evaluations", measured on the Python side)."""
    @wraps(method)
    def timed(self, *args):
        t0 = time.perf_counter()
        try:
            return method(self, *args)
        finally:
            self.eval_time += time.perf_counter() - t0
    return timed


class _AtPoint:
    """What was computed at the last point IPOPT asked about.

    IPOPT asks for the value and the derivatives at each new point in separate
    callbacks (the constraints, then the objective, then the gradient and the
    Jacobian at the same point; at the start twice over), and one sweep yields
    a value and its first derivative together (the objective's reverse sweep,
    the constraints' forward sweep), so each value is computed with its
    derivative and the derivative is served from here at the same point. At a
    trial point that the line search rejects, the derivative is computed for
    nothing; Newton-like steps are mostly accepted, where this halves the
    sweeps.
    """

    def __init__(self):
        self.x = None
        self.values = None

    def get(self, x):
        """The values kept for ``x`` (compared bit for bit: -0.0 is not 0.0 here,
        since ``f`` may tell them apart), or None."""
        if self.x is not None and np.array_equal(self.x, _bits(x)):
            return self.values
        return None

    def put(self, x, values):
        self.x = _bits(x).copy()
        self.values = values
        return values


def _bits(x) -> np.ndarray:
    """The bits of the float64 values of ``x``."""
    return np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)


class _Callbacks:
    """The problem object cyipopt calls back: values and derivatives of ``nlp``."""

    def __init__(self, nlp: NLP, params: tuple):
        self.nlp, self.params = nlp, params
        self.nit = 0
        self.eval_time = 0.0
        self.nfev = self.ngev = self.ncev = self.njev = self.nhev = 0
        self._jac_structure = (np.repeat(np.arange(nlp.m), np.diff(nlp.jacobian_indptr)),
                               nlp.jacobian_indices.copy())
        # IPOPT refuses constraints whose Jacobian has no entry at all (constant
        # constraints): it is given one explicit zero, at (0, 0)
        self._jac_padded = nlp.m > 0 and self._jac_structure[1].size == 0
        if self._jac_padded:
            self._jac_structure = (np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))
        self._hess_structure = None
        self._objective = _AtPoint()
        self._constraints = _AtPoint()

    def _value_and_gradient(self, x):
        kept = self._objective.get(x)
        if kept is None:
            kept = self._objective.put(x, self.nlp.value_and_gradient(x, self.params))
        return kept

    def constraint_values_at(self, x):
        """The constraint values computed at ``x`` by the last constraint or Jacobian
        callback (a copy), or None if it was at another point."""
        kept = self._constraints.get(x)
        return None if kept is None else kept[0].copy()

    def _constraints_and_jacobian(self, x):
        kept = self._constraints.get(x)
        if kept is None:
            kept = self._constraints.put(x, self.nlp.constraint_values_and_jacobian_data(x))
        return kept

    @_timed
    def objective(self, x):
        self.nfev += 1
        return self._value_and_gradient(x)[0]

    @_timed
    def gradient(self, x):
        self.ngev += 1
        return self._value_and_gradient(x)[1].copy()

    @_timed
    def constraints(self, x):
        self.ncev += 1
        return self._constraints_and_jacobian(x)[0].copy()

    def jacobianstructure(self):
        return self._jac_structure

    @_timed
    def jacobian(self, x):
        self.njev += 1
        if self._jac_padded:
            return np.zeros(1)
        return self._constraints_and_jacobian(x)[1].copy()

    def _lower(self):
        if self._hess_structure is None:
            P = self.nlp.lagrangian_hessian.sparsity
            rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
            self._lower_entries = np.flatnonzero(rows >= P.indices)
            self._hess_structure = (rows[self._lower_entries],
                                    P.indices[self._lower_entries].astype(np.int64))
        return self._hess_structure

    def hessianstructure(self):
        return self._lower()

    @_timed
    def hessian(self, x, lagrange, obj_factor):
        self.nhev += 1
        self._lower()
        return self.nlp.hessian_data(x, obj_factor, lagrange, self.params)[self._lower_entries]

    def intermediate(self, alg_mod, iter_count, *rest):
        self.nit = int(iter_count)
        return True


def solve(nlp: NLP, x0f: np.ndarray, params: tuple, bounds, tol, options: dict | None
          ) -> OptimizeResult:
    """Solve ``nlp`` with IPOPT from the flat ``x0f``; ``bounds`` is ``(lb, ub, _)``
    or None. Returns an ``OptimizeResult`` with ``x``, ``fun``, ``success``,
    ``status`` (IPOPT's return status: 0 solved, 1 solved to acceptable level,
    2 infeasible, -1 iteration limit, ...), ``message``, ``nit``, ``nfev``,
    ``njev``, ``nhev``, ``mult_g`` (stacked, internal order), ``mult_x_L``,
    ``mult_x_U``, ``eval_time`` (seconds in symasd's callbacks: function and
    derivative evaluations), ``info`` (cyipopt's dictionary) and
    ``_constraint_values``: the stacked constraint values at ``x`` if a callback
    computed them there, else None (for the caller, which removes it:
    :meth:`~symasd.solvers.optimize.MinimizeProblem.solve`).

    Example
    -------
    >>> import numpy as np
    >>> from symasd.solvers.constraints import ConstraintSet
    >>> from symasd.solvers.nlp import NLP
    >>> from symasd.solvers.prepare import Arguments
    >>> from symasd.solvers import ipopt
    >>> nlp = NLP(lambda x: np.sum((x - 3.0) ** 2), np.zeros(2), Arguments(()),
    ...           ConstraintSet((), (2,)), "tape")
    >>> r = ipopt.solve(nlp, np.zeros(2), (), None, None, None)   # doctest: +SKIP
    >>> np.round(r.x, 6)                                         # doctest: +SKIP
    array([3., 3.])
    """
    cyipopt = load_cyipopt()
    opts = dict(DEFAULT_OPTIONS)
    if tol is not None:
        opts["tol"] = float(tol)
    if options:
        if not isinstance(options, dict):
            raise InputError(f"options must be a dict of IPOPT options, got "
                             f"{type(options).__name__}")
        opts.update(options)
    lb, ub = (np.full(nlp.n, -np.inf), np.full(nlp.n, np.inf)) if bounds is None \
        else (bounds[0], bounds[1])
    cb = _Callbacks(nlp, params)
    cs = nlp.constraints
    problem = cyipopt.Problem(n=nlp.n, m=nlp.m, problem_obj=cb, lb=lb, ub=ub,
                              cl=cs.cl, cu=cs.cu)
    try:
        for name, value in opts.items():
            try:
                problem.add_option(name, value)
            except TypeError as err:
                raise InputError(
                    f"IPOPT rejected the option {name}={value!r} ({type(value).__name__}): it is "
                    "not an IPOPT option, or its value has the wrong type (IPOPT wants an int "
                    "for integer options such as max_iter and print_level, a float for "
                    "numbers such as tol, a str for the others)") from err
        x, info = problem.solve(np.array(x0f, dtype=np.float64))
    finally:
        problem.close()
    status = int(info["status"])
    message = info["status_msg"]
    # IPOPT mostly ends at the point it evaluated last (not always: with
    # honor_original_bounds it may move x into the bounds afterwards)
    if isinstance(message, bytes):
        message = message.decode(errors="replace")
    return OptimizeResult(x=np.asarray(x), fun=float(info["obj_val"]), success=status in _SOLVED,
                          status=status, message=message, nit=cb.nit, nfev=cb.nfev,
                          njev=cb.njev, nhev=cb.nhev, mult_g=np.asarray(info["mult_g"]),
                          mult_x_L=np.asarray(info["mult_x_L"]),
                          mult_x_U=np.asarray(info["mult_x_U"]), eval_time=cb.eval_time,
                          info=info, _constraint_values=cb.constraint_values_at(np.asarray(x)))
