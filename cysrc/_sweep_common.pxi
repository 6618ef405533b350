# Helpers shared by the three sweeps of cysrc/sweeps.pyx (included there):
# direction-row arithmetic, the blocks of strided segments (values, partials,
# flag tests), the tight C loops of cysrc/sweep_kernels.h, and node values.

cdef struct Nodes:
    # a SweepPlan's arrays as the kernels read them (NULL where there are no nodes)
    const uint8_t *op
    const ITYPE_t *a0
    const ITYPE_t *a1
    const ITYPE_t *a2
    const double *cst
    const ITYPE_t *outputs   # NULL when there are no outputs
    const uint8_t *d1
    const uint8_t *d2
    const uint8_t *cross
    const ITYPE_t *seg       # the segment plan's rows (SEG_COLS each)
    ITYPE_t nseg


# ---------------------------------------------------------------------------
# Row helpers (one row = the cc directions of one node).


cdef void _row_axpy_nonfinite(double *dst, const double *src, double a, ITYPE_t cc,
                              bint assign) noexcept nogil:
    """``_row_axpy`` for a NaN or infinite factor: only nonzero entries are scaled."""
    cdef ITYPE_t j
    cdef double s
    for j in range(cc):
        s = src[j]
        s = a * s if s != 0.0 else 0.0
        if assign:
            dst[j] = s
        else:
            dst[j] += s


cdef inline void _row_axpy(double *dst, const double *src, double a, ITYPE_t cc,
                           bint assign) noexcept nogil:
    """``dst = a * src`` (assign) or ``dst += a * src``.

    A non-finite factor ``a`` (a NaN or infinite partial) multiplies only the
    nonzero entries: a direction that does not reach this node stays exactly
    zero, so NaN never leaks outside the sparsity pattern.
    """
    cdef ITYPE_t j
    if a - a != 0.0:  # a is NaN or +-inf
        _row_axpy_nonfinite(dst, src, a, cc, assign)
    elif assign:
        for j in range(cc):
            dst[j] = a * src[j]
    else:
        for j in range(cc):
            dst[j] += a * src[j]


cdef inline void _row_add(double *dst, const double *src, ITYPE_t cc) noexcept nogil:
    """``dst += src``: an input's adjoint row added to its row of the result."""
    cdef ITYPE_t j
    for j in range(cc):
        dst[j] += src[j]


cdef inline bint _combine2(double *dst, const double *s0, double w0, bint z0,
                          const double *s1, double w1, bint z1, ITYPE_t cc) noexcept nogil:
    """``dst = w0 * s0 + w1 * s1``, leaving out rows flagged zero (``z0``, ``z1``);
    returns 0 when both are zero (``dst`` is then not written)."""
    cdef ITYPE_t j
    if z0 and z1:
        return 0
    if z1:
        _row_axpy(dst, s0, w0, cc, 1)
    elif z0:
        _row_axpy(dst, s1, w1, cc, 1)
    elif w0 - w0 != 0.0 or w1 - w1 != 0.0:
        _row_axpy(dst, s0, w0, cc, 1)
        _row_axpy(dst, s1, w1, cc, 0)
    else:
        for j in range(cc):
            dst[j] = w0 * s0[j] + w1 * s1[j]
    return 1


cdef inline void _node_args(const ITYPE_t *a0, const ITYPE_t *a1, const ITYPE_t *a2,
                            ITYPE_t k, ITYPE_t *i0, ITYPE_t *i1, ITYPE_t *i2) noexcept nogil:
    """The arguments of node ``k``, an unused one (-1) replaced by argument 0 as the
    per-node rules expect."""
    i0[0] = a0[k]
    i1[0] = a1[k] if a1[k] >= 0 else i0[0]
    i2[0] = a2[k] if a2[k] >= 0 else i0[0]


