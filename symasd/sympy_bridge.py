"""Conversion between SymPy expressions and symasd graphs.

``from_sympy`` walks each SymPy expression once (shared subexpressions are
converted once and hash-consed), mapping SymPy's n-ary ``Add``/``Mul`` to
balanced trees of binary nodes. :func:`graph_to_sympy` goes the other way, node
by node, and is meant for small graphs (inspection, tests, printing); it is
registered here as ``Graph.to_sympy``, so that :mod:`symasd.graph` need not
import this module (which imports it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy

from .errors import InputError, TracingError
from .graph import Builder, Graph
from .ops import Code

__all__ = ["from_sympy", "graph_to_sympy"]

_I = np.int64

_UNARY = {
    sympy.sin: Code.SIN, sympy.cos: Code.COS, sympy.tan: Code.TAN,
    sympy.asin: Code.ARCSIN, sympy.acos: Code.ARCCOS, sympy.atan: Code.ARCTAN,
    sympy.sinh: Code.SINH, sympy.cosh: Code.COSH, sympy.tanh: Code.TANH,
    sympy.asinh: Code.ARCSINH, sympy.acosh: Code.ARCCOSH, sympy.atanh: Code.ARCTANH,
    sympy.exp: Code.EXP, sympy.Abs: Code.ABS, sympy.sign: Code.SIGN,
    sympy.floor: Code.FLOOR, sympy.ceiling: Code.CEIL,
}
_BINARY = {sympy.atan2: Code.ARCTAN2, sympy.Max: Code.MAX, sympy.Min: Code.MIN}
_RELATIONAL = {sympy.StrictLessThan: Code.LT, sympy.LessThan: Code.LE,
               sympy.StrictGreaterThan: Code.GT, sympy.GreaterThan: Code.GE,
               sympy.Eq: Code.EQ, sympy.Ne: Code.NE}


class _SympyToGraph:
    def __init__(self, builder: Builder, leaves: dict):
        self.b = builder
        self.memo: dict = dict(leaves)

    def __call__(self, expr) -> int:
        node = self.memo.get(expr)
        if node is None:
            node = self._convert(expr)
            self.memo[expr] = node
        return node

    def _one(self, code: Code, *args: int) -> int:
        ids = [np.array([a], dtype=_I) for a in args]
        if len(ids) == 1:
            return int(self.b.unary(code, ids[0])[0])
        return int(self.b.binary(code, *ids)[0])

    def _tree(self, code: Code, args) -> int:
        ids = np.array([self(a) for a in args], dtype=_I)
        return int(self.b.reduce_segments(code, ids, np.array([0, ids.size], dtype=_I))[0])

    def _convert(self, e) -> int:
        if e.is_Number or e in (sympy.pi, sympy.E):
            if not e.is_real:
                raise TracingError(f"complex constant {e} is not supported")
            return int(self.b.const(np.array([float(e)]))[0])
        if e.is_Symbol:
            raise InputError(f"symbol {e} is not among the symbols passed to from_sympy")
        if e.is_Add:
            return self._tree(Code.ADD, e.args)
        if e.is_Mul:
            return self._tree(Code.MUL, e.args)
        if e.is_Pow:
            base, expo = e.args
            if expo.is_Number:
                return int(self.b.powc(np.array([self(base)], dtype=_I), float(expo))[0])
            if base == sympy.E:
                return self._one(Code.EXP, self(expo))
            return self._one(Code.POW, self(base), self(expo))
        func = e.func
        if func is sympy.log:
            if len(e.args) == 2:
                return self._one(Code.DIV, self._one(Code.LOG, self(e.args[0])),
                                 self._one(Code.LOG, self(e.args[1])))
            return self._one(Code.LOG, self(e.args[0]))
        if func in _UNARY:
            return self._one(_UNARY[func], self(e.args[0]))
        if func in _BINARY:
            return self._tree(_BINARY[func], e.args)
        if func in _RELATIONAL:
            return self._one(_RELATIONAL[func], self(e.args[0]), self(e.args[1]))
        if func is sympy.Piecewise:
            return self._piecewise(e.args)
        raise TracingError(f"SymPy function {func.__name__} is not supported by from_sympy")

    def _piecewise(self, pairs) -> int:
        value, cond = pairs[-1]
        if cond != sympy.true:
            raise TracingError("a Piecewise without a final `True` branch is undefined for "
                               "some inputs; add (value, True)")
        result = self(value)
        for value, cond in reversed(pairs[:-1]):
            ids = [np.array([v], dtype=_I) for v in (self(cond), self(value), result)]
            result = int(self.b.where(*ids)[0])
        return result


def _flat_symbols(symbols) -> list:
    if isinstance(symbols, sympy.Symbol):
        return [symbols]
    flat = list(sympy.flatten(symbols)) if not isinstance(symbols, sympy.MatrixBase) \
        else list(symbols)
    for s in flat:
        if not isinstance(s, sympy.Symbol):
            raise InputError(f"from_sympy: {s!r} is not a SymPy Symbol")
    if len(set(flat)) != len(flat):
        raise InputError("from_sympy: the symbols must be distinct")
    return flat


def from_sympy(exprs, symbols, params=()) -> Graph:
    """Convert SymPy expressions of ``symbols`` into a :class:`~symasd.Graph`.

    ``exprs`` is an expression, a list or a SymPy matrix (flattened in row-major
    order); ``symbols`` the inputs, in order. Optional ``params`` are symbols
    traced as parameters (inputs that are not differentiated).

    Example
    -------
    >>> import numpy as np, sympy, symasd
    >>> x, y = sympy.symbols("x y")
    >>> g = symasd.from_sympy([x * y + sympy.sin(x), y**2], [x, y])
    >>> g(np.array([1.0, 2.0])).round(4).tolist()
    [2.8415, 4.0]
    """
    if isinstance(exprs, sympy.MatrixBase):
        exprs = list(exprs)
    elif isinstance(exprs, sympy.Basic):
        exprs = [exprs]
    exprs = [sympy.sympify(e) for e in exprs]
    syms = _flat_symbols(symbols)
    psyms = _flat_symbols(params) if len(params) else []
    builder = Builder()
    leaves = dict(zip(syms, builder.variables(np.zeros(len(syms))).tolist(), strict=True))
    if psyms:
        leaves.update(zip(psyms, builder.parameters(np.zeros(len(psyms))).tolist(),
                          strict=True))
    convert = _SympyToGraph(builder, leaves)
    outputs = np.array([convert(e) for e in exprs], dtype=_I)
    param_shapes = [(len(psyms),)] if psyms else []
    return builder.finish(outputs, (len(syms),), (len(exprs),), param_shapes)


_TO_SYMPY_UNARY = {code: func for func, code in _UNARY.items()}
_TO_SYMPY_UNARY.update({
    Code.NEG: lambda a: -a, Code.SQRT: sympy.sqrt, Code.CBRT: sympy.cbrt,
    Code.EXPM1: lambda a: sympy.exp(a) - 1, Code.LOG: sympy.log,
    Code.LOG1P: lambda a: sympy.log(1 + a), Code.LOG2: lambda a: sympy.log(a, 2),
    Code.LOG10: lambda a: sympy.log(a, 10), Code.SQUARE: lambda a: a**2,
    Code.RECIPROCAL: lambda a: 1 / a, Code.ROUND: lambda a: sympy.Function("rint")(a),
    Code.NOT: lambda a: sympy.Piecewise((1, sympy.Eq(a, 0)), (0, True)),
})


def _rel(cls):
    return lambda a, b: sympy.Piecewise((1, cls(a, b)), (0, True))


_TO_SYMPY_BINARY = {
    Code.ADD: lambda a, b: a + b, Code.SUB: lambda a, b: a - b, Code.MUL: lambda a, b: a * b,
    Code.DIV: lambda a, b: a / b, Code.POW: lambda a, b: a**b, Code.ARCTAN2: sympy.atan2,
    Code.HYPOT: lambda a, b: sympy.sqrt(a**2 + b**2), Code.MAX: sympy.Max,
    Code.MIN: sympy.Min,
    Code.LT: _rel(sympy.StrictLessThan), Code.LE: _rel(sympy.LessThan),
    Code.GT: _rel(sympy.StrictGreaterThan), Code.GE: _rel(sympy.GreaterThan),
    Code.EQ: _rel(sympy.Eq), Code.NE: _rel(sympy.Ne),
    Code.AND: lambda a, b: sympy.Piecewise((1, sympy.And(sympy.Ne(a, 0), sympy.Ne(b, 0))),
                                           (0, True)),
    Code.OR: lambda a, b: sympy.Piecewise((1, sympy.Or(sympy.Ne(a, 0), sympy.Ne(b, 0))),
                                          (0, True)),
    Code.XOR: lambda a, b: sympy.Piecewise((1, sympy.Xor(sympy.Ne(a, 0), sympy.Ne(b, 0))),
                                           (0, True)),
}


def graph_to_sympy(g: Graph, symbols: Sequence | None = None) -> list:
    """The outputs of ``g`` as a list of SymPy expressions (node by node; for small
    graphs). ``symbols`` defaults to ``x0, x1, ...`` (parameters are ``p0, p1, ...``).

    Registered as ``Graph.to_sympy``: ``g.to_sympy()`` is ``graph_to_sympy(g)``.

    Example
    -------
    >>> import numpy as np, symasd
    >>> symasd.trace(lambda x: x[0] * np.sin(x[1]), np.ones(2)).to_sympy()
    [x0*sin(x1)]
    """
    if symbols is None:
        symbols = sympy.symbols(f"x0:{g.n_inputs}") if g.n_inputs else []
    symbols = list(symbols)
    if len(symbols) != g.n_inputs:
        raise InputError(f"to_sympy needs {g.n_inputs} symbols, got {len(symbols)}")
    params = sympy.symbols(f"p0:{g.n_params}") if g.n_params else []
    exprs: list = [None] * g.n_nodes
    for k in range(g.n_nodes):
        code = Code(int(g.op[k]))
        c = float(g.const[k])
        if code == Code.CONST:
            e = sympy.Integer(int(c)) if c.is_integer() else sympy.Float(c)
        elif code == Code.VAR:
            e = symbols[int(c)]
        elif code == Code.PARAM:
            e = params[int(c)]
        elif code == Code.POWC:
            p = sympy.Integer(int(c)) if c.is_integer() else sympy.Float(c)
            e = exprs[g.arg0[k]] ** p
        elif code == Code.WHERE:
            cond, a, b = (exprs[g.arg0[k]], exprs[g.arg1[k]], exprs[g.arg2[k]])
            e = sympy.Piecewise((a, sympy.Ne(cond, 0)), (b, True))
        elif code in _TO_SYMPY_UNARY:
            e = _TO_SYMPY_UNARY[code](exprs[g.arg0[k]])
        else:
            e = _TO_SYMPY_BINARY[code](exprs[g.arg0[k]], exprs[g.arg1[k]])
        exprs[k] = e
    return [exprs[i] for i in g.outputs]


Graph.to_sympy = graph_to_sympy
