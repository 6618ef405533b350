# The virtual machine: evaluates a graph's node arrays in one pass.
include "_types.pxi"
include "_opcodes.pxi"

import numpy as np

from libc.math cimport (NAN, acos, acosh, asin, asinh, atan, atan2, atanh, cbrt, ceil, cos,
                        cosh, exp, expm1, fabs, floor, hypot, log, log1p, log2, log10, pow,
                        rint, sin, sinh, sqrt, tan, tanh)


cdef inline double _sign(double x) noexcept nogil:
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return x  # 0.0, -0.0 and NaN map to themselves, as np.sign does


cdef inline double _max(double x, double y) noexcept nogil:
    if x != x or y != y:
        return NAN
    return x if x >= y else y


cdef inline double _min(double x, double y) noexcept nogil:
    if x != x or y != y:
        return NAN
    return x if x <= y else y


cdef inline double apply_op(uint8_t op, double x, double y, double z,
                            double c) noexcept nogil:
    """The value of one non-leaf node; must agree with the op table's NumPy rule."""
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
        return _max(x, y)
    elif op == OP_MIN:
        return _min(x, y)
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


def op_runs(const uint8_t[::1] op):
    """Start of every maximal run of equal opcodes, plus ``len(op)`` at the end.

    NumPy equivalent: ``np.r_[0, np.flatnonzero(np.diff(op)) + 1, len(op)]``.
    """
    o = np.asarray(op)
    return np.concatenate([[0], np.flatnonzero(np.diff(o)) + 1, [o.shape[0]]]).astype(np.int64)


cdef inline void _run1(uint8_t o, ITYPE_t s, ITYPE_t e, const ITYPE_t[::1] a0,
                       const ITYPE_t[::1] a1, const ITYPE_t[::1] a2, const double[::1] c,
                       const double[::1] x, const double[::1] p,
                       double[::1] v) noexcept nogil:
    cdef ITYPE_t k
    # the most frequent opcodes get their own loop so the compiler can keep the
    # switch out of the inner loop; the rest share apply_op
    if o == OP_CONST:
        for k in range(s, e):
            v[k] = c[k]
    elif o == OP_VAR:
        for k in range(s, e):
            v[k] = x[<ITYPE_t>c[k]]
    elif o == OP_PARAM:
        for k in range(s, e):
            v[k] = p[<ITYPE_t>c[k]]
    elif o == OP_ADD:
        for k in range(s, e):
            v[k] = v[a0[k]] + v[a1[k]]
    elif o == OP_SUB:
        for k in range(s, e):
            v[k] = v[a0[k]] - v[a1[k]]
    elif o == OP_MUL:
        for k in range(s, e):
            v[k] = v[a0[k]] * v[a1[k]]
    elif o == OP_DIV:
        for k in range(s, e):
            v[k] = v[a0[k]] / v[a1[k]]
    elif o == OP_NEG:
        for k in range(s, e):
            v[k] = -v[a0[k]]
    elif o == OP_SQUARE:
        for k in range(s, e):
            v[k] = v[a0[k]] * v[a0[k]]
    elif o == OP_WHERE:
        for k in range(s, e):
            v[k] = v[a1[k]] if v[a0[k]] != 0 else v[a2[k]]
    else:
        for k in range(s, e):
            v[k] = apply_op(o, v[a0[k]], v[a1[k] if a1[k] >= 0 else a0[k]],
                            v[a2[k] if a2[k] >= 0 else a0[k]], c[k])


def evaluate1(const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
              const ITYPE_t[::1] a2, const double[::1] c, const ITYPE_t[::1] runs,
              const double[::1] x, const double[::1] p, double[::1] vals):
    """Evaluate every node at one point, run by run.

    (input)  node arrays, ``runs`` from :func:`op_runs`, x (n_inputs), p (n_params)
    (output) vals (n_nodes): ``vals[k]`` = value of node ``k``
    """
    cdef ITYPE_t r
    with nogil:
        for r in range(runs.shape[0] - 1):
            _run1(op[runs[r]], runs[r], runs[r + 1], a0, a1, a2, c, x, p, vals)


def evaluate_outputs(const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
                     const ITYPE_t[::1] a2, const double[::1] c, const ITYPE_t[::1] runs,
                     const ITYPE_t[::1] outputs, const double[::1] x, const double[::1] p,
                     double[::1] vals, double[::1] out):
    """:func:`evaluate1`, then ``out[:] = vals[outputs]``.

    (output) vals (n_nodes) as workspace, out (n_outputs)
    """
    cdef ITYPE_t r, i
    with nogil:
        for r in range(runs.shape[0] - 1):
            _run1(op[runs[r]], runs[r], runs[r + 1], a0, a1, a2, c, x, p, vals)
        for i in range(outputs.shape[0]):
            out[i] = vals[outputs[i]]


def evaluate(const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
             const ITYPE_t[::1] a2, const double[::1] c, const double[:, ::1] x,
             const double[:, ::1] p, double[:, ::1] vals):
    """Evaluate every node for a batch of points.

    (input)  op, a0, a1, a2, c: the graph's node arrays (topological order)
             x: (n_inputs, batch) input values, p: (n_params, batch) parameter values
    (output) vals: (n_nodes, batch), ``vals[k, b]`` = value of node ``k`` at point ``b``

    NumPy equivalent: for each node in order, ``vals[k] = OPS[op[k]].numpy(vals[a0[k]], ...)``.
    """
    cdef ITYPE_t k, b, n = op.shape[0], nb = vals.shape[1]
    cdef uint8_t o
    cdef ITYPE_t i0, i1, i2
    with nogil:
        for k in range(n):
            o = op[k]
            if o == OP_CONST:
                for b in range(nb):
                    vals[k, b] = c[k]
            elif o == OP_VAR:
                i0 = <ITYPE_t>c[k]
                for b in range(nb):
                    vals[k, b] = x[i0, b]
            elif o == OP_PARAM:
                i0 = <ITYPE_t>c[k]
                for b in range(nb):
                    vals[k, b] = p[i0, b]
            else:
                i0 = a0[k]
                i1 = a1[k] if a1[k] >= 0 else i0
                i2 = a2[k] if a2[k] >= 0 else i0
                for b in range(nb):
                    vals[k, b] = apply_op(o, vals[i0, b], vals[i1, b], vals[i2, b], c[k])
