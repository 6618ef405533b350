"""symasd.solvers.least_squares: curve fits with known parameters, the sparse
Jacobian SciPy receives, pass-through of SciPy's options, reuse, bad input."""

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp

from symasd import InputError, TracingError, solvers

T = np.linspace(0.0, 3.0, 40)


def decay(p, t, y):
    return p[0] * np.exp(-p[1] * t) + p[2] - y


@pytest.fixture
def spy(monkeypatch):
    """What scipy.optimize.least_squares was called with, and what its jac returned."""
    seen = {}
    original = scipy.optimize.least_squares

    def spying(fun, x0, jac, **kw):
        seen["J0"] = jac(x0)
        seen["kwargs"] = kw
        return original(fun, x0, jac=jac, **kw)

    monkeypatch.setattr(scipy.optimize, "least_squares", spying)
    return seen


def test_exact_data_gives_the_parameters(spy):
    y = 2.5 * np.exp(-1.3 * T) + 0.5
    r = solvers.least_squares(decay, np.ones(3), args=(T, y))
    assert r.success
    np.testing.assert_allclose(r.x, [2.5, 1.3, 0.5], rtol=1e-10)
    # a small problem: the exact Jacobian as a dense array, as SciPy uses with its own
    # finite differences
    J = spy["J0"]
    assert isinstance(J, np.ndarray) and J.shape == (40, 3)
    np.testing.assert_allclose(J[:, 0], np.exp(-T), rtol=1e-15)
    np.testing.assert_allclose(J[:, 1], -T * np.exp(-T), rtol=1e-15)


def test_noisy_data_agrees_with_scipy_and_analytic_derivatives():
    rng = np.random.default_rng(3)
    y = 2.5 * np.exp(-1.3 * T) + 0.5 + 0.01 * rng.standard_normal(T.size)
    r = solvers.least_squares(decay, np.ones(3), args=(T, y), xtol=1e-14, ftol=1e-14)

    def jac(p, t, y):
        e = np.exp(-p[1] * t)
        return np.stack([e, -p[0] * t * e, np.ones_like(t)], axis=1)

    ref = scipy.optimize.least_squares(decay, np.ones(3), jac=jac, args=(T, y), xtol=1e-14,
                                       ftol=1e-14)
    np.testing.assert_allclose(r.x, ref.x, rtol=1e-9)
    np.testing.assert_allclose(r.x, [2.5, 1.3, 0.5], atol=0.05)


K = 80  # independent fits of the same model: a block-diagonal (40 K) x (3 K) Jacobian


def many_decays(P, t, Y):
    P = P.reshape(K, 3)
    return (P[:, :1] * np.exp(-P[:, 1:2] * t) + P[:, 2:] - Y).ravel()


def test_a_large_sparse_fit_gets_the_predicted_block_structure(spy):
    rng = np.random.default_rng(0)
    truth = np.column_stack([rng.uniform(1, 3, K), rng.uniform(0.5, 2, K), rng.uniform(0, 1, K)])
    Y = truth[:, :1] * np.exp(-truth[:, 1:2] * T) + truth[:, 2:]
    r = solvers.least_squares(many_decays, np.ones(3 * K), args=(T, Y))
    assert r.success
    np.testing.assert_allclose(r.x.reshape(K, 3), truth, rtol=1e-6)
    J = spy["J0"]
    assert sp.issparse(J) and J.shape == (40 * K, 3 * K)
    predicted = sp.csr_array(sp.block_diag([np.ones((40, 3))] * K))
    np.testing.assert_array_equal(J.indptr, predicted.indptr)
    np.testing.assert_array_equal(J.indices, predicted.indices)


