# Sparsity detection by index-set propagation over the node arrays.
#
# Every node whose set is needed gets the sorted set of inputs it depends on
# through nonzero first derivatives. A set is one memory block: a small header
# (reference count, size, serial number, flags) followed by its sorted
# elements. Sets are reference counted and shared (a unary op, or a union
# whose result equals one side, reuses an existing set) and released when the
# last node that reads them is done, so memory follows the live frontier of
# the graph, not its size.
#
# Blocks of at most SMALL_WORDS words come from a slab allocator (bump
# allocation in large chunks, one free list per block size), larger ones
# from malloc: almost every set in practice is small, and malloc/free per
# node used to be a third of the kernel's time.
#
# Large work arrays (per-node arrays, pair buffers, slab chunks) are asked for
# transparent huge pages where Linux offers them: first-touch page faults of
# 4 KiB pages were a large share of the time of big patterns.
#
# A backward pass first marks which sets are read at all (``uses``), so no
# set is built that nothing reads: for a Hessian this skips, for example, the
# whole summation tree of an objective ``sum(terms)``, whose first-order sets
# grow to ``n`` elements but enter no product.
include "_types.pxi"
include "_opcodes.pxi"

import numpy as np

from libc.stdint cimport int32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memmove, memset


cdef extern from "pattern_memory.h":
    int _ws_init "symasd_ws_init" ()
    void *_ws_alloc "symasd_ws_alloc" (size_t nbytes) noexcept nogil
    void _ws_free "symasd_ws_free" (void *p) noexcept nogil
    size_t _ws_kept_bytes "symasd_ws_kept_bytes" () noexcept nogil
    void _ws_release "symasd_ws_release" () noexcept nogil


cdef extern from "bitset.h":
    int _popcount64 "symasd_popcount64" (uint64_t w) noexcept nogil
    int _ctz64 "symasd_ctz64" (uint64_t w) noexcept nogil


if _ws_init() != 0:
    raise MemoryError("symasd._pattern: cannot allocate the work-memory lock")


def kept_work_bytes() -> int:
    """Bytes of work memory the pattern kernels keep for their next call."""
    return _ws_kept_bytes()


def release_work_memory() -> None:
    """Free the work memory the pattern kernels keep for their next call."""
    _ws_release()


cdef void *_big_grow(void *p, size_t old_bytes, size_t new_bytes) noexcept nogil:
    """Like realloc (growing only), through the work-memory pool; NULL (p kept)
    on failure."""
    cdef void *q = _ws_alloc(new_bytes)
    if q == NULL:
        return NULL
    if old_bytes:
        memcpy(q, p, old_bytes)
    _ws_free(p)
    return q


cdef enum:
    HDR = 3             # header words of a set block
    SMALL_WORDS = 64    # blocks up to this many words come from the slab
    MERGE_STACK = 61    # SMALL_WORDS - HDR: unions up to this size merge on the stack
    BIG_PRODUCT = 16    # products with at least this many pairs are deduplicated exactly
    LOSSY_BITS = 14     # direct-mapped cache of recent small products
    RECENT_BITS = 12    # direct-mapped cache of recently recorded pairs


cdef struct SetHdr:
    int32_t refs        # at most n_nodes + 3 holders (checked on entry)
    int32_t flags       # bit 0: S x S already emitted (Hessian)
    ITYPE_t size
    ITYPE_t serial      # unique per set content ever built (product dedup key)


cdef struct Slab:
    char *cur
    char *end
    void *free_list[SMALL_WORDS + 1]
    void **chunks
    Py_ssize_t n_chunks
    Py_ssize_t cap_chunks
    size_t next_chunk
    ITYPE_t next_serial


cdef inline ITYPE_t *_elems(SetHdr *s) noexcept nogil:
    return <ITYPE_t *>(s + 1)


cdef void _slab_init(Slab *sl) noexcept nogil:
    memset(sl, 0, sizeof(Slab))
    sl.next_chunk = 1 << 16


cdef void _slab_free_all(Slab *sl) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(sl.n_chunks):
        _ws_free(sl.chunks[i])
    free(sl.chunks)
    sl.chunks = NULL
    sl.n_chunks = 0


cdef int _slab_new_chunk(Slab *sl, size_t need) noexcept nogil:
    cdef size_t size = sl.next_chunk
    cdef void **grown
    cdef void *p
    if size < need:
        size = need
    if sl.n_chunks == sl.cap_chunks:
        grown = <void **>realloc(sl.chunks, (2 * sl.cap_chunks + 16) * sizeof(void *))
        if grown == NULL:
            return -1
        sl.chunks = grown
        sl.cap_chunks = 2 * sl.cap_chunks + 16
    p = _ws_alloc(size)
    if p == NULL:
        return -1
    sl.chunks[sl.n_chunks] = p
    sl.n_chunks += 1
    sl.cur = <char *>p
    sl.end = sl.cur + size
    if sl.next_chunk < (<size_t>1 << 24):
        sl.next_chunk *= 2
    return 0


