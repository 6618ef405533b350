# Decompression kernels (compiled as ``symasd._decompress``).
#
# Direct decompression is a gather (``B.ravel()[compressed_indices]``) run by
# ``gather``; ``bicoloring_indices`` builds a bicoloring's gather indices.
# Substitution decompression (acyclic colorings) is a short program built once
# by ``substitution_program`` and run, packed, by ``substitute_packed``.
include "_types.pxi"
include "_unique_colors.pxi"

# Gather indices are stored as int32 when the compressed matrix is small
# enough: the gather is memory bound, and the indices are half its traffic.
ctypedef fused GATHER_IDX:
    int32_t
    int64_t


def gather(const DTYPE_t[::1] b, const GATHER_IDX[::1] idx, DTYPE_t[::1] out,
           bint checked=True):
    """``out[k] = b[idx[k]]``; raises IndexError (``out`` then partly written) when
    an index is outside ``b``.

    (input)  b: the compressed matrix raveled; idx: gather indices (int32 or int64);
             checked: False for indices known to lie in ``b`` (``gather_index``
             checked them once): the loop without a test per entry is ~1.4x faster
             (n = 4e5)
    (output) out: same length as idx
    """
    cdef Py_ssize_t k, bad = -1, n = idx.shape[0], size = b.shape[0]
    cdef GATHER_IDX i
    if out.shape[0] != n:
        raise ValueError("out must have one entry per index")
    with nogil:
        if not checked:
            for k in range(n):
                out[k] = b[idx[k]]
        else:
            for k in range(n):
                i = idx[k]
                # one unsigned compare covers both ends
                if <size_t>i >= <size_t>size:
                    bad = k
                    break
                out[k] = b[i]
    if bad >= 0:
        raise IndexError(f"gather index {idx[bad]} is outside the compressed matrix "
                         f"({size} entries)")


# The groups of a substitution program's construction (``group_*``, the group
# sizes and the queue) are int32 when every position, group and index of B fits:
# at 10^7 nonzeros they are most of the memory the construction touches.
ctypedef fused GROUP_t:
    int32_t
    int64_t


def substitution_program(const GROUP_t[::1] group_ptr, const GROUP_t[::1] group_pos,
                         const GROUP_t[::1] group_source, const GROUP_t[::1] group_of,
                         const ITYPE_t[::1] mirror,
                         GROUP_t[::1] remaining, BOOL_t[::1] done, GROUP_t[::1] queue,
                         ITYPE_t[::1] targets, ITYPE_t[::1] mirrors, ITYPE_t[::1] sources,
                         ITYPE_t[::1] dep_ptr, ITYPE_t[::1] dep_indices):
    """Order the off-diagonal nonzeros of a symmetric matrix for substitution.

    The off-diagonal CSR positions are grouped by (row u, color b of the
    column): group g holds the positions ``group_pos[group_ptr[g]:group_ptr[g+1]]``
    and ``B[u, b]`` (flat index ``group_source[g]``) is the sum of their values.
    Leaves are eliminated as in a tree: a group with exactly one unknown entry
    (u, p) gives ``H[u, p] = B[u, b] - sum(known entries of the group)``; then
    (p, u) is known too, which may leave the group of (p, color[u]) with one
    unknown.  This finishes iff every 2-colored subgraph is a forest, i.e.
    the coloring is acyclic.

    (input)  group_ptr (n_groups + 1), group_pos, group_source (n_groups)
             group_of: group of every CSR position (-1 on the diagonal)
             mirror: CSR position of (j, i) for the position of (i, j)
    (scratch) remaining: length n_groups, the group sizes on entry;
              done: length nnz, zeros; queue: length n_groups
    (output) step t: ``targets[t]``, ``mirrors[t]`` (positions of H[u, p] and
             H[p, u]), ``sources[t]`` (flat index into B), dependencies
             ``dep_indices[dep_ptr[t]:dep_ptr[t+1]]`` (positions of values
             computed by earlier steps); dep_ptr[0] must be 0 on entry.
             Arrays of length n_edges (n_edges + 1 for dep_ptr, number of
             off-diagonal entries for dep_indices).

    Returns the number of steps written; it is less than the number of edges
    when some 2-colored subgraph has a cycle.
    """
    cdef ITYPE_t ngroups = remaining.shape[0]
    cdef ITYPE_t g, g2, a, pos, unknown, head = 0, tail = 0, t = 0, d = 0
    with nogil:
        for g in range(ngroups):
            if remaining[g] == 1:
                queue[tail] = <GROUP_t>g
                tail += 1
        while head < tail:
            g = queue[head]
            head += 1
            if remaining[g] != 1:
                continue
            unknown = -1
            for a in range(group_ptr[g], group_ptr[g + 1]):
                pos = group_pos[a]
                if done[pos]:
                    dep_indices[d] = pos
                    d += 1
                else:
                    unknown = pos
            remaining[g] = 0
            targets[t] = unknown
            mirrors[t] = mirror[unknown]
            sources[t] = group_source[g]
            t += 1
            dep_ptr[t] = d
            done[unknown] = 1
            done[mirror[unknown]] = 1
            g2 = group_of[mirror[unknown]]
            remaining[g2] -= 1
            if remaining[g2] == 1:
                queue[tail] = g2
                tail += 1
    return t


