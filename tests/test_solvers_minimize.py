"""symasd.solvers.minimize with trust-constr and IPOPT: Hock-Schittkowski problems
with known solutions, the structures the solvers receive, multipliers (KKT
residuals), problems without a solution, reuse, a missing IPOPT, bad input."""

import sys

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from programs import programs, run_scalar
from reference import central_jacobian, complex_step_hessian
from scipy.optimize import Bounds, LinearConstraint, NonlinearConstraint

from symasd import InputError, MissingDependencyError, TracingError, solvers
from symasd.solvers import ipopt

HAVE_IPOPT = True
try:
    import cyipopt
except ImportError:  # the test extra installs it (symasd[ipopt]); without it, only those skip
    HAVE_IPOPT = False

needs_ipopt = pytest.mark.skipif(not HAVE_IPOPT, reason='cyipopt is not installed: '
                                 'pip install "symasd[ipopt]"')
METHODS = ["trust-constr", pytest.param("ipopt", marks=needs_ipopt)]
# trust-constr's interior point stops on the barrier problem's optimality (SciPy's test
# leaves out complementarity), so with inequalities it is less exact than IPOPT
TOL = {"trust-constr": 1e-4, "ipopt": 1e-7}
TIGHT = {"trust-constr": {"gtol": 1e-12, "xtol": 1e-12, "maxiter": 3000}, "ipopt": {}}


def hs071_f(x):
    return x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2]


HS071 = dict(
    fun=hs071_f, x0=np.array([1.0, 5.0, 5.0, 1.0]), bounds=Bounds(1.0, 5.0),
    constraints=[NonlinearConstraint(lambda x: np.prod(x), 25.0, np.inf),
                 NonlinearConstraint(lambda x: np.sum(x ** 2), 40.0, 40.0)])
HS071_X = np.array([1.00000000, 4.74299963, 3.82114998, 1.37940829])


def hs038_f(x):
    return (100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2 + 90 * (x[3] - x[2] ** 2) ** 2
            + (1 - x[2]) ** 2 + 10.1 * ((x[1] - 1) ** 2 + (x[3] - 1) ** 2)
            + 19.8 * (x[1] - 1) * (x[3] - 1))


def hs035_f(x):
    return (9 - 8 * x[0] - 6 * x[1] - 4 * x[2] + 2 * x[0] ** 2 + 2 * x[1] ** 2 + x[2] ** 2
            + 2 * x[0] * x[1] + 2 * x[0] * x[2])


def hs040_c(x):
    return np.stack([x[0] ** 3 + x[1] ** 2 - 1, x[0] ** 2 * x[3] - x[2], x[3] ** 2 - x[1]])


# (name, problem, x*, f*): from Hock & Schittkowski, "Test Examples for Nonlinear
# Programming Codes" (1981)
PROBLEMS = [
    ("hs006", dict(fun=lambda x: (1 - x[0]) ** 2, x0=np.array([-1.2, 1.0]),
                   constraints={"type": "eq", "fun": lambda x: 10 * (x[1] - x[0] ** 2)}),
     np.array([1.0, 1.0]), 0.0),
    ("hs021", dict(fun=lambda x: 0.01 * x[0] ** 2 + x[1] ** 2 - 100, x0=np.array([-1.0, -1.0]),
                   bounds=[(2, 50), (-50, 50)],
                   constraints=LinearConstraint([[10.0, -1.0]], 10.0, np.inf)),
     np.array([2.0, 0.0]), -99.96),
    ("hs035", dict(fun=hs035_f, x0=np.full(3, 0.5), bounds=Bounds(0.0, np.inf),
                   constraints=LinearConstraint([[1.0, 1.0, 2.0]], -np.inf, 3.0)),
     np.array([4 / 3, 7 / 9, 4 / 9]), 1 / 9),
    ("hs038", dict(fun=hs038_f, x0=np.array([-3.0, -1.0, -3.0, -1.0]),
                   bounds=[(-10, 10)] * 4), np.ones(4), 0.0),
    ("hs040", dict(fun=lambda x: -np.prod(x), x0=np.full(4, 0.8),
                   constraints=NonlinearConstraint(hs040_c, 0.0, 0.0)),
     2.0 ** -np.array([1 / 3, 1 / 2, 11 / 12, 1 / 4]), -0.25),
    ("hs071", HS071, HS071_X, 17.0140173),
]


