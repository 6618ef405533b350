"""Every interpreter of a graph has a rule for every op a graph can hold.

The C rules (``cysrc/_op_rules.pxi``) are read from the source: each switch
must have a case for exactly the ops that need it. The Python rules are the
op table's own fields (``symasd/ops.py``), read by tracing, the SymPy bridge
and the symbolic sweeps; a missing one is an error naming the op and the pass.
"""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.special
import sympy
from op_cases import op_nodes

import symasd
from symasd import compiler
from symasd.errors import MissingRuleError
from symasd.graph import Builder
from symasd.ops import OPS, Code
from symasd.sympy_bridge import graph_to_sympy
from symasd.tracing import _FUNCTIONS, _UFUNCS

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "cysrc" / "_op_rules.pxi"
NON_LEAF = [row for row in OPS.values() if row.arity > 0]
needs_source = pytest.mark.skipif(not RULES.exists(),
                                  reason="needs the source tree (cysrc/) next to the tests")


def _c_cases(function: str) -> set[str]:
    """The ``OP_<NAME>`` cases of the C function ``function`` in _op_rules.pxi."""
    text = RULES.read_text()
    start = re.search(rf"^cdef inline \w+ {function}\(", text, re.M)
    assert start, f"{function} not found in {RULES}"
    end = re.search(r"\n\S", text[start.end():])  # the next top-level statement
    body = text[start.end(): start.end() + end.start() if end else len(text)]
    return set(re.findall(r"\bOP_(\w+)\b", body))


@needs_source
def test_c_value_rule_covers_every_op():
    assert _c_cases("apply_op") == {row.code.name for row in NON_LEAF}


@needs_source
def test_c_first_partials_cover_exactly_the_differentiable_ops():
    """A case for each op with a first derivative that may be nonzero, and none for
    the others (their partials are the switch's default 0)."""
    needed = {row.code.name for row in NON_LEAF if any(row.d1)}
    assert _c_cases("first_partials") == needed


@needs_source
def test_c_second_partials_cover_exactly_the_curved_ops():
    needed = {row.code.name for row in NON_LEAF if any(row.d2) or any(row.cross)}
    assert _c_cases("second_partials") == needed


@needs_source
def test_c_selections_are_the_ops_with_a_select_rule():
    """The numeric sweeps skip a selection's untaken branch (``_is_selection``); the
    symbolic sweeps select by ``Op.select``: the same ops."""
    assert _c_cases("_is_selection") == {row.code.name for row in NON_LEAF if row.select}


def test_every_op_has_symbolic_partials_and_a_sympy_form():
    for row in NON_LEAF:
        assert callable(row.rule("partials", "symbolic sweep")), row.name
        if row.code != Code.POWC:  # its exponent is the node's constant: the bridge's
            assert callable(row.rule("sympy", "to_sympy")), row.name


# ops traced by a rule of tracing.py's own (not a single ufunc), by an example
_TRACED_BY_RULE = {
    Code.POWC: lambda x, y: x**2.5,
    Code.POW: lambda x, y: x**y,
    Code.AND: lambda x, y: np.logical_and(x, y),
    Code.OR: lambda x, y: np.logical_or(x, y),
    Code.XOR: lambda x, y: np.logical_xor(x, y),
    Code.NOT: lambda x, y: np.logical_not(x),
    Code.WHERE: lambda x, y: np.where(x > 0, x, y),
    Code.POLYGAMMA: lambda x, y: scipy.special.psi(x) + scipy.special.polygamma(2, y),  # noqa
}


# ops no NumPy code traces to: the symbolic sweeps build them, by an example
_BUILT_BY_THE_COMPILER = {
    Code.MULZ: lambda x: np.sum(np.where(x > 0, np.sqrt(x), 0.0) * x),
}


def _traced_codes(f) -> set[int]:
    g = symasd.trace(lambda v: f(v[0], v[1]), np.array([0.5, 0.25]))
    return set(g.op.tolist())


