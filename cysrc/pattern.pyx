# Sparsity detection by index-set propagation over the node arrays.
#
# Every node gets the sorted set of inputs it depends on through nonzero first
# derivatives. Sets are reference counted and shared (a unary op reuses its
# argument's set), and released when the last node that reads them is done,
# so memory follows the live frontier of the graph, not its size.
include "_types.pxi"
include "_opcodes.pxi"

import numpy as np

from libc.stdlib cimport free, malloc, qsort, realloc


cdef struct IdxSet:
    ITYPE_t *data
    ITYPE_t size
    ITYPE_t refs
    ITYPE_t serial


cdef struct SetPool:
    IdxSet *sets
    ITYPE_t cap
    ITYPE_t *free_slots
    ITYPE_t n_free
    ITYPE_t n_used
    ITYPE_t next_serial


cdef int _pool_init(SetPool *pool, ITYPE_t cap) noexcept nogil:
    pool.cap = cap
    pool.sets = <IdxSet *>malloc(cap * sizeof(IdxSet))
    pool.free_slots = <ITYPE_t *>malloc(cap * sizeof(ITYPE_t))
    pool.n_free = 0
    pool.n_used = 0
    pool.next_serial = 0
    return 0 if (pool.sets != NULL and pool.free_slots != NULL) else -1


cdef void _pool_free(SetPool *pool) noexcept nogil:
    cdef ITYPE_t s
    if pool.sets != NULL:
        for s in range(pool.n_used):
            if pool.sets[s].refs > 0:
                free(pool.sets[s].data)
    free(pool.sets)
    free(pool.free_slots)


cdef ITYPE_t _new_set(SetPool *pool, ITYPE_t *data, ITYPE_t size) noexcept nogil:
    """Take ownership of ``data``; return the slot, or -1 when out of memory."""
    cdef ITYPE_t s
    cdef IdxSet *grown
    cdef ITYPE_t *grown_free
    if pool.n_free > 0:
        pool.n_free -= 1
        s = pool.free_slots[pool.n_free]
    else:
        if pool.n_used == pool.cap:
            grown = <IdxSet *>realloc(pool.sets, 2 * pool.cap * sizeof(IdxSet))
            if grown == NULL:
                return -1
            pool.sets = grown
            grown_free = <ITYPE_t *>realloc(pool.free_slots, 2 * pool.cap * sizeof(ITYPE_t))
            if grown_free == NULL:
                return -1
            pool.free_slots = grown_free
            pool.cap *= 2
        s = pool.n_used
        pool.n_used += 1
    pool.sets[s].data = data
    pool.sets[s].size = size
    pool.sets[s].refs = 1
    pool.sets[s].serial = pool.next_serial
    pool.next_serial += 1
    return s


cdef inline void _release(SetPool *pool, ITYPE_t s) noexcept nogil:
    if s < 0:
        return
    pool.sets[s].refs -= 1
    if pool.sets[s].refs == 0:
        free(pool.sets[s].data)
        pool.sets[s].data = NULL
        pool.free_slots[pool.n_free] = s
        pool.n_free += 1


cdef ITYPE_t _union(SetPool *pool, ITYPE_t s, ITYPE_t t) noexcept nogil:
    """Slot of the sorted union of sets ``s`` and ``t`` (a new set, or a shared one
    when one contains the other's elements trivially: equal slots or an empty side).
    Returns -2 when out of memory."""
    if s < 0:
        if t >= 0:
            pool.sets[t].refs += 1
        return t
    if t < 0 or s == t:
        pool.sets[s].refs += 1
        return s
    cdef IdxSet *A = &pool.sets[s]
    cdef IdxSet *B = &pool.sets[t]
    cdef ITYPE_t *out = <ITYPE_t *>malloc((A.size + B.size) * sizeof(ITYPE_t))
    if out == NULL:
        return -2
    cdef ITYPE_t i = 0, j = 0, k = 0
    while i < A.size and j < B.size:
        if A.data[i] < B.data[j]:
            out[k] = A.data[i]
            i += 1
        elif A.data[i] > B.data[j]:
            out[k] = B.data[j]
            j += 1
        else:
            out[k] = A.data[i]
            i += 1
            j += 1
        k += 1
    while i < A.size:
        out[k] = A.data[i]
        i += 1
        k += 1
    while j < B.size:
        out[k] = B.data[j]
        j += 1
        k += 1
    cdef ITYPE_t r = _new_set(pool, out, k)
    if r < 0:
        free(out)
        return -2
    return r


