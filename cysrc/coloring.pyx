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
# symmetric pattern, possibly with diagonal entries (skipped), and ``mirror``
# (star: the CSR position of (j, i) for the position of (i, j)) or ``edge``
# (acyclic: for every CSR position k with idx[k] != row, an id in
# [0, n_edges) shared by the positions of (i, j) and (j, i)).
#
# Dense rows and columns (docs/coloring.md, "Dense rows and columns").  The
# textbook kernels find the colors a vertex may not take by scanning the
# neighbours of its neighbours: a row of n entries (column problems) or a
# vertex of degree n (symmetric problems) is scanned once from each of its n
# members, O(n^2).  Here such *heavy* rows or vertices (the caller marks
# them: ``heavy[h]`` is an index in [0, nheavy) or -1) keep what the scans
# would read in tables indexed by color instead, updated when a member gets
# its color:
#
# * greedy: per heavy row, the bit set of the colors used in it and the
#   first word of that set that is not full;
# * star: per heavy vertex w, the bit set of the colors of its colored
#   neighbours, the bit set of the colors of the neighbours x that are the
#   hub of the 2-colored star holding the edge (w, x), and for every color c
#   the CSR position of one edge from w to a neighbour of color c;
# * acyclic: per heavy vertex, the colors of its neighbours and one edge to
#   each color (all edges from w to one color lie in one 2-colored tree).
#
# The kernels give exactly the colors of the textbook algorithms, whichever
# vertices are marked heavy (tests/test_coloring.py compares), in
# O(nnz * (1 + colors / 64)) time for the heavy part.  The forbidden colors of
# the vertex being colored are a bit set too, cleared word by word through a
# list of the words written.  The tables of heavy vertices grow with the
# number of colors (the kernels allocate them with malloc and free them);
# every other array is allocated by the caller or, for scratch, by the
# kernel's Python entry point.
include "_types.pxi"
include "_unique_colors.pxi"

import numpy as np

from libc.stdint cimport uint16_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

# the hub tables (read at random rows, one per neighbour) on huge pages where large
cdef extern from "big_alloc.h":
    void *symasd_big_calloc(size_t count, size_t size) noexcept nogil

cdef extern from "coloring_bits.h":
    int sym_ctz64(uint64_t x) noexcept nogil
    void sym_prefetch(const void *p) noexcept nogil

ctypedef uint64_t WORD_t
cdef WORD_t FULL = ~(<WORD_t>0)


# -- a set of colors as bits, cleared through the list of words written -------

cdef struct ColorSet:
    WORD_t* bits
    ITYPE_t* dirty
    ITYPE_t ndirty
    WORD_t* acc         # scratch as long as bits, for _first_fit_or


cdef inline void _cs_add(ColorSet* s, ITYPE_t c) noexcept nogil:
    cdef ITYPE_t w = c >> 6
    if s.bits[w] == 0:
        s.dirty[s.ndirty] = w
        s.ndirty += 1
    s.bits[w] |= (<WORD_t>1) << (c & 63)


cdef inline void _cs_or(ColorSet* s, const WORD_t* src, ITYPE_t nwords) noexcept nogil:
    cdef ITYPE_t i
    for i in range(nwords):
        if src[i]:
            if s.bits[i] == 0:
                s.dirty[s.ndirty] = i
                s.ndirty += 1
            s.bits[i] |= src[i]


cdef inline void _cs_clear(ColorSet* s) noexcept nogil:
    cdef ITYPE_t k
    for k in range(s.ndirty):
        s.bits[s.dirty[k]] = 0
    s.ndirty = 0


# -- per-heavy-vertex tables, growing with the number of colors ---------------

cdef struct Tables:
    ITYPE_t count       # heavy rows or vertices
    ITYPE_t words       # words per bit set: the tables hold colors < 64 * words
    ITYPE_t max_words
    WORD_t* a           # count x words
    WORD_t* b           # count x words, or NULL
    ITYPE_t* sa         # count x words: skip pointers over the full words of a
    ITYPE_t* sb         # the same for b, or NULL
    char* rep           # count x (64 * words): edge id or row offset + 1 (0: none), or NULL
    int rep_bytes       # bytes per entry of rep: 2 (uint16) or 4 (int32)

# Skip pointers: in every row, ``skip[k] == k`` while word k is not full;
# a full word points further right (a disjoint-set forest over the words,
# with path compression), so the first word at or after k that is not full
# is found in near-constant time however many full words lie between.


cdef ITYPE_t* _new_skips(ITYPE_t* old, ITYPE_t count, ITYPE_t ow, ITYPE_t nw) noexcept nogil:
    """Skip pointers for rows of nw words, the first ow of each copied from ``old``."""
    cdef ITYPE_t* new = <ITYPE_t*> malloc(count * nw * sizeof(ITYPE_t))
    cdef ITYPE_t r, k
    if new != NULL:
        for r in range(count):
            if ow:
                memcpy(new + r * nw, old + r * ow, ow * sizeof(ITYPE_t))
            for k in range(ow, nw):
                new[r * nw + k] = k
    free(old)
    return new


