"""The op table: every scalar operation a graph node can hold.

Each :class:`Op` carries, in one place,

* its opcode (the small integer stored in ``Graph.op``; the Cython kernels in
  ``cysrc/`` switch on the same numbers),
* its arity and its NumPy rule (used for constant folding, local tracing and
  as the reference the Cython virtual machine is tested against),
* its local partial derivatives, written as graph operations so that they can
  be evaluated numerically or appended to a graph symbolically, and
* its derivative classification for sparsity detection: for each argument,
  whether the first derivative is identically zero (``d1``) and whether the
  second derivative is identically zero (``d2``), and for each pair of
  arguments whether the cross derivative is identically zero (``cross``).
* its tracing rule (the NumPy ufuncs traced straight to it) and its SymPy
  forms (to SymPy, and the SymPy functions read back as the op).

Every interpreter of a graph reads its rules from this table: tracing, the
SymPy bridge and the symbolic sweeps (``compiler.py``) by ``OPS``, the
sparsity kernels by :func:`classification_tables`. The numeric rules of the
Cython kernels (value, first and second partials) are the C switches of
``cysrc/_op_rules.pxi``, and the opcode enum ``cysrc/_opcodes.pxi`` (with the
constants those rules share with this table) is generated from :class:`Code` by
``cysrc/make_opcodes.py``; tests check that every table covers every op
(``docs/design.md``, "Adding an op").

The classification is what makes patterns exact: ``sign``, ``floor`` and
comparisons forward no index set, linear ops add no Hessian entries and
``x * y`` adds only the cross pair.

Leaves are ``CONST`` (value in ``const``), ``VAR`` (input index in ``const``)
and ``PARAM`` (parameter index in ``const``: traced, never differentiated).
``POWC`` is ``x ** c`` with the exponent ``c`` stored in ``const``; ``WHERE``
is the only ternary op (``where(cond, a, b)``). ``MULZ`` is a product in which 0
is a *strong zero* (``0 * inf`` and ``0 * nan`` are 0): no NumPy code traces to
it; the symbolic reverse sweep builds it where an adjoint may be the zero of a
branch not taken (see ``Op.select``), and the sweeps over a ``MULZ`` node
multiply with ``MULZ`` again, so that the zero stays strong in its derivatives.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import scipy.special as special
import sympy as sp
from sympy.codegen.numpy_nodes import logaddexp as sp_logaddexp

from .errors import MissingRuleError

__all__ = ["Code", "Op", "OPS", "op_by_name", "classification_tables"]


class Code(IntEnum):
    """Opcodes. The numbers are part of the kernels' ABI (``cysrc/_opcodes.pxi``)."""

    CONST = 0
    VAR = 1
    PARAM = 2
    # unary
    NEG = 10
    ABS = 11
    SIGN = 12
    SQRT = 13
    CBRT = 14
    EXP = 15
    EXPM1 = 16
    LOG = 17
    LOG1P = 18
    LOG2 = 19
    LOG10 = 20
    SIN = 21
    COS = 22
    TAN = 23
    ARCSIN = 24
    ARCCOS = 25
    ARCTAN = 26
    SINH = 27
    COSH = 28
    TANH = 29
    ARCSINH = 30
    ARCCOSH = 31
    ARCTANH = 32
    SQUARE = 33
    RECIPROCAL = 34
    FLOOR = 35
    CEIL = 36
    ROUND = 37
    POWC = 38
    NOT = 39
    SINC = 40
    ISNAN = 41
    ISFINITE = 42
    ERF = 43
    ERFC = 44
    EXPIT = 45
    LOGIT = 46
    GAMMALN = 47
    LOG_NDTR = 48
    POLYGAMMA = 49
    # binary
    ADD = 50
    SUB = 51
    MUL = 52
    DIV = 53
    POW = 54
    ARCTAN2 = 55
    HYPOT = 56
    MAX = 57
    MIN = 58
    LT = 59
    LE = 60
    GT = 61
    GE = 62
    EQ = 63
    NE = 64
    AND = 65
    OR = 66
    XOR = 67
    LOGADDEXP = 68
    MULZ = 69
    XLOGY = 70
    XLOG1PY = 71
    # ternary
    WHERE = 80


N_CODES = 96

# A partial-derivative rule receives the graph builder ``b``, the argument id
# arrays, the output id array and the constant payload array, and returns one
# id array per argument (``None`` where the derivative is identically zero).
PartialsRule = Callable[..., list]
# A selection rule (Op.select) receives the same and returns (cond, i, j, invalid).
SelectRule = Callable[..., tuple]