cdef ITYPE_t _node_set(SetPool *pool, ITYPE_t k, uint8_t o, const ITYPE_t *args,
                       const uint8_t[:, ::1] d1, ITYPE_t *node_set) noexcept nogil:
    """Set slot of non-leaf node ``k`` from its arguments' sets (-2: out of memory)."""
    cdef ITYPE_t acc = -1, nxt, i, s
    for i in range(3):
        if args[i] >= 0 and d1[o, i]:
            s = node_set[args[i]]
            nxt = _union(pool, acc, s)
            if nxt == -2:
                _release(pool, acc)
                return -2
            _release(pool, acc)
            acc = nxt
    return acc


cdef int _count_uses(const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
                     const ITYPE_t[::1] a2, const uint8_t[:, ::1] d1,
                     const ITYPE_t[::1] outputs, ITYPE_t *uses) noexcept nogil:
    cdef ITYPE_t k, n = op.shape[0]
    for k in range(n):
        uses[k] = 0
    for k in range(n):
        if a0[k] >= 0 and d1[op[k], 0]:
            uses[a0[k]] += 1
        if a1[k] >= 0 and d1[op[k], 1]:
            uses[a1[k]] += 1
        if a2[k] >= 0 and d1[op[k], 2]:
            uses[a2[k]] += 1
    for k in range(outputs.shape[0]):
        uses[outputs[k]] += 1
    return 0


cdef inline void _done_with_args(SetPool *pool, uint8_t o, const ITYPE_t *args,
                                 const uint8_t[:, ::1] d1, ITYPE_t *uses,
                                 ITYPE_t *node_set) noexcept nogil:
    cdef ITYPE_t i, a
    for i in range(3):
        a = args[i]
        if a >= 0 and d1[o, i]:
            uses[a] -= 1
            if uses[a] == 0:
                _release(pool, node_set[a])
                node_set[a] = -1


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
    cdef ITYPE_t *uses = <ITYPE_t *>malloc(max(n, 1) * sizeof(ITYPE_t))
    cdef ITYPE_t *node_set = <ITYPE_t *>malloc(max(n, 1) * sizeof(ITYPE_t))
    cdef SetPool pool
    if uses == NULL or node_set == NULL or _pool_init(&pool, 1024) != 0:
        free(uses)
        free(node_set)
        raise MemoryError("not enough memory for the index sets of the Jacobian pattern")
    indptr = np.zeros(m + 1, dtype=np.int64)
    cdef ITYPE_t[::1] ptr = indptr
    cdef ITYPE_t k, r, s, total = 0
    cdef ITYPE_t args[3]
    cdef uint8_t o
    cdef ITYPE_t *leaf
    cdef bint oom = False
    try:
        with nogil:
            _count_uses(op, a0, a1, a2, d1, outputs, uses)
            for k in range(n):
                o = op[k]
                node_set[k] = -1
                if o == OP_VAR:
                    if uses[k] > 0:
                        leaf = <ITYPE_t *>malloc(sizeof(ITYPE_t))
                        if leaf == NULL:
                            oom = True
                            break
                        leaf[0] = <ITYPE_t>c[k]
                        node_set[k] = _new_set(&pool, leaf, 1)
                        if node_set[k] < 0:
                            free(leaf)
                            oom = True
                            break
                elif o != OP_CONST and o != OP_PARAM:
                    args[0] = a0[k]
                    args[1] = a1[k]
                    args[2] = a2[k]
                    if uses[k] > 0:
                        node_set[k] = _node_set(&pool, k, o, args, d1, node_set)
                        if node_set[k] == -2:
                            node_set[k] = -1
                            oom = True
                            break
                    _done_with_args(&pool, o, args, d1, uses, node_set)
            if not oom:
                for r in range(m):
                    s = node_set[outputs[r]]
                    total += pool.sets[s].size if s >= 0 else 0
                    ptr[r + 1] = total
        if oom:
            raise MemoryError("not enough memory for the index sets of the Jacobian pattern")
        indices = np.empty(total, dtype=np.int64)
        _copy_rows(&pool, node_set, outputs, ptr, indices)
        return indptr, indices
    finally:
        _pool_free(&pool)
        free(uses)
        free(node_set)


