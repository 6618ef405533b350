"""symasd.solvers.solve_ivp: stiff problems with published reference solutions,
the Jacobian the integrators receive (sparse, banded for LSODA), t as a
parameter, a solution that blows up, reuse and bad input."""

import numpy as np
import pytest
import scipy.integrate
import scipy.sparse as sp
from reference import central_jacobian

from symasd import InputError, TracingError, solvers


def hires(t, y):
    """HIRES (Schaefer 1975), problem of Hairer & Wanner's stiff test set."""
    y1, y2, y3, y4, y5, y6, y7, y8 = y
    r = 280.0 * y6 * y8
    return np.stack([-1.71 * y1 + 0.43 * y2 + 8.32 * y3 + 0.0007, 1.71 * y1 - 8.75 * y2,
                     -10.03 * y3 + 0.43 * y4 + 0.035 * y5, 8.32 * y2 + 1.71 * y3 - 1.12 * y4,
                     -1.745 * y5 + 0.43 * y6 + 0.43 * y7,
                     -r + 0.69 * y4 + 1.71 * y5 - 0.43 * y6 + 0.69 * y7,
                     r - 1.81 * y7, -r + 1.81 * y7])


HIRES_Y0 = np.array([1.0, 0, 0, 0, 0, 0, 0, 0.0057])
HIRES_T = 321.8122
# the reference solution of the Test Set for IVP Solvers (Mazzia & Magherini, Bari),
# computed with RADAU5 in quadruple precision
HIRES_REF = np.array([0.7371312573325668e-3, 0.1442485726316185e-3, 0.5888729740967575e-4,
                      0.1175651343283149e-2, 0.2386356198831331e-2, 0.6238968252742796e-2,
                      0.2849998395185769e-2, 0.2850001604814231e-2])


def robertson(t, y, k1, k2, k3):
    return np.stack([-k1 * y[0] + k3 * y[1] * y[2],
                     k1 * y[0] - k3 * y[1] * y[2] - k2 * y[1] ** 2,
                     k2 * y[1] ** 2])


# ROBER at t = 1e11, same test set
ROBER_REF = np.array([0.2083340149701255e-7, 0.8333360770334713e-13, 0.9999999791665050])


@pytest.fixture
def spy(monkeypatch):
    seen = {}
    original = scipy.integrate.solve_ivp

    def spying(fun, t_span, y0, **kw):
        seen.update(kw)
        if callable(kw.get("jac")):
            seen["J0"] = kw["jac"](t_span[0], y0, *kw.get("args", ()))
        return original(fun, t_span, y0, **kw)

    monkeypatch.setattr(scipy.integrate, "solve_ivp", spying)
    return seen


@pytest.mark.parametrize("method, rtol, err", [("BDF", 1e-10, 1e-6), ("Radau", 1e-10, 1e-9),
                                               ("LSODA", 1e-10, 1e-6)])
def test_hires_reference_solution(method, rtol, err, spy):
    sol = solvers.solve_ivp(hires, (0.0, HIRES_T), HIRES_Y0, method=method, rtol=rtol,
                            atol=1e-2 * rtol)
    assert sol.success and sol.njev > 0
    assert np.abs(sol.y[:, -1] / HIRES_REF - 1).max() < err
    J0 = spy["J0"]
    ref = central_jacobian(lambda y: hires(0.0, y), HIRES_Y0)
    if method == "LSODA":
        assert isinstance(J0, np.ndarray) and "lband" not in spy    # not banded: dense
        np.testing.assert_allclose(J0, ref, atol=1e-8)
    else:
        assert sp.issparse(J0)
        expected = sp.csr_array(np.abs(ref) > 0)
        # the structural pattern: HIRES's, with (6,6) and (8,6) that vanish at y6 = 0
        P = J0 != 0
        assert ((P > expected).nnz, (expected > P).nnz) == (0, 0)


def test_robertson_to_1e11_with_rate_constants_as_parameters():
    k = (np.array(0.04), np.array(3e7), np.array(1e4))
    sol = solvers.solve_ivp(robertson, (0.0, 1e11), np.array([1.0, 0.0, 0.0]), args=k,
                            method="BDF", rtol=1e-10, atol=1e-20, first_step=1e-10)
    assert sol.success
    np.testing.assert_allclose(sol.y[:, -1], ROBER_REF, rtol=1e-8)


def _heat(t, y, c):
    """y' = c * (y_{i-1} - 2 y_i + y_{i+1}) - y^3 + sin(t): tridiagonal, t-dependent."""
    lap = np.concatenate([[0.0], y[:-1]]) - 2.0 * y + np.concatenate([y[1:], [0.0]])
    return c * lap - y ** 3 + np.sin(t)


def test_lsoda_gets_the_packed_band_and_agrees_with_bdf(spy):
    y0 = np.linspace(0.0, 1.0, 50)
    c = np.array(400.0)
    a = solvers.solve_ivp(_heat, (0.0, 2.0), y0, method="LSODA", args=(c,), rtol=1e-9,
                          atol=1e-11)
    assert spy["lband"] == 1 and spy["uband"] == 1 and spy["J0"].shape == (3, 50)
    # packed band: row uband + i - j holds J[i, j]
    J = central_jacobian(lambda y: _heat(0.0, y, c), y0)
    np.testing.assert_allclose(spy["J0"][1], np.diag(J), rtol=1e-7)
    np.testing.assert_allclose(spy["J0"][0, 1:], np.diag(J, 1), rtol=1e-7)
    b = solvers.solve_ivp(_heat, (0.0, 2.0), y0, method="BDF", args=(c,), rtol=1e-9,
                          atol=1e-11)
    assert sp.issparse(spy["J0"]) and spy["J0"].nnz == 3 * 50 - 2
    np.testing.assert_allclose(a.y[:, -1], b.y[:, -1], rtol=1e-6, atol=1e-8)


