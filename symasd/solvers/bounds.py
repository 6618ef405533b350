"""Bounds on the unknowns, as SciPy takes them, checked and flattened.

Accepted: a ``scipy.optimize.Bounds``, a pair ``(lb, ub)`` of scalars or
arrays (``least_squares``' form), or a sequence of ``n`` pairs ``(low,
high)`` with ``None`` for no bound (``minimize``'s older form). Arrays may
have the shape of ``x0`` or its flat length; the result is two flat float
arrays with ``-inf`` / ``inf`` where there is no bound.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import Bounds

from ..errors import InputError

__all__ = ["flat_bounds"]


def _side(values, shape: tuple[int, ...], n: int, what: str, default: float) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"{what} must be numbers (a scalar or an array), got "
                         f"{type(values).__name__}") from err
    if np.isnan(arr).any():
        raise InputError(f"{what} contains NaN; use -inf / inf (or None) for no bound")
    if arr.ndim == 0 or arr.shape == (1,):      # a scalar (Bounds keeps one as shape (1,))
        return np.full(n, float(arr.ravel()[0]))
    if arr.shape == shape or arr.shape == (n,):
        return np.array(arr.ravel(), dtype=np.float64)
    raise InputError(f"{what} has shape {arr.shape}, but x0 has shape {shape} ({n} unknowns); "
                     "pass a scalar or one bound per unknown")


def flat_bounds(bounds, shape: tuple[int, ...], pairs: bool = True,
                strict: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """``(lb, ub)`` as flat float arrays for unknowns of ``shape``, or ``None`` for
    no bounds. ``pairs``: also accept a sequence of ``(low, high)`` per unknown.
    ``strict``: require ``lb < ub`` (least_squares) instead of ``lb <= ub``.

    Example
    -------
    >>> import numpy as np
    >>> from scipy.optimize import Bounds
    >>> from symasd.solvers.bounds import flat_bounds
    >>> flat_bounds(Bounds(0.0, [1.0, 2.0]), (2,))
    (array([0., 0.]), array([1., 2.]))
    >>> flat_bounds([(None, 1.0), (0.0, None)], (2,))
    (array([-inf,   0.]), array([ 1., inf]))
    """
    if bounds is None:
        return None
    n = int(np.prod(shape))
    if isinstance(bounds, Bounds):
        lb = _side(bounds.lb, shape, n, "the lower bound (Bounds.lb)", -np.inf)
        ub = _side(bounds.ub, shape, n, "the upper bound (Bounds.ub)", np.inf)
    else:
        try:
            items = list(bounds)
        except TypeError as err:
            raise InputError("bounds must be a scipy.optimize.Bounds, a pair (lb, ub) or a "
                             f"sequence of (low, high) pairs; got {type(bounds).__name__}"
                             ) from err
        # for two unknowns the two forms look alike: minimize reads pairs (as SciPy's
        # minimize does), least_squares (pairs=False) reads (lb, ub), as SciPy's does
        is_pairs = pairs and len(items) == n and all(
            not np.isscalar(b) and b is not None and np.ndim(b) == 1 and len(b) == 2
            for b in items)
        if is_pairs:
            lb = _side([-np.inf if b[0] is None else b[0] for b in items], shape, n,
                       "the lower bounds of the (low, high) pairs", -np.inf)
            ub = _side([np.inf if b[1] is None else b[1] for b in items], shape, n,
                       "the upper bounds of the (low, high) pairs", np.inf)
        elif len(items) == 2:
            lb = _side(-np.inf if items[0] is None else items[0], shape, n,
                       "the lower bound", -np.inf)
            ub = _side(np.inf if items[1] is None else items[1], shape, n,
                       "the upper bound", np.inf)
        else:
            form = f"a sequence of {n} (low, high) pairs or " if pairs else ""
            raise InputError(f"bounds must be {form}a pair (lb, ub) for x0 of shape {shape}; "
                             f"got a sequence of {len(items)} entries")
    bad = np.flatnonzero(lb >= ub) if strict else np.flatnonzero(lb > ub)
    if bad.size:
        i = int(bad[0])
        rel = ">=" if strict else ">"
        raise InputError(f"bounds: lower bound {lb[i]} {rel} upper bound {ub[i]} for unknown {i}"
                         + (" (least_squares needs lb < ub)" if strict else ""))
    return lb, ub