cdef void _copy_rows(SetPool *pool, ITYPE_t *node_set, const ITYPE_t[::1] outputs,
                     const ITYPE_t[::1] ptr, ITYPE_t[::1] indices) noexcept nogil:
    cdef ITYPE_t r, j, s
    for r in range(outputs.shape[0]):
        s = node_set[outputs[r]]
        if s >= 0:
            for j in range(pool.sets[s].size):
                indices[ptr[r] + j] = pool.sets[s].data[j]


# --- Hessian --------------------------------------------------------------

cdef struct PairBuffer:
    ITYPE_t *rows
    ITYPE_t *cols
    ITYPE_t size
    ITYPE_t cap
    # (serial_a, serial_b) products already emitted, open addressing, -1 empty
    ITYPE_t *seen
    ITYPE_t seen_cap
    ITYPE_t seen_size


cdef int _buf_push(PairBuffer *buf, ITYPE_t r, ITYPE_t c) noexcept nogil:
    cdef ITYPE_t *nr
    cdef ITYPE_t *nc
    if buf.size == buf.cap:
        nr = <ITYPE_t *>realloc(buf.rows, 2 * buf.cap * sizeof(ITYPE_t))
        if nr == NULL:
            return -1
        buf.rows = nr
        nc = <ITYPE_t *>realloc(buf.cols, 2 * buf.cap * sizeof(ITYPE_t))
        if nc == NULL:
            return -1
        buf.cols = nc
        buf.cap *= 2
    if r <= c:
        buf.rows[buf.size] = r
        buf.cols[buf.size] = c
    else:
        buf.rows[buf.size] = c
        buf.cols[buf.size] = r
    buf.size += 1
    return 0


cdef inline ITYPE_t _hash_pair(ITYPE_t key, ITYPE_t cap) noexcept nogil:
    cdef unsigned long long h = <unsigned long long>key * 0x9E3779B97F4A7C15ULL
    return <ITYPE_t>((h >> 17) & <unsigned long long>(cap - 1))


cdef int _seen_before(PairBuffer *buf, ITYPE_t key) noexcept nogil:
    """1 if ``key`` was recorded already, else record it and return 0 (-1: no memory)."""
    cdef ITYPE_t s, i, old_cap, k
    cdef ITYPE_t *old
    if 2 * (buf.seen_size + 1) > buf.seen_cap:
        old = buf.seen
        old_cap = buf.seen_cap
        buf.seen_cap *= 2
        buf.seen = <ITYPE_t *>malloc(buf.seen_cap * sizeof(ITYPE_t))
        if buf.seen == NULL:
            buf.seen = old
            buf.seen_cap = old_cap
            return -1
        for i in range(buf.seen_cap):
            buf.seen[i] = -1
        for i in range(old_cap):
            k = old[i]
            if k >= 0:
                s = _hash_pair(k, buf.seen_cap)
                while buf.seen[s] >= 0:
                    s = (s + 1) & (buf.seen_cap - 1)
                buf.seen[s] = k
        free(old)
    s = _hash_pair(key, buf.seen_cap)
    while buf.seen[s] >= 0:
        if buf.seen[s] == key:
            return 1
        s = (s + 1) & (buf.seen_cap - 1)
    buf.seen[s] = key
    buf.seen_size += 1
    return 0


