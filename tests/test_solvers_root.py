"""symasd.solvers.root (Newton) and its pieces: the fixed-structure sparse LU,
systems with known roots, the statuses of problems without one, reuse, and
bad input."""

import numpy as np
import pytest
import scipy.sparse as sp

from symasd import InputError, TracingError, solvers
from symasd.solvers import linalg, rootfinding
from symasd.solvers.linalg import SingularMatrixError, SparseLU

N = 40
# a tridiagonal, diagonally dominant matrix: F(x) = A x + x^3 - b is monotone, so its
# root is unique; b is made from a chosen root
A = sp.csr_array(sp.diags_array([-1.0, 4.0, -1.5], offsets=[-1, 0, 1], shape=(N, N)))
X_STAR = np.cos(np.arange(N)) + 0.5
B = A @ X_STAR + X_STAR ** 3


def monotone(x, b):
    Ax = 4.0 * x
    Ax = Ax - np.concatenate([[0.0], x[:-1]]) - 1.5 * np.concatenate([x[1:], [0.0]])
    return Ax + x ** 3 - b


class _SpyLU(SparseLU):
    """Records the structure and the data each factorization received."""
    made = []

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.data = []
        _SpyLU.made.append(self)

    def factorize(self, data):
        self.data.append(np.array(data))
        super().factorize(data)


@pytest.fixture
def spy_lu(monkeypatch):
    _SpyLU.made = []
    monkeypatch.setattr(rootfinding, "SparseLU", _SpyLU)
    return _SpyLU.made


def test_known_root_and_the_jacobian_the_solver_received(spy_lu):
    r = solvers.root(monotone, np.zeros(N), args=(B,))
    assert r.success and r.status == 1 and r.nit <= 8
    np.testing.assert_allclose(r.x, X_STAR, rtol=1e-12, atol=1e-12)
    assert np.abs(r.fun).max() <= 1e-10
    assert r.prepare_time > 0 and r.solve_time > 0 and r.njev == r.nit
    # the solver was given the predicted structure (tridiagonal) at every iteration,
    # with the exact values A + 3 diag(x^2) at the iterates
    (lu,) = spy_lu
    assert len(lu.data) == r.njev
    P = sp.csr_array(A + sp.identity(N))
    np.testing.assert_array_equal(lu.indptr, P.indptr)
    np.testing.assert_array_equal(lu.indices, P.indices)
    # a structurally symmetric Jacobian: minimum degree ordering on A^T + A
    assert lu.symmetric is True and lu.permc_spec == "MMD_AT_PLUS_A"


def test_square_roots():
    r = solvers.root(lambda x: x ** 2 - np.arange(1.0, 6.0), np.ones(5), tol=1e-14)
    np.testing.assert_allclose(r.x, np.sqrt(np.arange(1.0, 6.0)), rtol=1e-14)


def test_a_nonsymmetric_structure(spy_lu):
    # F_i = x_i^3 + 2 x_i - x_{i+1} - b_i: upper bidiagonal, root made from x*
    x_star = np.linspace(-1.0, 2.0, 30)

    def fun(x, b):
        return x ** 3 + 2.0 * x - np.concatenate([x[1:], [0.0]]) - b

    b = fun(x_star, np.zeros(30))
    r = solvers.root(fun, np.zeros(30), args=(b,))
    np.testing.assert_allclose(r.x, x_star, rtol=1e-10, atol=1e-10)
    (lu,) = spy_lu
    assert lu.symmetric is False and lu.permc_spec == "COLAMD"
    expected = sp.csr_array(sp.eye_array(30) + sp.eye_array(30, k=1))
    np.testing.assert_array_equal(lu.indices, expected.indices)


def test_a_circle_and_a_line_2d():
    r = solvers.root(lambda x: np.stack([x[0] ** 2 + x[1] ** 2 - 4.0, x[0] - x[1]]),
                     np.array([3.0, 0.1]))
    np.testing.assert_allclose(r.x, [np.sqrt(2.0)] * 2, rtol=1e-10)


def test_matrix_shaped_unknowns_keep_their_shape():
    target = np.arange(1.0, 7.0).reshape(2, 3)
    r = solvers.root(lambda X, T: X ** 3 - T, np.ones((2, 3)), args=(target,))
    assert r.x.shape == (2, 3) and r.fun.shape == (2, 3)
    np.testing.assert_allclose(r.x, np.cbrt(target), rtol=1e-14)


def test_line_search_reaches_a_root_a_full_newton_step_overshoots():
    # arctan: full Newton steps from |x0| > 1.39 diverge; the line search converges
    r = solvers.root(lambda x: np.arctan(x), np.array([3.0]))
    assert r.success and abs(r.x[0]) < 1e-10
    r = solvers.root(lambda x: np.arctan(x), np.array([3.0]), options={"line_search": False,
                                                                         "maxiter": 8})
    assert not r.success


