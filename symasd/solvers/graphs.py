"""Graph surgery for :class:`~symasd.solvers.nlp.NLP`: one trace of the objective
and the constraints together, split into the graphs the prepared derivatives
need, and the Lagrangian appended to them, so that no function is traced twice.

Tracing is most of a one-off solve's preparation (at n = 10^5 on the
Luksan-Vlcek problem, 0.2 s for ``f`` and ``c`` together, where the
Lagrangian traced on its own costs that again). The graphs here are built from
the traced node arrays with the invariants of :mod:`symasd.graph` (nodes in
topological order, unused arguments ``-1``, hash-consed: the nodes appended
for the Lagrangian all read a new parameter leaf, so none duplicates a traced
node).
"""

from __future__ import annotations

import numpy as np

from .. import _dag
from ..graph import Graph
from ..ops import Code

__all__ = ["restricted", "with_lagrangian"]

_I = np.int64


def restricted(g: Graph, outputs: np.ndarray, output_shape, param_shapes) -> Graph:
    """The graph of some of ``g``'s outputs (node ids of ``g``): only the nodes they
    need, renumbered in order, as :meth:`symasd.graph.Builder.finish` keeps them.
    ``param_shapes`` must cover every parameter leaf those nodes read.

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.solvers.graphs import restricted
    >>> g = symasd.trace(lambda x: np.concatenate([np.sin(x), x[:1] ** 3]), np.ones(3))
    >>> h = restricted(g, g.outputs[3:], (1,), ())
    >>> h.n_nodes < g.n_nodes, h(np.array([2.0, 0.0, 0.0])).tolist()
    (True, [8.0])
    """
    outputs = np.ascontiguousarray(outputs, dtype=_I)
    live = np.zeros(g.n_nodes, dtype=np.uint8)
    _dag.live_nodes(g.op, g.arg0, g.arg1, g.arg2, outputs, live)
    keep = live.view(bool)
    shapes = dict(output_shape=tuple(output_shape),
                  param_shapes=tuple(tuple(s) for s in param_shapes), local=g.local)
    if keep.all():
        return Graph(op=g.op, arg0=g.arg0, arg1=g.arg1, arg2=g.arg2, const=g.const,
                     outputs=outputs, input_shape=g.input_shape,
                     block_starts=g.block_starts, **shapes)
    op, arg0, arg1, arg2, const, starts, roots = _dag.compact_nodes(
        g.op, g.arg0, g.arg1, g.arg2, g.const, live,
        np.ascontiguousarray(g.block_starts, dtype=_I), outputs)
    return Graph(op=op, arg0=arg0, arg1=arg1, arg2=arg2, const=const, outputs=roots,
                 input_shape=g.input_shape, block_starts=starts, **shapes)


def with_lagrangian(g: Graph, objective: int, constraints: np.ndarray) -> Graph:
    """``g`` with the scalar ``sigma * f + sum(lam * c)`` as its one output, where
    ``f`` is the node ``objective`` and ``c`` the nodes ``constraints`` (``m`` of
    them, possibly none) of ``g``; ``sigma`` (shape ``(1,)``) and ``lam`` (shape
    ``(m,)``, left out when ``m = 0``) are new parameters after ``g``'s. The sum
    is a balanced tree of additions, as the tracer builds ``np.sum``.

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.solvers.graphs import with_lagrangian
    >>> g = symasd.trace(lambda x: np.concatenate([[x @ x], np.sin(x)]), np.ones(2))
    >>> L = with_lagrangian(g, int(g.outputs[0]), g.outputs[1:])
    >>> x, lam = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    >>> bool(np.isclose(L(x, np.array([0.5]), lam), 0.5 * 5.0 + lam @ np.sin(x)))
    True
    """
    constraints = np.asarray(constraints, dtype=_I)
    m = constraints.size
    base = g.n_nodes
    first_param = int(g.n_params)
    ops, args0, args1, blocks = [], [], [], []
    consts = []
    count = [base]

    def block(code: Code, a0, a1, c=None) -> np.ndarray:
        k = len(a0)
        ids = np.arange(count[0], count[0] + k, dtype=_I)
        blocks.append(count[0])
        ops.append(np.full(k, int(code), dtype=np.uint8))
        args0.append(np.asarray(a0, dtype=_I))
        args1.append(np.asarray(a1, dtype=_I))
        consts.append(np.zeros(k) if c is None else np.asarray(c, dtype=np.float64))
        count[0] += k
        return ids

    none = np.full(1 + m, -1, dtype=_I)
    leaves = block(Code.PARAM, none, none, first_param + np.arange(1 + m, dtype=np.float64))
    total = block(Code.MUL, leaves[:1], [objective])
    if m:
        terms = block(Code.MUL, leaves[1:], constraints)
        while terms.size > 1:           # pairwise, an odd last term carried up a level
            pairs = terms.size // 2
            summed = block(Code.ADD, terms[:2 * pairs:2], terms[1:2 * pairs:2])
            terms = np.concatenate([summed, terms[2 * pairs:]])
        total = block(Code.ADD, total, terms)
    unused = np.full(count[0] - base, -1, dtype=_I)
    shapes = (*g.param_shapes, (1,), *(((m,),) if m else ()))
    return Graph(op=np.concatenate([g.op, *ops]), arg0=np.concatenate([g.arg0, *args0]),
                 arg1=np.concatenate([g.arg1, *args1]), arg2=np.concatenate([g.arg2, unused]),
                 const=np.concatenate([g.const, *consts]), outputs=total,
                 input_shape=g.input_shape, output_shape=(), param_shapes=shapes,
                 block_starts=np.concatenate([g.block_starts, np.asarray(blocks, dtype=_I)]),
                 local=g.local)