@dataclass(frozen=True, slots=True)
class Op:
    """One row of the op table (see the module docstring).

    ``traced``: NumPy ufuncs (or elementwise functions NumPy dispatches by
    ``__array_function__``, like ``np.sinc``) that tracing maps straight to
    this op (an op traced by a rule of its own, like ``power``, lists none). ``sympy``: the
    op as a SymPy expression of its arguments' expressions. ``from_sympy``:
    SymPy functions that :func:`symasd.from_sympy` reads as this op;
    ``from_sympy_args`` maps their SymPy arguments to the op's where the two
    differ (SymPy's ``sinc(w)`` is ``np.sinc(w / pi)``), else ``None``.

    ``select``: for a *selection*, an op whose value is one of its arguments
    (``where``, ``maximum``, ``minimum``; the C rules' ``_is_selection``), a
    rule ``(b, *args, out, c) -> (cond, i, j, invalid)``: the value is argument
    ``i`` where ``cond`` is nonzero and argument ``j`` elsewhere, and
    ``invalid`` (``None`` if never) marks where the derivative is NaN. The
    symbolic sweeps take the tangent or adjoint of the argument selected
    instead of multiplying by the 0/1 partials, so that the NaN or infinite
    derivative of a branch not taken never reaches the result (``0 * inf`` is
    NaN), as the numeric sweeps never read that branch.

    ``payload``: the node's ``const`` is an argument of the op, passed last to
    its NumPy and SymPy rules (``POLYGAMMA``'s order ``n``; ``POWC``'s exponent,
    whose SymPy form the bridge writes).
    """

    code: Code
    name: str
    arity: int
    numpy: Callable[..., np.ndarray] | None
    partials: PartialsRule | None
    d1: tuple[bool, ...] = ()
    d2: tuple[bool, ...] = ()
    cross: tuple[bool, ...] = ()
    traced: tuple[np.ufunc, ...] = ()
    sympy: Callable | None = None
    from_sympy: tuple[type, ...] = ()
    from_sympy_args: Callable[..., tuple] | None = None
    select: SelectRule | None = None
    payload: bool = False

    @property
    def is_leaf(self) -> bool:
        return self.arity == 0

    def rule(self, field: str, pass_name: str) -> Callable:
        """This op's rule ``field`` for the pass ``pass_name``, or a
        :class:`~symasd.errors.MissingRuleError` naming both.

        >>> OPS[Code.SIN].rule("sympy", "to_sympy")
        sin
        >>> OPS[Code.POWC].rule("sympy", "to_sympy")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        symasd.errors.MissingRuleError: op power_const has no to_sympy rule (...)
        """
        found = getattr(self, field)
        if found is None:
            raise MissingRuleError(f"op {self.name} has no {pass_name} rule "
                                   f"(Op.{field} in symasd/ops.py)")
        return found


def _bool(f):
    def rule(*args):
        return f(*args).astype(np.float64)

    return rule


def _powc(x, c):
    return np.power(x, c)


# ---------------------------------------------------------------------------
# Partial-derivative rules. ``b`` is a ``symasd.graph.Builder``; every helper
# call appends (hash-consed, simplified) nodes for whole arrays at once.


def _p_neg(b, a, out, c):
    return [b.const_like(a, -1.0)]


def _p_abs(b, a, out, c):
    return [b.unary(Code.SIGN, a)]


def _p_zero1(b, a, out, c):
    return [None]


def _p_sqrt(b, a, out, c):
    return [b.binary(Code.DIV, b.const_like(a, 0.5), out)]


def _p_cbrt(b, a, out, c):
    return [b.binary(Code.DIV, b.const_like(a, 1.0 / 3.0), b.unary(Code.SQUARE, out))]


def _p_exp(b, a, out, c):
    return [out]


def _p_expm1(b, a, out, c):
    return [b.binary(Code.ADD, out, b.const_like(a, 1.0))]


def _p_log(b, a, out, c):
    return [b.unary(Code.RECIPROCAL, a)]


def _p_log1p(b, a, out, c):
    return [b.unary(Code.RECIPROCAL, b.binary(Code.ADD, a, b.const_like(a, 1.0)))]


def _p_logk(base):
    def rule(b, a, out, c):
        return [b.unary(Code.RECIPROCAL, b.binary(Code.MUL, a, b.const_like(a, np.log(base))))]

    return rule


def _p_sin(b, a, out, c):
    return [b.unary(Code.COS, a)]


def _p_cos(b, a, out, c):
    return [b.unary(Code.NEG, b.unary(Code.SIN, a))]


def _p_tan(b, a, out, c):
    return [b.binary(Code.ADD, b.const_like(a, 1.0), b.unary(Code.SQUARE, out))]


def _one_minus_sq(b, a):
    return b.binary(Code.SUB, b.const_like(a, 1.0), b.unary(Code.SQUARE, a))


def _p_arcsin(b, a, out, c):
    return [_inv_sqrt(b, _one_minus_sq(b, a))]


def _p_arccos(b, a, out, c):
    return [b.unary(Code.NEG, _inv_sqrt(b, _one_minus_sq(b, a)))]


def _p_arctan(b, a, out, c):
    sq = b.unary(Code.SQUARE, a)
    return [b.unary(Code.RECIPROCAL, b.binary(Code.ADD, b.const_like(a, 1.0), sq))]


def _p_sinh(b, a, out, c):
    return [b.unary(Code.COSH, a)]


def _p_cosh(b, a, out, c):
    return [b.unary(Code.SINH, a)]


def _p_tanh(b, a, out, c):
    return [_one_minus_sq(b, out)]


def _inv_sqrt(b, a):
    return b.unary(Code.RECIPROCAL, b.unary(Code.SQRT, a))


def _p_arcsinh(b, a, out, c):
    return [_inv_sqrt(b, b.binary(Code.ADD, b.unary(Code.SQUARE, a), b.const_like(a, 1.0)))]


def _p_arccosh(b, a, out, c):
    return [_inv_sqrt(b, b.binary(Code.SUB, b.unary(Code.SQUARE, a), b.const_like(a, 1.0)))]


def _p_arctanh(b, a, out, c):
    return [b.unary(Code.RECIPROCAL, _one_minus_sq(b, a))]


