"""Derivative modes: how a prepared derivative gets its matrix from its pattern.

The coloring problem, the algorithm and the result are separate types (as in
SparseMatrixColorings.jl): a **mode** is the algorithm choice between a
sparsity pattern and its sparse derivative, and the
:class:`~symasd.coloring.ColoringResult` it produces is the result. Each
mode knows

* its coloring problem (:meth:`Mode.color`: color the pattern in a given
  vertex order),
* its cost per evaluation, in forward products (:meth:`Mode.cost`: a VJP
  weighs ``REVERSE_COST`` JVPs), which ``mode="auto"`` ranks by,
* how to compile its derivative DAG (:meth:`Mode.compile`, symbolic sweeps
  in :mod:`symasd.compiler`),
* how to run on the tape (:meth:`Mode.tape`: numeric sweeps in
  :mod:`symasd.sweeps`, bound to one graph and one coloring),
* how to describe itself (:attr:`Mode.name`, the public ``jac.mode``, and
  :meth:`Mode.products` for the summary).

:data:`JACOBIAN` and :data:`HESSIAN` are the registries by public name;
:mod:`symasd.api` chooses among them.

Example
-------
>>> import numpy as np, symasd
>>> from symasd.modes import JACOBIAN
>>> P = symasd.jacobian_sparsity(lambda x: np.diff(x, 3), np.zeros(10))
>>> r = JACOBIAN["forward"].color(P, "natural")
>>> r.problem, JACOBIAN["forward"].cost(r), JACOBIAN["forward"].products(r)
('column', 4.0, '4 JVPs instead of 10')
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from . import _validation as validation
from .coloring import ColoringResult, PatternLike, as_pattern, color, result_from_colors
from .compiler import CompiledDerivative, compile_hessian, compile_jacobian
from .evaluation import evaluate_flat
from .graph import Graph
from .sweeps import forward_numeric, hvp_numeric, reverse_numeric, row_gather, seed_zero_rows

__all__ = ["Mode", "JacobianMode", "HessianMode", "Candidate", "Tape", "JACOBIAN", "HESSIAN",
           "ForwardMode", "ReverseMode", "BidirectionalMode", "DenseJacobianMode",
           "StarMode", "AcyclicMode", "ColumnHessianMode", "DenseHessianMode",
           "REVERSE_COST"]

#: A reverse sweep costs about this many forward sweeps (it also needs a
#: forward pass for the values and accumulates adjoints).
REVERSE_COST = 1.5


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _identity_coloring(pattern: PatternLike) -> ColoringResult:
    """Every column its own color: the dense modes' "coloring"."""
    P = as_pattern(pattern)
    return result_from_colors(P, "column", np.arange(P.shape[1], dtype=np.int64))


# ---------------------------------------------------------------------------
# numeric sweeps bound to one graph and one coloring


class Tape:
    """The numeric compressed sweeps of one coloring over one graph.

    The seed matrices (read-only) and the zero flags of their rows are
    computed at the first call and kept, so that no call scans the seeds
    again. Subclasses run one mode's sweeps; a call returns the function's
    outputs and the nonzeros in CSR order.
    """

    def __init__(self, graph: Graph, coloring: ColoringResult):
        self.graph = graph
        self.coloring = coloring

    @cached_property
    def seeds(self):
        """``coloring.seeds()``, read-only (:attr:`seed_zero` describes them for every call)."""
        seeds = self.coloring.seeds()
        for s in seeds if isinstance(seeds, tuple) else (seeds,):
            s.flags.writeable = False
        return seeds

    @cached_property
    def seed_zero(self) -> np.ndarray:
        """The zero flags of the seed matrix's rows (a forward or Hessian seed matrix),
        found once rather than by every sweep."""
        return seed_zero_rows(self.seeds)

    def _values(self, x, params, values: bool = True) -> np.ndarray | None:
        """The outputs (flat; None unless ``values``) at the checked inputs, for a
        coloring without colors: an input or output of size zero, where there is no
        product to run and no nonzero to recover."""
        xf, pf = validation.inputs(x, params, self.graph.input_shape,
                                   self.graph.param_shapes)
        return evaluate_flat(self.graph, xf, pf) if values else None