cdef inline ITYPE_t _size_class(ITYPE_t words) noexcept nogil:
    # a few block sizes rather than one per word count, so that blocks freed
    # by one stage of a computation are reused by the next (sets grow by an
    # element or two per stage)
    if words <= 8:
        return (words + 1) & ~1
    if words <= 16:
        return (words + 3) & ~3
    if words <= 32:
        return (words + 7) & ~7
    return (words + 15) & ~15


cdef inline void *_alloc_words(Slab *sl, ITYPE_t words) noexcept nogil:
    cdef void *p
    cdef size_t nbytes
    if words <= SMALL_WORDS:
        words = _size_class(words)
        nbytes = <size_t>words * sizeof(ITYPE_t)
        p = sl.free_list[words]
        if p != NULL:
            sl.free_list[words] = (<void **>p)[0]
            return p
        if <size_t>(sl.end - sl.cur) < nbytes:
            if _slab_new_chunk(sl, nbytes) != 0:
                return NULL
        p = sl.cur
        sl.cur += nbytes
        return p
    return malloc(<size_t>words * sizeof(ITYPE_t))


cdef inline void _free_words(Slab *sl, void *p, ITYPE_t words) noexcept nogil:
    if words <= SMALL_WORDS:
        words = _size_class(words)
        (<void **>p)[0] = sl.free_list[words]
        sl.free_list[words] = p
    else:
        free(p)


cdef inline void _stamp(Slab *sl, SetHdr *s, ITYPE_t size) noexcept nogil:
    s.refs = 1
    s.size = size
    s.serial = sl.next_serial
    s.flags = 0
    sl.next_serial += 1


cdef inline SetHdr *_set_alloc(Slab *sl, ITYPE_t size) noexcept nogil:
    cdef SetHdr *s = <SetHdr *>_alloc_words(sl, HDR + size)
    if s != NULL:
        _stamp(sl, s, size)
    return s


cdef inline void _release(Slab *sl, SetHdr *s) noexcept nogil:
    if s == NULL:
        return
    s.refs -= 1
    if s.refs == 0:
        _free_words(sl, s, HDR + s.size)


cdef inline ITYPE_t _merge(const ITYPE_t *a, ITYPE_t na, const ITYPE_t *b, ITYPE_t nb,
                           ITYPE_t *out) noexcept nogil:
    """Sorted union of two sorted arrays into ``out``; returns its length."""
    cdef ITYPE_t i = 0, j = 0, k = 0, x, y
    while i < na and j < nb:
        x = a[i]
        y = b[j]
        if x < y:
            out[k] = x
            i += 1
        elif x > y:
            out[k] = y
            j += 1
        else:
            out[k] = x
            i += 1
            j += 1
        k += 1
    while i < na:
        out[k] = a[i]
        i += 1
        k += 1
    while j < nb:
        out[k] = b[j]
        j += 1
        k += 1
    return k


cdef SetHdr *_union(Slab *sl, SetHdr *A, SetHdr *B, bint *oom) noexcept nogil:
    """A new reference to the union of ``A`` and ``B`` (NULL: the empty set).

    When one side contains the other, that side is shared instead of copied.
    Sets ``oom[0]`` when out of memory.
    """
    cdef ITYPE_t tmp[MERGE_STACK]
    cdef ITYPE_t na, nb, total, k
    cdef SetHdr *R
    cdef SetHdr *R2
    if A == NULL:
        if B != NULL:
            B.refs += 1
        return B
    if B == NULL or A == B:
        A.refs += 1
        return A
    na = A.size
    nb = B.size
    total = na + nb
    if total <= MERGE_STACK:
        k = _merge(_elems(A), na, _elems(B), nb, tmp)
        if k == na:
            A.refs += 1
            return A
        if k == nb:
            B.refs += 1
            return B
        R = _set_alloc(sl, k)
        if R == NULL:
            oom[0] = True
            return NULL
        memcpy(_elems(R), tmp, k * sizeof(ITYPE_t))
        return R
    R = <SetHdr *>malloc((HDR + total) * sizeof(ITYPE_t))
    if R == NULL:
        oom[0] = True
        return NULL
    k = _merge(_elems(A), na, _elems(B), nb, _elems(R))
    if k == na or k == nb:
        free(R)
        R = A if k == na else B
        R.refs += 1
        return R
    if HDR + k <= SMALL_WORDS:
        R2 = _set_alloc(sl, k)
        if R2 == NULL:
            free(R)
            oom[0] = True
            return NULL
        memcpy(_elems(R2), _elems(R), k * sizeof(ITYPE_t))
        free(R)
        return R2
    if k < total:
        R2 = <SetHdr *>realloc(R, (HDR + k) * sizeof(ITYPE_t))
        if R2 != NULL:
            R = R2
    _stamp(sl, R, k)
    return R