def _p_square(b, a, out, c):
    return [b.binary(Code.MUL, b.const_like(a, 2.0), a)]


def _p_reciprocal(b, a, out, c):
    return [b.unary(Code.NEG, b.unary(Code.SQUARE, out))]


def _p_powc(b, a, out, c):
    return [b.binary(Code.MUL, b.const(c), b.powc(a, c - 1.0))]


# sinc' = pi^2 x P1(u) and sinc'' = pi^2 P2(u), u = (pi x)^2, by their Maclaurin
# series where |x| < SINC_SERIES (the closed forms cancel there), 6 terms: exact
# to rounding there. The C rules read the same numbers: cysrc/make_opcodes.py writes
# them into cysrc/_opcodes.pxi.
SINC_SERIES = 0.1
SINC_D1 = (-1 / 3, 1 / 30, -1 / 840, 1 / 45360, -1 / 3991680, 1 / 518918400)
SINC_D2 = (-1 / 3, 1 / 10, -1 / 168, 1 / 6480, -1 / 443520, 1 / 47174400)


def _horner(b, u, coefs):
    acc = b.const_like(u, coefs[-1])
    for k in coefs[-2::-1]:
        acc = b.binary(Code.ADD, b.binary(Code.MUL, acc, u), b.const_like(u, k))
    return acc


def _p_sinc(b, a, out, c):
    """``(cos(pi x) - sinc(x)) / x``, by the series near 0. The closed form reads
    ``x`` only where it is not small (1 elsewhere): its derivatives, which the
    Hessian differentiates through the ``where``, stay finite at 0."""
    small = b.binary(Code.LT, b.unary(Code.ABS, a), b.const_like(a, SINC_SERIES))
    safe = b.where(small, b.const_like(a, 1.0), a)
    pi = b.const_like(a, np.pi)
    cos = b.unary(Code.COS, b.binary(Code.MUL, pi, safe))
    closed = b.binary(Code.DIV, b.binary(Code.SUB, cos, b.unary(Code.SINC, safe)), safe)
    u = b.unary(Code.SQUARE, b.binary(Code.MUL, pi, a))
    series = b.binary(Code.MUL, b.binary(Code.MUL, b.const_like(a, np.pi**2), a),
                      _horner(b, u, SINC_D1))
    return [b.where(small, series, closed)]


def _p_erf(b, a, out, c):
    return [b.binary(Code.MUL, b.const_like(a, 2.0 / np.sqrt(np.pi)),
                     b.unary(Code.EXP, b.unary(Code.NEG, b.unary(Code.SQUARE, a))))]


def _p_erfc(b, a, out, c):
    return [b.binary(Code.MUL, b.const_like(a, -2.0 / np.sqrt(np.pi)),
                     b.unary(Code.EXP, b.unary(Code.NEG, b.unary(Code.SQUARE, a))))]


def _p_expit(b, a, out, c):
    """``expit(x) expit(-x)``, not ``out (1 - out)``, which cancels for large ``x``."""
    return [b.binary(Code.MUL, out, b.unary(Code.EXPIT, b.unary(Code.NEG, a)))]


def _p_logit(b, a, out, c):
    return [b.unary(Code.RECIPROCAL, b.binary(Code.MUL, a, b.binary(Code.SUB, b.const_like(
        a, 1.0), a)))]


def _p_gammaln(b, a, out, c):
    return [b.unary_payload(Code.POLYGAMMA, a, 0.0)]


def _p_polygamma(b, a, out, c):
    return [b.unary_payload(Code.POLYGAMMA, a, np.asarray(c) + 1.0)]


# log_ndtr(x) = log(Phi(x)) below LOG_NDTR_ASYMPTOTIC by its asymptotic series:
# Phi(x) = phi(x) S(u) / (-x) with u = 1 / x^2 and S(u) = 1 + u Q(u), Q(u) = sum_k
# (-1)^k (2k-1)!! u^(k-1) (k = 1..20; at x = -10 the first term left out is 1e-17
# of S). The partials follow: d/dx log_ndtr = -x / S there and phi / Phi above
# (no cancellation either side); the C rules read the same numbers from
# cysrc/_opcodes.pxi (cysrc/make_opcodes.py writes them).
LOG_NDTR_ASYMPTOTIC = -10.0
LOG_NDTR_Q = tuple(float((-1) ** k * math.prod(range(1, 2 * k, 2))) for k in range(1, 21))
LN_SQRT_2PI = 0.9189385332046728


def _p_log_ndtr(b, a, out, c):
    """``phi(x) / Phi(x) = exp(-x^2 / 2 - log(sqrt(2 pi)) - log_ndtr(x))``, and
    ``-x / S(1 / x^2)`` below ``LOG_NDTR_ASYMPTOTIC``, where the exponent would be
    a difference of two large numbers. Each form reads ``x`` only where it is
    used (a safe constant elsewhere), so its own derivatives stay finite."""
    tail = b.binary(Code.LT, a, b.const_like(a, LOG_NDTR_ASYMPTOTIC))
    xt = b.where(tail, a, b.const_like(a, LOG_NDTR_ASYMPTOTIC))
    u = b.unary(Code.RECIPROCAL, b.unary(Code.SQUARE, xt))
    S = b.binary(Code.ADD, b.const_like(a, 1.0), b.binary(Code.MUL, u, _horner(b, u,
                                                                             LOG_NDTR_Q)))
    asymptotic = b.binary(Code.DIV, b.unary(Code.NEG, xt), S)
    zero = b.const_like(a, 0.0)
    xd = b.where(tail, zero, a)
    vd = b.where(tail, zero, out)
    exponent = b.binary(Code.SUB, b.binary(Code.MUL, b.const_like(a, -0.5),
                                           b.unary(Code.SQUARE, xd)),
                        b.binary(Code.ADD, vd, b.const_like(a, LN_SQRT_2PI)))
    return [b.where(tail, asymptotic, b.unary(Code.EXP, exponent))]