def _solve(method, problem, **kw):
    p = dict(problem)
    return solvers.minimize(p.pop("fun"), p.pop("x0"), method=method, options=TIGHT[method],
                            **p, **kw)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name, problem, x_star, f_star", PROBLEMS, ids=[p[0] for p in PROBLEMS])
def test_hock_schittkowski(method, name, problem, x_star, f_star):
    r = _solve(method, problem)
    assert r.success, r.message
    np.testing.assert_allclose(r.x, x_star, atol=TOL[method] * 10)
    assert abs(r.fun - f_star) <= TOL[method] * max(1.0, abs(f_star))
    assert r.method == method and r.prepare_time > 0 and r.nit > 0


def _kkt_residual(problem, r):
    """grad f + sum_i J_i^T v_i - mult_x_L + mult_x_U at the solution, with the
    derivatives by central differences (independent of symasd)."""
    x = r.x
    grad = central_jacobian(lambda y: np.atleast_1d(problem["fun"](y)), x)[0]
    cons = problem.get("constraints", [])
    cons = cons if isinstance(cons, list) else [cons]
    for c, v in zip(cons, r.v, strict=True):
        if isinstance(c, NonlinearConstraint):
            J = central_jacobian(lambda y, c=c: np.atleast_1d(c.fun(y)), x)
        elif isinstance(c, LinearConstraint):
            J = np.atleast_2d(c.A)
        else:
            J = central_jacobian(lambda y, c=c: np.atleast_1d(c["fun"](y)), x)
        grad = grad + J.T @ v
    return grad - r.mult_x_L + r.mult_x_U


@pytest.mark.parametrize("method", METHODS)
def test_hs071_multipliers(method):
    r = _solve(method, HS071)
    # IPOPT's documented HS071 solution: lambda = (-0.552294, 0.161469), z_L = (1.087871, 0...)
    np.testing.assert_allclose(np.concatenate(r.v), [-0.55229366, 0.16146856], atol=1e-4)
    np.testing.assert_allclose(r.mult_g, [-0.55229366, 0.16146856], atol=1e-4)
    np.testing.assert_allclose(r.mult_x_L, [1.08787121, 0, 0, 0], atol=1e-4)
    np.testing.assert_allclose(r.mult_x_U, 0.0, atol=1e-4)
    assert np.abs(_kkt_residual(HS071, r)).max() < 1e-5
    np.testing.assert_allclose(r.constr[1], [40.0], rtol=1e-8)
    # the values at the solution, as the constraint functions give them (IPOPT's
    # come from the callbacks' last evaluation at that point)
    for c, values in zip(HS071["constraints"], r.constr, strict=True):
        np.testing.assert_allclose(values, np.atleast_1d(c.fun(r.x)), rtol=1e-14, atol=0)
    assert "_constraint_values" not in r


@pytest.mark.parametrize("method", METHODS)
def test_kkt_with_linear_and_dict_constraints_in_the_callers_order(method):
    # one nonlinear between two linear constraints: the multipliers come back per
    # constraint in the order given
    problem = dict(fun=lambda x: np.sum((x - np.array([2.0, 1.0, 3.0])) ** 2),
                   x0=np.zeros(3),
                   constraints=[LinearConstraint([[1.0, 1.0, 0.0]], -np.inf, 1.0),
                                NonlinearConstraint(lambda x: x[2] ** 2, 0.0, 4.0),
                                {"type": "eq", "fun": lambda x: x[0] - 2 * x[1]}])
    r = _solve(method, problem)
    assert r.success
    assert [v.shape for v in r.v] == [(1,), (1,), (1,)]
    np.testing.assert_allclose(r.x, [2 / 3, 1 / 3, 2.0], atol=TOL[method] * 10)
    kkt = 1e-3 if method == "trust-constr" else 1e-6
    assert np.abs(_kkt_residual(problem, r)).max() < kkt


