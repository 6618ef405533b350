"""``root``: a system of nonlinear equations ``fun(x, *args) = 0`` by Newton's
method with the exact sparse Jacobian, and its prepared form
:class:`RootProblem`.
"""

from __future__ import annotations

from collections.abc import Callable

from scipy.optimize import OptimizeResult

from ..api import jacobian as prepare_jacobian
from ..errors import InputError
from .linalg import SparseLU
from .newton import newton, options_with
from .prepare import Arguments, Stopwatch, check_x0, function, resolve_engine, tracing

__all__ = ["root", "RootProblem"]

METHODS = ("newton",)


class RootProblem:
    """``fun(x, *args) = 0`` prepared once (trace, pattern, coloring, derivative),
    solved for new starting points and parameters without tracing again.

    Float arrays in ``args`` are parameters that may change between solves;
    other arguments are static (see :mod:`symasd.solvers.prepare`). ``engine``:
    ``"auto"`` (symasd's default engine, since a prepared problem is meant to be
    solved again: the tape, then the compiled derivative from the call after
    which the tape's calls have cost the compile; small models compile at once;
    :mod:`symasd.tiering`), ``"vm"`` or ``"tape"``. ``jacobian`` is the
    prepared Jacobian (``jacobian(x, *params)``), ``prepare_time`` its cost.

    Example
    -------
    >>> import numpy as np
    >>> from symasd import solvers
    >>> problem = solvers.RootProblem(lambda x, c: x ** 3 - c, np.ones(3), args=(np.ones(3),))
    >>> r = problem.solve(args=(np.array([8.0, 27.0, 64.0]),))
    >>> r.success, np.round(r.x, 12)
    (True, array([2., 3., 4.]))
    >>> r = problem.solve(x0=np.full(3, 2.0), args=(np.ones(3),))
    >>> r.x, r.prepare_time            # traced before the first solve, not again
    (array([1., 1., 1.]), 0.0)
    """

    def __init__(self, fun: Callable, x0, args=(), engine: str = "auto", *, _reuse=True):
        watch = Stopwatch()
        with watch("prepare"):
            self.fun = function(fun, "fun")
            x0 = check_x0(x0)
            self.input_shape = x0.shape
            self.arguments = Arguments(args)
            self.engine = resolve_engine(engine, reuse=_reuse)
            a = self.arguments

            def traced(x, *params):
                return self.fun(x, *a.full(params))

            with tracing("fun", x0.shape, a):
                self.jacobian = prepare_jacobian(traced, x0, *a.initial, engine=self.engine)
            m, n = self.jacobian.shape
            if m != n:
                raise InputError(f"root needs as many equations as unknowns: fun returns {m} "
                                 f"values for {n} unknowns (x0 of shape {x0.shape}); use "
                                 "symasd.solvers.least_squares for over- or underdetermined "
                                 "systems")
            self.output_shape = self.jacobian.graph.output_shape
        self.prepare_time = watch.seconds["prepare"]
        self._x0 = x0
        self._fresh = True      # the next solve reports the preparation time

    def solve(self, x0=None, args=None, method: str = "newton", tol: float | None = None,
              options: dict | None = None) -> OptimizeResult:
        """Solve from ``x0`` (default: the point of preparation) with ``args``
        (default: those of preparation).

        ``options`` of ``method="newton"``: ``maxiter`` (50), ``fatol`` (1e-10:
        converged when ``max |F| <= fatol``; ``tol`` sets it), ``xtol`` (1e-12:
        converged when a full step is below ``xtol * (1 + max |x|)``),
        ``line_search`` (True), ``min_step`` (1e-10), ``permc_spec`` and
        ``diag_pivot_thresh`` (SuperLU's; by default minimum degree on
        ``A^T + A`` for a symmetric structure, COLAMD otherwise). The result has
        ``x`` (shaped like ``x0``), ``fun``, ``success``, ``status``, ``message``,
        ``nit``, ``nfev``, ``njev``, ``nfactor``, ``prepare_time`` (seconds spent
        preparing for this solve: 0.0 when reused) and ``solve_time``.
        """
        if method not in METHODS:
            raise InputError(f"unknown method {method!r} of symasd.solvers.root; it has "
                             f"{', '.join(METHODS)} (use scipy.optimize.root for the others)")
        opts = options_with(options, tol)
        x = self._x0 if x0 is None else check_x0(x0)
        if x.shape != self.input_shape:
            raise InputError(f"x0 has shape {x.shape}, but the problem was prepared with shape "
                             f"{self.input_shape}; pass a point of that shape (or prepare "
                             "a new problem)")
        params = self.arguments.initial if args is None else self.arguments.parameters(args)
        jac, shape = self.jacobian, self.input_shape

        def residual(xf):
            return jac.graph(xf.reshape(shape), *params).ravel()

        def jacobian(xf):
            return jac(xf.reshape(shape), *params)

        S = jac.sparsity
        lu = SparseLU(S.indptr, S.indices, S.shape, opts["permc_spec"], opts["diag_pivot_thresh"])
        watch = Stopwatch()
        with watch("solve"):
            result = newton(residual, jacobian, x.ravel(), lu, opts)
        result.x = result.x.reshape(shape)
        result.fun = result.fun.reshape(self.output_shape)
        result.prepare_time = self.prepare_time if self._fresh else 0.0
        result.solve_time = watch.seconds["solve"]
        self._fresh = False
        return result


def root(fun: Callable, x0, args=(), method: str = "newton", tol: float | None = None,
         options: dict | None = None, engine: str = "auto") -> OptimizeResult:
    """Solve ``fun(x, *args) = 0`` (as many equations as unknowns) by Newton's
    method with the exact sparse Jacobian, a sparse direct solve and a line search.

    Mirrors ``scipy.optimize.root``; the options and the result are described in
    :meth:`RootProblem.solve`, the statuses in :mod:`symasd.solvers.newton`. It
    does not raise for a system that does not converge: ``success`` is False
    and ``message`` says why. ``engine="auto"`` is the tape for this one solve
    (:class:`RootProblem` prepares once for many).

    Example
    -------
    >>> import numpy as np
    >>> from symasd import solvers
    >>> def fun(x):             # x0^2 + x1^2 = 4, x0 = x1
    ...     return np.stack([x[0] ** 2 + x[1] ** 2 - 4.0, x[0] - x[1]])
    >>> r = solvers.root(fun, np.array([1.0, 0.5]))
    >>> r.success, np.allclose(r.x, np.sqrt(2.0)), r.message
    (True, True, 'converged: max |F(x)| <= fatol')
    >>> solvers.root(lambda x: x ** 2 + 1.0, np.array([0.5])).message[:12]
    'no progress:'
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r} of symasd.solvers.root; it has "
                         f"{', '.join(METHODS)} (use scipy.optimize.root for the others)")
    options_with(options, tol)      # bad options fail before anything is traced
    problem = RootProblem(fun, x0, args, engine=engine, _reuse=False)
    return problem.solve(method=method, tol=tol, options=options)
