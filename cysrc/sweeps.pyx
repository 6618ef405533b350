# Numeric compressed sweeps over a graph's node arrays: forward (c JVPs),
# reverse (c VJPs) and forward-over-reverse (c HVPs of a scalar output).
#
# Every sweep is one pass over the nodes in topological order (and, for the
# reverse sweeps, one pass back), with a switch on the opcode and no Python
# per node. Local derivatives come from two inline C functions that mirror
# the op table's partial rules (symasd/ops.py): ``first_partials`` and
# ``second_partials``. Structural zeros are skipped with one flag per node:
# a tangent row that is known to be zero is never read or written, an
# adjoint row that no output reaches is never propagated, and an argument
# whose first (second, cross) derivative is classified as identically zero
# (``d1``/``d2``/``cross`` tables of ``symasd.ops.classification_tables``)
# contributes nothing.
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
# memory). Rows are assigned on first write, so no N x cc array is zeroed;
# the work buffer is cached per thread (``WORKSPACE_KEEP_BYTES``).
include "_types.pxi"
include "_opcodes.pxi"

import threading

import numpy as np

from libc.math cimport (NAN, acos, acosh, asin, asinh, atan, atan2, atanh, cbrt, ceil, cos,
                        cosh, exp, expm1, fabs, floor, hypot, log, log1p, log2, log10, pow,
                        rint, sin, sinh, sqrt, tan, tanh)

cdef double LN2 = 0.6931471805599453
cdef double LN10 = 2.302585092994046


# ---------------------------------------------------------------------------
# Local rules: the value, first partials and second partials of one node.


cdef inline double _sign(double x) noexcept nogil:
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return x  # 0.0, -0.0 and NaN map to themselves, as np.sign does


cdef inline double node_value(uint8_t op, double x, double y, double z,
                              double c) noexcept nogil:
    """The value of one non-leaf node (identical to ``apply_op`` of cysrc/vm.pyx)."""
    if op == OP_NEG:
        return -x
    elif op == OP_ABS:
        return fabs(x)
    elif op == OP_SIGN:
        return _sign(x)
    elif op == OP_SQRT:
        return sqrt(x)
    elif op == OP_CBRT:
        return cbrt(x)
    elif op == OP_EXP:
        return exp(x)
    elif op == OP_EXPM1:
        return expm1(x)
    elif op == OP_LOG:
        return log(x)
    elif op == OP_LOG1P:
        return log1p(x)
    elif op == OP_LOG2:
        return log2(x)
    elif op == OP_LOG10:
        return log10(x)
    elif op == OP_SIN:
        return sin(x)
    elif op == OP_COS:
        return cos(x)
    elif op == OP_TAN:
        return tan(x)
    elif op == OP_ARCSIN:
        return asin(x)
    elif op == OP_ARCCOS:
        return acos(x)
    elif op == OP_ARCTAN:
        return atan(x)
    elif op == OP_SINH:
        return sinh(x)
    elif op == OP_COSH:
        return cosh(x)
    elif op == OP_TANH:
        return tanh(x)
    elif op == OP_ARCSINH:
        return asinh(x)
    elif op == OP_ARCCOSH:
        return acosh(x)
    elif op == OP_ARCTANH:
        return atanh(x)
    elif op == OP_SQUARE:
        return x * x
    elif op == OP_RECIPROCAL:
        return 1.0 / x
    elif op == OP_FLOOR:
        return floor(x)
    elif op == OP_CEIL:
        return ceil(x)
    elif op == OP_ROUND:
        return rint(x)
    elif op == OP_POWC:
        return pow(x, c)
    elif op == OP_NOT:
        return 1.0 if x == 0 else 0.0
    elif op == OP_ADD:
        return x + y
    elif op == OP_SUB:
        return x - y
    elif op == OP_MUL:
        return x * y
    elif op == OP_DIV:
        return x / y
    elif op == OP_POW:
        return pow(x, y)
    elif op == OP_ARCTAN2:
        return atan2(x, y)
    elif op == OP_HYPOT:
        return hypot(x, y)
    elif op == OP_MAX:
        if x != x or y != y:
            return NAN
        return x if x >= y else y
    elif op == OP_MIN:
        if x != x or y != y:
            return NAN
        return x if x <= y else y
    elif op == OP_LT:
        return 1.0 if x < y else 0.0
    elif op == OP_LE:
        return 1.0 if x <= y else 0.0
    elif op == OP_GT:
        return 1.0 if x > y else 0.0
    elif op == OP_GE:
        return 1.0 if x >= y else 0.0
    elif op == OP_EQ:
        return 1.0 if x == y else 0.0
    elif op == OP_NE:
        return 1.0 if x != y else 0.0
    elif op == OP_AND:
        return 1.0 if (x != 0 and y != 0) else 0.0
    elif op == OP_OR:
        return 1.0 if (x != 0 or y != 0) else 0.0
    elif op == OP_XOR:
        return 1.0 if ((x != 0) != (y != 0)) else 0.0
    elif op == OP_WHERE:
        return y if x != 0 else z
    return NAN