N_LV = 12


def lv_f(x):
    return np.sum(100.0 * (x[:-1] ** 2 - x[1:]) ** 2 + (x[:-1] - 1.0) ** 2)


def lv_c(x):
    a, b, d = x[:-2], x[1:-1], x[2:]
    return (3.0 * b ** 3 + 2.0 * d - 5.0 + np.sin(b - d) * np.sin(b + d) + 4.0 * b
            - a * np.exp(a - b) - 3.0)


LV_X0 = np.where(np.arange(N_LV) % 2 == 0, -1.2, 1.0)
# predicted: row i of the constraint Jacobian has columns i, i+1, i+2; the Lagrangian's
# Hessian is tridiagonal: constraint i has second derivatives in (x_i, x_i), (x_i, x_i+1),
# (x_i+1, x_i+1), (x_i+1, x_i+2) and (x_i+2, x_i+2) but none in (x_i, x_i+2)
LV_J = sp.csr_array(sum(sp.eye_array(N_LV - 2, N_LV, k=k) for k in range(3)))
LV_H = sp.csr_array(sp.tril(sum(sp.eye_array(N_LV, k=k) for k in range(-1, 2))))


@needs_ipopt
def test_ipopt_receives_the_predicted_structures_and_exact_values(monkeypatch):
    made = []
    original = cyipopt.Problem

    def spying(*args, problem_obj=None, **kw):
        made.append(problem_obj)
        return original(*args, problem_obj=problem_obj, **kw)

    monkeypatch.setattr(cyipopt, "Problem", spying)
    r = solvers.minimize(lv_f, LV_X0, method="ipopt",
                         constraints=NonlinearConstraint(lv_c, 0.0, 0.0))
    assert r.success
    (cb,) = made
    rows, cols = cb.jacobianstructure()
    assert sorted(zip(rows, cols, strict=True)) == sorted(zip(*LV_J.nonzero(), strict=True))
    rows, cols = cb.hessianstructure()
    assert np.all(rows >= cols)
    assert sorted(zip(rows, cols, strict=True)) == sorted(zip(*LV_H.nonzero(), strict=True))
    # the values at a random point against complex-step references
    rng = np.random.default_rng(2)
    x, lam, sigma = rng.uniform(-1, 1, N_LV), rng.standard_normal(N_LV - 2), 0.7
    np.testing.assert_allclose(cb.gradient(x), central_jacobian(lambda y: lv_f(y)[None], x)[0],
                               rtol=1e-6)
    J = sp.csr_array((cb.jacobian(x), cb.jacobianstructure()), shape=(N_LV - 2, N_LV))
    np.testing.assert_allclose(J.toarray(), central_jacobian(lv_c, x), rtol=1e-6, atol=1e-8)
    H = sp.csr_array((cb.hessian(x, lam, sigma), cb.hessianstructure()), shape=(N_LV, N_LV))
    H_ref = complex_step_hessian(lambda y: sigma * lv_f(y) + lam @ lv_c(y), x)
    np.testing.assert_allclose(H.toarray(), np.tril(H_ref), rtol=1e-6, atol=1e-6)


