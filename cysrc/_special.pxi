# The special functions of the scipy.special ops, in C (included by _op_rules.pxi).
# erf, erfc and lgamma are the C library's; the others are written here, each with
# the same values as SciPy's at infinities, poles and NaN (tests/test_special.py
# checks them against SciPy and mpmath). The series constants come from ops.py by
# way of the generated _opcodes.pxi.
from libc.math cimport INFINITY, NAN, erfc, exp, floor, lgamma, log, log1p, pow, rint, signbit, tan

cdef double _SQRT1_2 = 0.7071067811865476
cdef double _PI = 3.141592653589793

# Bernoulli numbers B_2, B_4, ..., B_20 (the asymptotic series of polygamma)
cdef double _B2K[10]
_B2K[:] = [1.0 / 6.0, -1.0 / 30.0, 1.0 / 42.0, -1.0 / 30.0, 5.0 / 66.0, -691.0 / 2730.0,
           7.0 / 6.0, -3617.0 / 510.0, 43867.0 / 798.0, -174611.0 / 330.0]

cdef enum:
    POLYGAMMA_REFLECT_MAX = 60   # the largest order reflected to negative arguments


cdef inline double _expit(double x) noexcept nogil:
    """``1 / (1 + exp(-x))``, by ``exp(x) / (1 + exp(x))`` for negative ``x``."""
    cdef double t
    if x >= 0:
        return 1.0 / (1.0 + exp(-x))
    t = exp(x)
    return t / (1.0 + t)


cdef inline double _logit(double p) noexcept nogil:
    """``log(p / (1 - p))``; near ``p = 1/2`` as ``log1p((2p - 1) / (1 - p))``, whose
    parts are exact there, so that small results keep their digits."""
    if 0.25 <= p <= 0.75:
        return log1p((2.0 * p - 1.0) / (1.0 - p))
    return log(p / (1.0 - p))


cdef inline double _xlogy(double x, double y) noexcept nogil:
    """``x log(y)``, 0 where ``x == 0`` (unless ``y`` is NaN), as scipy.special.xlogy."""
    if x == 0 and y == y:
        return 0.0
    return x * log(y)


cdef inline double _xlog1py(double x, double y) noexcept nogil:
    if x == 0 and y == y:
        return 0.0
    return x * log1p(y)


cdef inline double _log_ndtr(double x) noexcept nogil:
    """``log(Phi(x))``: ``log1p(-Phi(-x))`` above 0, ``log(Phi(x))`` from erfc down to
    ``LOG_NDTR_ASYMPTOTIC``, and the asymptotic series below (ops.py)."""
    cdef double u
    if x < LOG_NDTR_ASYMPTOTIC:
        if x == -INFINITY:
            return -INFINITY
        u = 1.0 / (x * x)
        return -0.5 * x * x - log(-x) - LN_SQRT_2PI + log1p(u * log_ndtr_q(u))
    if x > 0:
        return log1p(-0.5 * erfc(x * _SQRT1_2))
    return log(0.5 * erfc(-x * _SQRT1_2))


cdef inline double _log_ndtr_d1(double x, double v) noexcept nogil:
    """``phi(x) / Phi(x)`` (``v = log_ndtr(x)``); ``-x / S(1 / x^2)`` in the tail."""
    cdef double u
    if x < LOG_NDTR_ASYMPTOTIC:
        u = 1.0 / (x * x)
        return -x / (1.0 + u * log_ndtr_q(u))
    return exp(-0.5 * x * x - (v + LN_SQRT_2PI))


cdef inline double _log_ndtr_d2(double x, double v) noexcept nogil:
    """``-r (x + r)`` with ``r`` the first derivative; ``Q(u) / S(u)^2`` in the tail,
    where ``x + r`` would cancel."""
    cdef double u, S, r
    if x < LOG_NDTR_ASYMPTOTIC:
        u = 1.0 / (x * x)
        S = 1.0 + u * log_ndtr_q(u)
        return log_ndtr_q(u) / (S * S)
    r = _log_ndtr_d1(x, v)
    return -r * (x + r)


cdef inline double _pi_cot_pi(double x) noexcept nogil:
    """``pi cot(pi x)`` with the argument reduced to ``[-1/2, 1/2]`` first (``x -
    rint(x)`` is exact), and by ``cot(pi s) = tan(pi (1/2 - s))`` beyond 1/4 (``1/2 -
    s`` is exact), so that it is 0 at half-integers and accurate next to them."""
    cdef double s = x - rint(x)
    if s > 0.25:
        return _PI * tan(_PI * (0.5 - s))
    if s < -0.25:
        return -_PI * tan(_PI * (0.5 + s))
    return _PI / tan(_PI * s)


