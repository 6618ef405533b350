"""Compressed derivative sweeps over a :class:`~symasd.graph.Graph` (numeric flavour).

The numeric sweeps compute values, for one-off derivatives with nothing
compiled. Each one is a single pass over the graph's node arrays in Cython
(``cysrc/sweeps.pyx``) carrying ``c`` directions at once:

* :func:`forward_numeric`: ``c`` Jacobian-vector products, ``B = J @ S``;
* :func:`reverse_numeric`: ``c`` vector-Jacobian products, ``B = W.T @ J``;
* :func:`hvp_numeric`: value, gradient and ``c`` Hessian-vector products of a
  scalar output (forward over reverse), ``HV = H @ V``.

Seeds come from a coloring's ``seeds()`` (dense 0/1 matrices), but any real
matrix works. Inputs, outputs and seeds are **flattened** (C order): ``x``
of shape ``graph.input_shape`` is the vector ``x.ravel()`` of length ``n``,
the outputs are ``graph(x).ravel()`` of length ``m``, and ``J`` is ``m x n``.
Parameters are passed as a tuple of arrays matching ``graph.param_shapes``
(like :func:`symasd.evaluation.node_values`, they are concatenated flat); they enter the
function but are never differentiated.

Semantics
---------
* The local rules are those of the op table (:mod:`symasd.ops`). At a kink
  the derivative is the one of the op table: ``maximum(x, y)`` follows ``x``
  when ``x >= y``, ``minimum(x, y)`` follows ``x`` when ``x <= y``,
  ``abs'(0) = sign(0) = 0``.
* ``where``, ``maximum`` and ``minimum`` *select* the derivative of the
  branch taken; the other branch's derivative is never read, so a NaN or inf
  derivative in an untaken branch (``np.where(x > 0, np.sqrt(x), 0)`` at
  ``x = 0``) does not leak into the result.
* NaN inputs give NaN outputs and NaN derivative entries exactly where an
  entry depends on them through a derivative that is not structurally zero
  (``maximum``/``minimum`` of a NaN have NaN partials). A NaN or infinite
  partial scales only the nonzero entries of a direction, so entries outside
  the sparsity pattern stay exactly zero. Nothing loops on values, so
  non-finite inputs never hang or crash.
* Structurally zero tangents are skipped: a node whose arguments all carry
  zero tangents (or whose partials are classified as identically zero, like
  ``sign`` or comparisons) is not differentiated at all.

Execution
---------
The sweeps walk the nodes by the segments of the graph's virtual-machine plan
(:func:`symasd.evaluation.segments`, computed once per
graph). An indexed segment is processed node by node through the argument
arrays. A strided segment (one opcode, arguments in arithmetic progressions:
the nodes of one NumPy operation) is processed in blocks with no index
loads: the values of a block, then the local partials of every node once,
then the direction rows in tight loops over the ``c`` directions
(vectorized, with constant-length loops for the usual direction counts). A
block takes the tight loops when its zero flags are uniform (every argument
row of the block zero, or every one nonzero; in the reverse sweeps every
node reached) and its partials are finite; otherwise, and for selections, it
applies the per-node rules with computed indices. :func:`forward_numeric`
runs the blocks of consecutive segments in a tiled order, each consumer a
block behind its producers, so rows are read while they are in cache. All
paths perform the same floating-point operations in the same order, so the
results do not depend on the plan or the order; ``plan=`` (rows as from
``symasd._vm.plan``, e.g. with ``min_strided=10**9`` for an all-indexed plan)
overrides the plan, for testing. Without ``y`` (``values=False``, as a
prepared Jacobian's call asks), :func:`forward_numeric` computes only the
node values that some partial derivative reads, directly or through the
values computed from them (flagged once per graph, with the row layout): a
linear function computes none.

Memory
------
A sweep keeps the values of all ``N`` nodes and at most ``N x cc`` tangents
or adjoints (twice that for :func:`hvp_numeric`), where ``cc`` is the number
of directions per pass. Where the rows go is decided once per graph (a
*row layout*, cached with the graph's sweep plan, the kernels' view of its node
arrays built once per graph): :func:`forward_numeric` reads the rows
of the inputs from the seed matrix, writes the rows of the outputs straight
into ``B`` and reuses the rows of a segment once all its consumers have run,
so it holds the rows live at one time (for ``np.diff(x, 3)``, two of the four
arrays); :func:`hvp_numeric` computes and keeps only the tangents that the
second partials read (a sum over second-order terms needs values only, and
the ``y`` of ``100 * y`` too: its cross partial only reaches the constant's
adjoint tangent, which nobody reads; the tangents left out are flagged zero) and
takes the rows of the adjoint tangents backward, from a segment's last
consumer to the segment itself, and keeps each scalar adjoint in its node's
adjoint tangent slot, not one per node (the reverse pass is bound by memory
traffic: for the chained Rosenbrock function 4e5 slots instead of 9e5
nodes); with ``value=False`` it also leaves out the node values that
neither the local rules nor other needed values read (the values of a sum
tree, of a square that only enters a sum). When ``N * c`` would exceed
:data:`SWEEP_MEMORY_BYTES` the ``c`` columns are processed in chunks of
``cc`` columns (values are computed once); ``chunk=`` forces a chunk size.
The work arrays are carved from one buffer per thread that is kept for the
next call when it is at most ``symasd._sweeps.WORKSPACE_KEEP_BYTES``
(256 MiB), which spares repeated sweeps the cost of fresh memory;
:func:`release_workspace` drops it. With ``decompress=`` the compressed
matrix lives in that buffer too and never leaves the sweep: the sweep
returns ``decompress(B)`` (the prepared derivatives pass their coloring's
``decompress_values``), so a call's only fresh array is the one it returns.
A forward sweep given a column coloring's :func:`row_gather` does not form
``B`` at all: the outputs' rows get slots like the other rows, and each
unit's outputs' nonzeros are gathered right after the unit ran, while its
rows are in cache (prepared forward Jacobians do this).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import _sweeps
from . import _validation as validation
from .errors import InputError
from .evaluation import segments
from .graph import Graph
from .ops import classification_tables

__all__ = ["forward_numeric", "reverse_numeric", "hvp_numeric", "seed_zero_rows",
           "row_gather", "release_workspace", "SWEEP_MEMORY_BYTES"]

#: Budget in bytes for the ``N x cc`` direction arrays of one sweep; larger
#: seed matrices are processed in chunks of columns.
SWEEP_MEMORY_BYTES = 1 << 27

_ARITY, _D1, _D2, _CROSS = classification_tables()


def release_workspace() -> None:
    """Free the calling thread's cached sweep work buffer.

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.sweeps import forward_numeric, release_workspace
    >>> g = symasd.trace(lambda x: np.diff(x) ** 2, np.zeros(3))
    >>> _ = forward_numeric(g, np.array([0., 1., 3.]), (), np.eye(3))
    >>> _sweeps.kept_workspace_bytes() > 0      # the sweep kept its buffer
    True
    >>> release_workspace()
    >>> _sweeps.kept_workspace_bytes()
    0
    """
    _sweeps.release_workspace()


def _check_graph(graph) -> Graph:
    if not isinstance(graph, Graph):
        raise InputError(f"expected a symasd.Graph, got {type(graph).__name__}")
    return graph


def _chunk(graph: Graph, c: int, per_column: int, chunk) -> int:
    chunk = validation.chunk(chunk)
    if chunk is not None:
        return min(chunk, c)
    budget = SWEEP_MEMORY_BYTES // max(1, 8 * per_column * graph.n_nodes)
    return int(max(1, min(c, budget)))


def _finish(decompress):
    """The sweeps' ``finish`` argument for ``decompress``: checked to be callable
    (the compressed matrix it receives is reused by the next sweep)."""
    return validation.function(decompress, "decompress", "the compressed matrix")


def _sweep_plan(graph: Graph, plan=None) -> _sweeps.SweepPlan:
    """The kernels' :class:`~symasd._sweeps.SweepPlan` of ``graph``: the kernels' view
    of its node arrays and segment plan, which also caches its row layouts. Built
    once per graph on ``segments(graph)`` and kept with it (:meth:`Graph.derived`),
    or, for a given ``plan`` (rows as from ``symasd._vm.plan``, for testing), built
    afresh on it (checked against the nodes: ``ValueError`` for a plan of
    another graph)."""
    if plan is not None:
        sp = _new_sweep_plan(graph, np.asarray(plan))
        # (the graph's own plan needs no check: symasd._vm.plan builds it from the nodes)
        _sweeps.check_plan_nodes(graph.op, graph.arg0, graph.arg1, graph.arg2, sp.segments)
        return sp
    return graph.derived("_sweep_plan", lambda g: _new_sweep_plan(g, segments(g)))


def _new_sweep_plan(graph: Graph, seg) -> _sweeps.SweepPlan:
    return _sweeps.SweepPlan(graph.op, graph.arg0, graph.arg1, graph.arg2, graph.const,
                             graph.outputs, graph.n_inputs, _D1, _D2, _CROSS, seg)


def seed_zero_rows(seeds) -> np.ndarray:
    """Zero flags of the rows of ``seeds`` (uint8, 1 where a row is all zero), for the
    ``seed_zero=`` argument of :func:`forward_numeric` and :func:`hvp_numeric`.

    Example
    -------
    >>> import numpy as np
    >>> from symasd.sweeps import seed_zero_rows
    >>> seed_zero_rows(np.array([[1., 0.], [0., 0.], [0., 2.]]))
    array([0, 1, 0], dtype=uint8)
    """
    return _sweeps.seed_zero_rows(np.ascontiguousarray(seeds, dtype=np.float64))


def row_gather(indptr, compressed_indices, ncolors: int) -> _sweeps.RowGather:
    """A column coloring's decompression as a gather from the rows of ``B``, for the
    ``decompress=`` argument of :func:`forward_numeric`.

    ``indptr`` and ``compressed_indices`` are the coloring's pattern's row pointers
    and its gather indices into ``B.ravel()`` (``B`` is ``(m, ncolors)``); the
    indices of a row's nonzeros must lie in that row of ``B`` (``ValueError``
    otherwise), as a column coloring's ``i * ncolors + colors[j]`` do. Build it
    once and pass it at every call.

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.sweeps import forward_numeric, row_gather
    >>> g = symasd.trace(lambda x: np.diff(x) ** 2, np.zeros(3))
    >>> c = symasd.color(symasd.jacobian_sparsity(g), "column")
    >>> rg = row_gather(c.pattern.indptr, c.compressed_indices, c.ncolors)
    >>> rg
    RowGather(n_rows=2, n_cols=2, nnz=4)
    >>> y, nz = forward_numeric(g, np.array([0., 1., 3.]), (), c.seeds(), decompress=rg)
    >>> nz                              # the Jacobian's nonzeros, CSR order
    array([-2.,  2., -4.,  4.])
    """
    return _sweeps.row_gather(np.ascontiguousarray(indptr, dtype=np.int64),
                              np.ascontiguousarray(compressed_indices, dtype=np.int64),
                              int(ncolors))


def forward_numeric(graph: Graph, x, params, seeds, *, chunk: int | None = None,
                    plan=None, decompress: Callable | None = None,
                    seed_zero: np.ndarray | None = None, values: bool = True):
    """Compressed forward sweep: ``(y, B)`` with ``y = f(x)`` flat and ``B = J @ seeds``.

    ``seeds`` is ``(n, c)`` (``n = graph.n_inputs``, ``c >= 1``); ``y`` is
    ``(m,)`` and ``B`` is ``(m, c)``, both float64.

    With ``decompress`` (a function of ``B``, such as a coloring's
    ``decompress_values``), ``B`` is computed in a work buffer that the next
    sweep on this thread reuses, and ``decompress(B)`` is returned in its
    place; ``decompress`` must not keep ``B`` (or a view of it). ``decompress``
    may also be a :func:`row_gather`: then ``B`` is never formed, the sweep
    gathers each row's nonzeros as soon as it has computed the row (while it is
    in cache) and returns them, the same values as ``B.ravel()[compressed_indices]``.

    ``seed_zero``: ``seed_zero_rows(seeds)``, from a caller that passes the same
    seeds at every call (a prepared derivative), so that the sweep need not
    scan them each time; it is trusted, not checked against ``seeds``.

    ``values=False``: ``y`` is not computed (``None`` is returned in its place),
    and neither is any node value that no partial derivative reads (for a
    linear function, none); ``B`` is the same, bit for bit.

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.sweeps import forward_numeric
    >>> g = symasd.trace(lambda x: np.diff(x) ** 2, np.zeros(3))
    >>> y, B = forward_numeric(g, np.array([0., 1., 3.]), (), np.eye(3))
    >>> B
    array([[-2.,  2.,  0.],
           [ 0., -4.,  4.]])
    """
    graph = _check_graph(graph)
    xf, pf = validation.inputs(x, params, graph.input_shape, graph.param_shapes)
    S = validation.seeds(seeds, graph.n_inputs, "seeds", "n_inputs")
    cc = _chunk(graph, S.shape[1], 1, chunk)
    sp = _sweep_plan(graph, plan)
    if isinstance(decompress, _sweeps.RowGather):
        return _sweeps.forward_sweep(sp, xf, pf, S, cc, layout=sp.forward_layout(True),
                                     seed_zero=seed_zero, values=values, gather=decompress)
    return _sweeps.forward_sweep(sp, xf, pf, S, cc, layout=sp.forward_layout(False),
                                 finish=_finish(decompress), seed_zero=seed_zero,
                                 values=values)


def reverse_numeric(graph: Graph, x, params, seeds, *, chunk: int | None = None,
                    plan=None, decompress: Callable | None = None):
    """Compressed reverse sweep: ``(y, B)`` with ``y = f(x)`` flat and ``B = seeds.T @ J``.

    ``seeds`` is ``(m, c)`` (``m = graph.n_outputs``, ``c >= 1``); ``y`` is
    ``(m,)`` and ``B`` is ``(c, n)``: row ``j`` holds the adjoints of the
    inputs for the output weights ``seeds[:, j]``. ``decompress`` as in
    :func:`forward_numeric`.

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.sweeps import reverse_numeric
    >>> g = symasd.trace(lambda x: np.diff(x) ** 2, np.zeros(3))
    >>> y, B = reverse_numeric(g, np.array([0., 1., 3.]), (), np.ones((2, 1)))
    >>> B
    array([[-2., -2.,  4.]])
    """
    graph = _check_graph(graph)
    xf, pf = validation.inputs(x, params, graph.input_shape, graph.param_shapes)
    W = validation.seeds(seeds, graph.n_outputs, "seeds", "n_outputs")
    cc = _chunk(graph, W.shape[1], 1, chunk)
    return _sweeps.reverse_sweep(_sweep_plan(graph, plan), xf, pf, W, cc,
                                 finish=_finish(decompress))


def hvp_numeric(graph: Graph, x, params, V, *, chunk: int | None = None,
                plan=None, decompress: Callable | None = None, gradient: bool = True,
                seed_zero: np.ndarray | None = None, value: bool = True):
    """Forward-over-reverse sweep of a scalar function: ``(value, grad, HV)``.

    ``graph`` must have exactly one output. ``V`` is ``(n, c)`` with
    ``c >= 1``; returns the value (a float64 scalar; ``None`` with
    ``value=False``, which computes only the node values that the derivatives
    read), the gradient ``(n,)`` (``None`` with ``gradient=False``, which skips
    it) and ``HV = H @ V`` of shape ``(n, c)``, or ``decompress(HV)`` as in
    :func:`forward_numeric`.
    ``seed_zero``: ``seed_zero_rows(V)``, as in :func:`forward_numeric`.

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.sweeps import hvp_numeric
    >>> g = symasd.trace(lambda x: x[0] ** 2 * x[1], np.zeros(2))
    >>> value, grad, HV = hvp_numeric(g, np.array([3., 2.]), (), np.eye(2))
    >>> float(value), grad, HV
    (18.0, array([12.,  9.]), array([[4., 6.],
           [6., 0.]]))
    """
    graph = _check_graph(graph)
    if graph.n_outputs != 1:
        raise InputError(f"hvp_numeric needs a scalar function (one output); the graph has "
                         f"{graph.n_outputs} outputs, shape {graph.output_shape}")
    xf, pf = validation.inputs(x, params, graph.input_shape, graph.param_shapes)
    Vs = validation.seeds(V, graph.n_inputs, "V", "n_inputs")
    cc = _chunk(graph, Vs.shape[1], 2, chunk)
    value = bool(value)
    sp = _sweep_plan(graph, plan)
    v, grad, HV = _sweeps.hvp_sweep(sp, xf, pf, Vs, cc, layouts=sp.hvp_layouts(value),
                                    finish=_finish(decompress), gradient=bool(gradient),
                                    seed_zero=seed_zero, value=value)
    return (np.float64(v) if value else None), grad, HV