cdef inline SetHdr *_leaf(Slab *sl, double index, bint *oom) noexcept nogil:
    cdef SetHdr *s = _set_alloc(sl, 1)
    if s == NULL:
        oom[0] = True
        return NULL
    _elems(s)[0] = <ITYPE_t>index
    return s


cdef inline bint _is_leaf(uint8_t o) noexcept nogil:
    return o == OP_VAR or o == OP_CONST or o == OP_PARAM


cdef SetHdr *_node_set(Slab *sl, uint8_t o, const ITYPE_t *args, const uint8_t[:, ::1] d1,
                       SetHdr **sets, bint *oom) noexcept nogil:
    """Union of the sets of the arguments with a nonzero first derivative."""
    cdef SetHdr *acc = NULL
    cdef SetHdr *nxt
    cdef int i
    for i in range(3):
        if args[i] >= 0 and d1[o, i]:
            nxt = _union(sl, acc, sets[args[i]], oom)
            _release(sl, acc)
            if oom[0]:
                return NULL
            acc = nxt
    return acc


cdef void _release_all(Slab *sl, SetHdr **sets, ITYPE_t n) noexcept nogil:
    cdef ITYPE_t k
    if sets == NULL:
        return
    for k in range(n):
        if sets[k] != NULL:
            _release(sl, sets[k])
            sets[k] = NULL
    _slab_free_all(sl)


cdef int _check_size(ITYPE_t n) except -1:
    if n > 2147483000:
        raise ValueError(f"graphs of more than 2^31 nodes are not supported (got {n})")
    return 0


# --- Jacobian ---------------------------------------------------------------


def jacobian_pattern(const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
                     const ITYPE_t[::1] a2, const double[::1] c,
                     const uint8_t[:, ::1] d1, const ITYPE_t[::1] outputs):
    """Index sets of the outputs: the rows of the Jacobian sparsity pattern.

    (input)  op, a0, a1, a2, c: node arrays; VAR leaves hold their input index in c
             d1: (n_codes, 3) uint8, 1 where the first derivative w.r.t. an
                 argument may be nonzero
             outputs: node ids of the outputs
    Returns ``(indptr, indices)``, int64 CSR arrays with sorted rows.

    Equivalent: ``S[k] = {c[k]}`` for VAR nodes, ``S[k] = union(S[arg_i] for i
    with d1[op[k], i])`` otherwise; row ``r`` is ``S[outputs[r]]``.
    """
    cdef ITYPE_t n = op.shape[0], m = outputs.shape[0]
    _check_size(n)
    cdef ITYPE_t *uses = <ITYPE_t *>_ws_alloc(max(n, 1) * sizeof(ITYPE_t))
    cdef SetHdr **sets = <SetHdr **>_ws_alloc(max(n, 1) * sizeof(SetHdr *))
    cdef Slab sl
    _slab_init(&sl)
    if uses == NULL or sets == NULL:
        _ws_free(uses)
        _ws_free(sets)
        raise MemoryError("not enough memory for the index sets of the Jacobian pattern")
    indptr = np.zeros(m + 1, dtype=np.int64)
    cdef ITYPE_t[::1] ptr = indptr
    cdef ITYPE_t k, r, a, total = 0
    cdef ITYPE_t args[3]
    cdef uint8_t o
    cdef int i
    cdef bint oom = False
    cdef SetHdr *s
    try:
        with nogil:
            # uses[k]: how many times the set of node k is read (0: never built)
            memset(uses, 0, n * sizeof(ITYPE_t))
            memset(sets, 0, n * sizeof(SetHdr *))
            for r in range(m):
                uses[outputs[r]] += 1
            for k in range(n - 1, -1, -1):
                if uses[k] > 0:
                    o = op[k]
                    if a0[k] >= 0 and d1[o, 0]:
                        uses[a0[k]] += 1
                    if a1[k] >= 0 and d1[o, 1]:
                        uses[a1[k]] += 1
                    if a2[k] >= 0 and d1[o, 2]:
                        uses[a2[k]] += 1
            for k in range(n):
                if uses[k] == 0:
                    continue
                o = op[k]
                if o == OP_VAR:
                    sets[k] = _leaf(&sl, c[k], &oom)
                elif o != OP_CONST and o != OP_PARAM:
                    args[0] = a0[k]
                    args[1] = a1[k]
                    args[2] = a2[k]
                    sets[k] = _node_set(&sl, o, args, d1, sets, &oom)
                    for i in range(3):
                        a = args[i]
                        if a >= 0 and d1[o, i]:
                            uses[a] -= 1
                            if uses[a] == 0:
                                _release(&sl, sets[a])
                                sets[a] = NULL
                if oom:
                    break
            if not oom:
                for r in range(m):
                    s = sets[outputs[r]]
                    total += s.size if s != NULL else 0
                    ptr[r + 1] = total
        if oom:
            raise MemoryError("not enough memory for the index sets of the Jacobian pattern")
        indices = np.empty(total, dtype=np.int64)
        _copy_rows(sets, outputs, ptr, indices)
        return indptr, indices
    finally:
        _release_all(&sl, sets, n)
        _ws_free(uses)
        _ws_free(sets)