# digamma on [1, 2] by its Taylor series about (the double nearest) its root
# DIGAMMA_CENTER, where the recurrence would cancel: psi(x) = sum_k
# DIGAMMA_SERIES[k] (x - DIGAMMA_CENTER)^k, the coefficients psi^(k)(center) / k!
# computed with mpmath at 60 digits (tests/test_special.py recomputes them); the
# terms fall by about 0.37 over [1, 2], so 43 of them reach rounding. The C rule
# reads them from cysrc/_opcodes.pxi.
DIGAMMA_CENTER = 1.4616321449683622
DIGAMMA_SERIES = (
    -9.241265521729427e-17, 0.9676722454476212, -0.4427631689835922, 0.2584997609556511,
    -0.16394270544240658, 0.10782405069126241, -0.07219956125645474, 0.04880428816414313,
    -0.033161126474847376, 0.022597648232218118, -0.01542476590494897, 0.010538791616612184,
    -0.007204534386356875, 0.004926781395729858, -0.0033698016554393312, 0.00230512632673493,
    -0.001576936771430199, 0.0010788252019162978, -0.000738070938996006, 0.0005049532658346027,
    -0.0003454680251063082, 0.00023635601564027086, -0.00016170622091974827,
    0.00011063372768747428, -7.569179582195078e-05, 5.17857579522209e-05,
    -3.543007094765967e-05, 2.4240066118601362e-05, -1.6584242271854165e-05,
    1.1346384584663872e-05, -7.76281766846211e-06, 5.3110609208898746e-06,
    -3.6336507898010536e-06, 2.4860227331295433e-06, -1.7008538854332646e-06,
    1.163667536354887e-06, -7.96142543124199e-07, 5.446941930669458e-07,
    -3.726616128343832e-07, 2.549626552021561e-07, -1.7443695117727793e-07,
    1.1934394829830275e-07, -8.165115189488431e-08,
)


def _p_add(b, x, y, out, c):
    return [b.const_like(x, 1.0), b.const_like(y, 1.0)]


def _p_sub(b, x, y, out, c):
    return [b.const_like(x, 1.0), b.const_like(y, -1.0)]


def _p_mul(b, x, y, out, c):
    return [y, x]


def _p_div(b, x, y, out, c):
    return [b.unary(Code.RECIPROCAL, y), b.unary(Code.NEG, b.binary(Code.DIV, out, y))]


def _p_pow(b, x, y, out, c):
    # strong zeros (MULZ): x ** 0 and 0 ** y (y > 0) are constant, whatever
    # 0 ** -1 and log(0) are; their own derivatives keep them (MULZ's rule)
    dx = b.binary(Code.MULZ, y,
                  b.binary(Code.POW, x, b.binary(Code.SUB, y, b.const_like(y, 1.0))))
    dy = b.binary(Code.MULZ, out, b.unary(Code.LOG, x))
    return [dx, dy]


def _p_arctan2(b, y, x, out, c):
    r2 = b.binary(Code.ADD, b.unary(Code.SQUARE, x), b.unary(Code.SQUARE, y))
    return [b.binary(Code.DIV, x, r2), b.unary(Code.NEG, b.binary(Code.DIV, y, r2))]


def _p_hypot(b, x, y, out, c):
    return [b.binary(Code.DIV, x, out), b.binary(Code.DIV, y, out)]


def _p_logaddexp(b, x, y, out, c):
    """``p = exp(-logaddexp(0, y - x))`` and ``q = exp(-logaddexp(0, x - y))``
    (``p + q = 1``). Not ``exp(x - out)``: the compiled Hessian differentiates that
    through ``out`` into ``p (1 - p)``, and ``1 - p`` cancels when ``p`` is near 1
    (0 instead of 4e-18 at ``x - y = 40``); this form's derivative is ``p q``.

    At one infinite argument ``p`` and ``q`` are the limits (1 and 0), second
    partials 0. At equal infinities ``y - x`` is NaN; there the difference read is
    0, which gives the limit along ``x = y`` (``p = q = 1/2``), and its derivative
    through the ``where`` is 0: second partials 0 there too (the C rules agree)."""
    zero = b.const_like(x, 0.0)
    d = b.binary(Code.SUB, y, x)
    both_infinite = b.binary(Code.AND, b.binary(Code.EQ, x, y), b.binary(Code.NE, d, d))
    d = b.where(both_infinite, zero, d)
    return [b.unary(Code.EXP, b.unary(Code.NEG, b.binary(Code.LOGADDEXP, zero, d))),
            b.unary(Code.EXP, b.unary(Code.NEG, b.binary(Code.LOGADDEXP, zero,
                                                         b.unary(Code.NEG, d))))]


