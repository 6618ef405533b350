"""Checks of the numbers a user passes in: points, parameters, seed matrices.

Every entry point (tracing, ``Graph.__call__``, the prepared derivatives of
either engine, the numeric sweeps) checks its arguments here, so that one
mistake gets one message (the same :class:`~symasd.errors.InputError`, the
same text) wherever it is made. The solvers and generated modules will use it
too, so it imports nothing of symasd but the errors.

Rules
-----
* A **point** (``x``, ``x0``) and a **parameter** array are real
  floating-point data: a NumPy array of a float dtype, or anything
  ``np.asarray`` turns into one (a list of floats, a NumPy float scalar). It
  is converted to contiguous float64. Rejected, each with its own message:
  a complex dtype (symasd differentiates real functions), an integer or
  boolean dtype (pass floats: the trace treats the point as real-valued, and
  one rule at tracing and at call time means a point that traces also
  evaluates), and anything else (strings, objects, ragged lists).
* At call time the point has the shape the graph was traced with, and there
  are as many parameter arrays as the graph was traced with, each of its
  traced shape. Parameters come as a tuple (or list) of arrays.
* Non-finite values (NaN, inf) are accepted wherever a value is computed:
  they propagate into the results (see :mod:`symasd.sweeps`). Only a *local*
  trace needs a finite point, since it resolves comparisons at that point
  (:func:`finite`).
* A **seed matrix** is 2-D of shape ``(rows, c)`` with ``c >= 1``, of any real
  numeric dtype: the 0/1 integer or boolean seeds of a coloring are fine.

Example
-------
>>> import numpy as np
>>> from symasd import _validation
>>> xf, pf = _validation.inputs([1.0, 2.0], (np.ones(1),), (2,), ((1,),))
>>> xf, pf
(array([1., 2.]), array([1.]))
>>> _validation.point(np.arange(2), "x")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
symasd.errors.InputError: x has dtype int64; pass a float64 array ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .errors import InputError

__all__ = ["point", "finite", "parameters", "inputs", "seeds", "chunk", "function"]

_F64 = np.dtype(np.float64)
_NO_PARAMS = np.zeros(0)
_NO_PARAMS.flags.writeable = False


def _as_array(x, what: str, expected: str) -> np.ndarray:
    """``np.asarray(x)``, with our message where NumPy cannot make an array of it (a
    ragged list)."""
    try:
        return np.asarray(x)
    except ValueError as err:
        raise InputError(f"{what} must be {expected}, got {type(x).__name__} that NumPy "
                         "cannot make an array of") from err


def _real(arr: np.ndarray, x, what: str) -> None:
    """Raise the message for a dtype that is not real floating-point."""
    kind = arr.dtype.kind
    if kind == "c":
        raise InputError(f"{what} is complex ({arr.dtype}); symasd differentiates real "
                         "functions: pass a float64 array (split real and imaginary parts "
                         "into separate real arrays)")
    if kind in "iub":
        raise InputError(f"{what} has dtype {arr.dtype}; pass a float64 array (convert with "
                         ".astype(float)): symasd differentiates functions of real "
                         "(floating-point) arrays")
    if kind != "f":
        raise InputError(f"{what} must be a real array of float64, got {type(x).__name__} "
                         f"of dtype {arr.dtype}")


def point(x, what: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``x`` as a contiguous float64 array, checked by the rules of this module.

    ``what`` names the argument in the message (``"x"``, ``"parameter 0"``);
    with ``shape``, ``x`` must have that shape (the traced one).

    Example
    -------
    >>> import numpy as np
    >>> from symasd._validation import point
    >>> point([1.0, 2.0], "x", (2,))
    array([1., 2.])
    """
    if type(x) is np.ndarray and x.dtype == _F64:
        # the common case passes every dtype check (they cost microseconds)
        arr = x
    else:
        arr = _as_array(x, what, "a real array of float64")
        _real(arr, x, what)
    if shape is not None and arr.shape != shape:
        raise InputError(f"{what} has shape {arr.shape}, but the graph was traced with shape "
                         f"{shape}; pass an array of that shape")
    # asarray, not ascontiguousarray: that one makes a 0-d array 1-d, and a 0-d
    # parameter must keep its shape () to be passed back as it was traced
    return np.asarray(arr, dtype=np.float64, order="C")


def finite(arr: np.ndarray, what: str, why: str) -> None:
    """Raise unless every value of the float array ``arr`` is finite; ``why``
    says who needs it (``"local tracing"``).

    Example
    -------
    >>> import numpy as np
    >>> from symasd._validation import finite
    >>> finite(np.ones(2), "x0", "local tracing")
    """
    if not np.isfinite(arr).all():
        raise InputError(f"{why} needs a finite point: {what} contains NaN or inf")