cdef inline void first_partials(uint8_t op, double x, double y, double z, double v,
                                double c, double *d) noexcept nogil:
    """``d[i]`` = d value / d arg_i of one node, given its argument values ``x, y, z``,
    its value ``v`` and its constant ``c`` (the rules of ``Op.partials`` in ops.py).

    Arguments whose derivative is identically zero (sign, floor, ceil, rint,
    comparisons, logical ops, the condition of ``where``) get 0.
    """
    cdef double t
    d[0] = 0.0
    d[1] = 0.0
    d[2] = 0.0
    if op == OP_ADD:
        d[0] = 1.0
        d[1] = 1.0
    elif op == OP_SUB:
        d[0] = 1.0
        d[1] = -1.0
    elif op == OP_MUL:
        d[0] = y
        d[1] = x
    elif op == OP_NEG:
        d[0] = -1.0
    elif op == OP_SQUARE:
        d[0] = 2.0 * x
    elif op == OP_DIV:
        d[0] = 1.0 / y
        d[1] = -v / y
    elif op == OP_ABS:
        d[0] = _sign(x)
    elif op == OP_SQRT:
        d[0] = 0.5 / v
    elif op == OP_CBRT:
        d[0] = (1.0 / 3.0) / (v * v)
    elif op == OP_EXP:
        d[0] = v
    elif op == OP_EXPM1:
        d[0] = v + 1.0
    elif op == OP_LOG:
        d[0] = 1.0 / x
    elif op == OP_LOG1P:
        d[0] = 1.0 / (x + 1.0)
    elif op == OP_LOG2:
        d[0] = 1.0 / (x * LN2)
    elif op == OP_LOG10:
        d[0] = 1.0 / (x * LN10)
    elif op == OP_SIN:
        d[0] = cos(x)
    elif op == OP_COS:
        d[0] = -sin(x)
    elif op == OP_TAN:
        d[0] = 1.0 + v * v
    elif op == OP_ARCSIN:
        d[0] = 1.0 / sqrt(1.0 - x * x)
    elif op == OP_ARCCOS:
        d[0] = -1.0 / sqrt(1.0 - x * x)
    elif op == OP_ARCTAN:
        d[0] = 1.0 / (1.0 + x * x)
    elif op == OP_SINH:
        d[0] = cosh(x)
    elif op == OP_COSH:
        d[0] = sinh(x)
    elif op == OP_TANH:
        d[0] = 1.0 - v * v
    elif op == OP_ARCSINH:
        d[0] = 1.0 / sqrt(x * x + 1.0)
    elif op == OP_ARCCOSH:
        d[0] = 1.0 / sqrt(x * x - 1.0)
    elif op == OP_ARCTANH:
        d[0] = 1.0 / (1.0 - x * x)
    elif op == OP_RECIPROCAL:
        d[0] = -(v * v)
    elif op == OP_POWC:
        d[0] = c * pow(x, c - 1.0)
    elif op == OP_POW:
        d[0] = y * pow(x, y - 1.0)
        d[1] = v * log(x)
    elif op == OP_ARCTAN2:
        t = 1.0 / (x * x + y * y)
        d[0] = y * t
        d[1] = -x * t
    elif op == OP_HYPOT:
        d[0] = x / v
        d[1] = y / v
    elif op == OP_MAX:
        if x != x or y != y:
            d[0] = NAN
            d[1] = NAN
        else:
            d[0] = 1.0 if x >= y else 0.0
            d[1] = 1.0 if x < y else 0.0
    elif op == OP_MIN:
        if x != x or y != y:
            d[0] = NAN
            d[1] = NAN
        else:
            d[0] = 1.0 if x <= y else 0.0
            d[1] = 1.0 if x > y else 0.0
    elif op == OP_WHERE:
        d[1] = 1.0 if x != 0 else 0.0
        d[2] = 0.0 if x != 0 else 1.0


