"""The constraints of :func:`~symasd.solvers.minimize`, stacked into one vector
function with one sparse Jacobian of fixed structure.

SciPy's forms are accepted: ``NonlinearConstraint(fun, lb, ub)`` (``fun(x)``
written in NumPy, traced by symasd), ``LinearConstraint(A, lb, ub)`` (dense
or sparse ``A``), the older dictionaries ``{"type": "eq" | "ineq", "fun": f,
"args": ()}`` (``f(x, *args) == 0`` or ``>= 0``), one of them or a list.

Inside, the rows are ordered nonlinear first (every nonlinear function is
traced into one graph, so its Jacobian is one prepared derivative and the
Lagrangian's Hessian sees all of them at once), then linear (their rows are
constant: the stacked Jacobian's data is the prepared Jacobian's data followed
by the matrices' data, with one CSR structure computed once).
:meth:`ConstraintSet.split` gives values or multipliers back one array per
constraint, in the order the caller gave them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import LinearConstraint, NonlinearConstraint

from ..errors import InputError
from .prepare import traced_array, tracing

__all__ = ["ConstraintSet"]


@dataclass
class _Constraint:
    index: int                  # position in the caller's list
    kind: str                   # "nonlinear" or "linear"
    what: str                   # how messages name it
    lb: object
    ub: object
    keep_feasible: object = False
    fun: Callable | None = None
    A: sp.csr_array | None = None
    size: int = -1
    label: str = ""             # how tracing errors name its function
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _items(constraints) -> list:
    if constraints is None:
        return []
    if isinstance(constraints, NonlinearConstraint | LinearConstraint | dict):
        return [constraints]
    try:
        return list(constraints)
    except TypeError as err:
        raise InputError("constraints must be a NonlinearConstraint, a LinearConstraint, a "
                         f"dict or a list of them, got {type(constraints).__name__}") from err


def _matrix(A, n: int, what: str) -> sp.csr_array:
    if sp.issparse(A):
        M = sp.csr_array(A, dtype=np.float64)
    else:
        try:
            M = np.atleast_2d(np.asarray(A, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise InputError(f"{what}: A must be a matrix of numbers, got "
                             f"{type(A).__name__}") from err
        if M.ndim != 2:
            raise InputError(f"{what}: A must be 2-D (m x n), got shape {M.shape}")
        M = sp.csr_array(M)
    if M.shape[1] != n:
        raise InputError(f"{what}: A has {M.shape[1]} columns, but x0 has {n} unknowns; A "
                         "needs one column per unknown (flattened in C order)")
    if not np.isfinite(M.data).all():
        raise InputError(f"{what}: A contains NaN or inf")
    M.sum_duplicates()
    M.sort_indices()
    return M


def _dict_constraint(k: int, c: dict) -> _Constraint:
    what = f"constraint {k} (dict)"
    unknown = sorted(set(c) - {"type", "fun", "args", "jac"})
    if unknown:
        raise InputError(f"{what} has unknown key(s) {', '.join(map(repr, unknown))}; it takes "
                         "'type', 'fun' and 'args'")
    kind = c.get("type")
    if kind not in ("eq", "ineq"):
        raise InputError(f"{what}: 'type' must be 'eq' or 'ineq', got {kind!r}")
    if c.get("jac") is not None:
        raise InputError(f"{what}: 'jac' is computed by symasd (exactly, from the traced "
                         "'fun'); drop it")
    fun = c.get("fun")
    if not callable(fun):
        raise InputError(f"{what}: 'fun' must be a function written with NumPy")
    args = c.get("args", ())
    args = tuple(args) if isinstance(args, list | tuple) else (args,)
    return _Constraint(k, "nonlinear", what, 0.0, 0.0 if kind == "eq" else np.inf,
                       fun=lambda x, f=fun, a=args: f(x, *a), label=f"{what} 'fun'")


def _bound_vector(value, m: int, what: str, side: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"{what}: {side} must be numbers, got {type(value).__name__}") from err
    if np.isnan(arr).any():
        raise InputError(f"{what}: {side} contains NaN; use -inf / inf for no bound")
    if arr.ndim == 0:
        return np.full(m, float(arr))
    if arr.size == m:
        return arr.ravel().copy()
    raise InputError(f"{what}: {side} has shape {arr.shape}, but the constraint has {m} "
                     f"value(s); pass a scalar or {m} bounds")


class ConstraintSet:
    """The caller's constraints for unknowns of ``shape``, checked; the nonlinear
    ones as one NumPy function :meth:`nonlinear` to trace.

    Call :meth:`set_nonlinear_sizes` with each nonlinear constraint's number of
    values once they are traced (:class:`~symasd.solvers.nlp.NLP` does), then
    read ``cl``, ``cu`` and the structure.

    Example
    -------
    >>> import numpy as np
    >>> from scipy.optimize import LinearConstraint, NonlinearConstraint
    >>> from symasd.solvers.constraints import ConstraintSet
    >>> cs = ConstraintSet([LinearConstraint([[1.0, 1.0]], 0.0, 1.0),
    ...                     NonlinearConstraint(lambda x: x ** 2, 0.0, 4.0)], (2,))
    >>> cs.n_nonlinear_constraints, cs.n_linear
    (1, 1)
    >>> cs.set_nonlinear_sizes([2])
    >>> cs.m, cs.cl, cs.cu
    (3, array([0., 0., 0.]), array([4., 4., 1.]))
    >>> cs.split(np.array([10.0, 20.0, 30.0]))    # back in the caller's order
    [array([30.]), array([10., 20.])]
    """

    def __init__(self, constraints, shape: tuple[int, ...]):
        self.shape = shape
        self.n = int(np.prod(shape))
        self.items: list[_Constraint] = []
        for k, c in enumerate(_items(constraints)):
            if isinstance(c, NonlinearConstraint):
                what = f"constraint {k} (NonlinearConstraint)"
                if not callable(c.fun):
                    raise InputError(f"{what}: fun must be a function written with NumPy")
                if callable(c.jac) or not (c.jac is None or isinstance(c.jac, str)):
                    raise InputError(f"{what}: jac is computed by symasd (exactly, from the "
                                     "traced fun); leave it at its default")
                if callable(c.hess):
                    raise InputError(f"{what}: hess is computed by symasd (exactly, from the "
                                     "traced fun); leave it at its default")
                self.items.append(_Constraint(k, "nonlinear", what, c.lb, c.ub,
                                              c.keep_feasible, fun=c.fun,
                                              label=f"constraint {k} (NonlinearConstraint.fun)"))
            elif isinstance(c, LinearConstraint):
                what = f"constraint {k} (LinearConstraint)"
                A = _matrix(c.A, self.n, what)
                self.items.append(_Constraint(k, "linear", what, c.lb, c.ub, c.keep_feasible,
                                              A=A, size=A.shape[0]))
            elif isinstance(c, dict):
                self.items.append(_dict_constraint(k, c))
            else:
                raise InputError(f"constraint {k} is a {type(c).__name__}; pass a "
                                 "scipy.optimize.NonlinearConstraint, LinearConstraint or a "
                                 "dict {'type': 'eq' | 'ineq', 'fun': f}")
        self.nonlinear_items = [c for c in self.items if c.kind == "nonlinear"]
        self.linear_items = [c for c in self.items if c.kind == "linear"]
        self.n_nonlinear_constraints = len(self.nonlinear_items)
        self.n_linear = int(sum(c.size for c in self.linear_items))
        if self.linear_items:
            self.A = sp.csr_array(sp.vstack([c.A for c in self.linear_items], format="csr"))
            self.A.sort_indices()
        else:
            self.A = sp.csr_array((0, self.n))
        self._sizes_known = not self.nonlinear_items
        if self._sizes_known:
            self._layout()

    def __len__(self) -> int:
        return len(self.items)

    def nonlinear(self, x):
        """All nonlinear constraint functions at ``x``, concatenated flat (the
        function symasd traces)."""
        parts = []
        for c in self.nonlinear_items:
            with tracing(c.label, self.shape):
                # a copy each, as SciPy passes them: one that changes x in place
                # (x -= 1) must not change what the others see
                parts.append(np.reshape(traced_array(c.fun(x.copy())), -1))
        self.traced_sizes = [int(p.shape[0]) for p in parts]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def set_nonlinear_sizes(self, sizes) -> None:
        """Record the number of values of each nonlinear constraint (from the trace)
        and check the bounds against them."""
        for c, size in zip(self.nonlinear_items, sizes, strict=True):
            c.size = int(size)
        self._sizes_known = True
        self._layout()

    def _layout(self) -> None:
        self.m_nonlinear = int(sum(c.size for c in self.nonlinear_items))
        self.m = self.m_nonlinear + self.n_linear
        start = 0
        for c in self.nonlinear_items + self.linear_items:
            if c.size == 0:
                raise InputError(f"{c.what} has no values; drop it")
            c.rows = np.arange(start, start + c.size)
            start += c.size
        self.cl = np.zeros(self.m)
        self.cu = np.zeros(self.m)
        self.keep_feasible = np.zeros(self.m, dtype=bool)
        for c in self.items:
            lb = _bound_vector(c.lb, c.size, c.what, "lb")
            ub = _bound_vector(c.ub, c.size, c.what, "ub")
            bad = np.flatnonzero(lb > ub)
            if bad.size:
                i = int(bad[0])
                raise InputError(f"{c.what}: lb[{i}] = {lb[i]} > ub[{i}] = {ub[i]}")
            self.cl[c.rows], self.cu[c.rows] = lb, ub
            keep = np.asarray(c.keep_feasible, dtype=bool)
            if keep.size not in (1, c.size):
                raise InputError(f"{c.what}: keep_feasible has {keep.size} entries for "
                                 f"{c.size} value(s); pass one flag or one per value")
            self.keep_feasible[c.rows] = keep.ravel() if keep.size == c.size else bool(keep)

    def linear_values(self, xf: np.ndarray) -> np.ndarray:
        """``A x`` of the linear constraints, stacked."""
        return self.A @ xf

    def split(self, stacked: np.ndarray) -> list[np.ndarray]:
        """Values or multipliers in the internal order, one array per constraint in
        the caller's order."""
        stacked = np.asarray(stacked)
        return [stacked[c.rows].copy() for c in self.items]

    def to_caller_order(self, stacked: np.ndarray) -> np.ndarray:
        """The stacked vector with rows in the caller's constraint order."""
        parts = self.split(stacked)
        return np.concatenate(parts) if parts else np.zeros(0)