def parameters(params, shapes: Sequence[tuple[int, ...]]) -> np.ndarray:
    """The parameter arrays ``params`` (a tuple or list), checked against the traced
    ``shapes`` and concatenated flat as float64 (read-only and empty if none).

    Example
    -------
    >>> import numpy as np
    >>> from symasd._validation import parameters
    >>> parameters((np.ones(2), np.zeros((1, 1))), ((2,), (1, 1)))
    array([1., 1., 0.])
    """
    if params is None:
        params = ()
    if not isinstance(params, tuple | list):
        raise InputError("params must be a tuple of arrays matching graph.param_shapes "
                         f"(wrap a single array as (p,)); got {type(params).__name__}")
    if len(params) != len(shapes):
        count = {0: "no parameter arrays", 1: "1 parameter array"}.get(
            len(shapes), f"{len(shapes)} parameter arrays")
        raise InputError(f"the graph takes {count} after x, got "
                         f"{len(params)}; pass them in the order f takes them")
    if not params:
        return _NO_PARAMS
    flat = [point(v, f"parameter {i}", tuple(s)).ravel()
            for i, (v, s) in enumerate(zip(params, shapes, strict=True))]
    return flat[0] if len(flat) == 1 else np.concatenate(flat)


def inputs(x, params, input_shape: tuple[int, ...],
           param_shapes: Sequence[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """A call's point and parameters, checked against the traced shapes: ``(x, p)``
    flat, contiguous float64.

    Example
    -------
    >>> import numpy as np
    >>> from symasd._validation import inputs
    >>> inputs(np.ones((1, 2)), (), (1, 2), ())
    (array([1., 1.]), array([], dtype=float64))
    """
    return point(x, "x", input_shape).ravel(), parameters(params, param_shapes)


def seeds(S, rows: int, what: str, rows_name: str) -> np.ndarray:
    """A seed matrix ``(rows, c)``, ``c >= 1``, of any real numeric dtype, as contiguous
    float64; ``rows_name`` says what ``rows`` counts (``"n_inputs"``).

    Example
    -------
    >>> import numpy as np
    >>> from symasd._validation import seeds
    >>> seeds(np.eye(2, dtype=bool), 2, "seeds", "n_inputs")
    array([[1., 0.],
           [0., 1.]])
    """
    if type(S) is np.ndarray and S.dtype == _F64:
        arr = S
    else:
        arr = _as_array(S, what, "a real array")
        if arr.dtype.kind == "c":
            raise InputError(f"{what} is complex ({arr.dtype}); symasd differentiates real "
                             "functions: pass real directions")
        if arr.dtype.kind not in "fiub":
            raise InputError(f"{what} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise InputError(f"{what} must be a 2-D array of shape ({rows_name}={rows}, c); got "
                         f"shape {arr.shape} (use {what}[:, None] for a single direction)")
    if arr.shape[0] != rows:
        raise InputError(f"{what} has {arr.shape[0]} rows, but the graph has "
                         f"{rows_name}={rows}; expected shape ({rows}, c)")
    if arr.shape[1] < 1:
        raise InputError(f"{what} has no columns; pass at least one direction")
    return np.ascontiguousarray(arr, dtype=np.float64)


def chunk(value, what: str = "chunk") -> int | None:
    """A positive number of columns, or ``None`` (let the callee choose).

    Example
    -------
    >>> from symasd._validation import chunk
    >>> chunk(4.0)
    4
    """
    if value is None:
        return None
    count = int(value)
    if count < 1:
        raise InputError(f"{what} must be a positive number of columns, got {count}")
    return count


def call_count(value, what: str = "calls") -> int | None:
    """A number of calls: a non-negative integer (not a bool), or ``None``.

    Example
    -------
    >>> from symasd._validation import call_count
    >>> call_count(100)
    100
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputError(f"{what} must be None or a non-negative integer (the number of "
                         f"calls you expect), got {value!r}")
    return int(value)


def shape(value, what: str = "shape") -> tuple[int, ...]:
    """A shape: a non-negative integer or a sequence of them, as a tuple.

    Example
    -------
    >>> from symasd._validation import shape
    >>> shape(3), shape((2, 4))
    ((3,), (2, 4))
    """
    items = (value,) if np.ndim(value) == 0 and not isinstance(value, str) else value
    try:
        dims = tuple(items)
    except TypeError:
        dims = None
    if dims is None or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                               and d >= 0 for d in dims):
        raise InputError(f"{what} must be a non-negative integer or a tuple of them, such "
                         f"as 3 or (2, 4); got {value!r}")
    return tuple(int(d) for d in dims)


def output(out, size: int, what: str = "out") -> np.ndarray | None:
    """``out`` if it is ``None`` or an array a kernel may write ``size`` float64
    values into: a writable, C-contiguous float64 vector of that length.

    Example
    -------
    >>> import numpy as np
    >>> from symasd._validation import output
    >>> output(np.zeros(3), 3).shape
    (3,)
    """
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise InputError(f"{what} must be a NumPy float64 array of {size} entries, got "
                         f"{type(out).__name__}")
    problems = [p for p, bad in (
        (f"dtype {out.dtype}, not float64", out.dtype != np.float64),
        (f"shape {out.shape}, not ({size},)", out.shape != (size,)),
        ("not C-contiguous", not out.flags.c_contiguous),
        ("read-only", not out.flags.writeable)) if bad]
    if problems:
        raise InputError(f"{what} must be a writable, contiguous float64 array of {size} "
                         f"entries (np.empty({size})); it is {', '.join(problems)}")
    return out


def function(value, what: str, of: str) -> Callable | None:
    """``value`` if it is callable or ``None``; ``of`` says what it is called with.

    Example
    -------
    >>> from symasd._validation import function
    >>> function(len, "decompress", "the compressed matrix") is len
    True
    """
    if value is not None and not callable(value):
        raise InputError(f"{what} must be a function of {of}, got {type(value).__name__}")
    return value
