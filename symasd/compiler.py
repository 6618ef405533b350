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

The result of a compilation is a graph whose outputs are the function values
followed by the nonzeros of the Jacobian (or gradient and Hessian) in CSR
order: decompression is folded into the output indexing (for substitution,
into expressions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _dag
from .graph import Builder, Graph
from .ops import OPS, Code

__all__ = ["CompiledDerivative", "compile_jacobian", "compile_hessian",
           "forward_tangents", "reverse_adjoints", "substitute"]

_I = np.int64


@dataclass(frozen=True)
class CompiledDerivative:
    """A derivative DAG. ``graph.outputs`` holds, in order, ``n_values`` function
    values, ``n_gradient`` gradient entries (Hessians only) and ``nnz`` matrix
    entries in the CSR order of the pattern; ``matrix_graph`` computes the
    matrix entries alone (no node that only the values need)."""

    graph: Graph
    matrix_graph: Graph
    n_values: int
    n_gradient: int
    nnz: int


def _groups(g: Graph, roots: np.ndarray | None = None):
    """Non-leaf nodes (those ``roots`` depend on, if given) grouped by (level,
    opcode), in an order that respects dependencies. Yields
    ``(level, code, node_ids)``."""
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
    order = np.argsort(key, kind="stable")
    nodes = inner[order]
    key = key[order]
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(key)) + 1, [key.size]])
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):
        yield int(key[s] // 256), Code(int(key[s] % 256)), nodes[s:e]


def _partials(b: Builder, g: Graph, code: Code, K: np.ndarray):
    row = OPS[code]
    args = [a[K] for a in (g.arg0, g.arg1, g.arg2)[: row.arity]]
    return row.partials(b, *args, K, g.const[K])


def forward_tangents(b: Builder, g: Graph, colors: np.ndarray, ncolors: int,
                     roots: np.ndarray | None = None) -> np.ndarray:
    """Symbolic forward sweep: ``T[k, c]`` is the id of the tangent of node ``k``
    in direction ``c``, where input ``j`` is seeded in direction ``colors[j]``
    (``-1``: not seeded). With ``roots``, only the nodes they depend on are
    differentiated (the tangents of the others stay zero)."""
    T = np.full((g.n_nodes, ncolors), b.zero, dtype=_I)
    var = np.flatnonzero(g.op == Code.VAR)
    col = colors[g.const[var].astype(_I)]
    seeded = col >= 0
    T[var[seeded], col[seeded]] = b.one
    arg_arrays = (g.arg0, g.arg1, g.arg2)
    for _, code, K in _groups(g, roots):
        row = OPS[code]
        live = [i for i in range(row.arity) if row.d1[i]]
        if not live:
            continue
        active = np.zeros(K.size, dtype=bool)
        for i in live:
            active |= (T[arg_arrays[i][K]] != b.zero).any(axis=1)
        if not active.any():
            continue
        K = K[active]
        P = _partials(b, g, code, K)
        acc = None
        for i in live:
            Ta = T[arg_arrays[i][K]]
            nz = Ta != b.zero
            contrib = np.full(Ta.shape, b.zero, dtype=_I)
            Pi = np.broadcast_to(P[i][:, None], Ta.shape)
            contrib[nz] = b.binary(Code.MUL, Pi[nz], Ta[nz])
            if acc is None:
                acc = contrib
            else:  # add only where both terms are nonzero; elsewhere take the other
                both = (acc != b.zero) & (contrib != b.zero)
                acc = np.where(acc == b.zero, contrib, acc)
                acc[both] = b.binary(Code.ADD, acc[both], contrib[both])
        T[K] = acc
    return T


def reverse_adjoints(b: Builder, g: Graph, row_colors: np.ndarray,
                     ncolors: int) -> np.ndarray:
    """Symbolic reverse sweep: returns ``A`` of shape ``(ncolors, n_inputs)`` with
    ``A[c, j]`` the id of the adjoint of input ``j`` when every output ``i`` with
    ``row_colors[i] == c`` is seeded with 1 (``-1``: not seeded)."""
    levels = g.levels
    nlev = int(levels.max()) + 1 if g.n_nodes else 1
    buckets: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(nlev)]

    def push(targets, cols, values):
        keep = values != b.zero
        targets, cols, values = targets[keep], cols[keep], values[keep]
        if targets.size == 0:
            return
        lev = levels[targets]
        for level in np.unique(lev):
            m = lev == level
            buckets[level].append((targets[m], cols[m], values[m]))

    seeded = row_colors >= 0
    outs = g.outputs[seeded]
    push(outs, row_colors[seeded].astype(_I), np.full(outs.size, b.one, dtype=_I))
    result = np.full((ncolors, g.n_inputs), b.zero, dtype=_I)
    arg_arrays = (g.arg0, g.arg1, g.arg2)
    for level in range(nlev - 1, -1, -1):
        if not buckets[level]:
            continue
        t = np.concatenate([x[0] for x in buckets[level]])
        c = np.concatenate([x[1] for x in buckets[level]])
        v = np.concatenate([x[2] for x in buckets[level]])
        buckets[level] = []
        key = t * ncolors + c
        order = np.argsort(key, kind="stable")
        key, v = key[order], v[order]
        uniq, starts = np.unique(key, return_index=True)
        indptr = np.append(starts, key.size).astype(_I)
        adj = b.reduce_segments(Code.ADD, v, indptr)
        nodes, cols = uniq // ncolors, uniq % ncolors
        if level == 0:
            var = g.op[nodes] == Code.VAR
            result[cols[var], g.const[nodes[var]].astype(_I)] = adj[var]
            continue
        ops = g.op[nodes]
        for code in np.unique(ops):
            code = Code(int(code))
            row = OPS[code]
            m = ops == code
            K, C, A = nodes[m], cols[m], adj[m]
            live = [i for i in range(row.arity) if row.d1[i]]
            if not live:
                continue
            uK, inv = np.unique(K, return_inverse=True)
            P = _partials(b, g, code, uK)
            for i in live:
                push(arg_arrays[i][K], C, b.binary(Code.MUL, P[i][inv], A))
    return result


