"""Symbolic compressed sweeps: compiling derivative DAGs.

A symbolic sweep runs forward (JVP) or reverse (VJP) mode over a graph, but
instead of numbers it propagates **node ids** of a new graph: every tangent
or adjoint is an expression, built with the op table's partial-derivative
rules through a :class:`~symasd.graph.Builder`, so it is hash-consed and
simplified on the fly (products with a structurally zero tangent vanish,
constant partials fold). Seeds come from a coloring: all inputs of one color
share one tangent direction, so a sweep carries ``c`` directions.

Sweeps are vectorized by **level** (the longest distance from a leaf): all
nodes of one level and one opcode are differentiated by one call of their
partial rule, so the Python work grows with the graph's depth, not its size.

Selections (``where``, ``maximum``, ``minimum``: ``Op.select``) pass on the
tangent or adjoint of the argument they select (``where`` nodes), never a 0/1
partial times both, and below a selection the reverse sweep multiplies a
partial that may not be finite by its adjoint with a strong zero (``MULZ``:
``0 * inf`` is 0): a branch not taken has a zero adjoint and may have NaN or
infinite partials (``q / h`` at ``h = 0``), and these never reach the
derivative, as in the numeric sweeps. ``MULZ(P, A)`` differs from ``P * A`` only
where one factor is 0 and the other is not finite, and its own sweeps multiply
with ``MULZ`` again (``MULZ(A, dP) + MULZ(P, dA)``), so a zero adjoint on the
branch taken keeps its second-order terms (``P dA`` for a finite ``P``).

The result of a compilation is a graph whose outputs are the function values
followed by the nonzeros of the Jacobian (or gradient and Hessian) in CSR
order: decompression is folded into the output indexing (for substitution,
into expressions).

A compilation can be given a **deadline** (:func:`deadline`): the sweeps check
the clock once per block of nodes and raise :class:`CompileTimeout` past it.
``engine="auto"`` (:mod:`symasd.tiering`) gives its compiles one, so that a
derivative DAG much larger than estimated costs bounded time before the tape
is kept instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from . import _dag
from .coloring import (
    AcyclicColoringResult,
    BicoloringResult,
    ColoringResult,
    ColumnColoringResult,
    RowColoringResult,
    StarColoringResult,
)
from .errors import InputError, SymasdError
from .graph import Builder, Graph, compacted
from .ops import OPS, SINGULAR_CODES, Code

__all__ = ["CompiledDerivative", "compile_jacobian", "compile_hessian",
           "forward_tangents", "reverse_adjoints", "substitute", "deadline",
           "CompileTimeout"]

_I = np.int64
# (the perf_counter() time past which a compile in this context gives up, the
# seconds it was given)
_DEADLINE: ContextVar[tuple[float, float]] = ContextVar("symasd_compile_deadline",
                                                        default=(math.inf, math.inf))


class CompileTimeout(SymasdError):
    """A compilation ran past its :func:`deadline`."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Compilations in this block raise :class:`CompileTimeout` once they have run
    ``seconds`` (checked once per block of nodes, so a little later). Inside an
    earlier deadline, the earlier one holds.

    Example
    -------
    >>> import numpy as np, symasd
    >>> g = symasd.trace(lambda x: np.diff(x) ** 2, np.zeros(10))
    >>> r = symasd.color(symasd.jacobian_sparsity(g), "column")
    >>> with deadline(0.0):
    ...     compile_jacobian(g, r)
    Traceback (most recent call last):
    ...
    symasd.compiler.CompileTimeout: compiling ran past its deadline of 0 s
    """
    token = _DEADLINE.set(min(_DEADLINE.get(), (time.perf_counter() + seconds, seconds)))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _check_deadline() -> None:
    when, seconds = _DEADLINE.get()
    if time.perf_counter() > when:
        raise CompileTimeout(f"compiling ran past its deadline of {seconds:.3g} s")


class CompiledDerivative:
    """A derivative DAG. ``graph.outputs`` holds, in order, ``n_values`` function
    values, ``n_gradient`` gradient entries (Hessians only) and ``nnz`` matrix
    entries in the CSR order of the pattern; ``matrix_graph`` computes the
    matrix entries alone (no node that only the values need).

    ``graph`` is given uncompacted (the builder's nodes, some of which its outputs
    do not read) and compacted on first use: a prepared derivative that is only
    asked for its matrix never needs it, and compacting a graph of millions of
    nodes takes tens of milliseconds, mostly in page faults on the copy.
    """

    def __init__(self, graph: Graph, matrix_graph: Graph, n_values: int, n_gradient: int,
                 nnz: int):
        self._uncompacted, self._graph = graph, None
        self.matrix_graph = matrix_graph
        self.n_values, self.n_gradient, self.nnz = n_values, n_gradient, nnz

    @property
    def graph(self) -> Graph:
        graph = self._graph
        if graph is None:
            # without a lock: threads that meet here may each compact (the same
            # graph), and _graph is set before _uncompacted is dropped
            uncompacted = self._uncompacted
            if uncompacted is None:
                return self._graph
            graph = self._graph = compacted(uncompacted)
            self._uncompacted = None
        return graph

    def __getstate__(self) -> dict:
        self.graph  # noqa: B018  (a pickle holds the compacted graph, not the builder's arrays)
        return dict(self.__dict__)

    def __repr__(self) -> str:
        return (f"CompiledDerivative(n_values={self.n_values}, n_gradient={self.n_gradient}, "
                f"nnz={self.nnz}, matrix_graph={self.matrix_graph!r})")


# Opcodes as plain ints where arrays are compared with them: NumPy compares an
# array with an IntEnum member several times slower than with an int.
_VAR, _CONST, _MULZ = int(Code.VAR), int(Code.CONST), int(Code.MULZ)
# by opcode: the op-table row and the arguments whose first derivative may be
# nonzero (the only ones a sweep propagates through)
_ROW = {int(code): row for code, row in OPS.items()}
_LIVE = {int(code): tuple(i for i in range(row.arity) if row.d1[i])
         for code, row in OPS.items()}
# the selections (Op.select): their tangents and adjoints are selected, not multiplied
_SELECTS = frozenset(int(code) for code, row in OPS.items() if row.select is not None)
_SINGULAR = frozenset(int(code) for code in SINGULAR_CODES)


def _groups(g: Graph, roots: np.ndarray | None = None):
    """Non-leaf nodes (those ``roots`` depend on, if given) grouped by (level,
    opcode), in an order that respects dependencies. Yields
    ``(level, opcode, node_ids)`` (the opcode as an int)."""
    levels = g.levels
    if roots is None:
        inner = np.flatnonzero(levels > 0)
    else:
        live = np.zeros(g.n_nodes, dtype=np.uint8)
        _dag.live_nodes(g.op, g.arg0, g.arg1, g.arg2, np.ascontiguousarray(roots, dtype=_I),
                        live)
        inner = np.flatnonzero(live.view(bool) & (levels > 0))
    if inner.size == 0:
        return
    key = levels[inner] * 256 + g.op[inner]
    # a stable sort of 16-bit keys is a radix sort (graphs under 256 levels)
    order = np.argsort(key.astype(np.uint16) if key.max() < 65536 else key, kind="stable")
    nodes = inner[order]
    key = key[order]
    bounds = np.flatnonzero(key[1:] != key[:-1]) + 1
    for s, e in zip([0, *bounds.tolist()], [*bounds.tolist(), key.size], strict=True):
        k = int(key[s])
        yield k >> 8, k & 255, nodes[s:e]


def _partials(b: Builder, g: Graph, code: int, K: np.ndarray):
    row = _ROW[code]
    args = [a[K] for a in (g.arg0, g.arg1, g.arg2)[: row.arity]]
    return row.rule("partials", "symbolic sweep")(b, *args, K, g.const[K])


def _selection(b: Builder, g: Graph, code: int, K: np.ndarray):
    """``(cond, i, j, invalid)`` of the selection nodes ``K`` (see ``Op.select``)."""
    row = _ROW[code]
    args = [a[K] for a in (g.arg0, g.arg1, g.arg2)[: row.arity]]
    return row.select(b, *args, K, g.const[K])


def _select_tangents(b: Builder, g: Graph, code: int, K: np.ndarray, Ta, nz) -> np.ndarray:
    """Tangents of the selection nodes ``K``: the selected argument's tangent
    (``where(cond, T_i, T_j)``), never a 0/1 partial times the other's, which is
    NaN where that one is infinite or NaN (a branch not taken)."""
    cond, i, j, invalid = _selection(b, g, code, K)
    live = _LIVE[code]
    ti, tj = Ta[live.index(i)], Ta[live.index(j)]
    r, c = np.nonzero(nz[live.index(i)] | nz[live.index(j)])
    picked = b.where(cond[r], ti[r, c], tj[r, c])
    if invalid is not None:
        picked = b.binary(Code.MUL, picked, _nan_or_one(b, invalid)[r])
    out = np.full(ti.shape, b.zero, dtype=_I)
    out[r, c] = picked
    return out


def forward_tangents(b: Builder, g: Graph, colors: np.ndarray, ncolors: int,
                     roots: np.ndarray | None = None) -> np.ndarray:
    """Symbolic forward sweep: ``T[k, c]`` is the id of the tangent of node ``k``
    in direction ``c``, where input ``j`` is seeded in direction ``colors[j]``
    (``-1``: not seeded). With ``roots``, only the nodes they depend on are
    differentiated (the tangents of the others stay zero).

    Example
    -------
    >>> import numpy as np, symasd
    >>> g = symasd.trace(lambda x: np.diff(x) ** 2, np.zeros(3))
    >>> b = Builder.from_graph(g)
    >>> T = forward_tangents(b, g, np.array([0, 1, 0]), 2)   # x0, x2 share direction 0
    >>> B = b.finish(T[g.outputs], g.input_shape, (2, 2))    # J @ S as a graph
    >>> B(np.array([0., 1., 3.]))
    array([[-2.,  2.],
           [ 4., -4.]])
    """
    zero = b.zero
    T = np.full((g.n_nodes, ncolors), zero, dtype=_I)
    var = np.flatnonzero(g.op == _VAR)
    col = colors[g.const[var].astype(_I)]
    seeded = col >= 0
    T[var[seeded], col[seeded]] = b.one
    arg_arrays = (g.arg0, g.arg1, g.arg2)
    for _, code, K in _groups(g, roots):
        _check_deadline()
        live = _LIVE[code]
        if not live:
            continue
        if code in _SELECTS:
            Ta = [T[arg_arrays[i][K]] for i in live]
            nz = [t != zero for t in Ta]
            active = np.logical_or.reduce([m.any(axis=1) for m in nz])
            if not active.any():
                continue
            if not active.all():
                K = K[active]
                Ta = [t[active] for t in Ta]
                nz = [m[active] for m in nz]
            T[K] = _select_tangents(b, g, code, K, Ta, nz)
            continue
        # the nonzero tangents of each live argument, as (row in K, color, id)
        entries = [_dag.tangent_entries(T, arg_arrays[i], K, zero) for i in live]
        active = np.zeros(K.size, dtype=bool)
        for r, _, _ in entries:
            active[r] = True
        if not active.all():
            if not active.any():
                continue
            # only the nodes with a nonzero tangent are differentiated
            K = K[active]
            renumber = np.cumsum(active) - 1
            entries = [(renumber[r], c, v) for r, c, v in entries]
        P = _partials(b, g, code, K)
        # the rows of K are still zero in T (a node is in one group): the terms
        # are written there directly, entry by entry (no dense table per argument)
        first = True
        for i, (r, c, v) in zip(live, entries, strict=True):
            terms = _products(b, code, P[i][r], v)
            rows = K[r]
            if first:
                T[rows, c] = terms
                first = False
                continue
            # add only where both terms are nonzero; elsewhere take the other
            prev = T[rows, c]
            both = (prev != zero) & (terms != zero)
            take = prev == zero
            T[rows[take], c[take]] = terms[take]
            if both.any():
                T[rows[both], c[both]] = b.binary(Code.ADD, prev[both], terms[both])
    return T


def reverse_adjoints(b: Builder, g: Graph, row_colors: np.ndarray,
                     ncolors: int) -> np.ndarray:
    """Symbolic reverse sweep: returns ``A`` of shape ``(ncolors, n_inputs)`` with
    ``A[c, j]`` the id of the adjoint of input ``j`` when every output ``i`` with
    ``row_colors[i] == c`` is seeded with 1 (``-1``: not seeded).

    Example
    -------
    >>> import numpy as np, symasd
    >>> g = symasd.trace(lambda x: np.diff(x) ** 2, np.zeros(3))
    >>> b = Builder.from_graph(g)
    >>> A = reverse_adjoints(b, g, np.array([0, 1]), 2)      # one color per output
    >>> b.finish(A, g.input_shape, A.shape)(np.array([0., 1., 3.]))   # the rows of J
    array([[-2.,  2.,  0.],
           [ 0., -4.,  4.]])
    """
    levels = g.levels
    nlev = int(levels.max()) + 1 if g.n_nodes else 1
    buckets: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(nlev)]
    zero = b.zero
    # adjoints flow only to nodes that depend on an input: a constant factor
    # (the 100 of 100 * t) would otherwise collect a sum over all its uses
    dep = np.zeros(g.n_nodes, dtype=np.uint8)
    _dag.input_dependent(g.op, g.arg0, g.arg1, g.arg2, dep)
    dep = dep.view(bool)

    def push(targets, cols, values):
        keep = (values != zero) & dep[targets]
        if not keep.all():
            targets, cols, values = targets[keep], cols[keep], values[keep]
        if targets.size == 0:
            return
        lev = levels[targets]
        lo, hi = int(lev.min()), int(lev.max())
        if lo == hi:
            buckets[lo].append((targets, cols, values))
            return
        for level in np.unique(lev).tolist():
            m = lev == level
            buckets[level].append((targets[m], cols[m], values[m]))

    guarded = _branch_cone(g)
    seeded = row_colors >= 0
    outs = g.outputs[seeded]
    push(outs, row_colors[seeded].astype(_I), np.full(outs.size, b.one, dtype=_I))
    result = np.full((ncolors, g.n_inputs), zero, dtype=_I)
    arg_arrays = (g.arg0, g.arg1, g.arg2)
    for level in range(nlev - 1, -1, -1):
        chunks = buckets[level]
        if not chunks:
            continue
        _check_deadline()
        buckets[level] = []
        if len(chunks) == 1:
            t, c, v = chunks[0]
        else:
            t, c, v = (np.concatenate([x[j] for x in chunks]) for j in range(3))
        key = t * ncolors + c if ncolors > 1 else t
        order = np.argsort(key, kind="stable")
        key, v = key[order], v[order]
        # contributions to the same (node, color) are summed; when each has a
        # single one (a tree's nodes have one user), its adjoint is that term
        first = np.ones(key.size, dtype=bool)
        np.not_equal(key[1:], key[:-1], out=first[1:])
        if first.all():
            uniq, adj = key, v
        else:
            starts = np.flatnonzero(first)
            uniq = key[starts]
            adj = b.reduce_segments(Code.ADD, v, np.append(starts, key.size))
        if ncolors > 1:
            nodes, cols = uniq // ncolors, uniq % ncolors
        else:
            nodes, cols = uniq, np.zeros(uniq.size, dtype=_I)
        ops = g.op[nodes]
        if level == 0:
            var = ops == _VAR
            result[cols[var], g.const[nodes[var]].astype(_I)] = adj[var]
            continue
        lo, hi = int(ops.min()), int(ops.max())
        for code in ([lo] if lo == hi else np.unique(ops).tolist()):
            live = _LIVE[code]
            if not live:
                continue
            if lo == hi:
                K, C, A = nodes, cols, adj
            else:
                m = ops == code
                K, C, A = nodes[m], cols[m], adj[m]
            # K is sorted: the partials are built once per distinct node
            new = np.ones(K.size, dtype=bool)
            np.not_equal(K[1:], K[:-1], out=new[1:])
            inv = None if new.all() else np.cumsum(new) - 1
            if code in _SELECTS:
                for arg, adjoint in _select_adjoints(b, g, code, K, new, inv, A):
                    push(arg_arrays[arg][K], C, adjoint)
                continue
            if inv is None:
                P = _partials(b, g, code, K)
            else:
                P = [None if p is None else p[inv]
                     for p in _partials(b, g, code, K[new])]
            guard = guarded[K]
            for i in live:
                push(arg_arrays[i][K], C, _products(b, code, P[i], A, guard))
    return result


def _branch_cone(g: Graph) -> np.ndarray:
    """Whether each node of ``g`` is a branch of a selection or something a branch
    depends on: the nodes whose adjoint a selection may set to zero, there
    where that branch is not taken."""
    cone = np.zeros(g.n_nodes, dtype=np.uint8)
    arg_arrays = (g.arg0, g.arg1, g.arg2)
    branches = [arg_arrays[i][g.op == code] for code in _SELECTS for i in _LIVE[code]]
    roots = np.concatenate(branches) if branches else np.zeros(0, dtype=_I)
    if roots.size:
        _dag.live_nodes(g.op, g.arg0, g.arg1, g.arg2, np.ascontiguousarray(roots), cone)
    return cone.view(bool)


def _products(b: Builder, code: int, P: np.ndarray, A: np.ndarray,
              guard: np.ndarray | None = None) -> np.ndarray:
    """The sweep terms ``P * A`` (partials times tangents or adjoints) of nodes
    with opcode ``code``: strong-zero products (``MULZ``: 0 where a factor is 0,
    even if the other is infinite or NaN) for a ``MULZ`` node, whose strong zero
    its derivatives keep, for an op whose partials may be infinite at finite
    arguments (``SINGULAR_CODES``: the tangent of ``sqrt(x @ x)`` at ``x = 0`` is
    ``inf * 0``), and where ``guard`` marks a node of a branch cone whose partial
    may not be finite. A branch that a selection does not take
    has a zero adjoint and may have infinite or NaN partials (``q / h`` at
    ``h = 0``, ``sqrt(x)`` at ``x < 0``), and ``0 * inf`` is NaN: the numeric
    sweeps scale only nonzero adjoints by such a partial, and this is the same
    rule. Only finite constant partials need no guard: an input or a parameter
    may be NaN or infinite itself (missing data that a ``where`` masks)."""
    if code == _MULZ:
        return b.binary(Code.MULZ, P, A)
    terms = b.binary(Code.MUL, P, A)
    singular = code in _SINGULAR
    if not singular and (guard is None or not guard.any()):
        return terms
    op, _, _, _, c = b.arrays()
    safe = (op[P] == _CONST) & np.isfinite(c[P])
    m = ~safe if singular else guard & ~safe
    if m.any():
        terms[m] = b.binary(Code.MULZ, P[m], A[m])
    return terms


def _select_adjoints(b: Builder, g: Graph, code: int, K: np.ndarray, new: np.ndarray,
                     inv: np.ndarray | None, A: np.ndarray):
    """``(argument, adjoint contributions)`` of the selection nodes ``K`` (sorted,
    ``new`` marks the first of each, ``inv`` maps back) with adjoints ``A``: the
    adjoint goes to the selected argument only (``where(cond, A, 0)``)."""
    cond, i, j, invalid = _selection(b, g, code, K if inv is None else K[new])
    if inv is not None:
        cond = cond[inv]
        invalid = None if invalid is None else invalid[inv]
    zero = np.full(A.size, b.zero, dtype=_I)
    scale = None if invalid is None else _nan_or_one(b, invalid)
    for arg, taken in ((i, b.where(cond, A, zero)), (j, b.where(cond, zero, A))):
        if scale is not None:
            taken = b.binary(Code.MUL, taken, scale)
        yield arg, taken


def _nan_or_one(b: Builder, invalid: np.ndarray) -> np.ndarray:
    """NaN where ``invalid`` is nonzero, else 1: the factor that makes a selection's
    tangent or adjoint NaN where its derivative is (a maximum of a NaN). A product,
    not a ``where``, so that the derivatives of the term are NaN there too."""
    return b.where(invalid, b.const_like(invalid, np.nan), b.const_like(invalid, 1.0))


def substitute(b: Builder, B_flat: np.ndarray, program, nnz: int) -> np.ndarray:
    """Fold a substitution decompression program into expressions.

    ``program`` is a :class:`~symasd.decompression.SubstitutionProgram`: step
    ``t`` computes ``v = B_flat[sources[t]] - sum(values[dep_indices[...]])``
    and stores it at ``targets[t]`` and ``mirrors[t]``. Each step becomes a
    chain of additions over its dependencies and one subtraction; the chains
    of all steps are laid out with NumPy and interned by one Cython call
    (:meth:`Builder.sequence`), since steps can depend on each other in long
    chains (a tridiagonal Hessian recovered along a path).

    Example
    -------
    >>> import numpy as np, symasd
    >>> H = np.array([[2., 1, 0, 0], [1, 3, 4, 0], [0, 4, 5, 6], [0, 0, 6, 7]])
    >>> r = symasd.color(H, "acyclic", order="natural")
    >>> g = symasd.trace(lambda v: v, np.zeros(4 * r.ncolors))   # B_flat as inputs
    >>> b = Builder.from_graph(g)
    >>> values = substitute(b, g.outputs, r.program, r.nnz)
    >>> b.finish(values, g.input_shape, values.shape)((H @ r.seeds()).ravel())
    array([2., 1., 1., 3., 4., 4., 5., 6., 6., 7.])
    """
    targets = np.asarray(program.targets, dtype=_I)
    mirrors = np.asarray(program.mirrors, dtype=_I)
    sources = np.asarray(program.sources, dtype=_I)
    ptr = np.asarray(program.dep_ptr, dtype=_I)
    deps = np.asarray(program.dep_indices, dtype=_I)
    k = np.diff(ptr)
    # entries of step t occupy positions start[t] .. start[t] + k[t] - 1
    start = np.concatenate([[0], np.cumsum(k)])[:-1]
    total = int(k.sum())
    # reference to each step's value: an existing id or -2 - position
    step_ref = np.where(k == 0, B_flat[sources], -2 - (start + k - 1))
    value_ref = np.full(nnz, b.zero, dtype=_I)
    value_ref[targets] = step_ref
    value_ref[mirrors] = step_ref
    dep_ref = value_ref[deps]
    owner = np.repeat(np.arange(targets.size, dtype=_I), k)
    j = np.arange(total, dtype=_I) - start[owner]  # index of the entry within its step
    last = j == k[owner] - 1
    op = np.where(last, int(Code.SUB), int(Code.ADD)).astype(np.uint8)
    # ADD entry j (< k-1): previous partial sum (dep 0 for j = 0) + dep j+1
    first_dep = dep_ref[ptr[owner]]
    prev = np.where(j == 0, first_dep, -2 - (np.arange(total, dtype=_I) - 1))
    a0 = np.where(last, B_flat[sources[owner]], prev)
    # SUB entry: B - (sum so far); for k == 1 the sum is dep 0 itself
    sum_so_far = np.where(k[owner] == 1, first_dep, prev)
    next_dep = dep_ref[np.minimum(ptr[owner] + j + 1, deps.size - 1)] if deps.size else a0
    a1 = np.where(last, sum_so_far, next_dep)
    resolved = step_ref
    if total:
        ids = b.sequence(op, a0, a1)
        resolved = np.where(step_ref >= 0, step_ref, ids[np.maximum(-2 - step_ref, 0)])
    values = np.full(nnz, b.zero, dtype=_I)
    values[targets] = resolved
    values[mirrors] = resolved
    return values


def _finish(b: Builder, g: Graph, heads: list[np.ndarray], data: np.ndarray):
    """The graph of ``heads`` and ``data`` over the builder's nodes (compacted by
    :class:`CompiledDerivative` when first used) and the compacted graph of
    ``data`` alone."""
    outputs = np.concatenate(heads + [data])
    full = b.finish(outputs, g.input_shape, outputs.shape, g.param_shapes, compact=None)
    return full, b.finish(data, g.input_shape, data.shape, g.param_shapes, compact=True)


def _sides(coloring: ColoringResult):
    """``(row_colors, n_row_colors, column_colors, n_column_colors)`` of a Jacobian
    coloring (``None, 0`` for a side it does not seed)."""
    if isinstance(coloring, BicoloringResult):
        return (coloring.row_colors, coloring.n_row_colors,
                coloring.column_colors, coloring.n_column_colors)
    if isinstance(coloring, RowColoringResult):
        return coloring.colors, coloring.ncolors, None, 0
    if isinstance(coloring, ColumnColoringResult):
        return None, 0, coloring.colors, coloring.ncolors
    raise InputError(f"a Jacobian is compiled from a column, row or bidirectional coloring, "
                     f"not a {coloring.problem} coloring")


def compile_jacobian(g: Graph, coloring: ColoringResult) -> CompiledDerivative:
    """Compile the Jacobian of ``g`` seeded by ``coloring``: a forward sweep for a
    column coloring, a reverse sweep for a row coloring, both for a bicoloring.
    The coloring's ``compressed_indices`` gather each nonzero (CSR order) from
    ``concatenate([B_row.ravel(), B_col.ravel()])``, where ``B_row`` is
    ``(n_row_colors, n)`` and ``B_col`` is ``(m, n_column_colors)`` (one of them
    empty for a one-sided coloring).

    Example
    -------
    >>> import numpy as np, symasd
    >>> g = symasd.trace(lambda x: np.diff(x) ** 2, np.zeros(3))
    >>> c = compile_jacobian(g, symasd.color(symasd.jacobian_sparsity(g), "column"))
    >>> c.nnz, c.matrix_graph(np.array([0., 1., 3.]))
    (4, array([-2.,  2., -4.,  4.]))
    """
    row_colors, n_row_colors, column_colors, n_column_colors = _sides(coloring)
    b = Builder.from_graph(g)
    parts = []
    if n_row_colors:
        parts.append(reverse_adjoints(b, g, np.asarray(row_colors, dtype=_I),
                                      n_row_colors).ravel())
    if n_column_colors:
        T = forward_tangents(b, g, np.asarray(column_colors, dtype=_I), n_column_colors)
        parts.append(T[g.outputs].ravel())
    B = np.concatenate(parts) if parts else np.zeros(0, dtype=_I)
    data = B[np.asarray(coloring.compressed_indices, dtype=_I)]
    full, matrix = _finish(b, g, [g.outputs], data)
    return CompiledDerivative(full, matrix, g.n_outputs, 0, int(data.size))


def gradient_graph(g: Graph) -> tuple[Builder, np.ndarray, Graph]:
    """The graph with outputs ``[f, grad f]`` of a scalar graph ``g``, and the
    builder it views (same ids: the builder can go on appending to it, and its
    nodes that the outputs do not read are left in place)."""
    b = Builder.from_graph(g)
    grad = reverse_adjoints(b, g, np.zeros(1, dtype=_I), 1)[0]
    outputs = np.concatenate([g.outputs, grad])
    return b, outputs, b.finish(outputs, g.input_shape, outputs.shape, g.param_shapes,
                                compact=None)


def compile_hessian(g: Graph, coloring: ColoringResult) -> CompiledDerivative:
    """Compile value, gradient and Hessian of a scalar graph ``g`` by a symbolic
    forward sweep over its symbolic gradient (forward-over-reverse), seeded by
    ``coloring`` (star, acyclic, or column coloring of the Hessian pattern);
    decompression by direct gather (the coloring's ``compressed_indices`` into the
    ``(n, ncolors)`` compressed matrix) or, for an acyclic coloring, by its
    substitution ``program``.

    Example
    -------
    >>> import numpy as np, symasd
    >>> g = symasd.trace(lambda x: np.sum(x[1:] * x[:-1]), np.zeros(3))
    >>> c = compile_hessian(g, symasd.color(symasd.hessian_sparsity(g), "star"))
    >>> c.n_gradient, c.matrix_graph(np.zeros(3))
    (3, array([1., 1., 1., 1.]))
    """
    if not isinstance(coloring, (StarColoringResult, AcyclicColoringResult,
                                 ColumnColoringResult)):
        raise InputError(f"a Hessian is compiled from a star, acyclic or column coloring, "
                         f"not a {coloring.problem} coloring")
    # the gradient's builder goes on (G2 keeps its ids: loading G2 into a new
    # builder would only hash its nodes again); the Hessian needs the tangents of
    # the gradient only: the nodes that only the value needs (the tree summing a
    # sum's terms) and those the gradient left unused are not differentiated
    b, _, G2 = gradient_graph(g)
    gradient = G2.outputs[1:]
    T = forward_tangents(b, G2, np.asarray(coloring.colors, dtype=_I), coloring.ncolors,
                         roots=gradient)
    B = T[gradient].ravel()
    if isinstance(coloring, AcyclicColoringResult):
        data = substitute(b, B, coloring.program, coloring.nnz)
    else:
        data = B[np.asarray(coloring.compressed_indices, dtype=_I)]
    full, matrix = _finish(b, G2, [G2.outputs], data)
    return CompiledDerivative(full, matrix, 1, g.n_inputs, int(data.size))