cdef void _copy_rows(SetHdr **sets, const ITYPE_t[::1] outputs, const ITYPE_t[::1] ptr,
                     ITYPE_t[::1] indices) noexcept nogil:
    cdef ITYPE_t r
    cdef SetHdr *s
    for r in range(outputs.shape[0]):
        s = sets[outputs[r]]
        if s != NULL and s.size > 0:
            memcpy(&indices[ptr[r]], _elems(s), s.size * sizeof(ITYPE_t))


# --- Hessian --------------------------------------------------------------

cdef struct PairBuffer:
    ITYPE_t *rows
    ITYPE_t *cols
    ITYPE_t size
    ITYPE_t cap
    # exact record of the (serial_a, serial_b) products with many pairs already
    # emitted: open addressing on two arrays, -1 empty
    ITYPE_t *seen_a
    ITYPE_t *seen_b
    ITYPE_t seen_cap
    ITYPE_t seen_size
    # direct-mapped cache of recent small products (a lossy filter: a miss only
    # emits some duplicate pairs, which the final CSR build removes)
    ITYPE_t *lossy_a
    ITYPE_t *lossy_b
    # direct-mapped cache of the pairs recorded lately (lossy too): overlapping
    # terms (a band, a hub that every term reads) emit the same pairs from
    # neighbouring products, and a pair found here is not recorded again, so
    # the buffer holds about the distinct pairs (BDQRTIC: a quarter of them),
    # not every emission; its memory, first touched, was most of the time
    ITYPE_t *recent_r
    ITYPE_t *recent_c
    # the dense mode: once the pairs would take more memory than an n x n bit
    # matrix (both triangles, `words` 64-bit words a row), they go into one
    # instead (dense and near-dense Hessians: the pairs of a sum of squares of
    # many residuals, each of all inputs, are n^2 per residual)
    uint64_t *dense
    uint64_t *tmp       # one row: the bits of a set
    ITYPE_t n
    ITYPE_t words
    ITYPE_t dense_after  # the pair count above which the bit matrix is used (-1: never)
    ITYPE_t max_pairs    # the pair count the buffer may not exceed (memory available)


cdef int _go_dense(PairBuffer *buf) noexcept nogil:
    """Switch to the bit matrix: allocate it and move the pairs recorded so far."""
    cdef ITYPE_t i, r, cc
    buf.dense = <uint64_t *>_ws_alloc(buf.n * buf.words * sizeof(uint64_t))
    buf.tmp = <uint64_t *>malloc(max(buf.words, 1) * sizeof(uint64_t))
    if buf.dense == NULL or buf.tmp == NULL:
        return -1
    memset(buf.dense, 0, buf.n * buf.words * sizeof(uint64_t))
    memset(buf.tmp, 0, max(buf.words, 1) * sizeof(uint64_t))
    for i in range(buf.size):
        r = buf.rows[i]
        cc = buf.cols[i]
        buf.dense[r * buf.words + (cc >> 6)] |= (<uint64_t>1) << (cc & 63)
        buf.dense[cc * buf.words + (r >> 6)] |= (<uint64_t>1) << (r & 63)
    buf.size = 0
    return 0


cdef void _dense_rows(PairBuffer *buf, const ITYPE_t *rows, ITYPE_t nr, const ITYPE_t *cols,
                      ITYPE_t nc) noexcept nogil:
    """Set ``rows x cols`` in the bit matrix: the bits of ``cols`` ORed into each row."""
    cdef ITYPE_t i, w, words = buf.words
    cdef uint64_t *row
    cdef uint64_t *tmp = buf.tmp
    for i in range(nc):
        tmp[cols[i] >> 6] |= (<uint64_t>1) << (cols[i] & 63)
    for i in range(nr):
        row = buf.dense + rows[i] * words
        for w in range(words):
            row[w] |= tmp[w]
    for i in range(nc):
        tmp[cols[i] >> 6] = 0


cdef int _buf_reserve(PairBuffer *buf, ITYPE_t extra) noexcept nogil:
    cdef ITYPE_t cap = buf.cap
    cdef ITYPE_t *nr
    cdef ITYPE_t *nc
    if buf.size + extra <= cap:
        return 0
    if buf.max_pairs >= 0 and buf.size + extra > buf.max_pairs:
        return -2  # more than the memory available
    while buf.size + extra > cap:
        cap *= 2
    nr = <ITYPE_t *>_big_grow(buf.rows, buf.size * sizeof(ITYPE_t), cap * sizeof(ITYPE_t))
    if nr == NULL:
        return -1
    buf.rows = nr
    nc = <ITYPE_t *>_big_grow(buf.cols, buf.size * sizeof(ITYPE_t), cap * sizeof(ITYPE_t))
    if nc == NULL:
        return -1
    buf.cols = nc
    buf.cap = cap
    return 0


