"""Numeric compressed sweeps (forward, reverse, forward-over-reverse) against
complex-step references: every op, random programs, NaN inputs, errors."""

import numpy as np
import pytest
import scipy.special as special
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from op_cases import PAYLOAD, op_nodes, payload_array
from programs import COMPLEX_STEP, programs, run, run_scalar
from reference import assert_same_values, complex_step_hessian, complex_step_jacobian

import symasd
from symasd import InputError, _sweeps, _vm, sweeps
from symasd.evaluation import segments
from symasd.graph import Builder
from symasd.ops import OPS, Code
from symasd.sweeps import forward_numeric, hvp_numeric, reverse_numeric

NON_LEAF = [row for row in OPS.values() if row.arity > 0]

# input domains on which each op is smooth (tests/test_ops.py's DOMAIN, plus
# POWC and DIV); other ops draw from +-[0.3, 2], away from kinks and poles
DOMAIN = {
    Code.SQRT: (0.2, 3), Code.LOG: (0.2, 3), Code.LOG2: (0.2, 3), Code.LOG10: (0.2, 3),
    Code.LOG1P: (-0.5, 3), Code.ARCSIN: (-0.9, 0.9), Code.ARCCOS: (-0.9, 0.9),
    Code.ARCTANH: (-0.9, 0.9), Code.ARCCOSH: (1.2, 3), Code.RECIPROCAL: (0.3, 3),
    Code.TAN: (-1.2, 1.2), Code.POW: (0.3, 2), Code.POWC: (0.2, 3), Code.DIV: (0.3, 2),
    Code.GAMMALN: (0.3, 4), Code.POLYGAMMA: (0.3, 4), Code.LOGIT: (0.05, 0.95),
    Code.XLOGY: (0.3, 2), Code.XLOG1PY: (0.3, 2),
}
POWC_EXPONENT = PAYLOAD[Code.POWC]


def _re(z):
    return np.real(z)


def _f(v):
    return np.asarray(v, dtype=float)


def _logaddexp(a, b):
    m = np.maximum(_re(a), _re(b))  # a constant shift: no derivative changes
    return m + np.log(np.exp(a - m) + np.exp(b - m))


def _atan2(y, x):
    turn = np.where(_re(x) < 0, np.where(_re(y) >= 0, np.pi, -np.pi), 0.0)
    return np.arctan(y / x) + turn


def _polygamma_cs(z):
    """SciPy has no complex polygamma: its first-order complex step, from SciPy's
    polygamma of the next order (exact for the complex step's tiny imaginary part)."""
    n = PAYLOAD[Code.POLYGAMMA]
    return special.polygamma(n, _re(z)) + 1j * np.imag(z) * special.polygamma(n + 1, _re(z))


# complex-step-safe versions of every op (exact derivatives through the imaginary part)
CS_RULE = {
    Code.NEG: np.negative, Code.ABS: lambda z: np.where(_re(z) < 0, -z, z),
    Code.SIGN: lambda z: np.sign(_re(z)), Code.SQRT: np.sqrt,
    Code.CBRT: lambda z: np.where(_re(z) < 0, -((-z + 0j) ** (1 / 3)), (z + 0j) ** (1 / 3)),
    Code.EXP: np.exp, Code.EXPM1: np.expm1, Code.LOG: np.log, Code.LOG1P: np.log1p,
    Code.LOG2: np.log2, Code.LOG10: np.log10, Code.SIN: np.sin, Code.COS: np.cos,
    Code.TAN: np.tan, Code.ARCSIN: np.arcsin, Code.ARCCOS: np.arccos, Code.ARCTAN: np.arctan,
    Code.SINH: np.sinh, Code.COSH: np.cosh, Code.TANH: np.tanh, Code.ARCSINH: np.arcsinh,
    Code.ARCCOSH: np.arccosh, Code.ARCTANH: np.arctanh, Code.SQUARE: np.square,
    Code.RECIPROCAL: np.reciprocal, Code.FLOOR: lambda z: np.floor(_re(z)),
    Code.CEIL: lambda z: np.ceil(_re(z)), Code.ROUND: lambda z: np.rint(_re(z)),
    Code.POWC: lambda z: z ** POWC_EXPONENT, Code.NOT: lambda z: _f(_re(z) == 0),
    Code.SINC: lambda z: np.sin(np.pi * z) / (np.pi * z),
    Code.ADD: np.add, Code.SUB: np.subtract, Code.MUL: np.multiply, Code.DIV: np.divide,
    Code.POW: np.power, Code.ARCTAN2: _atan2, Code.HYPOT: lambda a, b: np.sqrt(a * a + b * b),
    Code.MAX: lambda a, b: np.where(_re(a) >= _re(b), a, b),
    Code.MIN: lambda a, b: np.where(_re(a) <= _re(b), a, b),
    Code.LT: lambda a, b: _f(_re(a) < _re(b)), Code.LE: lambda a, b: _f(_re(a) <= _re(b)),
    Code.GT: lambda a, b: _f(_re(a) > _re(b)), Code.GE: lambda a, b: _f(_re(a) >= _re(b)),
    Code.EQ: lambda a, b: _f(_re(a) == _re(b)), Code.NE: lambda a, b: _f(_re(a) != _re(b)),
    Code.AND: lambda a, b: _f((_re(a) != 0) & (_re(b) != 0)),
    Code.OR: lambda a, b: _f((_re(a) != 0) | (_re(b) != 0)),
    Code.XOR: lambda a, b: _f((_re(a) != 0) ^ (_re(b) != 0)),
    Code.LOGADDEXP: _logaddexp,
    Code.MULZ: lambda a, b: np.where((_re(a) == 0) | (_re(b) == 0), 0.0, a * b),
    Code.ISNAN: lambda z: _f(np.isnan(_re(z))), Code.ISFINITE: lambda z: _f(np.isfinite(_re(z))),
    Code.ERF: special.erf, Code.ERFC: special.erfc,  # SciPy's complex erf and erfc
    Code.EXPIT: lambda z: 1 / (1 + np.exp(-z)), Code.LOGIT: lambda z: np.log(z / (1 - z)),
    Code.GAMMALN: special.loggamma,  # log Gamma: log|Gamma| for positive arguments
    Code.LOG_NDTR: special.log_ndtr,  # SciPy's complex log_ndtr
    Code.POLYGAMMA: _polygamma_cs,
    Code.XLOGY: lambda a, b: a * np.log(b), Code.XLOG1PY: lambda a, b: a * np.log1p(b),
    Code.WHERE: lambda c, a, b: np.where(_re(c) != 0, a, b),
}


def test_every_op_has_a_complex_step_rule():
    assert set(CS_RULE) == {row.code for row in NON_LEAF}


def _points(code, arity, n, rng):
    if code in DOMAIN:
        pts = rng.uniform(*DOMAIN[code], size=(arity, n))
    else:
        pts = rng.choice([-1.0, 1.0], (arity, n)) * rng.uniform(0.3, 2.0, (arity, n))
    if code == Code.WHERE:
        pts[0] = np.arange(n) % 2
    if code in (Code.EQ, Code.NE, Code.AND, Code.OR, Code.XOR, Code.NOT):
        pts[:, ::3] = 0.0  # exercise both outcomes
        pts[-1, 1::4] = pts[0, 1::4]
    return pts


def _op_nodes(b, code, x):
    return op_nodes(b, code, x)


def _op_graph(code, pts, weights=None):
    """Graph of ``code`` applied elementwise to rows of ``pts``; with ``weights``,
    the scalar ``sum(weights * op(...))``."""
    b = Builder()
    x = b.variables(pts.ravel()).reshape(pts.shape)
    out = _op_nodes(b, code, x)
    if weights is None:
        return b.finish(out, pts.shape, out.shape)
    terms = b.binary(Code.MUL, out, b.const(weights))
    total = b.reduce_segments(Code.ADD, terms, np.array([0, terms.size]))
    return b.finish(total, pts.shape, ())


def _scale_tol(ref, rel):
    return rel * (1.0 + np.abs(ref).max(initial=0.0))


@pytest.mark.parametrize("row", NON_LEAF, ids=lambda r: r.name)
def test_op_jacobian_forward_and_reverse(row):
    rng = np.random.default_rng(int(row.code))
    n = 7
    pts = _points(row.code, row.arity, n, rng)
    g = _op_graph(row.code, pts)
    rule = CS_RULE[row.code]
    J = complex_step_jacobian(lambda z: rule(*z), pts)
    N = row.arity * n
    y, B = forward_numeric(g, pts, (), np.eye(N))
    np.testing.assert_allclose(y, g(pts), rtol=1e-15, atol=0)
    np.testing.assert_allclose(B, J, rtol=1e-10, atol=1e-13)
    y2, Br = reverse_numeric(g, pts, (), np.eye(n))
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_allclose(Br, J, rtol=1e-10, atol=1e-13)
    S = rng.standard_normal((N, 3))
    np.testing.assert_allclose(forward_numeric(g, pts, (), S)[1], J @ S, rtol=1e-10,
                               atol=_scale_tol(J, 1e-13) * 10)
    W = rng.standard_normal((n, 2))
    np.testing.assert_allclose(reverse_numeric(g, pts, (), W)[1], W.T @ J, rtol=1e-10,
                               atol=_scale_tol(J, 1e-13) * 10)
    if not any(row.d1):
        assert not B.any() and not Br.any()


