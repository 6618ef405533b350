"""Ensembles: derivatives at very many points, chunk by chunk on Dask.

:func:`data` and :func:`values` evaluate a prepared Jacobian or Hessian at the
points of a ``dask.array`` ``X`` of shape ``(B, *INPUT_SHAPE)``, chunked along
``B``: every chunk is one batched call of the prepared object's generated
NumPy module (:mod:`symasd.codegen`), and the result is a dask array with the
same chunks along ``B``. The work runs on whatever Dask scheduler is active,
a ``dask.distributed.Client`` included.

What reaches the workers is the module's **source** (structure included), as
one task of the graph that every chunk depends on: a worker receives it once,
compiles it once (kept by source hash in that worker process), and evaluates
each of its chunks with it. No graph, coloring or prepared object is pickled.
The workers need symasd installed (the chunk function lives here) but never
trace or compile.

:func:`solve` maps a solver of :mod:`symasd.solvers` over many starting points
(or parameter sets) on a ``dask.distributed`` client: each worker prepares
the problem once (its prepared form, ``RootProblem`` ...), then solves its
share of the points; results come back in input order, a failing point as
a result with ``success=False`` and the error in its message.

Dask is an optional dependency: ``pip install "symasd[dask]"``.

Example
-------
>>> import numpy as np, symasd
>>> from symasd import ensemble
>>> jac = symasd.jacobian(lambda x: np.diff(x) ** 2, np.zeros(4))
>>> ensemble.data(jac, np.ones((5, 4))).shape   # a NumPy X is evaluated here
(5, 6)
"""

from __future__ import annotations

import hashlib
import threading
import types
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from . import _validation as validation
from .api import PreparedHessian, PreparedJacobian
from .codegen import load_module
from .errors import InputError, MissingDependencyError

__all__ = ["data", "values", "solve"]

_INSTALL = 'pip install "symasd[dask]"'
# generated modules compiled in this process, by the hash of their source
_MODULES: dict[str, types.ModuleType] = {}
_LOCK = threading.Lock()
# how many modules this process compiled (once each: the tests check it on workers)
compilations = 0


def _distributed():
    try:
        import distributed
    except ImportError as err:
        raise MissingDependencyError(f"ensemble.solve needs dask.distributed: {_INSTALL}") \
            from err
    return distributed


def _dask_array():
    try:
        import dask.array as da
    except ImportError as err:
        raise MissingDependencyError(f"ensembles of dask arrays need Dask: {_INSTALL}") from err
    return da


def _module(key: str, source: str) -> types.ModuleType:
    """The generated module of ``source``, compiled once per process."""
    global compilations
    module = _MODULES.get(key)
    if module is None:
        with _LOCK:
            module = _MODULES.get(key)
            if module is None:
                module = load_module(source, f"symasd_ensemble_{key[:12]}")
                _MODULES[key] = module
                compilations += 1
    return module


def _evaluate(kernel: tuple[str, str], name: str, block: np.ndarray, *params) -> np.ndarray:
    """One chunk: ``name`` of the generated module (``kernel``: hash and source)."""
    # the module's (points, NNZ) view of its node-major result, not copied again
    return getattr(_module(*kernel), name)(block, *params)


def _check(prepared) -> None:
    if not isinstance(prepared, PreparedJacobian | PreparedHessian):
        raise InputError(f"an ensemble evaluates a prepared Jacobian or Hessian (from "
                         f"symasd.jacobian / symasd.hessian), got {type(prepared).__name__}")


def _kernel(prepared) -> tuple[str, str]:
    source = prepared.__dict__.get("_ensemble_source")
    if source is None:
        source = prepared.to_source("numpy")
        prepared.__dict__["_ensemble_source"] = source
    return hashlib.sha256(source.encode()).hexdigest(), source


def _params(prepared, p) -> tuple[np.ndarray, ...]:
    arguments = getattr(prepared, "_arguments", None)
    if arguments is not None:  # SciPy-style args: the same form as a prepared call takes
        p = tuple(arguments.parameters(p))
    shapes = prepared.graph.param_shapes
    if len(p) != len(shapes):
        raise InputError(f"the prepared derivative takes {len(shapes)} parameter arrays after "
                         f"X, got {len(p)}; they are shared by all points")
    out = []
    for i, (v, shape) in enumerate(zip(p, shapes, strict=True)):
        # the prepared call's own checks: real, float64 (or converted), this shape
        v = validation.point(v.compute() if hasattr(v, "compute") else v, f"parameter {i}")
        if v.shape != tuple(shape):
            raise InputError(f"parameter {i} has shape {v.shape}; expected {tuple(shape)} "
                             "(the same for every point)")
        out.append(v)
    return tuple(out)


