"""The scipy.special ops: values and first and second derivatives of the C rules
(tape) and of the compiled partials (vm) against mpmath at 40 digits, the tails
of log_ndtr included; tracing of the SciPy ufuncs; the series constants."""

import mpmath as mp
import numpy as np
import pytest
import scipy.special as special
from reference import assert_same_values, complex_step_hessian, complex_step_jacobian

import symasd
from symasd import ops

mp.mp.dps = 40

# (scipy function, mpmath function, points where it is well conditioned)
CASES = {
    "erf": (special.erf, mp.erf, [-5.0, -1.3, -0.2, 1e-8, 0.7, 2.5, 5.5]),
    "erfc": (special.erfc, mp.erfc, [-3.0, -0.4, 0.0, 0.9, 3.0, 8.0, 20.0]),
    "expit": (special.expit, lambda x: 1 / (1 + mp.exp(-x)), [-40.0, -5.0, -0.3, 0.0, 1.0,
                                                            8.0, 35.0]),
    "logit": (special.logit, lambda p: mp.log(p / (1 - p)), [1e-9, 0.01, 0.3, 0.49, 0.51,
                                                           0.8, 0.999999]),
    "gammaln": (special.gammaln, lambda x: mp.log(abs(mp.gamma(x))),
                [-3.7, -1.5, -0.4, 0.01, 0.5, 3.5, 7.3, 60.0, 1e3]),
    "log_ndtr": (special.log_ndtr, lambda x: mp.log(mp.ncdf(x)),
                 [-1e3, -60.0, -20.0, -10.5, -10.0, -9.5, -5.0, -1.0, 0.0, 1.0, 3.0, 6.5,
                  8.0]),
    "psi": (special.psi, mp.digamma, [-3.3, -0.7, 0.1, 0.9, 1.0, 1.3, 1.7, 2.0, 2.6, 9.9,
                                      10.1, 55.0, 1e5]),
}


def _rel(got, ref):
    return abs(got - ref) / max(abs(ref), 1e-300)


def _elementwise(name):
    fn = CASES[name][0]
    return lambda x: fn(x)


@pytest.mark.parametrize("name", CASES)
def test_values_and_derivatives_against_mpmath(name):
    fn, ref, points = CASES[name]
    x = np.array(points)
    g = symasd.trace(_elementwise(name), x)
    vals = g(x)
    # relative 4e-15, and 1e-14 for log_ndtr above 0: there log1p(-erfc(x / sqrt(2)) / 2)
    # amplifies the rounding of x / sqrt(2) by x^2 (4.6e-15 at x = 6.5)
    tol = 1e-14 if name == "log_ndtr" else 4e-15
    for k, p in enumerate(points):
        assert _rel(vals[k], float(ref(mp.mpf(p)))) < tol, (name, p, vals[k])
    d1 = [float(mp.diff(ref, mp.mpf(p))) for p in points]
    d2 = [float(mp.diff(ref, mp.mpf(p), 2)) for p in points]

    def total(v):
        return np.sum(fn(v))

    for engine in ("vm", "tape"):
        J = symasd.jacobian(_elementwise(name), x, engine=engine)(x).diagonal()
        v, grad, H = symasd.hessian(total, x, engine=engine).value_gradient_and_hessian(x)
        for k, p in enumerate(points):
            assert _rel(J[k], d1[k]) < 1e-13, (name, engine, p, J[k], d1[k])
            assert _rel(grad[k], d1[k]) < 1e-13, (name, engine, p)
            # second derivatives: relative 1e-12 (cancellation of x + r in log_ndtr's
            # direct form near -10 costs two digits there)
            tol = 1e-11 if name == "log_ndtr" else 1e-12
            assert abs(H[k, k] - d2[k]) <= tol * abs(d2[k]) + 1e-15, \
                (name, engine, p, H[k, k], d2[k])
        assert H.nnz == len(points) or name in ("erf", "erfc")  # a diagonal Hessian