cdef int _tables_init(Tables* t, ITYPE_t count, ITYPE_t max_words, bint with_b,
                      int rep_bytes) noexcept nogil:
    """rep_bytes: 0 (no rep table), 2 or 4."""
    cdef bint with_rep = rep_bytes != 0
    t.count = count
    t.rep_bytes = rep_bytes
    t.words = 1 if max_words > 1 else max_words
    t.max_words = max_words
    t.a = NULL
    t.b = NULL
    t.sa = NULL
    t.sb = NULL
    t.rep = NULL
    if count == 0:
        return 0
    t.a = <WORD_t*> symasd_big_calloc(count * t.words, sizeof(WORD_t))
    t.sa = _new_skips(NULL, count, 0, t.words)
    if with_b:
        t.b = <WORD_t*> symasd_big_calloc(count * t.words, sizeof(WORD_t))
        t.sb = _new_skips(NULL, count, 0, t.words)
    if with_rep:
        t.rep = <char*> symasd_big_calloc(count * t.words * 64, rep_bytes)
    if (t.a == NULL or t.sa == NULL or (with_b and (t.b == NULL or t.sb == NULL))
            or (with_rep and t.rep == NULL)):
        return -1
    return 0


cdef void _tables_free(Tables* t) noexcept nogil:
    free(t.a)
    free(t.b)
    free(t.sa)
    free(t.sb)
    free(t.rep)
    t.a = NULL
    t.b = NULL
    t.sa = NULL
    t.sb = NULL
    t.rep = NULL


cdef WORD_t* _regrid_words(WORD_t* old, ITYPE_t count, ITYPE_t ow, ITYPE_t nw) noexcept nogil:
    cdef WORD_t* new = <WORD_t*> symasd_big_calloc(count * nw, sizeof(WORD_t))
    cdef ITYPE_t r
    if new != NULL:
        for r in range(count):
            memcpy(new + r * nw, old + r * ow, ow * sizeof(WORD_t))
    free(old)
    return new


cdef int _tables_fit(Tables* t, ITYPE_t color, ITYPE_t[::1] heavy,
                     ITYPE_t budget) noexcept nogil:
    """Grow the tables (doubling) so that they hold ``color``; -1 if out of memory.

    Rows are numbered by decreasing degree; when the grown tables would take
    more than ``budget`` bytes, the last rows are dropped and their vertices
    (rows) become light again (``heavy[v] = -1``): the kernels keep what the
    light path reads for every vertex, so this changes only the speed.
    """
    cdef ITYPE_t ow = t.words, nw, r, v, per_row, keep
    cdef char* rep
    cdef size_t rb = t.rep_bytes
    if t.count == 0 or color < 64 * ow:
        return 0
    nw = 2 * ow
    if nw <= (color >> 6):
        nw = (color >> 6) + 1
    if nw > t.max_words:
        nw = t.max_words
    per_row = nw * <ITYPE_t>(sizeof(WORD_t) + sizeof(ITYPE_t)) * (2 if t.b != NULL else 1)
    if t.rep != NULL:
        per_row += nw * 64 * <ITYPE_t>rb
    keep = budget // per_row
    if keep < t.count:
        for v in range(heavy.shape[0]):
            if heavy[v] >= keep:
                heavy[v] = -1
        t.count = keep
        if keep == 0:
            _tables_free(t)
            return 0
    t.a = _regrid_words(t.a, t.count, ow, nw)
    t.sa = _new_skips(t.sa, t.count, ow, nw)
    if t.a == NULL or t.sa == NULL:
        return -1
    if t.b != NULL:
        t.b = _regrid_words(t.b, t.count, ow, nw)
        t.sb = _new_skips(t.sb, t.count, ow, nw)
        if t.b == NULL or t.sb == NULL:
            return -1
    if t.rep != NULL:
        rep = <char*> symasd_big_calloc(t.count * nw * 64, rb)
        if rep == NULL:
            return -1
        for r in range(t.count):
            memcpy(rep + r * nw * 64 * rb, t.rep + r * ow * 64 * rb, ow * 64 * rb)
        free(t.rep)
        t.rep = rep
    t.words = nw
    return 0


cdef inline void _set_bit(WORD_t* row, ITYPE_t c) noexcept nogil:
    row[c >> 6] |= (<WORD_t>1) << (c & 63)


cdef inline ITYPE_t _rep_get(const Tables* t, ITYPE_t r, ITYPE_t c) noexcept nogil:
    """Entry (row r, color c) of table rep (0: none)."""
    cdef ITYPE_t i = r * t.words * 64 + c
    if t.rep_bytes == 2:
        return (<uint16_t*>t.rep)[i]
    return (<int32_t*>t.rep)[i]


cdef inline void _rep_set_once(Tables* t, ITYPE_t r, ITYPE_t c, ITYPE_t value) noexcept nogil:
    """Set entry (row r, color c) of table rep to value unless it is set."""
    cdef ITYPE_t i = r * t.words * 64 + c
    if t.rep_bytes == 2:
        if (<uint16_t*>t.rep)[i] == 0:
            (<uint16_t*>t.rep)[i] = <uint16_t>value
    elif (<int32_t*>t.rep)[i] == 0:
        (<int32_t*>t.rep)[i] = <int32_t>value


cdef inline void _table_add(Tables* t, bint in_b, ITYPE_t r, ITYPE_t c) noexcept nogil:
    """Add color c to row r of table a (or b), keeping its skip pointers."""
    cdef WORD_t* row = (t.b if in_b else t.a) + r * t.words
    cdef ITYPE_t k = c >> 6
    row[k] |= (<WORD_t>1) << (c & 63)
    if row[k] == FULL:
        ((t.sb if in_b else t.sa) + r * t.words)[k] = k + 1