def test_a_system_without_root_ends_with_a_message():
    r = solvers.root(lambda x: x ** 2 + 1.0, np.array([0.7]))
    assert r.success is False and r.status == -1 and "no progress" in r.message


def test_singular_and_structurally_singular_jacobians():
    r = solvers.root(lambda x: np.stack([x[0] + x[1], x[0] + x[1] - 1.0]), np.zeros(2))
    assert r.status == -2 and r.success is False and "singular" in r.message
    r = solvers.root(lambda x: np.stack([x[0] ** 2 - 1.0, 0.0 * x[1] + 2.0]), np.ones(2))
    assert r.status == -2 and "equation(s) 1 depend on no unknown" in r.message


def test_non_finite_residual_at_x0_and_the_iteration_limit():
    r = solvers.root(lambda x: np.log(x), np.array([-1.0]))
    assert r.status == -3 and not r.success
    r = solvers.root(monotone, np.zeros(N), args=(B,), options={"maxiter": 1})
    assert r.status == 0 and r.nit == 1 and "maxiter" in r.message


def test_step_into_an_undefined_region_is_shortened():
    # F = log(x) + x - 1: the full step from x0 = 20 lands at x = -1 (log gives NaN); the
    # line search halves it instead
    r = solvers.root(lambda x: np.log(x) + x - 1.0, np.array([20.0]))
    assert r.success and abs(r.x[0] - 1.0) < 1e-12


def test_prepared_problem_reuses_the_trace_for_new_parameters_and_starts():
    calls = []

    def counted(x, b):
        calls.append(1)
        return monotone(x, b)

    problem = solvers.RootProblem(counted, np.zeros(N), args=(B,))
    assert problem.engine == "auto"
    first = problem.solve()
    assert first.prepare_time == problem.prepare_time > 0
    for scale in (0.5, 2.0):
        x_star = scale * X_STAR
        r = problem.solve(x0=np.full(N, 0.1), args=(A @ x_star + x_star ** 3,))
        np.testing.assert_allclose(r.x, x_star, rtol=1e-12, atol=1e-12)
        assert r.prepare_time == 0.0
    assert len(calls) == 1     # traced once, never called again


@pytest.mark.parametrize("engine", ["vm", "tape"])
def test_both_engines(engine):
    r = solvers.root(monotone, np.zeros(N), args=(B,), engine=engine)
    np.testing.assert_allclose(r.x, X_STAR, rtol=1e-12, atol=1e-12)


def test_sparse_lu_reuses_its_ordering_and_matches_a_dense_solve():
    rng = np.random.default_rng(1)
    n = 60
    P = sp.random_array((n, n), density=0.08, random_state=rng) + sp.identity(n)
    P = sp.csr_array(P)
    P.sort_indices()
    for symmetric in (False, True):
        S = sp.csr_array(P + P.T) if symmetric else P
        S.sort_indices()
        lu = SparseLU(S.indptr, S.indices, S.shape)
        assert lu.symmetric is symmetric
        for _ in range(3):
            data = rng.standard_normal(S.nnz) + 5.0 * (S.indices == np.repeat(
                np.arange(n), np.diff(S.indptr)))
            M = sp.csr_array((data, S.indices, S.indptr), shape=S.shape)
            b = rng.standard_normal(n)
            lu.factorize(data)
            np.testing.assert_allclose(M @ lu.solve(b), b, atol=1e-10)
        assert lu.factorizations == 3 and lu._order is not None


def test_sparse_lu_reports_singular_matrices():
    S = sp.csr_array(np.array([[1.0, 1.0], [1.0, 1.0]]))
    lu = SparseLU(S.indptr, S.indices, S.shape)
    with pytest.raises(SingularMatrixError):
        lu.factorize(S.data)
    with pytest.raises(SingularMatrixError):
        lu.factorize(np.array([1.0, np.nan, 0.0, 1.0]))
    with pytest.raises(InputError, match="square"):
        SparseLU(np.array([0, 1]), np.array([0]), (1, 2))
    assert linalg.SparseLU(S.indptr, S.indices, S.shape).empty_rows().size == 0


