"""Decompression: from compressed products back to the nonzeros.

Everything decompression needs is computed **once**, from the pattern and the
colors, as plain ``int64`` arrays; decompressing is then a gather (direct
methods) or one pass of a substitution program (acyclic colorings).  The
values always come out in the CSR order of the canonical pattern (sorted
column indices), so ``csr_array((values, indices, indptr))`` has exactly the
pattern's structure.

Direct decompression (column, row, star, bidirectional)
    ``values = B.ravel()[compressed_indices]`` where ``B`` is the compressed
    matrix in C order:

    * column: ``B = A @ S``, shape ``(m, c)``; entry ``(i, j)`` is at
      ``i * c + colors[j]``;
    * row: ``B = S.T @ A``, shape ``(c, n)``; entry ``(i, j)`` is at
      ``colors[i] * n + j``;
    * star: ``B = H @ S``, shape ``(n, c)``; entry ``(i, j)`` is at
      ``i * c + colors[j]`` when ``j``'s color is unique among the neighbours
      of ``i``, else at ``j * c + colors[i]`` (symmetry);
    * bidirectional: ``b = np.concatenate([B_row.ravel(), B_col.ravel()])``
      with ``B_row = S_row.T @ A`` of shape ``(c_row, n)`` and
      ``B_col = A @ S_col`` of shape ``(m, c_col)``; entry ``(i, j)`` is at
      ``c_row * n + i * c_col + column_colors[j]`` when read from the column
      side (preferred when possible), else at ``row_colors[i] * n + j``.

Substitution (acyclic) -- :class:`SubstitutionProgram`
    steps ``t = 0, 1, ...`` in sequence::

        v = b[sources[t]]
        for d in dep_indices[dep_ptr[t]:dep_ptr[t+1]]:
            v -= values[d]          # one dependency at a time, in this order
        values[targets[t]] = values[mirrors[t]] = v

    with ``b = (H @ S).ravel()`` (shape ``(n, c)``), ``targets[t]`` and
    ``mirrors[t]`` the CSR positions of ``H[u, p]`` and ``H[p, u]`` (equal on
    the diagonal) and ``dep_indices`` CSR positions written by earlier steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from . import _decompress
from .errors import InputError

__all__ = [
    "SubstitutionProgram",
    "CSRTemplate",
    "column_compressed_indices",
    "row_compressed_indices",
    "star_compressed_indices",
    "bicoloring_compressed_indices",
    "acyclic_substitution_program",
    "gather",
    "gather_index",
]


#: Past this many nonzeros (or entries of ``B``) the substitution program is built
#: with int64 groups instead of int32 ones (the program itself is int64 either way).
GROUP_INT32_LIMIT = 2**31 - 1


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.int64)
    a.flags.writeable = False
    return a


def gather_index(idx: np.ndarray, size: int) -> np.ndarray:
    """``idx`` as the index array :func:`gather` reads, checked once to lie in
    ``[0, size)`` (IndexError otherwise), so that gathers from arrays of ``size``
    entries may skip the test (``checked=False``); read-only, int32 (half the
    memory traffic of a gather) when every index into ``size`` entries fits.

    Example
    -------
    >>> idx = gather_index(np.array([2, 0]), 3)
    >>> idx, idx.flags.writeable
    (array([2, 0], dtype=int32), False)
    >>> gather(np.array([1.0, 2.0, 3.0]), idx, checked=False)
    array([3., 1.])
    >>> gather_index(np.array([3]), 3)
    Traceback (most recent call last):
    ...
    IndexError: gather index 3 is outside the compressed matrix (3 entries)
    """
    bad = np.flatnonzero((idx < 0) | (idx >= size))
    if bad.size:
        raise IndexError(f"gather index {idx[bad[0]]} is outside the compressed matrix "
                         f"({size} entries)")
    out = idx.astype(np.int32 if size <= np.iinfo(np.int32).max else np.int64)
    out.flags.writeable = False
    return out


def gather(b: np.ndarray, idx: np.ndarray, out: np.ndarray | None = None, *,
           checked: bool = True) -> np.ndarray:
    """``b[idx]`` into ``out`` (a new float64 array when None), for a raveled
    compressed matrix ``b`` (float64, contiguous) and int32 or int64 indices;
    raises IndexError when an index is outside ``b``. ``checked=False`` skips
    that test, for an index from :func:`gather_index` with ``b.size`` entries.

    Example
    -------
    >>> gather(np.array([1.0, 2.0, 3.0]), np.array([2, 0]))
    array([3., 1.])
    """
    if out is None:
        out = np.empty(idx.shape[0], dtype=np.float64)
    _decompress.gather(b, idx, out, checked)
    return out


class CSRTemplate:
    """The structure of a CSR matrix, to wrap value arrays into ``csr_array``.

    ``indptr`` and ``indices`` are kept once, in the index dtype SciPy picks
    for them, and made read-only. Every matrix built by :meth:`matrix`
    **shares** them: the structure is the very same arrays on every call (a
    solver can check ``J.indices is J_prev.indices``), nothing is copied, and
    an attempt to modify the structure in place raises instead of corrupting
    later matrices. Matrices are cloned from a prototype validated once, so no
    call pays for SciPy's format checks again.

    Example
    -------
    >>> import numpy as np
    >>> t = CSRTemplate((2, 2), np.array([0, 1, 2]), np.array([1, 0]))
    >>> t.matrix(np.array([5.0, 6.0])).toarray().tolist()
    [[0.0, 5.0], [6.0, 0.0]]
    """

    __slots__ = ("shape", "indptr", "indices", "_prototype")

    def __init__(self, shape: tuple[int, int], indptr: np.ndarray, indices: np.ndarray):
        probe = sp.csr_array(
            (np.zeros(indices.shape[0], dtype=np.float64), indices, indptr), shape=shape
        )
        probe.has_sorted_indices = True
        probe.has_canonical_format = True
        self.shape = shape
        self.indptr = probe.indptr
        self.indices = probe.indices
        self.indptr.flags.writeable = False
        self.indices.flags.writeable = False
        self._prototype = probe

    def matrix(self, values: np.ndarray) -> sp.csr_array:
        """``csr_array`` with this structure and ``values`` (not copied)."""
        out = object.__new__(type(self._prototype))
        out.__dict__.update(self._prototype.__dict__)
        out.data = values
        return out


def column_compressed_indices(
    indptr: np.ndarray, indices: np.ndarray, colors: np.ndarray, ncolors: int
) -> np.ndarray:
    """Gather indices for column compression ``B = A @ S`` (``B`` is ``m x c``).

    Example
    -------
    >>> import numpy as np
    >>> column_compressed_indices(np.array([0, 2]), np.array([0, 1]), np.array([0, 1]), 2)
    array([0, 1])
    """
    out = np.empty(indices.shape[0], dtype=np.int64)
    _decompress.direct_indices(indptr, indices, colors, ncolors, False, out)
    out.flags.writeable = False
    return out


def row_compressed_indices(
    indptr: np.ndarray, indices: np.ndarray, colors: np.ndarray, n: int
) -> np.ndarray:
    """Gather indices for row compression ``B = S.T @ A`` (``B`` is ``c x n``).

    Example
    -------
    >>> import numpy as np
    >>> row_compressed_indices(np.array([0, 1, 2]), np.array([0, 0]), np.array([0, 1]), 1)
    array([0, 1])
    """
    out = np.empty(indices.shape[0], dtype=np.int64)
    _decompress.direct_indices(indptr, indices, colors, n, True, out)
    out.flags.writeable = False
    return out


def star_compressed_indices(
    indptr: np.ndarray, indices: np.ndarray, mirror: np.ndarray, colors: np.ndarray,
    ncolors: int,
) -> np.ndarray:
    """Gather indices for a star coloring of a symmetric pattern (``B = H @ S``).

    ``mirror[k]`` is the CSR position of the transpose of entry ``k``.  Raises
    :class:`InputError` when some nonzero cannot be read directly (the colors
    are not a star coloring).

    Example
    -------
    >>> import numpy as np   # arrow 3 x 3 with diagonal: hub 0 has color 0
    >>> ptr = np.array([0, 3, 5, 7]); idx = np.array([0, 1, 2, 0, 1, 0, 2])
    >>> mirror = np.array([0, 3, 5, 1, 4, 2, 6])
    >>> star_compressed_indices(ptr, idx, mirror, np.array([0, 1, 1]), 2).tolist()
    [0, 2, 4, 2, 3, 4, 5]
    """
    nnz = indices.shape[0]
    out = np.empty(nnz, dtype=np.int64)
    status = _decompress.star_indices(
        indptr, indices, np.ascontiguousarray(mirror, dtype=np.int64), colors, ncolors,
        np.zeros(max(ncolors, 1), dtype=np.int64), np.empty(nnz, dtype=np.int64), out,
    )
    if status == -1:
        raise InputError("not a star coloring: two adjacent vertices share a color")
    if status == -2:
        raise InputError(
            "not a star coloring: some nonzero can be read neither from its row "
            "nor from its column (a path on four vertices uses two colors)"
        )
    out.flags.writeable = False
    return out


def bicoloring_compressed_indices(
    shape: tuple[int, int], indptr: np.ndarray, indices: np.ndarray,
    csr_to_csc: np.ndarray, csc_indptr: np.ndarray, csc_indices: np.ndarray,
    row_colors: np.ndarray, column_colors: np.ndarray,
    n_row_colors: int, n_column_colors: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Gather indices for a bicoloring; also returns the mask "read from ``B_col``".

    ``csr_to_csc[k]`` is the CSC position of CSR entry ``k``.  Colors are
    per side (``0 .. n_row_colors - 1`` and ``0 .. n_column_colors - 1``), ``-1`` for
    a row or column left out of its side's seeds.  Raises :class:`InputError`
    when some nonzero cannot be read from either product.

    Example
    -------
    >>> import numpy as np   # dense 2 x 2, row 0 seeded, columns 0 and 1 seeded
    >>> ptr = np.array([0, 2, 4]); idx = np.array([0, 1, 0, 1])
    >>> csc_ptr = np.array([0, 2, 4]); csc_idx = np.array([0, 1, 0, 1])
    >>> to_csc = np.array([0, 2, 1, 3])
    >>> gather, from_col = bicoloring_compressed_indices(
    ...     (2, 2), ptr, idx, to_csc, csc_ptr, csc_idx,
    ...     np.array([0, -1]), np.array([0, 1]), 1, 2)
    >>> gather.tolist(), from_col.tolist()     # B_col is preferred where possible
    ([2, 3, 4, 5], [True, True, True, True])
    """
    m, n = shape
    nnz = indices.shape[0]
    row_colors = np.ascontiguousarray(row_colors, dtype=np.int64)
    column_colors = np.ascontiguousarray(column_colors, dtype=np.int64)
    for colors, count, side in ((row_colors, n_row_colors, "row"),
                                (column_colors, n_column_colors, "column")):
        if colors.size and int(colors.max()) >= count:
            raise InputError(f"a {side} color is {int(colors.max())}, but n_{side}_colors is "
                             f"{count}: colors must lie in 0 .. n_{side}_colors - 1 (or be -1)")
    idx = np.empty(nnz, dtype=np.int64)
    from_col = np.empty(nnz, dtype=np.uint8)
    status = _decompress.bicoloring_indices(
        np.ascontiguousarray(indptr, dtype=np.int64), np.ascontiguousarray(indices, dtype=np.int64),
        np.ascontiguousarray(csc_indptr, dtype=np.int64),
        np.ascontiguousarray(csc_indices, dtype=np.int64),
        np.ascontiguousarray(csr_to_csc, dtype=np.int64), row_colors, column_colors, n,
        n_row_colors, n_column_colors,
        np.zeros(max(n_row_colors, n_column_colors, 1), dtype=np.int64),
        np.empty(nnz, dtype=np.uint8), idx, from_col)
    if status != 0:
        raise InputError(
            "not a valid bicoloring: some nonzero can be read neither from the "
            "row products nor from the column products"
        )
    from_col = from_col.view(bool)
    return _ro(idx), from_col