def test_bounds_and_scipy_options_pass_through(spy):
    y = 2.5 * np.exp(-1.3 * T) + 0.5
    r = solvers.least_squares(decay, np.ones(3), args=(T, y), bounds=([0, 0, 0], [2.0, 5, 5]),
                              loss="soft_l1", f_scale=0.1, max_nfev=200)
    assert r.x[0] == pytest.approx(2.0) and r.active_mask[0] == 1
    assert spy["kwargs"]["loss"] == "soft_l1" and spy["kwargs"]["f_scale"] == 0.1
    for kw in ({"method": "lm"}, {"tr_solver": "exact"}, {"method": "dogbox"}):
        r = solvers.least_squares(decay, np.ones(3), args=(T, y), **kw)
        np.testing.assert_allclose(r.x, [2.5, 1.3, 0.5], rtol=1e-8)
    r = solvers.least_squares(decay, np.ones(3), args=(T, y), tr_solver="lsmr")
    assert sp.issparse(spy["J0"])
    np.testing.assert_allclose(r.x, [2.5, 1.3, 0.5], rtol=1e-6)


def test_matrix_shaped_parameters_and_fun_kwargs():
    def fun(P, t, y, scale=1.0):
        return (scale * P[0, 0] * np.exp(-P[1, 0] * t)) - y
    y = 4.0 * np.exp(-0.7 * T)
    r = solvers.least_squares(fun, np.ones((2, 1)), args=(T, y), kwargs={"scale": 2.0})
    assert r.x.shape == (2, 1)
    np.testing.assert_allclose(r.x.ravel(), [2.0, 0.7], rtol=1e-10)


def test_a_fit_without_a_minimizer_stops_with_a_message():
    # 0.5 * exp(-x)^2 decreases towards 0 as x -> inf: no minimizer (SciPy stops where the
    # gradient is below gtol, near x = 17; the evaluation budget ends it before that)
    r = solvers.least_squares(lambda x: np.exp(-x), np.zeros(1), max_nfev=10, ftol=None,
                              xtol=None, gtol=1e-15)
    assert r.success is False and r.status == 0 and "maximum number" in r.message


def test_prepared_fit_reuses_the_trace():
    calls = []

    def counted(p, t, y):
        calls.append(1)
        return decay(p, t, y)

    fit = solvers.LeastSquaresProblem(counted, np.ones(3), args=(T, np.zeros_like(T)))
    for a, b, c in [(2.0, 1.0, 0.0), (1.0, 0.3, 2.0)]:
        r = fit.solve(args=(T, a * np.exp(-b * T) + c))
        np.testing.assert_allclose(r.x, [a, b, c], rtol=1e-9, atol=1e-12)
    assert len(calls) == 1 and r.prepare_time == 0.0


def test_bad_input():
    y = np.exp(-T)
    with pytest.raises(InputError, match=r"lower bound has shape \(2,\), but x0 has shape \(3,\)"):
        solvers.least_squares(decay, np.ones(3), args=(T, y), bounds=([0, 0], [1, 1]))
    with pytest.raises(InputError, match="lower bound 1.0 >= upper bound 1.0"):
        solvers.least_squares(decay, np.ones(3), args=(T, y), bounds=(1.0, 1.0))
    with pytest.raises(InputError, match=r"x0 is outside the bounds: x0\[0\] = 1.0"):
        solvers.least_squares(decay, np.ones(3), args=(T, y), bounds=(2.0, 3.0))
    with pytest.raises(InputError, match="jac= is supplied by symasd"):
        solvers.least_squares(decay, np.ones(3), args=(T, y), jac="3-point")
    with pytest.raises(InputError, match="'lm' does not take bounds"):
        solvers.least_squares(decay, np.ones(3), args=(T, y), method="lm", bounds=(0, 5))
    with pytest.raises(InputError, match="not finite"):
        solvers.least_squares(lambda p: np.log(p), -np.ones(2))
    with pytest.raises(TracingError, match="fun raised IndexError"):
        solvers.least_squares(decay, np.ones(2), args=(T, y))
    with pytest.raises(InputError, match="'lm' needs at least as many residuals"):
        solvers.least_squares(lambda p: p[:1] ** 2, np.ones(2), method="lm")
    with pytest.raises(InputError, match="least_squares rejected an argument: Inconsistent "
                                         "shapes between `x_scale` and `x0`"):
        solvers.least_squares(decay, np.ones(3), args=(T, y), x_scale=np.ones(2))
    fit = solvers.LeastSquaresProblem(decay, np.ones(3), args=(T, y))
    with pytest.raises(InputError, match=r"args\[1\] has shape \(3,\)"):
        fit.solve(args=(T, np.ones(3)))
