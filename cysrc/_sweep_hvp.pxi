# Forward over reverse in cysrc/sweeps.pyx (included there): scalar adjoints and
# adjoint tangents.

# ---------------------------------------------------------------------------
# Forward over reverse: scalar adjoints and adjoint tangents.


cdef inline void _hvp_arg(double *aa, uint8_t *ra, double *dst, uint8_t *rt, ITYPE_t ai,
                          double di, bint has_a, double ak, bint has_t, const double *src,
                          const double *trow, double hcoef, ITYPE_t cc) noexcept nogil:
    """Forward-over-reverse update of one argument ``ai`` (scalar adjoint ``aa[0]``,
    adjoint tangent row ``dst``) with first partial ``di``: ``aa[0] += di * ak`` (when
    ``has_a``) and ``dst += di * src`` (when ``has_t``) ``+ hcoef * trow`` (when
    ``trow`` is not NULL; ``hcoef`` = second partial * ak)."""
    cdef bint assign
    if has_a:
        if ra[ai]:
            aa[0] += _scale(di, ak)
        else:
            aa[0] = _scale(di, ak)
            ra[ai] = 1
    assign = not rt[ai]
    if has_t:
        _row_axpy(dst, src, di, cc, assign)
        assign = 0
    if trow != NULL:
        _row_axpy(dst, trow, hcoef, cc, assign)
        assign = 0
    if not assign:
        rt[ai] = 1


cdef inline void _hvp_node(ITYPE_t k, uint8_t o, ITYPE_t i0, ITYPE_t i1, ITYPE_t i2,
                           const double *cst, const uint8_t *d1t, const uint8_t *d2t,
                           const uint8_t *crt, const double *vals, const Layout *tl,
                           const uint8_t *tz, ITYPE_t ctot, ITYPE_t j0, ITYPE_t cc,
                           uint8_t *ra, const Layout *al, uint8_t *rt,
                           double *grad, double *HV) noexcept nogil:
    """Forward-over-reverse step of a reached node ``k`` (``ra[k]`` or ``rt[k]``); the
    tangent rows are placed by ``tl``, the adjoint tangent rows and the scalar
    adjoints by ``al``."""
    cdef ITYPE_t i, jj, ai, aj, idx
    cdef ITYPE_t args[3]
    cdef double d[3]
    cdef double h[3]
    cdef double ak, hij, w0, w1
    cdef bint cross_nz, sel, assign, need_h, structural
    cdef double *src = _rowp(al, k)
    cdef double *dst
    cdef double *aa
    if o == OP_VAR:
        idx = <ITYPE_t>cst[k]
        if ra[k] and grad != NULL:
            grad[idx] += _adj(al, k)[0]
        if rt[k]:
            _row_add(HV + idx * ctot + j0, src, cc)
        return
    if o == OP_CONST or o == OP_PARAM:
        return
    if o == OP_ADD or o == OP_SUB or o == OP_MUL:
        # fast path for the most frequent binary ops (MUL: d2/dxdy = 1)
        _binary_weights(o, vals[i0], vals[i1], &w0, &w1)
        cross_nz = o == OP_MUL and ra[k]
        ak = _adj(al, k)[0]
        _hvp_arg(_adj(al, i0), ra, _rowp(al, i0), rt, i0, w0, ra[k], ak, rt[k], src,
                 _rowp(tl, i1) if cross_nz and not tz[i1] else NULL, _scale(1.0, ak), cc)
        _hvp_arg(_adj(al, i1), ra, _rowp(al, i1), rt, i1, w1, ra[k], ak, rt[k], src,
                 _rowp(tl, i0) if cross_nz and not tz[i0] else NULL, _scale(1.0, ak), cc)
        return
    elif o == OP_NEG or o == OP_SQUARE:
        ak = _adj(al, k)[0]
        if o == OP_NEG:
            _hvp_arg(_adj(al, i0), ra, _rowp(al, i0), rt, i0, -1.0, ra[k], ak, rt[k], src,
                     NULL, 0.0, cc)
        else:
            _hvp_arg(_adj(al, i0), ra, _rowp(al, i0), rt, i0, 2.0 * vals[i0], ra[k], ak,
                     rt[k], src, _rowp(tl, i0) if ra[k] and not tz[i0] else NULL,
                     _scale(2.0, ak), cc)
        return
    if not _adjoint_partials(o, k, i0, i1, i2, cst, d1t, vals, args, d):
        return
    need_h = 0
    if ra[k]:
        for i in range(2):
            if d2t[3 * o + i] and not tz[args[i]]:
                need_h = 1
        if crt[3 * o] and not (tz[i0] and tz[i1]):
            need_h = 1
    if need_h:
        second_partials(o, vals[i0], vals[i1], vals[k], cst[k], h)
    ak = _adj(al, k)[0]
    sel = _is_selection(o)
    for i in range(3):
        if not _propagates(o, i, d1t, sel, d):
            continue
        ai = args[i]
        if ra[k]:
            aa = _adj(al, ai)
            if ra[ai]:
                aa[0] += _scale(d[i], ak)
            else:
                aa[0] = _scale(d[i], ak)
                ra[ai] = 1
        dst = _rowp(al, ai)
        assign = not rt[ai]
        if rt[k]:
            _row_axpy(dst, src, d[i], cc, assign)
            assign = 0
        if need_h and i < 2:
            for jj in range(2):
                aj = args[jj]
                if tz[aj]:
                    continue
                if i == jj:
                    structural = d2t[3 * o + i]
                    hij = h[2 * i]
                else:
                    structural = crt[3 * o]
                    hij = h[1]
                if not structural:
                    continue
                _row_axpy(dst, _rowp(tl, aj), _scale(hij, ak), cc, assign)
                assign = 0
        if not assign:
            rt[ai] = 1