def _p_xlogy(b, x, y, out, c):
    return [b.unary(Code.LOG, y), b.binary(Code.DIV, x, y)]


def _p_xlog1py(b, x, y, out, c):
    return [b.unary(Code.LOG1P, y), b.binary(Code.DIV, x, b.binary(Code.ADD, b.const_like(
        y, 1.0), y))]


def _nan_where_nan(b, out, partials):
    """``partials`` with NaN where ``out`` is NaN: a maximum or minimum of a NaN has
    NaN partials (``np.maximum`` propagates NaN, so ``out != out`` tests both
    arguments), as in the numeric sweeps, rather than the 0 a comparison gives."""
    isnan = b.binary(Code.NE, out, out)
    nan = b.const_like(out, np.nan)
    return [b.where(isnan, nan, d) for d in partials]


def _p_max(b, x, y, out, c):
    return _nan_where_nan(b, out, [b.binary(Code.GE, x, y), b.binary(Code.LT, x, y)])


def _p_min(b, x, y, out, c):
    return _nan_where_nan(b, out, [b.binary(Code.LE, x, y), b.binary(Code.GT, x, y)])


def _s_max(b, x, y, out, c):
    return b.binary(Code.GE, x, y), 0, 1, b.binary(Code.NE, out, out)


def _s_min(b, x, y, out, c):
    return b.binary(Code.LE, x, y), 0, 1, b.binary(Code.NE, out, out)


def _p_zero2(b, x, y, out, c):
    return [None, None]


def _p_where(b, cond, x, y, out, c):
    one = b.const_like(x, 1.0)
    zero = b.const_like(x, 0.0)
    return [None, b.where(cond, one, zero), b.where(cond, zero, one)]


def _s_where(b, cond, x, y, out, c):
    return cond, 1, 2, None


def _polygamma(x, n):
    return special.polygamma(np.asarray(n, dtype=np.int64), x)


def _np_sign(x):
    return np.sign(x)


def _np_mulz(a, b):
    """``a * b``, but 0 where either factor is 0, even if the other is infinite or NaN:
    ``np.where((a == 0) | (b == 0), 0.0, a * b)``."""
    with np.errstate(invalid="ignore"):
        return np.where((a == 0) | (b == 0), 0.0, np.multiply(a, b))


def _np_where(c, a, b):
    return np.where(c != 0, a, b)


def _sympy_rel(relation):
    return lambda a, b: sp.Piecewise((1, relation(a, b)), (0, True))


def _sympy_logical(junction):
    return lambda a, b: sp.Piecewise((1, junction(sp.Ne(a, 0), sp.Ne(b, 0))),
                                        (0, True))


_T, _F = True, False