cdef inline ITYPE_t _open_word(ITYPE_t* skip, ITYPE_t words, ITYPE_t k) noexcept nogil:
    """The first word at or after k that is not full (``words`` if none)."""
    cdef ITYPE_t root = k, nxt
    while root < words and skip[root] != root:
        root = skip[root]
    while k < root and k < words:
        nxt = skip[k]
        skip[k] = root
        k = nxt
    return root


# -- first fit against the forbidden set and some table rows, read lazily ------
#
# Forbidding every color of a heavy row (all the colors around a hub) would
# cost a word per 64 colors each time; instead the rows are listed (``lazy``:
# 2 * r for row r of table a, 2 * r + 1 for table b) and read only at the
# words where a free color may be: a word that is full in one listed row is
# skipped (skip pointers), and the others are read until a free color turns up.

#
# Read lazily, a word costs two passes over the list, each touching another row
# (a cache line apart); so once the first LAZY_WORDS words hold no free color
# and the list is long (a vertex among dense rows, colored late: a near-dense
# pattern), the rest of the listed rows is ORed row by row instead
# (``_first_fit_or``: contiguous words).

cdef enum:
    LAZY_WORDS = 2
    LAZY_ROWS = 8


cdef ITYPE_t _first_fit_or(const ColorSet* s, const Tables* t, const ITYPE_t* lazy,
                           ITYPE_t nlazy, ITYPE_t wi) noexcept nogil:
    """The first color not in ``s`` nor in the listed rows, at word ``wi`` or later."""
    cdef ITYPE_t nw = t.words - wi, k, j, r
    cdef WORD_t* acc = s.acc
    cdef const WORD_t* src
    memcpy(acc, s.bits + wi, nw * sizeof(WORD_t))
    for k in range(nlazy):
        r = lazy[k]
        src = (t.b if r & 1 else t.a) + (r >> 1) * t.words + wi
        for j in range(nw):
            acc[j] |= src[j]
    for j in range(nw):
        if acc[j] != FULL:
            return (wi + j) * 64 + sym_ctz64(~acc[j])
    # past the tables' words only s forbids (it always has a free color)
    wi = t.words
    while s.bits[wi] == FULL:
        wi += 1
    return wi * 64 + sym_ctz64(~s.bits[wi])


cdef inline ITYPE_t _first_fit_lazy(const ColorSet* s, const Tables* t, const ITYPE_t* lazy,
                                    ITYPE_t nlazy) noexcept nogil:
    cdef ITYPE_t wi = 0, k, r, j, tried = 0
    cdef bint moved
    cdef WORD_t word
    while True:
        if tried == LAZY_WORDS and nlazy > LAZY_ROWS and wi < t.words:
            return _first_fit_or(s, t, lazy, nlazy, wi)
        tried += 1
        moved = True
        while moved and wi < t.words:
            moved = False
            for k in range(nlazy):
                r = lazy[k]
                if r & 1:
                    j = _open_word(t.sb + (r >> 1) * t.words, t.words, wi)
                else:
                    j = _open_word(t.sa + (r >> 1) * t.words, t.words, wi)
                if j > wi:
                    wi = j
                    moved = True
        word = s.bits[wi]
        if wi < t.words:
            for k in range(nlazy):
                r = lazy[k]
                if r & 1:
                    word |= t.b[(r >> 1) * t.words + wi]
                else:
                    word |= t.a[(r >> 1) * t.words + wi]
        if word != FULL:
            return wi * 64 + sym_ctz64(~word)
        wi += 1


cdef inline ITYPE_t _defer(bint in_b, ITYPE_t r, ITYPE_t* lazy, ITYPE_t nlazy) noexcept nogil:
    """List row r of table a (b) for ``_first_fit_lazy``; returns the new list length."""
    lazy[nlazy] = 2 * r + (1 if in_b else 0)
    return nlazy + 1


def _color_set(ITYPE_t n):
    """Scratch of a ColorSet for colors 0 .. n (bits, dirty list, accumulator)."""
    cdef ITYPE_t words = (n >> 6) + 2
    return (np.zeros(words, dtype=np.uint64), np.empty(words, dtype=np.int64),
            np.empty(words, dtype=np.uint64))