cdef inline void _rows3(double *dst, bint assign, ITYPE_t nr, const double **r,
                        const double *w, ITYPE_t cc) noexcept nogil:
    """``dst (=|+=) w_0 r_0 + ... + w_{nr-1} r_{nr-1}`` (1 <= nr <= 3, finite weights),
    rounded term by term like successive ``_row_axpy`` calls."""
    cdef ITYPE_t j
    cdef const double *r0 = r[0]
    cdef const double *r1 = r[1]
    cdef const double *r2 = r[2]
    cdef double w0 = w[0], w1 = w[1], w2 = w[2]
    if nr == 1:
        if assign:
            for j in range(cc):
                dst[j] = w0 * r0[j]
        else:
            for j in range(cc):
                dst[j] += w0 * r0[j]
    elif nr == 2:
        if assign:
            for j in range(cc):
                dst[j] = w0 * r0[j] + w1 * r1[j]
        else:
            for j in range(cc):
                dst[j] = (dst[j] + w0 * r0[j]) + w1 * r1[j]
    else:
        if assign:
            for j in range(cc):
                dst[j] = (w0 * r0[j] + w1 * r1[j]) + w2 * r2[j]
        else:
            for j in range(cc):
                dst[j] = ((dst[j] + w0 * r0[j]) + w1 * r1[j]) + w2 * r2[j]


cdef inline void _hvp_arg_scalar(double *dst, uint8_t *ra, const double *src, ITYPE_t L,
                                 ITYPE_t c, ITYPE_t st, const double *D) noexcept nogil:
    """``dst[i st] (=|+=) _scale(D[i], src[i])`` for ``i = L-1 .. 0``: the scalar
    adjoints of the arguments ``c + i st`` (in slots of their own, outside the block;
    flags ``ra[c + i st]``) from the block's adjoints ``src``."""
    cdef int state = _flags_state(ra, c, st, L)
    cdef int uniform = 1 if state == FLAGS_ALL else (2 if state == FLAGS_NONE and st != 0 else 0)
    symasd_sw_scalar(dst, st, ra + c, src, D, L, uniform)


