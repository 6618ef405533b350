"""What compiling a derivative would cost, estimated before it is built.

A compiled derivative (``engine="vm"``) pays its symbolic sweeps once; the
tape pays numeric sweeps at every call. Compiling pays for derivatives that are
needed many times and whose derivative DAG stays small; for dense and
near-dense derivatives (a neural network's Hessian: every weight with every
other) or very large ones (bundle adjustment with 1e5 observations) it costs
minutes and gigabytes before the first call. So compiling is estimated
first:

* **directions**: the (node, direction) pairs the symbolic sweeps
  differentiate, counted exactly by one bitset pass over the graph
  (``symasd._dag.direction_counts``): for a forward sweep the colors of the
  inputs each node depends on (nodes whose tangents are constants, affine
  maps with constant coefficients, excluded: they fold), for a reverse sweep
  the colors of the outputs that depend on it, for a Hessian the forward
  count plus the colors of each adjoint. The derivative DAG has 0.2 to 1.1 new
  nodes per direction on the problems of tests/test_costs.py, and builds at 1
  to 2.5 million nodes a second.
* **cells**: the symbolic forward sweep's tangent table, ``nodes x colors``
  ids, allocated in full.

*When* ``engine="auto"`` compiles is :mod:`symasd.tiering`'s rule: it weighs
the estimated compile time (:func:`compile_seconds`) against the tape's calls,
and the memory (:attr:`CompileCost.bytes`) against what is available.
:func:`compiles` (the directions at most :data:`COMPILE_BUDGET`, the cells at
most :data:`CELL_LIMIT`) decides which candidates ``mode="auto"`` compiles
besides the cheapest. ``engine="vm"`` is compiled unless the estimated memory
exceeds what the machine has available, which is refused with an
:class:`~symasd.errors.InputError` before any of it is allocated.

Once compiled, the derivative DAG's size is known, and with it what a call
costs: the virtual machine's call over the tape's is about ``k x DAG nodes /
(graph nodes x colors)``, with ``k`` between 0.35 and 1 on the Rosenbrock,
ARWHEAD, BDQRTIC, Godunov, hanging-chain and softmax derivatives
(``benchmarks/preparation.py --section engine``). A DAG of more than :data:`DAG_PER_TAPE_PRODUCT`
nodes per graph node and color (a softmax cross-entropy's Hessian: 4, its
compiled call 1.7-2.6x slower than the tape's) is slower to call than the
sweeps it replaces, so ``engine="auto"`` drops it and takes the tape
(:func:`compiled_is_slower`), unless it has at most :data:`DAG_KEEP_NODES`
nodes: such a call takes tens of microseconds, where fixed costs decide.

Example
-------
>>> import numpy as np, symasd
>>> from symasd.costs import compile_cost
>>> hes = symasd.hessian(lambda x: np.sum(x[1:] * x[:-1]), np.zeros(100), engine="tape")
>>> cost = compile_cost(hes.graph, hes._mode, hes.coloring)
>>> cost.directions, cost.compiles  # 99 products, 2 colors: the DAG adds 97 nodes
(394, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _dag
from .coloring import BicoloringResult, ColoringResult, RowColoringResult
from .graph import Graph
from .modes import HessianMode, Mode
from .ops import classification_tables

__all__ = ["CompileCost", "compile_cost", "compiles", "compiled_is_slower", "compile_seconds",
           "COMPILE_BUDGET", "CELL_LIMIT", "DAG_PER_TAPE_PRODUCT", "DAG_KEEP_NODES"]

#: Directions above which ``mode="auto"`` compiles no second candidate (about 5 s
#: of compiling).
COMPILE_BUDGET = 5_000_000
#: Cells of the symbolic forward sweep's tangent table above which ``mode="auto"``
#: compiles no second candidate (160 MB of ids).
CELL_LIMIT = 20_000_000
#: Derivative DAG nodes per (graph node x color) above which the compiled call is
#: slower than the tape's sweeps (see the module).
DAG_PER_TAPE_PRODUCT = 2.0
#: DAGs below this many nodes are kept whatever their ratio: their call costs tens
#: of microseconds, where the fixed costs of a call decide (the tape's are larger).
DAG_KEEP_NODES = 50_000
#: Seconds of compiling: fixed, per graph node and per direction, fitted to the
#: compiles of ``benchmarks/preparation.py --section engine`` on two Xeon cores
#: (the compiled engine's preparation less the tape's, fresh processes). On its
#: 22 cases (the compare.py problems, ARWHEAD, BDQRTIC, Godunov, hanging chain,
#: 10^3 ... 10^6) the estimate is 0.95x-2.4x the measured time: on the safe side,
#: since an estimate under the time makes a compile run past its deadline
#: (twice the estimate) and start again. The softmax cross-entropy's Hessian, with
#: 6 DAG nodes per direction, is the exception: 0.2x-0.56x (see
#: :func:`compile_seconds`). A fit to the same times without that margin
#: (0.2 ms, 190 ns, 260 ns) is within 0.5x-1.8x.
COMPILE_SECONDS_FIXED = 0.5e-3
COMPILE_SECONDS_PER_NODE = 400e-9
COMPILE_SECONDS_PER_DIRECTION = 300e-9
#: Bytes of compiling per direction (the builder's tables and the DAG: 170 measured)
BYTES_PER_DIRECTION = 200
#: A Hessian's forward sweep runs over the gradient graph: about this many nodes
#: per node of the function.
GRADIENT_GRAPH_FACTOR = 3
# the bitset pass itself may use at most this much memory; beyond, an upper bound
_COUNT_BYTES = 1 << 29

_ARITY, _D1, _D2, _CROSS = classification_tables()
_I = np.int64


@dataclass(frozen=True)
class CompileCost:
    """The estimate for one mode and coloring on one graph (see the module)."""

    directions: int
    cells: int

    @property
    def bytes(self) -> int:
        """Memory the compilation would need, about."""
        return BYTES_PER_DIRECTION * self.directions + 8 * self.cells

    @property
    def compiles(self) -> bool:
        """Whether it is within the budget (:func:`compiles`)."""
        return self.directions <= COMPILE_BUDGET and self.cells <= CELL_LIMIT


def _count(g: Graph, mode: int, ncolors: int, input_colors=None, output_colors=None) -> int:
    words = (ncolors + 63) // 64
    size = g.n_nodes * words * (2 if mode == 2 else 1)
    if 8 * size > _COUNT_BYTES:  # the bound: every node in every direction
        return g.n_nodes * ncolors * (2 if mode == 2 else 1)
    inputs = np.full(g.n_inputs, -1, dtype=_I) if input_colors is None else \
        np.ascontiguousarray(input_colors, dtype=_I)
    outputs = np.full(g.n_outputs, -1, dtype=_I) if output_colors is None else \
        np.ascontiguousarray(output_colors, dtype=_I)
    work = np.empty(size, dtype=np.uint64)
    return int(_dag.direction_counts(g.op, g.arg0, g.arg1, g.arg2, g.const, _D1, _D2, _CROSS,
                                     inputs, g.outputs, outputs, ncolors, mode, work))


def _cells(graph: Graph, mode: Mode, coloring: ColoringResult) -> int:
    """The symbolic forward sweep's tangent table of ``mode`` and ``coloring``, in ids
    (known from the colors alone)."""
    if isinstance(mode, HessianMode):
        return GRADIENT_GRAPH_FACTOR * graph.n_nodes * int(coloring.ncolors)
    if isinstance(coloring, BicoloringResult):
        return graph.n_nodes * coloring.n_column_colors
    if isinstance(coloring, RowColoringResult):
        return 0
    return graph.n_nodes * int(coloring.ncolors)


def compile_cost(graph: Graph, mode: Mode, coloring: ColoringResult) -> CompileCost:
    """The cost of ``mode.compile(graph, coloring)``, estimated (see the module).

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.modes import JACOBIAN
    >>> g = symasd.trace(lambda x: np.sin(x[1:]) * x[:-1], np.zeros(50))
    >>> r = JACOBIAN["forward"].color(symasd.jacobian_sparsity(g))
    >>> compile_cost(g, JACOBIAN["forward"], r)  # 49 sines and 49 products, 2 colors
    CompileCost(directions=147, cells=300)
    """
    cells = _cells(graph, mode, coloring)
    if isinstance(mode, HessianMode):
        return CompileCost(_count(graph, 2, int(coloring.ncolors), coloring.colors), cells)
    if isinstance(coloring, BicoloringResult):
        directions = 0
        if coloring.n_row_colors:
            directions += _count(graph, 1, coloring.n_row_colors,
                                 output_colors=coloring.row_colors)
        if coloring.n_column_colors:
            directions += _count(graph, 0, coloring.n_column_colors, coloring.column_colors)
        return CompileCost(directions, cells)
    c = int(coloring.ncolors)
    if isinstance(coloring, RowColoringResult):
        return CompileCost(_count(graph, 1, c, output_colors=coloring.colors), cells)
    return CompileCost(_count(graph, 0, c, coloring.colors), cells)


def compiles(graph: Graph, mode: Mode, coloring: ColoringResult) -> bool:
    """Whether a compile is within the budget (``mode="auto"`` compiles a second
    candidate only then): ``compile_cost(...).compiles``, with the
    cells checked first, so that a table past :data:`CELL_LIMIT` skips counting the
    directions (a bitset pass over the graph: 33 ms for the 1.5 million nodes of
    BDQRTIC at n = 10^5, whose Hessian has 8 star colors).

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.modes import JACOBIAN
    >>> g = symasd.trace(lambda x: np.sin(x[1:]) * x[:-1], np.zeros(50))
    >>> compiles(g, JACOBIAN["forward"], JACOBIAN["forward"].color(symasd.jacobian_sparsity(g)))
    True
    """
    if _cells(graph, mode, coloring) > CELL_LIMIT:
        return False
    return compile_cost(graph, mode, coloring).compiles


def compile_seconds(graph: Graph, directions: int | None = None) -> float:
    """The estimated time to compile a derivative of ``graph`` that differentiates
    ``directions`` (node, direction) pairs (:func:`compile_cost`); without them, the
    part that does not depend on them, a lower bound that needs no counting.

    Example
    -------
    >>> import numpy as np, symasd
    >>> g = symasd.trace(lambda x: np.sin(x[1:]) * x[:-1], np.zeros(50))
    >>> compile_seconds(g) < compile_seconds(g, 147)
    True
    """
    seconds = COMPILE_SECONDS_FIXED + COMPILE_SECONDS_PER_NODE * graph.n_nodes
    return seconds + COMPILE_SECONDS_PER_DIRECTION * (directions or 0)


def compiled_is_slower(graph: Graph, tape_colors: int, dag_nodes: int) -> bool:
    """Whether a compiled derivative of ``dag_nodes`` nodes (its matrix graph) costs
    more per call than the tape's ``tape_colors`` products over ``graph``.

    Example
    -------
    >>> import numpy as np, symasd
    >>> hes = symasd.hessian(lambda x: np.sum(x[1:] * x[:-1]), np.zeros(100), engine="vm")
    >>> compiled_is_slower(hes.graph, hes.ncolors, hes.compiled.matrix_graph.n_nodes)
    False
    """
    return dag_nodes > max(DAG_KEEP_NODES,
                           DAG_PER_TAPE_PRODUCT * graph.n_nodes * max(int(tape_colors), 1))
