"""``solve_ivp``: SciPy's initial value problem solver with the exact sparse
Jacobian of ``fun(t, y, *args)`` for the implicit methods, and its prepared
form :class:`IVPProblem`.

``t`` is traced as a parameter (a length-1 array whose one element the
function receives as ``t``), so one preparation serves every ``(t, y)`` of an
integration, and every later integration. The implicit methods receive:

* ``"BDF"``, ``"Radau"``: the Jacobian as a ``scipy.sparse.csr_array`` with
  the same structure at every call (SciPy factorizes it with SuperLU);
* ``"LSODA"``: a dense array, or the packed band form with ``lband`` and
  ``uband`` set from the pattern when the Jacobian is banded with a
  bandwidth below half its size (LSODA takes no other sparse format).

The explicit methods (``"RK23"``, ``"RK45"``, ``"DOP853"``) use no Jacobian:
:func:`solve_ivp` hands them to SciPy unchanged, without tracing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import integrate

from ..api import jacobian as prepare_jacobian
from ..errors import InputError
from .prepare import (
    Arguments,
    Stopwatch,
    check_x0,
    function,
    resolve_engine,
    scipy_call,
    tracing,
)

__all__ = ["solve_ivp", "IVPProblem"]

IMPLICIT = ("BDF", "Radau", "LSODA")
EXPLICIT = ("RK23", "RK45", "DOP853")
_OURS = ("jac", "jac_sparsity", "lband", "uband")


def _check_y0(y0) -> np.ndarray:
    y = check_x0(y0, "y0")
    if y.ndim != 1:
        raise InputError(f"y0 must be 1-dimensional (SciPy's solve_ivp integrates a vector), "
                         f"got shape {y.shape}; pass y0.ravel() and reshape inside fun")
    return y


def _check_t_span(t_span) -> None:
    try:
        t0, t1 = (float(t) for t in t_span)
    except (TypeError, ValueError) as err:
        raise InputError(f"t_span must be a pair of numbers (t0, t_end), got {t_span!r}") from err
    if not (np.isfinite(t0) and np.isfinite(t1)):
        raise InputError(f"t_span must be finite, got ({t0}, {t1})")


def _check_method(method) -> str:
    if method not in IMPLICIT + EXPLICIT:
        raise InputError(f"unknown method {method!r}; symasd.solvers.solve_ivp supplies the "
                         f"Jacobian to {', '.join(IMPLICIT)} and passes {', '.join(EXPLICIT)} "
                         "through (use scipy.integrate.solve_ivp for solver classes)")
    return method


def _check_kwargs(kwargs: dict) -> None:
    for name in _OURS:
        if name in kwargs:
            raise InputError(f"solve_ivp: {name}= is supplied by symasd (from the exact "
                             "Jacobian of fun, traced once); call scipy.integrate.solve_ivp "
                             "directly to give your own")


class IVPProblem:
    """``dy/dt = fun(t, y, *args)`` prepared once (the Jacobian with respect to
    ``y``, ``t`` a parameter), integrated again for new spans, initial values
    and parameters (float arrays in ``args``) without tracing again.
    ``jacobian`` is the prepared Jacobian, called as ``jacobian(y, t, *params)``
    with ``t`` a length-1 array. ``engine`` as in
    :class:`~symasd.solvers.RootProblem`.

    Example
    -------
    >>> import numpy as np
    >>> from symasd import solvers
    >>> def decay(t, y, k):             # y' = -k y (stiff for large k)
    ...     return -k * y
    >>> ode = solvers.IVPProblem(decay, np.ones(3), args=(np.array([1.0, 10.0, 1000.0]),))
    >>> sol = ode.solve((0.0, 1.0), rtol=1e-10, atol=1e-12)
    >>> bool(np.allclose(sol.y[:, -1], np.exp([-1.0, -10.0, -1000.0]), rtol=1e-6, atol=1e-12))
    True
    >>> ode.jacobian(np.ones(3), np.zeros(1), np.array([1.0, 2.0, 3.0])).toarray()
    array([[-1.,  0.,  0.],
           [ 0., -2.,  0.],
           [ 0.,  0., -3.]])
    """

    def __init__(self, fun: Callable, y0, args=(), engine: str = "auto", *, _reuse=True):
        watch = Stopwatch()
        with watch("prepare"):
            self.fun = function(fun, "fun")
            y0 = _check_y0(y0)
            self.n = y0.size
            self.arguments = Arguments(args)
            self.engine = resolve_engine(engine, reuse=_reuse)
            a = self.arguments

            def traced(y, t, *params):
                return self.fun(t[0], y, *a.full(params))

            with tracing("fun", y0.shape, a):
                self.jacobian = prepare_jacobian(traced, y0, np.zeros(1), *a.initial,
                                                 engine=self.engine)
            out = self.jacobian.graph.output_shape
            if out != y0.shape:
                raise InputError(f"fun returns an array of shape {out}, but y0 has shape "
                                 f"{y0.shape}; dy/dt must have the shape of y")
            P = self.jacobian.sparsity
            rows = np.repeat(np.arange(self.n), np.diff(P.indptr))
            offsets = rows - P.indices
            self.lband = int(max(offsets.max(initial=0), 0))
            self.uband = int(max(-offsets.min(initial=0), 0))
            self._packed_rows = self.uband + offsets        # uband + i - j
        self.prepare_time = watch.seconds["prepare"]
        self._y0 = y0
        self._fresh = True

    @property
    def banded(self) -> bool:
        """Whether LSODA gets the packed band form (bandwidth below half the size)."""
        return self.lband + self.uband + 1 <= self.n // 2

    def solve(self, t_span, y0=None, method: str = "BDF", args=None, **kwargs):
        """Integrate over ``t_span`` from ``y0`` (default: the initial value of
        preparation) with ``args`` (default: those of preparation). Every other
        keyword argument of ``scipy.integrate.solve_ivp`` passes through
        (``t_eval``, ``dense_output``, ``events``, ``rtol``, ``atol``,
        ``first_step``, ``max_step`` ...), except ``jac``, ``jac_sparsity``,
        ``lband`` and ``uband``, which symasd supplies. Events are called with
        ``args`` as SciPy calls them. The result is SciPy's, with
        ``prepare_time`` (0.0 when reused) and ``solve_time`` in seconds.
        """
        method = _check_method(method)
        _check_kwargs(kwargs)
        _check_t_span(t_span)
        y = self._y0 if y0 is None else _check_y0(y0)
        if y.shape != self._y0.shape:
            raise InputError(f"y0 has shape {y.shape}, but the problem was prepared with shape "
                             f"{self._y0.shape}; pass an initial value of that shape")
        params = self.arguments.initial if args is None else self.arguments.parameters(args)
        full = tuple(self.arguments.full(params))
        jac, graph = self.jacobian, self.jacobian.graph

        def rhs(t, y, *_):
            if y.ndim == 2:         # vectorized=True: one column per point
                return np.stack([rhs(t, col) for col in y.T], axis=1)
            return graph(y, np.array([t], dtype=np.float64), *params)

        def sparse_jacobian(t, y, *_):
            return jac(y, np.array([t], dtype=np.float64), *params)

        if not np.isfinite(rhs(float(t_span[0]), y)).all():
            raise InputError("fun(t0, y0) is not finite (NaN or inf); start where the "
                             "right-hand side is defined")

        options = dict(kwargs)
        if method in ("BDF", "Radau"):
            options["jac"] = sparse_jacobian
        elif method == "LSODA":
            if self.banded:
                width = self.lband + self.uband + 1
                rows, cols = self._packed_rows, jac.sparsity.indices

                def banded_jacobian(t, y, *_):
                    P = np.zeros((width, self.n))
                    P[rows, cols] = sparse_jacobian(t, y).data
                    return P

                options.update(jac=banded_jacobian, lband=self.lband, uband=self.uband)
            else:
                options["jac"] = lambda t, y, *_: sparse_jacobian(t, y).toarray()
        watch = Stopwatch()
        with watch("solve"), scipy_call("scipy.integrate.solve_ivp"):
            sol = integrate.solve_ivp(rhs, t_span, y, method=method, args=full, **options)
        sol.prepare_time = self.prepare_time if self._fresh else 0.0
        sol.solve_time = watch.seconds["solve"]
        self._fresh = False
        return sol


def solve_ivp(fun: Callable, t_span, y0, method: str = "BDF", args=(), engine: str = "auto",
              **kwargs):
    """``scipy.integrate.solve_ivp`` with the exact sparse Jacobian of
    ``fun(t, y, *args)`` for the implicit methods (BDF, the default here, Radau
    and LSODA); ``t`` is traced as a parameter. The explicit methods pass
    through to SciPy untraced. Keyword arguments as in :meth:`IVPProblem.solve`;
    ``engine="auto"`` is the tape for this one integration.

    Example
    -------
    >>> import numpy as np
    >>> from symasd import solvers
    >>> def robertson(t, y):            # stiff chemical kinetics (Robertson, 1966)
    ...     return np.stack([-0.04 * y[0] + 1e4 * y[1] * y[2],
    ...                      0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2,
    ...                      3e7 * y[1] ** 2])
    >>> sol = solvers.solve_ivp(robertson, (0.0, 40.0), np.array([1.0, 0.0, 0.0]),
    ...                         rtol=1e-8, atol=1e-12)
    >>> sol.success, np.round(sol.y[:, -1], 6)       # y(40) = 0.715827, 9.2e-6, 0.284164
    (True, array([7.15827e-01, 9.00000e-06, 2.84164e-01]))
    """
    method = _check_method(method)
    _check_kwargs(kwargs)
    if method in EXPLICIT:
        y = _check_y0(y0)
        _check_t_span(t_span)
        with scipy_call("scipy.integrate.solve_ivp"):
            return integrate.solve_ivp(function(fun, "fun"), t_span, y, method=method,
                                       args=Arguments(args).values or None, **kwargs)
    problem = IVPProblem(fun, y0, args, engine=engine, _reuse=False)
    return problem.solve(t_span, method=method, **kwargs)