def program_layout(const ITYPE_t[::1] targets, const ITYPE_t[::1] mirrors,
                   const ITYPE_t[::1] sources, const ITYPE_t[::1] dep_ptr,
                   const ITYPE_t[::1] dep_indices):
    """What :func:`pack_program` needs to know first: ``(nlead, length, largest)``.

    ``nlead``: the leading steps without dependencies that write one position (the
    diagonal); ``length``: the packed length of the other steps (``4 + ndeps``
    each); ``largest``: the largest index of the program (0 if it has none), which
    decides whether int32 holds it. The arrays are those of ``SubstitutionProgram``.
    """
    cdef Py_ssize_t t, n = targets.shape[0]
    cdef ITYPE_t nlead = 0, big = 0
    if (mirrors.shape[0] != n or sources.shape[0] != n or dep_ptr.shape[0] != n + 1
            or dep_indices.shape[0] < (dep_ptr[n] if n else 0)):
        raise ValueError("program arrays of inconsistent lengths")
    with nogil:
        while (nlead < n and dep_ptr[nlead + 1] == dep_ptr[nlead]
               and targets[nlead] == mirrors[nlead]):
            nlead += 1
        for t in range(n):
            big = max(big, max(targets[t], max(mirrors[t], sources[t])))
        for t in range(dep_ptr[n] if n else 0):
            big = max(big, dep_indices[t])
    return (nlead, 4 * (n - nlead) + (dep_ptr[n] - dep_ptr[nlead] if n else 0), big)


def pack_program(const ITYPE_t[::1] targets, const ITYPE_t[::1] mirrors,
                 const ITYPE_t[::1] sources, const ITYPE_t[::1] dep_ptr,
                 const ITYPE_t[::1] dep_indices, ITYPE_t nlead,
                 GATHER_IDX[::1] diag, GATHER_IDX[::1] steps):
    """Write the packed form that :func:`substitute_packed` reads, in one pass.

    (input)  the program arrays and ``nlead`` (from :func:`program_layout`, whose
             ``largest`` must fit the dtype of the outputs)
    (output) diag: ``2 * nlead`` entries, pairs ``(targets[t], sources[t])`` of the
             leading steps; steps: the other steps in order, each ``ndeps, source,
             target, mirror`` and its dependencies (``length`` entries)
    """
    cdef Py_ssize_t t, d, k = 0, n = targets.shape[0]
    if diag.shape[0] != 2 * nlead or not 0 <= nlead <= n:
        raise ValueError("diag must hold 2 * nlead entries")
    if steps.shape[0] != 4 * (n - nlead) + (dep_ptr[n] - dep_ptr[nlead] if n else 0):
        raise ValueError("steps must hold the packed length of program_layout")
    with nogil:
        for t in range(nlead):
            diag[2 * t] = <GATHER_IDX>targets[t]
            diag[2 * t + 1] = <GATHER_IDX>sources[t]
        for t in range(nlead, n):
            steps[k] = <GATHER_IDX>(dep_ptr[t + 1] - dep_ptr[t])
            steps[k + 1] = <GATHER_IDX>sources[t]
            steps[k + 2] = <GATHER_IDX>targets[t]
            steps[k + 3] = <GATHER_IDX>mirrors[t]
            k += 4
            for d in range(dep_ptr[t], dep_ptr[t + 1]):
                steps[k] = <GATHER_IDX>dep_indices[d]
                k += 1