def _run(prepared, X, p, name: str, trailing: tuple[int, ...]):
    kernel = _kernel(prepared)
    params = _params(prepared, p)
    input_shape = tuple(prepared.graph.input_shape)
    shape = tuple(X.shape) if hasattr(X, "shape") else np.shape(X)
    if shape[1:] != input_shape or len(shape) != 1 + len(input_shape):
        raise InputError(f"X has shape {shape}; expected (B, *INPUT_SHAPE) = "
                         f"(B, {', '.join(map(str, input_shape))})")
    dtype = np.dtype(getattr(X, "dtype", None) or np.asarray(X).dtype)
    if dtype.kind not in "fiu":
        raise InputError(f"X has dtype {dtype}; pass real points (float64): symasd "
                         "differentiates real functions")
    if not hasattr(X, "chunks"):  # NumPy (or anything array-like): here, in one call
        return _evaluate(kernel, name, np.asarray(X, dtype=np.float64), *params)
    da = _dask_array()
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    # one chunk along every axis but the first: a chunk is a batch of whole points
    X = X.rechunk({i: -1 for i in range(1, X.ndim)})
    from dask import delayed

    # one task holds the source (and one the parameters): each worker fetches them
    # once, whatever the number of its chunks
    shared_kernel = delayed(kernel, pure=True, traverse=False)
    shared_params = [delayed(v, pure=True) for v in params]
    return da.map_blocks(_evaluate, shared_kernel, name, X, *shared_params,
                         dtype=np.float64,
                         chunks=(X.chunks[0], *((int(s),) for s in trailing)),
                         drop_axis=list(range(1, X.ndim)),
                         new_axis=list(range(1, 1 + len(trailing))) or None,
                         meta=np.empty((0,) * (1 + len(trailing))))


def data(prepared, X, *p):
    """The nonzeros (CSR order) of ``prepared``'s matrix at every point of ``X``.

    ``X``: a ``dask.array`` of shape ``(B, *INPUT_SHAPE)`` chunked along ``B`` (a
    NumPy array is evaluated here, at once); ``p``: the parameter arrays,
    shared by all points. Returns a dask array ``(B, NNZ)`` with ``X``'s chunks
    along ``B`` (a NumPy array for a NumPy ``X``).

    Example
    -------
    >>> import numpy as np, dask.array as da, symasd
    >>> from symasd import ensemble
    >>> hes = symasd.hessian(lambda x: np.sum(x ** 3), np.zeros(3))
    >>> X = da.from_array(np.arange(12.0).reshape(4, 3), chunks=2)
    >>> ensemble.data(hes, X).compute()[1]
    array([18., 24., 30.])
    """
    _check(prepared)
    return _run(prepared, X, p, "jacobian_data" if isinstance(prepared, PreparedJacobian)
                else "hessian_data", (prepared.nnz,))


def values(prepared, X, *p):
    """The function's values at every point of ``X``: ``(B, *OUTPUT_SHAPE)``, as
    :func:`data` (for a Hessian, the scalar values, shape ``(B,)``).

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd import ensemble
    >>> jac = symasd.jacobian(lambda x: 2 * x, np.zeros(2))
    >>> ensemble.values(jac, np.ones((3, 2))).tolist()
    [[2.0, 2.0], [2.0, 2.0], [2.0, 2.0]]
    """
    _check(prepared)
    return _run(prepared, X, p, "f", tuple(prepared.graph.output_shape))


_PROBLEMS = {"root": "RootProblem", "least_squares": "LeastSquaresProblem",
             "minimize": "MinimizeProblem", "solve_ivp": "IVPProblem"}
# prepared problems of this process, by the token of their specification: the
# latest few (a long-lived worker serves many calls of ensemble.solve)
_PREPARED: OrderedDict[str, object] = OrderedDict()
_KEEP_PREPARED = 4


@dataclass(frozen=True)
class _Spec:
    """What every worker needs to prepare the problem once: sent to each worker once."""

    token: str
    solver: str
    fun: bytes  # cloudpickle'd: a function of a script or notebook goes by value
    x0: np.ndarray
    args: tuple
    prepare: dict