cdef inline void second_partials(uint8_t op, double x, double y, double v,
                                 double c, double *h) noexcept nogil:
    """Second partials of one unary or binary node: ``h[0]`` = d2/dx2,
    ``h[1]`` = d2/dxdy, ``h[2]`` = d2/dy2 (``x, y`` the argument values, ``v``
    the node value, ``c`` its constant). Piecewise-linear and piecewise-constant
    ops (abs, sign, floor, maximum, comparisons, where, ...) get 0.
    """
    cdef double t, q, lx
    h[0] = 0.0
    h[1] = 0.0
    h[2] = 0.0
    if op == OP_MUL:
        h[1] = 1.0
    elif op == OP_SQUARE:
        h[0] = 2.0
    elif op == OP_DIV:
        t = 1.0 / y
        h[1] = -t * t
        h[2] = 2.0 * v * t * t
    elif op == OP_SQRT:
        h[0] = -0.25 / (v * v * v)
    elif op == OP_CBRT:
        t = v * v
        h[0] = (-2.0 / 9.0) / (t * t * v)
    elif op == OP_EXP:
        h[0] = v
    elif op == OP_EXPM1:
        h[0] = v + 1.0
    elif op == OP_LOG:
        h[0] = -1.0 / (x * x)
    elif op == OP_LOG1P:
        t = 1.0 / (x + 1.0)
        h[0] = -t * t
    elif op == OP_LOG2:
        h[0] = -1.0 / (x * x * LN2)
    elif op == OP_LOG10:
        h[0] = -1.0 / (x * x * LN10)
    elif op == OP_SIN or op == OP_COS:
        h[0] = -v
    elif op == OP_TAN:
        h[0] = 2.0 * v * (1.0 + v * v)
    elif op == OP_ARCSIN:
        t = 1.0 / sqrt(1.0 - x * x)
        h[0] = x * t * t * t
    elif op == OP_ARCCOS:
        t = 1.0 / sqrt(1.0 - x * x)
        h[0] = -x * t * t * t
    elif op == OP_ARCTAN:
        t = 1.0 / (1.0 + x * x)
        h[0] = -2.0 * x * t * t
    elif op == OP_SINH or op == OP_COSH:
        h[0] = v
    elif op == OP_TANH:
        h[0] = -2.0 * v * (1.0 - v * v)
    elif op == OP_ARCSINH:
        t = 1.0 / sqrt(x * x + 1.0)
        h[0] = -x * t * t * t
    elif op == OP_ARCCOSH:
        t = 1.0 / sqrt(x * x - 1.0)
        h[0] = -x * t * t * t
    elif op == OP_ARCTANH:
        t = 1.0 / (1.0 - x * x)
        h[0] = 2.0 * x * t * t
    elif op == OP_RECIPROCAL:
        h[0] = 2.0 * v * v * v
    elif op == OP_POWC:
        h[0] = c * (c - 1.0) * pow(x, c - 2.0)
    elif op == OP_POW:
        lx = log(x)
        h[0] = y * (y - 1.0) * pow(x, y - 2.0)
        h[1] = pow(x, y - 1.0) * (1.0 + y * lx)
        h[2] = v * lx * lx
    elif op == OP_ARCTAN2:
        t = x * x + y * y
        q = 1.0 / (t * t)
        h[0] = -2.0 * x * y * q
        h[1] = (x * x - y * y) * q
        h[2] = 2.0 * x * y * q
    elif op == OP_HYPOT:
        q = 1.0 / (v * v * v)
        h[0] = y * y * q
        h[1] = -x * y * q
        h[2] = x * x * q


cdef inline bint _is_selection(uint8_t op) noexcept nogil:
    """Ops whose partials are 0/1 selectors: a zero partial means "not taken"."""
    return op == OP_WHERE or op == OP_MAX or op == OP_MIN


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
# Kernels (nogil): one chunk of cc directions.


cdef void _values(const uint8_t *op, const ITYPE_t *a0, const ITYPE_t *a1,
                  const ITYPE_t *a2, const double *cst, ITYPE_t n_nodes,
                  const double *x, const double *p, double *vals) noexcept nogil:
    cdef ITYPE_t k, i0, i1, i2
    cdef uint8_t o
    for k in range(n_nodes):
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
            vals[k] = node_value(o, vals[i0], vals[i1], vals[i2], cst[k])


