"""Exact Jacobian and Hessian sparsity patterns, read off the expression graph.

Index sets are propagated through the node arrays by the Cython kernels of
``cysrc/pattern.pyx``, honouring each op's derivative classification
(:func:`symasd.ops.classification_tables`). Global patterns (the default)
hold for every input; local patterns (``local=True``) hold at the tracing
point, with comparisons and selections resolved there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp

from . import _dag, _pattern
from . import _validation as validation
from ._system import available_memory
from .errors import InputError
from .graph import Graph
from .ops import classification_tables
from .tracing import trace_into

__all__ = ["jacobian_sparsity", "hessian_sparsity"]

_ARITY, _D1, _D2, _CROSS = classification_tables()


class _ScratchTable:
    """One node table that pattern-only traces build in, one call after another.

    A pattern needs the graph only until the kernel has run, so its node
    storage can serve the next call: memory already touched costs no page
    faults, which are a large share of small traces (and the C library gives
    freed blocks back to the system, so fresh arrays fault again on every
    call). Tables that grew beyond ``keep_nodes`` are not kept, so at most a
    few tens of MB stay allocated between calls. A call that finds the table
    busy (another thread, or a pattern computed inside the traced function)
    builds in a fresh one.
    """

    def __init__(self, keep_nodes: int):
        self.keep_nodes = keep_nodes
        self._table: _dag.NodeTable | None = None
        self._lock = threading.Lock()  # held while the table is on loan
        # guards the hand-over (_table, _drop, taking and releasing _lock); never
        # held while the table is on loan, so the borrower itself may call clear()
        self._guard = threading.Lock()
        self._drop = False

    @contextmanager
    def borrow(self):
        with self._guard:
            lent = self._lock.acquire(blocking=False)
            table, self._table = self._table, None  # None while on loan
        if not lent:
            yield None
            return
        try:
            if table is None:
                table = _dag.NodeTable(4096, False)
            else:
                table.reset()
            yield table
        finally:
            with self._guard:
                if table.capacity <= self.keep_nodes and not self._drop:
                    self._table = table
                self._drop = False
                self._lock.release()

    def clear(self) -> None:
        """Drop the kept table; a table on loan is dropped when it comes back
        (without waiting for it: the caller may be the borrower)."""
        with self._guard:
            if self._lock.locked():
                self._drop = True
            else:
                self._table = None

    @property
    def kept_bytes(self) -> int:
        """Bytes held by the kept table (0 when none is kept)."""
        table = self._table
        return 0 if table is None else table.nbytes


_SCRATCH = _ScratchTable(keep_nodes=1 << 20)


def _graph_pattern(f: Callable | Graph, x0, p0, local: bool, kernel):
    """``kernel(graph)`` for ``f`` as a graph, or traced at ``x0`` into scratch storage."""
    if isinstance(f, Graph):
        if x0 is not None:
            validation.point(x0, "x0", f.input_shape)
        if local and not f.local:
            raise InputError("a global Graph cannot give a local pattern; trace with "
                             "symasd.trace(f, x0, local=True) or pass the function itself")
        return kernel(f)
    if x0 is None:
        raise InputError("x0 is required when f is a function (it fixes the input shape)")
    with _SCRATCH.borrow() as table:
        return kernel(trace_into(table, f, x0, *p0, local=local, share=False,
                                 structural=not local))


def jacobian_sparsity(f: Callable | Graph, x0=None, *p0, local: bool = False) -> sp.csr_array:
    """The Jacobian sparsity pattern of ``f`` at shape ``x0.shape``.

    Returns an ``m x n`` boolean ``scipy.sparse.csr_array`` with sorted
    indices, where ``m`` and ``n`` are the flattened output and input sizes.
    ``f`` may be a function ``f(x, *p)`` or a :class:`~symasd.Graph`.

    Example
    -------
    >>> import numpy as np, symasd
    >>> f = lambda x: np.array([x[0] * x[1] + np.sign(x[2]), np.sign(x[2]) * x[3] / 2])
    >>> symasd.jacobian_sparsity(f, np.ones(4)).toarray().astype(int)
    array([[1, 1, 0, 0],
           [0, 0, 0, 1]])
    """
    return _graph_pattern(f, x0, p0, local, _jacobian_kernel)


def _jacobian_kernel(g: Graph) -> sp.csr_array:
    indptr, indices = _pattern.jacobian_pattern(g.op, g.arg0, g.arg1, g.arg2, g.const, _D1,
                                                g.outputs)
    data = np.ones(indices.shape[0], dtype=bool)
    return sp.csr_array((data, indices, indptr), shape=(g.n_outputs, g.n_inputs))


def hessian_sparsity(f: Callable | Graph, x0=None, *p0, local: bool = False) -> sp.csr_array:
    """The Hessian sparsity pattern of a scalar-valued ``f``.

    Returns a symmetric ``n x n`` boolean ``scipy.sparse.csr_array`` with
    sorted indices. Linear operations add nothing, ``x * y`` adds only the
    cross pair, and nodes whose first derivative towards the output is
    identically zero (behind ``sign``, ``floor``, comparisons) add nothing.

    Example
    -------
    >>> import numpy as np, symasd
    >>> H = symasd.hessian_sparsity(lambda x: (x[0] + x[1]) * x[2], np.ones(3))
    >>> H.toarray().astype(int)
    array([[0, 0, 1],
           [0, 0, 1],
           [1, 1, 0]])
    """
    return _graph_pattern(f, x0, p0, local, _hessian_kernel)


_SMALL_HESSIAN = 4096


def _hessian_kernel(g: Graph) -> sp.csr_array:
    if g.n_outputs != 1:
        raise InputError(f"the Hessian needs a scalar-valued function, but f has output shape "
                         f"{g.output_shape}; sum the outputs or take a weighted sum "
                         "(w @ f(x)) first")
    # the pair buffer may use at most half the memory available (then a clear
    # MemoryError, before the system runs out); below 4096 inputs it moves to a
    # bit matrix of at most 2 MB before it outgrows that, so nothing is asked
    # (reading the system's memory figures costs 0.1 ms, a tenth of a small
    # Hessian's preparation)
    available = available_memory() if g.n_inputs > _SMALL_HESSIAN else None
    max_pairs = -1 if available is None else available // 32
    indptr, indices = _pattern.hessian_pattern(g.op, g.arg0, g.arg1, g.arg2, g.const, _D1, _D2,
                                               _CROSS, int(g.outputs[0]), g.n_inputs, max_pairs)
    data = np.ones(indices.shape[0], dtype=bool)
    return sp.csr_array((data, indices, indptr), shape=(g.n_inputs, g.n_inputs))