@pytest.mark.parametrize("row", NON_LEAF, ids=lambda r: r.name)
def test_op_hessian_vector_products(row):
    rng = np.random.default_rng(1000 + int(row.code))
    n = 4
    pts = _points(row.code, row.arity, n, rng)
    w = rng.uniform(0.5, 1.5, n)
    g = _op_graph(row.code, pts, w)
    rule = CS_RULE[row.code]

    def f(z):
        return np.array([np.sum(w * rule(*z))])

    N = row.arity * n
    value, grad, HV = hvp_numeric(g, pts, (), np.eye(N))
    np.testing.assert_allclose(value, g(pts), rtol=1e-15)
    np.testing.assert_allclose(value, f(pts)[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad, complex_step_jacobian(f, pts)[0], rtol=1e-10, atol=1e-13)
    H = complex_step_hessian(lambda z: f(z)[0], pts)
    np.testing.assert_allclose(HV, H, rtol=1e-5, atol=_scale_tol(H, 1e-6))
    np.testing.assert_allclose(HV, HV.T, rtol=1e-12, atol=1e-14)
    V = rng.standard_normal((N, 2))
    np.testing.assert_allclose(hvp_numeric(g, pts, (), V)[2], HV @ V, rtol=1e-10,
                               atol=_scale_tol(HV, 1e-13) * 10)


@pytest.mark.parametrize("row", [r for r in NON_LEAF if any(r.d1)], ids=lambda r: r.name)
def test_first_partials_match_op_table_rules_at_special_values(row):
    """The sweeps' C partials against the op table's partial rules (run on the VM),
    including zeros, infinities and NaN."""
    special = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 2.5, np.inf, -np.inf, np.nan])
    grid = np.meshgrid(*[special] * row.arity, indexing="ij")
    pts = np.stack([v.ravel() for v in grid])
    n = pts.shape[1]
    b = Builder()
    x = b.variables(pts.ravel()).reshape(pts.shape)
    out = _op_nodes(b, row.code, x)
    c = payload_array(row.code, n)
    parts = row.partials(b, *x, out, c)
    parts = [p if p is not None else b.const_like(out, 0.0) for p in parts]
    rules = b.finish(np.concatenate(parts), pts.shape, (row.arity, n))
    g = b.finish(out, pts.shape, out.shape)
    with np.errstate(all="ignore"):
        expected = rules(pts)
    _, B = forward_numeric(g, pts, (), np.eye(row.arity * n))
    got = np.stack([np.diagonal(B[:, i * n:(i + 1) * n]) for i in range(row.arity)])
    if row.code in (Code.MAX, Code.MIN):
        # documented choice: at a NaN argument the partials are NaN, not 0
        nan = np.isnan(pts).any(axis=0)
        assert np.isnan(got[:, nan]).all()
        got, expected = got[:, ~nan], expected[:, ~nan]
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("exponent,lo,hi", [(3.0, -2.0, 2.0), (-1.5, 0.3, 2.0),
                                            (0.5, 0.3, 2.0), (4.0, -1.5, 1.5)])
def test_powc_exponents(exponent, lo, hi):
    rng = np.random.default_rng(7)
    pts = rng.uniform(lo, hi, (1, 5))
    b = Builder()
    x = b.variables(pts.ravel())
    total = b.reduce_segments(Code.ADD, b.powc(x, exponent), np.array([0, 5]))
    g = b.finish(total, pts.shape, ())

    def f(z):
        return np.array([np.sum(z ** exponent)])

    value, grad, HV = hvp_numeric(g, pts, (), np.eye(5))
    np.testing.assert_allclose(grad, complex_step_jacobian(f, pts)[0], rtol=1e-12)
    np.testing.assert_allclose(np.diag(HV), exponent * (exponent - 1) * pts[0] ** (exponent - 2),
                               rtol=1e-12)
    assert not (HV - np.diag(np.diag(HV))).any()


# ---------------------------------------------------------------------------
# random programs


def _program_point(n, seed=0):
    return np.random.default_rng(seed + 17 * n).uniform(-0.9, 0.9, n)


@settings(max_examples=50)
@given(prog=programs(max_steps=6))
def test_programs_jacobian(prog):
    _check_program_jacobian(prog)


@settings(max_examples=50)
@given(prog=programs(max_steps=6, selections=False))
def test_programs_jacobian_smooth(prog):
    _check_program_jacobian(prog)


def _check_program_jacobian(prog):
    n = prog[0]
    g = symasd.trace(lambda x: run(prog, x), np.zeros(n))
    x = _program_point(n)
    with np.errstate(all="ignore"):
        J = complex_step_jacobian(lambda z: run(prog, z, COMPLEX_STEP), x)
        yref = run(prog, x)
    assume(np.isfinite(J).all() and np.isfinite(yref).all())
    m = J.shape[0]
    atol = _scale_tol(J, 1e-12)
    y, B = forward_numeric(g, x, (), np.eye(n))
    np.testing.assert_allclose(y, yref, rtol=1e-12, atol=_scale_tol(yref, 1e-13))
    np.testing.assert_allclose(B, J, rtol=1e-9, atol=atol)
    y2, Br = reverse_numeric(g, x, (), np.eye(m))
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_allclose(Br, J, rtol=1e-9, atol=atol)
    rng = np.random.default_rng(n)
    S = rng.standard_normal((n, 3))
    np.testing.assert_allclose(forward_numeric(g, x, (), S)[1], J @ S, rtol=1e-9,
                               atol=10 * atol)
    W = rng.standard_normal((m, 2))
    np.testing.assert_allclose(reverse_numeric(g, x, (), W)[1], W.T @ J, rtol=1e-9,
                               atol=10 * atol)


@settings(max_examples=40)
@given(prog=programs(max_steps=5, n_max=5))
def test_programs_hessian(prog):
    _check_program_hessian(prog)


@settings(max_examples=40)
@given(prog=programs(max_steps=5, n_max=5, selections=False))
def test_programs_hessian_smooth(prog):
    _check_program_hessian(prog)


def _check_program_hessian(prog):
    n = prog[0]
    g = symasd.trace(lambda x: run_scalar(prog, x), np.zeros(n))
    x = _program_point(n, seed=1)

    def f(z):
        return run_scalar(prog, z, COMPLEX_STEP)

    with np.errstate(all="ignore"):
        gref = complex_step_jacobian(lambda z: np.atleast_1d(f(z)), x)[0]
        H1 = complex_step_hessian(f, x, h=1e-5)
        H2 = complex_step_hessian(f, x, h=2e-5)
        vref = run_scalar(prog, x)
    assume(np.isfinite(H1).all() and np.isfinite(gref).all() and np.isfinite(vref))
    # a selection switching within h of x spoils the difference quotients: skip
    assume(np.allclose(H1, H2, rtol=1e-4, atol=_scale_tol(H1, 1e-6)))
    value, grad, HV = hvp_numeric(g, x, (), np.eye(n))
    np.testing.assert_allclose(value, vref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, gref, rtol=1e-9, atol=_scale_tol(gref, 1e-12))
    np.testing.assert_allclose(HV, H1, rtol=1e-5, atol=_scale_tol(H1, 1e-6))
    np.testing.assert_allclose(HV, HV.T, rtol=1e-10, atol=_scale_tol(HV, 1e-13))
    V = np.random.default_rng(n).standard_normal((n, 3))
    _, grad3, HV3 = hvp_numeric(g, x, (), V)
    np.testing.assert_array_equal(grad3, grad)
    np.testing.assert_allclose(HV3, HV @ V, rtol=1e-9, atol=_scale_tol(HV, 1e-12))


# ---------------------------------------------------------------------------
# semantics: kinks, selections, parameters, special graphs, chunking


def _jac(f, x, *p):
    g = symasd.trace(f, np.zeros_like(x), *[np.zeros_like(v) for v in p])
    return forward_numeric(g, x, p, np.eye(x.size))


def test_ties_and_kinks_follow_the_op_table():
    x = np.array([1.0, 1.0, 0.0])
    _, B = _jac(lambda x: np.stack([np.maximum(x[0], x[1]), np.minimum(x[0], x[1]),
                                    np.abs(x[2])]), x)
    np.testing.assert_array_equal(B, [[1, 0, 0], [1, 0, 0], [0, 0, 0]])


