# The forward sweep of cysrc/sweeps.pyx (included there): values and tangents.

cdef inline void _fwd_node(ITYPE_t k, uint8_t o, ITYPE_t i0, ITYPE_t i1, ITYPE_t i2,
                           const double *cst, const uint8_t *d1t, bint compute_values,
                           double *vals, double *dst, const double *r0, const double *r1,
                           const double *r2, ITYPE_t cc, uint8_t *tz) noexcept nogil:
    """Value (when ``compute_values``) and tangent row ``dst`` of the non-leaf node
    ``k`` with opcode ``o`` and arguments ``i0, i1, i2`` (unused ones equal to ``i0``)
    whose rows are ``r0, r1, r2``; ``tz[k] = 1`` where the row is zero (``dst`` is then
    left unwritten)."""
    cdef ITYPE_t i
    cdef double xv, yv, w0, w1
    cdef ITYPE_t args[3]
    cdef const double *rows[3]
    cdef double d[3]
    cdef bint first, sel, any_nz
    if o == OP_ADD or o == OP_SUB or o == OP_MUL:
        # fast path for the most frequent binary ops
        xv = vals[i0]
        yv = vals[i1]
        _binary_weights(o, xv, yv, &w0, &w1)
        if compute_values:
            vals[k] = xv + yv if o == OP_ADD else (xv - yv if o == OP_SUB else xv * yv)
        tz[k] = not _combine2(dst, r0, w0, tz[i0], r1, w1, tz[i1], cc)
        return
    elif o == OP_NEG or o == OP_SQUARE:
        xv = vals[i0]
        if compute_values:
            vals[k] = -xv if o == OP_NEG else xv * xv
        tz[k] = tz[i0]
        if not tz[i0]:
            _row_axpy(dst, r0, -1.0 if o == OP_NEG else 2.0 * xv, cc, 1)
        return
    args[0] = i0
    args[1] = i1
    args[2] = i2
    rows[0] = r0
    rows[1] = r1
    rows[2] = r2
    if compute_values:
        vals[k] = apply_op(o, vals[i0], vals[i1], vals[i2], cst[k])
    any_nz = 0
    for i in range(3):
        if d1t[3 * o + i] and not tz[args[i]]:
            any_nz = 1
    if not any_nz:
        tz[k] = 1
        return
    first_partials(o, vals[i0], vals[i1], vals[i2], vals[k], cst[k], d)
    sel = _is_selection(o)
    first = 1
    for i in range(3):
        # _propagates's test, with the zero-tangent test in between: in this order
        # (callgrind, Brusselator Jacobian) _fwd_strided runs 1.3% fewer instructions
        if not d1t[3 * o + i] or tz[args[i]]:
            continue
        if sel and d[i] == 0.0:
            continue
        _row_axpy(dst, rows[i], d[i], cc, first)
        first = 0
    tz[k] = 1 if first else 0


cdef void _fwd_rows(double *dst, ITYPE_t dstep, ITYPE_t L, ITYPE_t nr, double **p,
                    const ITYPE_t *step, double **D, ITYPE_t cc, int flat) noexcept nogil:
    """Tight loop of a block whose ``nr`` (1 or 2) contributing arguments have nonzero
    rows and finite partials: row ``i`` of ``dst`` (rows ``dstep`` apart) is
    ``sum_t D_t[i] * p_t[i * step_t]``. ``flat``: all rows contiguous and the partials
    constant (``D_t[0]``), so the block is one loop. The rows of ``dst`` never overlap
    the argument rows (no argument lies in the block)."""
    if flat and nr == 1:
        symasd_sw_flat1(dst, p[0], D[0][0], L * cc)
    elif flat:
        symasd_sw_flat2(dst, p[0], p[1], D[1][0], L * cc)
    elif nr == 1:
        symasd_sw_rows1(dst, dstep, p[0], step[0], D[0], L, cc)
    else:
        symasd_sw_rows2(dst, dstep, p[0], step[0], p[1], step[1], D[0], D[1], L, cc)


