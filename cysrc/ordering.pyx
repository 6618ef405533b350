# Vertex orderings for greedy coloring (compiled as ``symasd._ordering``).
#
# Every kernel sees a graph through a *two-level adjacency*: the neighbours of
# vertex v are the members of the "hyperedges" of v, except v itself,
#
#     N(v) = union(idx2[ptr2[h]:ptr2[h+1]] for h in idx1[ptr1[v]:ptr1[v+1]]) - {v}
#
# * distance-2 (column intersection) graph of a pattern A (m x n): (ptr1, idx1)
#   is the CSC of A (column -> rows) and (ptr2, idx2) is its CSR (row -> columns);
# * ordinary graph with CSR adjacency (ptr, idx): ptr1 = arange(n + 1),
#   idx1 = arange(n), ptr2 = ptr, idx2 = idx (self loops are skipped).
#
# The same code thus serves column/row problems (distance-2 degrees) and the
# symmetric and bidirectional problems (adjacency degrees).  The Python caller
# allocates every array; the kernels never allocate, raise or touch Python
# objects.
#
# ``heavy[h]`` (one flag per hyperedge) marks the dense rows of a distance-2
# graph: listing their members from each member would cost O(size^2), so the
# neighbour lists leave them out.  ``degrees`` counts each of them as
# ``size - 1`` neighbours (an upper bound where they overlap, capped at
# n - 1) and the dynamic orders keep that part of a key fixed.
include "_types.pxi"


cdef inline ITYPE_t _neighbours(ITYPE_t v,
                                const ITYPE_t[::1] ptr1, const ITYPE_t[::1] idx1,
                                const ITYPE_t[::1] ptr2, const ITYPE_t[::1] idx2,
                                const BOOL_t[::1] heavy,
                                ITYPE_t[::1] marker, ITYPE_t stamp,
                                ITYPE_t[::1] buf) noexcept nogil:
    """Write the distinct neighbours of v through light hyperedges into buf
    and return their number.

    ``marker[w] == stamp`` afterwards for every such neighbour w (and for v);
    the caller passes a stamp never used before on this marker array.
    """
    cdef ITYPE_t a, b, h, w, count = 0
    marker[v] = stamp
    for a in range(ptr1[v], ptr1[v + 1]):
        h = idx1[a]
        if heavy[h]:
            continue
        for b in range(ptr2[h], ptr2[h + 1]):
            w = idx2[b]
            if marker[w] != stamp:
                marker[w] = stamp
                buf[count] = w
                count += 1
    return count


def degrees(const ITYPE_t[::1] ptr1, const ITYPE_t[::1] idx1,
            const ITYPE_t[::1] ptr2, const ITYPE_t[::1] idx2,
            const BOOL_t[::1] heavy,
            ITYPE_t[::1] marker, ITYPE_t[::1] buf, ITYPE_t[::1] out):
    """Number of distinct neighbours of every vertex.

    (input)  ptr1, idx1, ptr2, idx2: the two-level adjacency (module comment)
             heavy: flags of the hyperedges counted as ``size - 1`` (module comment)
    (scratch) marker: length n, filled with -1 by the caller; buf: length n
    (output) out: length n

    NumPy equivalent for a distance-2 graph of the pattern ``A`` without
    heavy rows: ``G = (A.T @ A) != 0; setdiag(G, 0); out = G.sum(axis=1)``.
    """
    cdef ITYPE_t v, a, h, d, n = out.shape[0]
    with nogil:
        for v in range(n):
            d = _neighbours(v, ptr1, idx1, ptr2, idx2, heavy, marker, v, buf)
            for a in range(ptr1[v], ptr1[v + 1]):
                h = idx1[a]
                if heavy[h]:
                    d += ptr2[h + 1] - ptr2[h] - 1
            out[v] = d if d < n - 1 else n - 1


# -- bucket queue: doubly linked lists of vertices, one list per key ---------

cdef inline void _push(ITYPE_t v, ITYPE_t key, ITYPE_t[::1] head,
                       ITYPE_t[::1] nxt, ITYPE_t[::1] prv) noexcept nogil:
    cdef ITYPE_t h = head[key]
    nxt[v] = h
    prv[v] = -1
    if h >= 0:
        prv[h] = v
    head[key] = v


cdef inline void _pop(ITYPE_t v, ITYPE_t key, ITYPE_t[::1] head,
                      ITYPE_t[::1] nxt, ITYPE_t[::1] prv) noexcept nogil:
    if prv[v] >= 0:
        nxt[prv[v]] = nxt[v]
    else:
        head[key] = nxt[v]
    if nxt[v] >= 0:
        prv[nxt[v]] = prv[v]


def dynamic_order(const ITYPE_t[::1] ptr1, const ITYPE_t[::1] idx1,
                  const ITYPE_t[::1] ptr2, const ITYPE_t[::1] idx2,
                  const BOOL_t[::1] heavy, const ITYPE_t[::1] initial, ITYPE_t[::1] key,
                  const ITYPE_t[::1] insertion,
                  ITYPE_t[::1] head, ITYPE_t[::1] nxt, ITYPE_t[::1] prv,
                  ITYPE_t[::1] marker, ITYPE_t[::1] buf, ITYPE_t[::1] order,
                  int kind):
    """Dynamic vertex orderings with a bucket queue, in O(|V| + sum |N(v)|).

    (input)  ptr1, idx1, ptr2, idx2, heavy: the two-level adjacency (module
                 comment); heavy hyperedges take no part in the updates
             initial: initial key of each vertex (degrees, or zeros)
             insertion: permutation of the vertices; they enter their buckets
                 in this sequence, so within a bucket the last inserted comes
                 out first (ties favour the end of ``insertion``)
             kind: 0 smallest_last, 1 dynamic_largest_first, 2 incidence_degree
    (scratch) key: length n; head: length max(initial) + n + 1, filled with -1;
              nxt, prv, buf: length n; marker: length n, filled with -1
    (output) order: length n, the vertex order

    * smallest_last (Matula & Beck): repeatedly remove a vertex of minimum
      degree in the remaining graph; ``order`` is the reversed removal sequence.
    * dynamic_largest_first: repeatedly take a vertex of maximum degree in the
      graph induced by the vertices not yet taken.
    * incidence_degree: repeatedly take the vertex with the most neighbours
      already taken.
    """
    cdef ITYPE_t n = order.shape[0]
    cdef ITYPE_t step, v, w, t, cnt, cur = 0, i
    with nogil:
        for i in range(n):
            v = insertion[i]
            key[v] = initial[v]
            _push(v, key[v], head, nxt, prv)
            if key[v] > cur:
                cur = key[v]
        if kind == 0:
            cur = 0
        for step in range(n):
            if kind == 0:
                while head[cur] < 0:
                    cur += 1
            else:
                while head[cur] < 0:
                    cur -= 1
            v = head[cur]
            _pop(v, cur, head, nxt, prv)
            key[v] = -1                      # taken
            if kind == 0:
                order[n - 1 - step] = v
            else:
                order[step] = v
            cnt = _neighbours(v, ptr1, idx1, ptr2, idx2, heavy, marker, v, buf)
            for t in range(cnt):
                w = buf[t]
                if key[w] < 0:
                    continue
                _pop(w, key[w], head, nxt, prv)
                if kind == 2:
                    key[w] += 1
                    if key[w] > cur:
                        cur = key[w]
                else:
                    key[w] -= 1
                _push(w, key[w], head, nxt, prv)
            if kind == 0 and cur > 0:
                cur -= 1
