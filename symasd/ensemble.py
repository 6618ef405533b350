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

import numpy as np

from .api import PreparedHessian, PreparedJacobian
from .codegen import load_module
from .errors import InputError, MissingDependencyError

__all__ = ["data", "values"]

_INSTALL = 'pip install "symasd[dask]"'
# generated modules compiled in this process, by the hash of their source
_MODULES: dict[str, types.ModuleType] = {}
_LOCK = threading.Lock()
# how many modules this process compiled (once each: the tests check it on workers)
compilations = 0


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
    shapes = prepared.graph.param_shapes
    if len(p) != len(shapes):
        raise InputError(f"the prepared derivative takes {len(shapes)} parameter arrays after "
                         f"X, got {len(p)}; they are shared by all points")
    out = []
    for i, (v, shape) in enumerate(zip(p, shapes, strict=True)):
        v = np.asarray(v.compute() if hasattr(v, "compute") else v, dtype=np.float64)
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