cdef void _fwd_strided(uint8_t o, ITYPE_t ks0, ITYPE_t e, const ITYPE_t *row,
                       const double *cst, const uint8_t *d1t, bint compute_values,
                       double *vals, const Layout *lay, double *first_row, ITYPE_t dstep,
                       ITYPE_t cc, uint8_t *tz, ITYPE_t *hint) noexcept nogil:
    """Values and tangents of the nodes ``[ks0, e)`` of the strided segment ``row``
    (starting at node ``s = row[0]``), rows ``first_row + (k - ks0) * dstep``."""
    cdef ITYPE_t s = row[0]
    cdef ITYPE_t ks, L, off, i, k, t, nr
    cdef int state
    cdef ITYPE_t b[3]
    cdef ITYPE_t st[3]
    cdef ITYPE_t c[3]
    cdef double *p[3]
    cdef ITYPE_t ps[3]
    cdef double *lp[2]
    cdef ITYPE_t lps[2]
    cdef double *lD[2]
    cdef ITYPE_t lt[2]
    cdef double D0[BLK]
    cdef double D1[BLK]
    cdef double D2[BLK]
    cdef double *D[3]
    cdef bint act[3]
    cdef bint sel = _is_selection(o), has_d, uniform, first, selfref
    cdef int flat
    cdef double *dst
    cdef ITYPE_t nohint[3]
    if hint == NULL:
        nohint[0] = -1
        nohint[1] = -1
        nohint[2] = -1
        hint = nohint
    D[0] = D0
    D[1] = D1
    D[2] = D2
    _progressions(row, b, st)
    for t in range(3):
        act[t] = d1t[3 * o + t] != 0
    has_d = act[0] or act[1] or act[2]
    ks = ks0
    while ks < e:
        L = min(<ITYPE_t>BLK, e - ks)
        off = ks - s
        for t in range(3):
            c[t] = b[t] + off * st[t]
        # shorten the block so that each argument's rows form one progression
        for t in range(3):
            L = _prog_rows_hint(lay, c[t], st[t], L, &p[t], &ps[t], &hint[t])
        dst = first_row + (ks - ks0) * dstep
        selfref = 0
        for t in range(3):
            if _last(c[t], st[t], L) >= ks:
                selfref = 1
        if selfref or sel:
            # arguments inside the block (or a selection): the per-node rules
            for i in range(L):
                _fwd_node(ks + i, o, c[0] + i * st[0], c[1] + i * st[1], c[2] + i * st[2],
                          cst, d1t, compute_values, vals, dst + i * dstep,
                          p[0] + i * ps[0], p[1] + i * ps[1], p[2] + i * ps[2], cc, tz)
            ks += L
            continue
        if compute_values:
            _block_values(o, ks, L, c[0], st[0], c[1], st[1], c[2], st[2], cst, vals, True)
        # which arguments contribute: all rows nonzero (live), all zero, or mixed
        nr = 0
        uniform = 1
        for t in range(3):
            if not act[t]:
                continue
            state = _flags_state(tz, c[t], st[t], L)
            if state == FLAGS_ALL:
                continue
            if state == FLAGS_MIXED or nr == 2:
                uniform = 0
                break
            lp[nr] = p[t]
            lps[nr] = ps[t]
            lt[nr] = t
            nr += 1
        if uniform and nr == 0:
            _set_flags(tz, ks, L, 1)
            ks += L
            continue
        D[0] = D0
        D[1] = D1
        D[2] = D2
        _block_partials(o, ks, L, c[0], st[0], c[1], st[1], c[2], st[2], cst, vals, D)
        for t in range(nr):
            lD[t] = D[lt[t]]
        if uniform and not _constant_partials(o):
            for t in range(nr):
                if not _all_finite(lD[t], L):
                    uniform = 0
        if uniform:
            flat = dstep == cc and ((o == OP_ADD or o == OP_SUB) and nr == 2
                                    and lps[0] == cc and lps[1] == cc
                                    or o == OP_NEG and lps[0] == cc)
            _fwd_rows(dst, dstep, L, nr, lp, lps, lD, cc, flat)
            _set_flags(tz, ks, L, 0)
        else:
            # mixed zero rows or non-finite partials: row by row, as _fwd_node
            for i in range(L):
                k = ks + i
                first = 1
                for t in range(3):
                    if not act[t] or tz[c[t] + i * st[t]]:
                        continue
                    _row_axpy(dst + i * dstep, p[t] + i * ps[t], D[t][i], cc, first)
                    first = 0
                tz[k] = 1 if first else 0
        ks += L


cdef void _fwd_seed_rows(ITYPE_t s, ITYPE_t e, ITYPE_t idx0, const double *x,
                         bint compute_values, double *vals, const double *rows,
                         ITYPE_t rstep, ITYPE_t cc, const uint8_t *sz,
                         uint8_t *tz) noexcept nogil:
    """A run of inputs ``k = s .. e-1`` (input ``idx0 + k - s``) whose tangent rows are
    the seed rows ``rows + (k - s) * rstep``, read in place: values and zero flags
    (copied from ``sz``, the seed rows' flags, unless NULL: a copy reads 1 byte per
    row instead of ``cc`` doubles)."""
    cdef ITYPE_t i, L = e - s
    if compute_values:
        for i in range(L):
            vals[s + i] = x[idx0 + i]
    if sz != NULL:
        memcpy(tz + s, sz + idx0, L)
    else:
        symasd_sw_zero_rows(rows, rstep, L, cc, tz + s)


