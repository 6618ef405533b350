# Numeric compressed sweeps over a graph's node arrays: forward (c JVPs),
# reverse (c VJPs) and forward-over-reverse (c HVPs of a scalar output).
#
# Every sweep is one pass over the nodes in topological order (and, for the
# reverse sweeps, one pass back), with no Python per node. Node values come
# from ``apply_op`` (cysrc/_node_values.pxi, shared with the virtual
# machine); local derivatives from two inline C functions that mirror the op
# table's partial rules (symasd/ops.py): ``first_partials`` and
# ``second_partials``. Structural zeros are skipped with one flag per node:
# a tangent row that is known to be zero is never read or written, an
# adjoint row that no output reaches is never propagated, and an argument
# whose first (second, cross) derivative is classified as identically zero
# (``d1``/``d2``/``cross`` tables of ``symasd.ops.classification_tables``)
# contributes nothing.
#
# The passes walk the segments of the virtual machine's plan (``Graph.segments``,
# ``plan`` in cysrc/vm.pyx). An indexed segment goes node by node through the
# argument arrays. A strided segment (one opcode, arguments in arithmetic
# progressions) goes in blocks of BLK nodes with no index loads: the block's
# values, then its local partials (one array per argument, computed once and
# reused by all directions), then the direction rows in tight loops. A block
# takes the tight loops when its flags are uniform and its partials finite;
# otherwise, and for selections, it runs the per-node rules with computed
# indices. Both paths perform the same floating-point operations in the same
# order, so the results are identical for every plan (tests compare them
# bit for bit with an all-indexed plan).
#
# Selections (``where``, ``maximum``, ``minimum``) *select* a derivative
# rather than multiply by 0/1: the derivative of the branch that is not taken
# is never read, so a NaN or inf in a discarded branch does not leak into the
# result. At a NaN argument, ``maximum``/``minimum`` (whose value is then
# NaN) have NaN partials, so NaN inputs give NaN derivatives. A NaN or
# infinite partial scales only the nonzero entries of a direction row, so the
# NaN reaches exactly the entries that depend on it, never entries outside
# the sparsity pattern.
#
# Work arrays: values N, tangents / adjoints N x cc where cc is the number of
# directions per chunk (the callers split c columns into chunks to bound
# memory); the forward sweep's row layout (``RowLayout``) shrinks its tangents
# to the rows live at one time. Rows are assigned on first write, so no
# N x cc array is zeroed; the work buffer is cached per thread
# (``WORKSPACE_KEEP_BYTES``).
include "_types.pxi"
include "_opcodes.pxi"
include "_node_values.pxi"
include "_partials.pxi"

import threading

from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import numpy as np


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
    cysrc/_node_values.pxi, or a vectorizable kernel when no argument lies in
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


# ---------------------------------------------------------------------------
# Forward sweep: values and tangents.
#
# Tangent rows are placed by a row layout. Its *units* are runs of nodes of
# one plan segment, in the order the sweep runs them; per unit, the row of its
# first node and the distance between consecutive rows. The identity layout
# runs the plan's segments and puts node k's row at T + k * cc. The forward
# sweep's own layout (``RowLayout``, built once per graph by ``forward_layout``)
# runs blocks of segments in a tiled order (a consumer a block behind its
# producers), reads the rows of a run of inputs straight from the seed matrix,
# writes the rows of a run of outputs straight into B, and gives every other
# unit slots of T that are reused once all its readers have run: T holds the
# few live rows only, which keeps the sweep in cache (it is bound by memory
# traffic more than by arithmetic).

cdef enum:
    ROWS_SLOT = 0   # rows in T at slots off + (k - start), cc apart
    ROWS_SEED = 1   # a run of inputs: seed rows off + (k - start), ctot apart
    ROWS_OUT = 2    # a run of outputs: rows off + (k - start) of B, ctot apart
    ROWS_NONE = 3   # constants and parameters: no rows (their tangents are zero)
    ROWS_SKIP = 4   # tangents nobody reads (hvp_sweep): values only, no rows
    ROWS_DEAD = 5   # neither tangents nor values are read (hvp_sweep, no value): nothing


cdef struct Layout:
    bint ident              # node k's row is T + k * cc (the other fields are unused)
    ITYPE_t cc
    double *T
    const ITYPE_t *units    # the units of rows, in execution order: (plan row, start, stop)
    const ITYPE_t *unit_of  # node -> unit
    const ITYPE_t *unext    # per unit: the next unit of its segment (-1: none)
    const uint8_t *kind     # per unit: ROWS_*
    const ITYPE_t *off      # per unit: its first slot, seed row or output position
    ITYPE_t n_slots         # slots of T (row n_slots: a scratch row)
    double **first          # per unit: the row of its first node
    ITYPE_t *rs             # per unit: distance of consecutive rows, in doubles
    ITYPE_t *hints          # per plan segment and argument: the unit its rows were
                            # last found in (-1: none), for _prog_rows_hint
    ITYPE_t nseg
    const uint8_t *vneed    # per unit: whether its values are computed (NULL: all)
    double *A               # hvp_sweep's scalar adjoints, one per slot (see _adj)


cdef inline double *_rowp(const Layout *lay, ITYPE_t k) noexcept nogil:
    """The tangent row of node ``k``."""
    cdef ITYPE_t g
    if lay.ident:
        return lay.T + k * lay.cc
    g = lay.unit_of[k]
    return lay.first[g] + (k - lay.units[UNIT_COLS * g + 1]) * lay.rs[g]


cdef inline double *_adj(const Layout *lay, ITYPE_t k) noexcept nogil:
    """The scalar adjoint of node ``k`` in the adjoint layout of hvp_sweep: in the slot
    of its adjoint tangent row (``A + k`` in the identity layout), the scratch slot for
    constants and parameters. Slots are reused, so the reverse pass keeps its working
    set in few slots rather than one double per node."""
    cdef ITYPE_t g
    if lay.ident:
        return lay.A + k
    g = lay.unit_of[k]
    if lay.kind[g] != ROWS_SLOT:
        return lay.A + lay.n_slots
    return lay.A + lay.off[g] + (k - lay.units[UNIT_COLS * g + 1])


cdef inline bint _adj_slots(const Layout *lay, ITYPE_t k) noexcept nogil:
    """Whether the scalar adjoints of node ``k``'s unit have slots of their own (they
    are consecutive, like the nodes), not the scratch slot."""
    return lay.ident or lay.kind[lay.unit_of[k]] == ROWS_SLOT


cdef inline ITYPE_t _prog_rows(const Layout *lay, ITYPE_t c, ITYPE_t st, ITYPE_t L,
                               double **p, ITYPE_t *step) noexcept nogil:
    """Rows of the nodes ``c + i st``: ``p[0] + i * step[0]`` for ``i`` below the
    returned count (at most ``L``: the terms within the unit of node ``c``)."""
    cdef ITYPE_t g, gs, ge, nn
    if lay.ident:
        p[0] = lay.T + c * lay.cc
        step[0] = st * lay.cc
        return L
    g = lay.unit_of[c]
    gs = lay.units[UNIT_COLS * g + 1]
    ge = lay.units[UNIT_COLS * g + 2]
    p[0] = lay.first[g] + (c - gs) * lay.rs[g]
    step[0] = st * lay.rs[g]
    if st > 0:
        nn = (ge - c + st - 1) // st
    elif st < 0:
        nn = (c - gs) // (-st) + 1
    else:
        nn = L
    return min(L, nn)


cdef inline ITYPE_t _prog_rows_hint(const Layout *lay, ITYPE_t c, ITYPE_t st, ITYPE_t L,
                                    double **p, ITYPE_t *step,
                                    ITYPE_t *hint) noexcept nogil:
    """``_prog_rows``, trying first the unit ``hint[0]`` (the unit found last time for
    this argument, or -1) and the next unit of its segment: consecutive blocks read
    consecutive units, and ``unit_of`` is a large array to load from."""
    cdef ITYPE_t g = hint[0], gs, ge, nn
    if lay.ident:
        return _prog_rows(lay, c, st, L, p, step)
    if g >= 0 and not (lay.units[UNIT_COLS * g + 1] <= c < lay.units[UNIT_COLS * g + 2]):
        g = lay.unext[g]
        if g >= 0 and not (lay.units[UNIT_COLS * g + 1] <= c < lay.units[UNIT_COLS * g + 2]):
            g = -1
    if g < 0:
        g = lay.unit_of[c]
    hint[0] = g
    gs = lay.units[UNIT_COLS * g + 1]
    ge = lay.units[UNIT_COLS * g + 2]
    p[0] = lay.first[g] + (c - gs) * lay.rs[g]
    step[0] = st * lay.rs[g]
    if st > 0:
        nn = (ge - c + st - 1) // st
    elif st < 0:
        nn = (c - gs) // (-st) + 1
    else:
        nn = L
    return min(L, nn)


cdef void _place_rows(Layout *lay, ITYPE_t nseg, ITYPE_t cc, const double *S, double *B,
                      ITYPE_t ctot, ITYPE_t j0) noexcept nogil:
    """Point the rows of every one of the ``nseg`` units into T (``cc`` directions), the seed matrix ``S`` or
    the output matrix ``B`` (columns ``j0 .. j0+cc`` of ``ctot``)."""
    cdef ITYPE_t g
    lay.cc = cc
    if lay.ident:
        return
    for g in range(nseg):
        if lay.kind[g] == ROWS_SLOT:
            lay.first[g] = lay.T + lay.off[g] * cc
            lay.rs[g] = cc
        elif lay.kind[g] == ROWS_SEED:
            lay.first[g] = <double *>S + lay.off[g] * ctot + j0
            lay.rs[g] = ctot
        elif lay.kind[g] == ROWS_OUT:
            lay.first[g] = B + lay.off[g] * ctot + j0
            lay.rs[g] = ctot
        else:
            # no rows: writes that the per-node rules make anyway land in a scratch row
            lay.first[g] = lay.T + lay.n_slots * cc
            lay.rs[g] = 0


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
        if not d1t[3 * o + i] or tz[args[i]]:
            continue
        if sel and d[i] == 0.0:
            continue
        _row_axpy(dst, rows[i], d[i], cc, first)
        first = 0
    tz[k] = 1 if first else 0


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
    for t in range(3):
        b[t] = row[3 + 2 * t]
        st[t] = row[4 + 2 * t]
        if b[t] < 0:
            b[t] = b[0]
            st[t] = st[0]
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