def _prepared(spec: _Spec):
    problem = _PREPARED.get(spec.token)
    if problem is None:
        with _LOCK:
            problem = _PREPARED.get(spec.token)
            if problem is None:
                import cloudpickle

                from . import solvers

                cls = getattr(solvers, _PROBLEMS[spec.solver])
                problem = cls(cloudpickle.loads(spec.fun), spec.x0, args=spec.args,
                              **spec.prepare)
                _PREPARED[spec.token] = problem
                while len(_PREPARED) > _KEEP_PREPARED:
                    _PREPARED.popitem(last=False)
    return problem


def _solve_one(spec: _Spec, x0, args, options: dict):
    """One point: its result, or a failed result carrying the error (never raises)."""
    from scipy.optimize import OptimizeResult

    try:
        problem = _prepared(spec)
        if spec.solver == "solve_ivp":
            options = dict(options)
            return problem.solve(options.pop("t_span"), y0=x0, args=args, **options)
        return problem.solve(x0=x0, args=args, **options)
    except Exception as err:  # noqa: BLE001  (one failing point must not fail the batch)
        return OptimizeResult(x=np.asarray(x0), success=False, status=-1,
                              message=f"{type(err).__name__}: {err}")


def solve(solver: str, fun, x0s, args=(), *, client=None, prepare: dict | None = None,
          **options) -> list:
    """Solve one problem per starting point of ``x0s`` with ``symasd.solvers.<solver>``
    on a ``dask.distributed`` client; the results in input order.

    ``solver``: ``"root"``, ``"least_squares"``, ``"minimize"`` or ``"solve_ivp"``.
    ``x0s``: the starting points (initial states for ``solve_ivp``), shape
    ``(K, *x_shape)``. ``args``: a tuple shared by every problem, or a list of
    ``K`` tuples, one per point (float arrays there are parameters; the other
    arguments must be the same for all). ``prepare``: keyword arguments of the
    prepared form (``constraints=`` for ``minimize``, ``kwargs=`` for
    ``least_squares``); ``options``: those of its ``solve`` (``method``,
    ``tol``, ``bounds``; ``t_span`` for ``solve_ivp``). ``client``: a
    ``distributed.Client``; without one, a ``LocalCluster`` with one worker
    process per core runs for this call.

    Every worker prepares the problem once (at the first point and arguments),
    then solves its share. A point whose solve fails or raises gives a result
    with ``success=False`` and the reason in ``message``; the others go on.

    Example
    -------
    >>> import numpy as np
    >>> from symasd import ensemble
    >>> def cube_root(x, c):
    ...     return x ** 3 - c
    >>> x0s = np.ones((3, 2))
    >>> args = [(np.array([8.0, 27.0]),), (np.array([1.0, 64.0]),), (np.array([-8.0, 8.0]),)]
    >>> results = ensemble.solve("root", cube_root, x0s, args)  # doctest: +SKIP
    >>> [np.round(r.x, 9).tolist() for r in results]            # doctest: +SKIP
    [[2.0, 3.0], [1.0, 4.0], [-2.0, 2.0]]
    """
    if solver not in _PROBLEMS:
        raise InputError(f"unknown solver {solver!r}; choose one of {', '.join(_PROBLEMS)}")
    if solver == "solve_ivp" and "t_span" not in options:
        raise InputError("ensemble.solve('solve_ivp', ...) needs t_span=(t0, t1)")
    x0s = np.asarray(x0s, dtype=np.float64)
    if x0s.ndim < 1 or x0s.shape[0] == 0:
        raise InputError(f"x0s must hold one starting point per problem, shape (K, ...), got "
                         f"shape {x0s.shape}")
    k = x0s.shape[0]
    if isinstance(args, list):
        if len(args) != k:
            raise InputError(f"args is a list of {len(args)} argument tuples for {k} starting "
                             "points; give one per point, or one tuple shared by all")
        per_point = [tuple(a) if isinstance(a, tuple | list) else (a,) for a in args]
    else:
        per_point = [tuple(args) if isinstance(args, tuple) else (args,)] * k
    distributed = _distributed()
    import cloudpickle  # a dependency of distributed

    spec = _Spec(uuid.uuid4().hex, solver, cloudpickle.dumps(fun), x0s[0], per_point[0],
                 dict(prepare or {}))
    own = client is None
    if own:
        cluster = distributed.LocalCluster(processes=True, threads_per_worker=1,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
    try:
        shared = client.scatter(spec, broadcast=True)  # once to every worker
        futures = [client.submit(_solve_one, shared, x0s[i], per_point[i], options,
                                 pure=False) for i in range(k)]
        return client.gather(futures)
    finally:
        if own:
            client.close()
            cluster.close()