def test_where_does_not_leak_nan_from_the_untaken_branch():
    f = lambda x: np.where(x > 0, np.sqrt(x), 0.0) + np.maximum(x, np.log(x))  # noqa: E731
    x = np.array([0.0, 4.0])
    g = symasd.trace(f, np.ones(2))
    with np.errstate(all="ignore"):
        expected_y = f(x)
    for y, B in (forward_numeric(g, x, (), np.eye(2)), reverse_numeric(g, x, (), np.eye(2))):
        assert_same_values(y, expected_y)
        np.testing.assert_allclose(B, np.diag([1.0, 0.25 + 1.0]))
    _, grad, HV = hvp_numeric(symasd.trace(lambda x: np.sum(f(x)), np.ones(2)), x, (),
                              np.eye(2))
    np.testing.assert_allclose(grad, [1.0, 1.25])
    np.testing.assert_allclose(HV, np.diag([0.0, -0.25 / 8]))


def test_parameters_enter_but_are_not_differentiated():
    def f(x, a, b):
        return a * x ** 2 + np.sum(b) * np.sin(x)

    x = np.array([0.5, -1.0, 2.0])
    a, b = np.array([1.0, 2.0, 3.0]), np.array([[0.5, 0.25]])
    g = symasd.trace(f, np.zeros(3), np.zeros(3), np.zeros((1, 2)))
    y, B = forward_numeric(g, x, (a, b), np.eye(3))
    np.testing.assert_allclose(y, f(x, a, b))
    np.testing.assert_allclose(B, np.diag(2 * a * x + 0.75 * np.cos(x)))
    np.testing.assert_allclose(reverse_numeric(g, x, [a, b], np.eye(3))[1], B)
    h = symasd.trace(lambda x, a, b: np.sum(f(x, a, b)), np.zeros(3), np.zeros(3),
                     np.zeros((1, 2)))
    value, grad, HV = hvp_numeric(h, x, (a, b), np.eye(3))
    np.testing.assert_allclose(value, np.sum(f(x, a, b)))
    np.testing.assert_allclose(grad, np.diag(B))
    np.testing.assert_allclose(HV, np.diag(2 * a - 0.75 * np.sin(x)))


def test_leaf_outputs_repeated_outputs_and_unused_inputs():
    # outputs: an input, a constant, a repeated node; x[3] unused
    f = lambda x: np.stack([x[2], 0 * x[0] + 1.5, x[0] * x[1], x[0] * x[1]])  # noqa: E731
    x = np.array([2.0, 3.0, 5.0, 7.0])
    g = symasd.trace(f, np.ones(4))
    J = np.array([[0, 0, 1, 0], [0, 0, 0, 0], [3, 2, 0, 0], [3, 2, 0, 0]], dtype=float)
    y, B = forward_numeric(g, x, (), np.eye(4))
    np.testing.assert_array_equal(y, [5, 1.5, 6, 6])
    np.testing.assert_array_equal(B, J)
    # the same rows gathered in the sweep (every entry of B, and the pattern's)
    for indptr, idx in ((np.arange(5) * 4, np.arange(16)),
                        (np.array([0, 1, 1, 3, 5]), np.array([2, 8, 9, 12, 13]))):
        y2, data = forward_numeric(g, x, (), np.eye(4), decompress=sweeps.row_gather(
            indptr, idx, 4))
        np.testing.assert_array_equal(y2, y)
        np.testing.assert_array_equal(data, J.ravel()[idx])
    W = np.array([[1.0, 0.0], [4.0, 1.0], [1.0, 2.0], [1.0, -1.0]])
    np.testing.assert_array_equal(reverse_numeric(g, x, (), W)[1], W.T @ J)
    value, grad, HV = hvp_numeric(symasd.trace(lambda x: x[0], np.ones(4)), x, (), np.eye(4))
    assert value == 2.0 and grad.tolist() == [1, 0, 0, 0] and not HV.any()
    value, grad, HV = hvp_numeric(symasd.trace(lambda x: x[0] * x[0], np.ones(4)), x, (),
                                  np.eye(4))
    assert value == 4.0 and grad.tolist() == [4, 0, 0, 0]
    np.testing.assert_array_equal(HV, np.diag([2.0, 0, 0, 0]))
    value, grad, HV = hvp_numeric(symasd.trace(lambda x: 0 * x[0] + 2.5, np.ones(4)), x, (),
                                  np.eye(4))
    assert value == 2.5 and not grad.any() and not HV.any()


def test_local_graph():
    f = lambda x: np.where(x > 0, x ** 3, -x)  # noqa: E731
    x0 = np.array([1.0, -2.0, 3.0])
    g = symasd.trace(f, x0, local=True)
    _, B = forward_numeric(g, x0, (), np.eye(3))
    np.testing.assert_allclose(B, np.diag([3.0, -1.0, 27.0]))


def _rosen(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def test_chunked_sweeps_equal_one_pass(monkeypatch):
    rng = np.random.default_rng(3)
    n = 9
    x = rng.uniform(-1, 1, n)
    g = symasd.trace(lambda x: np.sin(x[1:]) * np.cumsum(x)[:-1] + np.diff(x) ** 3, x)
    h = symasd.trace(_rosen, x)
    S, W, V = rng.standard_normal((n, 7)), rng.standard_normal((n - 1, 7)), np.eye(n)
    full = (forward_numeric(g, x, (), S), reverse_numeric(g, x, (), W),
            hvp_numeric(h, x, (), V))
    for kw in ({"chunk": 1}, {"chunk": 3}, {"chunk": 100}):
        got = (forward_numeric(g, x, (), S, **kw), reverse_numeric(g, x, (), W, **kw),
               hvp_numeric(h, x, (), V, **kw))
        for a, b in zip(got, full, strict=True):
            for u, v in zip(a, b, strict=True):
                np.testing.assert_array_equal(u, v)
    monkeypatch.setattr(sweeps, "SWEEP_MEMORY_BYTES", 1)  # forces one column per pass
    np.testing.assert_array_equal(forward_numeric(g, x, (), S)[1], full[0][1])
    np.testing.assert_array_equal(hvp_numeric(h, x, (), V)[2], full[2][2])
    with pytest.raises(InputError, match="chunk"):
        forward_numeric(g, x, (), S, chunk=0)


def test_seed_zero_flags_equal_scanning_the_seeds():
    rng = np.random.default_rng(21)
    n = 300
    x = rng.uniform(-1, 1, n)
    g = symasd.trace(lambda x: np.diff(x, 3) + np.sin(x[3:]) * x[:-3], x)
    h = symasd.trace(_rosen, x)
    S = rng.standard_normal((n, 3))
    S[::7] = 0.0
    S[3::11] = -0.0
    S[5::13, 1:] = 0.0  # zero in the last columns only: nonzero rows, zero chunk rows
    flags = sweeps.seed_zero_rows(S)
    np.testing.assert_array_equal(flags, np.all(S == 0, axis=1))
    for run_sweep, graph in ((forward_numeric, g), (hvp_numeric, h)):
        for kw in ({}, {"chunk": 1}, {"chunk": 2}):
            ref = run_sweep(graph, x, (), S, **kw)
            got = run_sweep(graph, x, (), S, seed_zero=flags, **kw)
            for u, v in zip(got, ref, strict=True):
                np.testing.assert_array_equal(u, v)
        with pytest.raises(ValueError, match="seed_zero"):
            run_sweep(graph, x, (), S, seed_zero=flags[:-1])


def test_prepared_seed_flags_do_not_leak_into_other_seeds():
    rng = np.random.default_rng(22)
    n = 200
    x = rng.uniform(-1, 1, n)
    jac = symasd.jacobian(lambda x: np.diff(x, 3), x, engine="tape")
    hes = symasd.hessian(_rosen, x, engine="tape")
    for P, run_sweep in ((jac, forward_numeric), (hes, hvp_numeric)):
        P(x)
        assert not P._tape.seeds.flags.writeable
        np.testing.assert_array_equal(P._tape.seed_zero, sweeps.seed_zero_rows(P._tape.seeds))
        # the same graph with other seeds (zero rows where the coloring's have none)
        S = np.array(P._tape.seeds)
        S[::3] = 0.0
        ref = run_sweep(P.graph, x, (), S, plan=np.asarray(segments(P.graph)))
        for u, v in zip(run_sweep(P.graph, x, (), S), ref, strict=True):
            np.testing.assert_array_equal(u, v)


def test_threads_use_separate_workspaces():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(11)
    sizes = [50, 300, 120, 700] * 3
    graphs = {n: symasd.trace(_rosen, np.zeros(n)) for n in set(sizes)}
    points = [rng.uniform(-1, 1, n) for n in sizes]

    def work(i):
        n = sizes[i]
        return hvp_numeric(graphs[n], points[i], (), np.eye(n)[:, :5])

    expected = [work(i) for i in range(len(sizes))]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(work, range(len(sizes))))
    for a, b in zip(got, expected, strict=True):
        for u, v in zip(a, b, strict=True):
            np.testing.assert_array_equal(u, v)
    sweeps.release_workspace()
    np.testing.assert_array_equal(work(0)[2], expected[0][2])