cdef void _forward(const uint8_t *op, const ITYPE_t *a0, const ITYPE_t *a1,
                   const ITYPE_t *a2, const double *cst, ITYPE_t n_nodes,
                   const uint8_t *d1t, const double *x, const double *p, bint compute_values,
                   double *vals, const double *S, ITYPE_t ctot, ITYPE_t j0, ITYPE_t cc,
                   double *T, uint8_t *tz) noexcept nogil:
    """Values (when ``compute_values``) and tangents ``T[k, :cc]`` of every node for
    the seed columns ``S[:, j0:j0+cc]``; ``tz[k] = 1`` where the tangent row is zero
    (then ``T[k]`` is left unwritten)."""
    cdef ITYPE_t k, j, i, ai, idx, i0, i1
    cdef double xv, yv, v, w0, w1
    cdef ITYPE_t args[3]
    cdef double d[3]
    cdef uint8_t o
    cdef bint first, sel, any_nz
    cdef double *dst
    cdef const double *srow
    for k in range(n_nodes):
        o = op[k]
        if o == OP_CONST:
            if compute_values:
                vals[k] = cst[k]
            tz[k] = 1
            continue
        elif o == OP_PARAM:
            if compute_values:
                vals[k] = p[<ITYPE_t>cst[k]]
            tz[k] = 1
            continue
        elif o == OP_VAR:
            idx = <ITYPE_t>cst[k]
            if compute_values:
                vals[k] = x[idx]
            srow = S + idx * ctot + j0
            dst = T + k * cc
            any_nz = 0
            for j in range(cc):
                dst[j] = srow[j]
                if srow[j] != 0.0:
                    any_nz = 1
            tz[k] = 0 if any_nz else 1
            continue
        if o == OP_ADD or o == OP_SUB or o == OP_MUL:
            # fast path for the most frequent binary ops
            i0 = a0[k]
            i1 = a1[k]
            xv = vals[i0]
            yv = vals[i1]
            if o == OP_ADD:
                w0 = 1.0
                w1 = 1.0
                v = xv + yv
            elif o == OP_SUB:
                w0 = 1.0
                w1 = -1.0
                v = xv - yv
            else:
                w0 = yv
                w1 = xv
                v = xv * yv
            if compute_values:
                vals[k] = v
            tz[k] = not _combine2(T + k * cc, T + i0 * cc, w0, tz[i0], T + i1 * cc, w1,
                                  tz[i1], cc)
            continue
        elif o == OP_NEG or o == OP_SQUARE:
            i0 = a0[k]
            xv = vals[i0]
            if compute_values:
                vals[k] = -xv if o == OP_NEG else xv * xv
            tz[k] = tz[i0]
            if not tz[i0]:
                _row_axpy(T + k * cc, T + i0 * cc, -1.0 if o == OP_NEG else 2.0 * xv, cc, 1)
            continue
        args[0] = a0[k]
        args[1] = a1[k] if a1[k] >= 0 else args[0]
        args[2] = a2[k] if a2[k] >= 0 else args[0]
        if compute_values:
            vals[k] = node_value(o, vals[args[0]], vals[args[1]], vals[args[2]], cst[k])
        any_nz = 0
        for i in range(3):
            if d1t[3 * o + i] and not tz[args[i]]:
                any_nz = 1
        if not any_nz:
            tz[k] = 1
            continue
        first_partials(o, vals[args[0]], vals[args[1]], vals[args[2]], vals[k], cst[k], d)
        sel = _is_selection(o)
        first = 1
        dst = T + k * cc
        for i in range(3):
            ai = args[i]
            if not d1t[3 * o + i] or tz[ai]:
                continue
            if sel and d[i] == 0.0:
                continue
            _row_axpy(dst, T + ai * cc, d[i], cc, first)
            first = 0
        tz[k] = 1 if first else 0


