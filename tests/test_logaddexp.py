"""logaddexp, the op added by following docs/design.md ("Adding an op").

The generic tests pick it up from the op table (test_ops.py: VM against NumPy
on random and special values, partials against central differences;
test_op_tables.py: every C switch and Python rule). Here: extreme arguments,
where log(exp(x) + exp(y)) written out overflows, and the derivatives of whole
programs, compiled and on the tape, against the complex step.
"""

import mpmath
import numpy as np
import pytest
import sympy
from reference import assert_same_values, complex_step_hessian, complex_step_jacobian
from sympy.codegen.numpy_nodes import logaddexp as sympy_logaddexp

import symasd
from symasd.graph import Builder
from symasd.ops import Code


def _vm_logaddexp(x, y):
    b = Builder()
    v = b.variables(np.concatenate([x, y])).reshape(2, -1)
    out = b.binary(Code.LOGADDEXP, v[0], v[1])
    g = b.finish(out, (2, x.size), out.shape)
    return g(np.stack([x, y]))


def test_vm_matches_numpy_on_extreme_arguments():
    big = [800.0, -800.0, 1e308, -1e308, 5e-324, -5e-324, 1e-300, 709.8, -745.2, 0.0, -0.0,
           np.inf, -np.inf, np.nan]
    x, y = (v.ravel() for v in np.meshgrid(big, big, indexing="ij"))
    with np.errstate(all="ignore"):
        expected = np.logaddexp(x, y)
    assert_same_values(_vm_logaddexp(x, y), expected, err_msg="logaddexp")
    # overflow-free where the naive formula is not
    assert _vm_logaddexp(np.array([800.0]), np.array([800.0]))[0] == 800.0 + np.log(2.0)


def test_vm_matches_numpy_on_random_values():
    rng = np.random.default_rng(68)
    x = rng.standard_normal(2000) * rng.choice([1e-3, 1.0, 30.0, 600.0], 2000)
    y = rng.standard_normal(2000) * rng.choice([1e-3, 1.0, 30.0, 600.0], 2000)
    assert_same_values(_vm_logaddexp(x, y), np.logaddexp(x, y), err_msg="logaddexp")


def _f(x):
    return np.concatenate([np.logaddexp(x[:-1], 2.0 * x[1:]), np.logaddexp(x, 0.5)])


def _f_reference(x):
    """The same map in a form the complex step goes through: log(exp(a) + exp(b))
    shifted by a constant (the larger real part), which changes no derivative."""
    def lae(a, b):
        m = np.maximum(np.real(a), np.real(b))
        return m + np.log(np.exp(a - m) + np.exp(b - m))

    return np.concatenate([lae(x[:-1], 2.0 * x[1:]), lae(x, 0.5 + 0 * x)])


def _s(x):
    return np.sum(np.logaddexp(x[:-1] * x[1:], x[1:])) + np.sum(np.logaddexp(x, -x**2))


def _s_reference(x):
    def lae(a, b):
        m = np.maximum(np.real(a), np.real(b))
        return m + np.log(np.exp(a - m) + np.exp(b - m))

    return np.sum(lae(x[:-1] * x[1:], x[1:])) + np.sum(lae(x, -x**2))


@pytest.mark.parametrize("engine", ["vm", "tape"])
@pytest.mark.parametrize("scale", [1.0, 400.0])
def test_jacobian_against_complex_step(engine, scale):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(9) * scale
    jac = symasd.jacobian(_f, np.zeros(9), engine=engine)
    J = jac(x).toarray()
    assert np.isfinite(J).all()
    # atol: the complex step's h * J underflows where J is below about 1e-278
    np.testing.assert_allclose(J, complex_step_jacobian(_f_reference, x), rtol=1e-13,
                               atol=1e-250)
    np.testing.assert_allclose(jac.value_and_jacobian(x)[0], _f(x), rtol=1e-15)


@pytest.mark.parametrize("engine", ["vm", "tape"])
def test_hessian_against_complex_step(engine):
    rng = np.random.default_rng(2)
    x = rng.uniform(-1.5, 1.5, 7)
    hes = symasd.hessian(_s, np.zeros(7), engine=engine)
    v, g, H = hes.value_gradient_and_hessian(x)
    np.testing.assert_allclose(v, _s(x), rtol=1e-14)
    np.testing.assert_allclose(g, complex_step_jacobian(_s_reference, x)[0], rtol=1e-13)
    np.testing.assert_allclose(H.toarray(), complex_step_hessian(_s_reference, x), rtol=1e-7,
                               atol=1e-8)


