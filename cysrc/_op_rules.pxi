# Every opcode's numeric semantics, one switch per rule, each with a case for
# every op that has the rule: the value of one node (apply_op), its first
# partials and its second partials (the rules of the numeric sweeps), from its
# argument values (and its own value). Included by the virtual machine and the
# numeric sweeps. They must agree with the op table (symasd/ops.py): its NumPy
# rules and its partials; tests/test_ops.py checks them on random and special
# values, and that each switch covers every op of the table that needs it.
from libc.math cimport (NAN, acos, acosh, asin, asinh, atan, atan2, atanh, cbrt, ceil, cos,
                        cosh, erf, erfc, exp, expm1, fabs, floor, hypot, log, log1p, log2, log10,
                        pow, rint, sin, sinh, sqrt, tan, tanh)

include "_special.pxi"


cdef double LN2 = 0.6931471805599453
cdef double LN10 = 2.302585092994046
cdef double PI = 3.141592653589793
cdef double M_2_SQRTPI = 1.1283791670955126  # 2 / sqrt(pi)


cdef inline double _sign(double x) noexcept nogil:
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    if x == 0:
        return 0.0  # +0.0 for both zeros, as np.sign gives
    return x  # NaN


cdef inline double _mulz(double x, double y) noexcept nogil:
    """``x * y`` with a strong zero (``0 * inf`` is 0), as ``OP_MULZ`` computes it."""
    return 0.0 if (x == 0 or y == 0) else x * y


cdef inline double _max(double x, double y) noexcept nogil:
    if x != x or y != y:
        return NAN
    return x if x >= y else y


cdef inline double _min(double x, double y) noexcept nogil:
    if x != x or y != y:
        return NAN
    return x if x <= y else y


cdef inline double _logaddexp(double x, double y) noexcept nogil:
    """``log(exp(x) + exp(y))`` without overflow, step for step NumPy's
    ``npy_logaddexp``."""
    cdef double d
    if x == y:
        return x + LN2  # equal infinities too, without inf - inf
    d = x - y
    if d > 0:
        return x + log1p(exp(-d))
    if d <= 0:
        return y + log1p(exp(d))
    return d  # NaN


cdef inline void _logaddexp_partials(double x, double y, double *d) noexcept nogil:
    """``d[0] = p``, ``d[1] = q``: the rule of ops.py (``p = exp(-logaddexp(0, y - x))``,
    ``q = 1 - p``) with one exponential, ``t = exp(-|x - y|)``: the larger is
    ``1 / (1 + t)``, the smaller ``t / (1 + t)``, both to rounding where ``p`` is
    next to 1 and ``q`` tiny; the limits at one infinite argument, and 1/2 at
    equal infinities (the limit along x = y), NaN at a NaN."""
    cdef double t, s
    if x == y:
        d[0] = 0.5
        d[1] = 0.5
        return
    t = exp(-fabs(x - y))
    s = 1.0 / (1.0 + t)
    if x > y:
        d[0] = s
        d[1] = t * s
    elif x < y:
        d[0] = t * s
        d[1] = s
    else:
        d[0] = NAN
        d[1] = NAN


cdef inline double _sinc(double x) noexcept nogil:
    """``sin(pi x) / (pi x)``, step for step ``np.sinc``: ``pi x`` is replaced by
    the machine epsilon where it is 0, which gives 1."""
    cdef double y = PI * x
    if y == 0:
        y = 2.220446049250313e-16
    return sin(y) / y


cdef inline double _sinc_d1_series(double x) noexcept nogil:
    """sinc'(x) by its Maclaurin series, for ``|x| < SINC_SERIES`` (both from ops.py,
    by way of the generated _opcodes.pxi)."""
    cdef double u = PI * x
    return PI * PI * x * sinc_d1_poly(u * u)


cdef inline double _sinc_d2_series(double x) noexcept nogil:
    """sinc''(x) by its Maclaurin series, for ``|x| < SINC_SERIES``."""
    cdef double u = PI * x
    return PI * PI * sinc_d2_poly(u * u)


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
    elif op == OP_SINC:
        return _sinc(x)
    elif op == OP_NOT:
        return 1.0 if x == 0 else 0.0
    elif op == OP_ISNAN:
        return 1.0 if x != x else 0.0
    elif op == OP_ISFINITE:
        return 1.0 if x - x == 0 else 0.0
    elif op == OP_ERF:
        return erf(x)
    elif op == OP_ERFC:
        return erfc(x)
    elif op == OP_EXPIT:
        return _expit(x)
    elif op == OP_LOGIT:
        return _logit(x)
    elif op == OP_GAMMALN:
        return _gammaln(x)
    elif op == OP_LOG_NDTR:
        return _log_ndtr(x)
    elif op == OP_POLYGAMMA:
        return _polygamma(c, x)
    elif op == OP_ADD:
        return x + y
    elif op == OP_SUB:
        return x - y
    elif op == OP_MUL:
        return x * y
    elif op == OP_DIV:
        return x / y
    elif op == OP_MULZ:
        return 0.0 if (x == 0 or y == 0) else x * y
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
    elif op == OP_LOGADDEXP:
        return _logaddexp(x, y)
    elif op == OP_XLOGY:
        return _xlogy(x, y)
    elif op == OP_XLOG1PY:
        return _xlog1py(x, y)
    elif op == OP_WHERE:
        return y if x != 0 else z
    return NAN