cdef void _reverse(const uint8_t *op, const ITYPE_t *a0, const ITYPE_t *a1,
                   const ITYPE_t *a2, const double *cst, ITYPE_t n_nodes,
                   const uint8_t *d1t, const double *vals, const ITYPE_t *outputs,
                   ITYPE_t m, const double *W, ITYPE_t ctot, ITYPE_t j0, ITYPE_t cc,
                   double *A, uint8_t *touched, double *Bt) noexcept nogil:
    """Adjoints ``A[k, :cc]`` for the output seeds ``W[:, j0:j0+cc]``, accumulated into
    ``Bt[i, j0:j0+cc]`` for every input ``i`` (``Bt`` must hold zeros there)."""
    cdef ITYPE_t k, j, i, ai, idx, r, i0, i1
    cdef double w0, w1
    cdef ITYPE_t args[3]
    cdef double d[3]
    cdef uint8_t o
    cdef bint sel, any_nz
    cdef const double *wrow
    cdef double *src
    cdef double *brow
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
    k = n_nodes
    while k > 0:
        k -= 1
        if not touched[k]:
            continue
        o = op[k]
        src = A + k * cc
        if o == OP_VAR:
            idx = <ITYPE_t>cst[k]
            brow = Bt + idx * ctot + j0
            for j in range(cc):
                brow[j] += src[j]
            continue
        if o == OP_CONST or o == OP_PARAM:
            continue
        if o == OP_ADD or o == OP_SUB or o == OP_MUL:
            # fast path for the most frequent binary ops
            i0 = a0[k]
            i1 = a1[k]
            if o == OP_ADD:
                w0 = 1.0
                w1 = 1.0
            elif o == OP_SUB:
                w0 = 1.0
                w1 = -1.0
            else:
                w0 = vals[i1]
                w1 = vals[i0]
            _row_axpy(A + i0 * cc, src, w0, cc, not touched[i0])
            touched[i0] = 1
            _row_axpy(A + i1 * cc, src, w1, cc, not touched[i1])
            touched[i1] = 1
            continue
        elif o == OP_NEG or o == OP_SQUARE:
            i0 = a0[k]
            _row_axpy(A + i0 * cc, src, -1.0 if o == OP_NEG else 2.0 * vals[i0], cc,
                      not touched[i0])
            touched[i0] = 1
            continue
        args[0] = a0[k]
        args[1] = a1[k] if a1[k] >= 0 else args[0]
        args[2] = a2[k] if a2[k] >= 0 else args[0]
        if not (d1t[3 * o] or d1t[3 * o + 1] or d1t[3 * o + 2]):
            continue
        first_partials(o, vals[args[0]], vals[args[1]], vals[args[2]], vals[k], cst[k], d)
        sel = _is_selection(o)
        for i in range(3):
            if not d1t[3 * o + i]:
                continue
            if sel and d[i] == 0.0:
                continue
            ai = args[i]
            _row_axpy(A + ai * cc, src, d[i], cc, not touched[ai])
            touched[ai] = 1


cdef inline void _hvp_arg(double *a, uint8_t *ra, double *At, uint8_t *rt, ITYPE_t ai,
                          double di, bint has_a, double ak, bint has_t, const double *src,
                          const double *trow, double hcoef, ITYPE_t cc) noexcept nogil:
    """Forward-over-reverse update of one argument ``ai`` with first partial ``di``:
    ``a[ai] += di * ak`` (when ``has_a``) and ``At[ai] += di * src`` (when ``has_t``)
    ``+ hcoef * trow`` (when ``trow`` is not NULL; ``hcoef`` = second partial * ak)."""
    cdef bint assign
    cdef double *dst = At + ai * cc
    if has_a:
        if ra[ai]:
            a[ai] += _scale(di, ak)
        else:
            a[ai] = _scale(di, ak)
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