cdef int _emit_product(SetPool *pool, PairBuffer *buf, ITYPE_t s, ITYPE_t t) noexcept nogil:
    """Record the pairs ``S_s x S_t`` (upper triangle); each set pair only once."""
    if s < 0 or t < 0:
        return 0
    cdef IdxSet *A = &pool.sets[s]
    cdef IdxSet *B = &pool.sets[t]
    cdef ITYPE_t sa = A.serial, sb = B.serial, tmp
    if sa > sb:
        tmp = sa
        sa = sb
        sb = tmp
    cdef int seen = _seen_before(buf, (sa << 31) ^ sb)
    if seen != 0:
        return 0 if seen == 1 else -1
    cdef ITYPE_t i, j
    if s == t:
        for i in range(A.size):
            for j in range(i, A.size):
                if _buf_push(buf, A.data[i], A.data[j]) != 0:
                    return -1
    else:
        for i in range(A.size):
            for j in range(B.size):
                if _buf_push(buf, A.data[i], B.data[j]) != 0:
                    return -1
    return 0


cdef int _cmp_itype(const void *x, const void *y) noexcept nogil:
    cdef ITYPE_t a = (<ITYPE_t *>x)[0], b = (<ITYPE_t *>y)[0]
    return (a > b) - (a < b)