def test_decompress_in_the_sweep_equals_decompressing_the_result():
    rng = np.random.default_rng(12)
    n = 40
    x = rng.uniform(-1, 1, n)
    g = symasd.trace(lambda x: np.sin(x[1:]) * x[:-1] + np.diff(x) ** 3, x)
    h = symasd.trace(_rosen, x)
    P = symasd.jacobian_sparsity(g)
    fwd, rev = symasd.color(P, "column"), symasd.color(P, "row")
    hes = symasd.color(symasd.hessian_sparsity(h), "acyclic")
    kept = []

    def copy_of(B):
        kept.append(B)
        return B.copy()

    for run_sweep, r in ((forward_numeric, fwd), (reverse_numeric, rev)):
        y, B = run_sweep(g, x, (), r.seeds())
        y2, vals = run_sweep(g, x, (), r.seeds(), decompress=r.decompress_values)
        np.testing.assert_array_equal(y2, y)
        np.testing.assert_array_equal(vals, r.decompress_values(B))
        np.testing.assert_array_equal(run_sweep(g, x, (), r.seeds(), decompress=copy_of)[1], B)
    v, grad, HV = hvp_numeric(h, x, (), hes.seeds())
    v2, grad2, vals = hvp_numeric(h, x, (), hes.seeds(), decompress=hes.decompress_values)
    assert v2 == v
    np.testing.assert_array_equal(grad2, grad)
    np.testing.assert_array_equal(vals, hes.decompress_values(HV))
    v3, grad3, HV3 = hvp_numeric(h, x, (), hes.seeds(), gradient=False)
    assert v3 == v and grad3 is None
    np.testing.assert_array_equal(HV3, HV)
    # the compressed matrix handed to decompress is a reused work buffer
    hvp_numeric(h, x, (), hes.seeds(), decompress=copy_of)
    hvp_numeric(h, x + 1, (), hes.seeds(), decompress=copy_of)
    assert np.shares_memory(kept[-1], kept[-2])
    with pytest.raises(InputError, match="decompress"):
        forward_numeric(g, x, (), fwd.seeds(), decompress="gather")


def test_rosenbrock_hessian_and_compressed_seeds():
    n = 12
    x = np.random.default_rng(5).uniform(-1, 1, n)
    h = symasd.trace(_rosen, np.zeros(n))
    value, grad, H = hvp_numeric(h, x, (), np.eye(n))
    np.testing.assert_allclose(value, _rosen(x), rtol=1e-14)
    np.testing.assert_allclose(H, complex_step_hessian(_rosen, x), rtol=1e-6, atol=1e-4)
    assert np.array_equal(H != 0, np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 1)
    # 3 colors (i mod 3) recover the tridiagonal Hessian
    seeds = (np.arange(n)[:, None] % 3 == np.arange(3)).astype(float)
    HV = hvp_numeric(h, x, (), seeds)[2]
    rows, cols = np.nonzero(H)
    np.testing.assert_array_equal(HV[rows, cols % 3], H[rows, cols])


# ---------------------------------------------------------------------------
# NaN and inf inputs


def test_nan_inputs_give_nan_entries():
    def f(x):
        return np.sin(x) * x[::-1] + np.maximum(x, 0.5) + np.abs(x) ** 1.5

    n = 5
    x = np.linspace(0.1, 0.9, n)
    x[1] = np.nan
    g = symasd.trace(f, np.ones(n))
    y, B = forward_numeric(g, x, (), np.eye(n))
    _, Br = reverse_numeric(g, x, (), np.eye(n))
    assert np.isnan(y).tolist() == [False, True, False, True, False]
    for M in (B, Br):
        # row 1 = sin(x1) x3 + ..., row 3 = sin(x3) x1 + ...: d/dx1 of row 3 is sin(x3)
        assert np.isnan(M[1, 1]) and np.isnan(M[1, 3]) and np.isnan(M[3, 3])
        assert np.isfinite(M[3, 1])
        assert np.isfinite(M[[0, 2, 4]]).all()  # rows that do not see the NaN
        nz = symasd.jacobian_sparsity(g).toarray()
        assert not M[~nz].any()  # nothing leaks outside the pattern
    h = symasd.trace(lambda x: np.sum(f(x)), np.ones(n))
    value, grad, HV = hvp_numeric(h, x, (), np.eye(n))
    assert np.isnan(value) and np.isnan(grad[1]) and np.isnan(HV[1, 1])
    assert np.isfinite(grad[[0, 2, 4]]).all()
    xs = np.full(n, np.nan)
    for out in (forward_numeric(g, xs, (), np.eye(n)), reverse_numeric(g, xs, (), np.eye(n)),
                hvp_numeric(h, xs, (), np.eye(n))):
        assert all(np.isnan(o).any() for o in out)


def test_nonfinite_seeds_and_inputs_do_not_crash():
    g = symasd.trace(lambda x: np.exp(x) / x, np.ones(3))
    x = np.array([np.inf, -np.inf, 0.0])
    with np.errstate(all="ignore"):
        y, B = forward_numeric(g, x, (), np.full((3, 2), np.nan))
    assert np.isnan(B).all() and y.shape == (3,)
    reverse_numeric(g, x, (), np.eye(3))


# ---------------------------------------------------------------------------
# errors


def test_wrong_shapes_raise_input_error():
    g = symasd.trace(lambda x, p: x * p, np.ones((2, 3)), np.ones(3))
    x, p = np.ones((2, 3)), (np.ones(3),)
    forward_numeric(g, x, p, np.eye(6))
    with pytest.raises(InputError, match="x has shape"):
        forward_numeric(g, np.ones(6), p, np.eye(6))
    with pytest.raises(InputError, match="takes 1 parameter array after x"):
        forward_numeric(g, x, (), np.eye(6))
    with pytest.raises(InputError, match="parameter 0 has shape"):
        forward_numeric(g, x, (np.ones(4),), np.eye(6))
    with pytest.raises(InputError, match="tuple"):
        forward_numeric(g, x, np.ones(3), np.eye(6))
    with pytest.raises(InputError, match="rows"):
        forward_numeric(g, x, p, np.eye(5))
    with pytest.raises(InputError, match="2-D"):
        forward_numeric(g, x, p, np.ones(6))
    with pytest.raises(InputError, match="no columns"):
        forward_numeric(g, x, p, np.ones((6, 0)))
    with pytest.raises(InputError, match="complex"):
        forward_numeric(g, x + 0j, p, np.eye(6))
    with pytest.raises(InputError, match="complex"):
        forward_numeric(g, x, p, np.eye(6) + 0j)
    with pytest.raises(InputError, match="numeric"):
        forward_numeric(g, x, p, np.full((6, 1), "a"))
    with pytest.raises(InputError, match="n_outputs"):
        reverse_numeric(g, x, p, np.eye(5))
    with pytest.raises(InputError, match="one output"):
        hvp_numeric(g, x, p, np.eye(6))
    with pytest.raises(InputError, match="Graph"):
        forward_numeric(lambda x: x, x, p, np.eye(6))
    h = symasd.trace(lambda x: np.sum(x ** 3), np.ones(4))
    with pytest.raises(InputError, match="rows"):
        hvp_numeric(h, np.ones(4), (), np.eye(3))
    # integer and boolean seeds are fine (a coloring's seeds)
    _, B = forward_numeric(g, x, p, np.eye(6, dtype=bool))
    assert B.dtype == np.float64
    np.testing.assert_array_equal(hvp_numeric(h, np.ones(4), None, np.eye(4, dtype=int))[2],
                                  6 * np.eye(4))


# ---------------------------------------------------------------------------
# execution plans: strided segments, row layouts


def _plans(g):
    """The graph's own plan, an all-indexed plan and one with strided segments
    from length 2 (many short, self-referencing and negative-stride segments)."""
    return {"default": segments(g),
            "indexed": _vm.plan(g.op, g.arg0, g.arg1, g.arg2, 10**9),
            "fine": _vm.plan(g.op, g.arg0, g.arg1, g.arg2, 2)}


def _assert_same(results):
    ref = next(iter(results.values()))
    for name, got in results.items():
        for u, v in zip(got, ref, strict=True):
            np.testing.assert_array_equal(u, v, err_msg=name)


def _sweep_all(g, x, S, W, plan, **kw):
    return (*forward_numeric(g, x, (), S, plan=plan, **kw),
            *reverse_numeric(g, x, (), W, plan=plan, **kw))


def _plan_inputs(prog, seed):
    n = prog[0]
    rng = np.random.default_rng(seed)
    x = _program_point(n, seed)
    if seed % 4 == 3:
        x[rng.integers(0, n)] = np.nan  # non-finite values and partials in blocks
    S = rng.standard_normal((n, 3))
    S[rng.random(n) < 0.3] = 0.0  # zero tangent rows among nonzero ones
    return x, S