class _ForwardTape(Tape):
    def __call__(self, x, params, values: bool = True):
        if not self.coloring.ncolors:
            return self._values(x, params, values), np.zeros(0)
        # values=False: no y, and no node values the tangents do not read
        return forward_numeric(self.graph, x, params, self.seeds, decompress=self._row_gather,
                               seed_zero=self.seed_zero, values=values)

    @cached_property
    def _row_gather(self):
        """The column coloring's decompression as a gather that the sweep runs on
        each output row as soon as it is computed, so B is never formed."""
        r = self.coloring
        return row_gather(r.pattern.indptr, r.compressed_indices, r.ncolors)


class _ReverseTape(Tape):
    def __call__(self, x, params, values: bool = True):
        if not self.coloring.ncolors:
            return self._values(x, params), np.zeros(0)
        # decompress=: the compressed matrix stays in the sweep's reused work buffer;
        # a reverse sweep needs the values anyway
        return reverse_numeric(self.graph, x, params, self.seeds,
                               decompress=self.coloring.decompress_values)


class _BidirectionalTape(Tape):
    def __call__(self, x, params, values: bool = True):
        r, (m, n) = self.coloring, self.coloring.shape
        if not r.ncolors:
            return self._values(x, params), np.zeros(0)
        S_row, S_col = self.seeds
        y, B_row = reverse_numeric(self.graph, x, params, S_row) if r.n_row_colors else (
            None, np.zeros((0, n)))
        y2, B_col = forward_numeric(self.graph, x, params, S_col) if r.n_column_colors else (
            None, np.zeros((m, 0)))
        return (y if y is not None else y2), r.decompress_values(B_row, B_col)


class _HessianTape(Tape):
    def __call__(self, x, params, gradient: bool = True, value: bool = True):
        if not self.coloring.ncolors:      # no input: no gradient, no Hessian entry
            y = self._values(x, params)
            return ((y[0] if value else None),
                    (np.zeros(self.graph.n_inputs) if gradient else None), np.zeros(0))
        return hvp_numeric(self.graph, x, params, self.seeds, gradient=gradient,
                           decompress=self.coloring.decompress_values,
                           seed_zero=self.seed_zero, value=value)


# ---------------------------------------------------------------------------
# modes