def test_bad_input():
    with pytest.raises(TracingError, match=r"fun raised IndexError .* shape \(3,\)"):
        solvers.root(lambda x: x[:5] - x[5], np.zeros(3))
    with pytest.raises(InputError, match="as many equations as unknowns: fun returns 2 values "
                                         "for 3 unknowns"):
        solvers.root(lambda x: x[:2], np.zeros(3))
    with pytest.raises(InputError, match="NaN or inf"):
        solvers.root(lambda x: x, np.array([np.nan]))
    with pytest.raises(InputError, match="is complex"):
        solvers.root(lambda x: x, np.array([1j, 2.0]))
    with pytest.raises(InputError, match="unknown option.*'max_iter'"):
        solvers.root(lambda x: x, np.ones(2), options={"max_iter": 3})
    with pytest.raises(InputError, match="unknown method 'hybr'"):
        solvers.root(lambda x: x, np.ones(2), method="hybr")
    with pytest.raises(InputError, match="args must be a tuple"):
        solvers.root(monotone, np.zeros(N), args=B)
    with pytest.raises(InputError, match="fun must be a function"):
        solvers.root("x - 1", np.zeros(2))
    with pytest.raises(TracingError, match="fun: .*branch"):
        solvers.root(lambda x: x if x[0] > 0 else -x, np.ones(2))
    with pytest.raises(InputError, match="unknown engine"):
        solvers.root(lambda x: x, np.ones(2), engine="gpu")
    problem = solvers.RootProblem(lambda x, b, k: x ** k - b, np.ones(2), args=(np.ones(2), 3))
    with pytest.raises(InputError, match=r"x0 has shape \(3,\), but the problem was prepared "
                                         r"with shape \(2,\)"):
        problem.solve(np.ones(3))
    with pytest.raises(InputError, match=r"args\[1\] differs .* static data"):
        problem.solve(args=(np.ones(2), 2))
    with pytest.raises(InputError, match=r"args\[0\] has shape \(3,\)"):
        problem.solve(args=(np.ones(3), 3))
    with pytest.raises(InputError, match="args has 1 entries"):
        problem.solve(args=(np.ones(2),))
    np.testing.assert_allclose(problem.solve(args=(np.full(2, 8.0), 3)).x, 2.0)


def test_a_zero_dimensional_parameter_keeps_its_shape_in_fun():
    seen = []

    def fun(x, c):
        seen.append(np.shape(c) if isinstance(c, np.ndarray) else c.shape)
        return x ** 2 - c

    problem = solvers.RootProblem(fun, np.ones(1), args=(np.array(4.0),))
    np.testing.assert_allclose(problem.solve().x, [2.0])
    np.testing.assert_allclose(problem.solve(args=(np.array(9.0),)).x, [3.0])
    assert seen == [()]


def test_every_solver_takes_an_integer_start_as_scipy_does():
    """SciPy converts integer starting points to floats; so do symasd's solvers (the
    drop-in promise), while a complex one is refused."""
    r = solvers.root(lambda x: x ** 2 - 4.0, [1, 3])
    np.testing.assert_allclose(r.x, [2.0, 2.0], rtol=1e-10)
    r = solvers.least_squares(lambda x: x - np.array([1.0, 2.0]), [0, 0])
    np.testing.assert_allclose(r.x, [1.0, 2.0], atol=1e-8)
    r = solvers.minimize(lambda x: np.sum((x - 3.0) ** 2), np.array([0, 1]),
                         method="trust-constr")
    np.testing.assert_allclose(r.x, [3.0, 3.0], atol=1e-6)
    r = solvers.solve_ivp(lambda t, y: -y, (0.0, 1.0), [1, 2], method="BDF", rtol=1e-8,
                          atol=1e-10)
    np.testing.assert_allclose(r.y[:, -1], np.exp(-1.0) * np.array([1.0, 2.0]), rtol=1e-6)
    with pytest.raises(InputError, match="is complex"):
        solvers.least_squares(lambda x: x, np.array([1j]))


def test_tolerances_and_options_must_be_numbers():
    f = lambda x: x ** 3 - 1.0  # noqa: E731
    for kwargs, message in (({"tol": "a"}, "tol must be a number"),
                            ({"tol": -1.0}, "tol must be a number"),
                            ({"options": {"maxiter": "a"}}, "maxiter must be a whole"),
                            ({"options": {"maxiter": 2.5}}, "maxiter must be a whole"),
                            ({"options": {"xtol": None}}, "xtol must be a number")):
        with pytest.raises(InputError, match=message):
            solvers.root(f, np.full(2, 2.0), **kwargs)
    assert solvers.root(f, np.full(2, 2.0), tol=1e-12, options={"maxiter": 50.0}).success


def test_a_step_below_xtol_is_convergence_even_where_the_line_search_sees_noise():
    """At 1e8 (x^3 - c) the residual's rounding noise is larger than what the last,
    tiny Newton step can decrease: the line search failed there and reported no
    progress at the root."""
    for c in np.linspace(0.5, 4.0, 40):
        r = solvers.root(lambda x, c=c: 1e8 * (x ** 3 - c), np.array([1.0]))
        assert r.success and r.status in (1, 2), (c, r.message)
        np.testing.assert_allclose(r.x, np.cbrt(c), rtol=1e-14)
    assert not solvers.root(lambda x: x ** 2 + 1.0, np.array([0.5])).success
