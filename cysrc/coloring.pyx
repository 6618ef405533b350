# Greedy coloring kernels (compiled as ``symasd._coloring``).
#
# * ``greedy``: first-fit coloring over a two-level adjacency (see
#   cysrc/ordering.pyx): partial distance-2 coloring of a bipartite graph
#   (column / row problems; Gebremedhin, Manne & Pothen 2005, Algorithm 3.2)
#   or distance-1 coloring of an ordinary graph.
# * ``star``: star coloring with 2-colored-star bookkeeping (Gebremedhin,
#   Tarafdar, Manne & Pothen 2007, Algorithm 4.1).
# * ``acyclic``: acyclic coloring with disjoint sets over the 2-colored trees
#   (same paper, Algorithm 3.1).
# * ``bicoloring_sides``: which compressed product (row or column) each nonzero
#   is read from after a star coloring of the augmented graph
#   ``[[0, A^T], [A, 0]]`` (Montoison, Dalle & Gebremedhin 2025), so that the
#   colors no nonzero needs can be neutralized.
#
# Symmetric kernels take the CSR adjacency (ptr, idx) of a structurally
# symmetric pattern, possibly with diagonal entries (skipped), and ``edge``:
# for every CSR position k with idx[k] != row, an id in [0, n_edges) shared by
# the positions of (i, j) and (j, i).  All arrays are allocated by the caller.
include "_types.pxi"


cdef inline ITYPE_t _first_fit(const ITYPE_t[::1] forbidden, ITYPE_t v) noexcept nogil:
    cdef ITYPE_t c = 0
    while forbidden[c] == v:
        c += 1
    return c


def greedy(const ITYPE_t[::1] ptr1, const ITYPE_t[::1] idx1,
           const ITYPE_t[::1] ptr2, const ITYPE_t[::1] idx2,
           const ITYPE_t[::1] order, ITYPE_t[::1] forbidden, ITYPE_t[::1] color):
    """First-fit coloring of the vertices in ``order``; returns the number of colors.

    (input)  ptr1, idx1, ptr2, idx2: two-level adjacency; for the column
             problem (ptr1, idx1) is the CSC and (ptr2, idx2) the CSR of the
             pattern, so that two columns conflict iff they share a row
             order: permutation of the n vertices
    (scratch) forbidden: length n + 1, filled with -1
    (output) color: length n, filled with -1; color[v] is the smallest color
             not used by a neighbour colored before v

    NumPy/Python equivalent::

        for v in order:
            used = {color[w] for h in idx1[ptr1[v]:ptr1[v+1]]
                    for w in idx2[ptr2[h]:ptr2[h+1]] if w != v and color[w] >= 0}
            color[v] = min(set(range(n + 1)) - used)
    """
    cdef ITYPE_t n = order.shape[0]
    cdef ITYPE_t i, v, a, b, h, w, c, ncolors = 0
    with nogil:
        for i in range(n):
            v = order[i]
            for a in range(ptr1[v], ptr1[v + 1]):
                h = idx1[a]
                for b in range(ptr2[h], ptr2[h + 1]):
                    w = idx2[b]
                    if w != v and color[w] >= 0:
                        forbidden[color[w]] = v
            c = _first_fit(forbidden, v)
            color[v] = c
            if c + 1 > ncolors:
                ncolors = c + 1
    return ncolors


cdef inline void _forbid_neighbour_colors(ITYPE_t v, ITYPE_t w,
                                          const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx,
                                          const ITYPE_t[::1] color,
                                          ITYPE_t[::1] forbidden,
                                          ITYPE_t[::1] treated) noexcept nogil:
    """Forbid for v the colors of all colored neighbours of w."""
    cdef ITYPE_t b, x
    for b in range(ptr[w], ptr[w + 1]):
        x = idx[b]
        if x != w and color[x] >= 0:
            forbidden[color[x]] = v
    treated[w] = v