cdef inline bint _adjoint_partials(uint8_t o, ITYPE_t k, ITYPE_t i0, ITYPE_t i1,
                                   ITYPE_t i2, const double *cst, const uint8_t *d1t,
                                   const double *vals, ITYPE_t *args,
                                   double *d) noexcept nogil:
    """The arguments ``args`` and first partials ``d`` of node ``k`` for a reverse
    step; False, with nothing computed, when every first partial of ``o`` is
    classified zero (the node passes nothing back)."""
    if not (d1t[3 * o] or d1t[3 * o + 1] or d1t[3 * o + 2]):
        return 0
    args[0] = i0
    args[1] = i1
    args[2] = i2
    first_partials(o, vals[i0], vals[i1], vals[i2], vals[k], cst[k], d)
    return 1


cdef inline bint _propagates(uint8_t o, ITYPE_t i, const uint8_t *d1t, bint sel,
                             const double *d) noexcept nogil:
    """Whether argument ``i`` of a node with opcode ``o`` and first partials ``d``
    takes a first-order term: its partial is not classified zero, and is not the
    zero of a selection's branch not taken (``sel``), which is never read."""
    return d1t[3 * o + i] and not (sel and d[i] == 0.0)


cdef inline double _scale(double a, double s) noexcept nogil:
    """``a * s``, but 0 when ``s`` is 0 (a NaN partial times a zero adjoint is 0)."""
    return a * s if s != 0.0 else 0.0


# ---------------------------------------------------------------------------
# Block helpers for strided segments. A strided segment of the plan (``plan``
# in cysrc/vm.pyx) is a stretch [s, e) of one opcode whose arguments are
# arithmetic progressions, ``arg_t(s + i) = b_t + i * st_t``; the kernels walk
# it in blocks of BLK nodes with no index loads. Unused arguments (base -1)
# are replaced by argument 0, as the per-node rules do.

cdef enum:
    BLK = 1024       # nodes per block of a strided segment (scratch of 8-48 KiB)
    SEG_COLS = 9     # columns of a plan row
    UNIT_COLS = 3    # columns of a unit (step) row: plan row, start, stop


cdef inline bint _blocked(const uint8_t *op, const ITYPE_t *row) noexcept nogil:
    """Whether the segment ``row`` runs in blocks: strided, and not of leaves
    (constants, inputs, parameters have no arguments to stride over)."""
    return row[2] and not _is_leaf(op[row[0]])


cdef inline void _progressions(const ITYPE_t *row, ITYPE_t *b, ITYPE_t *st) noexcept nogil:
    """The argument progressions ``b[t] + i * st[t]`` (t < 3) of the strided segment
    ``row``, an unused argument replaced by argument 0."""
    cdef ITYPE_t t
    for t in range(3):
        b[t] = row[3 + 2 * t]
        st[t] = row[4 + 2 * t]
        if b[t] < 0:
            b[t] = b[0]
            st[t] = st[0]


cdef inline bint _is_leaf(uint8_t o) noexcept nogil:
    return o == OP_CONST or o == OP_VAR or o == OP_PARAM


cdef inline ITYPE_t _last(ITYPE_t b, ITYPE_t st, ITYPE_t L) noexcept nogil:
    """The largest of ``b + i * st`` for ``0 <= i < L``."""
    return b + (L - 1) * st if st > 0 else b


cdef enum:
    FLAGS_NONE = 0   # _flags_state: no flag set
    FLAGS_ALL = 1    # every flag set
    FLAGS_MIXED = 2


cdef extern from "sweep_flags.h":
    int symasd_sw_flags_state(const uint8_t *f, ITYPE_t st, ITYPE_t L) noexcept nogil


cdef inline int _flags_state(const uint8_t *f, ITYPE_t b, ITYPE_t st,
                             ITYPE_t L) noexcept nogil:
    """FLAGS_NONE, FLAGS_ALL or FLAGS_MIXED for the 0/1 flags ``f[b + i * st]``
    (``0 <= i < L``, ``L >= 1``)."""
    return symasd_sw_flags_state(f + b, st, L)


