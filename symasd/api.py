"""Prepared sparse derivatives: :func:`jacobian` and :func:`hessian`.

Preparation traces the function, detects the sparsity pattern, colors it,
picks a mode (a :mod:`symasd.modes` object: coloring problem, cost,
compilation, tape sweeps) and (for the compiled engines) compiles the
derivative DAG with symbolic compressed sweeps. Calling the prepared object
then only evaluates:

* ``engine="vm"``: the compiled derivative DAG on the Cython virtual
  machine. Best whenever the same derivative is needed more than a few
  times (Newton iterations, ODE steps): one pass over a graph whose outputs
  are exactly the nonzeros.
* ``engine="tape"``: numeric compressed sweeps over the function's own graph
  (``ncolors`` JVPs, VJPs or HVPs per call), nothing compiled. Best for a
  one-off derivative of a very large function, where compiling would cost
  more than it saves.
* ``engine="numpy"`` / ``"cupy"``: the compiled derivative DAG printed as
  vectorized NumPy / CuPy code (:mod:`symasd.codegen`) and run from memory;
  the same code that :meth:`~PreparedJacobian.to_source` and
  :meth:`~PreparedJacobian.export` give, to run without symasd.
* ``engine="auto"`` (the default, :mod:`symasd.tiering`): the tape, switched
  to ``"vm"`` at preparation where compiling is cheap, otherwise at the call
  after which the tape's calls have cost as much as compiling is estimated
  to (or after the number of calls stated with ``calls=``).

The engines agree wherever the function is differentiable, at *selections*
(``where``, ``maximum``, ``minimum``, ``clip``) too: both give the derivative of
the branch taken, and the NaN or infinite derivative of a branch not taken
never reaches the result (``np.where(x > 0, np.sqrt(x), 0)`` at ``x = 0``: 0 on
both). The tape never reads that branch; the compiled derivative selects
tangents and adjoints with ``where`` nodes instead of multiplying by 0/1
partials, and multiplies below a selection with a strong zero (``0 * inf`` is
0; see :mod:`symasd.compiler`).

Arrays after ``x`` are **parameters**: traced as inputs that are not
differentiated, and passed again at every call, so one preparation serves
a whole solve (time in an ODE right-hand side, multipliers in a Lagrangian).
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from . import _validation as validation
from ._system import available_memory
from .arguments import Arguments
from .codegen import BACKENDS, ModuleSpec, load_module, module_source, write_atomically
from .coloring import ColoringResult
from .compiler import CompiledDerivative
from .costs import compile_cost, compiled_is_slower, compiles
from .decompression import CSRTemplate
from .display import pattern_text
from .errors import InputError
from .evaluation import evaluate_flat
from .graph import Graph
from .modes import HESSIAN, JACOBIAN, REVERSE_COST, Candidate, HessianMode, Mode
from .sparsity import hessian_sparsity, jacobian_sparsity
from .tiering import CompileSchedule
from .tracing import trace

__all__ = ["jacobian", "hessian", "PreparedJacobian", "PreparedHessian"]

JACOBIAN_MODES = ("auto", *JACOBIAN)
HESSIAN_MODES = ("auto", *HESSIAN)
ENGINES = ("auto", "vm", "tape", *BACKENDS)
# With the compiled engine, modes this close to the cheapest by products are
# compiled too, and the smallest derivative DAG wins.
_COMPILE_SLACK = 1.25
# With calls=k this small, auto compiles nothing at preparation and times no call:
# two tape calls never cost twice a compile (symasd.tiering).
_UNTIMED_CALLS = 2
# mode="auto" tries a bicoloring only when both one-sided colorings need more
# products than this (it pays off for dense rows and columns, and costs more
# to compute).
_BIDIRECTIONAL_ABOVE = 8


def _check_choice(value, allowed, what):
    if value not in allowed:
        raise InputError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")


def _name_of(f) -> str:
    """The model's name, for generated modules."""
    return "graph" if isinstance(f, Graph) else getattr(f, "__name__", type(f).__name__)


