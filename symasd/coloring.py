"""Coloring problems, results and checkers.

One entry point, :func:`color`, takes a sparsity pattern, a *problem* and an
*ordering* and returns a result object for that problem family:

=================  ==========================  ==============================
problem            compressed products         result
=================  ==========================  ==============================
``column``         ``B = A @ S`` (JVPs)        :class:`ColumnColoringResult`
``row``            ``B = S.T @ A`` (VJPs)      :class:`RowColoringResult`
``star``           ``B = H @ S`` (HVPs)        :class:`StarColoringResult`
``acyclic``        ``B = H @ S`` (HVPs)        :class:`AcyclicColoringResult`
``bidirectional``  ``S_row.T @ A``, ``A @ S_col``  :class:`BicoloringResult`
=================  ==========================  ==============================

Algorithms (kernels in ``cysrc/coloring.pyx``):

* ``column`` / ``row``: greedy partial distance-2 coloring of the bipartite
  graph (Gebremedhin, Manne & Pothen, SIAM Review 2005): two columns (rows)
  get different colors when they share a row (column).
* ``star``: greedy star coloring (Gebremedhin, Tarafdar, Manne & Pothen,
  SISC 2007): a distance-1 coloring where every path on four vertices uses
  three colors, so every nonzero of a symmetric matrix is read directly.
* ``acyclic``: greedy acyclic coloring (same paper): every cycle uses three
  colors; fewer colors than star, nonzeros recovered by substitution along
  the 2-colored trees.
* ``bidirectional``: star coloring of the augmented symmetric pattern
  ``[[0, A^T], [A, 0]]``, then colors that no nonzero is read from are
  neutralized (Montoison, Dalle & Gebremedhin 2025); rows get VJP seeds,
  columns JVP seeds, and every nonzero is read directly from one of them.
  The augmented graph is colored in the given order and in its reverse, and
  the plain column and row colorings compete too; the fewest products win.

Every result precomputes its decompression as plain ``int64`` arrays (see
:mod:`symasd.decompression` for the exact conventions) and ships
:meth:`~ColoringResult.seeds` and :meth:`~ColoringResult.decompress`.  The
checkers :func:`is_structurally_orthogonal`, :func:`is_star_coloring`,
:func:`is_acyclic_coloring`, :func:`is_valid_bicoloring` and
:func:`is_valid_coloring` test colorings against their definitions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from . import _coloring
from . import _validation as validation
from .decompression import (
    CSRTemplate,
    SubstitutionProgram,
    acyclic_substitution_program,
    bicoloring_compressed_indices,
    column_compressed_indices,
    gather,
    gather_index,
    row_compressed_indices,
    star_compressed_indices,
)
from .errors import InputError
from .orderings import ORDERS, Adjacency, vertex_order

__all__ = [
    "PROBLEMS",
    "ORDERS",
    "PatternLike",
    "color",
    "as_pattern",
    "result_from_colors",
    "ColoringResult",
    "ColumnColoringResult",
    "RowColoringResult",
    "StarColoringResult",
    "AcyclicColoringResult",
    "BicoloringResult",
    "is_structurally_orthogonal",
    "is_star_coloring",
    "is_acyclic_coloring",
    "is_valid_bicoloring",
    "is_valid_coloring",
]

PatternLike = sp.sparray | sp.spmatrix | np.ndarray | Sequence
"""What :func:`as_pattern` accepts: a SciPy sparse matrix/array or a 2-D array-like."""

ColorsLike = np.ndarray | Sequence[int]
"""A 1-D integer array (or sequence) of colors."""

PROBLEMS: tuple[str, ...] = ("column", "row", "star", "acyclic", "bidirectional")
"""Problem names accepted by :func:`color`."""


# ---------------------------------------------------------------------------
# patterns


def as_pattern(pattern: PatternLike) -> sp.csr_array:
    """Canonical boolean CSR pattern of ``pattern``.

    ``pattern`` may be any ``scipy.sparse`` matrix or array (every *stored*
    entry is structural, explicit zeros included; duplicates are merged) or
    anything :func:`numpy.asarray` turns into a 2-D numeric or boolean array
    (its nonzeros are structural).  The result has sorted indices, no
    duplicates and ``True`` data.

    Example
    -------
    >>> import numpy as np
    >>> as_pattern(np.eye(3)).nnz
    3
    """
    if sp.issparse(pattern):
        if len(pattern.shape) != 2:
            raise InputError(
                f"a sparsity pattern must be 2-D; got a sparse object of shape {pattern.shape}"
            )
        A = pattern.tocsr()
        out = sp.csr_array(
            (np.ones(A.indices.shape[0], dtype=bool), A.indices, A.indptr),
            shape=A.shape,
            copy=True,
        )
        out.sum_duplicates()  # also sorts the indices
        out.data[:] = True
        return out
    try:
        arr = np.asarray(pattern)
    except Exception as exc:  # any conversion failure is bad input
        raise InputError(
            f"cannot use an object of type {type(pattern).__name__} as a sparsity "
            "pattern; pass a scipy.sparse matrix or a 2-D NumPy (boolean) array"
        ) from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    ):
        raise InputError(
            f"cannot use an object of type {type(pattern).__name__} (dtype {arr.dtype}) "
            "as a sparsity pattern; pass a scipy.sparse matrix or a 2-D numeric or "
            "boolean array"
        )
    if arr.ndim != 2:
        raise InputError(
            f"a sparsity pattern must be 2-D; got an array with {arr.ndim} dimension(s) "
            f"(shape {arr.shape}); reshape it to (m, n)"
        )
    return sp.csr_array(arr != 0)


class _Structure:
    """int64 CSR/CSC arrays of a canonical pattern, computed once."""

    def __init__(self, P: sp.csr_array):
        self.pattern = P
        self.shape = (int(P.shape[0]), int(P.shape[1]))
        self.indptr = np.ascontiguousarray(P.indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(P.indices, dtype=np.int64)
        self.nnz = int(self.indices.shape[0])
        self._csc = None

    @property
    def csc(self):
        """``(csc_ptr, csc_idx, csc_to_csr)`` as int64 arrays."""
        if self._csc is None:
            csc_ptr = np.zeros(self.shape[1] + 1, dtype=np.int64)
            csc_idx = np.empty(self.nnz, dtype=np.int64)
            csc_to_csr = np.empty(self.nnz, dtype=np.int64)
            _coloring.csr_transpose(self.indptr, self.indices, csc_ptr, csc_idx, csc_to_csr)
            self._csc = (csc_ptr, csc_idx, csc_to_csr)
        return self._csc

    @cached_property
    def csr_to_csc(self) -> np.ndarray:
        """CSC position of every CSR entry (inverse of ``csc[2]``)."""
        out = np.empty(self.nnz, dtype=np.int64)
        _coloring.invert_permutation(self.csc[2], out)
        return out

    def mirror(self) -> np.ndarray:
        """CSR position of (j, i) for the position of (i, j); needs symmetry."""
        m, n = self.shape
        if m != n:
            raise InputError(
                f"symmetric coloring needs a square pattern; got shape {self.shape}. "
                "Use problem='column', 'row' or 'bidirectional' for Jacobians"
            )
        csc_ptr, csc_idx, csc_to_csr = self.csc
        if not (np.array_equal(csc_ptr, self.indptr) and np.array_equal(csc_idx, self.indices)):
            raise InputError(
                "symmetric coloring needs a structurally symmetric pattern (entry (i, j) "
                "stored iff (j, i) is); symmetrize it with P + P.T or use a Jacobian "
                "problem ('column', 'row', 'bidirectional')"
            )
        return csc_to_csr

    def edges(self, mirror: np.ndarray) -> tuple[np.ndarray, int]:
        """Edge id per CSR position (shared by (i, j) and (j, i)); -1 on the diagonal."""
        edge = np.full(self.nnz, -1, dtype=np.int64)
        nedges = _coloring.edge_ids(self.indptr, self.indices, mirror, edge)
        return edge, int(nedges)


# ---------------------------------------------------------------------------
# results


def _as_compressed(B, shape: tuple[int, int], what: str) -> np.ndarray:
    """Validate a compressed matrix and return it raveled (float64, C order)."""
    if sp.issparse(B):
        B = B.toarray()
    arr = np.asarray(B)
    if np.iscomplexobj(arr):
        raise InputError(f"{what} must be real; got dtype {arr.dtype}")
    if arr.shape != shape:
        raise InputError(
            f"{what} must have shape {shape} for this coloring; got {arr.shape}"
        )
    return np.ascontiguousarray(arr, dtype=np.float64).ravel()


def _seed_matrix(colors: np.ndarray, ncolors: int) -> np.ndarray:
    S = np.zeros((colors.shape[0], ncolors), dtype=np.float64)
    used = np.flatnonzero(colors >= 0)
    S[used, colors[used]] = 1.0
    return S


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.int64)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False, repr=False)
class ColoringResult(ABC):
    """Common part of every coloring result.

    Attributes
    ----------
    problem : str
        One of :data:`PROBLEMS`.
    order : str
        The vertex ordering that produced the colors (``"custom"`` for a
        user-given permutation, ``"given"`` for :func:`result_from_colors`).
    pattern : scipy.sparse.csr_array
        The canonical boolean pattern that was colored.
    ncolors : int
        Total number of compressed products (JVPs + VJPs for bicolorings).
    """

    problem: str
    order: str
    pattern: sp.csr_array
    ncolors: int

    @cached_property
    def template(self) -> CSRTemplate:
        """The CSR structure of :attr:`pattern` that :meth:`decompress` wraps values in.

        Built at its first use (of the several colorings that ``mode="auto"``
        weighs, only the chosen one builds it), then shared by every matrix.
        """
        P = self.pattern
        return CSRTemplate(P.shape, P.indptr, P.indices)

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of the pattern."""
        return (int(self.pattern.shape[0]), int(self.pattern.shape[1]))

    @property
    def nnz(self) -> int:
        """Number of structural nonzeros."""
        return int(self.pattern.nnz)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(problem={self.problem!r}, shape={self.shape}, "
            f"nnz={self.nnz}, ncolors={self.ncolors}, order={self.order!r})"
        )

    @abstractmethod
    def decompress_values(self, *B: Any, out: np.ndarray | None = None) -> np.ndarray:
        """The nonzeros in the CSR order of :attr:`pattern` (float64 vector)."""

    #: how many compressed matrices :meth:`decompress` takes (two for a bicoloring)
    _n_compressed = 1

    def decompress(self, *B: Any) -> sp.csr_array:
        """Recover the matrix from its compressed products.

        Returns a float64 ``csr_array`` with exactly the structure of
        :attr:`pattern` (sorted indices, explicit zeros kept); ``indptr`` and
        ``indices`` are the same read-only arrays on every call.
        """
        if len(B) != self._n_compressed:
            takes = ("one compressed matrix B" if self._n_compressed == 1
                     else "the two compressed matrices B_row and B_col")
            raise InputError(f"decompress takes {takes}, got {len(B)} arguments (for the "
                             "values into an array of yours: decompress_values(..., out=)")
        return self.template.matrix(self.decompress_values(*B))