def greedy(const ITYPE_t[::1] ptr1, const ITYPE_t[::1] idx1,
           const ITYPE_t[::1] ptr2, const ITYPE_t[::1] idx2,
           const ITYPE_t[::1] order, ITYPE_t[::1] heavy, ITYPE_t nheavy,
           ITYPE_t budget, ITYPE_t[::1] color):
    """First-fit coloring of the vertices in ``order``; returns the number of colors.

    (input)  ptr1, idx1, ptr2, idx2: two-level adjacency; for the column
             problem (ptr1, idx1) is the CSC and (ptr2, idx2) the CSR of the
             pattern, so that two columns conflict iff they share a row
             order: permutation of the n vertices
             heavy: for every hyperedge h (row of the column problem), -1, or
             its index in [0, nheavy), by decreasing size, if its members'
             colors are kept as a bit set instead of being scanned (any
             choice gives the same colors; the caller marks the large ones);
             rows dropped to keep the tables within ``budget`` bytes are set
             to -1 (see ``_tables_fit``)
    (output) color: length n, filled with -1; color[v] is the smallest color
             not used by a neighbour colored before v

    Returns -1 when the tables of heavy rows cannot be allocated.

    NumPy/Python equivalent::

        for v in order:
            used = {color[w] for h in idx1[ptr1[v]:ptr1[v+1]]
                    for w in idx2[ptr2[h]:ptr2[h+1]] if w != v and color[w] >= 0}
            color[v] = min(set(range(n + 1)) - used)
    """
    cdef ITYPE_t n = order.shape[0]
    cdef ITYPE_t i, v, a, b, h, hh, w, c, nlazy, ncolors = 0
    fb_arr, fd_arr, fa_arr = _color_set(n)
    cdef WORD_t[::1] fb = fb_arr
    cdef WORD_t[::1] fa = fa_arr
    cdef ITYPE_t[::1] fd = fd_arr
    cdef ITYPE_t[::1] lazy = np.empty(max(int(np.max(np.diff(ptr1), initial=0)), 1),
                                      dtype=np.int64)
    cdef ColorSet forb
    cdef Tables t
    cdef int status = 0
    forb.bits = &fb[0]
    forb.dirty = &fd[0]
    forb.ndirty = 0
    forb.acc = &fa[0]
    with nogil:
        status = _tables_init(&t, nheavy, (n >> 6) + 2, False, 0)
        for i in range(n):
            if status != 0:
                break
            v = order[i]
            nlazy = 0
            for a in range(ptr1[v], ptr1[v + 1]):
                h = idx1[a]
                hh = heavy[h]
                if hh >= 0:
                    nlazy = _defer(False, hh, &lazy[0], nlazy)
                    continue
                for b in range(ptr2[h], ptr2[h + 1]):
                    w = idx2[b]
                    if w != v and color[w] >= 0:
                        _cs_add(&forb, color[w])
            c = _first_fit_lazy(&forb, &t, &lazy[0], nlazy)
            _cs_clear(&forb)
            color[v] = c
            if c + 1 > ncolors:
                ncolors = c + 1
            if nlazy:
                status = _tables_fit(&t, c, heavy, budget)
                if status != 0:
                    break
                for a in range(ptr1[v], ptr1[v + 1]):
                    hh = heavy[idx1[a]]
                    if hh >= 0:
                        _table_add(&t, False, hh, c)
        _tables_free(&t)
    return -1 if status != 0 else ncolors


cdef inline ITYPE_t _forbid_neighbour_colors(ITYPE_t v, ITYPE_t w,
                                             const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx,
                                             const ITYPE_t[::1] color,
                                             const ITYPE_t[::1] heavy, const Tables* t,
                                             const WORD_t[::1] low, const BOOL_t[::1] high,
                                             ColorSet* forb, ITYPE_t[::1] treated,
                                             ITYPE_t* lazy, ITYPE_t nlazy) noexcept nogil:
    """Forbid for v the colors of all colored neighbours of w (those of a heavy
    w: its row of table a is listed in ``lazy``); returns the new list length."""
    cdef ITYPE_t b, x, hw = heavy[w]
    treated[w] = v
    if hw >= 0:
        return _defer(False, hw, lazy, nlazy)
    elif not high[w]:
        _cs_or(forb, &low[w], 1)
    else:
        for b in range(ptr[w], ptr[w + 1]):
            x = idx[b]
            if x != w and color[x] >= 0:
                _cs_add(forb, color[x])
    return nlazy