def test_ipopt_callbacks_compute_each_value_with_its_derivative_once_per_point(monkeypatch):
    """IPOPT asks for f, grad f, c and J at a point in four callbacks; symasd runs two
    sweeps there (f with its gradient, c with J), serves the rest from them, and
    recomputes at every other point, whatever a caller does to the arrays it got."""
    from symasd.solvers.constraints import ConstraintSet
    from symasd.solvers.nlp import NLP
    from symasd.solvers.prepare import Arguments

    nlp = NLP(lv_f, LV_X0, Arguments(()),
              ConstraintSet(NonlinearConstraint(lv_c, 0.0, 0.0), (N_LV,)), "tape")
    sweeps = {"objective": 0, "constraints": 0}
    value_and_gradient = nlp.value_and_gradient
    constraints_and_jacobian = nlp.constraint_values_and_jacobian_data

    def counted_objective(*a):
        sweeps["objective"] += 1
        return value_and_gradient(*a)

    def counted_constraints(*a):
        sweeps["constraints"] += 1
        return constraints_and_jacobian(*a)

    monkeypatch.setattr(nlp, "value_and_gradient", counted_objective)
    monkeypatch.setattr(nlp, "constraint_values_and_jacobian_data", counted_constraints)
    cb = ipopt._Callbacks(nlp, ())
    rng = np.random.default_rng(5)
    points = [rng.uniform(-1, 1, N_LV) for _ in range(2)]
    for k, x in enumerate([points[0], points[1], points[0]]):
        c = cb.constraints(x.copy())
        f = cb.objective(x.copy())
        g = cb.gradient(x.copy())
        J = cb.jacobian(x.copy())
        assert sweeps == {"objective": k + 1, "constraints": k + 1}
        np.testing.assert_allclose(f, lv_f(x), rtol=1e-14)
        np.testing.assert_allclose(c, lv_c(x), rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(g, central_jacobian(lambda y: lv_f(y)[None], x)[0],
                                   rtol=1e-6)
        Jm = sp.csr_array((J, cb.jacobianstructure()), shape=(N_LV - 2, N_LV))
        np.testing.assert_allclose(Jm.toarray(), central_jacobian(lv_c, x), rtol=1e-6,
                                   atol=1e-8)
        # what IPOPT does with the arrays it was given does not reach the kept ones
        for a in (c, g, J):
            a[:] = np.nan
        np.testing.assert_array_equal(cb.gradient(x), value_and_gradient(x, ())[1])
        np.testing.assert_array_equal(cb.jacobian(x), constraints_and_jacobian(x)[1])
        np.testing.assert_array_equal(cb.constraints(x), constraints_and_jacobian(x)[0])
        assert sweeps == {"objective": k + 1, "constraints": k + 1}
    # a point that differs only in the sign of a zero is another point
    x = points[0].copy()
    x[0] = 0.0
    cb.objective(x)
    x[0] = -0.0
    cb.objective(x)
    assert sweeps["objective"] == 5


@settings(max_examples=60, deadline=None)
@given(prog=programs(max_steps=6, n_min=2, n_max=12), seed=st.integers(0, 2**16))
def test_the_tape_gradient_is_the_prepared_reverse_jacobian(prog, seed):
    """With the tape engine the objective's gradient is one dense reverse sweep, with
    no pattern: an input outside the pattern gets exactly 0, so it equals the
    prepared one-row Jacobian scattered into zeros, bit for bit, NaN and
    infinities (and selections, whose conditions have no derivative) included."""
    from symasd.solvers.constraints import ConstraintSet
    from symasd.solvers.nlp import NLP
    from symasd.solvers.prepare import Arguments

    n = prog[0]
    nlp = NLP(lambda x: run_scalar(prog, x), np.zeros(n), Arguments(()),
              ConstraintSet((), (n,)), "tape")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, n)
    x[rng.random(n) < 0.2] = rng.choice([np.nan, np.inf, -np.inf, 0.0])
    with np.errstate(all="ignore"):
        value, dense = nlp.value_and_gradient(x, ())
        y, J = nlp.objective.value_and_jacobian(x)
    expected = np.zeros(n)
    expected[J.indices] = J.data
    np.testing.assert_array_equal(dense.view(np.int64), expected.view(np.int64))
    np.testing.assert_array_equal(np.float64(value), y.ravel()[0])