@settings(max_examples=60, deadline=None)
@given(prog=programs(max_steps=7, n_min=2, n_max=40), seed=st.integers(0, 7))
def test_programs_plans_give_identical_jacobians(prog, seed):
    """Strided segments (tight loops, per-node fallbacks, slot reuse) compute exactly
    what the per-node rules compute on an all-indexed plan, bit for bit."""
    n = prog[0]
    g = symasd.trace(lambda x: run(prog, x), np.zeros(n))
    x, S = _plan_inputs(prog, seed)
    W = np.random.default_rng(seed).standard_normal((g.n_outputs, 2))
    W[::3] = 0.0
    with np.errstate(all="ignore"):
        results = {name: _sweep_all(g, x, S, W, plan) for name, plan in _plans(g).items()}
        results["chunked"] = _sweep_all(g, x, S, W, None, chunk=2)
        # the identity row layout (no slot reuse, rows in node order) and the layout
        # that runs whole segments in plan order
        args = (sweeps._sweep_plan(g), x, np.zeros(0), S)
        results["identity"] = (*_sweeps.forward_sweep(*args, 0), *results["default"][2:])
        untiled = _sweeps.forward_layout(args[0], tile=False)
        results["untiled"] = (*_sweeps.forward_sweep(*args, 2, layout=untiled),
                              *results["default"][2:])
        # without y, only the values that partials read (NaN inputs included)
        for name, kw in (("no values", {}), ("no values, chunked", {"chunk": 2})):
            y, B = forward_numeric(g, x, (), S, values=False, **kw)
            assert y is None
            results[name] = (results["default"][0], B, *results["default"][2:])
        # the nonzeros gathered row by row in the sweep, any indices within the rows
        B = results["default"][1]
        indptr, idx = _row_pattern(B.shape, seed)
        gather = sweeps.row_gather(indptr, idx, B.shape[1])
        for kw in ({}, {"chunk": 2}, {"values": False}, {"plan": _plans(g)["fine"]}):
            y, data = forward_numeric(g, x, (), S, decompress=gather, **kw)
            np.testing.assert_array_equal(data.view(np.int64), B.ravel()[idx].view(np.int64))
            if kw.get("values", True):
                np.testing.assert_array_equal(y, results["default"][0])
    _assert_same(results)


def _row_pattern(shape, seed):
    """Row pointers and gather indices of random nonzeros of a matrix of ``shape``,
    within their rows (empty rows, repeated and unsorted columns included)."""
    m, c = shape
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, c + 2, m)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    rows = np.repeat(np.arange(m), counts)
    return indptr, rows * c + rng.integers(0, c, rows.size)


@settings(max_examples=40, deadline=None)
@given(prog=programs(max_steps=6, n_min=2, n_max=30), seed=st.integers(0, 7))
def test_programs_plans_give_identical_hessian_vector_products(prog, seed):
    n = prog[0]
    g = symasd.trace(lambda x: run_scalar(prog, x), np.zeros(n))
    x, V = _plan_inputs(prog, seed)
    with np.errstate(all="ignore"):
        results = {name: hvp_numeric(g, x, (), V, plan=plan)
                   for name, plan in _plans(g).items()}
        results["chunked"] = hvp_numeric(g, x, (), V, chunk=2)
        # rows in node order (no layouts)
        value, grad, HV = _sweeps.hvp_sweep(sweeps._sweep_plan(g), x, np.zeros(0), V, 0)
        results["identity"] = (np.float64(value), grad, HV)
    _assert_same(results)


def _as_indexed(plan):
    """``plan`` with every segment indexed: the same boundaries, hence the same
    units, read node by node."""
    out = np.array(plan, copy=True)
    out[:, 2] = 0
    out[:, 3:] = (-1, 0, -1, 0, -1, 0)
    return out


def _layouts(sweep_plan):
    return {"forward": sweep_plan.forward_layout(False),
            "gathered": sweep_plan.forward_layout(True),
            **{f"hvp {name} values={v}": lay for v in (True, False)
               for name, lay in zip(("tangents", "adjoints"), sweep_plan.hvp_layouts(v),
                                    strict=True)}}


@settings(max_examples=60, deadline=None)
@given(prog=programs(max_steps=8, n_min=8, n_max=60), fine=st.booleans())
def test_layouts_read_strided_units_as_their_nodes(prog, fine):
    """A row layout takes a strided unit whose argument progressions each lie in one
    unit as a whole (what its nodes read, found once); it is the layout that reading
    the same units node by node gives: the same units, slots and value flags, and
    sweeps over either give the same numbers, bit for bit."""
    n = prog[0]
    for f in (lambda x: run(prog, x), lambda x: run_scalar(prog, x)):
        g = symasd.trace(f, np.zeros(n))
        plan = _vm.plan(g.op, g.arg0, g.arg1, g.arg2, 2) if fine else segments(g)
        strided, indexed = (sweeps._sweep_plan(g, p) for p in (plan, _as_indexed(plan)))
        for (name, a), b in zip(_layouts(strided).items(), _layouts(indexed).values(),
                                strict=True):
            assert a.n_slots == b.n_slots, name
            np.testing.assert_array_equal(a.units, b.units, err_msg=name)
            np.testing.assert_array_equal(a.vneed, b.vneed, err_msg=name)
        x, S = _plan_inputs(prog, n)
        with np.errstate(all="ignore"):
            for got, want in ((forward_numeric(g, x, (), S, plan=plan),
                               forward_numeric(g, x, (), S, plan=_as_indexed(plan))),
                              *(((hvp_numeric(g, x, (), S, plan=plan),
                                  hvp_numeric(g, x, (), S, plan=_as_indexed(plan))),)
                                if g.n_outputs == 1 else ())):
                for u, v in zip(got, want, strict=True):
                    np.testing.assert_array_equal(u, v)


def _chain_graph(n):
    """``y_k = y_{k-1} * c + x_k`` node by node: strided segments whose arguments lie
    in the segment itself."""
    b = Builder()
    x = b.variables(np.zeros(n))
    c = b.const(np.array([0.9]))
    y = [x[:1]]
    for k in range(1, n):
        y.append(b.binary(Code.ADD, b.binary(Code.MUL, y[-1], c), x[k:k + 1]))
    z = [y[0]]
    for k in range(1, n):  # a pure chain: one ADD segment reading itself
        z.append(b.binary(Code.ADD, z[-1], y[k]))
    out = np.concatenate([np.concatenate(y), np.concatenate(z)])
    return b.finish(out, (n,), out.shape)


