# The value of one non-leaf node from its argument values (and of a strided
# segment of them): the single C definition of every opcode's semantics,
# included by the virtual machine and the numeric sweeps. It must agree with the op table's NumPy rules
# (symasd/ops.py); tests/test_ops.py checks it on random and special values.
from libc.math cimport (NAN, acos, acosh, asin, asinh, atan, atan2, atanh, cbrt, ceil, cos,
                        cosh, exp, expm1, fabs, floor, hypot, log, log1p, log2, log10, pow,
                        rint, sin, sinh, sqrt, tan, tanh)


cdef inline double _sign(double x) noexcept nogil:
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    if x == 0:
        return 0.0  # +0.0 for both zeros, as np.sign gives
    return x  # NaN


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


cdef inline void strided_values(uint8_t o, ITYPE_t L, ITYPE_t b0, ITYPE_t s0, ITYPE_t b1,
                                ITYPE_t s1, ITYPE_t b2, ITYPE_t s2, const double *c,
                                const double *x, double *out) noexcept nogil:
    """Values of a strided segment: ``out[i] = op(x[b0 + i*s0], x[b1 + i*s1],
    x[b2 + i*s2])`` for ``i < L`` (``c`` is the segment's constant payload; an
    unused argument has base -1). Sequential, so an argument inside the segment
    is read after it is written.

    The arithmetic opcodes get one loop per unit or zero stride, free of index
    arithmetic so that the compiler vectorizes them. They are written out per
    opcode on purpose: one loop calling an inline helper that switches on the
    opcode was not unswitched by GCC and ran 2-3x slower. A stride-0 argument
    precedes the segment (nodes are in topological order): its value is read
    once."""
    cdef ITYPE_t i
    cdef double a
    if o == OP_ADD:
        if s0 == 1 and s1 == 1:
            for i in range(L):
                out[i] = x[b0 + i] + x[b1 + i]
        elif s0 == 1 and s1 == 0:
            a = x[b1]
            for i in range(L):
                out[i] = x[b0 + i] + a
        elif s0 == 0 and s1 == 1:
            a = x[b0]
            for i in range(L):
                out[i] = a + x[b1 + i]
        else:
            for i in range(L):
                out[i] = x[b0 + i * s0] + x[b1 + i * s1]
    elif o == OP_SUB:
        if s0 == 1 and s1 == 1:
            for i in range(L):
                out[i] = x[b0 + i] - x[b1 + i]
        elif s0 == 1 and s1 == 0:
            a = x[b1]
            for i in range(L):
                out[i] = x[b0 + i] - a
        elif s0 == 0 and s1 == 1:
            a = x[b0]
            for i in range(L):
                out[i] = a - x[b1 + i]
        else:
            for i in range(L):
                out[i] = x[b0 + i * s0] - x[b1 + i * s1]
    elif o == OP_MUL:
        if s0 == 1 and s1 == 1:
            for i in range(L):
                out[i] = x[b0 + i] * x[b1 + i]
        elif s0 == 1 and s1 == 0:
            a = x[b1]
            for i in range(L):
                out[i] = x[b0 + i] * a
        elif s0 == 0 and s1 == 1:
            a = x[b0]
            for i in range(L):
                out[i] = a * x[b1 + i]
        else:
            for i in range(L):
                out[i] = x[b0 + i * s0] * x[b1 + i * s1]
    elif o == OP_DIV:
        if s0 == 1 and s1 == 1:
            for i in range(L):
                out[i] = x[b0 + i] / x[b1 + i]
        elif s0 == 1 and s1 == 0:
            a = x[b1]
            for i in range(L):
                out[i] = x[b0 + i] / a
        elif s0 == 0 and s1 == 1:
            a = x[b0]
            for i in range(L):
                out[i] = a / x[b1 + i]
        else:
            for i in range(L):
                out[i] = x[b0 + i * s0] / x[b1 + i * s1]
    elif o == OP_NEG:
        if s0 == 1:
            for i in range(L):
                out[i] = -x[b0 + i]
        else:
            for i in range(L):
                out[i] = -x[b0 + i * s0]
    elif o == OP_SQUARE:
        if s0 == 1:
            for i in range(L):
                out[i] = x[b0 + i] * x[b0 + i]
        else:
            for i in range(L):
                out[i] = x[b0 + i * s0] * x[b0 + i * s0]
    elif o == OP_WHERE:
        for i in range(L):
            out[i] = x[b1 + i * s1] if x[b0 + i * s0] != 0 else x[b2 + i * s2]
    elif b2 >= 0:
        for i in range(L):
            out[i] = apply_op(o, x[b0 + i * s0], x[b1 + i * s1], x[b2 + i * s2], c[i])
    elif b1 >= 0:
        for i in range(L):
            out[i] = apply_op(o, x[b0 + i * s0], x[b1 + i * s1], 0.0, c[i])
    else:
        for i in range(L):
            out[i] = apply_op(o, x[b0 + i * s0], 0.0, 0.0, c[i])