def substitute_packed(const DTYPE_t[::1] b, const GATHER_IDX[::1] diag,
                      const GATHER_IDX[::1] steps, DTYPE_t[::1] values):
    """Run a substitution program in the packed form of ``SubstitutionProgram.packed``.

    Python equivalent, for the program arrays (``SubstitutionProgram``)::

        for t in range(len(targets)):
            v = b[sources[t]]
            for d in dep_indices[dep_ptr[t]:dep_ptr[t+1]]:
                v -= values[d]
            values[targets[t]] = values[mirrors[t]] = v

    (input)  b: the compressed matrix raveled in C order; diag: pairs ``(position,
             source)`` of the leading steps that copy ``b[source]`` to one position;
             steps: the other steps in order, each ``ndeps, source, target, mirror``
             and its ``ndeps`` dependencies
    (output) values: length nnz, the nonzeros in CSR order
    """
    cdef Py_ssize_t k, d, nd, nstream = steps.shape[0], ndiag = diag.shape[0] // 2
    cdef DTYPE_t s
    with nogil:
        for k in range(ndiag):
            values[diag[2 * k]] = b[diag[2 * k + 1]]
        k = 0
        while k < nstream:
            nd = steps[k]
            s = b[steps[k + 1]]
            for d in range(nd):
                s -= values[steps[k + 4 + d]]
            values[steps[k + 2]] = s
            values[steps[k + 3]] = s
            k += 4 + nd


cdef ITYPE_t _star_indices(const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx,
                           const ITYPE_t[::1] mirror, const ITYPE_t[::1] color,
                           ITYPE_t ncolors, ITYPE_t[::1] counts,
                           ITYPE_t[::1] unique_count, ITYPE_t[::1] out) noexcept nogil:
    cdef ITYPE_t n = ptr.shape[0] - 1
    cdef ITYPE_t i, j, k
    for i in range(n):
        for k in range(ptr[i], ptr[i + 1]):
            counts[color[idx[k]]] += 1
        for k in range(ptr[i], ptr[i + 1]):
            unique_count[k] = counts[color[idx[k]]]
        for k in range(ptr[i], ptr[i + 1]):
            counts[color[idx[k]]] = 0
    for i in range(n):
        for k in range(ptr[i], ptr[i + 1]):
            j = idx[k]
            if j == i:
                out[k] = i * ncolors + color[i]
            elif color[i] == color[j]:
                return -1
            elif unique_count[k] == 1:
                out[k] = i * ncolors + color[j]
            elif unique_count[mirror[k]] == 1:
                out[k] = j * ncolors + color[i]
            else:
                return -2
    return 0


def star_indices(const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx,
                 const ITYPE_t[::1] mirror, const ITYPE_t[::1] color, ITYPE_t ncolors,
                 ITYPE_t[::1] counts, ITYPE_t[::1] unique_count, ITYPE_t[::1] out):
    """Gather indices of a star coloring (direct symmetric decompression).

    (input)  ptr, idx: CSR structure of a symmetric pattern (n x n)
             mirror: CSR position of (j, i) for the position of (i, j)
             color: colors (0 .. ncolors - 1) of the n vertices
    (scratch) counts: length ncolors, zeros; unique_count: length nnz
    (output) out: length nnz

    With ``B = H @ S`` of shape (n, ncolors), C order::

        out[k] = i * ncolors + color[j]   if no other neighbour of i has color[j]
                 j * ncolors + color[i]   otherwise (then (j, i) is readable)

    and ``i * ncolors + color[i]`` on the diagonal.  Returns 0; -1 when two
    adjacent vertices share a color; -2 when some entry is readable from
    neither side (not a star coloring).
    """
    cdef ITYPE_t status
    with nogil:
        status = _star_indices(ptr, idx, mirror, color, ncolors, counts, unique_count, out)
    return status


cdef ITYPE_t _group_by_row_color(const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx,
                                 const ITYPE_t[::1] color, ITYPE_t ncolors,
                                 ITYPE_t[::1] stamp, ITYPE_t[::1] slot,
                                 GROUP_t[::1] group_ptr, GROUP_t[::1] group_pos,
                                 GROUP_t[::1] group_source,
                                 GROUP_t[::1] group_of) noexcept nogil:
    cdef ITYPE_t n = ptr.shape[0] - 1
    cdef ITYPE_t i, k, c, g, g0, ngroups = 0
    for i in range(n):
        g0 = ngroups
        for k in range(ptr[i], ptr[i + 1]):
            if idx[k] == i:
                continue
            c = color[idx[k]]
            if c == color[i]:
                return -1
            if stamp[c] != i:
                stamp[c] = i
                slot[c] = ngroups
                group_source[ngroups] = i * ncolors + c
                group_ptr[ngroups + 1] = 0
                ngroups += 1
            group_of[k] = slot[c]
            group_ptr[slot[c] + 1] += 1
        # sizes -> offsets for the groups of this row
        for g in range(g0, ngroups):
            group_ptr[g + 1] += group_ptr[g]
        # place the positions; slot[] is reused as the fill pointer
        for g in range(g0, ngroups):
            c = group_source[g] - i * ncolors
            slot[c] = group_ptr[g]
        for k in range(ptr[i], ptr[i + 1]):
            if idx[k] == i:
                continue
            c = color[idx[k]]
            group_pos[slot[c]] = k
            slot[c] += 1
    return ngroups