cdef void _values_range(const uint8_t *op, const ITYPE_t *a0, const ITYPE_t *a1,
                        const ITYPE_t *a2, const double *cst, const ITYPE_t *row, ITYPE_t ks,
                        ITYPE_t ke, const double *x, const double *p,
                        double *vals) noexcept nogil:
    """Values of the nodes ``[ks, ke)`` of the segment ``row``."""
    cdef ITYPE_t k, s = row[0], i0, i1, i2, t
    cdef ITYPE_t b[3]
    cdef ITYPE_t st[3]
    cdef uint8_t o
    if row[2] and not _is_leaf(op[s]):
        for t in range(3):
            b[t] = row[3 + 2 * t]
            st[t] = row[4 + 2 * t]
            if b[t] < 0:
                b[t] = b[0]
                st[t] = st[0]
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
            i0 = a0[k]
            i1 = a1[k] if a1[k] >= 0 else i0
            i2 = a2[k] if a2[k] >= 0 else i0
            vals[k] = apply_op(o, vals[i0], vals[i1], vals[i2], cst[k])


cdef void _values(const uint8_t *op, const ITYPE_t *a0, const ITYPE_t *a1,
                  const ITYPE_t *a2, const double *cst, const ITYPE_t *seg, ITYPE_t nseg,
                  const double *x, const double *p, double *vals) noexcept nogil:
    """Values of every node, segment by segment."""
    cdef ITYPE_t r
    cdef const ITYPE_t *row
    for r in range(nseg):
        row = seg + SEG_COLS * r
        _values_range(op, a0, a1, a2, cst, row, row[0], row[1], x, p, vals)


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
            i0 = a0[k]
            i1 = a1[k] if a1[k] >= 0 else i0
            i2 = a2[k] if a2[k] >= 0 else i0
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


cdef void _forward(const uint8_t *op, const ITYPE_t *a0, const ITYPE_t *a1,
                   const ITYPE_t *a2, const double *cst, const ITYPE_t *seg,
                   const ITYPE_t *units, ITYPE_t nunits, const uint8_t *d1t, const double *x,
                   const double *p, bint compute_values, double *vals, const double *S,
                   ITYPE_t ctot, ITYPE_t j0, ITYPE_t cc, const Layout *lay,
                   const uint8_t *sz, uint8_t *tz, const RowOut *out) noexcept nogil:
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
                _values_range(op, a0, a1, a2, cst, row, ks, ke, x, p, vals)
        elif row[2] and not _is_leaf(op[s]):
            _fwd_strided(op[s], ks, ke, row, cst, d1t, compute_values, vals, lay, first_row,
                         dstep, cc, tz, lay.hints + 3 * r if lay.hints != NULL else NULL)
        elif kind == ROWS_SEED:
            _fwd_seed_rows(ks, ke, <ITYPE_t>cst[ks], x, compute_values, vals, first_row,
                           dstep, cc, sz, tz)
        else:
            _fwd_indexed(op, a0, a1, a2, cst, ks, ke, d1t, x, p, compute_values, vals, S,
                         ctot, j0, cc, lay, first_row, dstep, tz)
        if out == NULL:
            continue
        for q in range(out.run_ptr[u], out.run_ptr[u + 1]):
            k = out.runs[3 * q + 1]
            symasd_sw_gather_run(out.data, out.indptr, out.idx32, out.idx64, out.runs[3 * q],
                                 out.runs[3 * q + 2], first_row + (k - ks) * dstep, dstep,
                                 tz + k, out.j0, cc, out.ctot)


# ---------------------------------------------------------------------------
# Reverse sweep: adjoints.


cdef inline void _rev_node(ITYPE_t k, uint8_t o, ITYPE_t i0, ITYPE_t i1, ITYPE_t i2,
                           const double *cst, const uint8_t *d1t, const double *vals,
                           ITYPE_t ctot, ITYPE_t j0, ITYPE_t cc, double *A,
                           uint8_t *touched, double *Bt) noexcept nogil:
    """Propagate the adjoint row ``A[k]`` of a reached node ``k`` to its arguments."""
    cdef ITYPE_t j, i, ai, idx
    cdef double w0, w1
    cdef ITYPE_t args[3]
    cdef double d[3]
    cdef bint sel
    cdef double *src = A + k * cc
    cdef double *brow
    if o == OP_VAR:
        idx = <ITYPE_t>cst[k]
        brow = Bt + idx * ctot + j0
        for j in range(cc):
            brow[j] += src[j]
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
    if not (d1t[3 * o] or d1t[3 * o + 1] or d1t[3 * o + 2]):
        return
    args[0] = i0
    args[1] = i1
    args[2] = i2
    first_partials(o, vals[i0], vals[i1], vals[i2], vals[k], cst[k], d)
    sel = _is_selection(o)
    for i in range(3):
        if not d1t[3 * o + i]:
            continue
        if sel and d[i] == 0.0:
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
    for t in range(3):
        b[t] = row[3 + 2 * t]
        st[t] = row[4 + 2 * t]
        if b[t] < 0:
            b[t] = b[0]
            st[t] = st[0]
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


