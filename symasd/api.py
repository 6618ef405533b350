"""Prepared sparse derivatives: :func:`jacobian` and :func:`hessian`.

Preparation traces the function, detects the sparsity pattern, colors it,
picks a mode (a :mod:`symasd.modes` object: coloring problem, cost,
compilation, tape sweeps) and (for the default engine) compiles the
derivative DAG with symbolic compressed sweeps. Calling the prepared object
then only evaluates:

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

import numpy as np
import scipy.sparse as sp

from . import _validation as validation
from .coloring import ColoringResult
from .compiler import CompiledDerivative
from .decompression import CSRTemplate
from .display import pattern_text
from .errors import InputError
from .evaluation import evaluate_flat
from .graph import Graph
from .modes import HESSIAN, JACOBIAN, REVERSE_COST, Candidate, HessianMode, Mode
from .sparsity import hessian_sparsity, jacobian_sparsity
from .tracing import trace

__all__ = ["jacobian", "hessian", "PreparedJacobian", "PreparedHessian"]

JACOBIAN_MODES = ("auto", *JACOBIAN)
HESSIAN_MODES = ("auto", *HESSIAN)
ENGINES = ("auto", "vm", "tape")
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

    def __init__(self, graph: Graph, sparsity, chosen: Candidate, engine: str,
                 compiled: CompiledDerivative | None):
        self.graph = graph
        self.sparsity = sparsity
        self.coloring = chosen.coloring
        self._mode: Mode = chosen.mode
        self.mode = chosen.mode.name
        self.engine = engine
        self.compiled = compiled
        self._tape = chosen.mode.tape(graph, chosen.coloring)
        # the one template of this preparation (the colorings build theirs only if
        # asked to decompress): every matrix shares the arrays of `sparsity`
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

    def __repr__(self) -> str:
        return self._summary("PreparedJacobian", self._mode.products(self.coloring))


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

    def __repr__(self) -> str:
        return self._summary("PreparedHessian", self._mode.products(self.coloring))


def _bicoloring_cost_bound(P) -> float:
    """A lower bound on the cost of any bicoloring of the m x n pattern ``P``.

    Each entry of ``B_col = A @ S_col`` (m x c_col) and of ``B_row = S_row.T @ A``
    (c_row x n) gives at most one nonzero directly, so ``nnz <= m c_col + n c_row``
    and the cost ``c_col + REVERSE_COST c_row`` is at least
    ``nnz * min(1 / m, REVERSE_COST / n)``: about the mean row (or column) length,
    which the one-sided colorings reach when rows are alike (bands, near-dense
    patterns). A bicoloring pays where rows and columns differ (dense ones).
    """
    m, n = P.shape
    return P.nnz * min(1.0 / max(m, 1), REVERSE_COST / max(n, 1))


def _jacobian_candidates(P, mode: str, order) -> list[Candidate]:
    if mode != "auto":
        return [Candidate.of(JACOBIAN[mode], P, order)]
    cands = [Candidate.of(JACOBIAN[name], P, order) for name in ("forward", "reverse")]
    if (min(c.coloring.ncolors for c in cands) > _BIDIRECTIONAL_ABOVE
            and _bicoloring_cost_bound(P) < min(c.cost for c in cands)):
        bi = Candidate.of(JACOBIAN["bidirectional"], P, order)
        # a one-sided winner ("column" / "row") is a forward or reverse coloring again
        if bi.coloring.method not in ("column", "row"):
            cands.append(bi)
    return cands


def _resolve_engine(engine: str, g: Graph, mode: Mode | None) -> str:
    if engine != "auto":
        return engine
    if mode is not None and mode.too_large_to_compile(g):
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
        than 8 products and a bicoloring could cost less, by a bound from the
        number of nonzeros), and with the compiled engine, among modes within 25% of that,
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
    ranked = sorted(_jacobian_candidates(P, mode, order), key=lambda c: c.cost)
    best = ranked[0]
    engine = _resolve_engine(engine, g, best.mode)
    if engine == "tape":
        return PreparedJacobian(g, P, best, "tape", None)
    if best.mode.too_large_to_compile(g):
        raise InputError("dense mode on this graph is too large to compile; use "
                         "engine='tape' or a sparse mode")
    limit = _COMPILE_SLACK * best.cost
    compiled = [(c, c.mode.compile(g, c.coloring)) for c in ranked if c.cost <= limit]
    chosen, dag = min(compiled, key=lambda cd: cd[1].matrix_graph.n_nodes) \
        if mode == "auto" else compiled[0]
    return PreparedJacobian(g, P, chosen, "vm", dag)


def _hessian_candidates(P, mode: HessianMode | None, order, tape: bool) -> list[Candidate]:
    if mode is not None:
        return [Candidate.of(mode, P, order)]
    star = Candidate.of(HESSIAN["star"], P, order)
    if tape:
        acyclic = Candidate.of(HESSIAN["acyclic"], P, order)
        if acyclic.coloring.ncolors < star.coloring.ncolors:
            return [star, acyclic]
    return [star]


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
    chosen_mode = None if mode == "auto" else HESSIAN[mode]
    # the engine is settled before coloring: the tape also weighs acyclic colorings
    tape = _resolve_engine(engine, g, chosen_mode) == "tape"
    best = min(_hessian_candidates(P, chosen_mode, order, tape), key=lambda c: c.cost)
    if tape:
        return PreparedHessian(g, P, best, "tape", None)
    return PreparedHessian(g, P, best, "vm", best.mode.compile(g, best.coloring))