cdef inline void _binary_weights(uint8_t o, double x, double y, double *w0,
                                 double *w1) noexcept nogil:
    """First partials of the fast-path binary ops ``ADD``, ``SUB``, ``MUL`` at ``(x, y)``."""
    if o == OP_ADD:
        w0[0] = 1.0
        w1[0] = 1.0
    elif o == OP_SUB:
        w0[0] = 1.0
        w1[0] = -1.0
    else:
        w0[0] = y
        w1[0] = x


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
    elif op == OP_MUL or op == OP_MULZ:
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
        # a cube's x ** 2 is x * x, as the compiler's SQUARE node computes it
        d[0] = c * (x * x if c == 3.0 else pow(x, c - 1.0))
    elif op == OP_SINC:
        d[0] = _sinc_d1_series(x) if fabs(x) < SINC_SERIES else (cos(PI * x) - v) / x
    elif op == OP_POW:
        # strong zeros: x ** 0 and 0 ** y (y > 0) are constant, whatever pow(0, -1)
        # and log(0) are
        d[0] = _mulz(y, pow(x, y - 1.0))
        d[1] = _mulz(v, log(x))
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
    elif op == OP_LOGADDEXP:
        _logaddexp_partials(x, y, d)
    elif op == OP_ERF:
        d[0] = M_2_SQRTPI * exp(-x * x)
    elif op == OP_ERFC:
        d[0] = -M_2_SQRTPI * exp(-x * x)
    elif op == OP_EXPIT:
        d[0] = v * _expit(-x)
    elif op == OP_LOGIT:
        d[0] = 1.0 / (x * (1.0 - x))
    elif op == OP_GAMMALN:
        d[0] = _digamma(x)
    elif op == OP_LOG_NDTR:
        d[0] = _log_ndtr_d1(x, v)
    elif op == OP_POLYGAMMA:
        d[0] = _polygamma(c + 1.0, x)
    elif op == OP_XLOGY:
        d[0] = log(y)
        d[1] = x / y
    elif op == OP_XLOG1PY:
        d[0] = log1p(y)
        d[1] = x / (1.0 + y)
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
    if op == OP_MUL or op == OP_MULZ:
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
        # x ** 1 is x exactly, and cubes are common: skip pow there
        h[0] = c * (c - 1.0) * (x if c == 3.0 else pow(x, c - 2.0))
    elif op == OP_SINC:
        if fabs(x) < SINC_SERIES:
            h[0] = _sinc_d2_series(x)
        else:  # (x sinc)'' = -pi^2 x sinc
            h[0] = -PI * PI * v - 2.0 * ((cos(PI * x) - v) / x) / x
    elif op == OP_POW:
        # the first partials' strong zeros, differentiated (the compiler builds the
        # same products in another order: at singular points, 0 ** -0.5 and log 0
        # together, the two may give inf and NaN)
        lx = log(x)
        t = pow(x, y - 1.0)
        h[0] = _mulz(y, _mulz(y - 1.0, pow(x, y - 2.0)))
        h[1] = t + _mulz(y, _mulz(t, lx))
        h[2] = _mulz(_mulz(v, lx), lx)
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
    elif op == OP_ERF:
        h[0] = -2.0 * x * M_2_SQRTPI * exp(-x * x)
    elif op == OP_ERFC:
        h[0] = 2.0 * x * M_2_SQRTPI * exp(-x * x)
    elif op == OP_EXPIT:
        h[0] = -v * _expit(-x) * tanh(0.5 * x)  # sigma(-x) - sigma(x) = -tanh(x / 2)
    elif op == OP_LOGIT:
        t = 1.0 / (x * (1.0 - x))
        h[0] = (2.0 * x - 1.0) * t * t
    elif op == OP_GAMMALN:
        h[0] = _polygamma(1.0, x)
    elif op == OP_LOG_NDTR:
        h[0] = _log_ndtr_d2(x, v)
    elif op == OP_POLYGAMMA:
        h[0] = _polygamma(c + 2.0, x)
    elif op == OP_XLOGY:
        h[1] = 1.0 / y
        h[2] = -x / (y * y)
    elif op == OP_XLOG1PY:
        t = 1.0 / (1.0 + y)
        h[1] = t
        h[2] = -x * t * t
    elif op == OP_LOGADDEXP:
        _logaddexp_partials(x, y, h)
        t = h[0] * h[1]  # p q, the derivative of p = ops' exp(-logaddexp(0, y - x))
        if x == y and x - y != x - y:
            t = 0.0  # equal infinities: p = 1/2 there, constant as in ops.py
        h[0] = t
        h[1] = -t
        h[2] = t


cdef inline bint _is_selection(uint8_t op) noexcept nogil:
    """Ops whose partials are 0/1 selectors: a zero partial means "not taken"."""
    return op == OP_WHERE or op == OP_MAX or op == OP_MIN


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