# Each row: code, name, arity, NumPy rule, partials, d1, d2, cross; then the
# NumPy ufuncs traced straight to the op, its SymPy form and the SymPy heads
# read back as the op (see Op).
_ROWS: list[Op] = [
    Op(Code.CONST, "const", 0, None, None),
    Op(Code.VAR, "var", 0, None, None),
    Op(Code.PARAM, "param", 0, None, None),
    # unary: d1 = (first derivative nonzero,), d2 = (second derivative nonzero,)
    Op(Code.NEG, "negative", 1, np.negative, _p_neg, (_T,), (_F,),
       traced=(np.negative,), sympy=lambda a: -a),
    Op(Code.ABS, "absolute", 1, np.abs, _p_abs, (_T,), (_F,),
       traced=(np.absolute, np.fabs), sympy=sp.Abs, from_sympy=(sp.Abs,)),
    Op(Code.SIGN, "sign", 1, _np_sign, _p_zero1, (_F,), (_F,),
       traced=(np.sign,), sympy=sp.sign, from_sympy=(sp.sign,)),
    Op(Code.SQRT, "sqrt", 1, np.sqrt, _p_sqrt, (_T,), (_T,),
       traced=(np.sqrt,), sympy=sp.sqrt),
    Op(Code.CBRT, "cbrt", 1, np.cbrt, _p_cbrt, (_T,), (_T,),
       traced=(np.cbrt,), sympy=sp.cbrt),
    Op(Code.EXP, "exp", 1, np.exp, _p_exp, (_T,), (_T,),
       traced=(np.exp,), sympy=sp.exp, from_sympy=(sp.exp,)),
    Op(Code.EXPM1, "expm1", 1, np.expm1, _p_expm1, (_T,), (_T,),
       traced=(np.expm1,), sympy=lambda a: sp.exp(a) - 1),
    Op(Code.LOG, "log", 1, np.log, _p_log, (_T,), (_T,),
       traced=(np.log,), sympy=sp.log),
    Op(Code.LOG1P, "log1p", 1, np.log1p, _p_log1p, (_T,), (_T,),
       traced=(np.log1p,), sympy=lambda a: sp.log(1 + a)),
    Op(Code.LOG2, "log2", 1, np.log2, _p_logk(2.0), (_T,), (_T,),
       traced=(np.log2,), sympy=lambda a: sp.log(a, 2)),
    Op(Code.LOG10, "log10", 1, np.log10, _p_logk(10.0), (_T,), (_T,),
       traced=(np.log10,), sympy=lambda a: sp.log(a, 10)),
    Op(Code.SIN, "sin", 1, np.sin, _p_sin, (_T,), (_T,),
       traced=(np.sin,), sympy=sp.sin, from_sympy=(sp.sin,)),
    Op(Code.COS, "cos", 1, np.cos, _p_cos, (_T,), (_T,),
       traced=(np.cos,), sympy=sp.cos, from_sympy=(sp.cos,)),
    Op(Code.TAN, "tan", 1, np.tan, _p_tan, (_T,), (_T,),
       traced=(np.tan,), sympy=sp.tan, from_sympy=(sp.tan,)),
    Op(Code.ARCSIN, "arcsin", 1, np.arcsin, _p_arcsin, (_T,), (_T,),
       traced=(np.arcsin,), sympy=sp.asin, from_sympy=(sp.asin,)),
    Op(Code.ARCCOS, "arccos", 1, np.arccos, _p_arccos, (_T,), (_T,),
       traced=(np.arccos,), sympy=sp.acos, from_sympy=(sp.acos,)),
    Op(Code.ARCTAN, "arctan", 1, np.arctan, _p_arctan, (_T,), (_T,),
       traced=(np.arctan,), sympy=sp.atan, from_sympy=(sp.atan,)),
    Op(Code.SINH, "sinh", 1, np.sinh, _p_sinh, (_T,), (_T,),
       traced=(np.sinh,), sympy=sp.sinh, from_sympy=(sp.sinh,)),
    Op(Code.COSH, "cosh", 1, np.cosh, _p_cosh, (_T,), (_T,),
       traced=(np.cosh,), sympy=sp.cosh, from_sympy=(sp.cosh,)),
    Op(Code.TANH, "tanh", 1, np.tanh, _p_tanh, (_T,), (_T,),
       traced=(np.tanh,), sympy=sp.tanh, from_sympy=(sp.tanh,)),
    Op(Code.ARCSINH, "arcsinh", 1, np.arcsinh, _p_arcsinh, (_T,), (_T,),
       traced=(np.arcsinh,), sympy=sp.asinh, from_sympy=(sp.asinh,)),
    Op(Code.ARCCOSH, "arccosh", 1, np.arccosh, _p_arccosh, (_T,), (_T,),
       traced=(np.arccosh,), sympy=sp.acosh, from_sympy=(sp.acosh,)),
    Op(Code.ARCTANH, "arctanh", 1, np.arctanh, _p_arctanh, (_T,), (_T,),
       traced=(np.arctanh,), sympy=sp.atanh, from_sympy=(sp.atanh,)),
    Op(Code.SQUARE, "square", 1, np.square, _p_square, (_T,), (_T,),
       traced=(np.square,), sympy=lambda a: a**2),
    Op(Code.RECIPROCAL, "reciprocal", 1, np.reciprocal, _p_reciprocal, (_T,), (_T,),
       traced=(np.reciprocal,), sympy=lambda a: 1 / a),
    Op(Code.FLOOR, "floor", 1, np.floor, _p_zero1, (_F,), (_F,),
       traced=(np.floor,), sympy=sp.floor, from_sympy=(sp.floor,)),
    Op(Code.CEIL, "ceil", 1, np.ceil, _p_zero1, (_F,), (_F,),
       traced=(np.ceil,), sympy=sp.ceiling, from_sympy=(sp.ceiling,)),
    Op(Code.ROUND, "rint", 1, np.rint, _p_zero1, (_F,), (_F,),
       traced=(np.rint,), sympy=sp.Function("rint")),
    # traced from np.power with a constant exponent; its SymPy form needs that
    # exponent (the node's constant), so the bridge writes it
    Op(Code.POWC, "power_const", 1, _powc, _p_powc, (_T,), (_T,), payload=True),
    Op(Code.SINC, "sinc", 1, np.sinc, _p_sinc, (_T,), (_T,),
       traced=(np.sinc,), sympy=lambda a: sp.sinc(sp.pi * a), from_sympy=(sp.sinc,),
       from_sympy_args=lambda w: (w / sp.pi,)),
    Op(Code.ISNAN, "isnan", 1, _bool(np.isnan), _p_zero1, (_F,), (_F,),
       traced=(np.isnan,), sympy=lambda a: sp.Piecewise((1, sp.Eq(a, sp.nan)), (0, True))),
    Op(Code.ISFINITE, "isfinite", 1, _bool(np.isfinite), _p_zero1, (_F,), (_F,),
       traced=(np.isfinite,), sympy=lambda a: sp.Piecewise((1, sp.Abs(a) < sp.oo), (0, True))),
    # scipy.special ufuncs (the NumPy rules are SciPy's, a runtime dependency)
    Op(Code.ERF, "erf", 1, special.erf, _p_erf, (_T,), (_T,),
       traced=(special.erf,), sympy=sp.erf, from_sympy=(sp.erf,)),
    Op(Code.ERFC, "erfc", 1, special.erfc, _p_erfc, (_T,), (_T,),
       traced=(special.erfc,), sympy=sp.erfc, from_sympy=(sp.erfc,)),
    Op(Code.EXPIT, "expit", 1, special.expit, _p_expit, (_T,), (_T,),
       traced=(special.expit,), sympy=lambda a: 1 / (1 + sp.exp(-a))),
    Op(Code.LOGIT, "logit", 1, special.logit, _p_logit, (_T,), (_T,),
       traced=(special.logit,), sympy=lambda a: sp.log(a / (1 - a))),
    Op(Code.GAMMALN, "gammaln", 1, special.gammaln, _p_gammaln, (_T,), (_T,),
       traced=(special.gammaln,), sympy=lambda a: sp.log(sp.Abs(sp.gamma(a)))),
    Op(Code.LOG_NDTR, "log_ndtr", 1, special.log_ndtr, _p_log_ndtr, (_T,), (_T,),
       traced=(special.log_ndtr,),
       sympy=lambda a: sp.log((1 + sp.erf(a / sp.sqrt(2))) / 2)),
    # polygamma(n, x) with the order n in the node's constant (digamma: n = 0);
    # traced from scipy.special.psi/digamma and polygamma by tracing.py's rules
    Op(Code.POLYGAMMA, "polygamma", 1, _polygamma, _p_polygamma, (_T,), (_T,),
       sympy=lambda a, n: sp.polygamma(int(n), a), payload=True),
    Op(Code.NOT, "logical_not", 1, _bool(np.logical_not), _p_zero1, (_F,), (_F,),
       sympy=lambda a: sp.Piecewise((1, sp.Eq(a, 0)), (0, True))),
    # binary: cross = (cross derivative nonzero,)
    Op(Code.ADD, "add", 2, np.add, _p_add, (_T, _T), (_F, _F), (_F,),
       traced=(np.add,), sympy=lambda a, b: a + b),
    Op(Code.SUB, "subtract", 2, np.subtract, _p_sub, (_T, _T), (_F, _F), (_F,),
       traced=(np.subtract,), sympy=lambda a, b: a - b),
    Op(Code.MUL, "multiply", 2, np.multiply, _p_mul, (_T, _T), (_F, _F), (_T,),
       traced=(np.multiply,), sympy=lambda a, b: a * b),
    Op(Code.DIV, "divide", 2, np.divide, _p_div, (_T, _T), (_F, _T), (_T,),
       traced=(np.divide,), sympy=lambda a, b: a / b),
    Op(Code.POW, "power", 2, np.power, _p_pow, (_T, _T), (_T, _T), (_T,),
       sympy=lambda a, b: a**b),
    Op(Code.ARCTAN2, "arctan2", 2, np.arctan2, _p_arctan2, (_T, _T), (_T, _T), (_T,),
       traced=(np.arctan2,), sympy=sp.atan2, from_sympy=(sp.atan2,)),
    Op(Code.HYPOT, "hypot", 2, np.hypot, _p_hypot, (_T, _T), (_T, _T), (_T,),
       traced=(np.hypot,), sympy=lambda a, b: sp.sqrt(a**2 + b**2)),
    Op(Code.MAX, "maximum", 2, np.maximum, _p_max, (_T, _T), (_F, _F), (_F,),
       traced=(np.maximum,), sympy=sp.Max, from_sympy=(sp.Max,), select=_s_max),
    Op(Code.MIN, "minimum", 2, np.minimum, _p_min, (_T, _T), (_F, _F), (_F,),
       traced=(np.minimum,), sympy=sp.Min, from_sympy=(sp.Min,), select=_s_min),
    Op(Code.LT, "less", 2, _bool(np.less), _p_zero2, (_F, _F), (_F, _F), (_F,),
       traced=(np.less,), sympy=_sympy_rel(sp.StrictLessThan),
       from_sympy=(sp.StrictLessThan,)),
    Op(Code.LE, "less_equal", 2, _bool(np.less_equal), _p_zero2, (_F, _F), (_F, _F), (_F,),
       traced=(np.less_equal,), sympy=_sympy_rel(sp.LessThan), from_sympy=(sp.LessThan,)),
    Op(Code.GT, "greater", 2, _bool(np.greater), _p_zero2, (_F, _F), (_F, _F), (_F,),
       traced=(np.greater,), sympy=_sympy_rel(sp.StrictGreaterThan),
       from_sympy=(sp.StrictGreaterThan,)),
    Op(Code.GE, "greater_equal", 2, _bool(np.greater_equal), _p_zero2, (_F, _F), (_F, _F),
       (_F,), traced=(np.greater_equal,), sympy=_sympy_rel(sp.GreaterThan),
       from_sympy=(sp.GreaterThan,)),
    Op(Code.EQ, "equal", 2, _bool(np.equal), _p_zero2, (_F, _F), (_F, _F), (_F,),
       traced=(np.equal,), sympy=_sympy_rel(sp.Eq), from_sympy=(sp.Eq,)),
    Op(Code.NE, "not_equal", 2, _bool(np.not_equal), _p_zero2, (_F, _F), (_F, _F), (_F,),
       traced=(np.not_equal,), sympy=_sympy_rel(sp.Ne), from_sympy=(sp.Ne,)),
    Op(Code.LOGADDEXP, "logaddexp", 2, np.logaddexp, _p_logaddexp, (_T, _T), (_T, _T), (_T,),
       traced=(np.logaddexp,), sympy=lambda a, b: sp.log(sp.exp(a) + sp.exp(b)),
       from_sympy=(sp_logaddexp,)),
    Op(Code.XLOGY, "xlogy", 2, special.xlogy, _p_xlogy, (_T, _T), (_F, _T), (_T,),
       traced=(special.xlogy,), sympy=lambda a, b: sp.Piecewise((0, sp.Eq(a, 0)),
                                                                (a * sp.log(b), True))),
    Op(Code.XLOG1PY, "xlog1py", 2, special.xlog1py, _p_xlog1py, (_T, _T), (_F, _T), (_T,),
       traced=(special.xlog1py,), sympy=lambda a, b: sp.Piecewise((0, sp.Eq(a, 0)),
                                                                  (a * sp.log(1 + b), True))),
    # built by the compiler only (never traced): the product of a partial and an
    # adjoint in a branch that a selection may not take (compiler._guard)
    Op(Code.MULZ, "multiply_strong_zero", 2, _np_mulz, _p_mul, (_T, _T), (_F, _F), (_T,),
       sympy=lambda a, b: sp.Piecewise((0, sp.Eq(a, 0) | sp.Eq(b, 0)), (a * b, True))),
    # the logical ops are traced by tracing.py's rules (truth of a float argument first)
    Op(Code.AND, "logical_and", 2, _bool(np.logical_and), _p_zero2, (_F, _F), (_F, _F),
       (_F,), sympy=_sympy_logical(sp.And)),
    Op(Code.OR, "logical_or", 2, _bool(np.logical_or), _p_zero2, (_F, _F), (_F, _F), (_F,),
       sympy=_sympy_logical(sp.Or)),
    Op(Code.XOR, "logical_xor", 2, _bool(np.logical_xor), _p_zero2, (_F, _F), (_F, _F),
       (_F,), sympy=_sympy_logical(sp.Xor)),
    # ternary: cross pairs are (cond, a), (cond, b), (a, b)
    Op(Code.WHERE, "where", 3, _np_where, _p_where, (_F, _T, _T), (_F, _F, _F), (_F, _F, _F),
       sympy=lambda cond, a, b: sp.Piecewise((a, sp.Ne(cond, 0)), (b, True)),
       select=_s_where),
]