cdef void _hvp_reverse(const uint8_t *op, const ITYPE_t *a0, const ITYPE_t *a1,
                       const ITYPE_t *a2, const double *cst, ITYPE_t n_nodes,
                       const uint8_t *d1t, const uint8_t *d2t, const uint8_t *crt,
                       const double *vals, ITYPE_t out, const double *T, const uint8_t *tz,
                       ITYPE_t ctot, ITYPE_t j0, ITYPE_t cc, double *a, uint8_t *ra,
                       double *At, uint8_t *rt, double *grad, double *HV) noexcept nogil:
    """Reverse pass of forward-over-reverse: scalar adjoints ``a`` (seed 1 at node
    ``out``) and adjoint tangents ``At[k, :cc]`` given the forward tangents ``T``;
    writes ``grad[i] += a[VAR i]`` and ``HV[i, j0:j0+cc] += At[VAR i]`` (both must
    hold zeros). ``ra``/``rt`` flag reached scalar adjoints / nonzero adjoint tangents.
    """
    cdef ITYPE_t k, j, i, jj, ai, aj, idx, i0, i1
    cdef ITYPE_t args[3]
    cdef double d[3]
    cdef double h[3]
    cdef double ak, hij, w0, w1
    cdef bint cross_nz
    cdef uint8_t o
    cdef bint sel, assign, need_h, structural
    cdef double *src
    cdef double *dst
    cdef double *hrow
    h[0] = 0.0
    h[1] = 0.0
    h[2] = 0.0
    for k in range(n_nodes):
        ra[k] = 0
        rt[k] = 0
    a[out] = 1.0
    ra[out] = 1
    k = n_nodes
    while k > 0:
        k -= 1
        if not ra[k] and not rt[k]:
            continue
        o = op[k]
        src = At + k * cc
        if o == OP_VAR:
            idx = <ITYPE_t>cst[k]
            if ra[k] and grad != NULL:
                grad[idx] += a[k]
            if rt[k]:
                hrow = HV + idx * ctot + j0
                for j in range(cc):
                    hrow[j] += src[j]
            continue
        if o == OP_CONST or o == OP_PARAM:
            continue
        if o == OP_ADD or o == OP_SUB or o == OP_MUL:
            # fast path for the most frequent binary ops (MUL: d2/dxdy = 1)
            i0 = a0[k]
            i1 = a1[k]
            if o == OP_ADD:
                w0 = 1.0
                w1 = 1.0
            elif o == OP_SUB:
                w0 = 1.0
                w1 = -1.0
            else:
                w0 = vals[i1]
                w1 = vals[i0]
            cross_nz = o == OP_MUL and ra[k]
            _hvp_arg(a, ra, At, rt, i0, w0, ra[k], a[k], rt[k], src,
                     T + i1 * cc if cross_nz and not tz[i1] else NULL, a[k], cc)
            _hvp_arg(a, ra, At, rt, i1, w1, ra[k], a[k], rt[k], src,
                     T + i0 * cc if cross_nz and not tz[i0] else NULL, a[k], cc)
            continue
        elif o == OP_NEG or o == OP_SQUARE:
            i0 = a0[k]
            if o == OP_NEG:
                _hvp_arg(a, ra, At, rt, i0, -1.0, ra[k], a[k], rt[k], src, NULL, 0.0, cc)
            else:
                _hvp_arg(a, ra, At, rt, i0, 2.0 * vals[i0], ra[k], a[k], rt[k], src,
                         T + i0 * cc if ra[k] and not tz[i0] else NULL, _scale(2.0, a[k]), cc)
            continue
        if not (d1t[3 * o] or d1t[3 * o + 1] or d1t[3 * o + 2]):
            continue
        args[0] = a0[k]
        args[1] = a1[k] if a1[k] >= 0 else args[0]
        args[2] = a2[k] if a2[k] >= 0 else args[0]
        first_partials(o, vals[args[0]], vals[args[1]], vals[args[2]], vals[k], cst[k], d)
        need_h = 0
        if ra[k]:
            for i in range(2):
                if d2t[3 * o + i] and not tz[args[i]]:
                    need_h = 1
            if crt[3 * o] and not (tz[args[0]] and tz[args[1]]):
                need_h = 1
        if need_h:
            second_partials(o, vals[args[0]], vals[args[1]], vals[k], cst[k], h)
        ak = a[k]
        sel = _is_selection(o)
        for i in range(3):
            if not d1t[3 * o + i]:
                continue
            if sel and d[i] == 0.0:
                continue
            ai = args[i]
            if ra[k]:
                if ra[ai]:
                    a[ai] += _scale(d[i], ak)
                else:
                    a[ai] = _scale(d[i], ak)
                    ra[ai] = 1
            dst = At + ai * cc
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
                    _row_axpy(dst, T + aj * cc, _scale(hij, ak), cc, assign)
                    assign = 0
            if not assign:
                rt[ai] = 1


# ---------------------------------------------------------------------------
# Python entry points.


_tls = threading.local()

#: Work buffers up to this many bytes are kept (one per thread) for the next call,
#: which saves the kernel's page zeroing of fresh memory on repeated sweeps.
WORKSPACE_KEEP_BYTES = 1 << 28


def release_workspace():
    """Drop the calling thread's cached work buffer."""
    _tls.buf = None


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


def _check_tables(const uint8_t[:, ::1] tab):
    if tab.shape[1] != 3 or tab.shape[0] < 96:
        raise ValueError("classification tables must have shape (N_CODES >= 96, 3)")