@pytest.mark.parametrize("row", NON_LEAF, ids=lambda r: r.name)
def test_tracing_produces_every_op(row):
    if row.code in _BUILT_BY_THE_COMPILER:
        hes = symasd.hessian(_BUILT_BY_THE_COMPILER[row.code], np.ones(3))
        assert int(row.code) in hes.derivative_graph.op.tolist()
        return
    assert row.traced or row.code in _TRACED_BY_RULE, f"{row.name} cannot be traced"
    for ufunc in row.traced:
        assert ufunc in _UFUNCS or ufunc in _FUNCTIONS
        example = (lambda x, y, u=ufunc: u(x)) if row.arity == 1 else ufunc
        assert int(row.code) in _traced_codes(example), (row.name, ufunc.__name__)
    if row.code in _TRACED_BY_RULE:
        assert int(row.code) in _traced_codes(_TRACED_BY_RULE[row.code])


@pytest.mark.parametrize("row", [r for r in NON_LEAF if r.from_sympy], ids=lambda r: r.name)
def test_from_sympy_reads_each_head_as_its_op(row):
    x, y = sympy.symbols("x y")
    for head in row.from_sympy:
        expr = head(*[x, y][: row.arity])
        g = symasd.from_sympy([expr], [x, y])
        assert int(row.code) in g.op.tolist(), (row.name, head)
    # and its own SymPy form reads back as the op (the round trip), but for
    # logaddexp, written as log(exp(x) + exp(y)) for SymPy's algebra
    if row.code != Code.LOGADDEXP:
        g = symasd.from_sympy([row.sympy(*[x, y][: row.arity])], [x, y])
        assert int(row.code) in g.op.tolist(), (row.name, "to_sympy")


@pytest.mark.parametrize("row", [r for r in NON_LEAF if r.code != Code.POWC],
                         ids=lambda r: r.name)
def test_to_sympy_agrees_with_the_vm(row):
    """Each op's SymPy form, evaluated by SymPy, gives the graph's value."""
    point = np.array([1.3 if row.code == Code.ARCCOSH else 0.7, 0.4, 1.3])
    b = Builder()
    x = b.variables(point)
    out = op_nodes(b, row.code, [x[i: i + 1] for i in range(row.arity)])
    g = b.finish(out, (3,), (1,))
    symbols = sympy.symbols("x0:3")
    (expr,) = graph_to_sympy(g, symbols)
    if row.code == Code.ROUND:  # SymPy has no rint: an undefined function of that name
        assert expr == sympy.Function("rint")(symbols[0])
        return
    value = float(expr.subs(dict(zip(symbols, point, strict=True))).evalf())
    np.testing.assert_allclose(value, g(point)[0], rtol=1e-13)


def test_a_missing_rule_names_the_op_and_the_pass(monkeypatch):
    sin = OPS[Code.SIN]
    monkeypatch.setitem(compiler._ROW, int(Code.SIN), dataclasses.replace(sin, partials=None))
    g = symasd.trace(lambda v: np.sum(np.sin(v) * v), np.ones(3))
    with pytest.raises(MissingRuleError, match="op sin has no symbolic sweep rule"):
        compiler.gradient_graph(g)
    with pytest.raises(MissingRuleError, match="op power_const has no to_sympy rule"):
        OPS[Code.POWC].rule("sympy", "to_sympy")


@pytest.mark.parametrize("row", [r for r in NON_LEAF if any(r.d1)], ids=lambda r: r.name)
def test_ops_with_infinite_partials_at_finite_arguments_are_singular(row):
    """An op whose partials are infinite or NaN at some finite arguments where its
    value is finite must be in SINGULAR_CODES (the symbolic sweeps multiply its
    partials with the strong zero there, as the tape does)."""
    from symasd.ops import SINGULAR_CODES

    finite = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 2.5])
    grid = np.meshgrid(*[finite] * row.arity, indexing="ij")
    pts = np.stack([v.ravel() for v in grid])
    if row.code == Code.WHERE:
        pts[0] = pts[0] != 0
    b = Builder()
    x = b.variables(pts.ravel()).reshape(pts.shape)
    out = op_nodes(b, row.code, x)
    c = np.full(pts.shape[1], {Code.POWC: 2.5, Code.POLYGAMMA: 1.0}.get(row.code, 0.0))
    parts = [p for p in row.partials(b, *x, out, c) if p is not None]
    g = b.finish(np.concatenate([out] + parts), pts.shape, (1 + len(parts), pts.shape[1]))
    with np.errstate(all="ignore"):
        vals = g(pts)
    bad = np.isfinite(vals[0]) & ~np.isfinite(vals[1:]).all(axis=0)
    if bad.any():
        assert row.code in SINGULAR_CODES, (row.name, pts[:, bad][:, :3].T.tolist())