def star(const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx, const ITYPE_t[::1] mirror,
         const ITYPE_t[::1] order, ITYPE_t[::1] heavy,
         ITYPE_t nheavy, ITYPE_t budget, ITYPE_t[::1] color):
    """Greedy star coloring; returns the number of colors (-1: out of memory).

    (input)  ptr, idx: CSR adjacency of a symmetric pattern (diagonal skipped)
             mirror: CSR position of (j, i) for the position of (i, j)
             order: permutation of the n vertices
             heavy: -1, or the index in [0, nheavy), by decreasing degree, of
             a vertex whose neighbourhood is summarized in tables (module
             comment); any choice gives the same colors; budget: as for
             ``greedy``
    (output) color: length n, filled with -1

    The result is a distance-1 coloring in which every path on four vertices
    uses at least three colors.  Bookkeeping (Gebremedhin et al. keep a star
    id per edge and a hub per star; a star gets its hub while it is a single
    edge and keeps it, so one flag per CSR position says the same):
    ``far_hub[k]`` is 1 when the edge at position k of row w, to x = idx[k],
    lies in a 2-colored star centered at x.  When v is colored,
    ``first_*[c]`` remembers the first neighbour of v met with color c (and
    the position of that edge); meeting a second one makes v a hub, and every
    color adjacent to either spoke is then forbidden (``treated`` avoids
    treating a spoke twice for the same v).  A neighbour w that is a spoke of
    a star centered at x forbids color[x].
    """
    cdef ITYPE_t n = order.shape[0]
    cdef ITYPE_t nnz = idx.shape[0]
    cdef ITYPE_t i, v, a, b, w, x, c, cw, p, q, k, hv, hw, hx, nlazy, ncolors = 0
    cdef ITYPE_t max_degree = int(np.max(np.diff(ptr), initial=0))
    # at most two rows listed per neighbour (module comment above _first_fit_lazy)
    cdef ITYPE_t[::1] lazy = np.empty(2 * max(max_degree, 1) + 2, dtype=np.int64)
    # table rep holds offsets in a row (+ 1): 2 bytes each where they fit, the
    # largest of the tables (a hub per color), so half the memory it first touches
    cdef int rep_bytes = 2 if max_degree < 65535 else 4
    cdef ITYPE_t[::1] first_v = np.full(n + 1, -1, dtype=np.int64)
    cdef ITYPE_t[::1] first_w = np.zeros(n + 1, dtype=np.int64)
    cdef ITYPE_t[::1] first_a = np.zeros(n + 1, dtype=np.int64)
    cdef ITYPE_t[::1] treated = np.full(n + 1, -1, dtype=np.int64)
    cdef ITYPE_t[::1] nhubs = np.zeros(n + 1, dtype=np.int64)
    cdef BOOL_t[::1] far_hub = np.zeros(max(nnz, 1), dtype=np.uint8)
    # every vertex: the colors < 64 of its colored neighbours, and whether any
    # has a color >= 64 (then only a scan or the tables tell)
    cdef WORD_t[::1] low = np.zeros(n + 1, dtype=np.uint64)
    cdef BOOL_t[::1] high = np.zeros(n + 1, dtype=np.uint8)
    fb_arr, fd_arr, fa_arr = _color_set(n)
    cdef WORD_t[::1] fb = fb_arr
    cdef WORD_t[::1] fa = fa_arr
    cdef ITYPE_t[::1] fd = fd_arr
    cdef ColorSet forb
    cdef Tables t
    cdef int status = 0
    forb.bits = &fb[0]
    forb.dirty = &fd[0]
    forb.ndirty = 0
    forb.acc = &fa[0]
    with nogil:
        status = _tables_init(&t, nheavy, (n >> 6) + 2, True, rep_bytes)
        for i in range(n):
            if status != 0:
                break
            v = order[i]
            hv = heavy[v]
            nlazy = 0
            # distance-1 constraint
            for a in range(ptr[v], ptr[v + 1]):
                w = idx[a]
                if w != v and color[w] >= 0:
                    _cs_add(&forb, color[w])
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
                        nlazy = _forbid_neighbour_colors(v, q, ptr, idx, color, heavy, &t,
                                                         low, high, &forb, treated,
                                                         &lazy[0], nlazy)
                    nlazy = _forbid_neighbour_colors(v, w, ptr, idx, color, heavy, &t, low,
                                                     high, &forb, treated, &lazy[0], nlazy)
                else:
                    first_v[c] = v
                    first_w[c] = w
                    first_a[c] = a
                    hw = heavy[w]
                    if hw >= 0:
                        # the colors of the hubs that w is a spoke of
                        nlazy = _defer(True, hw, &lazy[0], nlazy)
                    elif nhubs[w]:
                        for b in range(ptr[w], ptr[w + 1]):
                            if far_hub[b]:
                                # w is a spoke of the star centered at idx[b]
                                _cs_add(&forb, color[idx[b]])
            c = _first_fit_lazy(&forb, &t, &lazy[0], nlazy)
            _cs_clear(&forb)
            color[v] = c
            if c + 1 > ncolors:
                ncolors = c + 1
            status = _tables_fit(&t, c, heavy, budget)
            if status != 0:
                break
            hv = heavy[v]
            # update the 2-colored stars with the edges from v
            for a in range(ptr[v], ptr[v + 1]):
                w = idx[a]
                if w == v or color[w] < 0:
                    continue
                cw = color[w]
                # a position k in w's row of an edge (w, x), x != v, color[x] == c
                k = -1
                hw = heavy[w]
                if hw >= 0:
                    k = _rep_get(&t, hw, c)
                    k = ptr[w] + k - 1 if k else -1
                elif c >= 64 or (low[w] >> c) & 1:
                    for b in range(ptr[w], ptr[w + 1]):
                        x = idx[b]
                        if x != v and x != w and color[x] == c:
                            k = b
                            break
                if k >= 0:
                    # v - w - x with color[v] == color[x]: w is the hub, x and v spokes
                    x = idx[k]
                    if not far_hub[mirror[k]]:
                        far_hub[mirror[k]] = 1
                        nhubs[x] += 1
                        hx = heavy[x]
                        if hx >= 0:
                            _table_add(&t, True, hx, cw)
                    far_hub[a] = 1
                    nhubs[v] += 1
                    if hv >= 0:
                        _table_add(&t, True, hv, cw)
                else:
                    p = first_v[cw]
                    q = first_w[cw]
                    if p == v and q != w:
                        # w and q are two neighbours of v with the same color: v is the
                        # hub, q and w spokes
                        k = mirror[first_a[cw]]
                        if not far_hub[k]:
                            far_hub[k] = 1
                            nhubs[q] += 1
                            hx = heavy[q]
                            if hx >= 0:
                                _table_add(&t, True, hx, c)
                        far_hub[mirror[a]] = 1
                        nhubs[w] += 1
                        if hw >= 0:
                            _table_add(&t, True, hw, c)
                # w's tables learn the edge (w, v), after the search above, which
                # looks for w's edges to other vertices (one pass: w's entries are
                # read while in cache; no other neighbour's search reads them)
                if c < 64:
                    low[w] |= (<WORD_t>1) << c
                else:
                    high[w] = 1
                cw = color[w]
                if cw < 64:
                    low[v] |= (<WORD_t>1) << cw
                else:
                    high[v] = 1
                if hw >= 0:
                    _table_add(&t, False, hw, c)
                    _rep_set_once(&t, hw, c, mirror[a] - ptr[w] + 1)
                if hv >= 0:
                    _table_add(&t, False, hv, cw)
                    _rep_set_once(&t, hv, cw, a - ptr[v] + 1)
        _tables_free(&t)
    return -1 if status != 0 else ncolors