def _array_module(engine: str):
    """NumPy or CuPy for a generated-code engine; a clear error where CuPy is missing."""
    if engine == "numpy":
        return np
    try:
        import cupy
    except ImportError as err:
        raise InputError("engine='cupy' needs CuPy and an NVIDIA GPU: install CuPy for your "
                         "CUDA version (for example pip install cupy-cuda12x), or use "
                         "engine='numpy'") from err
    return cupy


def _trace(f, x0, p0, local: bool) -> tuple[Graph, Arguments | None]:
    """The graph of ``f``, and how a call's arguments after ``x`` split into its
    parameters and static data (``None``: all are parameters)."""
    if isinstance(f, Graph):
        if p0:
            raise InputError("parameters are fixed by the Graph; pass them at call time")
        # the graph's input shape is fixed: x0 (None, or a point) has to agree with it
        if x0 is not None:
            validation.point(x0, "x0", f.input_shape)
        if local and not f.local:
            raise InputError("local=True needs a local graph: pass the function itself, or "
                             "a graph traced with symasd.trace(f, x0, local=True)")
        return f, None
    if not callable(f):
        raise InputError(f"f must be a function or a symasd.Graph, got {type(f).__name__}")
    arguments = Arguments.of(p0)
    return trace(f, x0, *p0, local=local), arguments if arguments.has_static else None


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
                 compiled: CompiledDerivative | None, arguments: Arguments | None = None,
                 name: str = "f"):
        self.graph = graph
        self.name = name
        self._arguments = arguments
        self.sparsity = sparsity
        self.coloring = chosen.coloring
        self._mode: Mode = chosen.mode
        self.mode = chosen.mode.name
        self.engine = engine
        self.compiled = compiled
        # the candidate `compiled` was compiled from (the header of generated code)
        self._compiled_from = chosen if compiled is not None else None
        self._tape = chosen.mode.tape(graph, chosen.coloring)
        # the one template of this preparation (the colorings build theirs only if
        # asked to decompress): every matrix shares the arrays of `sparsity`
        self._template = CSRTemplate(sparsity.shape, sparsity.indptr, sparsity.indices)
        self._generated = None
        # engine="auto" on the tape: when to compile (symasd.tiering), what it compiles
        # (kept for to_source), and a lock so that one thread compiles while the
        # others go on with the tape
        self._schedule: CompileSchedule | None = None
        self._auto_compile: Callable[[], tuple] | None = None
        self._tiering = threading.Lock()
        if engine in BACKENDS:
            self._generated = load_module(self.to_source(engine), f"{name}_{self._kind}")
            self._xp = _array_module(engine)

    _kind = "derivative"

    def _compiled(self) -> tuple[CompiledDerivative, Candidate]:
        """The compiled derivative DAG and the candidate it was compiled from. An
        object on the tape compiles now: what ``engine="auto"`` would compile (and
        switches to it where it is not slower than the tape), or with the tape's
        own mode and coloring for ``engine="tape"``."""
        with self._tiering:
            if self.compiled is None:
                if self._auto_compile is not None:
                    self._adopt(*self._auto_compile(), keep=True)
                else:
                    self._compiled_from = Candidate(self._mode, self.coloring)
                    self.compiled = self._mode.compile(self.graph, self.coloring)
            return self.compiled, self._compiled_from

    def _adopt(self, chosen: Candidate, dag: CompiledDerivative, keep: bool) -> None:
        """Switch to ``dag`` (compiled from ``chosen``) unless it is slower to call
        than the tape, then keep it only if ``keep``; the schedule ends either way.
        Called with the lock held."""
        self._schedule = None
        if compiled_is_slower(self.graph, self.coloring.ncolors, dag.matrix_graph.n_nodes):
            if keep:
                self.compiled, self._compiled_from = dag, chosen
            return
        self.compiled, self._compiled_from = dag, chosen
        self.coloring, self._mode, self.mode = chosen.coloring, chosen.mode, chosen.mode.name
        # the compiled DAG first, the engine that reads it last
        self.engine = "vm"

    def _on_tape(self, x, params, **which):
        """A tape call, counted by the schedule of ``engine="auto"``, which may
        compile after it (:meth:`_tier_up`)."""
        schedule = self._schedule
        if schedule is None:
            return self._tape(x, params, **which)
        start = time.perf_counter()
        out = self._tape(x, params, **which)
        if schedule.record(time.perf_counter() - start):
            self._try_tier_up()
        return out

    def _try_tier_up(self) -> None:
        """:meth:`_tier_up`, where an error of the compiler keeps the tape (the call's
        or the preparation's result stands) with a warning that says why."""
        try:
            self._tier_up()
        except Exception as err:  # noqa: BLE001  (reported, and the tape works)
            self._schedule = None
            warnings.warn(f"symasd: engine='auto' could not compile this derivative and "
                          f"stays on the tape ({type(err).__name__}: {err})", RuntimeWarning,
                          stacklevel=_stacklevel_outside_symasd())

    def _tier_up(self) -> None:
        """Compile now and switch to the compiled engine (``engine="auto"``), unless
        the compiled DAG is slower than the tape (then the tape stays for good) or
        the compile runs past its deadline (then it is tried again later) or
        would not fit in memory (:meth:`symasd.tiering.CompileSchedule.run`)."""
        if not self._tiering.acquire(blocking=False):
            return
        try:
            schedule = self._schedule
            if schedule is None:
                return
            compiled = schedule.run()
            if compiled is not None:
                self._adopt(*compiled, keep=False)
            elif schedule.never:
                self._schedule = None
        finally:
            self._tiering.release()

    def _spec(self, made_by: str | None) -> ModuleSpec:
        compiled, source = self._compiled()
        c, mode = source.coloring, source.mode.name
        colors = (f"{c.n_row_colors} row + {c.n_column_colors} column colors"
                  if mode == "bidirectional" else f"{c.ncolors} colors")
        summary = (f"mode {mode}: {c.problem} coloring ({c.order} order), {colors}",
                   f"derivative DAG: {compiled.matrix_graph.n_nodes} nodes (function graph: "
                   f"{self.graph.n_nodes} nodes)")
        if made_by is None:
            params = "".join(f", p{i}" for i in range(len(self.graph.param_shapes)))
            made_by = f"symasd.{self._kind}({self.name}, x0{params}, mode={mode!r})"
        return ModuleSpec(self._kind, self.name, compiled, self.shape,
                          np.asarray(self.sparsity.indptr), np.asarray(self.sparsity.indices),
                          self.graph.input_shape, self.graph.param_shapes,
                          self.graph.output_shape, summary, made_by)

    def to_source(self, backend: str = "numpy", *, made_by: str | None = None) -> str:
        """The source of a standalone module computing this derivative with
        ``backend`` (``"numpy"`` or ``"cupy"``), one vectorized statement per run
        of the derivative DAG; it imports NumPy and SciPy (or CuPy), never symasd.
        ``made_by`` replaces the call recorded in the module's header.

        Example
        -------
        >>> import numpy as np, symasd
        >>> jac = symasd.jacobian(lambda x: np.diff(x) ** 2, np.zeros(4))
        >>> print(jac.to_source().splitlines()[0][3:45])
        Sparse Jacobian of `<lambda>`: standalone
        """
        _check_choice(backend, BACKENDS, "backend")
        if made_by is not None and not isinstance(made_by, str):
            raise InputError(f"made_by must be a str (the call recorded in the module's "
                             f"header) or None, got {type(made_by).__name__}")
        return module_source(self._spec(made_by), backend)

    def export(self, path, backend: str = "numpy") -> None:
        """Write :meth:`to_source` to ``path`` (atomically: a temporary file, then
        a rename), a module to import and run without symasd.

        Example
        -------
        >>> import os, tempfile, numpy as np, symasd
        >>> jac = symasd.jacobian(lambda x: np.sin(x), np.zeros(3))
        >>> path = os.path.join(tempfile.mkdtemp(), "sin_jacobian.py")
        >>> jac.export(path)
        >>> os.path.getsize(path) > 0
        True
        """
        write_atomically(path, self.to_source(backend))

    def _generated_data(self, fn, x, params) -> np.ndarray:
        """Run a function of the generated module on a checked point."""
        xf, _ = validation.inputs(x, params, *self._shapes)
        out = fn(xf.reshape(self.graph.input_shape), *params)
        return out if self._xp is np else self._xp.asnumpy(out)


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
        """The compiled derivative DAG (``None`` on the tape until something, such as
        :meth:`to_source`, compiled it)."""
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
        s = self._schedule
        if s is not None and s.never:
            lines.append("  engine='auto': stays on the tape (compiling would need more than "
                         "a quarter of the memory available)")
        elif s is not None:
            stated = (f" after the {s.min_calls} stated calls" if s.calls < s.min_calls else "")
            lines.append(f"  engine='auto': compiles once tape calls{stated} have taken "
                         f"{'about' if s.counted else 'at least'} {s.threshold * 1e3:.3g} ms "
                         f"({s.spent * 1e3:.3g} ms so far, in {s.calls} calls)")
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

    _kind = "jacobian"

    def __call__(self, x, *params) -> sp.csr_array:
        """The Jacobian at ``x`` as a ``csr_array`` (``m x n``)."""
        return self._matrix(self._data(x, params))

    def value_and_jacobian(self, x, *params) -> tuple[np.ndarray, sp.csr_array]:
        """``(f(x), J(x))``, sharing the work of both."""
        y, data = self._value_and_data(x, params)
        return y.reshape(self.graph.output_shape), self._matrix(data)

    def _data(self, x, params) -> np.ndarray:
        """The nonzeros of ``J(x)`` in the order of ``sparsity`` (no matrix is built:
        the solvers' callbacks take the data alone)."""
        if self._arguments is not None:
            params = self._arguments.parameters(params)
        if self._generated is not None:
            return self._generated_data(self._generated.jacobian_data, x, params)
        if self.engine == "tape":
            return self._on_tape(x, params, values=False)[1]
        xf, pf = validation.inputs(x, params, *self._shapes)
        return evaluate_flat(self.compiled.matrix_graph, xf, pf)

    def _value_and_data(self, x, params) -> tuple[np.ndarray, np.ndarray]:
        """``f(x)`` flat and the nonzeros of ``J(x)``, from one evaluation."""
        if self._arguments is not None:
            params = self._arguments.parameters(params)
        if self._generated is not None:
            out = self._generated_data(self._generated._all, x, params)
            y, data = out[: self.compiled.n_values], out[self.compiled.n_values:]
        elif self.engine != "tape":
            xf, pf = validation.inputs(x, params, *self._shapes)
            out = evaluate_flat(self.compiled.graph, xf, pf)
            y, data = out[: self.compiled.n_values], out[self.compiled.n_values:]
        else:
            y, data = self._on_tape(x, params)
        return y, np.ascontiguousarray(data)

    def __repr__(self) -> str:
        return self._summary("PreparedJacobian", self._mode.products(self.coloring))