cdef void _reverse(const uint8_t *op, const ITYPE_t *a0, const ITYPE_t *a1,
                   const ITYPE_t *a2, const double *cst, const ITYPE_t *seg, ITYPE_t nseg,
                   const uint8_t *d1t, const double *vals, const ITYPE_t *outputs,
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
        k = outputs[r]
        _row_axpy(A + k * cc, wrow, 1.0, cc, not touched[k])
        touched[k] = 1
    r = nseg
    while r > 0:
        r -= 1
        row = seg + SEG_COLS * r
        s = row[0]
        e = row[1]
        if row[2] and not _is_leaf(op[s]):
            _rev_strided(op[s], s, e, row, op, cst, d1t, vals, cc, A, touched)
            continue
        k = e
        while k > s:
            k -= 1
            if not touched[k]:
                continue
            i0 = a0[k]
            i1 = a1[k] if a1[k] >= 0 else i0
            i2 = a2[k] if a2[k] >= 0 else i0
            _rev_node(k, op[k], i0, i1, i2, cst, d1t, vals, ctot, j0, cc, A, touched, Bt)


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
    cdef ITYPE_t j, i, jj, ai, aj, idx
    cdef ITYPE_t args[3]
    cdef double d[3]
    cdef double h[3]
    cdef double ak, hij, w0, w1
    cdef bint cross_nz, sel, assign, need_h, structural
    cdef double *src = _rowp(al, k)
    cdef double *dst
    cdef double *hrow
    cdef double *aa
    if o == OP_VAR:
        idx = <ITYPE_t>cst[k]
        if ra[k] and grad != NULL:
            grad[idx] += _adj(al, k)[0]
        if rt[k]:
            hrow = HV + idx * ctot + j0
            for j in range(cc):
                hrow[j] += src[j]
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
    if not (d1t[3 * o] or d1t[3 * o + 1] or d1t[3 * o + 2]):
        return
    args[0] = i0
    args[1] = i1
    args[2] = i2
    first_partials(o, vals[i0], vals[i1], vals[i2], vals[k], cst[k], d)
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
        if not d1t[3 * o + i]:
            continue
        if sel and d[i] == 0.0:
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
    for t in range(3):
        b[t] = row[3 + 2 * t]
        st[t] = row[4 + 2 * t]
        if b[t] < 0:
            b[t] = b[0]
            st[t] = st[0]
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
    cdef ITYPE_t k, ks, ke = e, g, step, j
    cdef double *rows
    cdef const double *adj
    cdef const double *src
    cdef double *hrow
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
                src = rows + (k - ks) * step
                hrow = HV + <ITYPE_t>cst[k] * ctot + j0
                for j in range(cc):
                    hrow[j] += src[j]
        ke = ks


cdef void _hvp_reverse(const uint8_t *op, const ITYPE_t *a0, const ITYPE_t *a1,
                       const ITYPE_t *a2, const double *cst, const ITYPE_t *seg,
                       ITYPE_t nseg, ITYPE_t n_nodes, const uint8_t *d1t,
                       const uint8_t *d2t, const uint8_t *crt, const double *vals,
                       ITYPE_t out, const Layout *tl, const uint8_t *tz, ITYPE_t ctot,
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
    r = nseg
    while r > 0:
        r -= 1
        row = seg + SEG_COLS * r
        s = row[0]
        e = row[1]
        if row[2] and not _is_leaf(op[s]):
            _hvp_strided(op[s], s, e, row, op, cst, d1t, d2t, crt, vals, tl, tz, cc, ra,
                         al, _rowp(al, s), cc if al.ident else al.rs[r], rt)
            continue
        if op[s] == OP_VAR:
            # (a run of inputs in order is read from the seeds in place by the tangents)
            _hvp_inputs(s, e, cst, ra, rt, al, ctot, j0, cc,
                        tl.off[r] if not tl.ident and tl.kind[r] == ROWS_SEED else -1,
                        grad, HV)
            continue
        k = e
        while k > s:
            k -= 1
            if not ra[k] and not rt[k]:
                continue
            i0 = a0[k]
            i1 = a1[k] if a1[k] >= 0 else i0
            i2 = a2[k] if a2[k] >= 0 else i0
            _hvp_node(k, op[k], i0, i1, i2, cst, d1t, d2t, crt, vals, tl, tz, ctot, j0, cc,
                      ra, al, rt, grad, HV)


# ---------------------------------------------------------------------------
# Row layout of the forward sweep.


cdef class RowLayout:
    """Where :func:`forward_sweep` keeps the tangent rows of one graph: built by
    :func:`forward_layout`, opaque otherwise. It holds the segment plan it was
    built for, its units (plan row, start, stop; in execution order), the number
    of slots of the tangent work array, per unit, whether a sweep with
    ``values=False`` computes its values (``vneed``), and whether the outputs'
    nonzeros are gathered unit by unit (``gathered``)."""
    cdef readonly ITYPE_t n_nodes, n_inputs, n_outputs, n_slots
    cdef readonly int mode
    cdef readonly bint values   # every value is computed (else only those read)
    cdef readonly object plan, units, vneed
    cdef readonly bint gathered
    cdef object _arrays
    cdef size_t op_addr, cst_addr, out_addr
    # typed views, held for the layout's life: a sweep would otherwise acquire each
    # array's buffer at every call
    cdef const ITYPE_t[:, ::1] plan_v, units_v, runs
    cdef const ITYPE_t[::1] unit_of, unext, off, copy_pos, run_ptr
    cdef const uint8_t[::1] kind, vneed_v

    def __repr__(self):
        return (f"RowLayout(n_nodes={self.n_nodes}, segments={self.plan.shape[0]}, "
                f"units={self.units.shape[0]}, n_slots={self.n_slots})")


cdef void _free_slots(ITYPE_t *fs, ITYPE_t *fl, ITYPE_t *nf, ITYPE_t *top, ITYPE_t o,
                      ITYPE_t size) noexcept nogil:
    """Return slots ``[o, o + size)`` to the sorted free list ``fs``/``fl`` (merging
    neighbours; a free run at the top lowers ``top``)."""
    cdef ITYPE_t i = 0, j
    while i < nf[0] and fs[i] < o:
        i += 1
    if i > 0 and fs[i - 1] + fl[i - 1] == o:
        i -= 1
        fl[i] += size
        if i + 1 < nf[0] and fs[i] + fl[i] == fs[i + 1]:
            fl[i] += fl[i + 1]
            for j in range(i + 1, nf[0] - 1):
                fs[j] = fs[j + 1]
                fl[j] = fl[j + 1]
            nf[0] -= 1
    elif i < nf[0] and o + size == fs[i]:
        fs[i] = o
        fl[i] += size
    else:
        j = nf[0]
        while j > i:
            fs[j] = fs[j - 1]
            fl[j] = fl[j - 1]
            j -= 1
        fs[i] = o
        fl[i] = size
        nf[0] += 1
    if nf[0] > 0 and fs[nf[0] - 1] + fl[nf[0] - 1] == top[0]:
        top[0] = fs[nf[0] - 1]
        nf[0] -= 1


cdef inline ITYPE_t _take_slots(ITYPE_t *fs, ITYPE_t *fl, ITYPE_t *nf, ITYPE_t *top,
                               ITYPE_t *peak, ITYPE_t size, bint reuse) noexcept nogil:
    """A run of ``size`` slots: the first free run that fits, else the top."""
    cdef ITYPE_t i, j, o
    if reuse:
        for i in range(nf[0]):
            if fl[i] >= size:
                o = fs[i]
                fs[i] += size
                fl[i] -= size
                if fl[i] == 0:
                    for j in range(i, nf[0] - 1):
                        fs[j] = fs[j + 1]
                        fl[j] = fl[j + 1]
                    nf[0] -= 1
                return o
    o = top[0]
    top[0] += size
    peak[0] = max(peak[0], top[0])
    return o


cdef ITYPE_t _allocate_slots(const ITYPE_t[:, ::1] plan, const uint8_t[::1] kind,
                             const ITYPE_t[::1] last, ITYPE_t[::1] off, bint reuse,
                             bint backward) noexcept nogil:
    """Give every ``ROWS_SLOT`` segment a run of slots (``off``), first fit; returns
    the slots needed. Forward (tangents): a segment's rows are taken when it runs and
    released after its last consumer ``last[g]`` ran. Backward (adjoints, segments
    run last to first): taken when its last consumer runs (the first to write them)
    and released after the segment itself ran."""
    cdef ITYPE_t nseg = plan.shape[0], g, r, t, top = 0, peak = 0, nf = 0
    cdef ITYPE_t *head = <ITYPE_t *>malloc((nseg + 1) * sizeof(ITYPE_t))
    cdef ITYPE_t *link = <ITYPE_t *>malloc((nseg + 1) * sizeof(ITYPE_t))
    cdef ITYPE_t *fs = <ITYPE_t *>malloc((nseg + 2) * sizeof(ITYPE_t))
    cdef ITYPE_t *fl = <ITYPE_t *>malloc((nseg + 2) * sizeof(ITYPE_t))
    if head == NULL or link == NULL or fs == NULL or fl == NULL:
        free(head)
        free(link)
        free(fs)
        free(fl)
        for g in range(nseg):
            if kind[g] == ROWS_SLOT:
                off[g] = top
                top += plan[g, 1] - plan[g, 0]
        return top
    # segments by last consumer
    for g in range(nseg + 1):
        head[g] = -1
    for g in range(nseg):
        if kind[g] == ROWS_SLOT:
            link[g] = head[last[g]]
            head[last[g]] = g
    for r in range(nseg):
        g = nseg - 1 - r if backward else r
        if backward:
            t = head[g]
            while t >= 0:
                off[t] = _take_slots(fs, fl, &nf, &top, &peak, plan[t, 1] - plan[t, 0], reuse)
                t = link[t]
            if reuse and kind[g] == ROWS_SLOT:
                _free_slots(fs, fl, &nf, &top, off[g], plan[g, 1] - plan[g, 0])
        else:
            if kind[g] == ROWS_SLOT:
                off[g] = _take_slots(fs, fl, &nf, &top, &peak, plan[g, 1] - plan[g, 0], reuse)
            if reuse:
                t = head[g]
                while t >= 0:
                    _free_slots(fs, fl, &nf, &top, off[t], plan[t, 1] - plan[t, 0])
                    t = link[t]
    free(head)
    free(link)
    free(fs)
    free(fl)
    return peak


cdef inline bint _const_node(const uint8_t *op, ITYPE_t k) noexcept nogil:
    return op[k] == OP_CONST or op[k] == OP_PARAM


cdef void _dead_units(const uint8_t[::1] op, const ITYPE_t[::1] arg0,
                      const ITYPE_t[::1] arg1, const ITYPE_t[::1] arg2,
                      const ITYPE_t[::1] unit_of, uint8_t[::1] kind,
                      ITYPE_t nu) noexcept nogil:
    """Turn the ``ROWS_SKIP`` units whose values nobody reads into ``ROWS_DEAD``. The
    reverse pass reads the values of the arguments of a SQUARE, of a MUL's argument
    whose partial (the other argument's value) reaches a non-constant node, and of
    every other op with non-constant partials (with its own value); the forward
    pass computes the values of the units with tangents and reads the arguments of
    the values it computes. ADD, SUB and NEG read none."""
    cdef ITYPE_t n = op.shape[0], k, t, v
    cdef uint8_t o
    cdef uint8_t *need = <uint8_t *>malloc(max(n, 1))
    if need == NULL:
        return  # (every value computed, as with values=True)
    for k in range(n):
        need[k] = kind[unit_of[k]] != ROWS_SKIP
    k = n
    while k > 0:
        k -= 1
        o = op[k]
        if _is_leaf(o):
            continue
        if o == OP_SQUARE:
            need[arg0[k]] = 1
        elif o == OP_MUL:
            if not _const_node(&op[0], arg1[k]):
                need[arg0[k]] = 1
            if not _const_node(&op[0], arg0[k]):
                need[arg1[k]] = 1
        elif o != OP_ADD and o != OP_SUB and o != OP_NEG:
            need[k] = 1
        if need[k]:
            for t in range(3):
                v = arg0[k] if t == 0 else (arg1[k] if t == 1 else arg2[k])
                if v >= 0:
                    need[v] = 1
    for k in range(n):
        if need[k] and kind[unit_of[k]] == ROWS_SKIP:
            kind[unit_of[k]] = ROWS_SKIP + 8  # values needed (the mark is undone below)
    for k in range(nu):
        if kind[k] == ROWS_SKIP:
            kind[k] = ROWS_DEAD
        elif kind[k] == ROWS_SKIP + 8:
            kind[k] = ROWS_SKIP
    free(need)


cdef inline bint _tangent_read(const uint8_t[::1] op, const ITYPE_t[::1] arg0,
                               const ITYPE_t[::1] arg1, const uint8_t[:, ::1] d2,
                               const uint8_t[:, ::1] cross, ITYPE_t k,
                               ITYPE_t t) noexcept nogil:
    """Whether the second-order terms of node ``k`` read the tangent of its argument
    ``t`` (0 or 1): through d2/d(arg t)^2, or through the cross partial into the
    other argument's adjoint tangent, unless that argument is a constant or a
    parameter, whose adjoints nobody reads (the 100 in ``100 * y``)."""
    cdef uint8_t o = op[k]
    cdef ITYPE_t other = arg1[k] if t == 0 else arg0[k]
    if d2[o, t]:
        return 1
    return cross[o, 0] and other >= 0 and not _const_node(&op[0], other)


cdef enum:
    LAYOUT_FORWARD = 0   # forward_sweep: inputs from the seeds, outputs into B
    LAYOUT_TANGENTS = 1  # hvp_sweep's tangents: kept where second partials read them
    LAYOUT_ADJOINTS = 2  # hvp_sweep's adjoint tangents: slots taken backward


cdef ITYPE_t _schedule(const ITYPE_t[:, ::1] plan, const uint8_t[::1] op,
                       const ITYPE_t[::1] arg0, const ITYPE_t[::1] arg1,
                       const ITYPE_t[::1] arg2, const ITYPE_t[::1] seg_of,
                       ITYPE_t[::1] progress, ITYPE_t[:, ::1] units,
                       ITYPE_t window) noexcept nogil:
    """A tiled order of the nodes: ``units`` rows (plan row, start, stop), returns
    their number. Rounds over a window of the first ``window`` unfinished segments
    advance each by a block of up to BLK nodes whose arguments are computed (or lie
    earlier in the block itself), so a consumer follows its producers a block
    behind and reads their rows while they are in cache. The first unfinished
    segment can always advance (its arguments lie in finished segments or in
    itself), so the rounds end."""
    cdef ITYPE_t nseg = plan.shape[0], g, gmax, first = 0, nu = 0, ks, ke, kr, t, v, gv
    cdef bint ok
    for g in range(nseg):
        progress[g] = plan[g, 0]
    while first < nseg:
        gmax = min(nseg, first + window)
        for g in range(first, gmax):
            ks = progress[g]
            if ks == plan[g, 1]:
                continue
            ke = min(ks + <ITYPE_t>BLK, plan[g, 1])
            kr = ks
            while kr < ke:
                ok = 1
                if not _is_leaf(op[kr]):
                    for t in range(3):
                        v = arg0[kr] if t == 0 else (arg1[kr] if t == 1 else arg2[kr])
                        if v < 0:
                            continue
                        gv = seg_of[v]
                        if v >= progress[gv] and not (gv == g and v >= ks):
                            ok = 0
                            break
                if not ok:
                    break
                kr += 1
            # a short step only to finish a segment or to keep the front moving
            if kr > ks and (kr == ke or g == first or kr - ks >= BLK // 4):
                units[nu, 0] = g
                units[nu, 1] = ks
                units[nu, 2] = kr
                nu += 1
                progress[g] = kr
        while first < nseg and progress[first] == plan[first, 1]:
            first += 1
    return nu


cdef void _values_needed(const ITYPE_t[:, ::1] units, const uint8_t[::1] op,
                         const ITYPE_t[::1] arg0, const ITYPE_t[::1] arg1,
                         const ITYPE_t[::1] arg2, const uint8_t[:, ::1] d1,
                         const ITYPE_t[::1] unit_of, uint8_t[::1] vneed) noexcept nogil:
    """Flag the units whose values a tangent computation reads (``vneed``, zeros on
    entry): those holding a node whose first partials depend on values (every op
    but the constant-partial ones and those with no nonzero partial) and,
    recursively, the units of the arguments of flagged units' nodes. A unit's
    arguments run before it or in it, so one pass back over the execution order
    closes the set."""
    cdef ITYPE_t nu = units.shape[0], u, k, t, a
    cdef uint8_t o
    u = nu
    while u > 0:
        u -= 1
        if not vneed[u]:
            for k in range(units[u, 1], units[u, 2]):
                o = op[k]
                if not (_is_leaf(o) or _constant_partials(o)
                        or not (d1[o, 0] or d1[o, 1] or d1[o, 2])):
                    vneed[u] = 1
                    break
        if not vneed[u]:
            continue
        for k in range(units[u, 1], units[u, 2]):
            if _is_leaf(op[k]):
                continue
            for t in range(3):
                a = arg0[k] if t == 0 else (arg1[k] if t == 1 else arg2[k])
                if a >= 0:
                    vneed[unit_of[a]] = 1


cdef ITYPE_t _output_runs(const ITYPE_t[:, ::1] units, const ITYPE_t[::1] unit_of,
                         const ITYPE_t[::1] outputs, ITYPE_t[::1] order,
                         ITYPE_t[::1] run_ptr, ITYPE_t[:, ::1] runs) noexcept nogil:
    """The output positions of every unit as runs (first position, first node,
    count) of consecutive positions holding consecutive nodes: unit ``u``'s runs are
    ``runs[run_ptr[u]:run_ptr[u + 1]]``, positions increasing (``run_ptr``: zeros
    on entry; ``order``: scratch of at least ``len(outputs)``). Returns the number
    of runs."""
    cdef ITYPE_t nu = units.shape[0], m = outputs.shape[0], u, r, q, e, s, nr = 0
    for r in range(m):
        run_ptr[unit_of[outputs[r]] + 1] += 1
    for u in range(nu):
        run_ptr[u + 1] += run_ptr[u]
    # positions by unit (a counting sort, stable: increasing within a unit)
    for r in range(m):
        u = unit_of[outputs[r]]
        order[run_ptr[u]] = r
        run_ptr[u] += 1
    q = 0
    for u in range(nu):
        e = run_ptr[u]  # the fill left the end of unit u's positions here
        run_ptr[u] = nr
        s = nr
        while q < e:
            r = order[q]
            if (nr > s and runs[nr - 1, 0] + runs[nr - 1, 2] == r
                    and runs[nr - 1, 1] + runs[nr - 1, 2] == outputs[r]):
                runs[nr - 1, 2] += 1
            else:
                runs[nr, 0] = r
                runs[nr, 1] = outputs[r]
                runs[nr, 2] = 1
                nr += 1
            q += 1
    run_ptr[nu] = nr
    return nr


cdef enum:
    TILE_WINDOW = 64     # segments in flight in a tiled forward order


def _build_layout(const uint8_t[::1] op, const ITYPE_t[::1] arg0, const ITYPE_t[::1] arg1,
                  const ITYPE_t[::1] arg2, const double[::1] cst, const ITYPE_t[::1] outputs,
                  ITYPE_t n_inputs, seg, bint reuse, int mode, const uint8_t[:, ::1] d2=None,
                  const uint8_t[:, ::1] cross=None, bint tile=True, bint values=True,
                  const uint8_t[:, ::1] d1=None, bint gathered=False):
    cdef ITYPE_t n = op.shape[0], m = outputs.shape[0] if mode == LAYOUT_FORWARD else 0
    plan_arr = _plan(seg, n)
    cdef const ITYPE_t[:, ::1] plan = plan_arr
    cdef ITYPE_t nseg = plan.shape[0], nu, u, g, k, s, e, r, a, t, gk
    if arg0.shape[0] != n or arg1.shape[0] != n or arg2.shape[0] != n or cst.shape[0] != n:
        raise ValueError("node arrays of different lengths")
    for r in range(outputs.shape[0]):
        if not 0 <= outputs[r] < n:
            raise ValueError("an output is not a node id")
    if mode == LAYOUT_TANGENTS:
        _check_tables(d2)
        _check_tables(cross)
    if mode == LAYOUT_FORWARD:
        _check_tables(d1)
    # a plan with many tiny segments gains little from reuse; bound the allocator's work
    reuse = reuse and nseg <= n // 4 + 16
    # (the forward-over-reverse layouts keep the plan's segments: most of their
    # tangents are kept for the reverse pass anyway, which walks the segments)
    tile = tile and reuse and mode == LAYOUT_FORWARD
    seg_of_arr = np.empty(n, dtype=np.int64)
    cdef ITYPE_t[::1] seg_of = seg_of_arr
    cdef ITYPE_t[:, ::1] sched
    cdef ITYPE_t[::1] progress
    with nogil:
        for g in range(nseg):
            for k in range(plan[g, 0], plan[g, 1]):
                seg_of[k] = g
    # units of rows, in execution order: the tiled order, or the segments
    if tile:
        units_arr = np.empty((max(n, 1), UNIT_COLS), dtype=np.int64)
        progress_arr = np.empty(nseg, dtype=np.int64)
        sched = units_arr
        progress = progress_arr
        with nogil:
            nu = _schedule(plan, op, arg0, arg1, arg2, seg_of, progress, sched, TILE_WINDOW)
        units_arr = units_arr[:nu].copy()
    else:
        units_arr = np.empty((nseg, UNIT_COLS), dtype=np.int64)
        units_arr[:, 0] = np.arange(nseg)
        units_arr[:, 1:] = plan_arr[:, :2]
    cdef const ITYPE_t[:, ::1] units = units_arr
    nu = units.shape[0]
    unit_of_arr = np.empty(n, dtype=np.int64)
    kind_arr = np.zeros(nu, dtype=np.uint8)
    off_arr = np.zeros(nu, dtype=np.int64)
    last_arr = np.empty(nu, dtype=np.int64)
    pos_arr = np.full(n, -1, dtype=np.int64)
    cp_arr = np.empty(m, dtype=np.int64)
    ranges_arr = np.ascontiguousarray(units_arr[:, 1:])
    cdef ITYPE_t[::1] unit_of = unit_of_arr, off = off_arr, last = last_arr, pos = pos_arr
    cdef ITYPE_t[::1] cp = cp_arr
    cdef const ITYPE_t[:, ::1] ranges = ranges_arr
    unext_arr = np.full(nu, -1, dtype=np.int64)
    seg_last_arr = np.full(nseg, -1, dtype=np.int64)
    cdef ITYPE_t[::1] unext = unext_arr, seg_last = seg_last_arr
    cdef uint8_t[::1] kind = kind_arr
    vneed_arr = np.zeros(nu, dtype=np.uint8)
    cdef uint8_t[::1] vneed = vneed_arr
    run_ptr_arr = np.zeros(nu + 1, dtype=np.int64)
    runs_arr = np.empty((m if gathered else 0, 3), dtype=np.int64)
    order_arr = np.empty(m if gathered else 0, dtype=np.int64)
    cdef ITYPE_t[::1] run_ptr = run_ptr_arr, order = order_arr
    cdef ITYPE_t[:, ::1] runs = runs_arr
    cdef ITYPE_t nruns = 0
    cdef bint ok
    cdef uint8_t o
    with nogil:
        for u in range(nu):
            for k in range(units[u, 1], units[u, 2]):
                unit_of[k] = u
            last[u] = u
            g = units[u, 0]
            if seg_last[g] >= 0:
                unext[seg_last[g]] = u
            seg_last[g] = u
        r = m
        while r > 0:
            r -= 1
            pos[outputs[r]] = r
        for u in range(nu):
            s = units[u, 1]
            e = units[u, 2]
            ok = 1
            for k in range(s, e):
                if op[k] != OP_CONST and op[k] != OP_PARAM:
                    ok = 0
                    break
            if ok:
                kind[u] = ROWS_NONE
                continue
            kind[u] = ROWS_SLOT
            if mode == LAYOUT_ADJOINTS:
                continue
            ok = cst[s] >= 0 and cst[s] + (e - s) <= n_inputs
            for k in range(s, e):
                if not ok or op[k] != OP_VAR or cst[k] != cst[s] + (k - s):
                    ok = 0
                    break
            if ok:
                kind[u] = ROWS_SEED
                off[u] = <ITYPE_t>cst[s]
                continue
            if gathered:
                continue
            r = pos[s]
            ok = r >= 0 and r + (e - s) <= m
            for k in range(s, e):
                if not ok or outputs[r + k - s] != k:
                    ok = 0
                    break
            if ok:
                kind[u] = ROWS_OUT
                off[u] = r
        # the last unit that reads each unit; outputs are read at the end, and so are
        # the tangents that the reverse pass of hvp_sweep reads
        for u in range(nu):
            for k in range(units[u, 1], units[u, 2]):
                o = op[k]
                if _is_leaf(o):
                    continue
                for t in range(3):
                    a = arg0[k] if t == 0 else (arg1[k] if t == 1 else arg2[k])
                    if a < 0:
                        continue
                    if mode == LAYOUT_TANGENTS and t < 2 and _tangent_read(op, arg0, arg1,
                                                                           d2, cross, k, t):
                        last[unit_of[a]] = nu
                    elif last[unit_of[a]] < u:
                        last[unit_of[a]] = u
        if not gathered:
            for r in range(m):
                last[unit_of[outputs[r]]] = nu
        if mode == LAYOUT_FORWARD:
            _values_needed(units, op, arg0, arg1, arg2, d1, unit_of, vneed)
        if mode == LAYOUT_TANGENTS:
            # the tangents that are read: those that second partials multiply (marked
            # by last = nu above) and, recursively, of the arguments of nodes whose
            # tangents are read; the other units only need values (a sum tree above
            # the second-order terms, for instance; hvp_sweep flags their tangents
            # zero)
            for u in range(nu):
                pos[u] = last[u] == nu
            k = n
            while k > 0:
                k -= 1
                if not pos[unit_of[k]] or _is_leaf(op[k]):
                    continue
                for t in range(3):
                    a = arg0[k] if t == 0 else (arg1[k] if t == 1 else arg2[k])
                    if a >= 0:
                        pos[unit_of[a]] = 1
            for u in range(nu):
                if not pos[u] and kind[u] != ROWS_NONE:
                    kind[u] = ROWS_SKIP
            if not values:
                _dead_units(op, arg0, arg1, arg2, unit_of, kind, nu)
        t = _allocate_slots(ranges, kind, last, off, reuse, mode == LAYOUT_ADJOINTS)
        # the output positions whose rows are not written in place (gathered: none,
        # each unit gathers its outputs' nonzeros)
        a = 0
        for r in range(0 if gathered else m):
            k = outputs[r]
            u = unit_of[k]
            if not (kind[u] == ROWS_OUT and off[u] + k - units[u, 1] == r):
                cp[a] = r
                a += 1
        if gathered:
            nruns = _output_runs(units, unit_of, outputs, order, run_ptr, runs)
    lay = RowLayout()
    lay.mode = mode
    lay.values = values
    lay.n_nodes = n
    lay.n_inputs = n_inputs
    lay.n_outputs = m
    lay.n_slots = t
    lay.plan = plan_arr
    lay.units = units_arr
    lay.plan_v = plan_arr
    lay.units_v = units_arr
    lay.unit_of = unit_of_arr
    lay.unext = unext_arr
    lay.kind = kind_arr
    lay.off = off_arr
    lay.copy_pos = cp_arr[:a].copy()
    lay.vneed = vneed_arr
    lay.vneed_v = vneed_arr
    lay.gathered = gathered
    lay.run_ptr = run_ptr_arr
    lay.runs = runs_arr[:nruns].copy()
    lay._arrays = (op, cst, outputs)  # keeps the addresses below meaningful
    lay.op_addr = <size_t>&op[0] if n else 0
    lay.cst_addr = <size_t>&cst[0] if n else 0
    lay.out_addr = <size_t>&outputs[0] if m else 0
    return lay


def forward_layout(const uint8_t[::1] op, const ITYPE_t[::1] arg0, const ITYPE_t[::1] arg1,
                   const ITYPE_t[::1] arg2, const double[::1] cst,
                   const ITYPE_t[::1] outputs, const uint8_t[:, ::1] d1, ITYPE_t n_inputs,
                   seg=None, bint reuse=True, bint tile=True, bint gathered=False):
    """The row layout of :func:`forward_sweep` for a graph and segment plan.

    (input)  the graph's node arrays, ``classification_tables()[1]`` and the number
             of inputs; seg: the segment plan (None: one indexed segment); reuse:
             whether slots are reused; tile: whether the segments run in a tiled
             order (with reuse only); gathered: for a sweep with ``gather=``
    (output) a :class:`RowLayout`

    The nodes run in *units*: blocks of up to BLK nodes of one segment, in a
    tiled order where consumers follow their producers a block behind
    (``_schedule``), or whole segments in plan order. Per unit: constants and
    parameters have no rows; a run of inputs in order (``const[k] = i0 + k - s``)
    reads the seed rows in place; a run of nodes that are the outputs at
    consecutive positions is written straight into B; every other unit gets a
    run of slots of the tangent work array, released after the last unit that
    reads it (outputs are read at the end), so the array holds the rows that are
    live at one time, a few blocks per segment in flight, rather than all ``N``.
    It also flags the units whose values some partial derivative reads (directly,
    or through the values computed from them), the only values that a sweep with
    ``values=False`` computes. A ``gathered`` layout writes no rows into B: the
    outputs' rows get slots like the others (released after their last reader,
    perhaps the output's own unit), and the sweep gathers a unit's outputs'
    nonzeros right after the unit ran, while its rows are in cache.
    Building it is O(N) (once per graph; ``symasd.sweeps`` caches it).
    """
    return _build_layout(op, arg0, arg1, arg2, cst, outputs, n_inputs, seg, reuse,
                         LAYOUT_FORWARD, tile=tile, d1=d1, gathered=gathered)


def hvp_layouts(const uint8_t[::1] op, const ITYPE_t[::1] arg0, const ITYPE_t[::1] arg1,
                const ITYPE_t[::1] arg2, const double[::1] cst, ITYPE_t n_inputs,
                const uint8_t[:, ::1] d2, const uint8_t[:, ::1] cross, seg=None,
                bint reuse=True, bint values=True):
    """The row layouts of :func:`hvp_sweep`: ``(tangents, adjoint tangents)``.

    (input)  node arrays, number of inputs, ``classification_tables()[2:]``, the
             segment plan, whether slots are reused and whether every value is
             computed (False: only the values that the local rules read, and those
             needed to compute them; a sweep with these layouts returns no value)
    (output) two :class:`RowLayout`

    Tangents: inputs read from V in place; the rows of arguments of ops with
    second partials are kept for the reverse pass, the others released after
    their last consumer. Adjoint tangents: a segment's rows are taken when its
    last consumer runs backward (the first to write them) and released once the
    segment ran; constants and parameters share one scratch row. The scalar
    adjoints take the same slots (one double each).
    """
    empty = np.zeros(0, dtype=np.int64)
    return (_build_layout(op, arg0, arg1, arg2, cst, empty, n_inputs, seg, reuse,
                          LAYOUT_TANGENTS, d2, cross, values=values),
            _build_layout(op, arg0, arg1, arg2, cst, empty, n_inputs, seg, reuse,
                          LAYOUT_ADJOINTS))


# ---------------------------------------------------------------------------
# Python entry points.


_tls = threading.local()

#: Work buffers up to this many bytes are kept (one per thread) for the next call,
#: which saves the kernel's page zeroing of fresh memory on repeated sweeps.
WORKSPACE_KEEP_BYTES = 1 << 28


def release_workspace():
    """Drop the calling thread's cached work buffer."""
    _tls.buf = None


def kept_workspace_bytes():
    """Bytes of the calling thread's cached work buffer (0 when none)."""
    buf = getattr(_tls, "buf", None)
    return 0 if buf is None else buf.nbytes


def _work_arrays(float_sizes, flag_sizes):
    """Uninitialized float64 arrays of ``float_sizes`` and uint8 arrays of
    ``flag_sizes``, carved from the calling thread's cached work buffer."""
    words = [(s + 7) // 8 for s in flag_sizes]
    total = sum(float_sizes) + sum(words)
    buf = getattr(_tls, "buf", None)
    if buf is None or buf.shape[0] < total:
        buf = np.empty(max(total, 1))
        if 8 * total <= WORKSPACE_KEEP_BYTES:
            _tls.buf = buf
    out = []
    off = 0
    for size in float_sizes:
        out.append(buf[off:off + size])
        off += size
    for size, w in zip(flag_sizes, words):
        out.append(buf[off:off + w].view(np.uint8)[:size])
        off += w
    return out


def _compressed_out(shape, finish, float_sizes, flag_sizes):
    """The compressed output array of a sweep (float64, ``shape``, uninitialized)
    and its work arrays (as :func:`_work_arrays`).

    With ``finish`` None the output is a new array, returned to the caller.
    Otherwise the sweep returns ``finish(output)`` instead (a prepared
    derivative passes its decompression): the output is then carved from the
    thread's work buffer too, so repeated calls reuse memory rather than
    fault in fresh pages for it every time. ``finish`` runs before the sweep
    returns, on the same thread, so no other sweep can overwrite the output
    before it is read; it must not keep a reference to it.
    """
    cdef Py_ssize_t size = shape[0] * shape[1]
    if finish is None:
        return np.empty(shape), _work_arrays(float_sizes, flag_sizes)
    arrays = _work_arrays(list(float_sizes) + [size], flag_sizes)
    out = arrays.pop(len(float_sizes))
    return out.reshape(shape), arrays


def _zeros(shape):
    """A zero array written here rather than by ``np.zeros``: large ``calloc`` blocks
    are fresh pages that the kernel zeroes on first touch, in every call, while
    ``np.empty`` reuses freed memory."""
    out = np.empty(shape)
    out.fill(0.0)
    return out


cdef int _check_tables(const uint8_t[:, ::1] tab) except -1:
    if tab.shape[1] != 3 or tab.shape[0] < 96:
        raise ValueError("classification tables must have shape (N_CODES >= 96, 3)")
    return 0


def _plan(seg, ITYPE_t n):
    """The segment plan to run: ``seg`` (rows of ``symasd._vm.plan``) checked against
    ``n`` nodes, or one indexed segment over all nodes when ``seg`` is None.

    The check is O(segments): the rows must tile ``[0, n)`` in order, and every
    argument progression of a strided row must stay within the nodes before the
    node that reads it (so no strided access leaves the arrays).
    """
    cdef ITYPE_t r, t, s, e, bt, st, prev = 0
    if seg is None:
        out = np.zeros((1 if n else 0, SEG_COLS), dtype=np.int64)
        if n:
            out[0, 1] = n
            out[0, 3:] = (-1, 0, -1, 0, -1, 0)
        return out
    out = np.ascontiguousarray(seg, dtype=np.int64)
    if out.ndim != 2 or out.shape[1] != SEG_COLS:
        raise ValueError(f"a segment plan has {SEG_COLS} columns; got shape {out.shape}")
    cdef const ITYPE_t[:, ::1] v = out
    for r in range(v.shape[0]):
        s = v[r, 0]
        e = v[r, 1]
        if s != prev or e <= s:
            raise ValueError(f"plan row {r} ({s}, {e}) does not continue at node {prev}")
        prev = e
        if not v[r, 2]:
            continue
        if v[r, 3] < 0:
            raise ValueError(f"strided plan row {r} has no argument 0")
        for t in range(3):
            bt = v[r, 3 + 2 * t]
            st = v[r, 4 + 2 * t]
            if bt < 0:
                continue
            # b + i st must lie in [0, s + i) for 0 <= i < e - s (linear in i)
            if bt >= s or bt + (e - s - 1) * st < 0 or bt + (e - s - 1) * st >= e - 1:
                raise ValueError(f"strided plan row {r}: argument {t} leaves [0, node)")
    if prev != n:
        raise ValueError(f"the plan covers nodes [0, {prev}), the graph has {n}")
    return out


cdef int _open_layout(Layout *lay, RowLayout layout, int mode, const ITYPE_t[:, ::1] units,
                      double *T, const uint8_t[::1] op, const double[::1] cst,
                      ITYPE_t n_inputs) except -1:
    """Fill ``lay`` from ``layout`` (None: the identity layout over ``T``); ``units``:
    the layout's units (or the plan's segments as units)."""
    cdef ITYPE_t nu = units.shape[0]
    lay.ident = layout is None
    lay.cc = 0
    lay.T = T
    lay.units = &units[0, 0] if nu else NULL
    lay.unit_of = NULL
    lay.unext = NULL
    lay.kind = NULL
    lay.off = NULL
    lay.n_slots = 0
    lay.first = NULL
    lay.rs = NULL
    lay.hints = NULL
    lay.nseg = 0
    lay.vneed = NULL
    lay.A = NULL
    if layout is None:
        return 0
    if (layout.mode != mode or layout.n_nodes != op.shape[0] or layout.n_inputs != n_inputs
            or layout.op_addr != <size_t>&op[0] or layout.cst_addr != <size_t>&cst[0]):
        raise ValueError("the row layout was built for other node arrays or another sweep")
    lay.unit_of = &layout.unit_of[0]
    lay.unext = &layout.unext[0]
    lay.kind = &layout.kind[0]
    lay.off = &layout.off[0]
    lay.n_slots = layout.n_slots
    lay.first = <double **>malloc(max(nu, 1) * sizeof(double *))
    lay.rs = <ITYPE_t *>malloc(max(nu, 1) * sizeof(ITYPE_t))
    lay.nseg = layout.plan_v.shape[0]
    lay.hints = <ITYPE_t *>malloc(max(3 * lay.nseg, 1) * sizeof(ITYPE_t))
    if lay.first == NULL or lay.rs == NULL or lay.hints == NULL:
        _close_layout(lay)
        raise MemoryError()
    return 0


def _segment_units(plan):
    """The plan's segments as units: (plan row, start, stop)."""
    units = np.empty((plan.shape[0], UNIT_COLS), dtype=np.int64)
    units[:, 0] = np.arange(plan.shape[0])
    units[:, 1:] = plan[:, :2]
    return units


cdef void _close_layout(Layout *lay) noexcept:
    free(lay.first)
    free(lay.rs)
    free(lay.hints)
    lay.first = NULL
    lay.rs = NULL
    lay.hints = NULL


cdef class RowGather:
    """The decompression ``B.ravel()[compressed_indices]`` of a column coloring (B of
    shape ``(n_rows, n_cols)``, C order) for the forward sweep's ``gather=``: the row
    pointers of the nonzeros (``indptr``; each nonzero's index lies in its row of B)
    and the indices (``idx``: int32 when B has fewer than 2**31 entries, else
    int64), checked once by :func:`row_gather`."""
    cdef readonly ITYPE_t n_rows, n_cols, nnz
    cdef readonly object indptr, idx
    # typed views, held for the gather's life (the sweep reads idx32 or idx64)
    cdef const ITYPE_t[::1] indptr_v, idx64
    cdef const int32_t[::1] idx32

    def __repr__(self):
        return f"RowGather(n_rows={self.n_rows}, n_cols={self.n_cols}, nnz={self.nnz})"


def row_gather(const ITYPE_t[::1] indptr, const ITYPE_t[::1] compressed_indices,
               ITYPE_t n_cols):
    """A :class:`RowGather` for ``B.ravel()[compressed_indices]``, B of shape
    ``(len(indptr) - 1, n_cols)``: ``indptr`` (row pointers of the nonzeros) must
    put every nonzero ``k`` in the row that holds ``compressed_indices[k]`` (as a
    column coloring's indices ``i * ncolors + colors[j]`` are); ValueError
    otherwise."""
    cdef ITYPE_t m = indptr.shape[0] - 1, nnz = compressed_indices.shape[0], r, k, c
    cdef ITYPE_t bad = -1
    if m < 0 or indptr[0] != 0 or indptr[m] != nnz or n_cols < 0:
        raise ValueError("indptr must run from 0 to the number of compressed indices")
    with nogil:
        for r in range(m):
            if indptr[r + 1] < indptr[r]:
                bad = r
                break
            for k in range(indptr[r], indptr[r + 1]):
                c = compressed_indices[k] - r * n_cols
                if not 0 <= c < n_cols:
                    bad = r
                    break
            if bad >= 0:
                break
    if bad >= 0:
        raise ValueError(f"row {bad}: the compressed indices of its nonzeros must lie in "
                         f"row {bad} of B")
    rg = RowGather()
    rg.n_rows = m
    rg.n_cols = n_cols
    rg.nnz = nnz
    rg.indptr = np.array(indptr, dtype=np.int64)
    # the sweep's gather reads an index per nonzero: half the traffic in int32
    rg.idx = np.array(compressed_indices,
                      dtype=np.int32 if m * n_cols <= np.iinfo(np.int32).max else np.int64)
    rg.indptr.flags.writeable = False
    rg.idx.flags.writeable = False
    rg.indptr_v = rg.indptr
    if rg.idx.dtype == np.int32:
        rg.idx32 = rg.idx
    else:
        rg.idx64 = rg.idx
    return rg


def seed_zero_rows(const double[:, ::1] S):
    """Zero flags of the rows of a seed matrix: uint8 ``(n,)``, 1 where ``S[i]`` is all
    zero (+0 or -0). The sweeps take them as ``seed_zero=`` from a caller that passes
    the same seeds at every call, so that they need not scan the seeds each time."""
    out = np.empty(S.shape[0], dtype=np.uint8)
    cdef uint8_t[::1] f = out
    if S.shape[0]:
        symasd_sw_zero_rows(&S[0, 0], S.shape[1], S.shape[0], S.shape[1], &f[0])
    return out


cdef const uint8_t *_seed_flags(const uint8_t[::1] seed_zero, ITYPE_t n,
                                bint one_pass) except? NULL:
    """The sweeps' pointer to ``seed_zero`` (checked to have ``n`` flags), or NULL when
    it is None or the columns run in chunks (its flags cover whole rows)."""
    if seed_zero is None:
        return NULL
    if seed_zero.shape[0] != n:
        raise ValueError("seed_zero must have one flag per row of the seed matrix")
    return &seed_zero[0] if one_pass and n else NULL


def forward_sweep(const uint8_t[::1] op, const ITYPE_t[::1] arg0, const ITYPE_t[::1] arg1,
                  const ITYPE_t[::1] arg2, const double[::1] cst,
                  const ITYPE_t[::1] outputs, const uint8_t[:, ::1] d1,
                  const double[::1] x, const double[::1] p, const double[:, ::1] S,
                  ITYPE_t chunk=0, seg=None, RowLayout layout=None, finish=None,
                  const uint8_t[::1] seed_zero=None, bint values=True,
                  RowGather gather=None):
    """Compressed forward sweep: output values and ``B = J @ S``.

    (input)  op, arg0, arg1, arg2, const, outputs: the graph's node arrays;
             d1: ``classification_tables()[1]`` (which first partials can be nonzero);
             x: (n_inputs,), p: (n_params,), S: (n_inputs, c) seed matrix;
             chunk: directions per pass (0: all c at once);
             seg: the segment plan (``Graph.segments``; None: all nodes indexed);
             layout: a :class:`RowLayout` of these node arrays from
             :func:`forward_layout` (it carries its own plan; ``seg`` is then
             ignored); None: node ``k``'s tangent row is row ``k`` of the work array;
             finish: None, or a function of ``B`` whose result is returned in
             place of ``B`` (see :func:`_compressed_out`);
             seed_zero: None, or ``seed_zero_rows(S)`` (computed once by a caller
             that reuses ``S``; trusted, used when one pass covers all c columns);
             values: False computes no output values (y is None) and, with a
             layout, only the node values that the tangents read;
             gather: None, or a :class:`RowGather` for B's shape, with a
             ``gathered`` layout: B is never formed, each output row's nonzeros are
             gathered from its tangent row (in the unit that computes it)
    (output) ``(y, B)``: y (m,) output values, B (m, c) float64; with ``gather``,
             ``(y, data)``: data (nnz,) the gather's nonzeros of B, a new array

    NumPy equivalent: ``y = f(x, p)``, ``B = jacobian(f)(x, p) @ S``,
    ``data = B.ravel()[gather's compressed_indices]``.
    Memory: values N plus tangents N x chunk (N = number of nodes; with a layout,
    ``layout.n_slots`` x chunk).
    """
    cdef ITYPE_t n = op.shape[0], m = outputs.shape[0], ctot = S.shape[1]
    cdef ITYPE_t cc, j0, r, j, k, g, nslots, nseg, nu
    _check_tables(d1)
    if S.shape[0] != x.shape[0]:
        raise ValueError("S must have one row per input")
    if chunk <= 0 or chunk > ctot:
        chunk = ctot
    if gather is not None:
        if finish is not None:
            raise ValueError("pass finish or gather, not both")
        if gather.n_rows != m or gather.n_cols != ctot:
            raise ValueError(f"the row gather is for B of shape ({gather.n_rows}, "
                             f"{gather.n_cols}), not ({m}, {ctot})")
    if layout is not None and layout.gathered != (gather is not None):
        raise ValueError("a gathered row layout goes with gather= and only with it")
    cdef const uint8_t *sz = _seed_flags(seed_zero, S.shape[0], chunk == ctot)
    y_arr = np.empty(m) if values else None
    if n == 0 or ctot == 0:
        if gather is not None:
            # no nodes or no columns: no nonzeros either
            return y_arr, np.empty(0)
        B_arr = np.empty((m, ctot))
        return y_arr, (B_arr if finish is None else finish(B_arr))
    cdef const ITYPE_t[:, ::1] plan
    cdef const ITYPE_t[:, ::1] units
    if layout is not None:
        if layout.n_outputs != m or (m and layout.out_addr != <size_t>&outputs[0]):
            raise ValueError("the row layout was built for other node arrays")
        plan = layout.plan_v
        units = layout.units_v
        nslots = layout.n_slots
    elif gather is not None:
        raise ValueError("gather= needs a gathered row layout")
    else:
        plan_arr = _plan(seg, n)
        plan = plan_arr
        units = _segment_units(plan_arr)
        nslots = n
    nseg = plan.shape[0]
    nu = units.shape[0]
    # every entry of B (or of data) is written below
    if gather is None:
        B_arr, (vals_arr, T_arr, tz_arr) = _compressed_out(
            (m, ctot), finish, [n, (nslots + 1) * chunk], [n])
    else:
        B_arr = None
        data_arr = np.empty(gather.nnz)
        vals_arr, T_arr, tz_arr = _work_arrays([n, (nslots + 1) * chunk], [n])
    cdef double[::1] vals = vals_arr
    cdef double[::1] T = T_arr
    cdef uint8_t[::1] tz = tz_arr
    cdef double[::1] y = y_arr
    cdef double[:, ::1] B = B_arr
    cdef const double *xp = &x[0] if x.shape[0] else NULL
    cdef const double *pp = &p[0] if p.shape[0] else NULL
    cdef const double *Sp = &S[0, 0] if S.shape[0] else NULL
    cdef double *Tp = &T[0]
    cdef double *Bp = &B[0, 0] if m and B_arr is not None else NULL
    cdef double *brow
    cdef const double *trow
    cdef const uint8_t[::1] kind
    cdef const ITYPE_t *cpos = NULL  # the output positions to copy (NULL: all)
    cdef ITYPE_t i, ncopy = m
    cdef double[::1] data
    cdef RowOut ro
    cdef RowOut *out = NULL
    if gather is not None:
        data = data_arr
        ro.data = &data[0] if gather.nnz else NULL
        ro.indptr = &gather.indptr_v[0]
        ro.idx32 = &gather.idx32[0] if gather.idx32 is not None and gather.nnz else NULL
        ro.idx64 = &gather.idx64[0] if gather.idx64 is not None and gather.nnz else NULL
        ro.run_ptr = &layout.run_ptr[0]
        ro.runs = &layout.runs[0, 0] if layout.runs.shape[0] else NULL
        ro.ctot = ctot
        out = &ro
    cdef Layout lay
    _open_layout(&lay, layout, LAYOUT_FORWARD, units, Tp, op, cst, x.shape[0])
    if layout is not None:
        if not values and nu:
            lay.vneed = &layout.vneed_v[0]
        kind = layout.kind
        ncopy = layout.copy_pos.shape[0]
        cpos = &layout.copy_pos[0] if ncopy else NULL
    try:
        j0 = 0
        while j0 < ctot:
            cc = min(chunk, ctot - j0)
            lay.cc = cc
            ro.j0 = j0
            with nogil:
                _place_rows(&lay, nu, cc, Sp, Bp, ctot, j0)
                _forward(&op[0], &arg0[0], &arg1[0], &arg2[0], &cst[0], &plan[0, 0],
                         &units[0, 0], nu, &d1[0, 0], xp, pp, j0 == 0, &vals[0], Sp, ctot,
                         j0, cc, &lay, sz, &tz[0], out)
                if not lay.ident:
                    # rows written in place: zero rows are left to fill
                    for g in range(nu):
                        if kind[g] == ROWS_OUT:
                            brow = lay.first[g]
                            for k in range(units[g, 1], units[g, 2]):
                                if tz[k]:
                                    for j in range(cc):
                                        brow[j] = 0.0
                                brow += ctot
                for i in range(ncopy):
                    r = cpos[i] if cpos != NULL else i
                    k = outputs[r]
                    brow = Bp + r * ctot + j0
                    if tz[k]:
                        for j in range(cc):
                            brow[j] = 0.0
                    else:
                        trow = _rowp(&lay, k)
                        for j in range(cc):
                            brow[j] = trow[j]
            j0 += cc
    finally:
        _close_layout(&lay)
    if values:
        with nogil:
            for r in range(m):
                y[r] = vals[outputs[r]]
    if gather is not None:
        return y_arr, data_arr
    return y_arr, (B_arr if finish is None else finish(B_arr))


def reverse_sweep(const uint8_t[::1] op, const ITYPE_t[::1] arg0, const ITYPE_t[::1] arg1,
                  const ITYPE_t[::1] arg2, const double[::1] cst,
                  const ITYPE_t[::1] outputs, const uint8_t[:, ::1] d1,
                  const double[::1] x, const double[::1] p, const double[:, ::1] W,
                  ITYPE_t n_inputs, ITYPE_t chunk=0, seg=None, finish=None):
    """Compressed reverse sweep: output values and ``B = W.T @ J``.

    (input)  node arrays, d1 and seg as in :func:`forward_sweep`; x: (n_inputs,),
             p: (n_params,), W: (m, c) output seeds; chunk: directions per pass;
             finish: as in :func:`forward_sweep`
    (output) ``(y, B)``: y (m,) output values, B (c, n_inputs) float64, the
             adjoints of the inputs (accumulated over every use of every node)

    NumPy equivalent: ``y = f(x, p)``, ``B = W.T @ jacobian(f)(x, p)``.
    Memory: values N plus adjoints N x chunk.
    """
    cdef ITYPE_t n = op.shape[0], m = outputs.shape[0], ctot = W.shape[1]
    cdef ITYPE_t cc, j0, r
    _check_tables(d1)
    if W.shape[0] != m:
        raise ValueError("W must have one row per output")
    if x.shape[0] != n_inputs:
        raise ValueError("x must have n_inputs entries")
    if chunk <= 0 or chunk > ctot:
        chunk = ctot
    y_arr = np.empty(m)
    if n == 0 or ctot == 0:
        B_arr = np.zeros((ctot, n_inputs))
        return y_arr, (B_arr if finish is None else finish(B_arr))
    cdef const ITYPE_t[:, ::1] plan = _plan(seg, n)
    # the adjoints accumulate into Bt (n_inputs, c), returned transposed as B
    B_arr, (vals_arr, A_arr, Bt_arr, touched_arr) = _compressed_out(
        (ctot, n_inputs), finish, [n, n * chunk, n_inputs * ctot], [n])
    Bt_arr = Bt_arr.reshape(n_inputs, ctot)
    Bt_arr.fill(0.0)
    cdef double[::1] vals = vals_arr
    cdef double[::1] A = A_arr
    cdef uint8_t[::1] touched = touched_arr
    cdef double[::1] y = y_arr
    cdef double[:, ::1] Bt = Bt_arr
    cdef const double *xp = &x[0] if x.shape[0] else NULL
    cdef const double *pp = &p[0] if p.shape[0] else NULL
    cdef const double *Wp = &W[0, 0] if m else NULL
    cdef const ITYPE_t *outp = &outputs[0] if m else NULL
    cdef double *Btp = &Bt[0, 0] if n_inputs else NULL
    with nogil:
        _values(&op[0], &arg0[0], &arg1[0], &arg2[0], &cst[0], &plan[0, 0], plan.shape[0],
                xp, pp, &vals[0])
        for r in range(m):
            y[r] = vals[outputs[r]]
    j0 = 0
    while j0 < ctot:
        cc = min(chunk, ctot - j0)
        with nogil:
            _reverse(&op[0], &arg0[0], &arg1[0], &arg2[0], &cst[0], &plan[0, 0],
                     plan.shape[0], &d1[0, 0], &vals[0], outp, m, Wp, ctot, j0, cc, &A[0],
                     &touched[0], n, Btp)
        j0 += cc
    np.copyto(B_arr, Bt_arr.T)
    return y_arr, (B_arr if finish is None else finish(B_arr))


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


def hvp_sweep(const uint8_t[::1] op, const ITYPE_t[::1] arg0, const ITYPE_t[::1] arg1,
              const ITYPE_t[::1] arg2, const double[::1] cst, ITYPE_t output,
              const uint8_t[:, ::1] d1, const uint8_t[:, ::1] d2,
              const uint8_t[:, ::1] cross, const double[::1] x, const double[::1] p,
              const double[:, ::1] V, ITYPE_t chunk=0, seg=None, layouts=None,
              finish=None, bint gradient=True, const uint8_t[::1] seed_zero=None,
              bint value=True):
    """Forward-over-reverse sweep of a scalar output: value, gradient and ``H @ V``.

    (input)  node arrays; output: the id of the scalar output node; d1, d2, cross:
             ``classification_tables()[1:]``; x: (n_inputs,), p: (n_params,),
             V: (n_inputs, c) directions; chunk: directions per pass; seg: the
             segment plan as in :func:`forward_sweep`; layouts: the pair of
             :func:`hvp_layouts` for these node arrays (they carry their plan; ``seg``
             is then ignored), or None (rows in node order); finish: as in
             :func:`forward_sweep`; gradient: False skips the gradient;
             seed_zero: None, or ``seed_zero_rows(V)`` (as in :func:`forward_sweep`);
             value: False returns no value (layouts built with ``values=False``
             need it: they leave out the values nobody reads)
    (output) ``(value, grad, HV)``: value float (None when not ``value``), grad
             (n_inputs,) (None when not ``gradient``), HV (n_inputs, c)

    NumPy equivalent: ``value = f(x, p)``, ``grad = gradient(f)(x, p)``,
    ``HV = hessian(f)(x, p) @ V``.
    Forward pass: values and c tangents (seeded by V); reverse pass: scalar
    adjoints and c adjoint tangents, using the second partials.
    Memory: values N, scalar adjoints N, tangents and adjoint tangents 2N x chunk
    (with layouts, their slots x chunk, and the scalar adjoints take the adjoint
    tangents' slots).
    """
    cdef ITYPE_t n = op.shape[0], nin = x.shape[0], ctot = V.shape[1]
    cdef ITYPE_t cc, j0, tslots, aslots
    cdef RowLayout tlayout = None, alayout = None
    _check_tables(d1)
    _check_tables(d2)
    _check_tables(cross)
    if V.shape[0] != nin:
        raise ValueError("V must have one row per input")
    if not 0 <= output < n:
        raise ValueError("output is not a node id")
    if chunk <= 0 or chunk > ctot:
        chunk = ctot
    cdef const uint8_t *sz = _seed_flags(seed_zero, nin, chunk == ctot)
    if layouts is not None:
        tlayout, alayout = layouts
        if tlayout.plan is not alayout.plan and not np.array_equal(tlayout.plan, alayout.plan):
            raise ValueError("the two layouts were built for different plans")
        if value and not tlayout.values:
            raise ValueError("layouts built with values=False compute no value")
        plan_arr = tlayout.plan
        tslots = tlayout.n_slots
        aslots = alayout.n_slots
    else:
        plan_arr = _plan(seg, n)
        tslots = n
        aslots = n
    cdef const ITYPE_t[:, ::1] plan = plan_arr
    # the forward pass runs the tangent layout's units (a tiled order), the reverse
    # pass walks the plan's segments back (the adjoint layout's units)
    units_arr = _segment_units(plan_arr)
    tunits_arr = tlayout.units if tlayout is not None else units_arr
    cdef const ITYPE_t[:, ::1] units = units_arr
    cdef const ITYPE_t[:, ::1] tunits = tunits_arr
    cdef const ITYPE_t *up = &tunits[0, 0]
    cdef ITYPE_t ntu = tunits.shape[0]
    cdef const ITYPE_t *sp = &plan[0, 0]
    cdef ITYPE_t nseg = plan.shape[0]
    grad_arr = _zeros(nin) if gradient else None
    cc = max(chunk, 1)
    HV_arr, (vals_arr, a_arr, T_arr, At_arr, ra_arr, rt_arr, tz_arr) = _compressed_out(
        (nin, ctot), finish, [n, aslots + 1, (tslots + 1) * cc, (aslots + 1) * cc],
        [n, n, n])
    HV_arr.fill(0.0)
    cdef double[::1] vals = vals_arr, a = a_arr, T = T_arr, At = At_arr
    cdef double[::1] grad
    cdef uint8_t[::1] ra = ra_arr, rt = rt_arr, tz = tz_arr
    cdef double[:, ::1] HV = HV_arr
    cdef const double *xp = &x[0] if nin else NULL
    cdef const double *pp = &p[0] if p.shape[0] else NULL
    cdef const double *Vp = &V[0, 0] if nin else NULL
    cdef double *HVp = &HV[0, 0] if nin and ctot else NULL
    cdef double *gp = NULL
    if gradient and nin:
        grad = grad_arr
        gp = &grad[0]
    cdef Layout tl, al
    _open_layout(&tl, tlayout, LAYOUT_TANGENTS, tunits, &T[0], op, cst, nin)
    try:
        _open_layout(&al, alayout, LAYOUT_ADJOINTS, units, &At[0], op, cst, nin)
    except BaseException:
        _close_layout(&tl)
        raise
    al.A = &a[0]
    try:
        if ctot == 0:
            with nogil:
                _values(&op[0], &arg0[0], &arg1[0], &arg2[0], &cst[0], sp, nseg, xp, pp,
                        &vals[0])
                # one scalar reverse pass with no directions
                for j0 in range(n):
                    tz[j0] = 1
                _place_rows(&tl, ntu, 0, Vp, NULL, 0, 0)
                _place_rows(&al, nseg, 0, NULL, NULL, 0, 0)
                _hvp_reverse(&op[0], &arg0[0], &arg1[0], &arg2[0], &cst[0], sp, nseg, n,
                             &d1[0, 0], &d2[0, 0], &cross[0, 0], &vals[0], output, &tl,
                             &tz[0], 0, 0, 0, &ra[0], &al, &rt[0], gp, HVp)
            return (float(vals[output]) if value else None, grad_arr,
                    HV_arr if finish is None else finish(HV_arr))
        with nogil:
            _flag_skipped(&tl, ntu, &tz[0])
        j0 = 0
        while j0 < ctot:
            cc = min(chunk, ctot - j0)
            with nogil:
                _place_rows(&tl, ntu, cc, Vp, NULL, ctot, j0)
                _place_rows(&al, nseg, cc, NULL, NULL, 0, 0)
                _forward(&op[0], &arg0[0], &arg1[0], &arg2[0], &cst[0], sp, up, ntu,
                         &d1[0, 0], xp, pp, j0 == 0, &vals[0], Vp, ctot, j0, cc, &tl,
                         sz, &tz[0], NULL)
                # the gradient is accumulated by the first chunk's scalar pass only
                _hvp_reverse(&op[0], &arg0[0], &arg1[0], &arg2[0], &cst[0], sp, nseg, n,
                             &d1[0, 0], &d2[0, 0], &cross[0, 0], &vals[0], output, &tl,
                             &tz[0], ctot, j0, cc, &ra[0], &al, &rt[0],
                             gp if j0 == 0 else NULL, HVp)
            j0 += cc
    finally:
        _close_layout(&tl)
        _close_layout(&al)
    return (float(vals[output]) if value else None, grad_arr,
            HV_arr if finish is None else finish(HV_arr))