def test_self_referencing_segments():
    n = 40
    g = _chain_graph(n)
    seg = segments(g)
    strided = seg[seg[:, 2] == 1]
    # an argument progression that reaches into its own segment
    assert any(row[3 + 2 * t] + (row[1] - row[0] - 1) * row[4 + 2 * t] >= row[0]
               for row in strided for t in range(2))
    x = np.random.default_rng(2).uniform(-1, 1, n)
    y = np.zeros(n)
    y[0] = x[0]
    for k in range(1, n):
        y[k] = 0.9 * y[k - 1] + x[k]
    Jy = np.tril(0.9 ** np.subtract.outer(np.arange(n), np.arange(n)))
    J = np.vstack([Jy, np.cumsum(Jy, axis=0)])
    S, W = np.eye(n), np.eye(2 * n)
    results = {name: _sweep_all(g, x, S, W, plan) for name, plan in _plans(g).items()}
    _assert_same(results)
    vals, B, _, Br = results["default"]
    np.testing.assert_allclose(vals, np.concatenate([y, np.cumsum(y)]), rtol=1e-12)
    np.testing.assert_allclose(B, J, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(Br, J, rtol=1e-12, atol=1e-14)


def test_large_strided_graphs_across_blocks():
    """Segments longer than one block (tiled order, rows split across units), strides
    0, 1, 2 and -1, rolls, prefix sums, selections, NaN in one block, mixed zero
    rows: the tight loops and the fallbacks against the indexed plan."""
    n = 4001
    rng = np.random.default_rng(9)

    def f(x):
        u = x[1:] * x[:-1] + np.sin(x[::-1][1:])
        v = np.exp(0.1 * u[::2]) - u[1::2] ** 2
        w = np.roll(v, 7) * 0.5 + np.cumsum(v[:100]).sum() + np.maximum(v, 0.1 * u[:2000])
        z = np.where(u[:2000] > 0, w, np.tanh(v))
        return np.concatenate([u[:50] * 2.0, np.tanh(v) / (2 + v * v), np.diff(z, 2)])

    g = symasd.trace(f, np.zeros(n))
    x = rng.uniform(-1, 1, n)
    x[1700] = np.nan
    S = rng.standard_normal((n, 5))
    S[rng.random(n) < 0.1] = 0.0
    W = rng.standard_normal((g.n_outputs, 3))
    with np.errstate(all="ignore"):
        results = {name: _sweep_all(g, x, S, W, plan) for name, plan in _plans(g).items()}
        results["chunked"] = _sweep_all(g, x, S, W, None, chunk=2)
        h = symasd.trace(lambda x: np.sum(f(x) ** 2), np.zeros(n))
        V = S[:, :3]
        hvps = {name: hvp_numeric(h, x, (), V, plan=plan) for name, plan in _plans(h).items()}
    _assert_same(results)
    _assert_same(hvps)
    x[1700] = 0.3
    J = symasd.jacobian_sparsity(g).toarray()[:, ::80]
    with np.errstate(all="ignore"):
        _, B = forward_numeric(g, x, (), np.eye(n)[:, ::80])
    assert not B[~J].any()
    np.testing.assert_allclose(B, forward_numeric(g, x, (), np.eye(n)[:, ::80],
                                                  plan=_plans(g)["indexed"])[1])


def test_hvp_zero_adjoints_in_blocks():
    """Scalar adjoints that are +0 or -0 contribute 0 (not NaN where the first
    partial is infinite, ``sqrt`` at 0), in the tight block loops as in the
    per-node rules. The targets of the ``u ** 2`` blocks (1024 nodes from the
    end) have their reach flags all set, mixed, and none set (``sin`` reaches
    them first); against the indexed plan, bit for bit."""
    m = 3013

    def f(x):
        u, y, z = x[:m], x[m:2 * m], x[2 * m:]
        return np.sum(np.sqrt(z) * y + u ** 2 * y) + np.sum(np.sin(u[1000:]))

    g = symasd.trace(f, np.zeros(3 * m))
    rng = np.random.default_rng(4)
    x = rng.uniform(0.5, 2.0, 3 * m)
    zero = rng.random(m) < 0.3
    x[m:2 * m][zero] = np.where(rng.random(zero.sum()) < 0.5, 0.0, -0.0)
    x[2 * m:][zero & (rng.random(m) < 0.5)] = 0.0
    V = rng.standard_normal((3 * m, 3))
    V[2 * m:][rng.random(m) < 0.2] = 0.0
    with np.errstate(all="ignore"):
        hvps = {name: hvp_numeric(g, x, (), V, plan=plan) for name, plan in _plans(g).items()}
    ref = hvps["indexed"]
    for name, got in hvps.items():
        for u, v in zip(got[1:], ref[1:], strict=True):
            np.testing.assert_array_equal(u.view(np.int64), v.view(np.int64), err_msg=name)
    _, grad, HV = ref
    # d/du[i] of u[i]^2 y[i] and d/dz[i] of sqrt(z[i]) y[i] at y[i] = +-0: 0
    assert (grad[:1000][zero[:1000]].view(np.int64) == 0).all()
    assert (grad[2 * m:][zero].view(np.int64) == 0).all()
    assert np.isfinite(grad).all() and np.isfinite(HV[:m]).all()


def test_hvp_adjoint_tangent_rows_in_blocks():
    """Adjoint tangent rows of block arguments whose targets are all reached (added
    to), none (assigned; stride 1, 2 and 3) or mixed, with one, two and three terms
    (``u / (1 + y ** 2)``), for direction counts with a fixed-length loop and
    without: against the indexed plan, bit for bit."""
    m = 2500

    def f(x):
        u, y = x[:m], x[m:]
        return (np.sum(u[1:] * u[:-1] * y[1:]) + np.sum(np.exp(u[::2]) * y[::2])
                + np.sum(np.sin(u[700:1900]) ** 2) + np.sum(u[::3] / (1 + y[::3] ** 2)))

    g = symasd.trace(f, np.zeros(2 * m))
    rng = np.random.default_rng(5)
    x = rng.uniform(-1.0, 1.0, 2 * m)
    for cc in (1, 2, 3, 5):
        V = rng.standard_normal((2 * m, cc))
        V[rng.random(2 * m) < 0.2] = 0.0
        hvps = {name: hvp_numeric(g, x, (), V, plan=plan) for name, plan in _plans(g).items()}
        ref = hvps["indexed"]
        for name, got in hvps.items():
            for u, v in zip(got[1:], ref[1:], strict=True):
                np.testing.assert_array_equal(u.view(np.int64), v.view(np.int64),
                                              err_msg=f"{name}, {cc} directions")


def test_hvp_scalar_adjoints_in_slots():
    """The scalar adjoints live in the adjoint tangents' slots (fewer than the nodes);
    block arguments that are runs of constants (stride 1 and -1) have no slots and are
    not accumulated. Against the indexed plan and the identity layout (one adjoint per
    node), bit for bit, and against the exact Hessian."""
    n = 3000
    rng = np.random.default_rng(6)
    c = rng.uniform(1.0, 2.0, n)

    def f(x):
        return np.sum((x * c) ** 2 + np.sin(c[::-1] * x) * x) + np.sum(x[1:] * x[:-1])

    g = symasd.trace(f, np.zeros(n))
    assert sweeps._sweep_plan(g).hvp_layouts(True)[1].n_slots < g.n_nodes // 2
    x = rng.uniform(-1.0, 1.0, n)
    V = rng.standard_normal((n, 3))
    hvps = {name: hvp_numeric(g, x, (), V, plan=plan) for name, plan in _plans(g).items()}
    value, grad, HV = _sweeps.hvp_sweep(sweeps._sweep_plan(g), x, np.zeros(0), V, 0)
    hvps["identity"] = (np.float64(value), grad, HV)
    _assert_same(hvps)
    s = np.sin(c[::-1] * x)
    co = np.cos(c[::-1] * x)
    d = 2 * c ** 2 + 2 * c[::-1] * co - c[::-1] ** 2 * x * s
    H = np.diag(d) + np.eye(n, k=1) + np.eye(n, k=-1)
    np.testing.assert_allclose(hvps["default"][2], H @ V, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hvps["default"][1], 2 * c ** 2 * x + s + c[::-1] * x * co
                               + np.r_[x[1:], 0] + np.r_[0, x[:-1]], rtol=1e-12, atol=1e-12)


def _one_segment_plan(g, op=None):
    """The kernels' plan of ``g`` with every node in one indexed segment (``op``: in
    place of ``g.op``)."""
    return _sweeps.SweepPlan(g.op if op is None else op, g.arg0, g.arg1, g.arg2, g.const,
                             g.outputs, g.n_inputs, sweeps._D1, sweeps._D2, sweeps._CROSS)


def test_forward_layout_reuses_slots():
    n = 10000
    g = symasd.trace(lambda x: np.diff(x, 3), np.zeros(n))
    lay = sweeps._sweep_plan(g).forward_layout(False)
    assert sweeps._sweep_plan(g).forward_layout(False) is lay  # cached per graph
    # inputs are read from the seeds and the outputs written to B: of the four
    # arrays only the two inner differences need slots, and in the tiled order
    # only a few blocks of them at a time
    untiled = _sweeps.forward_layout(sweeps._sweep_plan(g), tile=False)
    assert untiled.n_slots == (n - 1) + (n - 2) and lay.n_nodes == g.n_nodes
    assert lay.n_slots < untiled.n_slots / 2 and lay.units.shape[0] > segments(g).shape[0]
    x = np.random.default_rng(0).standard_normal(n)
    S = (np.arange(n)[:, None] % 4 == np.arange(4)).astype(float)
    _, B = forward_numeric(g, x, (), S)
    args = (_one_segment_plan(g), x, np.zeros(0), S)
    y0, B0 = _sweeps.forward_sweep(*args)  # one indexed segment, identity layout
    np.testing.assert_array_equal(y0, g(x))
    np.testing.assert_array_equal(B0, B)
    np.testing.assert_array_equal(_sweeps.forward_sweep(*args, 1, layout=lay)[1], B)
    other = symasd.trace(lambda x: np.diff(x, 3), np.zeros(n))
    with pytest.raises(ValueError, match="other node arrays"):
        _sweeps.forward_sweep(_one_segment_plan(g, other.op), *args[1:], layout=lay)
    no_reuse = _sweeps.forward_layout(sweeps._sweep_plan(g), reuse=False)
    assert no_reuse.n_slots >= untiled.n_slots
    for other_layout in (no_reuse, untiled):
        np.testing.assert_array_equal(_sweeps.forward_sweep(*args, layout=other_layout)[1], B)
    # a linear function's partials are constants: without y no value is computed
    assert not lay.vneed.any()
    y, B1 = forward_numeric(g, np.full(n, np.nan), (), S, values=False)
    assert y is None
    np.testing.assert_array_equal(B1, B)


def test_row_gather():
    n = 10000
    g = symasd.trace(lambda x: np.diff(x, 3), np.zeros(n))
    jac = symasd.jacobian(g, np.zeros(n), engine="tape")
    r = jac.coloring
    x = np.random.default_rng(1).standard_normal(n)
    x[7] = np.nan
    S = r.seeds()
    y, B = forward_numeric(g, x, (), S)
    gather = sweeps.row_gather(r.pattern.indptr, r.compressed_indices, r.ncolors)
    assert gather.idx.dtype == np.int32 and gather.nnz == jac.nnz
    y2, data = forward_numeric(g, x, (), S, decompress=gather)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(data, r.decompress_values(B))
    np.testing.assert_array_equal(jac(x).data, data)
    # the gathered layout gives the outputs slots, released as soon as they are
    # gathered: no more than the other layout needs for the inner differences
    sp = sweeps._sweep_plan(g)
    assert sp.forward_layout(True).n_slots <= sp.forward_layout(False).n_slots
    wide = sweeps.row_gather(np.array([0, 2, 3]), np.array([299, 0, 599]), 300)
    h = symasd.trace(lambda x: np.sin(x[1:]) * x[:-1], np.zeros(40))
    V = np.random.default_rng(2).standard_normal((40, 300))
    V[::5] = 0.0
    _, BV = forward_numeric(h, x[:40], (), V)
    indptr, idx = _row_pattern(BV.shape, 3)
    for chunk in (None, 7):
        data = forward_numeric(h, x[:40], (), V, chunk=chunk,
                               decompress=sweeps.row_gather(indptr, idx, 300))[1]
        np.testing.assert_array_equal(data, BV.ravel()[idx])
    with pytest.raises(ValueError, match="row 1"):
        sweeps.row_gather(np.array([0, 1, 2]), np.array([0, 1]), 2)
    with pytest.raises(ValueError, match="indptr"):
        sweeps.row_gather(np.array([0, 1]), np.array([0, 1]), 2)
    args = (sweeps._sweep_plan(g), x, np.zeros(0), S)
    with pytest.raises(ValueError, match="gathered row layout"):
        _sweeps.forward_sweep(*args, layout=args[0].forward_layout(True))
    with pytest.raises(ValueError, match="gathered row layout"):
        _sweeps.forward_sweep(*args, layout=args[0].forward_layout(False), gather=gather)
    with pytest.raises(ValueError, match="gathered row layout"):
        _sweeps.forward_sweep(*args, gather=gather)
    with pytest.raises(ValueError, match="shape"):
        forward_numeric(g, x, (), S, decompress=wide)


def test_forward_values_needed_by_partials():
    n = 3000
    g = symasd.trace(lambda x: np.diff(np.sin(np.diff(x)) + np.diff(x, 2)[0]), np.zeros(n))
    lay = sweeps._sweep_plan(g).forward_layout(False)
    needed = np.zeros(g.n_nodes, dtype=bool)
    for start, stop in lay.units[lay.vneed.astype(bool), 1:]:
        needed[start:stop] = True
    # sin reads its argument's value, computed from the inputs; the other
    # differences are never read as values
    sin = np.flatnonzero(g.op == Code.SIN)
    assert needed[sin].all() and needed[g.arg0[sin]].all()
    assert needed[g.op == Code.VAR].all()
    assert not needed[g.outputs].any() and not needed[g.op == Code.ADD].any()
    x = np.random.default_rng(3).standard_normal(n)
    x[::97] = np.nan
    S = np.random.default_rng(4).standard_normal((n, 3))
    y, B = forward_numeric(g, x, (), S)
    np.testing.assert_array_equal(forward_numeric(g, x, (), S, values=False)[1], B)


def test_hvp_layouts_keep_only_the_tangents_second_partials_read():
    n = 2000
    h = symasd.trace(_rosen, np.zeros(n))
    tangents, adjoints = sweeps._sweep_plan(h).hvp_layouts(True)
    assert sweeps._sweep_plan(h).hvp_layouts(True)[0] is tangents  # cached per graph
    # x[1:] - x[:-1]**2 and 1 - x[:-1] (arguments of squares) with their square
    # x[:-1]**2 keep tangents; the scaled squares and the sum tree need values only
    assert tangents.n_slots < h.n_nodes / 2 and adjoints.n_slots < h.n_nodes / 2
    x = np.random.default_rng(4).uniform(-1, 1, n)
    V = (np.arange(n)[:, None] % 3 == np.arange(3)).astype(float)
    args = (sweeps._sweep_plan(h), x, np.zeros(0), V)
    expected = _sweeps.hvp_sweep(*args, 0)
    for got in (hvp_numeric(h, x, (), V), _sweeps.hvp_sweep(*args, 1, layouts=(tangents,
                                                                              adjoints))):
        for u, v in zip(got, expected, strict=True):
            np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="other node arrays or another sweep"):
        _sweeps.hvp_sweep(*args, layouts=(adjoints, tangents))
    with pytest.raises(ValueError, match="other node arrays"):
        _sweeps.forward_sweep(*args, layout=tangents)