class Mode(ABC):
    """One way from a pattern to its sparse derivative (stateless; see the module)."""

    #: the public mode name (``jac.mode``, ``mode=`` of jacobian() / hessian())
    name: ClassVar[str]
    #: the coloring problem (see :func:`symasd.color`)
    problem: ClassVar[str]
    _tape_type: ClassVar[type[Tape]]

    def color(self, pattern: PatternLike, order="largest_first") -> ColoringResult:
        """Color ``pattern`` (this mode's problem) with the vertex ``order``."""
        return color(pattern, self.problem, order)

    def cost(self, coloring: ColoringResult) -> float:
        """Products per evaluation, in units of one forward sweep."""
        return float(coloring.ncolors)

    @abstractmethod
    def compile(self, graph: Graph, coloring: ColoringResult) -> CompiledDerivative:
        """The derivative DAG of ``graph`` by symbolic sweeps seeded by ``coloring``."""

    def tape(self, graph: Graph, coloring: ColoringResult) -> Tape:
        """This mode's numeric sweeps over ``graph``, seeded by ``coloring``."""
        return self._tape_type(graph, coloring)

    @abstractmethod
    def products(self, coloring: ColoringResult) -> str:
        """What one evaluation costs, for the summary: ``"4 JVPs instead of 10"``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class JacobianMode(Mode):
    """A way to compute a sparse Jacobian."""

    def compile(self, graph: Graph, coloring: ColoringResult) -> CompiledDerivative:
        return compile_jacobian(graph, coloring)


class ForwardMode(JacobianMode):
    """Column coloring, one JVP per color."""

    name = "forward"
    problem = "column"
    _tape_type = _ForwardTape

    def products(self, coloring: ColoringResult) -> str:
        return f"{int(coloring.ncolors)} JVPs instead of {coloring.shape[1]}"


class _Dense:
    """The dense modes: every input its own color, whatever the order; their
    symbolic sweeps carry ``n_inputs`` directions per node (``engine="auto"``
    compiles them only when that is small: :mod:`symasd.costs`)."""

    def color(self, pattern: PatternLike, order="largest_first") -> ColoringResult:
        return _identity_coloring(pattern)


class DenseJacobianMode(_Dense, ForwardMode):
    """One JVP per column."""

    name = "dense"


class ReverseMode(JacobianMode):
    """Row coloring, one VJP per color."""

    name = "reverse"
    problem = "row"
    _tape_type = _ReverseTape

    def cost(self, coloring: ColoringResult) -> float:
        return REVERSE_COST * coloring.ncolors

    def products(self, coloring: ColoringResult) -> str:
        return f"{int(coloring.ncolors)} VJPs instead of {coloring.shape[0]}"


class BidirectionalMode(JacobianMode):
    """Bicoloring: JVPs for some columns, VJPs for some rows."""

    name = "bidirectional"
    problem = "bidirectional"
    _tape_type = _BidirectionalTape

    def cost(self, coloring: ColoringResult) -> float:
        return coloring.n_column_colors + REVERSE_COST * coloring.n_row_colors

    def products(self, coloring: ColoringResult) -> str:
        return (f"{_plural(coloring.n_column_colors, 'JVP')} + "
                f"{_plural(coloring.n_row_colors, 'VJP')} instead of {min(coloring.shape)}")


class HessianMode(Mode):
    """A way to compute a sparse Hessian: forward-over-reverse, one HVP per color."""

    _tape_type = _HessianTape

    def compile(self, graph: Graph, coloring: ColoringResult) -> CompiledDerivative:
        return compile_hessian(graph, coloring)

    def products(self, coloring: ColoringResult) -> str:
        return f"{int(coloring.ncolors)} HVPs instead of {coloring.shape[1]}"


class StarMode(HessianMode):
    """Star coloring: direct recovery from the compressed Hessian."""

    name = "star"
    problem = "star"


class AcyclicMode(HessianMode):
    """Acyclic coloring: fewer colors, recovery by substitution."""

    name = "acyclic"
    problem = "acyclic"


class ColumnHessianMode(HessianMode):
    """Column coloring of the Hessian pattern (symmetry not used)."""

    name = "column"
    problem = "column"


class DenseHessianMode(_Dense, HessianMode):
    """One HVP per input."""

    name = "dense"
    problem = "column"


#: The Jacobian modes by public name (the order of the documented list).
JACOBIAN: dict[str, JacobianMode] = {
    m.name: m for m in (ForwardMode(), ReverseMode(), BidirectionalMode(), DenseJacobianMode())}
#: The Hessian modes by public name (the order of the documented list).
HESSIAN: dict[str, HessianMode] = {
    m.name: m for m in (StarMode(), AcyclicMode(), ColumnHessianMode(), DenseHessianMode())}


@dataclass(frozen=True)
class Candidate:
    """A mode with the coloring it produced for one pattern (what ``mode="auto"`` ranks).

    Example
    -------
    >>> import numpy as np, symasd
    >>> P = symasd.jacobian_sparsity(lambda x: np.diff(x, 3), np.zeros(10))
    >>> Candidate.of(JACOBIAN["reverse"], P, "natural").cost
    6.0
    """

    mode: Mode
    coloring: ColoringResult

    @classmethod
    def of(cls, mode: Mode, pattern: PatternLike, order="largest_first") -> Candidate:
        """``mode`` with its coloring of ``pattern`` in ``order``."""
        return cls(mode, mode.color(pattern, order))

    @property
    def cost(self) -> float:
        """The mode's cost of this coloring (see :meth:`Mode.cost`)."""
        return self.mode.cost(self.coloring)