OPS: dict[Code, Op] = {row.code: row for row in _ROWS}
_BY_NAME: dict[str, Op] = {row.name: row for row in _ROWS}

#: Opcodes whose value is 0.0 or 1.0 (a comparison or logical result).
BOOLEAN_CODES = frozenset(
    {Code.LT, Code.LE, Code.GT, Code.GE, Code.EQ, Code.NE, Code.AND, Code.OR, Code.XOR, Code.NOT,
     Code.ISNAN, Code.ISFINITE}
)
#: Ops whose partials may be infinite or NaN at finite arguments (a pole or a branch
#: point: sqrt and log at 0, a division by 0, arcsin at 1, hypot and arctan2 at the
#: origin, x ** c with c < 2 at 0). The symbolic sweeps multiply their partials
#: with the strong-zero product (``MULZ``), so that a zero tangent or adjoint keeps
#: them out (``sqrt(x @ x)`` at ``x = 0``), as the numeric sweeps do.
SINGULAR_CODES = frozenset(
    {Code.SQRT, Code.CBRT, Code.LOG, Code.LOG1P, Code.LOG2, Code.LOG10, Code.TAN,
     Code.ARCSIN, Code.ARCCOS, Code.ARCCOSH, Code.ARCTANH, Code.RECIPROCAL, Code.POWC,
     Code.DIV, Code.POW, Code.ARCTAN2, Code.HYPOT, Code.LOGIT, Code.GAMMALN, Code.POLYGAMMA,
     Code.XLOGY, Code.XLOG1PY}
)
#: Ops whose node constant is an argument (``Op.payload``): ``POWC``, ``POLYGAMMA``.
PAYLOAD_CODES = frozenset(row.code for row in _ROWS if row.payload)
#: Binary opcodes that are symmetric in their two arguments (canonical order a <= b).
COMMUTATIVE_CODES = frozenset(
    {Code.ADD, Code.MUL, Code.MAX, Code.MIN, Code.EQ, Code.NE, Code.AND, Code.OR, Code.XOR,
     Code.HYPOT, Code.LOGADDEXP, Code.MULZ}
)


