# The reverse sweep of cysrc/sweeps.pyx (included there): adjoints.

# ---------------------------------------------------------------------------
# Reverse sweep: adjoints.


cdef inline void _rev_node(ITYPE_t k, uint8_t o, ITYPE_t i0, ITYPE_t i1, ITYPE_t i2,
                           const double *cst, const uint8_t *d1t, const double *vals,
                           ITYPE_t ctot, ITYPE_t j0, ITYPE_t cc, double *A,
                           uint8_t *touched, double *Bt) noexcept nogil:
    """Propagate the adjoint row ``A[k]`` of a reached node ``k`` to its arguments."""
    cdef ITYPE_t i, ai, idx
    cdef double w0, w1
    cdef ITYPE_t args[3]
    cdef double d[3]
    cdef bint sel
    cdef double *src = A + k * cc
    if o == OP_VAR:
        idx = <ITYPE_t>cst[k]
        _row_add(Bt + idx * ctot + j0, src, cc)
        return
    if o == OP_CONST or o == OP_PARAM:
        return
    if o == OP_ADD or o == OP_SUB or o == OP_MUL:
        # fast path for the most frequent binary ops
        _binary_weights(o, vals[i0], vals[i1], &w0, &w1)
        _row_axpy(A + i0 * cc, src, w0, cc, not touched[i0])
        touched[i0] = 1
        _row_axpy(A + i1 * cc, src, w1, cc, not touched[i1])
        touched[i1] = 1
        return
    elif o == OP_NEG or o == OP_SQUARE:
        _row_axpy(A + i0 * cc, src, -1.0 if o == OP_NEG else 2.0 * vals[i0], cc,
                  not touched[i0])
        touched[i0] = 1
        return
    if not _adjoint_partials(o, k, i0, i1, i2, cst, d1t, vals, args, d):
        return
    sel = _is_selection(o)
    for i in range(3):
        if not _propagates(o, i, d1t, sel, d):
            continue
        ai = args[i]
        _row_axpy(A + ai * cc, src, d[i], cc, not touched[ai])
        touched[ai] = 1


cdef inline bint _may_meet(ITYPE_t c0, ITYPE_t s0, ITYPE_t c1, ITYPE_t s1,
                           ITYPE_t L) noexcept nogil:
    """Whether the progressions ``c0 + i s0`` and ``c1 + j s1`` (``0 <= i, j < L``) can
    share a node (conservative: True unless they provably cannot)."""
    cdef ITYPE_t lo0 = min(c0, c0 + (L - 1) * s0), hi0 = max(c0, c0 + (L - 1) * s0)
    cdef ITYPE_t lo1 = min(c1, c1 + (L - 1) * s1), hi1 = max(c1, c1 + (L - 1) * s1)
    cdef ITYPE_t dd
    if hi0 < lo1 or hi1 < lo0:
        return 0
    if s0 == s1 and s0 != 0:
        dd = c1 - c0
        if dd % s0 != 0:
            return 0
        dd = dd // s0
        return -L < dd < L
    return 1


cdef inline bint _args_may_meet(const bint *live, const ITYPE_t *c, const ITYPE_t *st,
                                ITYPE_t L) noexcept nogil:
    """Whether two live arguments of a block can name the same node: then their
    updates must be interleaved node by node to round as the per-node rules do."""
    cdef ITYPE_t t, u
    for t in range(3):
        for u in range(t + 1, 3):
            if live[t] and live[u] and _may_meet(c[t], st[t], c[u], st[u], L):
                return 1
    return 0


cdef inline void _rev_arg_rows(double *A, uint8_t *touched, ITYPE_t ks, ITYPE_t L,
                               ITYPE_t c, ITYPE_t st, const double *D,
                               ITYPE_t cc) noexcept nogil:
    """``A[c + i st] (=|+=) D[i] * A[ks + i]`` for ``i = L-1 .. 0`` (finite ``D``; the
    argument rows lie outside the block)."""
    symasd_sw_rev_rows(A + c * cc, st * cc, touched + c, st, A + ks * cc, D, L, cc)


