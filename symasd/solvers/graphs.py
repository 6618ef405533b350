"""Graph surgery for :class:`~symasd.solvers.nlp.NLP`: one trace of the
constraints, the objective and the Lagrangian together, split into the graphs
the prepared derivatives need, so that no function is traced twice and as
little as possible is copied.

Tracing is most of a one-off solve's preparation (at n = 10^5 on the
Luksan-Vlcek problem, 0.15 s for ``f`` and ``c`` together, where the
Lagrangian traced on its own costs that again), and copying the traced nodes
into each graph came next (a graph of 2.6 million nodes is 90 MB). So the
Lagrangian's nodes are appended to the trace itself (:func:`append_lagrangian`,
an ``extend`` of :func:`symasd.tracing.trace_into`), and a graph whose nodes are
a prefix of the trace (the constraints, traced first, and the Lagrangian,
traced last) views the trace's arrays instead of copying them
(:func:`restricted`). The graphs keep the invariants of :mod:`symasd.graph`
(nodes in topological order, unused arguments ``-1``, hash-consed).
"""

from __future__ import annotations

import numpy as np

from .. import _dag
from ..graph import Builder, Graph
from ..graph import compacted as graph_compacted
from ..ops import Code

__all__ = ["append_lagrangian", "restricted", "compacted"]

_I = np.int64
# (NumPy compares an array with an IntEnum member several times slower than with an int)
_PARAM = int(Code.PARAM)


def restricted(g: Graph, outputs: np.ndarray, output_shape, param_shapes) -> Graph:
    """The graph of some of ``g``'s outputs (node ids of ``g``).

    When the nodes they need fill most of the prefix of ``g`` up to the last
    of them (at most one node in eight unneeded, as
    :meth:`symasd.graph.Builder.finish` leaves them) and that prefix reads no
    parameter beyond ``param_shapes``, the graph views that prefix of ``g``'s
    arrays: nothing is copied, and the few unneeded nodes are computed with
    the rest. Otherwise it is :func:`compacted`. ``param_shapes`` must cover
    every parameter leaf those nodes read.

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.solvers.graphs import restricted
    >>> g = symasd.trace(lambda x: np.concatenate([np.sin(x), x[:1] ** 3]), np.ones(3))
    >>> h = restricted(g, g.outputs[:3], (3,), ())     # a prefix: a view
    >>> h.n_nodes < g.n_nodes, np.shares_memory(h.op, g.op)
    (True, True)
    >>> restricted(g, g.outputs[3:], (1,), ())(np.array([2.0, 0.0, 0.0])).tolist()
    [8.0]
    """
    outputs = np.ascontiguousarray(outputs, dtype=_I)
    live = np.zeros(g.n_nodes, dtype=np.uint8)
    _dag.live_nodes(g.op, g.arg0, g.arg1, g.arg2, outputs, live)
    end = int(outputs.max()) + 1 if outputs.size else 0
    unneeded = end - int(np.count_nonzero(live[:end]))
    n_params = sum(int(np.prod(s, dtype=_I)) for s in param_shapes)
    if 8 * unneeded <= end and _reads_params_below(g, end, n_params):
        starts = np.asarray(g.block_starts, dtype=_I)
        return Graph(op=g.op[:end], arg0=g.arg0[:end], arg1=g.arg1[:end], arg2=g.arg2[:end],
                     const=g.const[:end], outputs=outputs, input_shape=g.input_shape,
                     block_starts=starts[starts < end], **_shapes(g, output_shape, param_shapes))
    return _compact(g, outputs, live, output_shape, param_shapes)


