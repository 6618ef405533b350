"""Evaluating a :class:`~symasd.graph.Graph`: the Python front of ``cysrc/vm.pyx``.

The virtual machine runs a graph by a *plan* of segments (runs of one opcode,
strided where the arguments are arithmetic progressions, see
``cysrc/vm.pyx``), found once per graph and kept with it; the numeric sweeps
(:mod:`symasd.sweeps`) walk the same segments. This module checks the inputs
(:mod:`symasd._validation`), makes and keeps the plans, and calls the kernel.

:func:`evaluate` is registered as ``Graph.__call__`` here, where it is defined,
so that ``g(x)`` works while :mod:`symasd.graph` (the IR) imports no pass over
it.
"""

from __future__ import annotations

import numpy as np

from . import _validation as validation
from . import _vm
from .graph import Graph
from .ops import Code

__all__ = ["evaluate", "evaluate_flat", "node_values", "inputs", "segments", "leaf_plan",
           "output_plan", "periodic_block", "fill_periodic"]

_I = np.int64
_NO_NODES = np.zeros(0, dtype=_I)


def segments(g: Graph) -> np.ndarray:
    """The virtual machine's plan of ``g``: segments of equal opcodes, strided where
    the arguments are arithmetic progressions (computed once per graph).

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.evaluation import segments
    >>> segments(symasd.trace(lambda x: np.sin(x) * 2, np.ones(5))).shape[0] >= 1
    True
    """
    return g.derived("_vm_segments", lambda g: _vm.plan(g.op, g.arg0, g.arg1, g.arg2))


def leaf_plan(g: Graph) -> np.ndarray:
    """:func:`segments` with runs of consecutive inputs marked as block copies: the
    plan :func:`evaluate` runs.

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.evaluation import leaf_plan, segments
    >>> g = symasd.trace(np.sin, np.ones(10))
    >>> run = np.flatnonzero(g.op[segments(g)[:, 0]] == symasd.ops.Code.VAR)[0]
    >>> segments(g)[run, :4].tolist(), leaf_plan(g)[run, :4].tolist()  # flag 2: a copy
    ([2, 12, 0, -1], [2, 12, 2, 0])
    """
    return g.derived("_vm_leaf_plan", lambda g: _vm.leaf_runs(segments(g), g.op, g.const))


def _constant_outputs(g: Graph):
    """When most outputs are constants (derivatives of linear maps): their values,
    and the positions and nodes of the others; ``None`` otherwise."""
    is_const = g.op[g.outputs] == Code.CONST
    if 2 * np.count_nonzero(is_const) < max(g.n_outputs, 1):
        return None
    base = np.where(is_const, g.const[g.outputs], 0.0)
    positions = np.flatnonzero(~is_const)
    return base, positions, np.ascontiguousarray(g.outputs[positions])


def output_plan(g: Graph):
    """The outputs' plan, kept per graph: ``None`` (run the graph for every output)
    or ``(base, positions, nodes)`` (copy the constant outputs from ``base``, run
    only ``nodes`` into ``positions``).

    Example
    -------
    >>> import numpy as np
    >>> from symasd.evaluation import output_plan
    >>> from symasd.graph import Builder
    >>> from symasd.ops import Code
    >>> b = Builder()
    >>> x = b.variables(np.zeros(2))
    >>> out = np.concatenate([b.const_like(x, 2.0), b.unary(Code.SIN, x[:1])])
    >>> base, positions, nodes = output_plan(b.finish(out, (2,), (3,)))
    >>> base.tolist(), positions.tolist()
    ([2.0, 2.0, 0.0], [2])
    """
    return g.derived("_vm_output_plan", _constant_outputs)