class PreparedHessian(_Prepared):
    """A prepared sparse Hessian; call it as ``hes(x, *p)``.

    Create it with :func:`hessian`. Every call returns a symmetric
    ``scipy.sparse.csr_array`` (both triangles stored) with the same
    ``indptr`` and ``indices``.
    """

    _kind = "hessian"

    def __call__(self, x, *params) -> sp.csr_array:
        """The Hessian at ``x`` as a symmetric ``csr_array`` (``n x n``)."""
        return self._matrix(self._data(x, params))

    def value_gradient_and_hessian(self, x, *params):
        """``(f(x), grad f(x), H(x))``; the gradient has the shape of ``x``."""
        if self._arguments is not None:
            params = self._arguments.parameters(params)
        if self._generated is not None:
            out = self._generated_data(self._generated._all, x, params)
            n = self.compiled.n_gradient
            v, g, data = out[0], out[1:1 + n], out[1 + n:]
        elif self.engine != "tape":
            xf, pf = validation.inputs(x, params, *self._shapes)
            out = evaluate_flat(self.compiled.graph, xf, pf)
            n = self.compiled.n_gradient
            v, g, data = out[0], out[1:1 + n], out[1 + n:]
        else:
            v, g, data = self._on_tape(x, params)
        return (float(v), g.reshape(self.graph.input_shape),
                self._matrix(np.ascontiguousarray(data)))

    def _data(self, x, params) -> np.ndarray:
        """The nonzeros of ``H(x)`` in the order of ``sparsity`` (no matrix is built)."""
        if self._arguments is not None:
            params = self._arguments.parameters(params)
        if self._generated is not None:
            return self._generated_data(self._generated.hessian_data, x, params)
        if self.engine == "tape":
            return self._on_tape(x, params, gradient=False, value=False)[2]
        xf, pf = validation.inputs(x, params, *self._shapes)
        return evaluate_flat(self.compiled.matrix_graph, xf, pf)

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
    """The colored candidates of ``mode``; for ``"auto"`` the one-sided ones, except
    one that cannot win (a row coloring needs at least as many colors as the
    densest column has nonzeros, and the other way round: colorings of a million
    rows take seconds), and a bicoloring where both sides are pushed up by dense
    rows and columns, which is what it is for (an arrow matrix)."""
    if mode != "auto":
        return [Candidate.of(JACOBIAN[mode], P, order)]
    row_nnz, col_nnz = np.diff(P.indptr), np.bincount(P.indices, minlength=P.shape[1])
    bound = {"forward": int(row_nnz.max(initial=0)),
             "reverse": REVERSE_COST * int(col_nnz.max(initial=0))}
    cands: list[Candidate] = []
    for name in sorted(bound, key=bound.get):
        if not cands or bound[name] < _COMPILE_SLACK * min(c.cost for c in cands):
            cands.append(Candidate.of(JACOBIAN[name], P, order))
    colors = {c.mode.name: c.coloring.ncolors for c in cands}
    dense_rows = colors.get("forward", bound["forward"]) > 2 * np.median(row_nnz) if \
        row_nnz.size else False
    dense_cols = colors.get("reverse", col_nnz.max(initial=0)) > 2 * np.median(col_nnz) if \
        col_nnz.size else False
    if (min(colors.values()) > _BIDIRECTIONAL_ABOVE and dense_rows and dense_cols
            and _bicoloring_cost_bound(P) < min(c.cost for c in cands)):
        bi = Candidate.of(JACOBIAN["bidirectional"], P, order)
        # a one-sided winner ("column" / "row") is a forward or reverse coloring again
        if bi.coloring.method not in ("column", "row"):
            cands.append(bi)
    return cands