# ``acyclic`` prefetches what it reads of neighbours further than this from the
# vertex it colors (a random pattern's are cache misses, a band's are not)
cdef enum:
    PREFETCH_GAP = 64
    PREFETCH_AHEAD = 2   # neighbours ahead whose rows are asked for

cdef inline bint _far(ITYPE_t v, ITYPE_t w) noexcept nogil:
    """Whether w is further than PREFETCH_GAP from v."""
    return <uint64_t>(w - v + PREFETCH_GAP) > <uint64_t>(2 * PREFETCH_GAP)


# The disjoint-set forest of ``acyclic``'s 2-colored trees, one record per edge:
# a tree visit reads the parent and the visit marks of the root together (one
# cache line; with separate arrays the finds of a large pattern cost a miss in
# each), int32 while every vertex and edge id fits, int64 otherwise.
cdef struct Tree32:
    int32_t parent
    int32_t visit_v     # the last vertex v that met this tree (when it is a root), or -1
    int32_t visit_w     # the neighbour of v through which it met it
    int32_t rank

cdef struct Tree64:
    int64_t parent
    int64_t visit_v
    int64_t visit_w
    int64_t rank

ctypedef fused TreeT:
    Tree32
    Tree64


cdef inline ITYPE_t _find(ITYPE_t e, TreeT* tr) noexcept nogil:
    cdef ITYPE_t root = e, nxt
    while tr[root].parent != root:
        root = tr[root].parent
    while tr[e].parent != root:
        nxt = tr[e].parent
        tr[e].parent = root
        e = nxt
    return root


cdef inline void _union(ITYPE_t r1, ITYPE_t r2, TreeT* tr) noexcept nogil:
    """Union of two distinct roots, by rank."""
    if tr[r1].rank < tr[r2].rank:
        tr[r1].parent = r2
    elif tr[r1].rank > tr[r2].rank:
        tr[r2].parent = r1
    else:
        tr[r2].parent = r1
        tr[r1].rank += 1


cdef inline void _visit_tree(ITYPE_t v, ITYPE_t w, ITYPE_t e, ITYPE_t cx, TreeT* tr,
                             ITYPE_t[::1] forbidden) noexcept nogil:
    """v meets the tree holding edge e = (w, x), color[x] == cx, through w."""
    cdef ITYPE_t r = _find(e, tr)
    if tr[r].visit_v != v:
        tr[r].visit_v = v
        tr[r].visit_w = w
    elif tr[r].visit_w != w:
        forbidden[cx] = v


def acyclic(const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx, const ITYPE_t[::1] edge,
            ITYPE_t nedges, const ITYPE_t[::1] order, ITYPE_t[::1] heavy,
            ITYPE_t nheavy, ITYPE_t budget, ITYPE_t[::1] color, bint wide=False):
    """Greedy acyclic coloring; returns the number of colors (-1: out of memory).

    (input)  ptr, idx, order, heavy, budget: as for ``star``; edge: the edge id of
             every off-diagonal position (module comment)
             wide: int64 tree records even where int32 ones fit (the same colors;
             for the tests)
    (output) color: length n, filled with -1

    The result is a distance-1 coloring in which every cycle uses at least
    three colors, i.e. every 2-colored subgraph is a forest.  The edges of
    each 2-colored tree form one disjoint set (``Tree.parent``/``rank``, union
    by rank with path compression).  Before coloring v, a color c = color[x] is
    forbidden when v is adjacent to two different vertices of the tree that
    holds an edge (w, x) colored {color[w], c} (``Tree.visit_*`` of its root
    record the first vertex of each tree met from v): coloring v with c would close a cycle.
    After coloring v, the edges from v join the trees of their colors
    (``first_*``: edges from v to the same color form one star) and trees
    linked through v are merged.  All edges from w to vertices of one color
    are in one tree, so a heavy w needs one edge per color.
    """
    cdef ITYPE_t n = order.shape[0]
    cdef ITYPE_t ne = max(nedges, 1)
    # (the vertex ids, the edge ids and -1 must fit)
    if not wide and max(n + 1, ne) < 2**31 - 1:
        return _acyclic_in(<Tree32*>malloc(ne * sizeof(Tree32)), ne, ptr, idx, edge, order,
                           heavy, nheavy, budget, color)
    return _acyclic_in(<Tree64*>malloc(ne * sizeof(Tree64)), ne, ptr, idx, edge, order,
                       heavy, nheavy, budget, color)