@dataclass(frozen=True, eq=False, repr=False)
class _DirectResult(ColoringResult):
    compressed_indices: np.ndarray

    @property
    @abstractmethod
    def compressed_shape(self) -> tuple[int, int]:
        """Shape of the compressed matrix ``B`` that :meth:`decompress` takes."""

    def decompress_values(self, B: Any, out: np.ndarray | None = None) -> np.ndarray:
        """``B.ravel()[compressed_indices]``: the nonzeros in CSR order.

        ``out`` (float64, length nnz) receives the values when given.
        """
        b = _as_compressed(B, self.compressed_shape, "the compressed matrix B")
        # b has the size _gather_index was checked for
        return gather(b, self._gather_index, validation.output(out, self.nnz), checked=False)

    @cached_property
    def _gather_index(self) -> np.ndarray:
        m, c = self.compressed_shape
        return gather_index(self.compressed_indices, m * c)


@dataclass(frozen=True, eq=False, repr=False)
class ColumnColoringResult(_DirectResult):
    """Column coloring: ``B = A @ S`` with ``S`` of shape ``(n, ncolors)``.

    Attributes
    ----------
    colors : ndarray of int64, shape (n,)
        0-based color of every column; columns of one color share no row.
    compressed_indices : ndarray of int64, shape (nnz,)
        ``values = B.ravel()[compressed_indices]`` for ``B = A @ S`` of shape
        ``(m, ncolors)``: entry ``(i, j)`` sits at ``i * ncolors + colors[j]``.

    Example
    -------
    >>> import numpy as np, symasd
    >>> A = np.array([[1., 2, 0], [0, 3, 4]])
    >>> r = symasd.color(A != 0, "column", order="natural")
    >>> r.colors.tolist(), r.ncolors
    ([0, 1, 0], 2)
    >>> r.decompress(A @ r.seeds()).toarray().tolist()
    [[1.0, 2.0, 0.0], [0.0, 3.0, 4.0]]
    """

    colors: np.ndarray

    @property
    def compressed_shape(self) -> tuple[int, int]:
        return (self.shape[0], self.ncolors)

    def seeds(self) -> np.ndarray:
        """Seed matrix ``S`` (n x ncolors, float64) with ``S[j, colors[j]] = 1``."""
        return _seed_matrix(self.colors, self.ncolors)