def hessian_pattern(const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
                    const ITYPE_t[::1] a2, const double[::1] c,
                    const uint8_t[:, ::1] d1, const uint8_t[:, ::1] d2,
                    const uint8_t[:, ::1] cross, ITYPE_t output, ITYPE_t n_inputs):
    """Hessian sparsity pattern of the scalar node ``output``.

    (input)  node arrays, the classification tables of ``symasd.ops`` and the
             output node id
    Returns ``(indptr, indices)``: a symmetric ``n_inputs x n_inputs`` CSR
    pattern with sorted rows.

    A node whose first derivative towards the output is not identically zero
    ("live") contributes ``S_i x S_i`` for every argument ``i`` with a nonzero
    second derivative and ``S_i x S_j`` for every argument pair with a nonzero
    cross derivative, where ``S`` are first-order index sets.
    """
    cdef ITYPE_t n = op.shape[0]
    cdef ITYPE_t k, i, s, r, j
    cdef ITYPE_t args[3]
    cdef ITYPE_t pair0[3]
    cdef ITYPE_t pair1[3]
    pair0[:] = [0, 0, 1]
    pair1[:] = [1, 2, 2]
    cdef uint8_t o
    cdef bint oom = False
    cdef ITYPE_t *leaf
    cdef ITYPE_t[::1] outputs = np.array([output], dtype=np.int64)
    cdef ITYPE_t *uses = <ITYPE_t *>malloc(max(n, 1) * sizeof(ITYPE_t))
    cdef ITYPE_t *node_set = <ITYPE_t *>malloc(max(n, 1) * sizeof(ITYPE_t))
    cdef uint8_t *live = <uint8_t *>malloc(max(n, 1))
    cdef SetPool pool
    cdef PairBuffer buf
    buf.cap = 1024
    buf.size = 0
    buf.rows = <ITYPE_t *>malloc(buf.cap * sizeof(ITYPE_t))
    buf.cols = <ITYPE_t *>malloc(buf.cap * sizeof(ITYPE_t))
    buf.seen_cap = 1024
    buf.seen_size = 0
    buf.seen = <ITYPE_t *>malloc(buf.seen_cap * sizeof(ITYPE_t))
    pool.sets = NULL
    pool.free_slots = NULL
    cdef ITYPE_t *counts = NULL
    cdef ITYPE_t *fill = NULL
    try:
        if (uses == NULL or node_set == NULL or live == NULL or buf.rows == NULL
                or buf.cols == NULL or buf.seen == NULL or _pool_init(&pool, 1024) != 0):
            raise MemoryError("not enough memory for the Hessian pattern")
        with nogil:
            for i in range(buf.seen_cap):
                buf.seen[i] = -1
            for k in range(n):
                live[k] = 0
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
            _count_uses(op, a0, a1, a2, d1, outputs, uses)
            for k in range(n):
                o = op[k]
                node_set[k] = -1
                if o == OP_VAR:
                    if uses[k] > 0:
                        leaf = <ITYPE_t *>malloc(sizeof(ITYPE_t))
                        if leaf == NULL:
                            oom = True
                            break
                        leaf[0] = <ITYPE_t>c[k]
                        node_set[k] = _new_set(&pool, leaf, 1)
                        if node_set[k] < 0:
                            free(leaf)
                            oom = True
                            break
                    continue
                if o == OP_CONST or o == OP_PARAM:
                    continue
                args[0] = a0[k]
                args[1] = a1[k]
                args[2] = a2[k]
                if live[k]:
                    for i in range(3):
                        if args[i] >= 0 and d2[o, i]:
                            s = node_set[args[i]]
                            if _emit_product(&pool, &buf, s, s) != 0:
                                oom = True
                        j = pair1[i]
                        if args[pair0[i]] >= 0 and args[j] >= 0 and cross[o, i]:
                            if _emit_product(&pool, &buf, node_set[args[pair0[i]]],
                                             node_set[args[j]]) != 0:
                                oom = True
                    if oom:
                        break
                if uses[k] > 0:
                    node_set[k] = _node_set(&pool, k, o, args, d1, node_set)
                    if node_set[k] == -2:
                        node_set[k] = -1
                        oom = True
                        break
                _done_with_args(&pool, o, args, d1, uses, node_set)
        if oom:
            raise MemoryError("not enough memory for the Hessian pattern")
        # symmetric CSR from the upper-triangle pairs: count, fill, sort, dedupe
        indptr = np.zeros(n_inputs + 1, dtype=np.int64)
        counts = <ITYPE_t *>malloc((n_inputs + 1) * sizeof(ITYPE_t))
        fill = <ITYPE_t *>malloc(max(2 * buf.size, 1) * sizeof(ITYPE_t))
        if counts == NULL or fill == NULL:
            raise MemoryError("not enough memory for the Hessian pattern")
        indices = _symmetric_csr(&buf, n_inputs, counts, fill, indptr)
        return indptr, indices
    finally:
        _pool_free(&pool)
        free(uses)
        free(node_set)
        free(live)
        free(buf.rows)
        free(buf.cols)
        free(buf.seen)
        free(counts)
        free(fill)


cdef object _symmetric_csr(PairBuffer *buf, ITYPE_t n, ITYPE_t *counts, ITYPE_t *fill,
                           ITYPE_t[::1] indptr):
    cdef ITYPE_t i, r, cc, start, stop, w, last
    with nogil:
        for i in range(n + 1):
            counts[i] = 0
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
        # counts[r] is now the end of row r; compact each sorted row in place
        w = 0
        start = 0
        for r in range(n):
            stop = counts[r]
            qsort(&fill[start], stop - start, sizeof(ITYPE_t), _cmp_itype)
            last = -1
            for i in range(start, stop):
                if fill[i] != last:
                    fill[w] = fill[i]
                    last = fill[i]
                    w += 1
            indptr[r + 1] = w
            start = stop
    indices = np.empty(w, dtype=np.int64)
    cdef ITYPE_t[::1] out = indices
    with nogil:
        for i in range(w):
            out[i] = fill[i]
    return indices