def op_by_name(name: str) -> Op:
    """Look up an op by its NumPy-style name (``"sin"``, ``"multiply"``, ...).

    >>> op_by_name("multiply").code, op_by_name("multiply").arity
    (<Code.MUL: 52>, 2)
    """
    return _BY_NAME[name]


def classification_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dense lookup tables for the Cython kernels.

    Returns ``(arity, d1, d2, cross)``: ``arity[code]``; ``d1[code, i]`` and
    ``d2[code, i]`` are 1 where the first / second derivative with respect to
    argument ``i`` may be nonzero; ``cross[code, p]`` is 1 where the cross
    derivative of the argument pair ``p`` (``(0, 1), (0, 2), (1, 2)``) may be
    nonzero. All are ``uint8`` arrays with one row per possible opcode.

    >>> arity, d1, d2, cross = classification_tables()
    >>> int(arity[Code.MUL]), d1[Code.MUL].tolist(), d2[Code.MUL].tolist(), int(cross[Code.MUL, 0])
    (2, [1, 1, 0], [0, 0, 0], 1)
    """
    arity = np.zeros(N_CODES, dtype=np.uint8)
    d1 = np.zeros((N_CODES, 3), dtype=np.uint8)
    d2 = np.zeros((N_CODES, 3), dtype=np.uint8)
    cross = np.zeros((N_CODES, 3), dtype=np.uint8)
    for row in _ROWS:
        arity[row.code] = row.arity
        d1[row.code, : len(row.d1)] = row.d1
        d2[row.code, : len(row.d2)] = row.d2
        cross[row.code, : len(row.cross)] = row.cross
    return arity, d1, d2, cross