@dataclass(frozen=True, eq=False, repr=False)
class RowColoringResult(_DirectResult):
    """Row coloring: ``B = S.T @ A`` with ``S`` of shape ``(m, ncolors)``.

    Attributes
    ----------
    colors : ndarray of int64, shape (m,)
        0-based color of every row; rows of one color share no column.
    compressed_indices : ndarray of int64, shape (nnz,)
        ``values = B.ravel()[compressed_indices]`` for ``B = S.T @ A`` of
        shape ``(ncolors, n)``: entry ``(i, j)`` sits at ``colors[i] * n + j``.

    Example
    -------
    >>> import numpy as np, symasd
    >>> A = np.array([[1., 0], [2, 3], [0, 4]])
    >>> r = symasd.color(A, "row", order="natural")
    >>> r.colors.tolist()
    [0, 1, 0]
    >>> np.allclose(r.decompress(r.seeds().T @ A).toarray(), A)
    True
    """

    colors: np.ndarray

    @property
    def compressed_shape(self) -> tuple[int, int]:
        return (self.ncolors, self.shape[1])

    def seeds(self) -> np.ndarray:
        """Seed matrix ``S`` (m x ncolors, float64) with ``S[i, colors[i]] = 1``."""
        return _seed_matrix(self.colors, self.ncolors)


@dataclass(frozen=True, eq=False, repr=False)
class StarColoringResult(_DirectResult):
    """Star coloring of a symmetric pattern: ``B = H @ S``, direct recovery.

    Attributes
    ----------
    colors : ndarray of int64, shape (n,)
    compressed_indices : ndarray of int64, shape (nnz,)
        ``values = B.ravel()[compressed_indices]`` for ``B`` of shape
        ``(n, ncolors)``: entry ``(i, j)`` sits at ``i * ncolors + colors[j]``
        if no other neighbour of ``i`` has ``colors[j]``, else at
        ``j * ncolors + colors[i]``; diagonal entries at ``i * ncolors + colors[i]``.

    Example
    -------
    >>> import numpy as np, symasd
    >>> H = np.eye(4); H[0, :] = H[:, 0] = 1          # arrow
    >>> r = symasd.color(H, "star")
    >>> r.ncolors
    2
    >>> np.allclose(r.decompress(H @ r.seeds()).toarray(), H)
    True
    """

    colors: np.ndarray

    @property
    def compressed_shape(self) -> tuple[int, int]:
        return (self.shape[0], self.ncolors)

    def seeds(self) -> np.ndarray:
        """Seed matrix ``S`` (n x ncolors, float64) with ``S[j, colors[j]] = 1``."""
        return _seed_matrix(self.colors, self.ncolors)


@dataclass(frozen=True, eq=False, repr=False)
class AcyclicColoringResult(ColoringResult):
    """Acyclic coloring of a symmetric pattern: ``B = H @ S``, recovery by substitution.

    Attributes
    ----------
    colors : ndarray of int64, shape (n,)
    program : SubstitutionProgram
        The recovery steps (``targets``, ``mirrors``, ``sources``,
        ``dep_ptr``, ``dep_indices``); see
        :class:`symasd.decompression.SubstitutionProgram`.

    Example
    -------
    >>> import numpy as np, symasd
    >>> H = 2 * np.eye(5) + np.eye(5, k=1) + np.eye(5, k=-1)   # tridiagonal
    >>> r = symasd.color(H, "acyclic", order="natural")
    >>> r.ncolors
    2
    >>> np.allclose(r.decompress(H @ r.seeds()).toarray(), H)
    True
    """

    colors: np.ndarray
    program: SubstitutionProgram

    @property
    def compressed_shape(self) -> tuple[int, int]:
        """Shape ``(n, ncolors)`` of the compressed matrix ``B = H @ S``."""
        return (self.shape[0], self.ncolors)

    def seeds(self) -> np.ndarray:
        """Seed matrix ``S`` (n x ncolors, float64) with ``S[j, colors[j]] = 1``."""
        return _seed_matrix(self.colors, self.ncolors)

    def decompress_values(self, B: Any, out: np.ndarray | None = None) -> np.ndarray:
        """Run the substitution program on ``B``; the nonzeros in CSR order."""
        b = _as_compressed(B, self.compressed_shape, "the compressed matrix B")
        out = (np.empty(self.nnz, dtype=np.float64) if out is None
               else validation.output(out, self.nnz))
        return self.program.run(b, out)