def _check_engine_memory(engine: str, g: Graph, chosen: Candidate) -> None:
    """Refuse a compiled ``engine`` that would need more memory than is available,
    before it starts."""
    if engine == "tape":
        return
    cost = compile_cost(g, chosen.mode, chosen.coloring)
    available = available_memory()
    if available is not None and cost.bytes > available:
        raise InputError(
            f"compiling this {chosen.mode.name} derivative would need about "
            f"{cost.bytes / 2**30:.1f} GB ({cost.directions} directions through "
            f"{g.n_nodes} nodes), more than the {available / 2**30:.1f} GB available; use "
            "engine='tape' (numeric sweeps in bounded memory) or engine='auto'")


def _on_auto(prepared: _Prepared, candidate: Candidate, compile: Callable,
             calls: int | None, f, x0, p0, copies: Callable[[], int] = lambda: 1):
    """``prepared`` (on the tape) with the schedule of ``engine="auto"``
    (:mod:`symasd.tiering`) attached, compiled now where that pays; ``compile``
    compiles ``candidate`` (and ``copies() - 1`` others)."""
    schedule = CompileSchedule.start(prepared.graph, candidate, compile, calls, copies)
    if calls is None:
        upfront = schedule.compiles_upfront()
    elif calls <= _UNTIMED_CALLS:
        upfront = False
    else:
        if isinstance(f, Graph):  # (no point given: zeros, whatever they give)
            g = prepared.graph
            x0 = np.zeros(g.input_shape)
            p0 = tuple(np.zeros(shape) for shape in g.param_shapes)
        times = []
        with np.errstate(all="ignore"):
            for _ in range(2):  # the second without the first call's setup
                start = time.perf_counter()
                prepared._data(x0, p0)
                times.append(time.perf_counter() - start)
        upfront = schedule.pays_within(calls, min(times))
    prepared._auto_compile = compile
    prepared._schedule = schedule
    if upfront:
        prepared._try_tier_up()
    return prepared