def test_hvp_layouts_leave_out_the_tangents_only_a_constant_factor_reads():
    """In ``c * y`` the cross partial carries y's tangent into the adjoint tangent of
    the constant (or parameter) ``c``, which nobody reads: y's tangents are left out
    and flagged zero. The results are those of the all-indexed plan (no layouts, every
    tangent computed), NaN included, a direction at a time or all at once."""
    n = 2000
    sq = lambda x: (x[1:] - x[:-1]) ** 2  # noqa: E731
    cases = [(lambda x: np.sum(100 * sq(x)), (), n - 1),
             (lambda x: np.sum(sq(x) * 100 + sq(x) ** 2), (), 2 * (n - 1)),
             (lambda x, p: np.sum(p * sq(x)), (np.linspace(1, 2, n - 1),), n - 1),
             (lambda x: np.sum(x[1:] * sq(x)), (), 2 * (n - 1))]
    x = np.random.default_rng(6).uniform(-1, 1, n)
    x[[5, 1500]] = np.nan, np.inf
    V = (np.arange(n)[:, None] % 3 == np.arange(3)).astype(float)
    for f, p, slots in cases:
        g = symasd.trace(f, np.zeros(n), *p)
        assert sweeps._sweep_plan(g).hvp_layouts(False)[0].n_slots == slots
        indexed = _vm.plan(g.op, g.arg0, g.arg1, g.arg2, 10**9)
        with np.errstate(all="ignore"):
            expected = hvp_numeric(g, x, p, V, plan=indexed)
            for chunk in (None, 1):
                got = hvp_numeric(g, x, p, V, chunk=chunk)
                _poison_workspace()
                lean = hvp_numeric(g, x, p, V, chunk=chunk, value=False)
                assert lean[0] is None
                for u, v in zip(got + lean[1:], expected + expected[1:], strict=True):
                    np.testing.assert_array_equal(u, v)


def test_invalid_plans_raise():
    g = symasd.trace(lambda x: x[1:] * x[:-1], np.zeros(20))
    x, S = np.ones(20), np.eye(20)
    seg = segments(g).copy()
    forward_numeric(g, x, (), S, plan=seg)
    with pytest.raises(ValueError, match="columns"):
        forward_numeric(g, x, (), S, plan=seg[:, :8])
    with pytest.raises(ValueError, match="covers"):
        forward_numeric(g, x, (), S, plan=seg[:-1])
    with pytest.raises(ValueError, match="continue"):
        forward_numeric(g, x, (), S, plan=seg[::-1])
    bad = seg.copy()
    r = np.flatnonzero(bad[:, 2])[0]
    bad[r, 3] = bad[r, 0]  # an argument that is the node itself
    for fn, seeds in ((forward_numeric, S), (reverse_numeric, np.eye(19))):
        with pytest.raises(ValueError, match="leaves"):
            fn(g, x, (), seeds, plan=bad)
    bad[r, 3:5] = (-1, 0)
    with pytest.raises(ValueError, match="no argument 0"):
        hvp_numeric(symasd.trace(lambda x: np.sum(x[1:] * x[:-1]), np.zeros(20)), x, (), S,
                    plan=bad)


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_hvp_input_rows_over_layout_units(chunk):
    # the inputs' gradient and HV rows are read a run of rows at a time: a long input
    # segment (several units of the adjoint layout), inputs that are reached by the
    # scalar adjoint only (x[-1] enters linearly) and inputs not reached at all
    n = 3000

    def f(x):
        h = x[:-3]
        return np.sum(100.0 * (x[1:-2] - h ** 2) ** 2 + (1.0 - h) ** 2) + 3.0 * x[-1]

    g = symasd.trace(f, np.zeros(n))
    x = np.random.default_rng(7).uniform(-1, 1, n)
    V = np.random.default_rng(8).standard_normal((n, 3))
    h = x[:-3]
    grad_ref = np.zeros(n)
    r = x[1:-2] - h ** 2
    grad_ref[:-3] += -400.0 * r * h - 2.0 * (1.0 - h)
    grad_ref[1:-2] += 200.0 * r
    grad_ref[-1] = 3.0
    H = np.zeros((n, n))
    i = np.arange(n - 3)
    H[i, i] += 1200.0 * h ** 2 - 400.0 * x[1:-2] + 2.0
    H[i + 1, i + 1] += 200.0
    H[i, i + 1] += -400.0 * h
    H[i + 1, i] += -400.0 * h
    value, grad, HV = hvp_numeric(g, x, (), V, chunk=chunk)
    np.testing.assert_allclose(value, f(x), rtol=1e-12)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(HV, H @ V, rtol=1e-10, atol=1e-9)
    assert np.array_equal(HV[-2:], np.zeros((2, 3)))
    _, grad_i, HV_i = hvp_numeric(g, x, (), V, chunk=chunk,
                                  plan=_vm.plan(g.op, g.arg0, g.arg1, g.arg2, n + 1))
    np.testing.assert_array_equal(grad_i, grad)
    np.testing.assert_array_equal(HV_i, HV)