@dataclass(frozen=True, eq=False, repr=False)
class BicoloringResult(ColoringResult):
    """Bidirectional coloring: ``B_row = S_row.T @ A`` and ``B_col = A @ S_col``.

    Attributes
    ----------
    row_colors : ndarray of int64, shape (m,)
        Color of every row among the ``n_row_colors`` VJP seeds, -1 if the
        row is in none.
    column_colors : ndarray of int64, shape (n,)
        Color of every column among the ``n_column_colors`` JVP seeds, -1 if
        the column is in none.
    n_row_colors, n_column_colors : int
        ``ncolors == n_row_colors + n_column_colors``.
    compressed_indices : ndarray of int64, shape (nnz,)
        ``values = b[compressed_indices]`` with
        ``b = np.concatenate([B_row.ravel(), B_col.ravel()])``, ``B_row`` of
        shape ``(n_row_colors, n)`` and ``B_col`` of shape ``(m, n_column_colors)``:
        entry ``(i, j)`` sits at ``n_row_colors * n + i * n_column_colors +
        column_colors[j]`` when read from the column side, else at
        ``row_colors[i] * n + j``.
    from_column : ndarray of bool, shape (nnz,)
        Which side each nonzero is read from.
    method : str
        Which candidate of :func:`color` won: ``"augmented"`` (star coloring
        of the augmented graph in the given order, then neutralization),
        ``"augmented_reversed"`` (the same in the reversed order),
        ``"column"`` or ``"row"`` (one-sided coloring), or ``"given"``.

    Example
    -------
    >>> import numpy as np, symasd
    >>> A = np.eye(6); A[0, :] = A[:, 0] = 1          # arrow: dense row and column
    >>> r = symasd.color(A, "bidirectional")
    >>> r.ncolors <= 3
    True
    >>> S_row, S_col = r.seeds()
    >>> np.allclose(r.decompress(S_row.T @ A, A @ S_col).toarray(), A)
    True
    """

    row_colors: np.ndarray
    column_colors: np.ndarray
    n_row_colors: int
    n_column_colors: int
    compressed_indices: np.ndarray
    from_column: np.ndarray
    method: str

    _n_compressed = 2

    @property
    def compressed_shape(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """Shapes of ``(B_row, B_col)``."""
        m, n = self.shape
        return ((self.n_row_colors, n), (m, self.n_column_colors))

    def seeds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(S_row, S_col)``: ``S_row`` (m x n_row_colors), ``S_col`` (n x n_column_colors).

        ``S_row[i, row_colors[i]] = 1`` and ``S_col[j, column_colors[j]] = 1``;
        rows and columns with color -1 are all zero.
        """
        return (
            _seed_matrix(self.row_colors, self.n_row_colors),
            _seed_matrix(self.column_colors, self.n_column_colors),
        )

    def decompress_values(
        self, B_row: Any, B_col: Any, out: np.ndarray | None = None
    ) -> np.ndarray:
        """``concatenate([B_row.ravel(), B_col.ravel()])[compressed_indices]``."""
        s_row, s_col = self.compressed_shape
        b = np.concatenate([
            _as_compressed(B_row, s_row, "B_row (= S_row.T @ A)"),
            _as_compressed(B_col, s_col, "B_col (= A @ S_col)"),
        ])
        # b has the size _gather_index was checked for
        return gather(b, self._gather_index, validation.output(out, self.nnz), checked=False)

    @cached_property
    def _gather_index(self) -> np.ndarray:
        (cr, n), (m, cc) = self.compressed_shape
        return gather_index(self.compressed_indices, cr * n + m * cc)


# ---------------------------------------------------------------------------
# building results


def _check_problem(problem) -> str:
    if not isinstance(problem, str) or problem not in PROBLEMS:
        raise InputError(
            f"unknown coloring problem {problem!r}; use one of "
            f"{', '.join(map(repr, PROBLEMS))}"
        )
    return problem


def _column_result(st: _Structure, colors, ncolors, order) -> ColumnColoringResult:
    return ColumnColoringResult(
        problem="column",
        order=order,
        pattern=st.pattern,
        ncolors=ncolors,
        colors=_readonly(colors),
        compressed_indices=column_compressed_indices(st.indptr, st.indices, colors, ncolors),
    )


def _row_result(st: _Structure, colors, ncolors, order) -> RowColoringResult:
    return RowColoringResult(
        problem="row",
        order=order,
        pattern=st.pattern,
        ncolors=ncolors,
        colors=_readonly(colors),
        compressed_indices=row_compressed_indices(st.indptr, st.indices, colors, st.shape[1]),
    )


def _star_result(st: _Structure, mirror, colors, ncolors, order) -> StarColoringResult:
    return StarColoringResult(
        problem="star",
        order=order,
        pattern=st.pattern,
        ncolors=ncolors,
        colors=_readonly(colors),
        compressed_indices=star_compressed_indices(
            st.indptr, st.indices, mirror, colors, ncolors
        ),
    )


def _acyclic_result(st: _Structure, mirror, colors, ncolors, order) -> AcyclicColoringResult:
    return AcyclicColoringResult(
        problem="acyclic",
        order=order,
        pattern=st.pattern,
        ncolors=ncolors,
        colors=_readonly(colors),
        program=acyclic_substitution_program(st.indptr, st.indices, mirror, colors, ncolors),
    )


def _bicoloring_result(
    st: _Structure, row_colors, column_colors, order, method="given"
) -> BicoloringResult:
    c_row = int(row_colors.max()) + 1 if row_colors.size else 0
    c_col = int(column_colors.max()) + 1 if column_colors.size else 0
    csc_ptr, csc_idx, _ = st.csc
    csr_to_csc = st.csr_to_csc
    idx, from_col = bicoloring_compressed_indices(
        st.shape, st.indptr, st.indices, csr_to_csc, csc_ptr, csc_idx,
        row_colors, column_colors, c_row, c_col,
    )
    from_col = np.array(from_col, dtype=bool)
    from_col.flags.writeable = False
    return BicoloringResult(
        problem="bidirectional",
        order=order,
        pattern=st.pattern,
        ncolors=c_row + c_col,
        row_colors=_readonly(row_colors),
        column_colors=_readonly(column_colors),
        n_row_colors=c_row,
        n_column_colors=c_col,
        compressed_indices=idx,
        from_column=from_col,
        method=method,
    )


def _compact(colors: np.ndarray) -> np.ndarray:
    """Renumber the colors >= 0 as 0, 1, ... (keeping their relative order); -1 stays."""
    out = np.full(colors.shape[0], -1, dtype=np.int64)
    used = colors >= 0
    if used.any():
        # a linear renumbering (colors are below the number of vertices)
        present = np.bincount(colors[used]) > 0
        out[used] = (np.cumsum(present) - 1)[colors[used]]
    return out


def _check_colors(colors, length: int, what: str, allow_neutral: bool = False) -> np.ndarray:
    arr = np.asarray(colors)
    if arr.ndim != 1 or arr.shape[0] != length:
        raise InputError(f"{what} must be a 1-D array of length {length}; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"{what} must hold integers; got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    low = -1 if allow_neutral else 0
    if arr.size and arr.min() < low:
        raise InputError(
            f"{what} must be >= {low}" + (" (-1: not used on that side)" if allow_neutral else "")
        )
    return arr


def result_from_colors(
    pattern: PatternLike,
    problem: str,
    colors: ColorsLike | None = None,
    *,
    row_colors: ColorsLike | None = None,
    column_colors: ColorsLike | None = None,
) -> ColoringResult:
    """Build the result of ``problem`` for colors computed elsewhere.

    The decompression data is derived from the colors alone; an invalid
    coloring raises :class:`~symasd.errors.InputError` (direct methods: some
    nonzero cannot be read; acyclic: a 2-colored cycle).  Colors need not be
    contiguous: ``ncolors`` is ``max(colors) + 1``.  For ``bidirectional``
    pass ``row_colors`` and ``column_colors`` (``-1``: not used on that side);
    each side is renumbered to consecutive colors.

    Example
    -------
    >>> import numpy as np
    >>> r = result_from_colors(np.eye(3), "column", [0, 0, 0])
    >>> r.ncolors
    1
    """
    _check_problem(problem)
    st = _Structure(as_pattern(pattern))
    m, n = st.shape
    if problem == "bidirectional":
        rc = _compact(_check_colors(row_colors, m, "row_colors", allow_neutral=True))
        cc = _compact(_check_colors(column_colors, n, "column_colors", allow_neutral=True))
        return _bicoloring_result(st, rc, cc, "given")
    length = m if problem == "row" else n
    c = _check_colors(colors, length, "colors")
    ncolors = int(c.max()) + 1 if c.size else 0
    if problem == "column":
        if not is_structurally_orthogonal(st.pattern, c, axis="column"):
            raise InputError("not a column coloring: two columns of one color share a row")
        return _column_result(st, c, ncolors, "given")
    if problem == "row":
        if not is_structurally_orthogonal(st.pattern, c, axis="row"):
            raise InputError("not a row coloring: two rows of one color share a column")
        return _row_result(st, c, ncolors, "given")
    mirror = st.mirror()
    if problem == "star":
        return _star_result(st, mirror, c, ncolors, "given")
    return _acyclic_result(st, mirror, c, ncolors, "given")


# ---------------------------------------------------------------------------
# the entry point


def _resolve_orders(order) -> list:
    if isinstance(order, str):
        if order == "best":
            return list(ORDERS)
        if order not in ORDERS:
            raise InputError(
                f"unknown order {order!r}; use one of {', '.join(map(repr, ORDERS))}, "
                "'best', a list of those names, or a permutation of the vertices (an array "
                "or a list of ints)"
            )
        return [order]
    if isinstance(order, np.ndarray):
        return [order]
    if (isinstance(order, Sequence) and len(order) > 0
            and all(isinstance(o, int | np.integer) and not isinstance(o, bool) for o in order)):
        return [np.asarray(order, dtype=np.int64)]  # a permutation written as a list
    if isinstance(order, Sequence) and len(order) > 0 and all(isinstance(o, str) for o in order):
        out = []
        for o in order:
            out.extend(_resolve_orders(o))
        return list(dict.fromkeys(out))
    raise InputError(
        f"order must be one of {', '.join(map(repr, ORDERS))}, 'best', a non-empty "
        f"list of those names, or a permutation array; got {order!r}"
    )


def _permutation(order, adj: Adjacency, seed) -> tuple[np.ndarray, str]:
    if isinstance(order, str):
        return vertex_order(adj, order, seed), order
    perm = np.asarray(order)
    n = adj.n
    if (
        perm.ndim != 1
        or perm.shape[0] != n
        or (n and not np.issubdtype(perm.dtype, np.integer))
        or not np.array_equal(np.sort(perm), np.arange(n))
    ):
        raise InputError(
            f"a custom order must be a permutation of range({n}) (the vertices of this "
            "problem: columns, rows, or columns then rows for 'bidirectional')"
        )
    return np.ascontiguousarray(perm, dtype=np.int64), "custom"


def _greedy(adj: Adjacency, perm: np.ndarray) -> tuple[np.ndarray, int]:
    n = adj.n
    colors = np.full(n, -1, dtype=np.int64)
    heavy, nheavy = _heavy_ids(np.diff(adj.ptr2) * adj.heavy, 0)
    ncolors = _coloring.greedy(
        adj.ptr1, adj.idx1, adj.ptr2, adj.idx2, perm, heavy, nheavy, TABLE_BUDGET, colors
    )
    return colors, _colors_of(ncolors)


def _iterated_greedy(adj: Adjacency, colors, ncolors, passes: int):
    """Culberson's iterated greedy: recolor with color classes kept together."""
    n = colors.shape[0]
    index = np.arange(n, dtype=np.int64)
    for p in range(passes):
        if p % 2 == 0:
            perm = np.lexsort((index, -colors))              # reverse class order
        else:
            size = np.bincount(colors, minlength=ncolors)
            perm = np.lexsort((index, colors, -size[colors]))  # largest class first
        new, k = _greedy(adj, perm.astype(np.int64))
        if k <= ncolors:
            colors, ncolors = new, k
    return colors, ncolors


#: Vertices of more neighbours than this keep their neighbourhood's colors in
#: tables in the star and acyclic kernels (cysrc/coloring.pyx), instead of
#: being scanned from each neighbour; the colors are the same either way.
HUB_DEGREE = 32


#: Bytes the kernels' tables of dense rows and hubs may take; beyond it the
#: smallest of them are scanned again (same colors, more time).
TABLE_BUDGET = 1 << 27


def _heavy_ids(sizes: np.ndarray, threshold: int,
               int_positions: bool = False) -> tuple[np.ndarray, int]:
    """``(ids, count)``: the entries of ``sizes`` above ``threshold`` numbered
    ``0 .. count - 1`` by decreasing size (ties by index), the others -1.

    The kernels of ``cysrc/coloring.pyx`` keep tables for these rows or
    vertices.  The symmetric kernels' tables store positions as C ints
    (``int_positions``): then none is marked once the sizes reach ``2**31``.

    Example
    -------
    >>> _heavy_ids(np.array([5, 1, 9, 7]), 4)
    (array([ 2, -1,  0,  1]), 3)
    """
    ids = np.full(sizes.shape[0], -1, dtype=np.int64)
    if sizes.shape[0] == 0 or (int_positions and int(sizes.sum()) >= 2**31 - 2):
        return ids, 0
    where = np.flatnonzero(sizes > threshold)
    where = where[np.argsort(-sizes[where], kind="stable")]
    ids[where] = np.arange(where.shape[0], dtype=np.int64)
    return ids, int(where.shape[0])


def _hubs(ptr: np.ndarray) -> tuple[np.ndarray, int]:
    return _heavy_ids(np.diff(ptr), HUB_DEGREE, int_positions=True)


def _colors_of(ncolors: int) -> int:
    if ncolors < 0:
        raise MemoryError("not enough memory for the color tables of the dense rows")
    return int(ncolors)


def _star(ptr, idx, mirror, perm) -> tuple[np.ndarray, int]:
    colors = np.full(perm.shape[0], -1, dtype=np.int64)
    heavy, nheavy = _hubs(ptr)
    return colors, _colors_of(
        _coloring.star(ptr, idx, mirror, perm, heavy, nheavy, TABLE_BUDGET, colors))


def _acyclic(ptr, idx, edge, nedges, perm) -> tuple[np.ndarray, int]:
    colors = np.full(perm.shape[0], -1, dtype=np.int64)
    heavy, nheavy = _hubs(ptr)
    return colors, _colors_of(
        _coloring.acyclic(ptr, idx, edge, nedges, perm, heavy, nheavy, TABLE_BUDGET, colors))


def _neutralize(st: _Structure, colors: np.ndarray, ncolors: int):
    """Row and column colors of a bicoloring from an augmented star coloring."""
    m, n = st.shape
    cc, rc = colors[:n], colors[n:]
    csc_ptr, csc_idx, _ = st.csc
    k = max(ncolors, 1)
    used_col = np.zeros(n, dtype=np.uint8)
    used_row = np.zeros(m, dtype=np.uint8)
    status = _coloring.bicoloring_sides(
        st.indptr, st.indices, csc_ptr, csc_idx, st.csr_to_csc, cc, rc,
        np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.uint8), np.zeros(k, dtype=np.uint8),
        np.empty(st.nnz, dtype=np.uint8), np.empty(st.nnz, dtype=np.uint8),
        np.empty(st.nnz, dtype=np.uint8), used_col, used_row)
    if status != 0:  # pragma: no cover - would be a bug in the star kernel
        raise RuntimeError("internal error: the augmented star coloring is not a star coloring")
    used_col, used_row = used_col.view(bool), used_row.view(bool)
    return _compact(np.where(used_row, rc, -1)), _compact(np.where(used_col, cc, -1))