cdef void _fwd_indexed(const uint8_t *op, const ITYPE_t *a0, const ITYPE_t *a1,
                       const ITYPE_t *a2, const double *cst, ITYPE_t ks, ITYPE_t ke,
                       const uint8_t *d1t, const double *x, const double *p,
                       bint compute_values, double *vals, const double *S, ITYPE_t ctot,
                       ITYPE_t j0, ITYPE_t cc, const Layout *lay, double *first_row,
                       ITYPE_t dstep, uint8_t *tz) noexcept nogil:
    """Values and tangents of the nodes ``[ks, ke)`` of an indexed segment, node by
    node, rows ``first_row + (k - ks) * dstep``."""
    cdef ITYPE_t k, j, i0, i1, i2, idx
    cdef double *dst
    cdef const double *srow
    cdef double v
    cdef bint any_nz
    cdef uint8_t o
    for k in range(ks, ke):
        o = op[k]
        dst = first_row + (k - ks) * dstep
        if o == OP_CONST:
            if compute_values:
                vals[k] = cst[k]
            tz[k] = 1
        elif o == OP_PARAM:
            if compute_values:
                vals[k] = p[<ITYPE_t>cst[k]]
            tz[k] = 1
        elif o == OP_VAR:
            idx = <ITYPE_t>cst[k]
            if compute_values:
                vals[k] = x[idx]
            srow = S + idx * ctot + j0
            any_nz = 0
            for j in range(cc):
                v = srow[j]
                dst[j] = v
                any_nz |= v != 0.0
            tz[k] = 0 if any_nz else 1
        else:
            _node_args(a0, a1, a2, k, &i0, &i1, &i2)
            _fwd_node(k, o, i0, i1, i2, cst, d1t, compute_values, vals, dst,
                      _rowp(lay, i0), _rowp(lay, i1), _rowp(lay, i2), cc, tz)


cdef struct RowOut:
    double *data            # the nonzeros of B in CSR order (a RowGather's pattern)
    const ITYPE_t *indptr   # the pattern's row pointers
    const int32_t *idx32    # per nonzero: its index into B.ravel() (idx32 when B has
    const ITYPE_t *idx64    # fewer than 2**31 entries, else idx64)
    const ITYPE_t *run_ptr  # per unit: its runs of outputs (a gathered RowLayout's)
    const ITYPE_t *runs     # (first output position, first node, count)
    ITYPE_t j0              # the columns of this pass: j0 .. j0 + cc of ctot
    ITYPE_t ctot


cdef void _forward(Nodes nd, const ITYPE_t *seg, const ITYPE_t *units,
                   ITYPE_t nunits, const double *x, const double *p, bint compute_values,
                   double *vals, const double *S, ITYPE_t ctot, ITYPE_t j0, ITYPE_t cc,
                   const Layout *lay, const uint8_t *sz, uint8_t *tz,
                   const RowOut *out) noexcept nogil:
    """Values (when ``compute_values``; of the units flagged by ``lay.vneed`` when it
    is set) and tangent rows of every node for the seed columns ``S[:, j0:j0+cc]``,
    unit by unit (``units``: plan row, start, stop, in an order that respects the
    dependencies), rows placed by ``lay``; ``tz[k] = 1`` where the tangent row is zero
    (then it is left unwritten). ``sz``: NULL, or the zero flags of the rows of
    ``S[:, j0:j0+cc]``, one per input. ``out``: NULL, or where each unit's outputs'
    nonzeros go, gathered as soon as the unit ran (while its rows are in cache)."""
    cdef ITYPE_t u, r, s, ks, ke, dstep, q, k
    cdef const ITYPE_t *row
    cdef double *first_row
    cdef bint all_values = compute_values
    cdef uint8_t kind
    if lay.hints != NULL:
        for u in range(3 * lay.nseg):
            lay.hints[u] = -1
    for u in range(nunits):
        if lay.vneed != NULL:
            compute_values = all_values and lay.vneed[u]
        r = units[UNIT_COLS * u]
        ks = units[UNIT_COLS * u + 1]
        ke = units[UNIT_COLS * u + 2]
        row = seg + SEG_COLS * r
        s = row[0]
        if lay.ident:
            first_row = lay.T + ks * cc
            dstep = cc
            kind = ROWS_SLOT
        else:
            first_row = lay.first[u]
            dstep = lay.rs[u]
            kind = lay.kind[u]
        if kind == ROWS_SKIP or kind == ROWS_DEAD:
            if compute_values and kind == ROWS_SKIP:
                _values_range(nd.op, nd.a0, nd.a1, nd.a2, nd.cst, row, ks, ke, x, p,
                              vals)
        elif _blocked(nd.op, row):
            _fwd_strided(nd.op[s], ks, ke, row, nd.cst, nd.d1, compute_values, vals, lay,
                         first_row, dstep, cc, tz,
                         lay.hints + 3 * r if lay.hints != NULL else NULL)
        elif kind == ROWS_SEED:
            _fwd_seed_rows(ks, ke, <ITYPE_t>nd.cst[ks], x, compute_values, vals, first_row,
                           dstep, cc, sz, tz)
        else:
            _fwd_indexed(nd.op, nd.a0, nd.a1, nd.a2, nd.cst, ks, ke, nd.d1, x, p,
                         compute_values, vals, S, ctot, j0, cc, lay, first_row, dstep, tz)
        if out == NULL:
            continue
        for q in range(out.run_ptr[u], out.run_ptr[u + 1]):
            k = out.runs[3 * q + 1]
            symasd_sw_gather_run(out.data, out.indptr, out.idx32, out.idx64, out.runs[3 * q],
                                 out.runs[3 * q + 2], first_row + (k - ks) * dstep, dstep,
                                 tz + k, out.j0, cc, out.ctot)
