"""Vertex orderings for greedy coloring.

A greedy coloring visits the vertices in some order and gives each the
smallest color its already-colored neighbours leave free; the order decides
how many colors come out.  The orderings here are the classical ones of
Gebremedhin, Manne & Pothen (SIAM Review 2005) and ColPack:

``natural``
    ``0, 1, ..., n - 1``.
``random``
    a permutation drawn by ``numpy.random.default_rng(seed)``; reproducible.
``largest_first``
    decreasing degree (ties: increasing index).
``smallest_last``
    repeatedly remove a vertex of smallest degree in the remaining graph;
    color in the reverse removal order (Matula & Beck).
``incidence_degree``
    repeatedly take the vertex with the most neighbours already taken.
``dynamic_largest_first``
    repeatedly take the vertex with the largest degree in the graph induced by
    the vertices not yet taken.

"Degree" is the degree in the graph the problem colors: the column
intersection graph (distance-2 degree) for column/row coloring, the adjacency
graph for symmetric problems and the augmented bipartite graph for
bidirectional coloring.  Such a graph is handed to the kernels as a
:class:`Adjacency` (two-level adjacency, so the column intersection graph is
never built).  The dynamic orderings run in ``O(sum of neighbourhood sizes)``
with bucket queues in ``cysrc/ordering.pyx``.

Dense rows: a row with more than :data:`DENSE_ROW` entries joins every pair
of its columns, so listing the distance-2 neighbours of each of its members
would cost ``O(size^2)``.  Such rows are *heavy*: a column's degree counts
each of its heavy rows as ``size - 1`` neighbours (an upper bound where rows
overlap, capped at ``n - 1``; exact for a column in at most one heavy row and
no light row that shares a column with it), and the dynamic orderings leave
heavy rows out of their updates (that part of a key stays fixed).  Patterns
without such rows get the exact degrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _ordering
from .errors import InputError

ORDERS: tuple[str, ...] = (
    "natural",
    "random",
    "largest_first",
    "smallest_last",
    "incidence_degree",
    "dynamic_largest_first",
)
"""Names accepted by :func:`vertex_order`."""

_DYNAMIC = {"smallest_last": 0, "dynamic_largest_first": 1, "incidence_degree": 2}

#: Rows (columns, for row problems) with more entries than this are heavy in a
#: column intersection graph: see the module docstring.
DENSE_ROW = 64


@dataclass(frozen=True, eq=False)
class Adjacency:
    """A graph seen through two levels of CSR arrays (all ``int64``).

    The neighbours of vertex ``v`` are the members of its hyperedges, except
    ``v`` itself::

        N(v) = {w for h in idx1[ptr1[v]:ptr1[v+1]]
                  for w in idx2[ptr2[h]:ptr2[h+1]]} - {v}

    ``heavy`` flags the hyperedges whose members are not listed from each
    member (dense rows of a column intersection graph, see the module
    docstring); ``None`` means none.

    Example
    -------
    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.csr_array(np.array([[1, 1, 0], [0, 1, 1]]))   # columns 0-1, 1-2 share rows
    >>> C = A.tocsc()
    >>> adj = Adjacency.column_intersection(C.indptr, C.indices, A.indptr, A.indices)
    >>> adj.n, degrees(adj).tolist()
    (3, [1, 2, 1])
    """

    ptr1: np.ndarray
    idx1: np.ndarray
    ptr2: np.ndarray
    idx2: np.ndarray
    heavy: np.ndarray | None = None

    def __post_init__(self):
        for name in ("ptr1", "idx1", "ptr2", "idx2"):
            value = np.ascontiguousarray(getattr(self, name), dtype=np.int64)
            object.__setattr__(self, name, value)
        nh = self.ptr2.shape[0] - 1
        heavy = (np.zeros(nh, dtype=np.uint8) if self.heavy is None
                 else np.ascontiguousarray(self.heavy, dtype=bool).view(np.uint8))
        if heavy.shape != (nh,):
            raise ValueError(f"heavy must have one flag per hyperedge ({nh}); got {heavy.shape}")
        object.__setattr__(self, "heavy", heavy)

    @property
    def n(self) -> int:
        """Number of vertices."""
        return self.ptr1.shape[0] - 1

    @classmethod
    def column_intersection(
        cls, csc_ptr: np.ndarray, csc_idx: np.ndarray, csr_ptr: np.ndarray, csr_idx: np.ndarray
    ) -> Adjacency:
        """Columns of a pattern, adjacent when they share a row (distance 2).

        Rows of more than :data:`DENSE_ROW` entries are marked heavy.
        """
        sizes = np.diff(np.asarray(csr_ptr))
        return cls(csc_ptr, csc_idx, csr_ptr, csr_idx, heavy=sizes > DENSE_ROW)

    @classmethod
    def graph(cls, ptr: np.ndarray, idx: np.ndarray) -> Adjacency:
        """An ordinary graph from its CSR adjacency (self loops ignored)."""
        n = ptr.shape[0] - 1
        return cls(np.arange(n + 1, dtype=np.int64), np.arange(n, dtype=np.int64), ptr, idx)


def degrees(adj: Adjacency) -> np.ndarray:
    """Number of distinct neighbours of every vertex (``int64`` array).

    Heavy hyperedges count as ``size - 1`` neighbours each (module docstring).

    Example
    -------
    >>> import numpy as np
    >>> ptr = np.array([0, 2, 3, 4]); idx = np.array([1, 2, 0, 0])
    >>> degrees(Adjacency.graph(ptr, idx)).tolist()
    [2, 1, 1]
    """
    n = adj.n
    out = np.empty(n, dtype=np.int64)
    marker = np.full(n, -1, dtype=np.int64)
    buf = np.empty(n, dtype=np.int64)
    _ordering.degrees(adj.ptr1, adj.idx1, adj.ptr2, adj.idx2, adj.heavy, marker, buf, out)
    return out


def vertex_order(adj: Adjacency, order: str, seed: int | None = 0) -> np.ndarray:
    """The permutation of ``range(adj.n)`` that ``order`` prescribes.

    ``order`` is one of :data:`ORDERS`; ``seed`` is used by ``"random"`` only.

    Example
    -------
    >>> import numpy as np
    >>> ptr = np.array([0, 1, 3, 4]); idx = np.array([1, 0, 2, 1])   # path 0-1-2
    >>> vertex_order(Adjacency.graph(ptr, idx), "largest_first").tolist()
    [1, 0, 2]
    """
    n = adj.n
    if order == "natural":
        return np.arange(n, dtype=np.int64)
    if order == "random":
        return np.random.default_rng(seed).permutation(n).astype(np.int64)
    if order not in ORDERS:
        raise InputError(
            f"unknown order {order!r}; use one of {', '.join(map(repr, ORDERS))}"
        )
    deg = degrees(adj)
    # largest degree first, ties by increasing index
    by_degree = np.argsort(-deg, kind="stable").astype(np.int64)
    if order == "largest_first":
        return by_degree
    kind = _DYNAMIC[order]
    if kind == 2:
        initial = np.zeros(n, dtype=np.int64)
        # buckets are LIFO: insert smallest degree first so that ties go to
        # the vertex of largest degree
        insertion = by_degree[::-1].copy()
    else:
        initial = deg
        # smallest_last pops from the head of its buckets too; inserting in
        # reverse index order makes ties go to the smallest index
        insertion = np.arange(n - 1, -1, -1, dtype=np.int64)
    top = int(deg.max()) if n else 0
    head = np.full(top + n + 1, -1, dtype=np.int64)
    out = np.empty(n, dtype=np.int64)
    _ordering.dynamic_order(
        adj.ptr1, adj.idx1, adj.ptr2, adj.idx2, adj.heavy,
        initial, np.empty(n, dtype=np.int64), insertion,
        head, np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64),
        np.full(n, -1, dtype=np.int64), np.empty(n, dtype=np.int64), out, kind,
    )
    return out