def color(
    pattern: PatternLike,
    problem: str,
    order: str | Sequence[str] | np.ndarray = "largest_first",
    seed: int | None = 0,
    *,
    improve: int = 0,
) -> ColoringResult:
    """Color a sparsity pattern for compressed differentiation.

    Parameters
    ----------
    pattern
        A ``scipy.sparse`` matrix/array (stored entries are structural) or a
        2-D dense array (nonzeros are structural); see :func:`as_pattern`.
    problem : str
        ``"column"`` (forward mode, ``B = A @ S``), ``"row"`` (reverse mode,
        ``B = S.T @ A``), ``"star"`` or ``"acyclic"`` (symmetric matrices such
        as Hessians, ``B = H @ S``; the pattern must be square and
        structurally symmetric), or ``"bidirectional"`` (both modes: JVPs
        ``A @ S_col`` and VJPs ``S_row.T @ A``).  For ``"bidirectional"``
        each order is tried on the augmented graph as given and reversed
        (dense rows and columns colored last often need fewer colors), and
        the one-sided column and row colorings are candidates too, so a
        bicoloring never needs more products than the better of them.
    order : str, list of str or array
        Vertex ordering for the greedy algorithm, one of ``"natural"``,
        ``"random"``, ``"largest_first"``, ``"smallest_last"``,
        ``"incidence_degree"``, ``"dynamic_largest_first"``.  ``"best"`` tries
        all six and keeps the coloring with the fewest colors (first in that
        list on ties); a list or tuple of names tries those.  An integer array
        is used as the order itself (a permutation of the columns, rows,
        or -- for ``"bidirectional"`` -- of the ``n`` columns then ``m``
        rows numbered ``n .. n + m - 1``).
    seed : int or None
        Seed of ``numpy.random.default_rng`` for ``order="random"``.
    improve : int
        Column and row problems only: number of iterated-greedy passes
        (Culberson 1992) after the best order.  Each pass recolors the
        vertices grouped by color class (alternately in reverse class order
        and largest class first), which never increases the number of colors
        and often lowers it.  Ignored by the other problems.

    Returns
    -------
    ColoringResult
        :class:`ColumnColoringResult`, :class:`RowColoringResult`,
        :class:`StarColoringResult`, :class:`AcyclicColoringResult` or
        :class:`BicoloringResult`, with ``ncolors``, ``seeds()`` and
        ``decompress(...)``.

    Example
    -------
    >>> import numpy as np, scipy.sparse as sp, symasd
    >>> A = sp.diags([1.0, 2.0, 3.0], [-1, 0, 1], shape=(6, 6))   # tridiagonal
    >>> r = symasd.color(A, "column")
    >>> r.ncolors
    3
    >>> J = r.decompress(A @ r.seeds())
    >>> bool((J != A).nnz == 0)
    True
    """
    problem = _check_problem(problem)
    orders = _resolve_orders(order)
    if not isinstance(improve, (int, np.integer)) or isinstance(improve, bool) or improve < 0:
        raise InputError(f"improve must be a non-negative integer; got {improve!r}")
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)
                             or seed < 0):
        raise InputError(f"seed (of order='random') must be None or a non-negative integer; "
                         f"got {seed!r}")
    st = _Structure(as_pattern(pattern))
    m, n = st.shape

    if problem in ("column", "row"):
        csc_ptr, csc_idx, _ = st.csc
        if problem == "column":
            adj = Adjacency.column_intersection(csc_ptr, csc_idx, st.indptr, st.indices)
        else:
            adj = Adjacency.column_intersection(st.indptr, st.indices, csc_ptr, csc_idx)
        best = None
        for o in orders:
            perm, name = _permutation(o, adj, seed)
            colors, ncolors = _greedy(adj, perm)
            if best is None or ncolors < best[1]:
                best = (colors, ncolors, name)
        colors, ncolors, name = best
        colors, ncolors = _iterated_greedy(adj, colors, ncolors, improve)
        if problem == "column":
            return _column_result(st, colors, ncolors, name)
        return _row_result(st, colors, ncolors, name)

    if problem in ("star", "acyclic"):
        mirror = st.mirror()
        if problem == "acyclic":
            edge, nedges = st.edges(mirror)
        adj = Adjacency.graph(st.indptr, st.indices)
        best = None
        for o in orders:
            perm, name = _permutation(o, adj, seed)
            if problem == "star":
                colors, ncolors = _star(st.indptr, st.indices, mirror, perm)
            else:
                colors, ncolors = _acyclic(st.indptr, st.indices, edge, nedges, perm)
            if best is None or ncolors < best[1]:
                best = (colors, ncolors, name)
        colors, ncolors, name = best
        if problem == "star":
            return _star_result(st, mirror, colors, ncolors, name)
        return _acyclic_result(st, mirror, colors, ncolors, name)

    # bidirectional: star coloring of [[0, A^T], [A, 0]]; columns are the
    # vertices 0..n-1 and rows the vertices n..n+m-1
    csc_ptr, csc_idx, csc_to_csr = st.csc
    nnz = st.nnz
    aug_ptr = np.concatenate([csc_ptr, st.indptr[1:] + nnz])
    # (written in place: shifted copies of nnz-long arrays are fresh memory)
    aug_idx = np.empty(2 * nnz, dtype=np.int64)
    np.add(csc_idx, n, out=aug_idx[:nnz])
    aug_idx[nnz:] = st.indices
    aug_mirror = np.empty(2 * nnz, dtype=np.int64)
    np.add(csc_to_csr, nnz, out=aug_mirror[:nnz])
    aug_mirror[nnz:] = st.csr_to_csc
    adj = Adjacency.graph(aug_ptr, aug_idx)
    col_adj = Adjacency.column_intersection(csc_ptr, csc_idx, st.indptr, st.indices)
    row_adj = Adjacency.column_intersection(st.indptr, st.indices, csc_ptr, csc_idx)
    max_row = int(np.diff(st.indptr).max()) if m else 0
    max_col = int(np.diff(csc_ptr).max()) if n else 0
    best = None

    def consider(rc, cc, name, method):
        nonlocal best
        total = (int(rc.max()) + 1 if m else 0) + (int(cc.max()) + 1 if n else 0)
        if best is None or total < best[0]:
            best = (total, rc, cc, name, method)

    for o in orders:
        perm, name = _permutation(o, adj, seed)
        for method, p in (("augmented", perm), ("augmented_reversed", perm[::-1].copy())):
            colors, ncolors = _star(aug_ptr, aug_idx, aug_mirror, p)
            rc, cc = _neutralize(st, colors, ncolors)
            consider(rc, cc, name, method)
        # one-sided candidates, unless their lower bound (the densest row or
        # column needs that many colors) cannot beat the best so far
        if max_row < best[0]:
            col_perm = vertex_order(col_adj, o, seed) if isinstance(o, str) else perm[perm < n]
            colors, _ = _greedy(col_adj, col_perm)
            consider(np.full(m, -1, dtype=np.int64), colors, name, "column")
        if max_col < best[0]:
            row_perm = vertex_order(row_adj, o, seed) if isinstance(o, str) else perm[perm >= n] - n
            colors, _ = _greedy(row_adj, row_perm)
            consider(colors, np.full(n, -1, dtype=np.int64), name, "row")
    _, rc, cc, name, method = best
    return _bicoloring_result(st, rc, cc, name, method)