def group_by_row_color(const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx,
                       const ITYPE_t[::1] color, ITYPE_t ncolors,
                       ITYPE_t[::1] stamp, ITYPE_t[::1] slot,
                       GROUP_t[::1] group_ptr, GROUP_t[::1] group_pos,
                       GROUP_t[::1] group_source, GROUP_t[::1] group_of):
    """Group the off-diagonal entries of every row by the color of their column.

    (input)  ptr, idx: CSR structure (n x n); color: vertex colors
    (scratch) stamp: length ncolors, filled with -1; slot: length ncolors
    (output) group_ptr (length >= n_groups + 1, group_ptr[0] == 0 on entry),
             group_source (length >= n_groups), group_pos (length >= number of
             off-diagonal entries), group_of (length
             nnz, filled with -1 by the caller: the diagonal stays -1)

    Group g is the positions ``group_pos[group_ptr[g]:group_ptr[g+1]]``
    (increasing) of the entries (i, j), j != i, of one row i with one
    color c = color[j]; ``group_source[g] = i * ncolors + c``.  Groups are
    numbered row by row, in order of first appearance.  Returns n_groups,
    or -1 if some off-diagonal entry joins two vertices of the same color.
    """
    cdef ITYPE_t ngroups
    with nogil:
        ngroups = _group_by_row_color(ptr, idx, color, ncolors, stamp, slot,
                                      group_ptr, group_pos, group_source, group_of)
    return ngroups


def direct_indices(const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx,
                   const ITYPE_t[::1] color, ITYPE_t stride, bint by_row,
                   ITYPE_t[::1] out):
    """Gather indices of a column or row coloring.

    (input)  ptr, idx: CSR structure (m rows); color: column colors
             (``by_row`` false) or row colors (``by_row`` true);
             stride: ncolors for columns, n for rows
    (output) out: length nnz

    NumPy equivalent (``rows = np.repeat(np.arange(m), np.diff(ptr))``)::

        out = rows * stride + color[idx]       # column: B = A @ S is m x c
        out = color[rows] * stride + idx       # row: B = S.T @ A is c x n
    """
    cdef ITYPE_t m = ptr.shape[0] - 1
    cdef ITYPE_t i, k
    with nogil:
        if by_row:
            for i in range(m):
                for k in range(ptr[i], ptr[i + 1]):
                    out[k] = color[i] * stride + idx[k]
        else:
            for i in range(m):
                for k in range(ptr[i], ptr[i + 1]):
                    out[k] = i * stride + color[idx[k]]


def bicoloring_indices(const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx,
                       const ITYPE_t[::1] csc_ptr, const ITYPE_t[::1] csc_idx,
                       const ITYPE_t[::1] csr_to_csc, const ITYPE_t[::1] row_color,
                       const ITYPE_t[::1] col_color, ITYPE_t n, ITYPE_t c_row, ITYPE_t c_col,
                       ITYPE_t[::1] counts, BOOL_t[::1] row_ok_csc, ITYPE_t[::1] out,
                       BOOL_t[::1] from_col):
    """Gather indices of a bicoloring into ``[B_row.ravel(), B_col.ravel()]``.

    (input)  ptr, idx / csc_ptr, csc_idx: the m x n pattern by rows / by columns,
             csr_to_csc: the CSC position of every CSR position; row_color (m),
             col_color (n): the colors of each side (-1: not seeded); c_row, c_col:
             the numbers of colors
    (scratch) counts: length max(c_row, c_col, 1), zeros; row_ok_csc: length nnz
    (output) out[k]: where nonzero k (CSR order) is read, ``c_row * n + i * c_col +
             col_color[j]`` from B_col (preferred) or ``row_color[i] * n + j`` from
             B_row; from_col[k]: 1 where it is read from B_col

    Returns 0, or -1 when some nonzero can be read from neither product.
    """
    cdef ITYPE_t m = ptr.shape[0] - 1, i, k, j
    cdef int bad = 0
    with nogil:
        _unique_color_flags(ptr, idx, col_color, counts, from_col)
        _unique_color_flags(csc_ptr, csc_idx, row_color, counts, row_ok_csc)
        for i in range(m):
            for k in range(ptr[i], ptr[i + 1]):
                j = idx[k]
                if from_col[k]:
                    out[k] = c_row * n + i * c_col + col_color[j]
                elif row_ok_csc[csr_to_csc[k]]:
                    out[k] = row_color[i] * n + j
                else:
                    bad = 1
    return -1 if bad else 0