def test_trust_constr_receives_the_predicted_sparse_structures(monkeypatch):
    seen = {}
    original = scipy.optimize.minimize

    def spying(fun, x0, **kw):
        seen.update(kw, x0=x0)
        return original(fun, x0, **kw)

    monkeypatch.setattr(scipy.optimize, "minimize", spying)
    r = solvers.minimize(lv_f, LV_X0, constraints=NonlinearConstraint(lv_c, 0.0, 0.0))
    assert r.success
    x0 = seen["x0"]
    (con,) = seen["constraints"]
    J, Hc, Hf = con.jac(x0), con.hess(x0, np.ones(N_LV - 2)), seen["hess"](x0)
    for M, P in ((J, LV_J), (Hc, LV_H + LV_H.T), (Hf, LV_H + LV_H.T)):
        assert sp.issparse(M)
        assert (sp.csr_array(M != 0, dtype=bool) > (P != 0)).nnz == 0      # within the pattern
    np.testing.assert_array_equal(J.indices, LV_J.indices)
    np.testing.assert_array_equal(Hc.indptr, Hf.indptr)   # one structure for both parts


@needs_ipopt
def test_luksan_vlcek_optimum_with_both_methods():
    r = solvers.minimize(lv_f, np.where(np.arange(1000) % 2 == 0, -1.2, 1.0), method="ipopt",
                         constraints=NonlinearConstraint(lv_c, 0.0, 0.0))
    assert r.success and r.fun == pytest.approx(6.2324586324, rel=1e-8)


@pytest.mark.parametrize("method", METHODS)
def test_an_infeasible_problem_ends_with_a_message(method):
    options = {"maxiter": 200} if method == "trust-constr" else {"max_iter": 200}
    r = solvers.minimize(lambda x: np.sum(x ** 2), np.ones(2), method=method, options=options,
                         constraints=NonlinearConstraint(lambda x: np.sum(x ** 2), -np.inf,
                                                         -1.0))
    assert r.success is False and isinstance(r.message, str) and r.message


@pytest.mark.parametrize("method", METHODS)
def test_constraints_with_no_jacobian_entry(method):
    """A constraint that does not depend on x has an empty Jacobian (IPOPT refuses
    a problem with constraints and no Jacobian entry: it gets one explicit zero)."""
    def constant(x):
        return np.array([1.0]) + 0.0 * x[0]    # the tracer folds 0 * x away

    r = solvers.minimize(lambda x: np.sum((x - 2.0) ** 2), np.zeros(3), method=method,
                         constraints=NonlinearConstraint(constant, 0.0, 2.0))
    assert r.success
    np.testing.assert_allclose(r.x, 2.0, atol=1e-6)
    np.testing.assert_array_equal(r.constr[0], [1.0])
    options = {"maxiter": 200} if method == "trust-constr" else {"max_iter": 200}
    r = solvers.minimize(lambda x: np.sum((x - 2.0) ** 2), np.zeros(3), method=method,
                         options=options, constraints=NonlinearConstraint(constant, 2.0, 3.0))
    assert r.success is False and isinstance(r.message, str) and r.message


def test_a_missing_ipopt_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "cyipopt", None)      # import cyipopt -> ImportError
    with pytest.raises(MissingDependencyError, match=r'pip install "symasd\[ipopt\]"'):
        solvers.minimize(lambda x: np.sum(x ** 2), np.ones(2), method="ipopt")
    problem = solvers.MinimizeProblem(lambda x: np.sum(x ** 2), np.ones(2))
    with pytest.raises(MissingDependencyError, match="cyipopt-wheels"):
        problem.solve(method="ipopt")
    assert problem.solve().success                       # trust-constr needs nothing more
    assert ipopt.INSTALL == 'pip install "symasd[ipopt]"'


@pytest.mark.parametrize("method", METHODS)
def test_prepared_problem_for_new_parameters(method):
    calls = []

    def distance(x, c):
        calls.append(1)
        return np.sum((x - c) ** 2)

    problem = solvers.MinimizeProblem(
        distance, np.array([1.0, 0.0]), args=(np.zeros(2),),
        constraints=NonlinearConstraint(lambda x: np.sum(x ** 2), 1.0, 1.0))
    first = problem.solve(method=method, args=(np.array([3.0, 4.0]),))
    np.testing.assert_allclose(first.x, [0.6, 0.8], atol=1e-7)
    assert first.prepare_time >= problem.prepare_time > 0
    second = problem.solve(method=method, x0=np.array([0.0, 1.0]),
                           args=(np.array([-5.0, 12.0]),))
    np.testing.assert_allclose(second.x, [-5 / 13, 12 / 13], atol=1e-7)
    assert second.prepare_time == 0.0
    assert len(calls) == 1       # traced once, with the constraints: every graph shares it