def substitute(b: Builder, B_flat: np.ndarray, program, nnz: int) -> np.ndarray:
    """Fold a substitution decompression program into expressions.

    ``program`` is a :class:`~symasd.decompression.SubstitutionProgram`: step
    ``t`` computes ``v = B_flat[sources[t]] - sum(values[dep_indices[...]])``
    and stores it at ``targets[t]`` and ``mirrors[t]``. Each step becomes a
    chain of additions over its dependencies and one subtraction; the chains
    of all steps are laid out with NumPy and interned by one Cython call
    (:meth:`Builder.sequence`), since steps can depend on each other in long
    chains (a tridiagonal Hessian recovered along a path).
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
    outputs = np.concatenate(heads + [data])
    full = b.finish(outputs, g.input_shape, outputs.shape, g.param_shapes, compact=True)
    return full, b.finish(data, g.input_shape, data.shape, g.param_shapes, compact=True)


def compile_jacobian(g: Graph, *, column_colors=None, n_column_colors: int = 0,
                     row_colors=None, n_row_colors: int = 0,
                     compressed_indices: np.ndarray) -> CompiledDerivative:
    """Compile the Jacobian of ``g``: forward sweep with ``column_colors`` and/or
    reverse sweep with ``row_colors``; ``compressed_indices`` gathers each
    nonzero (CSR order) from ``concatenate([B_row.ravel(), B_col.ravel()])``
    where ``B_row`` is ``(n_row_colors, n)`` and ``B_col`` is ``(m, n_column_colors)``."""
    b = Builder.from_graph(g)
    parts = []
    if row_colors is not None and n_row_colors:
        parts.append(reverse_adjoints(b, g, np.asarray(row_colors, dtype=_I),
                                      n_row_colors).ravel())
    if column_colors is not None and n_column_colors:
        T = forward_tangents(b, g, np.asarray(column_colors, dtype=_I), n_column_colors)
        parts.append(T[g.outputs].ravel())
    B = np.concatenate(parts) if parts else np.zeros(0, dtype=_I)
    data = B[np.asarray(compressed_indices, dtype=_I)]
    full, matrix = _finish(b, g, [g.outputs], data)
    return CompiledDerivative(full, matrix, g.n_outputs, 0, int(data.size))


def gradient_graph(g: Graph) -> tuple[Builder, np.ndarray, Graph]:
    """The graph with outputs ``[f, grad f]`` of a scalar graph ``g``."""
    b = Builder.from_graph(g)
    grad = reverse_adjoints(b, g, np.zeros(1, dtype=_I), 1)[0]
    outputs = np.concatenate([g.outputs, grad])
    return b, outputs, b.finish(outputs, g.input_shape, outputs.shape, g.param_shapes)


def compile_hessian(g: Graph, *, colors: np.ndarray, ncolors: int,
                    compressed_indices: np.ndarray | None = None,
                    program=None, nnz: int = 0) -> CompiledDerivative:
    """Compile value, gradient and Hessian of a scalar graph ``g`` by a symbolic
    forward sweep over its symbolic gradient (forward-over-reverse), seeded by
    ``colors``; decompression by direct gather (``compressed_indices`` into the
    ``(n, ncolors)`` compressed matrix) or by a substitution ``program``."""
    _, _, G2 = gradient_graph(g)
    b = Builder.from_graph(G2)
    # the Hessian needs the tangents of the gradient only: the nodes that only
    # the value needs (the tree summing a sum's terms) are not differentiated
    gradient = G2.outputs[1:]
    T = forward_tangents(b, G2, np.asarray(colors, dtype=_I), ncolors, roots=gradient)
    B = T[gradient].ravel()
    if program is not None:
        data = substitute(b, B, program, nnz)
    else:
        data = B[np.asarray(compressed_indices, dtype=_I)]
    full, matrix = _finish(b, G2, [G2.outputs], data)
    return CompiledDerivative(full, matrix, 1, g.n_inputs, int(data.size))