# ---------------------------------------------------------------------------
# checkers (from the definitions; independent of the decompression code)


def _coo(pattern) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    P = as_pattern(pattern)
    rows = np.repeat(np.arange(P.shape[0], dtype=np.int64), np.diff(P.indptr))
    return P, rows, P.indices.astype(np.int64)


def _colors_or_none(colors, length: int, allow_neutral: bool = False):
    arr = np.asarray(colors)
    if arr.ndim != 1 or arr.shape[0] != length:
        return None
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        return None
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < (-1 if allow_neutral else 0):
        return None
    return arr


def is_structurally_orthogonal(
    pattern: PatternLike, colors: ColorsLike, axis: str = "column"
) -> bool:
    """Whether ``colors`` is a valid column (or row) coloring of ``pattern``.

    ``axis="column"``: ``colors`` has one entry per column, and no row has two
    nonzeros in columns of the same color (Curtis, Powell & Reid).
    ``axis="row"``: the same for rows and columns swapped.

    Example
    -------
    >>> import numpy as np
    >>> A = np.array([[1, 1, 0], [0, 1, 1]])
    >>> is_structurally_orthogonal(A, [0, 1, 0]), is_structurally_orthogonal(A, [0, 0, 1])
    (True, False)
    """
    if axis not in ("column", "row"):
        raise InputError(f"axis must be 'column' or 'row'; got {axis!r}")
    P, rows, cols = _coo(pattern)
    if axis == "row":
        rows, cols = cols, rows
        length = P.shape[0]
    else:
        length = P.shape[1]
    c = _colors_or_none(colors, length)
    if c is None:
        return False
    if rows.size == 0:
        return True
    key = rows * (int(c.max()) + 1) + c[cols]
    return np.unique(key).shape[0] == key.shape[0]