@needs_ipopt
def test_ipopt_options_pass_through_and_a_bad_one_is_named():
    r = solvers.minimize(hs038_f, np.array([-3.0, -1.0, -3.0, -1.0]), method="ipopt",
                         options={"max_iter": 3})
    assert r.success is False and r.status == -1 and r.nit == 3
    r = solvers.minimize(hs038_f, np.array([-3.0, -1.0, -3.0, -1.0]), method="ipopt",
                         options={"hessian_approximation": "limited-memory"}, tol=1e-10)
    assert r.success and r.nhev == 0
    with pytest.raises(InputError, match=r"rejected the option max_iter=3.0 \(float\)"):
        solvers.minimize(hs038_f, np.zeros(4), method="ipopt", options={"max_iter": 3.0})
    with pytest.raises(InputError, match="callback is not supported"):
        solvers.minimize(hs038_f, np.zeros(4), method="ipopt", callback=print)


def test_bad_input():
    f = lambda x: np.sum(x ** 2)  # noqa: E731
    with pytest.raises(InputError, match=r"constraint 0 \(NonlinearConstraint\): lb has shape "
                                         r"\(3,\), but the constraint has 2 value"):
        solvers.minimize(f, np.ones(4), constraints=NonlinearConstraint(lambda x: x[:2],
                                                                        [0, 0, 0], np.inf))
    with pytest.raises(TracingError, match=r"constraint 1 \(NonlinearConstraint.fun\): .*branch"):
        solvers.minimize(f, np.ones(2), constraints=[
            NonlinearConstraint(lambda x: x[0], 0, 1),
            NonlinearConstraint(lambda x: x[0] if x[1] > 0 else x[1], 0, 1)])
    with pytest.raises(TracingError, match=r"constraint 0 \(dict\) 'fun' raised IndexError"):
        solvers.minimize(f, np.ones(2), constraints={"type": "ineq", "fun": lambda x: x[5]})
    with pytest.raises(InputError, match=r"fun must return a scalar .* shape \(2,\)"):
        solvers.minimize(lambda x: x ** 2, np.ones(2))
    with pytest.raises(InputError, match=r"Bounds.lb\) has shape \(3,\), but x0 has shape "
                                         r"\(2,\)"):
        solvers.minimize(f, np.ones(2), bounds=Bounds([0, 0, 0], [1, 1, 1]))
    with pytest.raises(InputError, match="a sequence of 2 .low, high. pairs"):
        solvers.minimize(f, np.ones(2), bounds=[(0, 1)] * 3)
    with pytest.raises(InputError, match="A has 3 columns, but x0 has 2 unknowns"):
        solvers.minimize(f, np.ones(2), constraints=LinearConstraint(np.ones((1, 3)), 0, 1))
    with pytest.raises(InputError, match="jac is computed by symasd"):
        solvers.minimize(f, np.ones(2), constraints=NonlinearConstraint(
            lambda x: x[0], 0, 1, jac=lambda x: np.array([1.0, 0.0])))
    with pytest.raises(InputError, match="unknown method 'SLSQP'"):
        solvers.minimize(f, np.ones(2), method="SLSQP")
    with pytest.raises(InputError, match="constraint 0 is a function"):
        solvers.minimize(f, np.ones(2), constraints=[lambda x: x])
    with pytest.raises(InputError, match=r"lb\[0\] = 2.0 > ub\[0\] = 1.0"):
        solvers.minimize(f, np.ones(2), constraints=NonlinearConstraint(lambda x: x[0], 2, 1))
    with pytest.raises(InputError, match="'type' must be 'eq' or 'ineq'"):
        solvers.minimize(f, np.ones(2), constraints={"type": "le", "fun": lambda x: x[0]})
    with pytest.raises(TracingError, match=r"fun raised IndexError .* x of shape \(2,\)"):
        solvers.minimize(lambda x: x[0] * x[3], np.ones(2))
    problem = solvers.MinimizeProblem(f, np.ones(2))
    with pytest.raises(InputError, match=r"x0 has shape \(3,\)"):
        problem.solve(x0=np.ones(3))
    with pytest.raises(InputError, match="options must be a dict"):
        problem.solve(options=[("gtol", 1e-3)])


