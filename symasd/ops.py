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

The classification is what makes patterns exact: ``sign``, ``floor`` and
comparisons forward no index set, linear ops add no Hessian entries and
``x * y`` adds only the cross pair.

Leaves are ``CONST`` (value in ``const``), ``VAR`` (input index in ``const``)
and ``PARAM`` (parameter index in ``const``: traced, never differentiated).
``POWC`` is ``x ** c`` with the exponent ``c`` stored in ``const``; ``WHERE``
is the only ternary op (``where(cond, a, b)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

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
    # ternary
    WHERE = 80


N_CODES = 96

# A partial-derivative rule receives the graph builder ``b``, the argument id
# arrays, the output id array and the constant payload array, and returns one
# id array per argument (``None`` where the derivative is identically zero).
PartialsRule = Callable[..., list]


@dataclass(frozen=True, slots=True)
class Op:
    """One row of the op table (see the module docstring)."""

    code: Code
    name: str
    arity: int
    numpy: Callable[..., np.ndarray] | None
    partials: PartialsRule | None
    d1: tuple[bool, ...] = ()
    d2: tuple[bool, ...] = ()
    cross: tuple[bool, ...] = ()

    @property
    def is_leaf(self) -> bool:
        return self.arity == 0


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


def _p_add(b, x, y, out, c):
    return [b.const_like(x, 1.0), b.const_like(y, 1.0)]


def _p_sub(b, x, y, out, c):
    return [b.const_like(x, 1.0), b.const_like(y, -1.0)]


def _p_mul(b, x, y, out, c):
    return [y, x]


def _p_div(b, x, y, out, c):
    return [b.unary(Code.RECIPROCAL, y), b.unary(Code.NEG, b.binary(Code.DIV, out, y))]


def _p_pow(b, x, y, out, c):
    dx = b.binary(Code.MUL, y, b.binary(Code.POW, x, b.binary(Code.SUB, y, b.const_like(y, 1.0))))
    dy = b.binary(Code.MUL, out, b.unary(Code.LOG, x))
    return [dx, dy]


def _p_arctan2(b, y, x, out, c):
    r2 = b.binary(Code.ADD, b.unary(Code.SQUARE, x), b.unary(Code.SQUARE, y))
    return [b.binary(Code.DIV, x, r2), b.unary(Code.NEG, b.binary(Code.DIV, y, r2))]


def _p_hypot(b, x, y, out, c):
    return [b.binary(Code.DIV, x, out), b.binary(Code.DIV, y, out)]


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


def _p_zero2(b, x, y, out, c):
    return [None, None]


def _p_where(b, cond, x, y, out, c):
    one = b.const_like(x, 1.0)
    zero = b.const_like(x, 0.0)
    return [None, b.where(cond, one, zero), b.where(cond, zero, one)]


def _np_sign(x):
    return np.sign(x)


def _np_where(c, a, b):
    return np.where(c != 0, a, b)


_T, _F = True, False

_ROWS: list[Op] = [
    Op(Code.CONST, "const", 0, None, None),
    Op(Code.VAR, "var", 0, None, None),
    Op(Code.PARAM, "param", 0, None, None),
    # unary: d1 = (first derivative nonzero,), d2 = (second derivative nonzero,)
    Op(Code.NEG, "negative", 1, np.negative, _p_neg, (_T,), (_F,)),
    Op(Code.ABS, "absolute", 1, np.abs, _p_abs, (_T,), (_F,)),
    Op(Code.SIGN, "sign", 1, _np_sign, _p_zero1, (_F,), (_F,)),
    Op(Code.SQRT, "sqrt", 1, np.sqrt, _p_sqrt, (_T,), (_T,)),
    Op(Code.CBRT, "cbrt", 1, np.cbrt, _p_cbrt, (_T,), (_T,)),
    Op(Code.EXP, "exp", 1, np.exp, _p_exp, (_T,), (_T,)),
    Op(Code.EXPM1, "expm1", 1, np.expm1, _p_expm1, (_T,), (_T,)),
    Op(Code.LOG, "log", 1, np.log, _p_log, (_T,), (_T,)),
    Op(Code.LOG1P, "log1p", 1, np.log1p, _p_log1p, (_T,), (_T,)),
    Op(Code.LOG2, "log2", 1, np.log2, _p_logk(2.0), (_T,), (_T,)),
    Op(Code.LOG10, "log10", 1, np.log10, _p_logk(10.0), (_T,), (_T,)),
    Op(Code.SIN, "sin", 1, np.sin, _p_sin, (_T,), (_T,)),
    Op(Code.COS, "cos", 1, np.cos, _p_cos, (_T,), (_T,)),
    Op(Code.TAN, "tan", 1, np.tan, _p_tan, (_T,), (_T,)),
    Op(Code.ARCSIN, "arcsin", 1, np.arcsin, _p_arcsin, (_T,), (_T,)),
    Op(Code.ARCCOS, "arccos", 1, np.arccos, _p_arccos, (_T,), (_T,)),
    Op(Code.ARCTAN, "arctan", 1, np.arctan, _p_arctan, (_T,), (_T,)),
    Op(Code.SINH, "sinh", 1, np.sinh, _p_sinh, (_T,), (_T,)),
    Op(Code.COSH, "cosh", 1, np.cosh, _p_cosh, (_T,), (_T,)),
    Op(Code.TANH, "tanh", 1, np.tanh, _p_tanh, (_T,), (_T,)),
    Op(Code.ARCSINH, "arcsinh", 1, np.arcsinh, _p_arcsinh, (_T,), (_T,)),
    Op(Code.ARCCOSH, "arccosh", 1, np.arccosh, _p_arccosh, (_T,), (_T,)),
    Op(Code.ARCTANH, "arctanh", 1, np.arctanh, _p_arctanh, (_T,), (_T,)),
    Op(Code.SQUARE, "square", 1, np.square, _p_square, (_T,), (_T,)),
    Op(Code.RECIPROCAL, "reciprocal", 1, np.reciprocal, _p_reciprocal, (_T,), (_T,)),
    Op(Code.FLOOR, "floor", 1, np.floor, _p_zero1, (_F,), (_F,)),
    Op(Code.CEIL, "ceil", 1, np.ceil, _p_zero1, (_F,), (_F,)),
    Op(Code.ROUND, "rint", 1, np.rint, _p_zero1, (_F,), (_F,)),
    Op(Code.POWC, "power_const", 1, _powc, _p_powc, (_T,), (_T,)),
    Op(Code.NOT, "logical_not", 1, _bool(np.logical_not), _p_zero1, (_F,), (_F,)),
    # binary: cross = (cross derivative nonzero,)
    Op(Code.ADD, "add", 2, np.add, _p_add, (_T, _T), (_F, _F), (_F,)),
    Op(Code.SUB, "subtract", 2, np.subtract, _p_sub, (_T, _T), (_F, _F), (_F,)),
    Op(Code.MUL, "multiply", 2, np.multiply, _p_mul, (_T, _T), (_F, _F), (_T,)),
    Op(Code.DIV, "divide", 2, np.divide, _p_div, (_T, _T), (_F, _T), (_T,)),
    Op(Code.POW, "power", 2, np.power, _p_pow, (_T, _T), (_T, _T), (_T,)),
    Op(Code.ARCTAN2, "arctan2", 2, np.arctan2, _p_arctan2, (_T, _T), (_T, _T), (_T,)),
    Op(Code.HYPOT, "hypot", 2, np.hypot, _p_hypot, (_T, _T), (_T, _T), (_T,)),
    Op(Code.MAX, "maximum", 2, np.maximum, _p_max, (_T, _T), (_F, _F), (_F,)),
    Op(Code.MIN, "minimum", 2, np.minimum, _p_min, (_T, _T), (_F, _F), (_F,)),
    Op(Code.LT, "less", 2, _bool(np.less), _p_zero2, (_F, _F), (_F, _F), (_F,)),
    Op(Code.LE, "less_equal", 2, _bool(np.less_equal), _p_zero2, (_F, _F), (_F, _F), (_F,)),
    Op(Code.GT, "greater", 2, _bool(np.greater), _p_zero2, (_F, _F), (_F, _F), (_F,)),
    Op(Code.GE, "greater_equal", 2, _bool(np.greater_equal), _p_zero2, (_F, _F), (_F, _F), (_F,)),
    Op(Code.EQ, "equal", 2, _bool(np.equal), _p_zero2, (_F, _F), (_F, _F), (_F,)),
    Op(Code.NE, "not_equal", 2, _bool(np.not_equal), _p_zero2, (_F, _F), (_F, _F), (_F,)),
    Op(Code.AND, "logical_and", 2, _bool(np.logical_and), _p_zero2, (_F, _F), (_F, _F), (_F,)),
    Op(Code.OR, "logical_or", 2, _bool(np.logical_or), _p_zero2, (_F, _F), (_F, _F), (_F,)),
    Op(Code.XOR, "logical_xor", 2, _bool(np.logical_xor), _p_zero2, (_F, _F), (_F, _F), (_F,)),
    # ternary: cross pairs are (cond, a), (cond, b), (a, b)
    Op(Code.WHERE, "where", 3, _np_where, _p_where, (_F, _T, _T), (_F, _F, _F), (_F, _F, _F)),
]

OPS: dict[Code, Op] = {row.code: row for row in _ROWS}
_BY_NAME: dict[str, Op] = {row.name: row for row in _ROWS}

#: Opcodes whose value is 0.0 or 1.0 (a comparison or logical result).
BOOLEAN_CODES = frozenset(
    {Code.LT, Code.LE, Code.GT, Code.GE, Code.EQ, Code.NE, Code.AND, Code.OR, Code.XOR, Code.NOT}
)
#: Binary opcodes that are symmetric in their two arguments (canonical order a <= b).
COMMUTATIVE_CODES = frozenset(
    {Code.ADD, Code.MUL, Code.MAX, Code.MIN, Code.EQ, Code.NE, Code.AND, Code.OR, Code.XOR,
     Code.HYPOT}
)


def op_by_name(name: str) -> Op:
    """Look up an op by its NumPy-style name (``"sin"``, ``"multiply"``, ...)."""
    return _BY_NAME[name]


def classification_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dense lookup tables for the Cython kernels.

    Returns ``(arity, d1, d2, cross)``: ``arity[code]``; ``d1[code, i]`` and
    ``d2[code, i]`` are 1 where the first / second derivative with respect to
    argument ``i`` may be nonzero; ``cross[code, p]`` is 1 where the cross
    derivative of the argument pair ``p`` (``(0, 1), (0, 2), (1, 2)``) may be
    nonzero. All are ``uint8`` arrays with one row per possible opcode.
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