def test_hvp_interleaved_and_stride_two_arguments():
    """Blocks whose arguments interleave (``x[0::2] + x[1::2]``, either way round) or
    step by 2, with the targets' reach flags none set, all set and mixed (the
    words of a stride-2 flag scan and their tails), ``+-0`` adjoints and a NaN:
    against the indexed plan, bit for bit."""
    m = 2 * 1500 + 2

    def f(x):
        a, b = x[0::2], x[1::2]
        u = a * b + (b - a ** 2) ** 2               # stride-2 arguments, pairs
        v = np.sum(x[3:1203:2] * x[2:1202:2])       # interleaved, the odd one first
        w = np.sum(np.sin(x[:1000])) + np.sum(np.cos(x[2000:]))  # flags set before,
        return np.sum(u * np.tanh(x[m // 2:])) + v + w              # with a gap

    g = symasd.trace(f, np.zeros(m))
    seg = segments(g)
    assert any(row[2] and row[4] == 2 and row[6] == 2 and abs(row[5] - row[3]) == 1
               for row in seg)
    rng = np.random.default_rng(11)
    x = rng.uniform(-1.5, 1.5, m)
    zero = rng.random(m) < 0.05
    x[zero] = np.where(rng.random(zero.sum()) < 0.5, 0.0, -0.0)
    V = rng.standard_normal((m, 3))
    Vz = V.copy()
    Vz[rng.random(m) < 0.2] = 0.0  # mixed zero tangents: the per-node rules
    for nan, S in ((None, V), (None, Vz), (1201, V)):
        if nan is not None:
            x[nan] = np.nan
        with np.errstate(all="ignore"):
            hvps = {name: hvp_numeric(g, x, (), S, plan=plan)
                    for name, plan in _plans(g).items()}
        ref = hvps["indexed"]
        for name, got in hvps.items():
            for u, v in zip(got[1:], ref[1:], strict=True):
                # the same NaNs (their sign bits may differ), every other entry bit for bit
                np.testing.assert_array_equal(np.isnan(u), np.isnan(v), err_msg=name)
                np.testing.assert_array_equal(u.view(np.int64)[~np.isnan(u)],
                                              v.view(np.int64)[~np.isnan(v)], err_msg=name)


def _poison_workspace():
    """Overwrite the start of the thread's work buffer (where the values go), so that
    a value a sweep reads without computing it is not the one the last sweep left."""
    (buf,) = _sweeps._work_arrays([1 << 14], [])
    buf.fill(7.25e3)


@settings(max_examples=40, deadline=None)
@given(prog=programs(max_steps=6, n_min=2, n_max=30), seed=st.integers(0, 7))
def test_hvp_without_value_computes_the_same_derivatives(prog, seed):
    """``value=False`` leaves out the node values that no derivative reads: the
    gradient and the products are those of the full sweep, on every plan, with
    NaN inputs and zero seed rows (a plain sum leaves the program's last ops
    with no tangent read, so their values are left out or not by the ops' rules)."""
    n = prog[0]
    x, V = _plan_inputs(prog, seed)
    for f in (lambda x: run_scalar(prog, x), lambda x: np.sum(run(prog, x))):
        _check_hvp_without_value(symasd.trace(f, np.zeros(n)), x, V)


def _check_hvp_without_value(g, x, V):
    with np.errstate(all="ignore"):
        for plan in (None, *_plans(g).values()):
            full = hvp_numeric(g, x, (), V, plan=plan)
            _poison_workspace()
            value, grad, HV = hvp_numeric(g, x, (), V, plan=plan, value=False)
            assert value is None
            np.testing.assert_array_equal(grad, full[1])
            np.testing.assert_array_equal(HV, full[2])


def test_hvp_without_value_skips_the_values_nobody_reads():
    n = 3000
    h = symasd.trace(_rosen, np.zeros(n))
    tangents = sweeps._sweep_plan(h).hvp_layouts(False)[0]
    assert tangents is not sweeps._sweep_plan(h).hvp_layouts(True)[0]
    x = np.random.default_rng(5).uniform(-1, 1, n)
    x[17] = np.nan
    V = (np.arange(n)[:, None] % 3 == np.arange(3)).astype(float)
    with np.errstate(all="ignore"):
        full = hvp_numeric(h, x, (), V)
        _poison_workspace()
        got = hvp_numeric(h, x, (), V, value=False)
        hes = symasd.hessian(_rosen, np.zeros(n), engine="tape")
        np.testing.assert_array_equal(hes(x).toarray(),
                                      hes.value_gradient_and_hessian(x)[2].toarray())
    assert got[0] is None
    np.testing.assert_array_equal(got[1], full[1])
    np.testing.assert_array_equal(got[2], full[2])
    args = (sweeps._sweep_plan(h), x, np.zeros(0), V)
    with pytest.raises(ValueError, match="compute no value"):
        _sweeps.hvp_sweep(*args, layouts=sweeps._sweep_plan(h).hvp_layouts(False))


def test_a_plan_that_does_not_describe_the_graph_is_refused():
    """The sweeps take a strided segment's opcode from its first node and its
    arguments from the plan's progressions: a plan whose strided row spans nodes
    of another opcode, or whose progressions are not the nodes' arguments, is
    refused, not swept into wrong numbers. (A plan holds no opcodes: another
    graph's plan of the same shape describes this graph as well.)"""
    x = np.linspace(0.1, 0.9, 6)
    g = symasd.trace(lambda v: np.sum(np.sin(v) * v[::-1]), x)
    h = symasd.trace(lambda v: np.sum(np.cos(v) * v[::-1]), x)
    V = np.eye(6)
    fine = _plans(g)["fine"]                    # strided rows from length 2
    own = hvp_numeric(g, x, (), V, plan=fine)
    for a, b in zip(hvp_numeric(g, x, (), V, plan=_plans(h)["fine"]), own, strict=True):
        np.testing.assert_array_equal(a, b)
    plan = np.array(fine)
    strided = np.flatnonzero((plan[:, 2] == 1) & (plan[:, 3] >= 0))
    # a strided row stretched over the first node of the next row (another opcode)
    r = int(next(r for r in strided if r + 1 < len(plan) and plan[r + 1, 1] - plan[r + 1, 0] > 1
                 and g.op[plan[r + 1, 0]] != g.op[plan[r, 0]]))
    bad = plan.copy()
    bad[r, 1] += 1
    bad[r + 1, 0] += 1
    with pytest.raises(ValueError, match=f"strided plan row {r}: node .* opcode"):
        hvp_numeric(g, x, (), V, plan=bad)
    # a progression that is not the nodes' arguments (v[::-1] read forwards)
    r = int(next(r for r in strided if plan[r, 4] == -1 or plan[r, 6] == -1))
    bad = plan.copy()
    t = 0 if bad[r, 4] == -1 else 1
    bad[r, 3 + 2 * t] -= (bad[r, 1] - bad[r, 0] - 1)
    bad[r, 4 + 2 * t] = 1
    with pytest.raises(ValueError, match=f"strided plan row {r}: argument {t}"):
        forward_numeric(g, x, (), V, plan=bad)
    with pytest.raises(ValueError, match=f"strided plan row {r}: argument {t}"):
        reverse_numeric(g, x, (), np.ones((1, 1)), plan=bad)


def test_indexed_rows_mixing_inputs_and_other_nodes_are_refused_and_never_built():
    """The kernels take a row whose first node is an input as a run of inputs:
    an indexed row of inputs and other nodes is refused, and the plan built when
    none is given (``SweepPlan(seg=None)``) splits rows where leaves end."""
    x = np.array([0.3, 0.5, 0.7, 1.1])
    g = symasd.trace(lambda v: np.sum(v[1:] * v[:-1]), x)
    assert g.op[0] == Code.VAR
    V = np.eye(4)
    with pytest.raises(ValueError, match="plan row 0: node .* not both leaves"):
        hvp_numeric(g, x, (), V, plan=np.array([[0, g.n_nodes, 0, -1, 0, -1, 0, -1, 0]]))
    built = _one_segment_plan(g).segments
    inputs = [(g.op[s:e] == Code.VAR) for s, e in built[:, :2]]
    assert len(built) > 1 and all(row.all() or not row.any() for row in inputs)
    value, grad, HV = hvp_numeric(g, x, (), V, plan=built)
    np.testing.assert_allclose(grad, [0.5, 1.0, 1.6, 0.7], rtol=1e-15)
    np.testing.assert_array_equal(HV, np.eye(4, k=1) + np.eye(4, k=-1))
    assert float(value) == pytest.approx(0.3 * 0.5 + 0.5 * 0.7 + 0.7 * 1.1)