@pytest.mark.parametrize("method", METHODS)
def test_a_prepared_problem_starts_on_the_tape_and_compiles_once_its_calls_pay(
        method, monkeypatch):
    """A problem object gets engine='auto' (symasd.tiering): every derivative starts
    on the tape and switches to its compiled DAG at the call after which the tape's
    calls have cost the estimated compile (here: never at preparation, and a
    threshold the first solve's calls pass), with the same solution after."""
    from symasd import tiering

    monkeypatch.setattr(tiering.CompileSchedule, "compiles_upfront", lambda self: False)
    monkeypatch.setattr(tiering, "MIN_BUDGET", 600.0)   # no deadline a busy machine misses

    def start(cls, graph, candidate, compile, calls=None, copies=lambda: 1):
        return cls(graph, candidate, compile, calls or 0, copies, threshold=1e-9, counted=True)

    monkeypatch.setattr(tiering.CompileSchedule, "start", classmethod(start))
    x0 = np.where(np.arange(N_LV) % 2 == 0, -1.2, 1.0)
    cons = NonlinearConstraint(lv_c, 0.0, 0.0)
    problem = solvers.MinimizeProblem(lv_f, x0, constraints=cons)
    nlp = problem.nlp
    assert problem.engine == "auto"
    assert nlp.objective.engine == nlp.constraint_jacobian.engine == "tape"
    first = problem.solve(method=method)
    derivatives = (nlp.objective, nlp.constraint_jacobian, nlp.lagrangian_hessian)
    assert [d.engine for d in derivatives] == ["vm"] * 3
    second = problem.solve(method=method)
    tape = solvers.minimize(lv_f, x0, method=method, constraints=cons, engine="tape")
    assert first.success and second.success and tape.success
    for r in (first, second):
        np.testing.assert_allclose(r.x, tape.x, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_an_objective_that_is_not_finite_at_x0_is_refused(method):
    """log(0) = -inf at x0: trust-constr ran to its iteration limit and IPOPT returned
    fun = 0.0; now the start is refused with what to do."""
    with pytest.raises(InputError, match=r"fun\(x0\) is not finite"):
        solvers.minimize(lambda x: np.sum(np.log(x)), np.zeros(4), method=method)
    problem = solvers.MinimizeProblem(lambda x: np.sum(np.log(x) ** 2), np.ones(3))
    with pytest.raises(InputError, match=r"fun\(x0\) is not finite"):
        problem.solve(x0=np.array([1.0, -1.0, 1.0]), method=method)
    np.testing.assert_allclose(problem.solve(method=method).x, 1.0, atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_tol_callback_and_supplied_options_are_checked(method):
    f = lambda x: np.sum((x - 1.0) ** 2)  # noqa: E731
    with pytest.raises(InputError, match="tol must be a number"):
        solvers.minimize(f, np.zeros(2), method=method, tol="a")
    if method == "trust-constr":
        with pytest.raises(InputError, match="callback must be a function"):
            solvers.minimize(f, np.zeros(2), method=method, callback=5)
        with pytest.raises(InputError, match="options 'hess': symasd supplies"):
            solvers.minimize(f, np.zeros(2), method=method, options={"hess": 1})
    assert solvers.minimize(f, np.zeros(2), method=method, tol=1e-9).success


def test_an_objective_or_constraint_that_returns_none_is_named():
    with pytest.raises(TracingError, match=r"^fun: it returned NoneType"):
        solvers.minimize(lambda x: None, np.ones(2))
    with pytest.raises(TracingError, match=r"constraint 0 .*: it returned NoneType"):
        solvers.minimize(lambda x: np.sum(x ** 2), np.ones(2),
                         constraints=NonlinearConstraint(lambda x: None, 0.0, 1.0))


@needs_ipopt
def test_ipopt_may_start_on_a_bound_where_the_objective_is_not_finite():
    """IPOPT moves x0 into the bounds before it evaluates: x log x from x0 = 0 with
    x >= 0 is solved, not refused."""
    r = solvers.minimize(lambda x: np.sum(x * np.log(x)), np.zeros(4), method="ipopt",
                         bounds=Bounds(0.0, np.inf),
                         constraints=LinearConstraint(np.ones((1, 4)), 1.0, 1.0))
    assert r.success
    np.testing.assert_allclose(r.x, 0.25, atol=1e-7)


@pytest.mark.filterwarnings("ignore:delta_grad == 0.0:UserWarning")  # SciPy's reference
def test_constraints_written_with_np_array_and_changing_x_in_place():
    """np.array([...]) of symbolic pieces is a constraint's usual form; and each
    function gets its own copy of x, as SciPy passes them, so one that changes x in
    place (x -= 1) leaves the others alone."""
    circle = NonlinearConstraint(lambda x: np.array([x[0] ** 2 + x[1] ** 2, x[0] - x[1]]),
                                 [1.0, 0.0], [1.0, 0.0])
    r = solvers.minimize(lambda x: (x[0] - 2.0) ** 2 + (x[1] - 2.0) ** 2, np.ones(2),
                         constraints=circle)
    np.testing.assert_allclose(r.x, np.sqrt(0.5), atol=1e-6)

    def shifts(x):
        x -= 10.0
        return x[0]

    r = solvers.minimize(lambda x: np.sum((x - 1.0) ** 2), np.zeros(2),
                         constraints=[NonlinearConstraint(shifts, -np.inf, 0.0),
                                      NonlinearConstraint(lambda x: x[1], -np.inf, 5.0)])
    reference = scipy.optimize.minimize(
        lambda x: np.sum((x - 1.0) ** 2), np.zeros(2), method="trust-constr",
        constraints=[NonlinearConstraint(lambda x: shifts(np.copy(x)), -np.inf, 0.0),
                     NonlinearConstraint(lambda x: x[1], -np.inf, 5.0)])
    np.testing.assert_allclose(r.x, reference.x, atol=1e-4)
    np.testing.assert_allclose(r.fun, 0.0, atol=1e-7)


@pytest.mark.parametrize("method", METHODS)
def test_bounds_in_the_shape_of_x0_with_keep_feasible(method):
    """Bounds and keep_feasible as arrays of x0's shape (the bounds were flattened,
    keep_feasible was not: a raw ValueError from SciPy)."""
    for keep in (False, np.ones((2, 3), dtype=bool)):
        r = solvers.minimize(lambda X: np.sum((X - 5.0) ** 2), np.ones((2, 3)), method=method,
                             bounds=Bounds(np.zeros((2, 3)), np.full((2, 3), 3.0),
                                           keep_feasible=keep))
        assert r.success and r.x.shape == (2, 3)
        np.testing.assert_allclose(r.x, 3.0, atol=1e-3)
    with pytest.raises(InputError, match=r"has shape \(4,\)"):
        solvers.minimize(lambda X: np.sum(X ** 2), np.ones((2, 3)), method=method,
                         bounds=Bounds(0.0, 3.0, keep_feasible=np.ones(4, dtype=bool)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # SciPy's, on its way there
def test_an_objective_without_a_minimum_ends_with_success_false():
    """SciPy's trust-constr raises a ValueError at negative curvature without
    constraints or bounds: a problem without a minimum, reported as a result."""
    r = solvers.minimize(lambda x: x[0] + x[1], np.ones(2))
    assert r.success is False and "may have no minimum" in r.message
    np.testing.assert_array_equal(r.x, [1.0, 1.0])