cdef ITYPE_t _acyclic_in(TreeT* tr, ITYPE_t ne, const ITYPE_t[::1] ptr,
                         const ITYPE_t[::1] idx, const ITYPE_t[::1] edge,
                         const ITYPE_t[::1] order, ITYPE_t[::1] heavy, ITYPE_t nheavy,
                         ITYPE_t budget, ITYPE_t[::1] color) except? -2:
    """:func:`_acyclic_run` in the forest ``tr`` of ``ne`` records (malloc'd; NULL:
    no memory, -1), set up here and freed here."""
    cdef ITYPE_t e
    if tr == NULL:
        return -1
    try:
        with nogil:
            for e in range(ne):
                tr[e].parent = e
                tr[e].visit_v = -1
                tr[e].visit_w = 0
                tr[e].rank = 0
        return _acyclic_run(ptr, idx, edge, order, heavy, nheavy, budget, color, tr)
    finally:
        free(tr)


cdef ITYPE_t _acyclic_run(const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx,
                          const ITYPE_t[::1] edge, const ITYPE_t[::1] order,
                          ITYPE_t[::1] heavy, ITYPE_t nheavy, ITYPE_t budget,
                          ITYPE_t[::1] color, TreeT* tr) except? -2:
    """The loop of :func:`acyclic` over its forest ``tr`` (one record per edge, each
    its own root, unvisited). An exception (no memory for the scratch arrays)
    propagates to the caller, which frees ``tr``."""
    cdef ITYPE_t n = order.shape[0]
    cdef ITYPE_t i, v, a, b, w, x, c, cx, r, r2, hv, hw, wi, ncolors = 0
    cdef bint pf
    cdef ITYPE_t[::1] forbidden = np.full(n + 1, -1, dtype=np.int64)
    cdef ITYPE_t[::1] first_v = np.full(n + 1, -1, dtype=np.int64)
    cdef ITYPE_t[::1] first_e = np.zeros(n + 1, dtype=np.int64)
    # as in ``star``: the colors < 64 of every vertex's colored neighbours
    cdef WORD_t[::1] low = np.zeros(n + 1, dtype=np.uint64)
    cdef Tables t
    cdef int status = 0
    cdef WORD_t bits
    cdef WORD_t* row
    cdef int* rep
    with nogil:
        status = _tables_init(&t, nheavy, (n >> 6) + 2, False, 4)
        for i in range(n):
            if status != 0:
                break
            v = order[i]
            hv = heavy[v]
            # prefetch for a vertex of few neighbours some of which are far (its row
            # is sorted: the first or the last); a hub's neighbours' rows are
            # read in order anyway
            pf = (hv < 0 and ptr[v + 1] > ptr[v]
                  and (_far(v, idx[ptr[v]]) or _far(v, idx[ptr[v + 1] - 1])))
            for a in range(ptr[v], ptr[v + 1]):
                w = idx[a]
                if pf and _far(v, w):
                    sym_prefetch(&ptr[w])
                if w != v and color[w] >= 0:
                    forbidden[color[w]] = v
            for a in range(ptr[v], ptr[v + 1]):
                # the row of a distant neighbour, PREFETCH_AHEAD neighbours ahead
                # (its row pointer was asked for in the loop above)
                if pf and a + PREFETCH_AHEAD < ptr[v + 1]:
                    w = idx[a + PREFETCH_AHEAD]
                    if _far(v, w):
                        sym_prefetch(&idx[ptr[w]])
                        sym_prefetch(&edge[ptr[w]])
                w = idx[a]
                if w == v or color[w] < 0:
                    continue
                hw = heavy[w]
                if hw >= 0:
                    # one edge per color of w's neighbours: they all lie in one tree
                    row = t.a + hw * t.words
                    rep = <int*>t.rep + hw * t.words * 64
                    for wi in range(t.words):
                        bits = row[wi]
                        while bits:
                            cx = wi * 64 + sym_ctz64(bits)
                            bits &= bits - 1
                            if forbidden[cx] != v:
                                _visit_tree(v, w, rep[cx] - 1, cx, tr, forbidden)
                    continue
                # the colors and tree records of a distant w's row are scattered: ask
                # for all of them before reading any (their cache misses then overlap)
                if pf and _far(v, w):
                    for b in range(ptr[w], ptr[w + 1]):
                        sym_prefetch(&color[idx[b]])
                        if edge[b] >= 0:        # (-1 on the diagonal)
                            sym_prefetch(&tr[edge[b]])
                for b in range(ptr[w], ptr[w + 1]):
                    x = idx[b]
                    if x == w or x == v or color[x] < 0:
                        continue
                    if forbidden[color[x]] != v:
                        # prevent a cycle through the tree holding (w, x)
                        _visit_tree(v, w, edge[b], color[x], tr, forbidden)
            c = 0
            while forbidden[c] == v:
                c += 1
            color[v] = c
            if c + 1 > ncolors:
                ncolors = c + 1
            status = _tables_fit(&t, c, heavy, budget)
            if status != 0:
                break
            hv = heavy[v]
            # grow stars centered at v
            for a in range(ptr[v], ptr[v + 1]):
                w = idx[a]
                if w == v or color[w] < 0:
                    continue
                if first_v[color[w]] != v:
                    first_v[color[w]] = v
                    first_e[color[w]] = edge[a]
                else:
                    r = _find(edge[a], tr)
                    r2 = _find(first_e[color[w]], tr)
                    if r != r2:
                        _union(r, r2, tr)
            # merge the trees linked through v
            for a in range(ptr[v], ptr[v + 1]):
                w = idx[a]
                if w == v or color[w] < 0:
                    continue
                hw = heavy[w]
                if hw >= 0:
                    x = _rep_get(&t, hw, c) - 1
                    if x >= 0:
                        r = _find(edge[a], tr)
                        r2 = _find(x, tr)
                        if r != r2:
                            _union(r, r2, tr)
                    continue
                if c < 64 and not (low[w] >> c) & 1:
                    continue
                for b in range(ptr[w], ptr[w + 1]):
                    x = idx[b]
                    if x == w or x == v or color[x] != c:
                        continue
                    r = _find(edge[a], tr)
                    r2 = _find(edge[b], tr)
                    if r != r2:
                        _union(r, r2, tr)
            # the tables of heavy vertices learn the edges from v
            for a in range(ptr[v], ptr[v + 1]):
                w = idx[a]
                if w == v or color[w] < 0:
                    continue
                if c < 64:
                    low[w] |= (<WORD_t>1) << c
                if color[w] < 64:
                    low[v] |= (<WORD_t>1) << color[w]
                hw = heavy[w]
                if hw >= 0:
                    _set_bit(t.a + hw * t.words, c)
                    _rep_set_once(&t, hw, c, edge[a] + 1)
                if hv >= 0:
                    x = color[w]
                    _set_bit(t.a + hv * t.words, x)
                    _rep_set_once(&t, hv, x, edge[a] + 1)
        _tables_free(&t)
    return -1 if status != 0 else ncolors