def _two_colored_components(pattern, colors):
    """Components of the 2-colored subgraphs; None if not a proper coloring.

    Returns ``(n_nodes, n_edges, n_inner)`` per component, where the nodes are
    (vertex, color pair) and ``n_inner`` counts nodes of degree >= 2.
    """
    P, rows, cols = _coo(pattern)
    if P.shape[0] != P.shape[1] or (P != P.T).nnz:
        return None
    c = _colors_or_none(colors, P.shape[0])
    if c is None:
        return None
    upper = rows < cols
    u, v = rows[upper], cols[upper]
    cu, cv = c[u], c[v]
    if np.any(cu == cv):
        return None
    if u.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    ncol = int(c.max()) + 1
    pair = np.minimum(cu, cv) * ncol + np.maximum(cu, cv)
    _, pair_id = np.unique(pair, return_inverse=True)
    npairs = int(pair_id.max()) + 1
    keys = np.concatenate([u * npairs + pair_id, v * npairs + pair_id])
    _, node = np.unique(keys, return_inverse=True)
    nnodes = int(node.max()) + 1
    ne = u.shape[0]
    a, b = node[:ne], node[ne:]
    G = sp.csr_array((np.ones(ne), (a, b)), shape=(nnodes, nnodes))
    ncomp, label = connected_components(G, directed=False)
    n_nodes = np.bincount(label, minlength=ncomp)
    n_edges = np.bincount(label[a], minlength=ncomp)
    degree = np.bincount(node, minlength=nnodes)
    n_inner = np.bincount(label, weights=(degree >= 2), minlength=ncomp)
    return n_nodes, n_edges, n_inner