cdef double _digamma(double x) noexcept nogil:
    """psi(x): the reflection below 0, one step of the recurrence on (0, 1), the
    Taylor series about the root on [1, 2] (ops.DIGAMMA_SERIES), the recurrence
    down to it below 10, and the asymptotic series above."""
    cdef double acc = 0.0, t, t2, s
    cdef int k
    if x != x or x == -INFINITY:
        return NAN
    if x == INFINITY:
        return INFINITY
    if x == 0:
        return INFINITY if signbit(x) else -INFINITY  # SciPy's psi(-0) = +inf, psi(+0) = -inf
    if x < 0:
        if x == floor(x):
            return NAN
        return _digamma(1.0 - x) - _pi_cot_pi(x)
    if x < 1.0:
        return _digamma(x + 1.0) - 1.0 / x
    if x <= 2.0:
        return digamma_series(x - DIGAMMA_CENTER)
    if x < 10.0:
        while x > 2.0:
            x -= 1.0
            acc += 1.0 / x
        return digamma_series(x - DIGAMMA_CENTER) + acc
    t = 1.0 / x
    t2 = t * t
    s = 0.0
    for k in range(9, -1, -1):
        s = s * t2 + _B2K[k] / (2.0 * (k + 1))
    return log(x) - 0.5 * t - t2 * s


cdef double _polygamma_positive(int n, double x) noexcept nogil:
    """psi^(n)(x) for ``n >= 1`` and ``x > 0``: the recurrence up to ``10 + 1.5 n``
    (terms of one sign: nothing cancels), then the asymptotic series."""
    cdef double fact = 1.0, acc = 0.0, t, t2, term, s, c
    cdef double x0 = 10.0 + 1.5 * n
    cdef int j
    for j in range(2, n + 1):
        fact *= j
    while x < x0:
        acc += pow(x, -(n + 1.0))
        x += 1.0
    t = 1.0 / x
    t2 = t * t
    # (n-1)! t^n (1 + n t / 2 + sum_j B_2j C(2j + n - 1, 2j) t^2j)
    s = 1.0 + 0.5 * n * t
    c = 1.0
    term = 1.0
    for j in range(1, 11):
        c *= (2.0 * j + n - 2.0) * (2.0 * j + n - 1.0) / ((2.0 * j - 1.0) * (2.0 * j))
        term *= t2
        s += _B2K[j - 1] * c * term
    return (fact * acc + (fact / n) * pow(t, n) * s) * (1.0 if n % 2 == 1 else -1.0)


cdef double _polygamma(double order, double x) noexcept nogil:
    """``scipy.special.polygamma(order, x)`` for an integer ``order >= 0`` (digamma at
    0): the values at infinities and poles are SciPy's; below 0 by the reflection
    ``psi^(n)(x) = (-1)^n psi^(n)(1 - x) - pi^(n+1) cot^(n)(pi x)``, the n-th
    derivative of cot a polynomial in cot (orders up to POLYGAMMA_REFLECT_MAX)."""
    cdef int n = <int>order, j, i
    cdef double sign, c, value, pk
    cdef double P[POLYGAMMA_REFLECT_MAX + 2]
    cdef double Q[POLYGAMMA_REFLECT_MAX + 2]
    if order != order or order < 0 or order != floor(order):
        return NAN
    if n == 0:
        return _digamma(x)
    if x != x:
        return NAN
    sign = 1.0 if n % 2 == 1 else -1.0
    if x == INFINITY:
        return sign * 0.0
    if x == -INFINITY or (x <= 0 and x == floor(x)):
        return sign * INFINITY
    if x > 0:
        return _polygamma_positive(n, x)
    if n > POLYGAMMA_REFLECT_MAX:
        return NAN
    # P_0(c) = c, P_{j+1}(c) = -(1 + c^2) P_j'(c): coefficients by degree
    for i in range(n + 2):
        P[i] = 0.0
    P[1] = 1.0
    for j in range(n):
        for i in range(n + 2):
            Q[i] = 0.0
        for i in range(1, j + 2):  # P_j has degree j + 1
            # -(1 + c^2) * i P[i] c^(i-1)
            Q[i - 1] -= i * P[i]
            Q[i + 1] -= i * P[i]
        for i in range(n + 2):
            P[i] = Q[i]
    c = _pi_cot_pi(x) / _PI
    pk = 0.0
    for i in range(n + 1, -1, -1):
        pk = pk * c + P[i]
    value = _polygamma_positive(n, 1.0 - x)
    if n % 2 == 1:
        value = -value
    return value - pow(_PI, n + 1.0) * pk


cdef inline double _gammaln(double x) noexcept nogil:
    """``log|Gamma(x)|`` (the C library's lgamma); ``-inf`` at ``-inf``, as SciPy."""
    if x == -INFINITY:
        return -INFINITY
    return lgamma(x)