cdef inline void _set_flags(uint8_t *f, ITYPE_t ks, ITYPE_t L, uint8_t v) noexcept nogil:
    cdef ITYPE_t i
    for i in range(L):
        f[ks + i] = v


cdef inline bint _all_finite(const double *D, ITYPE_t L) noexcept nogil:
    """Whether every ``D[i]`` (``0 <= i < L``) is finite."""
    cdef ITYPE_t i
    cdef double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0
    # d - d is 0 for a finite d and NaN otherwise; four sums break the add chain
    i = 0
    while i + 4 <= L:
        a0 += D[i] - D[i]
        a1 += D[i + 1] - D[i + 1]
        a2 += D[i + 2] - D[i + 2]
        a3 += D[i + 3] - D[i + 3]
        i += 4
    while i < L:
        a0 += D[i] - D[i]
        i += 1
    return (a0 + a1) + (a2 + a3) == 0.0


cdef void _block_values(uint8_t o, ITYPE_t ks, ITYPE_t L, ITYPE_t b0, ITYPE_t s0,
                        ITYPE_t b1, ITYPE_t s1, ITYPE_t b2, ITYPE_t s2, const double *cst,
                        double *vals, bint apart=False) noexcept nogil:
    """Values of the block ``[ks, ks + L)``: ``strided_values`` of
    cysrc/_op_rules.pxi, or a vectorizable kernel when no argument lies in
    the block (``apart``)."""
    cdef double *out = vals + ks
    cdef const double *c = cst + ks
    if apart and (o == OP_ADD or o == OP_SUB or o == OP_MUL or o == OP_DIV):
        # no argument in the block: the compiler may vectorize
        symasd_sw_values2(o - OP_ADD, out, vals + b0, s0, vals + b1, s1, L)
    else:
        strided_values(o, L, b0, s0, b1, s1, b2, s2, c, vals, out)


cdef double ONES[BLK]
cdef double MINUS_ONES[BLK]
for _i in range(BLK):
    ONES[_i] = 1.0
    MINUS_ONES[_i] = -1.0


cdef void _block_partials(uint8_t o, ITYPE_t ks, ITYPE_t L, ITYPE_t b0, ITYPE_t s0,
                          ITYPE_t b1, ITYPE_t s1, ITYPE_t b2, ITYPE_t s2, const double *cst,
                          const double *vals, double **D) noexcept nogil:
    """First partials of the block's nodes: ``D[t][i]`` = d node(ks + i) / d arg_t
    (``first_partials``; the frequent ops get their own loops). Constant partials
    point ``D[t]`` at the shared arrays ``ONES``/``MINUS_ONES`` instead."""
    cdef ITYPE_t i
    cdef double y
    cdef double d[3]
    cdef const double *v = vals + ks
    cdef const double *c = cst + ks
    cdef double *D0 = D[0]
    cdef double *D1 = D[1]
    cdef double *D2 = D[2]
    if o == OP_ADD or o == OP_SUB:
        D[0] = &ONES[0]
        if o == OP_ADD:
            D[1] = &ONES[0]
        else:
            D[1] = &MINUS_ONES[0]
    elif o == OP_NEG:
        D[0] = &MINUS_ONES[0]
    elif o == OP_MUL:
        for i in range(L):
            D0[i] = vals[b1 + i * s1]
            D1[i] = vals[b0 + i * s0]
    elif o == OP_SQUARE:
        for i in range(L):
            D0[i] = 2.0 * vals[b0 + i * s0]
    elif o == OP_DIV:
        for i in range(L):
            y = vals[b1 + i * s1]
            D0[i] = 1.0 / y
            D1[i] = -v[i] / y
    elif o == OP_EXP:
        for i in range(L):
            D0[i] = v[i]
    elif o == OP_TANH:
        for i in range(L):
            D0[i] = 1.0 - v[i] * v[i]
    else:
        for i in range(L):
            first_partials(o, vals[b0 + i * s0], vals[b1 + i * s1], vals[b2 + i * s2], v[i],
                           c[i], d)
            D0[i] = d[0]
            D1[i] = d[1]
            D2[i] = d[2]


