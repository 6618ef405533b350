"""Tracing rules of NumPy and SciPy functions beyond the elementwise core.

Each rule writes its function with the graph's ops (and the rules of
:mod:`symasd.tracing`), so patterns and derivatives are exact, and registers
itself there (:func:`symasd.tracing.register`); this module imports tracing,
never the other way round, and ``symasd/__init__`` imports it.

* norms, products and statistics: ``np.linalg.norm`` (vectors with ``ord``
  0, 1, 2, inf, -inf or any p; matrices with ``ord`` None/'fro', 1, -1, inf,
  -inf; ``axis``, ``keepdims``), ``np.cross``, ``np.var``/``np.std`` (``ddof``),
  ``np.trace``, ``np.diag``/``np.diagflat``;
* selections: ``np.nan_to_num``, ``np.sort`` (a sorting network whose
  comparators select both outputs with one condition, so that at ties the
  derivative is a permutation's), and with ``local=True`` only,
  ``np.argmax``/``argmin``/``argsort`` (indices at the tracing point);
* ``np.linalg.solve(A, b)`` with a constant ``A``: its inverse, whose entries
  outside the structural pattern of ``A``'s inverse are set to exact zeros;
* ``scipy.special.logsumexp``, ``softmax``, ``log_softmax`` (a tree of
  ``logaddexp``) and ``polygamma`` (integer orders); SciPy writes them in
  Python with ``np.asarray``, so symasd
  puts a wrapper in their place in ``scipy.special`` at import, which traces a
  symbolic argument and calls SciPy's own function for anything else;
* ``np.interp`` with constant breakpoints ``xp`` (values ``fp`` may be traced):
  a selection of the linear pieces, the same arithmetic as NumPy's (globally up
  to :data:`INTERP_MAX_GLOBAL` pieces times values; with ``local=True`` any
  table, each value's piece taken at ``x0``);
* ``np.real``, ``np.imag``, ``np.iscomplexobj``, ``np.isrealobj`` (a traced
  value is real).

Example
-------
>>> import numpy as np, symasd
>>> f = lambda x: np.linalg.norm(x.reshape(2, 3), axis=1)
>>> symasd.jacobian_sparsity(f, np.ones(6)).toarray().astype(int)
array([[1, 1, 1, 0, 0, 0],
       [0, 0, 0, 1, 1, 1]])
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sparse
import scipy.special
from scipy.sparse import csgraph

from .errors import TracingError
from .graph import Builder
from .ops import Code
from .tracing import (
    SymArray,
    _builder_of,
    _flatten_args,
    _is_bool,
    _matmul,
    _norm_axis,
    _to_ids,
    _wrap,
    register,
)

__all__ = ["structural_inverse", "sorting_network", "INTERP_MAX_GLOBAL"]

_I = np.int64


def _sym(x, b: Builder) -> SymArray:
    """``x`` as a symbolic array of builder ``b`` (numbers become constants)."""
    return x if isinstance(x, SymArray) else _wrap(_to_ids(x, b), b)


def _no_symbolic(what: str, **values) -> None:
    for name, v in values.items():
        if any(isinstance(u, SymArray) for u in _flatten_args([v])):
            raise TracingError(f"{what}: {name} must not depend on x (a number or a constant "
                               "array)")


# ---------------------------------------------------------------------------
# norms


def _vector_norm(a: SymArray, ord, axis: int, keepdims: bool):
    if ord is None or ord == 2:
        return np.sqrt(np.sum(np.square(a), axis=axis, keepdims=keepdims))
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    if ord == np.inf:
        return np.max(np.abs(a), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return np.min(np.abs(a), axis=axis, keepdims=keepdims)
    if ord == 0:
        return np.sum(a != 0, axis=axis, keepdims=keepdims)
    if ord == 1:
        return np.sum(np.abs(a), axis=axis, keepdims=keepdims)
    p = float(ord)
    return np.sum(np.abs(a) ** p, axis=axis, keepdims=keepdims) ** (1.0 / p)


def _matrix_norm(a: SymArray, ord, rows: int, cols: int, keepdims: bool):
    if ord in (None, "fro", "f"):
        res = np.sqrt(np.sum(np.square(a), axis=(rows, cols), keepdims=True))
    elif ord in (1, -1, np.inf, -np.inf):
        along, across = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = np.sum(np.abs(a), axis=along, keepdims=True)
        res = (np.max if ord > 0 else np.min)(sums, axis=across, keepdims=True)
    elif ord in (2, -2, "nuc"):
        raise TracingError(
            f"numpy.linalg.norm of a matrix with ord={ord!r} (from its singular values) "
            "cannot be traced; use ord=None/'fro' (Frobenius), 1, -1, inf or -inf, or a "
            "vector norm along an axis")
    else:
        raise ValueError(f"Invalid norm order {ord!r} for matrices")
    return res if keepdims else np.squeeze(res, axis=(rows, cols))


def _norm(x, ord=None, axis=None, keepdims=False):
    b = _builder_of([x])
    a = _sym(x, b)
    nd = a.ndim
    if axis is None:
        if ord is None:
            res = _vector_norm(a.ravel(), None, 0, False)
            return res.reshape((1,) * nd) if keepdims else res
        if nd not in (1, 2):
            raise ValueError("Improper number of dimensions to norm.")
        axis = tuple(range(nd))
    axes = tuple(axis) if isinstance(axis, tuple | list) else (axis,)
    for ax in axes:
        if not -nd <= int(ax) < nd:
            raise np.exceptions.AxisError(int(ax), nd)
    axes = tuple(int(ax) % nd for ax in axes)  # in the order given: (rows, columns)
    if len(axes) == 1:
        return _vector_norm(a, ord, axes[0], keepdims)
    if len(axes) == 2:
        if axes[0] == axes[1]:
            raise ValueError("Duplicate axes given.")
        return _matrix_norm(a, ord, axes[0], axes[1], keepdims)
    raise ValueError("Improper number of dimensions to norm.")


# ---------------------------------------------------------------------------
# cross, diag, trace, statistics


def _cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    bld = _builder_of([a, b])
    A = np.moveaxis(_sym(a, bld), axisa, -1)
    B = np.moveaxis(_sym(b, bld), axisb, -1)
    na, nb = A.shape[-1], B.shape[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError("incompatible dimensions for cross product\n"
                         "(dimension must be 2 or 3)")
    a0, a1, b0, b1 = A[..., 0], A[..., 1], B[..., 0], B[..., 1]
    cz = a0 * b1 - a1 * b0
    if na == 2 and nb == 2:
        return cz
    if na == 3 and nb == 3:
        a2, b2 = A[..., 2], B[..., 2]
        cx, cy = a1 * b2 - a2 * b1, a2 * b0 - a0 * b2
    elif na == 2:  # a's third component is 0
        b2 = B[..., 2]
        cx, cy = a1 * b2, -(a0 * b2)
    else:
        a2 = A[..., 2]
        cx, cy = -(a2 * b1), a2 * b0
    shape = np.broadcast_shapes(cx.shape, cy.shape, cz.shape)
    parts = [np.broadcast_to(c, shape) for c in (cx, cy, cz)]
    return np.moveaxis(np.stack(parts, axis=-1), -1, axisc)


def _diag(v, k=0):
    b = _builder_of([v])
    ids = _to_ids(v, b)
    if ids.ndim == 1:
        n = ids.size + abs(k)
        out = np.full((n, n), b.zero, dtype=_I)
        i = np.arange(ids.size)
        out[i + max(-k, 0), i + max(k, 0)] = ids
        return _wrap(out, b, _is_bool(v))
    if ids.ndim == 2:
        return _wrap(np.diagonal(ids, k).copy(), b, _is_bool(v))
    raise ValueError("Input must be 1- or 2-d.")


def _diagflat(v, k=0):
    return _diag(np.ravel(v), k)


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    if out is not None:
        raise TracingError("numpy.trace with out= is not supported by symasd tracing")
    return np.sum(np.diagonal(a, offset, axis1, axis2), axis=-1)


def _var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
         mean=None, correction=None):
    if out is not None or where is not None:
        raise TracingError("numpy.var/std with out= or where= is not supported by symasd "
                           "tracing")
    if correction is not None:
        ddof = correction
    b = _builder_of([a, mean])
    x = _sym(a, b)
    axes = _norm_axis(axis, x.ndim)
    n = int(np.prod([x.shape[d] for d in axes], dtype=_I))
    m = np.mean(x, axis=axes, keepdims=True) if mean is None else mean
    d = x - m
    return np.sum(d * d, axis=axes, keepdims=keepdims) / float(max(n - ddof, 0))


def _std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
         mean=None, correction=None):
    return np.sqrt(_var(a, axis, dtype, out, ddof, keepdims, where=where, mean=mean,
                        correction=correction))


# ---------------------------------------------------------------------------
# selections: nan_to_num, sort, arg*


def _nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    _no_symbolic("numpy.nan_to_num", nan=nan, posinf=posinf, neginf=neginf)
    if _is_bool(x):
        return x
    big = np.finfo(np.float64).max
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    b = _builder_of([x])
    a = _sym(x, b)
    res = np.where(np.isfinite(a), a, np.where(np.isnan(a), nan,
                                               np.where(a > 0, posinf, neginf)))
    if not copy and isinstance(x, SymArray):
        x[...] = res
        return x
    return res


def sorting_network(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Batcher's odd-even merge sort for ``n`` keys, in layers of disjoint
    comparators ``(i, j)``, ``i < j`` (the smaller key goes to ``i``): the network for
    the next power of two, without the comparators that reach past ``n`` (their
    keys are +inf there, which never move down).

    Example
    -------
    >>> [(i.tolist(), j.tolist()) for i, j in sorting_network(3)]
    [([0], [1]), ([0], [2]), ([1], [2])]
    """
    layers = []
    size = 1
    while size < n:
        size *= 2
    p = 1
    while p < size:
        k = p
        while k >= 1:
            lo = []
            for j in range(k % p, size - k, 2 * k):
                i = np.arange(min(k, size - j - k)) + j
                same = (i // (2 * p)) == ((i + k) // (2 * p))
                lo.append(i[same])
            i = np.concatenate(lo) if lo else np.zeros(0, dtype=_I)
            keep = i + k < n
            if keep.any():
                layers.append((i[keep].astype(_I), (i[keep] + k).astype(_I)))
            k //= 2
        p *= 2
    return layers


def _sort(a, axis=-1, kind=None, order=None, *, stable=None):
    if order is not None:
        raise TracingError("numpy.sort with order= (structured arrays) cannot be traced")
    b = _builder_of([a])
    ids = _to_ids(a, b)
    if axis is None:
        ids, axis = ids.ravel(), 0
    axis = _norm_axis(axis, ids.ndim)[0]
    keys = np.moveaxis(ids, axis, -1).copy()
    for i, j in sorting_network(keys.shape[-1]):
        shape = keys[..., i].shape
        u, v = keys[..., i].ravel(), keys[..., j].ravel()
        # one condition selects both outputs, so that they are always a permutation
        # of the inputs: at a tie the lower gets u and the upper v (np.minimum and
        # np.maximum would both take the same one, and so would its derivative),
        # and a NaN goes up, to the end, as np.sort puts it
        keep = b.binary(Code.OR, b.binary(Code.LE, u, v), b.binary(Code.NE, v, v))
        keys[..., i] = b.where(keep, u, v).reshape(shape)
        keys[..., j] = b.where(keep, v, u).reshape(shape)
    return _wrap(np.moveaxis(keys, -1, axis), b)


def _arg(name: str, numpy_function):
    def handler(a, *args, **kwargs):
        b = _builder_of([a])
        if not b.local:
            raise TracingError(
                f"numpy.{name} depends on the values of x: its indices cannot be traced for "
                "every input. Use np.max/np.min/np.sort (traced as selections), np.where, "
                f"or trace with local=True to take the indices at x0")
        ids = _to_ids(a, b)
        return numpy_function(b.values(ids.ravel()).reshape(ids.shape), *args, **kwargs)

    return handler


# ---------------------------------------------------------------------------
# linear solves with a constant matrix


def structural_inverse(A: np.ndarray) -> np.ndarray:
    """``inv(A)`` with exact zeros where no value of ``A``'s nonzeros can make an
    entry nonzero (``A``'s structure: by a perfect matching that puts nonzeros on
    the diagonal, then paths in the graph of the permuted matrix, Gilbert's
    theorem), so that ``inv(A) @ b`` has the exact sparsity of the solve.

    Example
    -------
    >>> A = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 4.0]])
    >>> structural_inverse(A)
    array([[ 0.5 , -0.5 ,  0.  ],
           [ 0.  ,  1.  ,  0.  ],
           [ 0.  ,  0.  ,  0.25]])
    """
    A = np.asarray(A, dtype=np.float64)
    inverse = np.linalg.inv(A)
    pattern = sparse.csr_array(A != 0)
    match = csgraph.maximum_bipartite_matching(pattern, perm_type="row")
    if (match < 0).any():
        raise np.linalg.LinAlgError("Singular matrix")
    permuted = pattern[match, :]  # nonzeros on the diagonal: B = P A
    reach = np.isfinite(csgraph.shortest_path(permuted, method="D", unweighted=True))
    structure = np.empty_like(reach)
    structure[:, match] = reach  # inv(A) = inv(B) P
    inverse[~structure] = 0.0
    return inverse


def _solve(a, b):
    if isinstance(a, SymArray):
        raise TracingError(
            "numpy.linalg.solve(A, b) with a traced matrix A cannot be traced: A must be "
            "a constant (a NumPy array, or a static argument of f). For an A that depends "
            "on x, make the solution an unknown: return the residual A(x) @ y - b and let "
            "a Newton solver find y")
    if sparse.issparse(a):
        raise TracingError("numpy.linalg.solve with a scipy.sparse matrix: pass a dense "
                           "constant (A.toarray()); a sparse factorization is not traced")
    A = np.asarray(a, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise TracingError(f"numpy.linalg.solve is traced for one square constant matrix; "
                           f"got shape {A.shape}")
    bld = _builder_of([b])
    rhs = _to_ids(b, bld)
    if rhs.ndim not in (1, 2) or rhs.shape[0] != A.shape[0]:
        raise ValueError(f"solve: b of shape {rhs.shape} does not match A of shape {A.shape}")
    return _matmul(structural_inverse(A), _wrap(rhs, bld))


# ---------------------------------------------------------------------------
# scipy.special.logsumexp and friends


def _logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    bld = _builder_of([a, b])
    x = _sym(a, bld)
    if b is not None:
        if not isinstance(b, SymArray) and (np.asarray(b) < 0).any():
            raise TracingError("scipy.special.logsumexp with negative weights b is not "
                               "supported by symasd tracing (the sign would depend on x)")
        x = x + np.log(_sym(b, bld))  # log 0 = -inf: the term drops out of logaddexp
    axes = _norm_axis(axis, x.ndim)
    res = np.logaddexp.reduce(x, axis=axes, keepdims=keepdims) if axes else x
    if return_sign:
        return res, np.ones(res.shape)
    return res


def _softmax(x, axis=None):
    return np.exp(x - _logsumexp(x, axis=axis, keepdims=True))


def _log_softmax(x, axis=None):
    return x - _logsumexp(x, axis=axis, keepdims=True)


def _traces_symbolic(original, traced):
    """``original`` (a SciPy function), but ``traced`` when an argument is symbolic."""

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if any(isinstance(v, SymArray) for v in _flatten_args([*args, *kwargs.values()])):
            return traced(*args, **kwargs)
        return original(*args, **kwargs)

    wrapper.__symasd_original__ = original
    return wrapper


def _install(module, name: str, traced) -> None:
    original = getattr(module, name, None)
    if original is None or hasattr(original, "__symasd_original__"):
        return
    setattr(module, name, _traces_symbolic(original, traced))


def _polygamma(n, x):
    _no_symbolic("scipy.special.polygamma", n=n)
    order = np.asarray(n)
    if order.dtype.kind not in "iu" and not np.all(order == np.floor(order)):
        raise TracingError("scipy.special.polygamma needs integer orders n")
    b = _builder_of([x])
    ids = _to_ids(x, b)
    ids, order = np.broadcast_arrays(ids, order.astype(np.float64))
    out = b.unary_payload(Code.POLYGAMMA, np.ascontiguousarray(ids).ravel(),
                          np.ascontiguousarray(order).ravel())
    return _wrap(out.reshape(ids.shape), b)


for _name, _rule in (("logsumexp", _logsumexp), ("softmax", _softmax),
                     ("log_softmax", _log_softmax), ("polygamma", _polygamma)):
    _install(scipy.special, _name, _rule)


# ---------------------------------------------------------------------------
# piecewise linear interpolation

#: Pieces times elements up to which ``np.interp`` is traced globally: a selection
#: over every piece costs about 5 nodes per piece and element (a 5-point table on
#: 10^5 elements: 2.5 million nodes, about 2 s to prepare compiled); beyond, only
#: with ``local=True``.
INTERP_MAX_GLOBAL = 2_000_000


def _interp(x, xp, fp, left=None, right=None, period=None):
    """``np.interp``: on piece ``j`` (``xp[j] <= x < xp[j + 1]``) NumPy's
    ``slope_j * (x - xp[j]) + fp[j]``, ``fp[-1]`` at ``xp[-1]``, ``left`` / ``right``
    outside (``fp[0]`` / ``fp[-1]`` by default), NaN for NaN."""
    _no_symbolic("np.interp", xp=xp, period=period)
    if period is not None:
        raise TracingError("np.interp with period is not supported by symasd tracing; wrap "
                           "x into one period first (x - np.floor(x / p) * p) and pass "
                           "the breakpoints of that period")
    xp = np.asarray(xp, dtype=np.float64)
    if xp.ndim != 1 or xp.size == 0:
        raise TracingError(f"np.interp needs a non-empty 1-D xp, got shape {xp.shape}")
    if not np.all(np.isfinite(xp)) or np.any(np.diff(xp) < 0):
        raise TracingError("np.interp needs finite, increasing breakpoints xp (NumPy's "
                           "result is not defined for others)")
    if np.shape(fp) != xp.shape:
        raise TracingError(f"np.interp: fp has shape {np.shape(fp)}, xp has shape {xp.shape}")
    if not isinstance(fp, SymArray) and not np.all(np.isfinite(np.asarray(fp, dtype=float))):
        raise TracingError("np.interp needs finite values fp")
    b = _builder_of([x, fp, left, right])
    x = _sym(x, b)
    fp = _sym(fp, b)
    left = fp[0] if left is None else left
    right = fp[-1] if right is None else right
    k = xp.size
    dx = xp[1:] - xp[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        slopes = (fp[1:] - fp[:-1]) / dx if k > 1 else None
    if b.local:
        return _interp_at_x0(x, xp, fp, slopes, left, right, b)
    if (k - 1) * x.size > INTERP_MAX_GLOBAL:
        raise TracingError(
            f"np.interp of {x.size} values over {k} breakpoints: tracing it for every x "
            f"selects among all {k - 1} pieces for each value, {5 * (k - 1) * x.size} nodes "
            f"(the limit is {5 * INTERP_MAX_GLOBAL}); trace with local=True (each value's "
            "piece taken at x0, valid while it stays there), or use fewer breakpoints")
    y = np.where(x > xp[-1], right, fp[-1])
    for j in range(k - 2, -1, -1):
        if dx[j] > 0:  # (NumPy's search never lands in an empty piece)
            y = np.where(x < xp[j + 1], slopes[j] * (x - xp[j]) + fp[j], y)
    y = np.where(x < xp[0], left, y)
    return np.where(np.isnan(x), x, y)


def _interp_at_x0(x, xp, fp, slopes, left, right, b: Builder):
    """:func:`_interp` with each element's piece chosen at the tracing point."""
    x0 = b.values(_to_ids(x, b).ravel()).reshape(x.shape)
    k = xp.size
    if k == 1:
        piece = np.zeros(x.shape, dtype=np.int64)
    else:
        piece = np.clip(np.searchsorted(xp, x0, side="right") - 1, 0, k - 2)
    inside = slopes[piece] * (x - xp[piece]) + fp[piece] if k > 1 else fp[piece]
    y = np.where(x0 < xp[0], left, np.where(x0 > xp[-1], right,
                                             np.where(x0 == xp[-1], fp[-1], inside)))
    return np.where(np.isnan(x0), x, y)


# ---------------------------------------------------------------------------
# registration


def _real(val):
    return val


def _imag(val):
    return np.zeros_like(val)


for _function, _handler in (
        (np.linalg.norm, _norm), (np.cross, _cross), (np.diag, _diag),
        (np.diagflat, _diagflat), (np.trace, _trace), (np.var, _var), (np.std, _std),
        (np.nan_to_num, _nan_to_num), (np.sort, _sort), (np.linalg.solve, _solve),
        (np.interp, _interp),
        (np.argmax, _arg("argmax", np.argmax)), (np.argmin, _arg("argmin", np.argmin)),
        (np.argsort, _arg("argsort", np.argsort)), (np.real, _real), (np.imag, _imag),
        (np.iscomplexobj, lambda x: False), (np.isrealobj, lambda x: True)):
    register(_function, _handler)

_LINALG = ("; write the algebra with traced operations (@, np.linalg.solve with a constant "
           "matrix), or make the unknowns part of x and return a residual")
for _function, _advice in (
        (np.linalg.inv, "; for a constant matrix use np.linalg.solve(A, b) (traced), else"
                        + _LINALG[1:]),
        (np.linalg.det, _LINALG), (np.linalg.eig, _LINALG), (np.linalg.eigh, _LINALG),
        (np.linalg.eigvals, _LINALG), (np.linalg.svd, _LINALG), (np.linalg.qr, _LINALG),
        (np.linalg.cholesky, _LINALG), (np.linalg.lstsq, _LINALG), (np.linalg.pinv, _LINALG),
        (np.median, "; its index depends on x: use np.sort(x)[..., k] (traced) for a fixed k"),
        (np.unique, "; its result's size depends on x, which a graph cannot have"),
        (np.nonzero, "; indices that depend on x cannot be traced: use np.where(c, a, b)"),
        (np.searchsorted, "; indices that depend on x cannot be traced: use np.where / "
                          "comparisons"),
        (np.mod, "; write a - np.floor(a / b) * b"),
):
    register(_function, None, _advice)