@pytest.mark.parametrize("engine", ["vm", "tape"])
def test_hessian_is_finite_where_exp_overflows(engine):
    """Arguments near 800: exp overflows, the partials do not."""
    x = np.array([800.0, 801.0, -800.0])
    s = lambda v: np.logaddexp(v[0], v[1]) + np.logaddexp(v[1], v[2])  # noqa: E731
    H = symasd.hessian(s, np.zeros(3), engine=engine)(x).toarray()
    p = 1.0 / (1.0 + np.e)  # exp(800 - logaddexp(800, 801))
    expected = np.array([[p * (1 - p), -p * (1 - p), 0.0],
                         [-p * (1 - p), p * (1 - p), 0.0],
                         [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(H, expected, rtol=1e-12, atol=1e-300)


def test_sparsity_is_exact():
    J = symasd.jacobian_sparsity(_f, np.zeros(5)).toarray()
    expected = np.zeros((9, 5), dtype=bool)
    for i in range(4):
        expected[i, [i, i + 1]] = True
    expected[4 + np.arange(5), np.arange(5)] = True
    np.testing.assert_array_equal(J, expected)
    # a cross term between the two arguments, curvature in each
    H = symasd.hessian_sparsity(lambda v: np.logaddexp(v[0], v[1]) + v[2], np.zeros(3))
    np.testing.assert_array_equal(H.toarray(), [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_sympy_forms():
    x, y = sympy.symbols("x y")
    g = symasd.trace(lambda v: np.logaddexp(v[0], v[1]), np.zeros(2))
    assert g.to_sympy([x, y]) == [sympy.log(sympy.exp(x) + sympy.exp(y))]
    back = symasd.from_sympy([sympy_logaddexp(x, y)], [x, y])
    assert int(Code.LOGADDEXP) in back.op.tolist()
    point = np.array([700.0, 1.0])
    np.testing.assert_allclose(back(point), np.logaddexp(*point), rtol=1e-15)


def _lae_oracle(d):
    """Gradient and the d2/dx2 entry of logaddexp at (d, 0), by mpmath at 40 digits:
    p = 1 / (1 + e^-d), q = 1 - p, the Hessian is p q [[1, -1], [-1, 1]]."""
    with mpmath.workdps(40):
        p = 1 / (1 + mpmath.exp(-mpmath.mpf(d)))
        q = 1 / (1 + mpmath.exp(mpmath.mpf(d)))
        return float(p), float(q), float(p * q)


@pytest.mark.parametrize("engine", ["vm", "tape"])
@pytest.mark.parametrize("d", [20.0, 40.0, 300.0, -20.0, -40.0, -300.0])
def test_hessian_accurate_when_arguments_are_far_apart(engine, d):
    """The Hessian p q, with p next to 1 and q tiny: a rule that forms 1 - p
    loses it (at d = 40 it gave 0, the true value is 4e-18)."""
    hes = symasd.hessian(lambda v: np.logaddexp(v[0], v[1]), np.zeros(2), engine=engine)
    _, grad, H = hes.value_gradient_and_hessian(np.array([d, 0.0]))
    p, q, pq = _lae_oracle(d)
    np.testing.assert_allclose(grad, [p, q], rtol=1e-14, atol=0)
    np.testing.assert_allclose(H.toarray(), [[pq, -pq], [-pq, pq]], rtol=1e-12, atol=0)


INF = np.inf
# (x, y), value, gradient: the limits; at equal infinities the symmetric limit along
# x = y (p = q = 1/2). The second partials are 0 at every infinite argument.
AT_INFINITY = [
    ((INF, 0.0), INF, (1.0, 0.0)), ((0.0, INF), INF, (0.0, 1.0)),
    ((-INF, 0.0), 0.0, (0.0, 1.0)), ((3.0, -INF), 3.0, (1.0, 0.0)),
    ((INF, -INF), INF, (1.0, 0.0)), ((-INF, INF), INF, (0.0, 1.0)),
    ((INF, INF), INF, (0.5, 0.5)), ((-INF, -INF), -INF, (0.5, 0.5)),
]


@pytest.mark.parametrize("engine", ["vm", "tape"])
@pytest.mark.parametrize("point,value,grad", AT_INFINITY)
def test_limits_at_infinite_arguments(engine, point, value, grad):
    hes = symasd.hessian(lambda v: np.logaddexp(v[0], v[1]), np.zeros(2), engine=engine)
    v, g, H = hes.value_gradient_and_hessian(np.array(point))
    assert v == value
    np.testing.assert_array_equal(g, grad)
    np.testing.assert_array_equal(H.toarray(), np.zeros((2, 2)))
    J = symasd.jacobian(lambda v: np.logaddexp(v[:1], v[1:]), np.zeros(2), engine=engine)
    np.testing.assert_array_equal(J(np.array(point)).toarray(), [grad])