def forward_sweep(const uint8_t[::1] op, const ITYPE_t[::1] arg0, const ITYPE_t[::1] arg1,
                  const ITYPE_t[::1] arg2, const double[::1] cst,
                  const ITYPE_t[::1] outputs, const uint8_t[:, ::1] d1,
                  const double[::1] x, const double[::1] p, const double[:, ::1] S,
                  ITYPE_t chunk=0):
    """Compressed forward sweep: output values and ``B = J @ S``.

    (input)  op, arg0, arg1, arg2, const, outputs: the graph's node arrays;
             d1: ``classification_tables()[1]`` (which first partials can be nonzero);
             x: (n_inputs,), p: (n_params,), S: (n_inputs, c) seed matrix;
             chunk: directions per pass (0: all c at once)
    (output) ``(y, B)``: y (m,) output values, B (m, c) float64

    NumPy equivalent: ``y = f(x, p)``, ``B = jacobian(f)(x, p) @ S``.
    Memory: values N plus tangents N x chunk (N = number of nodes).
    """
    cdef ITYPE_t n = op.shape[0], m = outputs.shape[0], ctot = S.shape[1]
    cdef ITYPE_t cc, j0, r, j, k
    _check_tables(d1)
    if S.shape[0] != x.shape[0]:
        raise ValueError("S must have one row per input")
    if chunk <= 0 or chunk > ctot:
        chunk = ctot
    y_arr = np.empty(m)
    B_arr = np.zeros((m, ctot))
    if n == 0 or ctot == 0:
        return y_arr, B_arr
    vals_arr, T_arr, tz_arr = _work_arrays([n, n * chunk], [n])
    cdef double[::1] vals = vals_arr
    cdef double[::1] T = T_arr
    cdef uint8_t[::1] tz = tz_arr
    cdef double[::1] y = y_arr
    cdef double[:, ::1] B = B_arr
    cdef const double *xp = &x[0] if x.shape[0] else NULL
    cdef const double *pp = &p[0] if p.shape[0] else NULL
    cdef const double *Sp = &S[0, 0] if S.shape[0] else NULL
    cdef double *Tp = &T[0]
    j0 = 0
    while j0 < ctot:
        cc = min(chunk, ctot - j0)
        with nogil:
            _forward(&op[0], &arg0[0], &arg1[0], &arg2[0], &cst[0], n, &d1[0, 0], xp, pp,
                     j0 == 0, &vals[0], Sp, ctot, j0, cc, Tp, &tz[0])
            for r in range(m):
                k = outputs[r]
                if not tz[k]:
                    for j in range(cc):
                        B[r, j0 + j] = Tp[k * cc + j]
        j0 += cc
    with nogil:
        for r in range(m):
            y[r] = vals[outputs[r]]
    return y_arr, B_arr