def test_t_is_a_parameter_of_the_jacobian():
    ode = solvers.IVPProblem(lambda t, y: -t * y ** 2, np.ones(3))
    for t in (0.5, 2.0):
        np.testing.assert_allclose(ode.jacobian(np.full(3, 2.0), np.array([t])).toarray(),
                                   -4.0 * t * np.eye(3))
    sol = ode.solve((0.0, 2.0), rtol=1e-10, atol=1e-12)      # y = 1 / (1 + t^2 / 2)
    np.testing.assert_allclose(sol.y[:, -1], 1.0 / 3.0, rtol=1e-7)


def test_a_solution_that_blows_up_ends_with_a_message():
    sol = solvers.solve_ivp(lambda t, y: y ** 2, (0.0, 2.0), np.ones(1))   # y = 1 / (1 - t)
    assert sol.success is False and sol.status == -1 and sol.message
    assert sol.t[-1] < 1.0


def test_prepared_problem_reuses_the_trace_and_events_get_args():
    calls = []

    def rhs(t, y, k):
        calls.append(1)
        return -k * y

    ode = solvers.IVPProblem(rhs, np.ones(2), args=(np.array([1.0, 2.0]),))
    hit = []

    def event(t, y, k):
        hit.append(k.copy())
        return y[0] - 0.5
    event.terminal = True
    for k in ([1.0, 2.0], [3.0, 1.0]):
        sol = ode.solve((0.0, 5.0), args=(np.array(k),), events=event, rtol=1e-10, atol=1e-12)
        assert sol.status == 1
        np.testing.assert_allclose(sol.t_events[0], np.log(2.0) / k[0], rtol=1e-7)
    assert len(calls) == 1 and sol.prepare_time == 0.0
    np.testing.assert_array_equal(hit[-1], [3.0, 1.0])


def test_explicit_methods_pass_through_untraced():
    sol = solvers.solve_ivp(lambda t, y: -y if y[0] > 0 else y, (0.0, 1.0), np.ones(1),
                            method="RK45", rtol=1e-8)
    assert sol.success and abs(sol.y[0, -1] - np.exp(-1.0)) < 1e-6


def test_bad_input():
    with pytest.raises(InputError, match="y0 must be 1-dimensional"):
        solvers.solve_ivp(lambda t, y: -y, (0, 1), np.ones((2, 2)))
    with pytest.raises(InputError, match=r"fun returns an array of shape \(2,\), but y0 has "
                                         r"shape \(3,\)"):
        solvers.solve_ivp(lambda t, y: y[:2], (0, 1), np.ones(3))
    with pytest.raises(InputError, match="jac= is supplied by symasd"):
        solvers.solve_ivp(lambda t, y: -y, (0, 1), np.ones(3), jac=lambda t, y: -np.eye(3))
    with pytest.raises(InputError, match="unknown method 'Euler'"):
        solvers.solve_ivp(lambda t, y: -y, (0, 1), np.ones(3), method="Euler")
    with pytest.raises(TracingError, match="fun: .*branch"):
        solvers.solve_ivp(lambda t, y: -y if t > 1 else y, (0, 2), np.ones(3))
    with pytest.raises(InputError, match="t_span must be a pair of numbers"):
        solvers.solve_ivp(lambda t, y: -y, 1.0, np.ones(3))
    with pytest.raises(InputError, match="t_span must be finite"):
        solvers.solve_ivp(lambda t, y: -y, (0, np.inf), np.ones(3))
    with pytest.raises(InputError, match="solve_ivp rejected an argument: Values in `t_eval`"):
        solvers.solve_ivp(lambda t, y: -y, (0, 1), np.ones(3), t_eval=[2.0])
    with pytest.raises(TracingError, match="float arrays in args are traced as parameters"):
        solvers.solve_ivp(lambda t, y, k: -y if k[0] > 0 else y, (0, 1), np.ones(3),
                          args=(np.ones(1),))
    ode = solvers.IVPProblem(lambda t, y, k: -k * y, np.ones(3), args=(np.ones(3),))
    with pytest.raises(InputError, match=r"args\[0\] has shape \(2,\)"):
        ode.solve((0, 1), args=(np.ones(2),))
    with pytest.raises(InputError, match=r"y0 has shape \(4,\)"):
        ode.solve((0, 1), y0=np.ones(4))


@pytest.mark.parametrize("method", ["BDF", "Radau", "LSODA"])
def test_a_right_hand_side_that_is_not_finite_at_the_start_is_refused(method):
    """sqrt(y - 2) at y0 = 1 is NaN: SciPy's BDF and Radau failed with a singular
    factor; now the start is refused with what to do."""
    with pytest.raises(InputError, match=r"fun\(t0, y0\) is not finite"):
        solvers.solve_ivp(lambda t, y: np.sqrt(y - 2.0), (0.0, 1.0), np.ones(3),
                          method=method)