cdef void _rev_strided(uint8_t o, ITYPE_t s, ITYPE_t e, const ITYPE_t *row,
                       const uint8_t *op, const double *cst, const uint8_t *d1t,
                       const double *vals, ITYPE_t cc, double *A,
                       uint8_t *touched) noexcept nogil:
    """Adjoint propagation of the strided segment ``row`` (nodes ``[s, e)``, last
    to first). Arguments inside the segment are fine: a node's consumers come after
    it, so its adjoint is complete when the descending walk reaches it."""
    cdef ITYPE_t ks, ke, L, off, i, j, k, t, ai
    cdef int state
    cdef ITYPE_t b[3]
    cdef ITYPE_t st[3]
    cdef ITYPE_t c[3]
    cdef double D0[BLK]
    cdef double D1[BLK]
    cdef double D2[BLK]
    cdef double *D[3]
    cdef bint live[3]
    cdef bint fast, selfref
    cdef double w
    cdef const double *src
    cdef double *dst
    D[0] = D0
    D[1] = D1
    D[2] = D2
    if not (d1t[3 * o] or d1t[3 * o + 1] or d1t[3 * o + 2]):
        return
    _progressions(row, b, st)
    for t in range(3):
        live[t] = d1t[3 * o + t] != 0 and not _const_arg(op, b[t], st[t], e - s)
    if _is_selection(o):
        k = e
        while k > s:
            k -= 1
            if touched[k]:
                i = k - s
                _rev_node(k, o, b[0] + i * st[0], b[1] + i * st[1], b[2] + i * st[2],
                          cst, d1t, vals, 0, 0, cc, A, touched, NULL)
        return
    if not (live[0] or live[1] or live[2]):
        return
    ke = e
    while ke > s:
        ks = max(s, ke - <ITYPE_t>BLK)
        L = ke - ks
        off = ks - s
        state = _flags_state(touched, ks, 1, L)
        if state == FLAGS_NONE:
            ke = ks
            continue
        fast = state == FLAGS_ALL
        for t in range(3):
            c[t] = b[t] + off * st[t]
        D[0] = D0
        D[1] = D1
        D[2] = D2
        _block_partials(o, ks, L, c[0], st[0], c[1], st[1], c[2], st[2], cst, vals, D)
        if fast and not _constant_partials(o):
            for t in range(3):
                if live[t] and not _all_finite(D[t], L):
                    fast = 0
        selfref = 0
        for t in range(3):
            if live[t] and _last(c[t], st[t], L) >= ks:
                selfref = 1
        if fast and not selfref and not _args_may_meet(live, c, st, L):
            # every node reached, finite partials, arguments apart and outside the
            # block (whose adjoints are then complete): argument by argument
            for t in range(3):
                if live[t]:
                    _rev_arg_rows(A, touched, ks, L, c[t], st[t], D[t], cc)
            ke = ks
            continue
        i = L
        while i > 0:
            i -= 1
            k = ks + i
            if not fast and not touched[k]:
                continue
            src = A + k * cc
            for t in range(3):
                if not live[t]:
                    continue
                ai = c[t] + i * st[t]
                dst = A + ai * cc
                w = D[t][i]
                if not fast:
                    _row_axpy(dst, src, w, cc, not touched[ai])
                elif touched[ai]:
                    for j in range(cc):
                        dst[j] += w * src[j]
                else:
                    for j in range(cc):
                        dst[j] = w * src[j]
                touched[ai] = 1
        ke = ks


cdef void _reverse(Nodes nd, const ITYPE_t *seg, ITYPE_t nseg, const double *vals,
                   ITYPE_t m, const double *W, ITYPE_t ctot, ITYPE_t j0, ITYPE_t cc,
                   double *A, uint8_t *touched, ITYPE_t n_nodes, double *Bt) noexcept nogil:
    """Adjoints ``A[k, :cc]`` for the output seeds ``W[:, j0:j0+cc]``, accumulated into
    ``Bt[i, j0:j0+cc]`` for every input ``i`` (``Bt`` must hold zeros there)."""
    cdef ITYPE_t k, j, r, s, e, i0, i1, i2
    cdef bint any_nz
    cdef const double *wrow
    cdef const ITYPE_t *row
    for k in range(n_nodes):
        touched[k] = 0
    for r in range(m):
        wrow = W + r * ctot + j0
        any_nz = 0
        for j in range(cc):
            if wrow[j] != 0.0:
                any_nz = 1
        if not any_nz:
            continue
        k = nd.outputs[r]
        _row_axpy(A + k * cc, wrow, 1.0, cc, not touched[k])
        touched[k] = 1
    for r in range(nseg - 1, -1, -1):
        row = seg + SEG_COLS * r
        s = row[0]
        e = row[1]
        if _blocked(nd.op, row):
            _rev_strided(nd.op[s], s, e, row, nd.op, nd.cst, nd.d1, vals, cc, A, touched)
            continue
        k = e
        while k > s:
            k -= 1
            if not touched[k]:
                continue
            _node_args(nd.a0, nd.a1, nd.a2, k, &i0, &i1, &i2)
            _rev_node(k, nd.op[k], i0, i1, i2, nd.cst, nd.d1, vals, ctot, j0, cc, A, touched,
                      Bt)