cdef inline ITYPE_t _hash_pair(ITYPE_t a, ITYPE_t b, ITYPE_t mask) noexcept nogil:
    cdef unsigned long long h = (<unsigned long long>a * 0x9E3779B97F4A7C15ULL) ^ (
        <unsigned long long>b * 0xC2B2AE3D27D4EB4FULL)
    h ^= h >> 29
    return <ITYPE_t>(h & <unsigned long long>mask)


cdef int _seen_before(PairBuffer *buf, ITYPE_t a, ITYPE_t b) noexcept nogil:
    """1 if the product ``(a, b)`` was recorded already, else record it and
    return 0 (-1: no memory)."""
    cdef ITYPE_t s, i, old_cap, mask
    cdef ITYPE_t *old_a
    cdef ITYPE_t *old_b
    if 2 * (buf.seen_size + 1) > buf.seen_cap:
        old_a = buf.seen_a
        old_b = buf.seen_b
        old_cap = buf.seen_cap
        buf.seen_a = <ITYPE_t *>malloc(2 * old_cap * sizeof(ITYPE_t))
        buf.seen_b = <ITYPE_t *>malloc(2 * old_cap * sizeof(ITYPE_t))
        if buf.seen_a == NULL or buf.seen_b == NULL:
            free(buf.seen_a)
            free(buf.seen_b)
            buf.seen_a = old_a
            buf.seen_b = old_b
            return -1
        buf.seen_cap = 2 * old_cap
        mask = buf.seen_cap - 1
        memset(buf.seen_a, 0xFF, buf.seen_cap * sizeof(ITYPE_t))
        for i in range(old_cap):
            if old_a[i] >= 0:
                s = _hash_pair(old_a[i], old_b[i], mask)
                while buf.seen_a[s] >= 0:
                    s = (s + 1) & mask
                buf.seen_a[s] = old_a[i]
                buf.seen_b[s] = old_b[i]
        free(old_a)
        free(old_b)
    mask = buf.seen_cap - 1
    s = _hash_pair(a, b, mask)
    while buf.seen_a[s] >= 0:
        if buf.seen_a[s] == a and buf.seen_b[s] == b:
            return 1
        s = (s + 1) & mask
    buf.seen_a[s] = a
    buf.seen_b[s] = b
    buf.seen_size += 1
    return 0


cdef inline ITYPE_t _record(PairBuffer *buf, ITYPE_t w, ITYPE_t r, ITYPE_t c) noexcept nogil:
    """Record the pair ``(r, c)`` at position ``w`` unless it was recorded lately;
    returns the next free position."""
    cdef unsigned long long h = ((<unsigned long long>r * 0x9E3779B97F4A7C15ULL)
                                 ^ <unsigned long long>c) * 0xC2B2AE3D27D4EB4FULL
    cdef ITYPE_t s = <ITYPE_t>(h >> (64 - RECENT_BITS))
    if buf.recent_r[s] == r and buf.recent_c[s] == c:
        return w
    buf.recent_r[s] = r
    buf.recent_c[s] = c
    buf.rows[w] = r
    buf.cols[w] = c
    return w + 1


cdef int _emit_product(PairBuffer *buf, SetHdr *A, SetHdr *B) noexcept nogil:
    """Record the pairs ``A x B`` (upper triangle; both triangles in the bit matrix);
    each set pair at most once for large products. Returns -1 when out of memory,
    -2 past ``max_pairs``."""
    if A == NULL or B == NULL:
        return 0
    cdef ITYPE_t na = A.size, nb = B.size, npairs, sa, sb, h, i, j, w, x
    cdef const ITYPE_t *ea = _elems(A)
    cdef const ITYPE_t *eb = _elems(B)
    cdef int seen
    if A == B:
        if A.flags & 1:
            return 0
        A.flags |= 1
        npairs = na * (na + 1) // 2
    else:
        npairs = na * nb
        sa = A.serial
        sb = B.serial
        if sa > sb:
            sa, sb = sb, sa
        if npairs >= BIG_PRODUCT:
            seen = _seen_before(buf, sa, sb)
            if seen != 0:
                return 0 if seen == 1 else -1
        else:
            h = _hash_pair(sa, sb, (1 << LOSSY_BITS) - 1)
            if buf.lossy_a[h] == sa and buf.lossy_b[h] == sb:
                return 0
            buf.lossy_a[h] = sa
            buf.lossy_b[h] = sb
    if buf.dense == NULL and buf.dense_after >= 0 and buf.size + npairs > buf.dense_after:
        if _go_dense(buf) != 0:
            return -1
    if buf.dense != NULL:
        _dense_rows(buf, ea, na, eb, nb)
        if A != B:
            _dense_rows(buf, eb, nb, ea, na)
        return 0
    w = _buf_reserve(buf, npairs)
    if w != 0:
        return w
    w = buf.size
    if A == B:
        for i in range(na):
            x = ea[i]
            for j in range(i, na):
                w = _record(buf, w, x, ea[j])
    else:
        for i in range(na):
            x = ea[i]
            for j in range(nb):
                if x <= eb[j]:
                    w = _record(buf, w, x, eb[j])
                else:
                    w = _record(buf, w, eb[j], x)
    buf.size = w
    return 0