def star(const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx, const ITYPE_t[::1] edge,
         const ITYPE_t[::1] order, ITYPE_t[::1] forbidden,
         ITYPE_t[::1] first_v, ITYPE_t[::1] first_w, ITYPE_t[::1] first_e,
         ITYPE_t[::1] treated, ITYPE_t[::1] star_of, ITYPE_t[::1] hub,
         ITYPE_t[::1] color):
    """Greedy star coloring; returns the number of colors.

    (input)  ptr, idx: CSR adjacency of a symmetric pattern (diagonal skipped)
             edge: edge id of every off-diagonal CSR position (module comment)
             order: permutation of the n vertices
    (scratch) forbidden, first_v, treated: length n + 1, filled with -1;
              first_w, first_e: length n + 1; star_of, hub: length n_edges
    (output) color: length n, filled with -1

    The result is a distance-1 coloring in which every path on four vertices
    uses at least three colors.  Bookkeeping: every edge between two colored
    vertices belongs to one 2-colored star ``star_of[edge]``; ``hub[s]`` is the
    star's center, or -1 while the star is a single edge.  When v is colored,
    ``first_*[c]`` remembers the first neighbour of v met with color c (and
    the id of that edge); meeting a second one makes v a hub, and every color
    adjacent to either spoke is then forbidden (``treated`` avoids treating a
    spoke twice for the same v).  A neighbour w that is a spoke of a star
    centered at x forbids color[x].
    """
    cdef ITYPE_t n = order.shape[0]
    cdef ITYPE_t i, v, a, b, w, x, c, p, q, s, e, nstars = 0, ncolors = 0
    cdef bint found
    with nogil:
        for i in range(n):
            v = order[i]
            # distance-1 constraint
            for a in range(ptr[v], ptr[v + 1]):
                w = idx[a]
                if w != v and color[w] >= 0:
                    forbidden[color[w]] = v
            # star constraints
            for a in range(ptr[v], ptr[v + 1]):
                w = idx[a]
                if w == v or color[w] < 0:
                    continue
                c = color[w]
                p = first_v[c]
                q = first_w[c]
                if p == v:
                    # v has two neighbours (q and w) of color c: v would be a hub
                    if treated[q] != v:
                        _forbid_neighbour_colors(v, q, ptr, idx, color, forbidden, treated)
                    _forbid_neighbour_colors(v, w, ptr, idx, color, forbidden, treated)
                else:
                    first_v[c] = v
                    first_w[c] = w
                    first_e[c] = edge[a]
                    for b in range(ptr[w], ptr[w + 1]):
                        x = idx[b]
                        if x == w or x == v or color[x] < 0:
                            continue
                        if hub[star_of[edge[b]]] == x:
                            # w is a spoke of the star centered at x
                            forbidden[color[x]] = v
            c = _first_fit(forbidden, v)
            color[v] = c
            if c + 1 > ncolors:
                ncolors = c + 1
            # update the 2-colored stars with the edges from v
            for a in range(ptr[v], ptr[v + 1]):
                w = idx[a]
                if w == v or color[w] < 0:
                    continue
                found = False
                for b in range(ptr[w], ptr[w + 1]):
                    x = idx[b]
                    if x != v and x != w and color[x] == c:
                        # v - w - x with color[v] == color[x]: w is the hub
                        s = star_of[edge[b]]
                        hub[s] = w
                        star_of[edge[a]] = s
                        found = True
                        break
                if not found:
                    p = first_v[color[w]]
                    q = first_w[color[w]]
                    if p == v and q != w:
                        # w and q are two neighbours of v with the same color
                        s = star_of[first_e[color[w]]]
                        hub[s] = v
                        star_of[edge[a]] = s
                    else:
                        star_of[edge[a]] = nstars
                        hub[nstars] = -1
                        nstars += 1
    return ncolors


cdef inline ITYPE_t _find(ITYPE_t e, ITYPE_t[::1] parent) noexcept nogil:
    cdef ITYPE_t root = e, nxt
    while parent[root] != root:
        root = parent[root]
    while parent[e] != root:
        nxt = parent[e]
        parent[e] = root
        e = nxt
    return root


