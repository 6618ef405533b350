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
from .ops import OPS, Code

__all__ = ["from_sympy", "graph_to_sympy"]

_I = np.int64

# SymPy function -> op row (``Op.from_sympy`` in ops.py); sums, products,
# powers, logarithms and Piecewise are structural and converted below
_FROM_SYMPY = {head: row for row in OPS.values() for head in row.from_sympy}


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
            # nan, oo and -oo are float64 values too (SymPy does not call them real)
            if not (e.is_real or e.is_extended_real or e is sympy.nan):
                raise TracingError(f"complex constant {e} is not supported: symasd "
                                   "differentiates real functions")
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
        row = _FROM_SYMPY.get(func)
        if row is not None:
            if len(e.args) > row.arity:  # Max, Min: n-ary in SymPy, associative
                return self._tree(row.code, e.args)
            args = e.args if row.from_sympy_args is None else row.from_sympy_args(*e.args)
            return self._one(row.code, *(self(a) for a in args))
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
        else:
            row = OPS[code]
            args = (exprs[g.arg0[k]], exprs[g.arg1[k]], exprs[g.arg2[k]])[: row.arity]
            if row.payload:
                args = (*args, c)
            e = row.rule("sympy", "to_sympy")(*args)
        exprs[k] = e
    return [exprs[i] for i in g.outputs]


Graph.to_sympy = graph_to_sympy