cdef inline int _product_slots(uint8_t o, const ITYPE_t *args, const uint8_t[:, ::1] d2,
                               const uint8_t[:, ::1] cross) noexcept nogil:
    """Bit i set when argument i enters a second-order product of the node."""
    cdef int bits = 0, i
    for i in range(3):
        if args[i] >= 0 and d2[o, i]:
            bits |= 1 << i
    if args[0] >= 0 and args[1] >= 0 and cross[o, 0]:
        bits |= 3
    if args[0] >= 0 and args[2] >= 0 and cross[o, 1]:
        bits |= 5
    if args[1] >= 0 and args[2] >= 0 and cross[o, 2]:
        bits |= 6
    return bits


cdef inline void _sift_down(ITYPE_t *v, ITYPE_t root, ITYPE_t n) noexcept nogil:
    cdef ITYPE_t child, x = v[root]
    while True:
        child = 2 * root + 1
        if child >= n:
            break
        if child + 1 < n and v[child + 1] > v[child]:
            child += 1
        if v[child] <= x:
            break
        v[root] = v[child]
        root = child
    v[root] = x


cdef ITYPE_t _sort_unique(ITYPE_t *v, ITYPE_t n, uint64_t *bits) noexcept nogil:
    """Sort ``v[:n]`` and drop repeats in place; returns the count kept. ``bits``: a
    zeroed bit row over the values, left zeroed.

    Short rows by insertion; a row that is long for the words its values span
    (a dense row: the hub of an arrow, one entry per term that reads it, most
    of them repeated) through the bit row, in O(n + span / 64); the others by
    heapsort. No comparison callback (qsort's was a fifth of the Hessian pattern
    of BDQRTIC, whose last row has 400,000 entries before the repeats go)."""
    cdef ITYPE_t i, j, x, lo, hi, w, k, t
    cdef uint64_t word
    if n <= 24:
        for i in range(1, n):
            x = v[i]
            j = i - 1
            while j >= 0 and v[j] > x:
                v[j + 1] = v[j]
                j -= 1
            v[j + 1] = x
    else:
        lo = v[0]
        hi = v[0]
        for i in range(1, n):
            if v[i] < lo:
                lo = v[i]
            elif v[i] > hi:
                hi = v[i]
        lo >>= 6
        hi >>= 6
        if hi - lo + 1 <= 4 * n:
            for i in range(n):
                bits[v[i] >> 6] |= (<uint64_t>1) << (v[i] & 63)
            k = 0
            for w in range(lo, hi + 1):
                word = bits[w]
                bits[w] = 0
                while word:
                    v[k] = w * 64 + _ctz64(word)
                    k += 1
                    word &= word - 1
            return k
        for i in range(n // 2 - 1, -1, -1):
            _sift_down(v, i, n)
        for i in range(n - 1, 0, -1):
            t = v[0]
            v[0] = v[i]
            v[i] = t
            _sift_down(v, 0, i)
    k = 0
    for i in range(n):
        if k == 0 or v[i] != v[k - 1]:
            v[k] = v[i]
            k += 1
    return k


def hessian_pattern(const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
                    const ITYPE_t[::1] a2, const double[::1] c,
                    const uint8_t[:, ::1] d1, const uint8_t[:, ::1] d2,
                    const uint8_t[:, ::1] cross, ITYPE_t output, ITYPE_t n_inputs,
                    ITYPE_t max_pairs=-1, ITYPE_t dense_max_bytes=1 << 28):
    """Hessian sparsity pattern of the scalar node ``output``.

    (input)  node arrays, the classification tables of ``symasd.ops`` and the
             output node id; ``max_pairs`` the most pairs the buffer may hold
             (-1: no limit), ``dense_max_bytes`` the largest bit matrix to use
    Returns ``(indptr, indices)``: a symmetric ``n_inputs x n_inputs`` CSR
    pattern with sorted rows. Raises MemoryError, saying which, when memory runs
    out or the pairs would pass ``max_pairs``.

    A node whose first derivative towards the output is not identically zero
    ("live") contributes ``S_i x S_i`` for every argument ``i`` with a nonzero
    second derivative and ``S_i x S_j`` for every argument pair with a nonzero
    cross derivative, where ``S`` are first-order index sets. The pairs go into
    a buffer (less those a cache of recent pairs has seen: neighbouring
    products repeat most of each other's), or, once they would take more memory
    than an ``n_inputs^2`` bit matrix of at most ``dense_max_bytes``, into that
    matrix. The buffer becomes CSR by counting; each row is then sorted and its
    repeats dropped (``_sort_unique``).
    """
    cdef ITYPE_t n = op.shape[0]
    cdef int err = 0
    _check_size(n)
    cdef ITYPE_t k, a
    cdef ITYPE_t args[3]
    cdef int i, bits, reads
    cdef uint8_t o
    cdef bint oom = False
    cdef ITYPE_t *uses = <ITYPE_t *>_ws_alloc(max(n, 1) * sizeof(ITYPE_t))
    cdef SetHdr **sets = <SetHdr **>_ws_alloc(max(n, 1) * sizeof(SetHdr *))
    cdef uint8_t *live = <uint8_t *>_ws_alloc(max(n, 1))
    cdef Slab sl
    _slab_init(&sl)
    cdef PairBuffer buf
    buf.cap = 1024
    buf.size = 0
    buf.rows = <ITYPE_t *>malloc(buf.cap * sizeof(ITYPE_t))
    buf.cols = <ITYPE_t *>malloc(buf.cap * sizeof(ITYPE_t))
    buf.seen_cap = 1024
    buf.seen_size = 0
    buf.seen_a = <ITYPE_t *>malloc(buf.seen_cap * sizeof(ITYPE_t))
    buf.seen_b = <ITYPE_t *>malloc(buf.seen_cap * sizeof(ITYPE_t))
    buf.lossy_a = <ITYPE_t *>malloc((1 << LOSSY_BITS) * sizeof(ITYPE_t))
    buf.lossy_b = <ITYPE_t *>malloc((1 << LOSSY_BITS) * sizeof(ITYPE_t))
    buf.recent_r = <ITYPE_t *>malloc((1 << RECENT_BITS) * sizeof(ITYPE_t))
    buf.recent_c = <ITYPE_t *>malloc((1 << RECENT_BITS) * sizeof(ITYPE_t))
    buf.dense = NULL
    buf.tmp = NULL
    buf.n = n_inputs
    buf.words = (n_inputs + 63) // 64
    # 16 bytes a pair against n * words * 8 bytes of bit matrix
    buf.dense_after = (buf.n * buf.words * 8) // 16 if (
        buf.n * buf.words * 8 <= dense_max_bytes) else -1
    buf.max_pairs = max_pairs
    cdef ITYPE_t *counts = NULL
    cdef ITYPE_t *fill = NULL
    cdef uint64_t *rowbits = NULL
    try:
        if (uses == NULL or sets == NULL or live == NULL or buf.rows == NULL
                or buf.cols == NULL or buf.seen_a == NULL or buf.seen_b == NULL
                or buf.lossy_a == NULL or buf.lossy_b == NULL or buf.recent_r == NULL
                or buf.recent_c == NULL):
            raise MemoryError("not enough memory for the Hessian pattern")
        with nogil:
            memset(buf.seen_a, 0xFF, buf.seen_cap * sizeof(ITYPE_t))
            memset(buf.lossy_a, 0xFF, (1 << LOSSY_BITS) * sizeof(ITYPE_t))
            memset(buf.lossy_b, 0xFF, (1 << LOSSY_BITS) * sizeof(ITYPE_t))
            memset(buf.recent_r, 0xFF, (1 << RECENT_BITS) * sizeof(ITYPE_t))
            memset(sets, 0, n * sizeof(SetHdr *))
            memset(live, 0, n)
            memset(uses, 0, n * sizeof(ITYPE_t))
            # live: the first derivative of the output towards the node may be nonzero
            live[output] = 1
            for k in range(n - 1, -1, -1):
                if live[k]:
                    o = op[k]
                    if a0[k] >= 0 and d1[o, 0]:
                        live[a0[k]] = 1
                    if a1[k] >= 0 and d1[o, 1]:
                        live[a1[k]] = 1
                    if a2[k] >= 0 and d1[o, 2]:
                        live[a2[k]] = 1
            # uses[k]: reads of the set of k, by products at live nodes and by the
            # sets of nodes that are read themselves (0: the set is never built)
            for k in range(n - 1, -1, -1):
                o = op[k]
                if _is_leaf(o):
                    continue
                args[0] = a0[k]
                args[1] = a1[k]
                args[2] = a2[k]
                bits = _product_slots(o, args, d2, cross) if live[k] else 0
                for i in range(3):
                    if args[i] >= 0 and (((bits >> i) & 1) or (uses[k] > 0 and d1[o, i])):
                        uses[args[i]] += 1
            for k in range(n):
                o = op[k]
                if _is_leaf(o):
                    if o == OP_VAR and uses[k] > 0:
                        sets[k] = _leaf(&sl, c[k], &oom)
                        if oom:
                            break
                    continue
                args[0] = a0[k]
                args[1] = a1[k]
                args[2] = a2[k]
                bits = 0
                if live[k]:
                    bits = _product_slots(o, args, d2, cross)
                    if bits:
                        for i in range(3):
                            if args[i] >= 0 and d2[o, i] and err == 0:
                                err = _emit_product(&buf, sets[args[i]], sets[args[i]])
                        if args[0] >= 0 and args[1] >= 0 and cross[o, 0] and err == 0:
                            err = _emit_product(&buf, sets[args[0]], sets[args[1]])
                        if args[0] >= 0 and args[2] >= 0 and cross[o, 1] and err == 0:
                            err = _emit_product(&buf, sets[args[0]], sets[args[2]])
                        if args[1] >= 0 and args[2] >= 0 and cross[o, 2] and err == 0:
                            err = _emit_product(&buf, sets[args[1]], sets[args[2]])
                        if err != 0:
                            oom = True
                            break
                reads = uses[k] > 0
                if reads:
                    sets[k] = _node_set(&sl, o, args, d1, sets, &oom)
                    if oom:
                        break
                for i in range(3):
                    a = args[i]
                    if a >= 0 and (((bits >> i) & 1) or (reads and d1[o, i])):
                        uses[a] -= 1
                        if uses[a] == 0:
                            _release(&sl, sets[a])
                            sets[a] = NULL
        if err == -2:
            raise MemoryError(f"the Hessian pattern's pairs would need more than "
                              f"{16 * max_pairs / 2**30:.1f} GB, more than this machine has "
                              "available")
        if oom:
            raise MemoryError("not enough memory for the Hessian pattern")
        _release_all(&sl, sets, n)
        free(buf.seen_a)
        free(buf.seen_b)
        buf.seen_a = NULL
        buf.seen_b = NULL
        indptr = np.zeros(n_inputs + 1, dtype=np.int64)
        if buf.dense != NULL:
            return indptr, _dense_csr(&buf, indptr)
        # symmetric CSR from the upper-triangle pairs: count, fill, sort, dedupe
        counts = <ITYPE_t *>_ws_alloc((n_inputs + 1) * sizeof(ITYPE_t))
        fill = <ITYPE_t *>_ws_alloc(max(2 * buf.size, 1) * sizeof(ITYPE_t))
        rowbits = <uint64_t *>calloc(max(buf.words, 1), sizeof(uint64_t))
        if counts == NULL or fill == NULL or rowbits == NULL:
            raise MemoryError("not enough memory for the Hessian pattern")
        indices = _symmetric_csr(&buf, n_inputs, counts, fill, rowbits, indptr)
        return indptr, indices
    finally:
        _release_all(&sl, sets, n)
        _ws_free(uses)
        _ws_free(sets)
        _ws_free(live)
        _ws_free(buf.rows)
        _ws_free(buf.cols)
        free(buf.seen_a)
        free(buf.seen_b)
        free(buf.lossy_a)
        free(buf.lossy_b)
        free(buf.recent_r)
        free(buf.recent_c)
        _ws_free(buf.dense)
        free(buf.tmp)
        _ws_free(counts)
        _ws_free(fill)
        free(rowbits)