def is_star_coloring(pattern: PatternLike, colors: ColorsLike) -> bool:
    """Whether ``colors`` is a star coloring of the symmetric ``pattern``.

    Star coloring: adjacent vertices (off-diagonal nonzeros) differ in color
    and every path on four vertices uses at least three colors, i.e. every
    connected subgraph induced by two colors is a star.  Diagonal entries are
    ignored.  Returns False for non-square or asymmetric patterns.

    Example
    -------
    >>> import numpy as np
    >>> P = np.eye(4) + np.eye(4, k=1) + np.eye(4, k=-1)   # path 0-1-2-3
    >>> is_star_coloring(P, [0, 1, 2, 0]), is_star_coloring(P, [0, 1, 0, 1])
    (True, False)
    """
    comp = _two_colored_components(pattern, colors)
    if comp is None:
        return False
    n_nodes, n_edges, n_inner = comp
    return bool(np.all(n_edges == n_nodes - 1) and np.all(n_inner <= 1))


def is_acyclic_coloring(pattern: PatternLike, colors: ColorsLike) -> bool:
    """Whether ``colors`` is an acyclic coloring of the symmetric ``pattern``.

    Acyclic coloring: adjacent vertices differ in color and every cycle uses
    at least three colors, i.e. every subgraph induced by two colors is a
    forest.  Diagonal entries are ignored.

    Example
    -------
    >>> import numpy as np
    >>> C4 = np.array([[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]])   # 4-cycle
    >>> is_acyclic_coloring(C4, [0, 1, 0, 2]), is_acyclic_coloring(C4, [0, 1, 0, 1])
    (True, False)
    """
    comp = _two_colored_components(pattern, colors)
    if comp is None:
        return False
    n_nodes, n_edges, _ = comp
    return bool(np.all(n_edges == n_nodes - 1))


def is_valid_bicoloring(
    pattern: PatternLike, row_colors: ColorsLike, column_colors: ColorsLike
) -> bool:
    """Whether every nonzero can be read directly from one side of a bicoloring.

    With ``B_col = A @ S_col`` and ``B_row = S_row.T @ A`` (color -1: row or
    column not seeded), nonzero ``(i, j)`` is read from ``B_col`` when
    ``column_colors[j] >= 0`` and no other seeded column of row ``i`` has that
    color, or from ``B_row`` when ``row_colors[i] >= 0`` and no other seeded
    row of column ``j`` has that color.  The coloring is valid when every
    nonzero can be read one way or the other.

    Example
    -------
    >>> import numpy as np
    >>> A = np.eye(3); A[0, :] = A[:, 0] = 1                 # arrow
    >>> is_valid_bicoloring(A, [0, -1, -1], [0, 1, 1])
    True
    >>> is_valid_bicoloring(A, [-1, -1, -1], [0, 1, 1])
    False
    """
    P, rows, cols = _coo(pattern)
    m, n = P.shape
    rc = _colors_or_none(row_colors, m, allow_neutral=True)
    cc = _colors_or_none(column_colors, n, allow_neutral=True)
    if rc is None or cc is None:
        return False
    if rows.size == 0:
        return True

    def unique_on(side_owner, side_color):
        # how many nonzeros share (owner, color) among seeded ones
        key = side_owner * (max(int(side_color.max()), 0) + 2) + (side_color + 1)
        _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
        counts = cnt[inv]
        seeded = side_color >= 0
        # unseeded entries never count against seeded ones (different key)
        return seeded & (counts == 1)

    from_col = unique_on(rows, cc[cols])
    from_row = unique_on(cols, rc[rows])
    return bool(np.all(from_col | from_row))


def is_valid_coloring(pattern: PatternLike, result: ColoringResult) -> bool:
    """Check a result against the definition of its problem.

    Example
    -------
    >>> import numpy as np, symasd
    >>> P = np.eye(5) + np.eye(5, k=1) + np.eye(5, k=-1)
    >>> all(is_valid_coloring(P, symasd.color(P, p)) for p in PROBLEMS)
    True
    """
    if isinstance(result, ColumnColoringResult):
        return is_structurally_orthogonal(pattern, result.colors, axis="column")
    if isinstance(result, RowColoringResult):
        return is_structurally_orthogonal(pattern, result.colors, axis="row")
    if isinstance(result, StarColoringResult):
        return is_star_coloring(pattern, result.colors)
    if isinstance(result, AcyclicColoringResult):
        return is_acyclic_coloring(pattern, result.colors)
    if isinstance(result, BicoloringResult):
        return is_valid_bicoloring(pattern, result.row_colors, result.column_colors)
    raise InputError(f"expected a coloring result; got {type(result).__name__}")