cdef inline bint _pairs_scalar(const Layout *al, uint8_t *ra, const double *src, ITYPE_t L,
                               const bint *live, const ITYPE_t *c, const ITYPE_t *st,
                               double **D) noexcept nogil:
    """``_hvp_arg_scalar`` of arguments 0 and 1 in one loop where they interleave
    (``x[0::2] + x[1::2]``, the pairwise sums of ``np.sum``), their scalar adjoints
    too, and their flags are uniform; returns 0 (nothing done) otherwise."""
    cdef int state
    cdef ITYPE_t lo
    cdef double *p
    if (live[2] or not live[0] or not live[1] or st[0] != 2 or st[1] != 2
            or (c[1] != c[0] + 1 and c[0] != c[1] + 1)):
        return 0
    lo = min(c[0], c[1])
    # each progression lies in one unit (_prog_lo), so slots lo and lo + 1 next to
    # each other put all 2 L adjoints next to each other
    if not (_adj_slots(al, lo) and _adj_slots(al, lo + 1)):
        return 0
    p = _adj(al, lo)
    if _adj(al, lo + 1) != p + 1:
        return 0
    state = _flags_state(ra, lo, 1, 2 * L)
    if state == FLAGS_MIXED:
        return 0
    if lo == c[0]:
        symasd_sw_scalar_pairs(p, ra + lo, src, D[0], D[1], L, state == FLAGS_ALL)
    else:
        symasd_sw_scalar_pairs(p, ra + lo, src, D[1], D[0], L, state == FLAGS_ALL)
    return 1


cdef inline void _hvp_arg_rows(double *dst, ITYPE_t dstep, uint8_t *flag, ITYPE_t st,
                               ITYPE_t L, ITYPE_t nr, const double **base, const ITYPE_t *rs,
                               const double **W, ITYPE_t cc) noexcept nogil:
    """Rows ``dst + i dstep`` (flags ``flag[i st]``) ``(=|+=) sum_r W_r[i] * base_r[i rs_r]``
    for ``i = L-1 .. 0`` (``1 <= nr <= 3`` terms, finite weights, the argument rows
    apart from the rows read)."""
    symasd_sw_hvp_rows(dst, dstep, flag, st, nr, base[0], rs[0], W[0],
                       base[1] if nr > 1 else NULL, rs[1] if nr > 1 else 0,
                       W[1] if nr > 1 else NULL, base[2] if nr > 2 else NULL,
                       rs[2] if nr > 2 else 0, W[2] if nr > 2 else NULL, L, cc)


cdef inline ITYPE_t _prog_lo(const Layout *lay, ITYPE_t c, ITYPE_t st,
                             ITYPE_t L) noexcept nogil:
    """The smallest ``i`` such that the nodes ``c + i' st``, ``i <= i' < L``, lie in the
    unit of node ``c + (L - 1) st`` (so their rows form one progression)."""
    cdef ITYPE_t g, gs, ge, lo
    if lay.ident or st == 0:
        return 0
    g = lay.unit_of[c + (L - 1) * st]
    gs = lay.units[UNIT_COLS * g + 1]
    ge = lay.units[UNIT_COLS * g + 2]
    if st > 0:
        lo = (gs - c + st - 1) // st
    else:
        lo = (c - ge - st) // (-st)
    return max(lo, 0)


