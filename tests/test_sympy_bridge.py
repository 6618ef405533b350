"""from_sympy / to_sympy: values and patterns against SymPy's own derivatives."""

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

import symasd
from symasd import InputError, TracingError

X = sympy.symbols("x0:4")


@st.composite
def expressions(draw, depth=3):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(X))
    kind = draw(st.sampled_from(["add", "mul", "pow", "sin", "exp", "log", "sqrt", "div",
                                 "atan", "tanh"]))
    a = draw(expressions(depth=depth - 1))
    c = sympy.Rational(draw(st.integers(2, 9)), 7)
    if kind in ("add", "mul", "div"):
        b = draw(expressions(depth=depth - 1))
        if kind == "add":
            return a + c * b
        if kind == "mul":
            return c * a * b
        return a / (2 + b**2)
    return {"pow": lambda: a ** draw(st.integers(2, 3)), "sin": lambda: sympy.sin(c * a),
            "exp": lambda: sympy.exp(c * a / 3), "log": lambda: sympy.log(1 + a**2),
            "sqrt": lambda: sympy.sqrt(2 + a**2), "atan": lambda: sympy.atan(a),
            "tanh": lambda: sympy.tanh(a)}[kind]()


def _nonzero(expr):
    return expr != 0


@given(st.lists(expressions(), min_size=1, max_size=3))
def test_jacobian_pattern_equals_sympy(exprs):
    g = symasd.from_sympy(exprs, X)
    J = symasd.jacobian_sparsity(g).toarray()
    expected = np.array([[_nonzero(sympy.diff(e, s)) for s in X] for e in exprs])
    assert np.array_equal(J, expected)


@given(expressions())
def test_hessian_pattern_equals_sympy(expr):
    g = symasd.from_sympy([expr], X)
    H = symasd.hessian_sparsity(g).toarray()
    expected = np.array([[_nonzero(sympy.diff(expr, a, b)) for b in X] for a in X])
    assert np.array_equal(H, expected)


@given(st.lists(expressions(), min_size=1, max_size=3))
def test_values_and_round_trip(exprs):
    g = symasd.from_sympy(exprs, X)
    x = np.array([0.3, -0.7, 1.1, 0.4])
    expected = np.array([float(e.subs(dict(zip(X, x, strict=True)))) for e in exprs])
    np.testing.assert_allclose(g(x), expected, rtol=1e-12)
    back = g.to_sympy(X)
    again = np.array([float(e.subs(dict(zip(X, x, strict=True)))) for e in back])
    np.testing.assert_allclose(again, expected, rtol=1e-12)


def test_shared_subexpressions_become_one_node():
    x, y = X[:2]
    s = sympy.sin(x * y)
    g = symasd.from_sympy([s + 1, s * 2, s**2], [x, y])
    assert int(np.sum(g.op == symasd.ops.Code.SIN)) == 1


def test_traced_graph_to_sympy():
    g = symasd.trace(lambda x: np.array([x[0] * np.exp(x[1]), np.where(x[0] > 0, x[1], 0.0)]),
                     np.ones(2))
    e = g.to_sympy()
    x0, x1 = sympy.symbols("x0 x1")
    assert sympy.simplify(e[0] - x0 * sympy.exp(x1)) == 0
    assert e[1].subs({x0: 2.0, x1: 3.0}) == 3.0 and e[1].subs({x0: -2.0, x1: 3.0}) == 0


def test_piecewise_and_functions():
    x, y = X[:2]
    pw = sympy.Piecewise((x**2, x > 0), (y, True))
    g = symasd.from_sympy([pw, sympy.Max(x, y), sympy.Abs(x), sympy.atan2(x, y)], [x, y])
    np.testing.assert_allclose(g(np.array([2.0, 3.0])), [4.0, 3.0, 2.0, np.arctan2(2, 3)])
    np.testing.assert_allclose(g(np.array([-2.0, 3.0]))[:3], [3.0, 3.0, 2.0])


def test_parameters():
    x, p = sympy.symbols("x p")
    g = symasd.from_sympy([p * x**2], [x], params=[p])
    assert g(np.array([3.0]), np.array([2.0]))[0] == 18.0
    assert symasd.jacobian_sparsity(g).nnz == 1


def test_errors():
    x, y = X[:2]
    with pytest.raises(InputError, match="not among"):
        symasd.from_sympy([x + y], [x])
    with pytest.raises(TracingError, match="not supported"):
        symasd.from_sympy([sympy.gamma(x)], [x])
    with pytest.raises(InputError, match="Symbol"):
        symasd.from_sympy([x], [x + 1])
    with pytest.raises(InputError, match="distinct"):
        symasd.from_sympy([x], [x, x])


def test_round_trip_of_sinc():
    """to_sympy writes np.sinc(u) as SymPy's unnormalized sinc(pi u); from_sympy
    reads sinc(w) back as SINC(w / pi), so the round trip gives the same graph."""
    f = lambda v: np.sinc(v[0] * v[1]) + np.sinc(v[1])  # noqa: E731
    g = symasd.trace(f, np.ones(2))
    syms = sympy.symbols("x0:2")
    back = symasd.from_sympy(g.to_sympy(syms), syms)
    assert back.to_sympy(syms) == g.to_sympy(syms)
    assert sorted(back.op.tolist()) == sorted(g.op.tolist())
    x = np.array([0.3, -1.7])
    assert back(x).tolist() == [g(x).item()]
    # SymPy's own sinc(x) = sin(x) / x
    t = sympy.Symbol("t")
    np.testing.assert_allclose(symasd.from_sympy(sympy.sinc(t), [t])(np.array([2.0])),
                               [np.sin(2.0) / 2.0], rtol=1e-15)


def test_round_trip_of_logaddexp():
    """SymPy has no logaddexp of its own outside codegen: to_sympy writes
    log(exp(x) + exp(y)), which reads back as that formula (equal values where
    exp does not overflow); the codegen node is read as the op."""
    g = symasd.trace(lambda v: np.logaddexp(v[0], 2.0 * v[1]), np.ones(2))
    syms = sympy.symbols("x0:2")
    back = symasd.from_sympy(g.to_sympy(syms), syms)
    assert back.to_sympy(syms) == g.to_sympy(syms)
    x = np.array([0.3, -1.7])
    np.testing.assert_allclose(back(x), [g(x).item()], rtol=1e-15)


def test_nan_and_infinities_are_float_constants():
    a = sympy.Symbol("a")
    g = symasd.from_sympy([sympy.nan + a, sympy.Max(a, -sympy.oo), sympy.Min(a, sympy.oo)], [a])
    np.testing.assert_array_equal(g(np.array([2.0])), [np.nan, 2.0, 2.0])