def _stacklevel_outside_symasd() -> int:
    """The ``stacklevel`` of a warning raised in the caller that points at the first
    frame outside the symasd package (the user's line)."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _to_compile(g: Graph, ranked: list[Candidate]) -> list[Candidate]:
    """The candidates a compiled Jacobian is built from: the cheapest, and those
    within :data:`_COMPILE_SLACK` of it whose compile is within the budget."""
    best = ranked[0]
    limit = _COMPILE_SLACK * best.cost
    return [c for c in ranked
            if c is best or (c.cost <= limit and compiles(g, c.mode, c.coloring))]


def _compiled_jacobian(g: Graph, candidates: list[Candidate], mode: str):
    """The compiled derivative of the first of ``candidates`` (:func:`_to_compile`)
    or, for ``mode="auto"``, the smallest of theirs: ``(candidate, compiled)``."""
    compiled = [(c, c.mode.compile(g, c.coloring)) for c in candidates]
    return min(compiled, key=lambda cd: cd[1].matrix_graph.n_nodes) \
        if mode == "auto" else compiled[0]


def jacobian(f: Callable | Graph, x0, *p0, mode: str = "auto", order="largest_first",
             engine: str = "auto", local: bool = False,
             calls: int | None = None) -> PreparedJacobian:
    """Prepare the sparse Jacobian of ``f(x, *p)``.

    Parameters
    ----------
    f : function or Graph
        NumPy code ``f(x, *p)``. Float arrays after ``x`` are parameters
        (traced, not differentiated, passed again at call time with any
        values); Python numbers and integer or boolean arrays there are static
        data (SciPy-style ``args``: sizes, index arrays), part of the graph and
        checked to be the same at every call (:mod:`symasd.arguments`).
    x0, *p0 :
        The input (float64; its shape is traced) and the arguments after it.
        The pattern is global: it holds for every ``x``.
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
        (numeric sweeps, no compilation), ``"numpy"`` / ``"cupy"`` (the
        compiled DAG as generated vectorized NumPy / CuPy code, the code
        :meth:`PreparedJacobian.export` writes) or ``"auto"``
        (:mod:`symasd.tiering`): the tape, compiled (``"vm"``) at preparation
        where compiling is estimated to take at most 2 ms (small models),
        otherwise at the call after which the
        tape's calls have cost as much as compiling is estimated to
        (:mod:`symasd.costs`), never where compiling would need more than a
        quarter of the memory available, and the tape is kept where
        the compiled DAG turns out slower to call than its sweeps (more than 2
        nodes per graph node and color, a softmax's for instance).
        ``engine`` tells which engine is in use. A compiled engine is refused
        before it starts if it would need more memory than the machine has
        available. Measured on two cores
        (``benchmarks/compare.py``, ``docs/benchmarks.md``), the virtual
        machine is the fastest engine for one point at a time: generated NumPy
        code takes 1.0-2.5x its time per call (a fixed ~10 us of Python per
        call, then NumPy's loops), so ``"auto"`` does not pick it. Generated
        code wins where NumPy's array operations do: derivatives that are
        mostly a repeated constant at large n (iter_diff at n = 10^6: 0.5x the
        VM's time), batches of points (the exported module's
        ``jacobian_data(X)``, about 0.6x a single call per point) and GPUs.
    local : bool
        Trace at ``x0`` with branches resolved by value (``np.where``,
        ``maximum``, comparisons, Python ``if``: see :func:`symasd.trace`):
        the pattern holds at ``x0`` and the derivative is valid only where the
        same branches are taken.
    calls : int, optional
        With ``engine="auto"``, the number of calls you expect: two tape calls
        are timed, and the derivative is compiled at preparation when ``calls``
        tape calls would cost at least twice the estimated compile (never for
        ``calls`` of 2 or less, which times none); otherwise
        nothing is compiled before ``calls`` calls, and after them as without
        ``calls``. Ignored by the other engines.

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
    calls = validation.call_count(calls)
    if engine == "cupy":
        _array_module(engine)
    g, arguments = _trace(f, x0, p0, local)
    P = jacobian_sparsity(g)
    ranked = sorted(_jacobian_candidates(P, mode, order), key=lambda c: c.cost)
    best = ranked[0]
    if engine == "auto":
        tape = PreparedJacobian(g, P, best, "tape", None, arguments, _name_of(f))
        # chosen once, when the schedule first needs them (their budget check
        # counts directions)
        candidates = functools.cache(lambda: _to_compile(g, ranked))
        return _on_auto(tape, best, lambda: _compiled_jacobian(g, candidates(), mode),
                        calls, f, x0, p0, lambda: len(candidates()))
    _check_engine_memory(engine, g, best)
    if engine == "tape":
        return PreparedJacobian(g, P, best, "tape", None, arguments, _name_of(f))
    chosen, dag = _compiled_jacobian(g, _to_compile(g, ranked), mode)
    return PreparedJacobian(g, P, chosen, engine, dag, arguments, _name_of(f))


def _hessian_candidates(star: Candidate, P, mode: HessianMode | None,
                        order) -> list[Candidate]:
    """The tape's candidates: ``star`` (the given mode's, or star, already colored)
    and, for ``mode="auto"``, an acyclic coloring if it needs fewer colors."""
    if mode is not None:
        return [star]
    acyclic = Candidate.of(HESSIAN["acyclic"], P, order)
    return [star, acyclic] if acyclic.coloring.ncolors < star.coloring.ncolors else [star]


def hessian(f: Callable | Graph, x0, *p0, mode: str = "auto", order="largest_first",
            engine: str = "auto", local: bool = False,
            calls: int | None = None) -> PreparedHessian:
    """Prepare the sparse Hessian of a scalar-valued ``f(x, *p)``.

    ``mode`` is ``"star"`` (star coloring, direct recovery), ``"acyclic"``
    (fewer colors, recovery by substitution), ``"column"`` (column coloring
    of the Hessian pattern), ``"dense"`` or ``"auto"``. With the compiled
    engine, ``"auto"`` is star: the derivative DAG hardly depends on the
    number of colors, and substitution only adds nodes. With the tape, where
    every color is one Hessian-vector product per call, ``"auto"`` is acyclic
    when it needs fewer colors than star; so with ``engine="auto"`` the mode,
    coloring and ``ncolors`` change when it switches from the tape to the
    compiled derivative (:mod:`symasd.tiering`), and the values may change in
    their last bits, or at non-finite values (:mod:`symasd.tiering` says
    where; the structure stays). Hessian-vector products are
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
    calls = validation.call_count(calls)
    if engine == "cupy":
        _array_module(engine)
    g, arguments = _trace(f, x0, p0, local)
    P = hessian_sparsity(g)
    chosen_mode = None if mode == "auto" else HESSIAN[mode]
    first = Candidate.of(chosen_mode or HESSIAN["star"], P, order)
    if engine not in ("tape", "auto"):
        _check_engine_memory(engine, g, first)
        return PreparedHessian(g, P, first, engine, first.mode.compile(g, first.coloring),
                               arguments, _name_of(f))
    # the tape also weighs an acyclic coloring: every color is one HVP per call
    tape = min(_hessian_candidates(first, P, chosen_mode, order), key=lambda c: c.cost)
    prepared = PreparedHessian(g, P, tape, "tape", None, arguments, _name_of(f))
    if engine == "tape":
        return prepared

    return _on_auto(prepared, first, lambda: (first, first.mode.compile(g, first.coloring)),
                    calls, f, x0, p0)