cdef void _hvp_strided(uint8_t o, ITYPE_t s, ITYPE_t e, const ITYPE_t *row,
                       const uint8_t *op, const double *cst, const uint8_t *d1t,
                       const uint8_t *d2t, const uint8_t *crt, const double *vals,
                       const Layout *tl, const uint8_t *tz, ITYPE_t cc,
                       uint8_t *ra, const Layout *al, double *own, ITYPE_t own_step,
                       uint8_t *rt) noexcept nogil:
    """Forward-over-reverse steps of the strided segment ``row`` (nodes ``[s, e)``,
    last to first; adjoint tangent rows ``own + (k - s) * own_step``, scalar adjoints
    consecutive from ``_adj(al, s)``). Scalar adjoints of arguments without slots
    (constants and parameters) are not accumulated: nobody reads them. A block whose
    reach flags (``ra``, ``rt``) and argument tangent flags (``tz``) are uniform, with
    finite partials, takes the tight loops."""
    cdef ITYPE_t ks, ke, L, off, i, k, t, jj, ai, nr, lo
    cdef int sra, srt, state
    cdef ITYPE_t b[3]
    cdef ITYPE_t st[3]
    cdef ITYPE_t c[3]
    cdef double *ap[3]       # adjoint tangent rows of the arguments (progressions)
    cdef ITYPE_t aps[3]
    cdef double *tp[2]       # tangent rows of arguments 0 and 1
    cdef ITYPE_t tps[2]
    cdef double *sa[3]       # scalar adjoints of the arguments (steps st[t])
    cdef bint sl[3]          # whether they have slots (else they are not accumulated)
    cdef double *blk
    cdef double *aown = _adj(al, s)    # the segment's scalar adjoints
    cdef bint tzu[2]
    cdef double D0[BLK]
    cdef double D1[BLK]
    cdef double D2[BLK]
    cdef double H0[BLK]
    cdef double H1[BLK]
    cdef double H2[BLK]
    cdef double *D[3]
    cdef double *HC[4]       # 2 t + jj -> scaled second partial d2/d(arg t)d(arg jj)
    cdef bint live[3]
    cdef bint use_h[4]       # 2 t + jj: the term of T[arg jj] in arg t's adjoint tangent
    cdef bint fast, RA, RT, need_h, selfref, pairs
    cdef double ak
    cdef double w[3]
    cdef const double *rows[3]
    cdef const double *base[3]
    cdef ITYPE_t rs[3]
    cdef const double *W[3]
    cdef double *dst
    D[0] = D0
    D[1] = D1
    D[2] = D2
    HC[0] = H0
    HC[1] = H1
    HC[2] = H1
    HC[3] = H2
    rows[1] = NULL
    rows[2] = NULL
    w[1] = 0.0
    w[2] = 0.0
    if not (d1t[3 * o] or d1t[3 * o + 1] or d1t[3 * o + 2]):
        return
    _progressions(row, b, st)
    for t in range(3):
        live[t] = d1t[3 * o + t] != 0 and not _const_arg(op, b[t], st[t], e - s)
    ke = e
    while ke > s:
        ks = max(s, ke - <ITYPE_t>BLK)
        L = ke - ks
        # raise ks until every argument's rows form one progression in each layout
        lo = 0
        for t in range(3):
            c[t] = b[t] + (ks - s) * st[t]
            lo = max(lo, _prog_lo(al, c[t], st[t], L))
            if t < 2:
                lo = max(lo, _prog_lo(tl, c[t], st[t], L))
        ks += lo
        L -= lo
        off = ks - s
        for t in range(3):
            c[t] = b[t] + off * st[t]
            _prog_rows(al, c[t], st[t], L, &ap[t], &aps[t])
            sa[t] = _adj(al, c[t])
            sl[t] = _adj_slots(al, c[t])
            if t < 2:
                _prog_rows(tl, c[t], st[t], L, &tp[t], &tps[t])
        blk = own + off * own_step
        sra = _flags_state(ra, ks, 1, L)
        srt = _flags_state(rt, ks, 1, L)
        if sra == FLAGS_NONE and srt == FLAGS_NONE:
            ke = ks
            continue
        fast = sra != FLAGS_MIXED and srt != FLAGS_MIXED and not _is_selection(o)
        selfref = 0
        for t in range(3):
            if _last(c[t], st[t], L) >= ks:
                selfref = 1
        tzu[0] = 1
        tzu[1] = 1
        if fast and not selfref:
            if sra == FLAGS_ALL and (d2t[3 * o] or d2t[3 * o + 1] or crt[3 * o]):
                # the forward tangents enter through second partials
                for t in range(2):
                    if t == 1 and c[1] == c[0] and st[1] == st[0]:
                        tzu[1] = tzu[0]
                        continue
                    state = _flags_state(tz, c[t], st[t], L)
                    tzu[t] = state == FLAGS_ALL
                    if state == FLAGS_MIXED:
                        fast = 0
        else:
            fast = 0
        if fast:
            RA = sra == FLAGS_ALL
            RT = srt == FLAGS_ALL
            need_h = 0
            if RA:
                for t in range(2):
                    if d2t[3 * o + t] and not tzu[t]:
                        need_h = 1
                if crt[3 * o] and not (tzu[0] and tzu[1]):
                    need_h = 1
            D[0] = D0
            D[1] = D1
            D[2] = D2
            for t in range(4):
                use_h[t] = 0
            if need_h:
                use_h[0] = live[0] and d2t[3 * o] and not tzu[0]
                use_h[1] = live[0] and crt[3 * o] and not tzu[1]
                use_h[2] = live[1] and crt[3 * o] and not tzu[0]
                use_h[3] = live[1] and d2t[3 * o + 1] and not tzu[1]
            if o == OP_SQUARE or o == OP_MUL:
                # the frequent ops: vectorized loops with their finiteness tests, for
                # the arrays that are read only
                fast = _square_mul_coefs(o, L, c, st, vals, aown + off, live, use_h, D0, D1,
                                         H0, H1)
            else:
                _block_partials(o, ks, L, c[0], st[0], c[1], st[1], c[2], st[2], cst, vals,
                                D)
                if not _constant_partials(o):
                    for t in range(3):
                        if live[t] and not _all_finite(D[t], L):
                            fast = 0
            if (fast and o != OP_SQUARE and o != OP_MUL
                    and (use_h[0] or use_h[1] or use_h[2] or use_h[3])):
                # (a second-order term whose target is a constant is not needed)
                _block_hessian_coefs(o, ks, L, c[0], st[0], c[1], st[1], cst, vals,
                                     aown + off, H0, H1, H2)
                if ((use_h[0] and not _all_finite(H0, L))
                        or ((use_h[1] or use_h[2]) and not _all_finite(H1, L))
                        or (use_h[3] and not _all_finite(H2, L))):
                    fast = 0
        if not fast:
            k = ke
            while k > ks:
                k -= 1
                if ra[k] or rt[k]:
                    i = k - s
                    _hvp_node(k, o, b[0] + i * st[0], b[1] + i * st[1], b[2] + i * st[2],
                              cst, d1t, d2t, crt, vals, tl, tz, 0, 0, cc, ra, al, rt,
                              NULL, NULL)
            ke = ks
            continue
        if not _args_may_meet(live, c, st, L):
            # arguments apart: argument by argument, scalar then tangent rows (the
            # scalar adjoints of interleaved arguments in one loop: the targets are
            # distinct, so the order does not matter)
            pairs = RA and _pairs_scalar(al, ra, aown + off, L, live, c, st, D)
            for t in range(3):
                if not live[t]:
                    continue
                if RA and not pairs and sl[t]:
                    _hvp_arg_scalar(sa[t], ra, aown + off, L, c[t], st[t], D[t])
                nr = 0
                if RT:
                    base[0] = blk
                    rs[0] = own_step
                    W[0] = D[t]
                    nr = 1
                if t < 2:
                    for jj in range(2):
                        if use_h[2 * t + jj]:
                            base[nr] = tp[jj]
                            rs[nr] = tps[jj]
                            W[nr] = HC[2 * t + jj]
                            nr += 1
                if nr:
                    _hvp_arg_rows(ap[t], aps[t], rt + c[t], st[t], L, nr, base, rs, W, cc)
            ke = ks
            continue
        i = L
        while i > 0:
            i -= 1
            ak = aown[off + i]
            for t in range(3):
                if not live[t]:
                    continue
                ai = c[t] + i * st[t]
                if RA and sl[t]:
                    if ra[ai]:
                        sa[t][i * st[t]] += _scale(D[t][i], ak)
                    else:
                        sa[t][i * st[t]] = _scale(D[t][i], ak)
                        ra[ai] = 1
                nr = 0
                if RT:
                    rows[0] = blk + i * own_step
                    w[0] = D[t][i]
                    nr = 1
                if t < 2:
                    for jj in range(2):
                        if use_h[2 * t + jj]:
                            rows[nr] = tp[jj] + i * tps[jj]
                            w[nr] = HC[2 * t + jj][i]
                            nr += 1
                if nr:
                    dst = ap[t] + i * aps[t]
                    _rows3(dst, not rt[ai], nr, rows, w, cc)
                    rt[ai] = 1
        ke = ks