def test_polygamma_orders_and_negative_arguments_against_mpmath():
    points = [-7.3, -2.5, -1.5, -0.6, 0.3, 1.0, 2.5, 11.0, 40.0]
    for n in (1, 2, 3, 4):
        x = np.array(points)
        g = symasd.trace(lambda v, n=n: special.polygamma(n, v), x)
        for k, p in enumerate(points):
            ref = float(mp.polygamma(n, mp.mpf(p)))
            assert _rel(g(x)[k], ref) < 1e-13, (n, p, g(x)[k], ref)
        J = symasd.jacobian(lambda v, n=n: special.polygamma(n, v), x)(x).diagonal()
        for k, p in enumerate(points):
            assert _rel(J[k], float(mp.polygamma(n + 1, mp.mpf(p)))) < 1e-13, (n, p)


def test_special_values_are_scipys():
    special_values = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 2.5, np.inf, -np.inf, np.nan,
                               -40.0, 40.0])
    with np.errstate(all="ignore"):
        for fn in (special.erf, special.erfc, special.expit, special.logit, special.gammaln,
                   special.log_ndtr, special.psi):
            got = symasd.trace(lambda v, fn=fn: fn(v), special_values)(special_values)
            exp = fn(special_values)
            assert np.array_equal(np.isnan(got), np.isnan(exp)), fn.__name__
            inf = np.isinf(exp)
            np.testing.assert_array_equal(got[inf], exp[inf], err_msg=fn.__name__)
        for n in (1, 2, 3):
            got = symasd.trace(lambda v, n=n: special.polygamma(n, v), special_values)(
                special_values)
            exp = special.polygamma(n, special_values)
            assert np.array_equal(np.isnan(got), np.isnan(exp))
            np.testing.assert_array_equal(got[np.isinf(exp)], exp[np.isinf(exp)])


def test_xlogy_and_xlog1py():
    x = np.array([0.0, 0.0, 2.0, -1.5, 0.7])
    y = np.array([0.0, 3.0, 0.5, 2.0, 1.3])
    for fn, log in ((special.xlogy, np.log), (special.xlog1py, np.log1p)):
        f = lambda v, fn=fn: fn(v[:5], v[5:])  # noqa: E731
        v0 = np.concatenate([x, y])
        with np.errstate(all="ignore"):
            assert_same_values(symasd.trace(f, v0)(v0), fn(x, y))
        z = np.concatenate([np.array([0.4, 1.1, 2.0, -1.5, 0.7]), y + 0.5])
        for engine in ("vm", "tape"):
            J = symasd.jacobian(f, z, engine=engine)(z).toarray()
            ref = complex_step_jacobian(lambda w, log=log: w[:5] * log(w[5:]), z)
            np.testing.assert_allclose(J, ref, rtol=1e-13)
            H = symasd.hessian(lambda w, f=f: np.sum(f(w)), z, engine=engine)(z).toarray()
            np.testing.assert_allclose(H, complex_step_hessian(
                lambda w, log=log: np.sum(w[:5] * log(w[5:])), z), rtol=1e-6, atol=1e-8)
        # at x = 0 the function is 0 for every y, and its x-derivative is log(y)
        J0 = symasd.jacobian(f, v0)(v0).toarray()
        np.testing.assert_allclose(J0[1, 1], log(3.0))


def test_the_series_constants_are_what_ops_says():
    """DIGAMMA_SERIES are psi^(k)(center) / k! (the comment in ops.py), and
    LOG_NDTR_Q the coefficients (-1)^k (2k-1)!!."""
    for k, c in enumerate(ops.DIGAMMA_SERIES):
        ref = mp.polygamma(k, mp.mpf(ops.DIGAMMA_CENTER)) / mp.factorial(k)
        assert abs(c - float(ref)) <= 1e-16 * max(abs(float(ref)), 1e-17)
    assert abs(float(mp.digamma(mp.mpf(ops.DIGAMMA_CENTER)))) < 1e-16  # the root
    for k, c in enumerate(ops.LOG_NDTR_Q, start=1):
        assert c == (-1) ** k * float(mp.fac2(2 * k - 1))


def test_scipy_special_functions_trace_and_name_their_module():
    x = np.linspace(0.1, 0.9, 5)
    for fn in (special.erf, special.erfc, special.expit, special.logit, special.gammaln,
               special.log_ndtr, special.psi, special.digamma):
        g = symasd.trace(lambda v, fn=fn: fn(v), x)
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(g(x), fn(x), rtol=1e-14)
    with pytest.raises(symasd.TracingError, match="scipy.special.ndtri is not supported"):
        symasd.trace(lambda v: special.ndtri(v), x)