def reverse_sweep(const uint8_t[::1] op, const ITYPE_t[::1] arg0, const ITYPE_t[::1] arg1,
                  const ITYPE_t[::1] arg2, const double[::1] cst,
                  const ITYPE_t[::1] outputs, const uint8_t[:, ::1] d1,
                  const double[::1] x, const double[::1] p, const double[:, ::1] W,
                  ITYPE_t n_inputs, ITYPE_t chunk=0):
    """Compressed reverse sweep: output values and ``B = W.T @ J``.

    (input)  node arrays and d1 as in :func:`forward_sweep`; x: (n_inputs,),
             p: (n_params,), W: (m, c) output seeds; chunk: directions per pass
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
    Bt_arr = np.zeros((n_inputs, ctot))
    if n == 0 or ctot == 0:
        return y_arr, np.ascontiguousarray(Bt_arr.T)
    vals_arr, A_arr, touched_arr = _work_arrays([n, n * chunk], [n])
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
        _values(&op[0], &arg0[0], &arg1[0], &arg2[0], &cst[0], n, xp, pp, &vals[0])
        for r in range(m):
            y[r] = vals[outputs[r]]
    j0 = 0
    while j0 < ctot:
        cc = min(chunk, ctot - j0)
        with nogil:
            _reverse(&op[0], &arg0[0], &arg1[0], &arg2[0], &cst[0], n, &d1[0, 0],
                     &vals[0], outp, m, Wp, ctot, j0, cc, &A[0], &touched[0], Btp)
        j0 += cc
    return y_arr, np.ascontiguousarray(Bt_arr.T)


def hvp_sweep(const uint8_t[::1] op, const ITYPE_t[::1] arg0, const ITYPE_t[::1] arg1,
              const ITYPE_t[::1] arg2, const double[::1] cst, ITYPE_t output,
              const uint8_t[:, ::1] d1, const uint8_t[:, ::1] d2,
              const uint8_t[:, ::1] cross, const double[::1] x, const double[::1] p,
              const double[:, ::1] V, ITYPE_t chunk=0):
    """Forward-over-reverse sweep of a scalar output: value, gradient and ``H @ V``.

    (input)  node arrays; output: the id of the scalar output node; d1, d2, cross:
             ``classification_tables()[1:]``; x: (n_inputs,), p: (n_params,),
             V: (n_inputs, c) directions; chunk: directions per pass
    (output) ``(value, grad, HV)``: value float, grad (n_inputs,), HV (n_inputs, c)

    NumPy equivalent: ``value = f(x, p)``, ``grad = gradient(f)(x, p)``,
    ``HV = hessian(f)(x, p) @ V``.
    Forward pass: values and c tangents (seeded by V); reverse pass: scalar
    adjoints and c adjoint tangents, using the second partials.
    Memory: values and scalar adjoints 2N, tangents and adjoint tangents 2N x chunk.
    """
    cdef ITYPE_t n = op.shape[0], nin = x.shape[0], ctot = V.shape[1]
    cdef ITYPE_t cc, j0
    _check_tables(d1)
    _check_tables(d2)
    _check_tables(cross)
    if V.shape[0] != nin:
        raise ValueError("V must have one row per input")
    if not 0 <= output < n:
        raise ValueError("output is not a node id")
    if chunk <= 0 or chunk > ctot:
        chunk = ctot
    grad_arr = np.zeros(nin)
    HV_arr = np.zeros((nin, ctot))
    cc = max(chunk, 1)
    vals_arr, a_arr, T_arr, At_arr, ra_arr, rt_arr, tz_arr = _work_arrays(
        [n, n, n * cc, n * cc], [n, n, n])
    cdef double[::1] vals = vals_arr, a = a_arr, grad = grad_arr, T = T_arr, At = At_arr
    cdef uint8_t[::1] ra = ra_arr, rt = rt_arr, tz = tz_arr
    cdef double[:, ::1] HV = HV_arr
    cdef const double *xp = &x[0] if nin else NULL
    cdef const double *pp = &p[0] if p.shape[0] else NULL
    cdef const double *Vp = &V[0, 0] if nin else NULL
    cdef double *HVp = &HV[0, 0] if nin and ctot else NULL
    cdef double *gp = &grad[0] if nin else NULL
    if ctot == 0:
        with nogil:
            _values(&op[0], &arg0[0], &arg1[0], &arg2[0], &cst[0], n, xp, pp, &vals[0])
            # one scalar reverse pass with no directions
            for j0 in range(n):
                tz[j0] = 1
            _hvp_reverse(&op[0], &arg0[0], &arg1[0], &arg2[0], &cst[0], n, &d1[0, 0],
                         &d2[0, 0], &cross[0, 0], &vals[0], output, &T[0], &tz[0], 0, 0, 0,
                         &a[0], &ra[0], &At[0], &rt[0], gp, HVp)
        return float(vals[output]), grad_arr, HV_arr
    j0 = 0
    while j0 < ctot:
        cc = min(chunk, ctot - j0)
        with nogil:
            _forward(&op[0], &arg0[0], &arg1[0], &arg2[0], &cst[0], n, &d1[0, 0], xp, pp,
                     j0 == 0, &vals[0], Vp, ctot, j0, cc, &T[0], &tz[0])
            if j0 > 0:
                # the gradient was accumulated by the first chunk's scalar pass
                _hvp_reverse(&op[0], &arg0[0], &arg1[0], &arg2[0], &cst[0], n, &d1[0, 0],
                             &d2[0, 0], &cross[0, 0], &vals[0], output, &T[0], &tz[0],
                             ctot, j0, cc, &a[0], &ra[0], &At[0], &rt[0], NULL, HVp)
            else:
                _hvp_reverse(&op[0], &arg0[0], &arg1[0], &arg2[0], &cst[0], n, &d1[0, 0],
                             &d2[0, 0], &cross[0, 0], &vals[0], output, &T[0], &tz[0],
                             ctot, j0, cc, &a[0], &ra[0], &At[0], &rt[0], gp, HVp)
        j0 += cc
    return float(vals[output]), grad_arr, HV_arr