cdef void _hvp_inputs(ITYPE_t s, ITYPE_t e, const double *cst,
                      const uint8_t *ra, const uint8_t *rt, const Layout *al, ITYPE_t ctot,
                      ITYPE_t j0, ITYPE_t cc, ITYPE_t idx0, double *grad,
                      double *HV) noexcept nogil:
    """The OP_VAR steps of ``_hvp_node`` for the input nodes ``[s, e)``, last to first:
    the rows of a run of nodes in one unit of ``al`` are found once, not per node
    (``_rowp`` loads three arrays). ``idx0 >= 0``: the nodes are the inputs ``idx0 + k
    - s`` in order (distinct targets), so a run whose adjoint tangents are all nonzero
    is added in one loop."""
    cdef ITYPE_t k, ks, ke = e, g, step
    cdef double *rows
    cdef const double *adj
    while ke > s:
        if al.ident:
            ks = s
            rows = al.T + ks * cc
            step = cc
        else:
            g = al.unit_of[ke - 1]
            ks = max(s, al.units[UNIT_COLS * g + 1])
            rows = al.first[g] + (ks - al.units[UNIT_COLS * g + 1]) * al.rs[g]
            step = al.rs[g]
        adj = _adj(al, ks)
        if idx0 >= 0 and _flags_state(rt, ks, 1, ke - ks) == FLAGS_ALL:
            if grad != NULL:
                k = ke
                while k > ks:
                    k -= 1
                    if ra[k]:
                        grad[idx0 + k - s] += adj[k - ks]
            symasd_sw_add_rows(HV + (idx0 + ks - s) * ctot + j0, ctot, rows, step, ke - ks,
                               cc)
            ke = ks
            continue
        k = ke
        while k > ks:
            k -= 1
            if ra[k] and grad != NULL:
                grad[<ITYPE_t>cst[k]] += adj[k - ks]
            if rt[k]:
                _row_add(HV + <ITYPE_t>cst[k] * ctot + j0, rows + (k - ks) * step, cc)
        ke = ks