cdef inline void _union(ITYPE_t r1, ITYPE_t r2, ITYPE_t[::1] parent,
                        ITYPE_t[::1] rank) noexcept nogil:
    """Union of two distinct roots, by rank."""
    if rank[r1] < rank[r2]:
        parent[r1] = r2
    elif rank[r1] > rank[r2]:
        parent[r2] = r1
    else:
        parent[r2] = r1
        rank[r1] += 1


def acyclic(const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx, const ITYPE_t[::1] edge,
            const ITYPE_t[::1] order, ITYPE_t[::1] forbidden,
            ITYPE_t[::1] first_v, ITYPE_t[::1] first_e,
            ITYPE_t[::1] visit_v, ITYPE_t[::1] visit_w,
            ITYPE_t[::1] parent, ITYPE_t[::1] rank, ITYPE_t[::1] color):
    """Greedy acyclic coloring; returns the number of colors.

    (input)  ptr, idx, edge, order: as for ``star``
    (scratch) forbidden, first_v: length n + 1, filled with -1;
              first_e: length n + 1; visit_v: length n_edges, filled with -1;
              visit_w: length n_edges; parent: length n_edges with
              parent[e] = e; rank: length n_edges, zeros
    (output) color: length n, filled with -1

    The result is a distance-1 coloring in which every cycle uses at least
    three colors, i.e. every 2-colored subgraph is a forest.  The edges of
    each 2-colored tree form one disjoint set (``parent``/``rank``, union by
    rank with path compression).  Before coloring v, a color c = color[x] is
    forbidden when v is adjacent to two different vertices of the tree that
    holds an edge (w, x) colored {color[w], c} (``visit_*`` records the first
    vertex of each tree met from v): coloring v with c would close a cycle.
    After coloring v, the edges from v join the trees of their colors
    (``first_*``: edges from v to the same color form one star) and trees
    linked through v are merged.
    """
    cdef ITYPE_t n = order.shape[0]
    cdef ITYPE_t i, v, a, b, w, x, c, r, r2, ncolors = 0
    with nogil:
        for i in range(n):
            v = order[i]
            for a in range(ptr[v], ptr[v + 1]):
                w = idx[a]
                if w != v and color[w] >= 0:
                    forbidden[color[w]] = v
            for a in range(ptr[v], ptr[v + 1]):
                w = idx[a]
                if w == v or color[w] < 0:
                    continue
                for b in range(ptr[w], ptr[w + 1]):
                    x = idx[b]
                    if x == w or x == v or color[x] < 0:
                        continue
                    if forbidden[color[x]] != v:
                        # prevent a cycle through the tree holding (w, x)
                        r = _find(edge[b], parent)
                        if visit_v[r] != v:
                            visit_v[r] = v
                            visit_w[r] = w
                        elif visit_w[r] != w:
                            forbidden[color[x]] = v
            c = _first_fit(forbidden, v)
            color[v] = c
            if c + 1 > ncolors:
                ncolors = c + 1
            # grow stars centered at v
            for a in range(ptr[v], ptr[v + 1]):
                w = idx[a]
                if w == v or color[w] < 0:
                    continue
                if first_v[color[w]] != v:
                    first_v[color[w]] = v
                    first_e[color[w]] = edge[a]
                else:
                    r = _find(edge[a], parent)
                    r2 = _find(first_e[color[w]], parent)
                    if r != r2:
                        _union(r, r2, parent, rank)
            # merge the trees linked through v
            for a in range(ptr[v], ptr[v + 1]):
                w = idx[a]
                if w == v or color[w] < 0:
                    continue
                for b in range(ptr[w], ptr[w + 1]):
                    x = idx[b]
                    if x == w or x == v or color[x] != c:
                        continue
                    r = _find(edge[a], parent)
                    r2 = _find(edge[b], parent)
                    if r != r2:
                        _union(r, r2, parent, rank)
    return ncolors