def compacted(g: Graph, outputs: np.ndarray, output_shape, param_shapes) -> Graph:
    """The graph of some of ``g``'s outputs with only the nodes they need,
    renumbered in order, as :meth:`symasd.graph.Builder.finish` keeps them.
    ``param_shapes`` must cover every parameter leaf those nodes read.

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.solvers.graphs import compacted
    >>> g = symasd.trace(lambda x: np.concatenate([np.sin(x), x[:1] ** 3]), np.ones(3))
    >>> h = compacted(g, g.outputs[3:], (1,), ())
    >>> h.n_nodes < g.n_nodes, h(np.array([2.0, 0.0, 0.0])).tolist()
    (True, [8.0])
    """
    outputs = np.ascontiguousarray(outputs, dtype=_I)
    live = np.zeros(g.n_nodes, dtype=np.uint8)
    _dag.live_nodes(g.op, g.arg0, g.arg1, g.arg2, outputs, live)
    return _compact(g, outputs, live, output_shape, param_shapes)


def _shapes(g: Graph, output_shape, param_shapes) -> dict:
    return dict(output_shape=tuple(output_shape),
                param_shapes=tuple(tuple(s) for s in param_shapes), local=g.local)


def _reads_params_below(g: Graph, end: int, n_params: int) -> bool:
    """Whether every parameter leaf among the first ``end`` nodes of ``g`` is one of
    the first ``n_params`` parameters (a graph's nodes read only earlier nodes)."""
    leaves = g.op[:end] == _PARAM
    return not leaves.any() or bool((g.const[:end][leaves] < n_params).all())


def _compact(g: Graph, outputs, live, output_shape, param_shapes) -> Graph:
    shapes = _shapes(g, output_shape, param_shapes)
    n_params = sum(int(np.prod(s, dtype=_I)) for s in param_shapes)
    read = live.view(bool) & (g.op == _PARAM)
    if read.any() and g.const[read].max() >= n_params:
        raise ValueError(f"the restricted outputs read parameter {int(g.const[read].max())}, "
                         f"but param_shapes {shapes['param_shapes']} declare {n_params}")
    chosen = Graph(op=g.op, arg0=g.arg0, arg1=g.arg1, arg2=g.arg2, const=g.const,
                   outputs=outputs, input_shape=g.input_shape, block_starts=g.block_starts,
                   **shapes)
    return graph_compacted(chosen, live=live)


def append_lagrangian(builder: Builder, ids: np.ndarray, m: int
                      ) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Append ``sigma * f + sum(lam * c)`` to a trace whose outputs ``ids`` are
    the constraints ``c`` (the first ``m``) and then the objective ``f``: an
    ``extend`` for :func:`symasd.tracing.trace_into`. ``sigma`` (shape
    ``(1,)``) and ``lam`` (shape ``(m,)``, left out when ``m = 0``) are new
    parameters after the trace's. Returns the outputs ``[c, f, L]`` and those
    parameters' shapes. The sum is a balanced tree of additions, as the tracer
    builds ``np.sum``.

    Example
    -------
    >>> import numpy as np, symasd
    >>> from functools import partial
    >>> from symasd.solvers.graphs import append_lagrangian
    >>> from symasd.tracing import trace_into
    >>> fc = lambda x: np.concatenate([np.sin(x), [x @ x]])      # c, then f
    >>> g = trace_into(None, fc, np.ones(2), extend=partial(append_lagrangian, m=2))
    >>> x, lam = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    >>> L = g(x, np.array([0.5]), lam)[-1]
    >>> bool(np.isclose(L, 0.5 * 5.0 + lam @ np.sin(x)))
    True
    """
    ids = np.asarray(ids, dtype=_I)
    constraints, objective = ids[:m], ids[m:m + 1]
    leaves = builder.parameters(np.ones(1 + m))
    total = builder.binary(Code.MUL, leaves[:1], objective)
    if m:
        terms = builder.binary(Code.MUL, leaves[1:], constraints)
        summed = builder.reduce_segments(Code.ADD, terms, np.array([0, m], dtype=_I))
        total = builder.binary(Code.ADD, total, summed)
    return np.concatenate([ids, total]), [(1,), *([(m,)] if m else [])]