def bicoloring_sides(const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx,
                     const ITYPE_t[::1] csc_ptr, const ITYPE_t[::1] csc_idx,
                     const ITYPE_t[::1] csr_to_csc,
                     const ITYPE_t[::1] col_color, const ITYPE_t[::1] row_color,
                     ITYPE_t[::1] counts, BOOL_t[::1] col_needed, BOOL_t[::1] row_needed,
                     BOOL_t[::1] col_ok, BOOL_t[::1] row_ok_csc, BOOL_t[::1] from_col,
                     BOOL_t[::1] used_col, BOOL_t[::1] used_row):
    """Choose, for every nonzero, the compressed product it is read from.

    (input)  ptr, idx / csc_ptr, csc_idx: the m x n pattern by rows / by columns,
             csr_to_csc: the CSC position of every CSR position; col_color (n),
             row_color (m): augmented-graph colors of the columns and the rows
    (scratch) counts: length n_colors, zeros; col_ok, row_ok_csc: length nnz
    (output) col_needed, row_needed: length n_colors, zeros on entry; flags of
             the colors used as column (JVP) and row (VJP) seeds
             from_col[k]: 1 if nonzero k (CSR order) is read from the column product
             used_col (n), used_row (m): zeros on entry; flags of the columns and
             rows whose product some nonzero is read from

    Nonzero (i, j) can be read from the column product when j's color is unique
    in row i, from the row product when i's color is unique in column j.
    Nonzeros readable from one side only fix that side first; the others reuse
    a color already needed where possible (column side first) and otherwise
    open a column color, in CSR order.  Returns 0, or -1 if some nonzero is
    readable from neither side (not a star bicoloring).
    """
    cdef ITYPE_t m = ptr.shape[0] - 1, i, k, cc, rc
    cdef bint cok, rok
    cdef int bad = 0
    with nogil:
        _unique_color_flags(ptr, idx, col_color, counts, col_ok)
        _unique_color_flags(csc_ptr, csc_idx, row_color, counts, row_ok_csc)
        for i in range(m):
            rc = row_color[i]
            for k in range(ptr[i], ptr[i + 1]):
                cok = col_ok[k]
                rok = row_ok_csc[csr_to_csc[k]]
                if cok and not rok:
                    from_col[k] = 1
                    col_needed[col_color[idx[k]]] = 1
                elif rok and not cok:
                    from_col[k] = 0
                    row_needed[rc] = 1
                elif not cok:
                    from_col[k] = 0
                    bad = 1
                else:
                    from_col[k] = 2     # either side: chosen below
        for i in range(m):
            rc = row_color[i]
            for k in range(ptr[i], ptr[i + 1]):
                if from_col[k] == 2:
                    cc = col_color[idx[k]]
                    if col_needed[cc]:
                        from_col[k] = 1
                    elif row_needed[rc]:
                        from_col[k] = 0
                    else:
                        from_col[k] = 1
                        col_needed[cc] = 1
                if from_col[k]:
                    used_col[idx[k]] = 1
                else:
                    used_row[i] = 1
    return -1 if bad else 0


def invert_permutation(const ITYPE_t[::1] perm, ITYPE_t[::1] out):
    """``out[perm[k]] = k`` for every k (one pass, no index array); ValueError when
    an entry of ``perm`` is outside ``[0, len(out))``."""
    cdef ITYPE_t k, p, n = out.shape[0]
    cdef bint bad = False
    if perm.shape[0] != n:
        raise ValueError("perm and out must have the same length")
    with nogil:
        for k in range(n):
            p = perm[k]
            if p < 0 or p >= n:
                bad = True
                break
            out[p] = k
    if bad:
        raise ValueError("perm is not a permutation of 0 .. len(out) - 1")


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