@dataclass(frozen=True, eq=False)
class SubstitutionProgram:
    """Recovery of a symmetric matrix from ``B = H @ S`` for an acyclic coloring.

    Step ``t`` (in increasing order) computes one nonzero and its transpose::

        v = b[sources[t]]
        for d in dep_indices[dep_ptr[t]:dep_ptr[t+1]]:
            v -= values[d]          # one dependency at a time, in this order
        values[targets[t]] = values[mirrors[t]] = v

    where ``b = B.ravel()`` (``B`` is ``n x c``, C order) and ``values`` holds
    the nonzeros in the CSR order of the pattern.  ``targets`` / ``mirrors``
    are the CSR positions of ``H[u, p]`` / ``H[p, u]`` (the same position for
    a diagonal entry), ``sources[t] = u * c + colors[p]``, and every
    dependency is a position written by an earlier step.  Diagonal entries
    come first and have no dependencies.  All arrays are ``int64`` (the
    :attr:`packed` form that :meth:`run` reads is int32 when every index
    fits); ``dep_ptr`` has ``n_steps + 1`` entries.

    Example
    -------
    >>> import numpy as np, symasd
    >>> H = np.array([[2., 1, 0], [1, 3, 4], [0, 4, 5]])      # path 0 - 1 - 2
    >>> r = symasd.color(H, "acyclic", order="natural")
    >>> p = r.program
    >>> p.n_steps                      # 3 diagonal entries, 2 edges
    5
    >>> out = np.empty(7)
    >>> p.run((H @ r.seeds()).ravel(), out).tolist()
    [2.0, 1.0, 1.0, 3.0, 4.0, 4.0, 5.0]
    """

    targets: np.ndarray
    mirrors: np.ndarray
    sources: np.ndarray
    dep_ptr: np.ndarray
    dep_indices: np.ndarray

    @property
    def n_steps(self) -> int:
        """Number of steps (diagonal entries plus off-diagonal pairs)."""
        return self.targets.shape[0]

    def run(self, b: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Fill ``out`` (float64, length nnz) from the raveled compressed matrix ``b``."""
        _decompress.substitute_packed(b, *self.packed, out)
        return out

    @cached_property
    def packed(self) -> tuple[np.ndarray, np.ndarray]:
        """The program as :meth:`run` reads it, built on first use: ``(diag, steps)``.

        ``diag`` holds pairs ``(targets[t], sources[t])`` of the leading steps
        that have no dependencies and write one position (the diagonal);
        ``steps`` holds the other steps in order, each as ``ndeps, source,
        target, mirror`` followed by its dependencies. Both are int32 when
        every index fits (int64 otherwise): the program is read once per call,
        after a sweep has evicted it from cache, so its bytes are its cost.
        """
        arrays = [np.ascontiguousarray(a, dtype=np.int64) for a in (
            self.targets, self.mirrors, self.sources, self.dep_ptr, self.dep_indices)]
        nlead, length, big = _decompress.program_layout(*arrays)
        dtype = np.int32 if big <= np.iinfo(np.int32).max else np.int64
        diag = np.empty(2 * nlead, dtype=dtype)
        steps = np.empty(length, dtype=dtype)
        _decompress.pack_program(*arrays, nlead, diag, steps)
        diag.flags.writeable = False
        steps.flags.writeable = False
        return diag, steps


def acyclic_substitution_program(
    indptr: np.ndarray, indices: np.ndarray, mirror: np.ndarray, colors: np.ndarray,
    ncolors: int,
) -> SubstitutionProgram:
    """Build the :class:`SubstitutionProgram` of an acyclic coloring.

    Raises :class:`InputError` when the colors are not an acyclic coloring
    (adjacent vertices share a color, or a 2-colored subgraph has a cycle).

    Example
    -------
    >>> import numpy as np   # path 0 - 1 - 2 with diagonal, colors 0 1 0
    >>> ptr = np.array([0, 2, 5, 7]); idx = np.array([0, 1, 0, 1, 2, 1, 2])
    >>> mirror = np.array([0, 2, 1, 3, 5, 4, 6])
    >>> p = acyclic_substitution_program(ptr, idx, mirror, np.array([0, 1, 0]), 2)
    >>> p.n_steps
    5
    """
    nnz = indices.shape[0]
    n = indptr.shape[0] - 1
    # group the off-diagonal entries by (row, color of column); int32 where every
    # position and every index of B fits (half the memory to touch)
    gt = np.int32 if max(nnz + 1, n * max(ncolors, 1)) < GROUP_INT32_LIMIT else np.int64
    group_ptr = np.zeros(nnz + 1, dtype=gt)
    group_pos = np.empty(nnz, dtype=gt)
    group_source = np.empty(nnz, dtype=gt)
    group_of = np.full(nnz, -1, dtype=gt)
    ngroups = _decompress.group_by_row_color(
        indptr, indices, colors, ncolors,
        np.full(max(ncolors, 1), -1, dtype=np.int64), np.empty(max(ncolors, 1), dtype=np.int64),
        group_ptr, group_pos, group_source, group_of,
    )
    if ngroups < 0:
        raise InputError("not an acyclic coloring: two adjacent vertices share a color")
    group_ptr = group_ptr[: ngroups + 1]
    group_source = group_source[:ngroups]
    sizes = np.diff(group_ptr)
    diag_pos = np.flatnonzero(group_of < 0).astype(np.int64)
    ndiag = diag_pos.shape[0]
    group_pos = group_pos[: nnz - ndiag]
    nedges = group_pos.shape[0] // 2
    # the diagonal steps first, then the kernel's: it writes behind them, in the
    # program's own arrays (at n = 10^6 concatenating them afterwards took a
    # tenth of an arrow Hessian's preparation, most of it first touch of memory)
    targets = np.empty(ndiag + nedges, dtype=np.int64)
    mirrors = np.empty(ndiag + nedges, dtype=np.int64)
    sources = np.empty(ndiag + nedges, dtype=np.int64)
    dep_ptr = np.zeros(ndiag + nedges + 1, dtype=np.int64)
    dep_indices = np.empty(group_pos.shape[0], dtype=np.int64)
    diag_rows = indices[diag_pos]
    targets[:ndiag] = diag_pos
    mirrors[:ndiag] = diag_pos
    np.multiply(diag_rows, ncolors, out=sources[:ndiag])
    sources[:ndiag] += colors[diag_rows]
    nsteps = _decompress.substitution_program(
        group_ptr, group_pos, group_source, group_of, np.ascontiguousarray(mirror, np.int64),
        sizes, np.zeros(nnz, dtype=np.uint8),
        np.empty(ngroups, dtype=gt),
        targets[ndiag:], mirrors[ndiag:], sources[ndiag:], dep_ptr[ndiag:], dep_indices,
    )
    if nsteps != nedges:
        raise InputError(
            "not an acyclic coloring: a subgraph induced by two colors has a cycle, "
            "so substitution cannot recover every nonzero"
        )
    return SubstitutionProgram(
        targets=_ro(targets),
        mirrors=_ro(mirrors),
        sources=_ro(sources),
        dep_ptr=_ro(dep_ptr),
        dep_indices=_ro(dep_indices[: dep_ptr[-1]]),
    )
