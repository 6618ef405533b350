"""symasd: automatic sparse differentiation of NumPy code.

The pipeline, in dependency order (each module only imports the ones above it):

    errors      exception types
    _validation the checks of points, parameters and seeds that every entry point uses
    arguments   the arguments after x: parameters and static data (SciPy-style args)
    ops         the op table: opcodes, NumPy rules, partials, sparsity classification
    graph       the IR: the expression DAG (hash-consed struct-of-arrays) and its Builder
    evaluation  g(x): the graph on the virtual machine, and its plans (cysrc/vm.pyx)
    tracing     SymArray and trace(): NumPy code -> Graph
    functions   tracing rules of library functions: norms, cross, var/std, sort,
                solve with a constant matrix, scipy.special.logsumexp, ...
    sympy_bridge  from_sympy / g.to_sympy()
    sparsity    exact Jacobian / Hessian patterns (Cython kernels in cysrc/pattern.pyx)
    orderings, coloring, decompression
                coloring problems, vertex orderings, results and recovery
                (cysrc/coloring.pyx, ordering.pyx, decompress.pyx)
    sweeps      numeric compressed sweeps: JVPs, VJPs, HVPs (cysrc/sweeps.pyx)
    compiler    symbolic compressed sweeps: derivative DAGs
    dense       dense derivatives for reference and checks
    modes       derivative modes (forward, reverse, ..., star, acyclic): coloring
                problem, cost, compilation, tape sweeps, description
    costs       the cost of compiling a derivative, estimated before it is built
    api         jacobian() / hessian(): prepared derivatives, mode selection
    memory      work memory kept between calls: kept_memory / release_memory
    display     text pictures of patterns
    demo, cli   the demonstration pipeline; the `symasd` command (argument parsing)
    solvers     SciPy's root, least_squares, minimize (trust-constr, IPOPT) and
                solve_ivp with exact sparse derivatives (a subpackage at the end of
                the chain: it imports api, nothing imports it; ``symasd.solvers``
                loads it on first use, so ``import symasd`` does not import
                scipy.optimize and scipy.integrate)

No module imports one below it (tests/test_imports.py fails on any import
cycle). The graph imports none of its passes: evaluation and sympy_bridge
register ``Graph.__call__`` and ``Graph.to_sympy`` where they define them,
and are imported here so that every Graph has both.
"""

from . import (
    _kernels,  # noqa: F401  (first: says what to do if the kernels are not built)
    functions,  # noqa: F401  (registers the tracing rules of library functions)
)
from ._version import __version__  # noqa: F401  (symasd.__version__)
from .api import PreparedHessian, PreparedJacobian, hessian, jacobian
from .coloring import ColoringResult, color, is_valid_coloring
from .errors import (
    InputError,
    KernelsMissingError,
    MissingDependencyError,
    SymasdError,
    TracingError,
)
from .evaluation import evaluate  # noqa: F401  (registers Graph.__call__)
from .graph import Graph
from .memory import kept_memory, release_memory
from .sparsity import hessian_sparsity, jacobian_sparsity
from .sympy_bridge import from_sympy
from .tracing import SymArray, graph_from, symbols, trace

__all__ = [
    "SymasdError",
    "TracingError",
    "InputError",
    "KernelsMissingError",
    "MissingDependencyError",
    "Graph",
    "SymArray",
    "trace",
    "symbols",
    "graph_from",
    "from_sympy",
    "jacobian_sparsity",
    "hessian_sparsity",
    "color",
    "ColoringResult",
    "is_valid_coloring",
    "jacobian",
    "hessian",
    "PreparedJacobian",
    "PreparedHessian",
    "kept_memory",
    "release_memory",
]


def __getattr__(name: str):
    # symasd.solvers on first use (``from symasd import solvers`` imports it anyway)
    if name == "solvers":
        import importlib

        return importlib.import_module(".solvers", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