cdef void _block_hessian_coefs(uint8_t o, ITYPE_t ks, ITYPE_t L, ITYPE_t b0, ITYPE_t s0,
                               ITYPE_t b1, ITYPE_t s1, const double *cst, const double *vals,
                               const double *a, double *H0, double *H1,
                               double *H2) noexcept nogil:
    """Second partials of the block's nodes times their scalar adjoints ``a[i]``
    (``_scale(h, a[i])``): ``H0`` d2/dx2, ``H1`` d2/dxdy, ``H2`` d2/dy2
    (``second_partials``; SQUARE and MUL blocks use ``_square_mul_coefs``)."""
    cdef ITYPE_t i
    cdef double ak
    cdef double h[3]
    cdef const double *v = vals + ks
    cdef const double *c = cst + ks
    for i in range(L):
        second_partials(o, vals[b0 + i * s0], vals[b1 + i * s1], v[i], c[i], h)
        ak = a[i]
        H0[i] = _scale(h[0], ak)
        H1[i] = _scale(h[1], ak)
        H2[i] = _scale(h[2], ak)


cdef bint _square_mul_coefs(uint8_t o, ITYPE_t L, const ITYPE_t *c,
                            const ITYPE_t *st, const double *vals, const double *a,
                            const bint *live, const bint *use_h, double *D0, double *D1,
                            double *H0, double *H1) noexcept nogil:
    """``_block_partials`` and ``_block_hessian_coefs`` of a SQUARE or MUL block (arguments
    ``c[t] + i st[t]``, scalar adjoints ``a[i]``), for the live arguments and the used
    second-order terms (``use_h`` as in ``_hvp_strided``) only; returns whether all of
    them are finite."""
    if o == OP_SQUARE:
        return ((not live[0] or symasd_sw_partial(D0, vals + c[0], st[0], 2.0, L))
                and (not use_h[0] or symasd_sw_hcoefs(H0, 2.0, a, L)))
    return ((not live[0] or symasd_sw_partial(D0, vals + c[1], st[1], 0.0, L))
            and (not live[1] or symasd_sw_partial(D1, vals + c[0], st[0], 0.0, L))
            and (not (use_h[1] or use_h[2]) or symasd_sw_hcoefs(H1, 1.0, a, L)))


cdef inline bint _constant_partials(uint8_t o) noexcept nogil:
    """Ops whose first partials are finite constants (no finiteness check needed)."""
    return o == OP_ADD or o == OP_SUB or o == OP_NEG


cdef inline bint _const_arg(const uint8_t *op, ITYPE_t b, ITYPE_t st,
                            ITYPE_t L) noexcept nogil:
    """Whether the ``L`` nodes of an argument progression are all constants or
    parameters: their adjoints are never read, so the reverse sweeps need not
    accumulate them (nor compute the partials that would)."""
    cdef ITYPE_t i
    for i in range(L if st != 0 else 1):
        if op[b + i * st] != OP_CONST and op[b + i * st] != OP_PARAM:
            return False
    return True