cdef void _hvp_reverse(Nodes nd, const ITYPE_t *seg, ITYPE_t nseg, ITYPE_t n_nodes,
                       const double *vals, ITYPE_t out, const Layout *tl,
                       const uint8_t *tz, ITYPE_t ctot,
                       ITYPE_t j0, ITYPE_t cc, uint8_t *ra, const Layout *al,
                       uint8_t *rt, double *grad, double *HV) noexcept nogil:
    """Reverse pass of forward-over-reverse: scalar adjoints (seed 1 at node ``out``)
    and adjoint tangent rows (both placed by ``al``) given the forward tangent
    rows (placed by ``tl``); writes ``grad[i] +=`` the scalar adjoint of ``VAR i`` and
    ``HV[i, j0:j0+cc] += `` the adjoint tangent of ``VAR i`` (both must hold zeros).
    ``ra``/``rt`` flag reached scalar adjoints / nonzero adjoint tangents.
    """
    cdef ITYPE_t k, r, s, e, i0, i1, i2
    cdef const ITYPE_t *row
    for k in range(n_nodes):
        ra[k] = 0
        rt[k] = 0
    # (the nodes after out are never reached, so no slot they share is written)
    _adj(al, out)[0] = 1.0
    ra[out] = 1
    for r in range(nseg - 1, -1, -1):
        row = seg + SEG_COLS * r
        s = row[0]
        e = row[1]
        if _blocked(nd.op, row):
            _hvp_strided(nd.op[s], s, e, row, nd.op, nd.cst, nd.d1, nd.d2, nd.cross, vals,
                         tl, tz, cc, ra, al, _rowp(al, s), cc if al.ident else al.rs[r], rt)
            continue
        if nd.op[s] == OP_VAR:
            # (a run of inputs in order is read from the seeds in place by the tangents)
            _hvp_inputs(s, e, nd.cst, ra, rt, al, ctot, j0, cc,
                        tl.off[r] if not tl.ident and tl.kind[r] == ROWS_SEED else -1,
                        grad, HV)
            continue
        k = e
        while k > s:
            k -= 1
            if not ra[k] and not rt[k]:
                continue
            _node_args(nd.a0, nd.a1, nd.a2, k, &i0, &i1, &i2)
            _hvp_node(k, nd.op[k], i0, i1, i2, nd.cst, nd.d1, nd.d2, nd.cross, vals, tl, tz,
                      ctot, j0, cc, ra, al, rt, grad, HV)


cdef void _flag_skipped(const Layout *tl, ITYPE_t nunits, uint8_t *tz) noexcept nogil:
    """``tz = 1`` over the units whose tangents are not computed (``ROWS_SKIP``,
    ``ROWS_DEAD``): the reverse pass may still test them, for a term that reaches
    only a constant's adjoint (a cross partial with a constant), and must drop it."""
    cdef ITYPE_t g, s
    if tl.ident:
        return
    for g in range(nunits):
        if tl.kind[g] == ROWS_SKIP or tl.kind[g] == ROWS_DEAD:
            s = tl.units[UNIT_COLS * g + 1]
            memset(tz + s, 1, tl.units[UNIT_COLS * g + 2] - s)
