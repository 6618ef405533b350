"""Prepared Jacobians and Hessians against independent dense references."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from programs import COMPLEX_STEP, programs, run, run_scalar
from reference import central_jacobian, complex_step_hessian, complex_step_jacobian

import symasd
from symasd import InputError
from symasd.api import HESSIAN_MODES, JACOBIAN_MODES

ORDERS = ["natural", "random", "largest_first", "smallest_last", "incidence_degree",
          "dynamic_largest_first"]
J_MODES = [m for m in JACOBIAN_MODES]
H_MODES = [m for m in HESSIAN_MODES]


def iter_diff(x, k=3):
    for _ in range(k):
        x = np.diff(x)
    return x


def brusselator(y, N=6, A=3.4, B=1.0, alpha=0.02):
    u, v = y[: N * N].reshape(N, N), y[N * N:].reshape(N, N)

    def lap(w):
        return (np.roll(w, 1, 0) + np.roll(w, -1, 0) + np.roll(w, 1, 1) + np.roll(w, -1, 1)
                - 4 * w) * (N - 1) ** 2

    du = B + u * u * v - (A + 1) * u + alpha * lap(u)
    dv = A * u - u * u * v + alpha * lap(v)
    return np.concatenate([du.ravel(), dv.ravel()])


def rosenbrock(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def extended_rosenbrock(x):
    return np.sum(100 * (x[1::2] - x[::2] ** 2) ** 2 + (1 - x[::2]) ** 2)


def arrow(x):
    # one dense row and one dense column: bidirectional needs 2-3 products
    return np.concatenate([[np.sum(x ** 2)], x[1:] * x[0] + np.sin(x[1:])])


def _check_jacobian(jac, f, x):
    J = jac(x)
    assert isinstance(J, sp.csr_array) and J.dtype == np.float64
    ref = complex_step_jacobian(f, x)
    np.testing.assert_allclose(J.toarray(), ref.reshape(J.shape), rtol=1e-10, atol=1e-10)
    assert np.array_equal(J.indptr, jac.sparsity.indptr)
    assert np.array_equal(J.indices, jac.sparsity.indices)
    y, J2 = jac.value_and_jacobian(x)
    np.testing.assert_allclose(y, f(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(J2.toarray(), J.toarray(), rtol=1e-12, atol=1e-13)


def _check_hessian(hes, f, x):
    H = hes(x)
    ref = complex_step_hessian(f, x)
    scale = 1 + np.abs(ref).max()
    np.testing.assert_allclose(H.toarray(), ref, rtol=1e-5, atol=1e-6 * scale)
    assert abs(H - H.T).max() <= 1e-12 * scale
    v, g, H2 = hes.value_gradient_and_hessian(x)
    np.testing.assert_allclose(v, f(x), rtol=1e-12)
    np.testing.assert_allclose(g.ravel(), complex_step_jacobian(f, x)[0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(H2.toarray(), H.toarray(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("engine", ["vm", "tape"])
@pytest.mark.parametrize("mode", J_MODES)
@pytest.mark.parametrize("f,n", [(iter_diff, 12), (brusselator, 72), (arrow, 9)],
                         ids=["iter_diff", "brusselator", "arrow"])
def test_jacobian_modes_and_engines(f, n, mode, engine):
    jac = symasd.jacobian(f, np.zeros(n), mode=mode, engine=engine)
    assert jac.mode == mode or mode == "auto"
    rng = np.random.default_rng(n)
    for _ in range(2):
        _check_jacobian(jac, f, rng.uniform(0.1, 1.0, n))


@pytest.mark.parametrize("order", ORDERS)
def test_jacobian_orders(order):
    jac = symasd.jacobian(brusselator, np.zeros(72), order=order, mode="forward")
    _check_jacobian(jac, brusselator, np.random.default_rng(3).uniform(0, 1, 72))
    jac = symasd.jacobian(arrow, np.zeros(9), order=order, mode="reverse", engine="tape")
    _check_jacobian(jac, arrow, np.random.default_rng(4).uniform(0, 1, 9))


def test_bidirectional_beats_one_sided_on_arrow():
    jac = symasd.jacobian(arrow, np.zeros(30), mode="bidirectional")
    assert jac.ncolors <= 3
    assert symasd.jacobian(arrow, np.zeros(30), mode="forward").ncolors == 30
    _check_jacobian(jac, arrow, np.random.default_rng(5).uniform(0, 1, 30))
    assert "JVP" in repr(jac) and "VJP" in repr(jac)


@pytest.mark.parametrize("engine", ["vm", "tape"])
@pytest.mark.parametrize("mode", H_MODES)
@pytest.mark.parametrize("f,n", [(rosenbrock, 10), (extended_rosenbrock, 10),
                                 (lambda x: np.sum(np.exp(x[::2] * x[1::2]))
                                  + np.sum(x) ** 2 * 0.01, 8)],
                         ids=["rosenbrock", "extended", "dense-ish"])
def test_hessian_modes_and_engines(f, n, mode, engine):
    hes = symasd.hessian(f, np.zeros(n), mode=mode, engine=engine)
    rng = np.random.default_rng(n)
    _check_hessian(hes, f, rng.uniform(-1, 1, n))


@pytest.mark.parametrize("order", ORDERS)
def test_hessian_orders(order):
    for mode in ("star", "acyclic"):
        hes = symasd.hessian(rosenbrock, np.zeros(12), mode=mode, order=order)
        _check_hessian(hes, rosenbrock, np.random.default_rng(1).uniform(-1, 1, 12))


@settings(max_examples=25)
@given(programs(), st.sampled_from(["forward", "reverse", "bidirectional", "auto"]),
       st.sampled_from(["vm", "tape"]))
def test_random_programs_jacobian(prog, mode, engine):
    n = prog[0]
    f = lambda x: run(prog, x)  # noqa: E731
    jac = symasd.jacobian(f, np.zeros(n), mode=mode, engine=engine)
    x = np.random.default_rng(n).uniform(-0.9, 0.9, n)
    J = jac(x).toarray()
    with np.errstate(all="ignore"):
        ref = complex_step_jacobian(lambda z: run(prog, z, COMPLEX_STEP), x)
    np.testing.assert_allclose(J, ref, rtol=1e-8, atol=1e-8)
    # independent check with central differences on the plain NumPy function
    fd = central_jacobian(f, x)
    assert np.allclose(J, fd, rtol=1e-4, atol=1e-4) or not np.all(np.isfinite(fd))


@settings(max_examples=20)
@given(programs(max_steps=4, n_max=5, selections=False),
       st.sampled_from(["star", "acyclic", "column", "auto"]), st.sampled_from(["vm", "tape"]))
def test_random_programs_hessian(prog, mode, engine):
    n = prog[0]
    f = lambda x: run_scalar(prog, x)  # noqa: E731
    hes = symasd.hessian(f, np.zeros(n), mode=mode, engine=engine)
    x = np.random.default_rng(n).uniform(-0.9, 0.9, n)
    H = hes(x).toarray()
    ref = complex_step_hessian(lambda z: run_scalar(prog, z, COMPLEX_STEP), x)
    scale = 1 + np.abs(ref).max()
    np.testing.assert_allclose(H, ref, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-12 * scale)


def test_parameters_change_without_repreparation():
    def rhs(y, p):
        return p[0] * np.diff(y) ** 2 + p[1] * y[1:]

    jac = symasd.jacobian(rhs, np.zeros(6), np.array([1.0, 2.0]))
    y = np.linspace(0, 1, 6)
    for p in ([1.0, 2.0], [3.0, -1.0]):
        p = np.array(p)
        ref = complex_step_jacobian(lambda z, p=p: rhs(z, p), y)
        np.testing.assert_allclose(jac(y, p).toarray(), ref, rtol=1e-12, atol=1e-12)
    tape = symasd.jacobian(rhs, np.zeros(6), np.array([1.0, 2.0]), engine="tape")
    np.testing.assert_allclose(tape(y, np.array([3.0, -1.0])).toarray(),
                               jac(y, np.array([3.0, -1.0])).toarray(), rtol=1e-12)

    def lagrangian(x, lam):
        return np.sum(x ** 4) + lam[0] * np.sum(x[1:] * x[:-1])

    hes = symasd.hessian(lagrangian, np.zeros(5), np.array([0.0]))
    x = np.linspace(-1, 1, 5)
    for lam in (0.0, 2.5):
        ref = complex_step_hessian(lambda z, lam=lam: lagrangian(z, np.array([lam])), x)
        np.testing.assert_allclose(hes(x, np.array([lam])).toarray(), ref, rtol=1e-6,
                                   atol=1e-6)


def test_wrong_shapes_raise_input_error():
    jac = symasd.jacobian(lambda x, p: x * p, np.zeros(3), np.ones(3))
    with pytest.raises(InputError, match="shape"):
        jac(np.zeros(4), np.ones(3))
    with pytest.raises(InputError, match="shape"):
        jac(np.zeros(3), np.ones(2))
    with pytest.raises(InputError, match="parameter"):
        jac(np.zeros(3))
    hes = symasd.hessian(rosenbrock, np.zeros(4))
    with pytest.raises(InputError, match="shape"):
        hes(np.zeros((2, 2)))
    with pytest.raises(InputError, match="scalar"):
        symasd.hessian(lambda x: x ** 2, np.zeros(3))
    with pytest.raises(InputError, match="mode"):
        symasd.jacobian(iter_diff, np.zeros(5), mode="sideways")
    with pytest.raises(InputError, match="engine"):
        symasd.jacobian(iter_diff, np.zeros(5), engine="gpu")


@pytest.mark.parametrize("engine", ["vm", "tape"])
def test_nan_inputs_give_nan_entries(engine):
    jac = symasd.jacobian(brusselator, np.zeros(72), engine=engine)
    x = np.full(72, 0.5)
    x[3] = np.nan
    J = jac(x)
    assert np.isnan(J.data).any() and np.isfinite(J.data).any()
    hes = symasd.hessian(rosenbrock, np.zeros(6), engine=engine)
    H = hes(np.array([1.0, np.nan, 1.0, 1.0, 1.0, 1.0]))
    assert np.isnan(H.data).any()


def test_nan_through_maximum_and_minimum_agrees_between_engines():
    # maximum/minimum of a NaN have NaN partials on both engines (the compiled
    # comparisons alone would give 0 there)
    def f(x):  # linear in the partials: NaN entries come from them alone
        return np.maximum(x[:-1], 2 * x[1:]) + np.minimum(x[1:], x[:-1])

    def h(x):  # the Hessian holds the partials of maximum/minimum, not their values
        return np.sum(np.maximum(x[:-1], x[1:]) * x[:-1] + np.minimum(x[1:], 0.5) * x[1:])

    x0 = np.random.default_rng(1).normal(size=8)
    x = x0.copy()
    x[3] = np.nan
    for build, fn in ((symasd.jacobian, f), (symasd.hessian, h)):
        vm, tape = (build(fn, x0, engine=e) for e in ("vm", "tape"))
        nan_vm = np.isnan(vm(x).toarray())
        assert nan_vm.any()
        np.testing.assert_array_equal(nan_vm, np.isnan(tape(x).toarray()))
        np.testing.assert_allclose(vm(x0).toarray(), tape(x0).toarray(), rtol=1e-12)


def test_untaken_branch_with_infinite_derivative_is_never_read():
    # both engines select the branch taken: the untaken branch's infinite
    # derivative (sqrt at 0) never reaches the result (tests/test_guarded.py
    # checks the guarded idioms in full)
    def leaky(x):
        return np.where(x > 0, np.sqrt(x), 0.0)

    x = np.array([0.0, 1.0, 4.0])
    for engine in ("vm", "tape"):
        for mode in ("forward", "reverse"):
            J = symasd.jacobian(leaky, np.ones(3), engine=engine, mode=mode)(x).toarray()
            np.testing.assert_array_equal(J.diagonal(), [0.0, 0.5, 0.25])


def test_structure_is_identical_on_every_call():
    jac = symasd.jacobian(brusselator, np.zeros(72))
    J1, J2 = jac(np.ones(72)), jac(np.full(72, 2.0))
    assert np.array_equal(J1.indptr, J2.indptr) and np.array_equal(J1.indices, J2.indices)
    assert J1.has_sorted_indices and J1.nnz == jac.nnz


def test_seed_demo_counts_and_summary():
    jac = symasd.jacobian(iter_diff, np.zeros(10))
    assert jac.ncolors == 4 and jac.shape == (7, 10) and jac.nnz == 28
    text = repr(jac)
    assert "4 JVPs instead of 10" in text and "7 x 10" in text
    # the compiled derivative of iter_diff is constant: it folds to the four band values
    assert sorted(set(jac(np.random.rand(10)).data.tolist())) == [-3.0, -1.0, 1.0, 3.0]


def test_graph_input_and_large_problem():
    g = symasd.trace(iter_diff, np.zeros(20000))
    jac = symasd.jacobian(g, None)
    J = jac(np.random.rand(20000))
    assert J.nnz == 4 * (20000 - 3) and jac.ncolors == 4


@pytest.mark.parametrize("mode", ["forward", "reverse", "bidirectional"])
def test_tape_calls_return_independent_matrices(mode):
    jac = symasd.jacobian(brusselator, np.zeros(72), mode=mode, engine="tape")
    hes = symasd.hessian(rosenbrock, np.zeros(30), mode="acyclic", engine="tape")
    rng = np.random.default_rng(8)
    xs, zs = rng.uniform(0.5, 1.5, (2, 72)), rng.uniform(-1, 1, (2, 30))
    J0, H0 = jac(xs[0]), hes(zs[0])
    first = J0.data.copy(), H0.data.copy()
    J1, H1 = jac(xs[1]), hes(zs[1])
    # a later call (which reuses the sweep's work buffers) leaves earlier results alone
    np.testing.assert_array_equal(J0.data, first[0])
    np.testing.assert_array_equal(H0.data, first[1])
    assert not np.shares_memory(J0.data, J1.data) and not np.shares_memory(H0.data, H1.data)
    vm_jac = symasd.jacobian(brusselator, np.zeros(72), engine="vm")
    np.testing.assert_allclose(J1.toarray(), vm_jac(xs[1]).toarray(), rtol=1e-13, atol=1e-13)
    v, g, H = hes.value_gradient_and_hessian(zs[1])
    np.testing.assert_array_equal(H.data, H1.data)
    np.testing.assert_allclose(g, symasd.hessian(rosenbrock, np.zeros(30)).
                               value_gradient_and_hessian(zs[1])[1], rtol=1e-13)


def test_tape_calls_from_concurrent_threads():
    from concurrent.futures import ThreadPoolExecutor

    jac = symasd.jacobian(iter_diff, np.zeros(3000), engine="tape")
    hes = symasd.hessian(rosenbrock, np.zeros(2000), engine="tape")
    rng = np.random.default_rng(9)
    xs = rng.uniform(-1, 1, (16, 3000))
    work = [(jac, x) for x in xs] + [(hes, x[:2000]) for x in xs]
    expected = [f(x).data for f, x in work]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda fx: fx[0](fx[1]).data, work * 3))
    for a, b in zip(got, expected * 3, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("build,f,n", [(symasd.hessian, rosenbrock, 40),
                                       (symasd.jacobian, brusselator, 72)],
                         ids=["hessian", "jacobian"])
def test_compiled_graphs_hold_only_needed_nodes(build, f, n):
    # derivative DAGs are evaluated at every call: no node that no output needs
    from symasd import _dag

    compiled = build(f, np.zeros(n)).compiled
    for g in (compiled.graph, compiled.matrix_graph):
        live = np.zeros(g.n_nodes, dtype=np.uint8)
        _dag.live_nodes(g.op, g.arg0, g.arg1, g.arg2, g.outputs, live)
        assert live.all()


@pytest.mark.parametrize("engine", ["tape", "vm", "numpy"])
def test_powers_with_a_parameter_keep_their_zeros(engine):
    """x ** p with p = 1 or 0 and p ** x with p = 0 have derivatives that exist at
    x = 0 (0 ** -1 and log 0 appear only multiplied by an exact zero): 0, not NaN."""
    hes = symasd.hessian(lambda x, p: np.sum(x ** p), np.zeros(2), np.array(1.0), engine=engine)
    for p, diagonal in ((1.0, 0.0), (2.0, 2.0), (0.0, 0.0)):
        np.testing.assert_array_equal(hes(np.zeros(2), np.array(p)).toarray(),
                                      diagonal * np.eye(2))
    jac = symasd.jacobian(lambda x, p: p ** x, np.ones(2), np.array(0.0), engine=engine)
    np.testing.assert_array_equal(jac(np.ones(2), np.array(0.0)).toarray(), np.zeros((2, 2)))
    jac = symasd.jacobian(lambda x, p: x ** p, np.ones(2), np.array(0.0), engine=engine)
    np.testing.assert_array_equal(jac(np.zeros(2), np.array(0.0)).toarray(), np.zeros((2, 2)))
    # where nothing is singular, the usual derivatives
    x, p = np.array([0.7, 1.9]), np.array(1.3)
    both = symasd.jacobian(lambda z: z[:2] ** z[2] + z[2] ** z[:2], np.ones(3), engine=engine)
    z = np.append(x, p)
    np.testing.assert_allclose(both(z).toarray(),
                               central_jacobian(lambda z: z[:2] ** z[2] + z[2] ** z[:2], z),
                               rtol=1e-7)
    h2 = symasd.hessian(lambda z: np.sum(z[:2] ** z[2]), np.ones(3), engine=engine)
    np.testing.assert_allclose(h2(z).toarray(),
                               complex_step_hessian(lambda z: np.sum(z[:2] ** z[2]), z),
                               rtol=1e-7)


def test_a_graph_takes_x0_of_its_shape_or_none():
    g = symasd.trace(lambda x: x ** 2, np.ones(4))
    assert symasd.jacobian(g, None).shape == symasd.jacobian(g, np.ones(4)).shape == (4, 4)
    for x0 in (np.ones(7), "junk"):
        with pytest.raises(InputError, match="x0"):
            symasd.jacobian(g, x0)
    for f in (5, "f", None):
        with pytest.raises(InputError, match="f must be a function"):
            symasd.trace(f, np.ones(3))
        with pytest.raises(InputError, match="f must be a function"):
            symasd.jacobian_sparsity(f, np.ones(3))
