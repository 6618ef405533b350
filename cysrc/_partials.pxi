# The local rules of the numeric sweeps: the first and second partials of one
# node from its argument values and its own value. With ``_node_values.pxi``
# (the values) this is every opcode's numeric semantics; an elementwise op's
# C rules go into these two files. Included by ``sweeps.pyx``.


cdef double LN2 = 0.6931471805599453
cdef double LN10 = 2.302585092994046


# ---------------------------------------------------------------------------
# Local rules: the value, first partials and second partials of one node.


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
