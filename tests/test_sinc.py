"""sinc, the second op added by docs/design.md ("Adding an op").

The generic tests pick it up from the op table; here: values next to 0, and
first and second derivatives (compiled and on the tape) on both sides of the
switch between the closed forms and the Maclaurin series (``ops.SINC_SERIES``),
at 0 itself included, against mpmath at 40 digits.
"""

import mpmath
import numpy as np
import pytest
import sympy
from reference import assert_same_values

import symasd
from symasd.ops import SINC_SERIES

T = SINC_SERIES
POINTS = np.array([0.0, -0.0, 1e-300, 1e-9, -3e-5, 0.03, T * (1 - 1e-9), -T * (1 - 1e-9), T,
                   -T, T * (1 + 1e-9), 0.25, 0.5, -1.0, 1.5, 2.0, 7.25, -40.5])


def _oracle(x, n):
    with mpmath.workdps(40):
        return float(mpmath.diff(lambda t: mpmath.sinc(mpmath.pi * t), mpmath.mpf(x), n))


def test_values_match_numpy_next_to_zero_and_at_special_values():
    x = np.concatenate([POINTS, [5e-324, -5e-324, 1e-20, 1e308, -1e308, np.inf, -np.inf,
                                 np.nan, 1.0, 3.0, -2.5]])
    g = symasd.trace(np.sinc, np.zeros(x.size))
    with np.errstate(all="ignore"):
        assert_same_values(g(x), np.sinc(x), err_msg="sinc")


@pytest.mark.parametrize("engine", ["vm", "tape"])
def test_gradient_and_hessian_against_mpmath(engine):
    hes = symasd.hessian(lambda v: np.sum(np.sinc(v)), np.ones(POINTS.size), engine=engine)
    value, grad, H = hes.value_gradient_and_hessian(POINTS)
    np.testing.assert_allclose(value, np.sum(np.sinc(POINTS)), rtol=1e-14)
    d1 = np.array([_oracle(x, 1) for x in POINTS])
    d2 = np.array([_oracle(x, 2) for x in POINTS])
    np.testing.assert_allclose(grad, d1, rtol=1e-12, atol=1e-15)
    assert H.nnz == POINTS.size  # the diagonal
    np.testing.assert_allclose(H.diagonal(), d2, rtol=1e-12, atol=1e-15)
    assert grad[0] == 0.0 and np.isclose(H[0, 0], -np.pi**2 / 3, rtol=1e-15, atol=0)


@pytest.mark.parametrize("engine", ["vm", "tape"])
def test_jacobian_of_a_composition(engine):
    f = lambda v: np.sinc(v[:-1] * v[1:]) + np.sinc(v[1:])  # noqa: E731
    x = np.array([0.0, 0.02, 0.7, -1.3, 0.5])
    J = symasd.jacobian(f, np.ones(5), engine=engine)(x).toarray()
    expected = np.zeros((4, 5))
    for i in range(4):
        d = _oracle(x[i] * x[i + 1], 1)
        expected[i, i] = d * x[i + 1]
        expected[i, i + 1] = d * x[i] + _oracle(x[i + 1], 1)
    np.testing.assert_allclose(J, expected, rtol=1e-12, atol=1e-15)


def test_sympy_form():
    x = sympy.Symbol("x")
    g = symasd.trace(lambda v: np.sinc(v[0]), np.zeros(1))
    assert g.to_sympy([x]) == [sympy.sinc(sympy.pi * x)]