def bicoloring_sides(const ITYPE_t[::1] col_color, const ITYPE_t[::1] row_color,
                     const BOOL_t[::1] col_ok, const BOOL_t[::1] row_ok,
                     BOOL_t[::1] col_needed, BOOL_t[::1] row_needed,
                     BOOL_t[::1] from_col):
    """Choose, for every nonzero, the compressed product it is read from.

    (input)  col_color[k], row_color[k]: augmented-graph colors of the column
             and of the row of nonzero k
             col_ok[k] / row_ok[k]: nonzero k can be read from the column
             product (its column's color is unique in its row) / from the row
             product (its row's color is unique in its column)
    (output) col_needed, row_needed: length n_colors, zeros on entry; flags of
             the colors used as column (JVP) and row (VJP) seeds
             from_col[k]: 1 if nonzero k is read from the column product

    Nonzeros readable from one side only fix that side first; the others
    reuse a color already needed where possible (column side first) and
    otherwise open a column color.  Returns 0, or -1 if some nonzero is
    readable from neither side (not a star bicoloring).
    """
    cdef ITYPE_t k, nnz = from_col.shape[0]
    cdef int bad = 0
    with nogil:
        for k in range(nnz):
            if col_ok[k] and not row_ok[k]:
                from_col[k] = 1
                col_needed[col_color[k]] = 1
            elif row_ok[k] and not col_ok[k]:
                from_col[k] = 0
                row_needed[row_color[k]] = 1
            elif not col_ok[k]:
                bad = 1
        for k in range(nnz):
            if col_ok[k] and row_ok[k]:
                if col_needed[col_color[k]]:
                    from_col[k] = 1
                elif row_needed[row_color[k]]:
                    from_col[k] = 0
                else:
                    from_col[k] = 1
                    col_needed[col_color[k]] = 1
    return -1 if bad else 0


def edge_ids(const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx,
             const ITYPE_t[::1] mirror, ITYPE_t[::1] edge):
    """Number the edges of a symmetric pattern; returns the number of edges.

    (input)  ptr, idx: CSR structure; mirror: CSR position of (j, i) for the
             position of (i, j)
    (output) edge: length nnz, filled with -1 (the diagonal stays -1)

    Edges are numbered in CSR order of their upper-triangle entry (i < j),
    and ``edge[k] == edge[mirror[k]]``.
    """
    cdef ITYPE_t n = ptr.shape[0] - 1
    cdef ITYPE_t i, k, e = 0
    with nogil:
        for i in range(n):
            for k in range(ptr[i], ptr[i + 1]):
                if idx[k] > i:
                    edge[k] = e
                    edge[mirror[k]] = e
                    e += 1
    return e


def csr_transpose(const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx,
                  ITYPE_t[::1] out_ptr, ITYPE_t[::1] out_idx, ITYPE_t[::1] out_pos):
    """Transpose a CSR structure (counting sort), remembering where entries go.

    (input)  ptr, idx: CSR structure of an m x n pattern
    (output) out_ptr: length n + 1, zeros on entry; out_idx, out_pos: length nnz

    ``(out_ptr, out_idx)`` is the CSR structure of the transpose (equivalently
    the CSC structure of the pattern), with sorted indices; ``out_pos[p]`` is
    the position in ``idx`` of the entry stored at position p of the
    transpose.  NumPy equivalent::

        T = csr_array((arange(nnz), idx, ptr), shape=(m, n)).T.tocsr()
        out_ptr, out_idx, out_pos = T.indptr, T.indices, T.data
    """
    cdef ITYPE_t m = ptr.shape[0] - 1
    cdef ITYPE_t n = out_ptr.shape[0] - 1
    cdef ITYPE_t i, j, k, p
    with nogil:
        for k in range(ptr[m]):
            out_ptr[idx[k] + 1] += 1
        for j in range(n):
            out_ptr[j + 1] += out_ptr[j]
        for i in range(m):
            for k in range(ptr[i], ptr[i + 1]):
                j = idx[k]
                p = out_ptr[j]
                out_idx[p] = i
                out_pos[p] = k
                out_ptr[j] = p + 1
        # out_ptr[j] now holds the end of column j: shift back
        for j in range(n, 0, -1):
            out_ptr[j] = out_ptr[j - 1]
        out_ptr[0] = 0