cdef object _dense_csr(PairBuffer *buf, ITYPE_t[::1] indptr):
    """The CSR pattern of the bit matrix (rows are sorted by construction)."""
    cdef ITYPE_t r, w, k, total = 0, words = buf.words
    cdef uint64_t bits
    cdef const uint64_t *row
    with nogil:
        for r in range(buf.n):
            row = buf.dense + r * words
            for w in range(words):
                total += _popcount64(row[w])
            indptr[r + 1] = total
    indices = np.empty(total, dtype=np.int64)
    cdef ITYPE_t[::1] out = indices
    with nogil:
        k = 0
        for r in range(buf.n):
            row = buf.dense + r * words
            for w in range(words):
                bits = row[w]
                while bits:
                    out[k] = w * 64 + _ctz64(bits)
                    k += 1
                    bits &= bits - 1
    return indices


cdef object _symmetric_csr(PairBuffer *buf, ITYPE_t n, ITYPE_t *counts, ITYPE_t *fill,
                           uint64_t *bits, ITYPE_t[::1] indptr):
    cdef ITYPE_t i, r, cc, start, stop, w, k
    with nogil:
        memset(counts, 0, (n + 1) * sizeof(ITYPE_t))
        for i in range(buf.size):
            counts[buf.rows[i] + 1] += 1
            if buf.rows[i] != buf.cols[i]:
                counts[buf.cols[i] + 1] += 1
        for i in range(n):
            counts[i + 1] += counts[i]
        for i in range(buf.size):
            r = buf.rows[i]
            cc = buf.cols[i]
            fill[counts[r]] = cc
            counts[r] += 1
            if r != cc:
                fill[counts[cc]] = r
                counts[cc] += 1
        # counts[r] is now the end of row r; sort each row, drop its repeats and
        # move it down to the end of the rows before
        w = 0
        start = 0
        for r in range(n):
            stop = counts[r]
            k = _sort_unique(&fill[start], stop - start, bits)
            if w != start:
                memmove(&fill[w], &fill[start], k * sizeof(ITYPE_t))
            w += k
            indptr[r + 1] = w
            start = stop
    indices = np.empty(w, dtype=np.int64)
    cdef ITYPE_t[::1] out = indices
    if w > 0:
        memcpy(&out[0], fill, w * sizeof(ITYPE_t))
    return indices
