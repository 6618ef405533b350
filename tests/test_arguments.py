"""SciPy-style arguments after x: float arrays are parameters, Python numbers and
integer or boolean arrays are static data (symasd/arguments.py)."""

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from reference import complex_step_hessian, complex_step_jacobian

import symasd
from symasd import InputError
from symasd.arguments import Arguments, is_parameter

ENGINES = ["vm", "tape"]


def residual(x, n, idx, mask, data, scale=2.0):
    """SciPy-style: a size, an index array, a mask, float data and a Python float."""
    y = x[:n] * x[idx] - data
    return np.where(mask, scale * y, np.sin(y))


def _args(rng):
    n = 5
    idx = np.array([1, 3, 0, 4, 2])
    mask = np.array([True, False, True, True, False])
    data = rng.standard_normal(n)
    return n, idx, mask, data


@pytest.mark.parametrize("engine", ENGINES)
def test_static_arguments_jacobian_and_hessian(engine):
    rng = np.random.default_rng(0)
    n, idx, mask, data = _args(rng)
    x0 = rng.standard_normal(7)
    jac = symasd.jacobian(residual, x0, n, idx, mask, data, 3.0, engine=engine)
    assert jac.graph.param_shapes == ((5,),)  # only the float array is a parameter
    for _ in range(2):
        x, d = rng.standard_normal(7), rng.standard_normal(n)
        J = jac(x, n, idx, mask, d, 3.0).toarray()
        ref = complex_step_jacobian(lambda z, d=d: residual(z, n, idx, mask, d, 3.0), x)
        np.testing.assert_allclose(J, ref, rtol=1e-12, atol=1e-12)
        y, J2 = jac.value_and_jacobian(x, n, list(idx), mask.tolist(), d, 3.0)
        np.testing.assert_allclose(y, residual(x, n, idx, mask, d, 3.0), rtol=1e-14)
        np.testing.assert_array_equal(J2.toarray(), J)

    def loss(x, n, idx, mask, data):
        return np.sum(residual(x, n, idx, mask, data) ** 2)

    hes = symasd.hessian(loss, x0, n, idx, mask, data, engine=engine)
    x = rng.standard_normal(7)
    H = hes(x, n, idx, mask, data).toarray()
    ref = complex_step_hessian(lambda z: loss(z, n, idx, mask, data), x)
    np.testing.assert_allclose(H, ref, rtol=1e-6, atol=1e-6)
    v, g, H2 = hes.value_gradient_and_hessian(x, n, idx, mask, data)
    np.testing.assert_allclose(g, complex_step_jacobian(lambda z: loss(z, n, idx, mask, data),
                                                        x)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_changed_static_arguments_are_refused_naming_the_argument(engine):
    rng = np.random.default_rng(1)
    n, idx, mask, data = _args(rng)
    x0 = rng.standard_normal(7)
    jac = symasd.jacobian(residual, x0, n, idx, mask, data, 3.0, engine=engine)
    with pytest.raises(InputError, match=r"argument 1 after x is static data \(a Python "
                                         r"number\): it was 5, got 4"):
        jac(x0, 4, idx, mask, data, 3.0)
    with pytest.raises(InputError, match=r"argument 2 after x is static data \(an array of "
                                         r"dtype int64 and shape \(5,\)\).*other values"):
        jac(x0, n, idx[::-1], mask, data, 3.0)
    with pytest.raises(InputError, match=r"argument 3 .*it was an array of dtype bool and "
                                         r"shape \(5,\), got an array of dtype bool and "
                                         r"shape \(4,\)"):
        jac(x0, n, idx, mask[:4], data, 3.0)
    with pytest.raises(InputError, match=r"argument 5 .*it was 3.0, got 3.5.*np.array\(0.5\)"):
        jac.value_and_jacobian(x0, n, idx, mask, data, 3.5)
    with pytest.raises(InputError, match="prepared with 5 argument.*1 parameter.*4 static.*got 4"):
        jac(x0, n, idx, mask, data)
    with pytest.raises(InputError, match="parameter 0"):  # the parameter still checked
        jac(x0, n, idx, mask, np.ones(4), 3.0)
    hes = symasd.hessian(lambda x, k: np.sum(x[:k] ** 3), x0, 3, engine=engine)
    with pytest.raises(InputError, match="it was 3, got 2"):
        hes(x0, 2)
    with pytest.raises(InputError, match="it was 3, got 4"):
        hes.value_gradient_and_hessian(x0, 4)
    np.testing.assert_allclose(hes(x0, 3).diagonal()[:3], 6 * x0[:3])


def test_other_static_objects_must_be_the_same_object():
    A = sp.random_array((4, 6), density=0.5, random_state=2, format="csr")

    def f(x, A, label):
        return np.asarray(A.toarray()) @ x + (1.0 if label == "a" else 2.0)

    x0 = np.ones(6)
    jac = symasd.jacobian(f, x0, A, "a")
    np.testing.assert_allclose(jac(x0, A, "a").toarray(), A.toarray())
    np.testing.assert_allclose(jac(x0, A.copy(), "a").toarray(), A.toarray())  # equal values
    B, original = A.copy(), A.copy()
    B.data[0] += 1.0
    with pytest.raises(InputError, match=r"argument 1 .*it was a csr_array of shape \(4, 6\), "
                                         r"got a csr_array of shape \(4, 6\)"):
        jac(x0, B, "a")
    A.data[0] += 1.0  # changed in place: compared with the copy taken at preparation
    with pytest.raises(InputError, match="argument 1 after x is static"):
        jac(x0, A, "a")
    with pytest.raises(InputError, match="argument 2 .*it was 'a', got 'b'"):
        jac(x0, original, "b")
    marker = object()
    jac = symasd.jacobian(lambda x, m: x * 2.0, x0, marker)
    jac(x0, marker)
    with pytest.raises(InputError, match=r"\(a object\): got another object than the one "
                                         "passed at preparation"):
        jac(x0, object())


def test_the_sparsity_functions_and_trace_take_static_arguments():
    idx = np.array([2, 0, 1])
    P = symasd.jacobian_sparsity(lambda x, i, k: x[i] * x[k], np.ones(3), idx, 1)
    np.testing.assert_array_equal(P.toarray(), [[0, 1, 1], [1, 1, 0], [0, 1, 0]])
    H = symasd.hessian_sparsity(lambda x, i: np.sum(x[i[:2]] ** 2), np.ones(3), idx)
    np.testing.assert_array_equal(H.toarray(), np.diag([1, 0, 1]))
    g = symasd.trace(lambda x, i, p: x[i] * p, np.ones(3), idx, np.ones(3))
    assert g.param_shapes == ((3,),)
    np.testing.assert_allclose(g(np.arange(3.0), np.full(3, 2.0)), [4.0, 0.0, 2.0])


def test_least_squares_with_args_and_the_prepared_jacobian():
    """SciPy calls jac(x, *args) with the same args as fun: it just works."""
    t = np.linspace(0, 3, 30)
    y = 2.0 * np.exp(-1.3 * t) + 0.5

    def fun(p, t, y, n):
        return p[0] * np.exp(-p[1] * t[:n]) + p[2] - y[:n]

    jac = symasd.jacobian(fun, np.ones(3), t, y, 30)
    res = scipy.optimize.least_squares(fun, np.ones(3), jac=jac, args=(t, y, 30))
    np.testing.assert_allclose(res.x, [2.0, 1.3, 0.5], rtol=1e-8)


def test_classification_of_arguments():
    assert [is_parameter(v) for v in (np.ones(2), [1.0, 2.0], np.array(1.0), (0.5,))] == \
        [True] * 4
    assert not any(is_parameter(v) for v in (1, 2.5, True, np.float64(2.0), np.arange(3),
                                             [1, 2], np.array([True]), None, "s",
                                             sp.eye_array(2), [[1.0], [1.0, 2.0]]))
    a = Arguments.of((1, np.ones(2)))
    assert a.kinds == ("static", "parameter") and a.has_static
    with pytest.raises(InputError, match="must be a tuple"):
        a.parameters(np.ones(2))
    idx = np.arange(3)
    a = Arguments.of((idx,))
    idx[0] = 7  # the check compares with a copy taken at preparation
    with pytest.raises(InputError, match="other values"):
        a.parameters((idx,))


# ---- local=True through the main entry points ----------------------------------


def branchy(x):
    """A Python `if` on a traced value: traceable with local=True only."""
    if x[0] > 0:
        return np.concatenate([x[1:] * x[0], [np.sqrt(x[0])]])
    return np.concatenate([np.sin(x[1:]), [x[0] ** 2]])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("x0", [np.array([0.5, 1.0, 2.0, -1.0]),
                                np.array([-0.5, 1.0, 2.0, -1.0])], ids=["then", "else"])
def test_local_jacobian_and_hessian(engine, x0):
    with pytest.raises(symasd.TracingError, match="local=True"):
        symasd.jacobian(branchy, x0)
    jac = symasd.jacobian(branchy, x0, engine=engine, local=True)
    assert jac.graph.local
    x = x0 + 0.01  # near x0: the same branch
    np.testing.assert_allclose(jac(x).toarray(), complex_step_jacobian(branchy, x),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(jac.sparsity.toarray(),
                                  symasd.jacobian_sparsity(branchy, x0, local=True).toarray())
    if x0[0] > 0:  # the then-branch's pattern: x[0] reaches every output
        assert jac.sparsity[:, [0]].toarray().all()

    def loss(x):
        return np.sum(branchy(x) ** 2)

    hes = symasd.hessian(loss, x0, engine=engine, local=True)
    np.testing.assert_allclose(hes(x).toarray(), complex_step_hessian(loss, x), rtol=1e-6,
                               atol=1e-6)
    np.testing.assert_array_equal(hes.sparsity.toarray(),
                                  symasd.hessian_sparsity(loss, x0, local=True).toarray())


def test_local_needs_a_local_graph_and_a_finite_point():
    g = symasd.trace(lambda x: x ** 2, np.ones(3))
    with pytest.raises(InputError, match="local=True needs a local graph"):
        symasd.jacobian(g, np.ones(3), local=True)
    with pytest.raises(InputError, match="finite"):
        symasd.hessian(lambda x: np.sum(x ** 2), np.array([1.0, np.nan]), local=True)
    gl = symasd.trace(branchy, np.ones(4), local=True)
    np.testing.assert_allclose(symasd.jacobian(gl, np.ones(4), local=True)(np.ones(4))
                               .toarray()[0, :2], [1.0, 1.0])


def test_a_traced_value_cannot_become_a_python_number():
    import math

    for f in (lambda x: float(x[0]) * x, lambda x: int(x[1]) * x, lambda x: math.sin(x[0]) * x):
        with pytest.raises(symasd.TracingError,
                           match="a traced value cannot become a Python number.*np.sin, not "
                                 "math.sin"):
            symasd.jacobian(f, np.ones(3))