def periodic_block(values: np.ndarray, max_period: int = 64,
                   block_size: int = 16384) -> np.ndarray | None:
    """When ``values`` is a pattern of at most ``max_period`` entries repeated (the
    coefficients of a stencil, the constant part of a banded Jacobian), a block of
    whole periods of about ``block_size`` entries to fill it with
    (:func:`fill_periodic`); ``None`` otherwise.

    Example
    -------
    >>> periodic_block(np.tile([1.0, -2.0, 1.0], 4), block_size=6)
    array([ 1., -2.,  1.,  1., -2.,  1.])
    >>> periodic_block(np.arange(8.0)) is None
    True
    """
    n = values.size
    for period in range(1, min(max_period, n // 2) + 1):
        if n % period or not np.array_equal(values[period:2 * period], values[:period]):
            continue
        rows = values.reshape(-1, period)
        if np.array_equal(rows, np.broadcast_to(rows[0], rows.shape)):
            copies = max(1, min(n // period, block_size // period))
            return np.tile(values[:period], copies)
    return None


def fill_periodic(out: np.ndarray, block: np.ndarray) -> None:
    """Fill ``out`` (its first axis) with ``block`` repeated: copies of a block that
    stays in cache, instead of a read of a constant as long as ``out``.

    Example
    -------
    >>> out = np.empty(7)
    >>> fill_periodic(out, np.array([1.0, 2.0]))
    >>> out
    array([1., 2., 1., 2., 1., 2., 1.])
    """
    size, width = out.shape[0], block.shape[0]
    whole = size - size % width
    if whole:
        out[:whole].reshape((whole // width, width) + out.shape[1:])[...] = block
    out[whole:] = block[:size - whole]


def inputs(g: Graph, x, params) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``params`` checked against the shapes ``g`` was traced with, flat
    float64 (see :mod:`symasd._validation`).

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.evaluation import inputs
    >>> inputs(symasd.trace(lambda x: x, np.ones((1, 2))), [[1.0, 2.0]], ())
    (array([1., 2.]), array([], dtype=float64))
    """
    return validation.inputs(x, params, g.input_shape, g.param_shapes)


def node_values(g: Graph, x, *params) -> np.ndarray:
    """Values of every node of ``g`` at ``x`` (and ``params``), shape ``(n_nodes,)``.

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.evaluation import node_values
    >>> node_values(symasd.trace(lambda x: x * 3, np.ones(1)), np.array([2.0]))
    array([2., 3., 6.])
    """
    xflat, pflat = inputs(g, x, params)
    vals = np.empty(g.n_nodes)
    _vm.execute(g.op, g.arg0, g.arg1, g.arg2, g.const, leaf_plan(g), _NO_NODES, xflat, pflat,
                vals, np.zeros(0))
    return vals


def evaluate_flat(g: Graph, xflat: np.ndarray, pflat: np.ndarray) -> np.ndarray:
    """The outputs of ``g`` (flat) at flat inputs already checked by :func:`inputs`.

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.evaluation import evaluate_flat
    >>> evaluate_flat(symasd.trace(lambda x: x.sum(), np.ones(2)), np.ones(2), np.zeros(0))
    array([2.])
    """
    plan = output_plan(g)
    if plan is None:
        out = np.empty(g.n_outputs)
        _vm.execute(g.op, g.arg0, g.arg1, g.arg2, g.const, leaf_plan(g), g.outputs, xflat,
                    pflat, np.empty(g.n_nodes), out)
        return out
    base, positions, nodes = plan
    block = g.derived("_vm_output_block", lambda g: periodic_block(base))
    if block is None:
        out = base.copy()
    else:  # a long constant pattern (iter_diff's coefficients): filled from a block
        out = np.empty_like(base)
        fill_periodic(out, block)
    if nodes.size:
        _vm.execute(g.op, g.arg0, g.arg1, g.arg2, g.const, leaf_plan(g), nodes, xflat, pflat,
                    np.empty(g.n_nodes), out, positions)
    return out


def evaluate(g: Graph, x, *params) -> np.ndarray:
    """Evaluate the graph's outputs at ``x``; returns an array of ``output_shape``.

    Registered as ``Graph.__call__``: ``g(x, *p)`` is ``evaluate(g, x, *p)``.

    Example
    -------
    >>> import numpy as np, symasd
    >>> g = symasd.trace(lambda x, p: x * p, np.ones(2), np.ones(2))
    >>> g(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    array([3., 8.])
    """
    return evaluate_flat(g, *inputs(g, x, params)).reshape(g.output_shape)


Graph.__call__ = evaluate