cdef extern from "sweep_kernels.h":
    bint symasd_sw_partial(double *out, const double *x, ITYPE_t sx, double f,
                           ITYPE_t L) noexcept nogil
    bint symasd_sw_hcoefs(double *out, double h, const double *a, ITYPE_t L) noexcept nogil
    void symasd_sw_values2(int which, double *out, const double *x, ITYPE_t sx,
                           const double *y, ITYPE_t sy, ITYPE_t L) noexcept nogil
    void symasd_sw_gather_run(double *data, const ITYPE_t *indptr, const int32_t *idx32,
                              const ITYPE_t *idx64, ITYPE_t r0, ITYPE_t count,
                              const double *rows, ITYPE_t rstep, const uint8_t *zero,
                              ITYPE_t j0, ITYPE_t cc, ITYPE_t ctot) noexcept nogil
    void symasd_sw_zero_rows(const double *rows, ITYPE_t rstep, ITYPE_t L, ITYPE_t cc,
                             uint8_t *tz) noexcept nogil
    void symasd_sw_scalar(double *dst, ITYPE_t st, uint8_t *flag, const double *src,
                          const double *D, ITYPE_t L, int uniform) noexcept nogil
    void symasd_sw_add_rows(double *dst, ITYPE_t dstep, const double *src, ITYPE_t sstep,
                            ITYPE_t L, ITYPE_t cc) noexcept nogil
    void symasd_sw_scalar_pairs(double *dst, uint8_t *flag, const double *src,
                                const double *D0, const double *D1, ITYPE_t L,
                                bint add) noexcept nogil
    void symasd_sw_rev_rows(double *dst, ITYPE_t dstep, uint8_t *flag, ITYPE_t st,
                            const double *src, const double *D, ITYPE_t L,
                            ITYPE_t cc) noexcept nogil
    void symasd_sw_hvp_rows(double *dst, ITYPE_t dstep, uint8_t *flag, ITYPE_t st,
                            ITYPE_t nr, const double *r0, ITYPE_t t0, const double *W0,
                            const double *r1, ITYPE_t t1, const double *W1,
                            const double *r2, ITYPE_t t2, const double *W2, ITYPE_t L,
                            ITYPE_t cc) noexcept nogil
    void symasd_sw_rows1(double *dst, ITYPE_t dstep, const double *r0, ITYPE_t t0,
                  const double *D0, ITYPE_t L, ITYPE_t cc) noexcept nogil
    void symasd_sw_rows2(double *dst, ITYPE_t dstep, const double *r0, ITYPE_t t0,
                  const double *r1, ITYPE_t t1, const double *D0, const double *D1,
                  ITYPE_t L, ITYPE_t cc) noexcept nogil
    void symasd_sw_flat1(double *dst, const double *r0, double w0, ITYPE_t n) noexcept nogil
    void symasd_sw_flat2(double *dst, const double *r0, const double *r1, double w1,
                  ITYPE_t n) noexcept nogil


cdef void _values_range(const uint8_t *op, const ITYPE_t *a0, const ITYPE_t *a1,
                        const ITYPE_t *a2, const double *cst, const ITYPE_t *row, ITYPE_t ks,
                        ITYPE_t ke, const double *x, const double *p,
                        double *vals) noexcept nogil:
    """Values of the nodes ``[ks, ke)`` of the segment ``row``."""
    cdef ITYPE_t k, s = row[0], i0, i1, i2, t
    cdef ITYPE_t b[3]
    cdef ITYPE_t st[3]
    cdef uint8_t o
    if _blocked(op, row):
        _progressions(row, b, st)
        for t in range(3):
            b[t] += (ks - s) * st[t]
        _block_values(op[s], ks, ke - ks, b[0], st[0], b[1], st[1], b[2], st[2], cst, vals)
        return
    for k in range(ks, ke):
        o = op[k]
        if o == OP_CONST:
            vals[k] = cst[k]
        elif o == OP_VAR:
            vals[k] = x[<ITYPE_t>cst[k]]
        elif o == OP_PARAM:
            vals[k] = p[<ITYPE_t>cst[k]]
        else:
            _node_args(a0, a1, a2, k, &i0, &i1, &i2)
            vals[k] = apply_op(o, vals[i0], vals[i1], vals[i2], cst[k])


cdef void _values(Nodes nd, const ITYPE_t *seg, ITYPE_t nseg, const double *x,
                  const double *p, double *vals) noexcept nogil:
    """Values of every node, segment by segment."""
    cdef ITYPE_t r
    cdef const ITYPE_t *row
    for r in range(nseg):
        row = seg + SEG_COLS * r
        _values_range(nd.op, nd.a0, nd.a1, nd.a2, nd.cst, row, row[0], row[1], x, p, vals)
