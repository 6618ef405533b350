"""Prepared sparse derivatives: :func:`jacobian` and :func:`hessian`.

Preparation traces the function, detects the sparsity pattern, colors it,
picks a mode and (for the default engine) compiles the derivative DAG with
symbolic compressed sweeps. Calling the prepared object then only evaluates:

* ``engine="vm"`` (the default, ``"auto"``): the compiled derivative DAG on the
  Cython virtual machine. Best whenever the same derivative is needed more
  than a few times (Newton iterations, ODE steps): one pass over a graph
  whose outputs are exactly the nonzeros.
* ``engine="tape"``: numeric compressed sweeps over the function's own graph
  (``ncolors`` JVPs, VJPs or HVPs per call), nothing compiled. Best for a
  one-off derivative of a very large function, where compiling would cost
  more than it saves.

The engines agree wherever the derivative is finite. They differ at a
*selection* (``where``, ``maximum``, ``minimum``) whose untaken branch has an
infinite or NaN derivative: the tape never reads that branch, while the
compiled derivative multiplies it by 0 and gives NaN, as JAX does
(``np.where(x > 0, np.sqrt(x), 0)`` at ``x = 0``: tape 0, vm NaN). Keep the
untaken branch finite (``np.sqrt(np.where(x > 0, x, 1))``) for the same
result on both.

Arrays after ``x`` are **parameters**: traced as inputs that are not
differentiated, and passed again at every call, so one preparation serves
a whole solve (time in an ODE right-hand side, multipliers in a Lagrangian).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from . import _validation as validation
from .coloring import ColoringResult, color, result_from_colors
from .compiler import CompiledDerivative, compile_hessian, compile_jacobian
from .decompression import CSRTemplate
from .display import pattern_text
from .errors import InputError
from .evaluation import evaluate_flat
from .graph import Graph
from .sparsity import hessian_sparsity, jacobian_sparsity
from .sweeps import forward_numeric, hvp_numeric, reverse_numeric, row_gather, seed_zero_rows
from .tracing import trace

__all__ = ["jacobian", "hessian", "PreparedJacobian", "PreparedHessian"]

JACOBIAN_MODES = ("auto", "forward", "reverse", "bidirectional", "dense")
HESSIAN_MODES = ("auto", "star", "acyclic", "column", "dense")
ENGINES = ("auto", "vm", "tape")
# Above this many (nodes x directions), a dense symbolic sweep would not fit
# comfortably in memory; dense mode then runs on the tape.
_DENSE_SYMBOLIC_LIMIT = 20_000_000
# A reverse sweep costs about this many forward sweeps (it also needs a
# forward pass for the values and accumulates adjoints).
_REVERSE_COST = 1.5
# With the compiled engine, modes this close to the cheapest by products are
# compiled too, and the smallest derivative DAG wins.
_COMPILE_SLACK = 1.25
# mode="auto" tries a bicoloring only when both one-sided colorings need more
# products than this (it pays off for dense rows and columns, and costs more
# to compute).
_BIDIRECTIONAL_ABOVE = 8


def _check_choice(value, allowed, what):
    if value not in allowed:
        raise InputError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")


def _trace(f, x0, p0) -> Graph:
    if isinstance(f, Graph):
        if p0:
            raise InputError("parameters are fixed by the Graph; pass them at call time")
        return f
    if not callable(f):
        raise InputError(f"f must be a function or a symasd.Graph, got {type(f).__name__}")
    return trace(f, x0, *p0)


class _Prepared:
    """Shared machinery of prepared Jacobians and Hessians."""

    graph: Graph
    sparsity: sp.csr_array
    coloring: ColoringResult
    mode: str
    engine: str
    compiled: CompiledDerivative | None
    _template: CSRTemplate

    def __init__(self, graph: Graph, sparsity, coloring: ColoringResult, mode: str,
                 engine: str, compiled: CompiledDerivative | None):
        self.graph = graph
        self.sparsity = sparsity
        self.coloring = coloring
        self.mode = mode
        self.engine = engine
        self.compiled = compiled
        self._template = CSRTemplate(sparsity.shape, sparsity.indptr, sparsity.indices)

    @property
    def ncolors(self) -> int:
        """Number of compressed products per evaluation (JVPs, VJPs or HVPs)."""
        return int(self.coloring.ncolors)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.sparsity.shape)

    @property
    def nnz(self) -> int:
        return int(self.sparsity.nnz)

    @property
    def derivative_graph(self) -> Graph | None:
        """The compiled derivative DAG (``None`` for the tape engine)."""
        return self.compiled.graph if self.compiled is not None else None

    @cached_property
    def _seeds(self):
        seeds = self.coloring.seeds()
        # read-only: _seed_zero describes them for every call
        for s in seeds if isinstance(seeds, tuple) else (seeds,):
            s.flags.writeable = False
        return seeds

    @cached_property
    def _seed_zero(self) -> np.ndarray:
        """The zero flags of the seed matrix's rows (a forward or Hessian seed matrix),
        found once rather than by every tape sweep."""
        return seed_zero_rows(self._seeds)

    @property
    def _shapes(self):
        """The traced input and parameter shapes, which every call is checked against."""
        return self.graph.input_shape, self.graph.param_shapes

    def _matrix(self, data: np.ndarray) -> sp.csr_array:
        return self._template.matrix(data)

    def _summary(self, kind: str, products: str) -> str:
        m, n = self.shape
        density = 100.0 * self.nnz / max(m * n, 1)
        lines = [
            f"{kind}: {m} x {n}, {self.nnz} nonzeros ({density:.3g}% dense)",
            f"  mode={self.mode}, engine={self.engine}, coloring={self.coloring.problem} "
            f"({self.coloring.order} order)",
            f"  {products}",
        ]
        if self.compiled is not None:
            lines.append(f"  derivative DAG: {self.compiled.matrix_graph.n_nodes} nodes "
                         f"(function graph: {self.graph.n_nodes} nodes)")
        lines.append(pattern_text(self.sparsity, max_size=40))
        return "\n".join(lines)


class PreparedJacobian(_Prepared):
    """A prepared sparse Jacobian; call it as ``jac(x, *p)``.

    Create it with :func:`jacobian`. Every call returns a
    ``scipy.sparse.csr_array`` with the same ``indptr`` and ``indices``.
    """

    def __call__(self, x, *params) -> sp.csr_array:
        """The Jacobian at ``x`` as a ``csr_array`` (``m x n``)."""
        if self.compiled is None:
            return self._matrix(self._tape(x, params, values=False)[1])
        xf, pf = validation.inputs(x, params, *self._shapes)
        return self._matrix(evaluate_flat(self.compiled.matrix_graph, xf, pf))

    def value_and_jacobian(self, x, *params) -> tuple[np.ndarray, sp.csr_array]:
        """``(f(x), J(x))``, sharing the work of both."""
        if self.compiled is not None:
            xf, pf = validation.inputs(x, params, *self._shapes)
            out = evaluate_flat(self.compiled.graph, xf, pf)
            y, data = out[: self.compiled.n_values], out[self.compiled.n_values:]
        else:
            y, data = self._tape(x, params)
        return y.reshape(self.graph.output_shape), self._matrix(np.ascontiguousarray(data))

    def _tape(self, x, ps, values=True):
        # decompress=: the compressed matrix stays in the sweep's reused work buffer
        # (forward mode: it is never formed, the sweep gathers the nonzeros row by
        # row); values=False (forward mode): no y, and no node values the tangents
        # do not read
        r = self.coloring
        if self.mode == "reverse":
            return reverse_numeric(self.graph, x, ps, self._seeds,
                                   decompress=r.decompress_values)
        if self.mode == "bidirectional":
            S_row, S_col = self._seeds
            y, B_row = reverse_numeric(self.graph, x, ps, S_row) if r.n_row_colors else (
                None, np.zeros((0, self.shape[1])))
            y2, B_col = forward_numeric(self.graph, x, ps, S_col) if r.n_column_colors else (
                None, np.zeros((self.shape[0], 0)))
            return (y if y is not None else y2), r.decompress_values(B_row, B_col)
        return forward_numeric(self.graph, x, ps, self._seeds, decompress=self._row_gather,
                               seed_zero=self._seed_zero, values=values)

    @cached_property
    def _row_gather(self):
        """The forward (column) coloring's decompression as a gather that the sweep
        runs on each output row as soon as it is computed, so B is never formed."""
        r = self.coloring
        return row_gather(self.sparsity.indptr, r.compressed_indices, r.ncolors)

    def __repr__(self) -> str:
        n = self.shape[1]
        if self.mode == "reverse":
            products = f"{self.ncolors} VJPs instead of {self.shape[0]}"
        elif self.mode == "bidirectional":
            products = (f"{_plural(self.coloring.n_column_colors, 'JVP')} + "
                        f"{_plural(self.coloring.n_row_colors, 'VJP')} instead of "
                        f"{min(self.shape)}")
        else:
            products = f"{self.ncolors} JVPs instead of {n}"
        return self._summary("PreparedJacobian", products)


class PreparedHessian(_Prepared):
    """A prepared sparse Hessian; call it as ``hes(x, *p)``.

    Create it with :func:`hessian`. Every call returns a symmetric
    ``scipy.sparse.csr_array`` (both triangles stored) with the same
    ``indptr`` and ``indices``.
    """

    def __call__(self, x, *params) -> sp.csr_array:
        """The Hessian at ``x`` as a symmetric ``csr_array`` (``n x n``)."""
        if self.compiled is None:
            return self._matrix(self._tape(x, params, gradient=False, value=False)[2])
        xf, pf = validation.inputs(x, params, *self._shapes)
        return self._matrix(evaluate_flat(self.compiled.matrix_graph, xf, pf))

    def value_gradient_and_hessian(self, x, *params):
        """``(f(x), grad f(x), H(x))``; the gradient has the shape of ``x``."""
        if self.compiled is not None:
            xf, pf = validation.inputs(x, params, *self._shapes)
            out = evaluate_flat(self.compiled.graph, xf, pf)
            n = self.compiled.n_gradient
            v, g, data = out[0], out[1:1 + n], out[1 + n:]
        else:
            v, g, data = self._tape(x, params)
        return (float(v), g.reshape(self.graph.input_shape),
                self._matrix(np.ascontiguousarray(data)))

    def _tape(self, x, ps, gradient=True, value=True):
        return hvp_numeric(self.graph, x, ps, self._seeds, gradient=gradient,
                           decompress=self.coloring.decompress_values,
                           seed_zero=self._seed_zero, value=value)

    def __repr__(self) -> str:
        return self._summary("PreparedHessian",
                             f"{self.ncolors} HVPs instead of {self.shape[1]}")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _dense_coloring(pattern, problem: str) -> ColoringResult:
    n = pattern.shape[1]
    return result_from_colors(pattern, problem, np.arange(n, dtype=np.int64))


def _jacobian_candidates(P, mode: str, order) -> dict[str, ColoringResult]:
    if mode == "dense":
        return {"dense": _dense_coloring(P, "column")}
    if mode in ("forward", "reverse", "bidirectional"):
        problem = {"forward": "column", "reverse": "row"}.get(mode, mode)
        return {mode: color(P, problem, order)}
    cands = {"forward": color(P, "column", order), "reverse": color(P, "row", order)}
    if min(r.ncolors for r in cands.values()) > _BIDIRECTIONAL_ABOVE:
        cands["bidirectional"] = color(P, "bidirectional", order)
    return cands


def _cost(mode: str, r: ColoringResult) -> float:
    if mode == "reverse":
        return _REVERSE_COST * r.ncolors
    if mode == "bidirectional":
        return r.n_column_colors + _REVERSE_COST * r.n_row_colors
    return float(r.ncolors)


def _compile_jacobian(g: Graph, mode: str, r: ColoringResult) -> CompiledDerivative:
    if mode == "reverse":
        return compile_jacobian(g, row_colors=r.colors, n_row_colors=r.ncolors,
                                compressed_indices=r.compressed_indices)
    if mode == "bidirectional":
        return compile_jacobian(g, row_colors=r.row_colors, n_row_colors=r.n_row_colors,
                                column_colors=r.column_colors,
                                n_column_colors=r.n_column_colors,
                                compressed_indices=r.compressed_indices)
    return compile_jacobian(g, column_colors=r.colors, n_column_colors=r.ncolors,
                            compressed_indices=r.compressed_indices)


def _resolve_engine(engine: str, g: Graph, ncolors: int, mode: str) -> str:
    if engine != "auto":
        return engine
    if mode == "dense" and g.n_nodes * ncolors > _DENSE_SYMBOLIC_LIMIT:
        return "tape"
    return "vm"


def jacobian(f: Callable | Graph, x0, *p0, mode: str = "auto", order="largest_first",
             engine: str = "auto") -> PreparedJacobian:
    """Prepare the sparse Jacobian of ``f(x, *p)``.

    Parameters
    ----------
    f : function or Graph
        NumPy code ``f(x, *p)``; arrays after ``x`` are parameters (traced,
        not differentiated, passed again at call time).
    x0, *p0 : arrays
        Shapes of the input and parameters (float64). The pattern is global:
        it holds for every ``x``.
    mode : str
        ``"forward"`` (column coloring, JVPs), ``"reverse"`` (row coloring,
        VJPs), ``"bidirectional"`` (both), ``"dense"`` (one JVP per column),
        or ``"auto"``: the cheapest by number of products (a VJP weighted
        1.5; bidirectional is tried when both one-sided colorings need more
        than 8 products), and with the compiled engine, among modes within 25% of that,
        the one whose derivative DAG has the fewest nodes.
    order : str or list
        Vertex ordering of the coloring (see :func:`symasd.color`).
    engine : str
        ``"vm"`` (compiled derivative DAG on the virtual machine), ``"tape"``
        (numeric sweeps, no compilation) or ``"auto"`` (``"vm"``, except
        dense mode on very large graphs).

    Example
    -------
    >>> import numpy as np, symasd
    >>> jac = symasd.jacobian(lambda x: np.diff(x, 3), np.zeros(10))
    >>> jac.ncolors, jac.mode
    (4, 'forward')
    >>> jac(np.random.rand(10)).toarray()[0, :5]
    array([-1.,  3., -3.,  1.,  0.])
    """
    _check_choice(mode, JACOBIAN_MODES, "Jacobian mode")
    _check_choice(engine, ENGINES, "engine")
    g = _trace(f, x0, p0)
    P = jacobian_sparsity(g)
    cands = _jacobian_candidates(P, mode, order)
    ranked = sorted(cands, key=lambda k: _cost(k, cands[k]))
    best = ranked[0]
    engine = _resolve_engine(engine, g, cands[best].ncolors, best)
    if engine == "tape":
        return PreparedJacobian(g, P, cands[best], best, "tape", None)
    if best == "dense" and g.n_nodes * cands[best].ncolors > _DENSE_SYMBOLIC_LIMIT:
        raise InputError("dense mode on this graph is too large to compile; use "
                         "engine='tape' or a sparse mode")
    limit = _COMPILE_SLACK * _cost(best, cands[best])
    compiled = {k: _compile_jacobian(g, k, cands[k]) for k in ranked
                if _cost(k, cands[k]) <= limit}
    chosen = min(compiled, key=lambda k: compiled[k].matrix_graph.n_nodes) \
        if mode == "auto" else best
    return PreparedJacobian(g, P, cands[chosen], chosen, "vm", compiled[chosen])


def _hessian_candidates(P, mode: str, order, tape: bool) -> dict[str, ColoringResult]:
    if mode == "dense":
        return {"dense": _dense_coloring(P, "column")}
    if mode in ("star", "acyclic", "column"):
        return {mode: color(P, mode, order)}
    cands = {"star": color(P, "star", order)}
    if tape:
        acyclic = color(P, "acyclic", order)
        if acyclic.ncolors < cands["star"].ncolors:
            cands["acyclic"] = acyclic
    return cands


def _compile_hessian(g: Graph, mode: str, r: ColoringResult, nnz: int) -> CompiledDerivative:
    if mode == "acyclic":
        return compile_hessian(g, colors=r.colors, ncolors=r.ncolors, program=r.program,
                               nnz=nnz)
    return compile_hessian(g, colors=r.colors, ncolors=r.ncolors,
                           compressed_indices=r.compressed_indices)


def hessian(f: Callable | Graph, x0, *p0, mode: str = "auto", order="largest_first",
            engine: str = "auto") -> PreparedHessian:
    """Prepare the sparse Hessian of a scalar-valued ``f(x, *p)``.

    ``mode`` is ``"star"`` (star coloring, direct recovery), ``"acyclic"``
    (fewer colors, recovery by substitution), ``"column"`` (column coloring
    of the Hessian pattern), ``"dense"`` or ``"auto"``. With the compiled
    engine, ``"auto"`` is star: the derivative DAG hardly depends on the
    number of colors, and substitution only adds nodes. With the tape, where
    every color is one Hessian-vector product per call, ``"auto"`` is acyclic
    when it needs fewer colors than star. Hessian-vector products are
    forward-over-reverse.
    Other arguments as in :func:`jacobian`.

    Example
    -------
    >>> import numpy as np, symasd
    >>> rosen = lambda x: np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    >>> hes = symasd.hessian(rosen, np.zeros(50))
    >>> hes.ncolors, hes(np.ones(50)).nnz
    (3, 148)
    """
    _check_choice(mode, HESSIAN_MODES, "Hessian mode")
    _check_choice(engine, ENGINES, "engine")
    g = _trace(f, x0, p0)
    P = hessian_sparsity(g)
    # the engine is settled before coloring: the tape also weighs acyclic colorings
    tape = _resolve_engine(engine, g, g.n_inputs, mode) == "tape"
    cands = _hessian_candidates(P, mode, order, tape)
    best = min(cands, key=lambda k: cands[k].ncolors)
    if tape:
        return PreparedHessian(g, P, cands[best], best, "tape", None)
    return PreparedHessian(g, P, cands[best], best, "vm", _compile_hessian(g, best, cands[best],
                                                                            P.nnz))
