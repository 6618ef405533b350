"""Ensembles on Dask (symasd.ensemble): chunked evaluation equals single-process calls
bit for bit, on the local scheduler and on a LocalCluster of two worker processes."""

import os
import sys

import cloudpickle
import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster
from test_derivatives import brusselator, rosenbrock

import symasd
from symasd import ensemble
from symasd.errors import InputError, MissingDependencyError

# the workers cannot import this test module (tests/ is no package on their path):
# its functions travel by value, as those of a user's __main__ script do
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _rhs(y, p):
    return brusselator(y) * p[0] + p[1] * y


@pytest.fixture(scope="module")
def client():
    # the workers import the symasd these tests import (installed, or built in place)
    home = os.path.dirname(os.path.dirname(symasd.__file__))
    path = os.pathsep.join([home, *filter(None, [os.environ.get("PYTHONPATH")])])
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = path
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as c:
            yield c
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def _points(b, n, seed=0):
    return np.random.default_rng(seed).uniform(0.1, 1.0, (b, n))


def test_local_scheduler_equals_single_calls():
    jac = symasd.jacobian(_rhs, np.zeros(72), np.ones(2))
    p = np.array([1.3, 0.2])
    X = _points(23, 72)
    Xd = da.from_array(X, chunks=((5, 9, 2, 7), 72))  # uneven chunks
    with dask.config.set(scheduler="threads"):
        D = ensemble.data(jac, Xd, p)
        assert D.chunks == ((5, 9, 2, 7), (jac.nnz,))
        D = D.compute()
        V = ensemble.values(jac, Xd, p).compute()
    for i in range(23):
        assert np.array_equal(D[i], ensemble.data(jac, X[i:i + 1], p)[0])
        np.testing.assert_allclose(D[i], jac(X[i], p).data, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(V[i], _rhs(X[i], p), rtol=1e-12, atol=1e-12)
    assert np.array_equal(ensemble.data(jac, X, p), D)  # NumPy X: evaluated here


def test_cluster_equals_single_process(client):
    jac = symasd.jacobian(_rhs, np.zeros(72), np.ones(2))
    hes = symasd.hessian(rosenbrock, np.zeros(10))
    p = np.array([0.7, -0.4])
    X = _points(41, 72, 1)
    Xd = da.from_array(X, chunks=((10, 10, 10, 11), 72))
    D = ensemble.data(jac, Xd, p).compute()
    assert np.array_equal(D, ensemble.data(jac, X, p))  # to the last bit
    Xh = _points(17, 10, 2)
    H = ensemble.data(hes, da.from_array(Xh, chunks=6)).compute()
    assert np.array_equal(H, ensemble.data(hes, Xh))
    for i in (0, 16):
        np.testing.assert_allclose(H[i], hes(Xh[i]).data, rtol=1e-12, atol=1e-12)
    F = ensemble.values(hes, da.from_array(Xh, chunks=6)).compute()
    assert F.shape == (17,) and np.allclose(F[3], rosenbrock(Xh[3]))
    # 7 chunks of 2 modules on 2 workers: each worker compiled each module once at most
    counts = client.run(lambda: sys.modules["symasd.ensemble"].compilations)
    assert len(counts) == 2 and max(counts.values()) <= 2 and sum(counts.values()) >= 2


def test_the_source_is_one_task_of_the_graph():
    jac = symasd.jacobian(_rhs, np.zeros(72), np.ones(2))
    D = ensemble.data(jac, da.from_array(_points(40, 72), chunks=4), np.ones(2))
    graph = dict(D.__dask_graph__())
    holding = [k for k, v in graph.items() if "jacobian_data" in repr(v) and "def " in repr(v)]
    assert len(holding) == 1, holding  # ten chunks, one copy of the source


def test_bad_input():
    jac = symasd.jacobian(_rhs, np.zeros(72), np.ones(2))
    with pytest.raises(InputError, match=r"expected \(B, \*INPUT_SHAPE\)"):
        ensemble.data(jac, da.zeros((4, 71)), np.ones(2))
    with pytest.raises(InputError, match="parameter arrays"):
        ensemble.data(jac, da.zeros((4, 72)))
    with pytest.raises(InputError, match="shape"):
        ensemble.data(jac, da.zeros((4, 72)), np.ones(3))
    with pytest.raises(InputError, match="prepared Jacobian or Hessian"):
        ensemble.data(lambda x: x, da.zeros((4, 72)))
    # a parameter as a prepared call checks it (complex parts were dropped)
    with pytest.raises(InputError, match="complex"):
        ensemble.data(jac, da.zeros((4, 72)), np.ones(2) + 1j)
    with pytest.raises(InputError, match="real array of float64"):
        ensemble.data(jac, da.zeros((4, 72)), "ab")


def test_missing_dask_names_the_install_command(monkeypatch):
    jac = symasd.jacobian(_rhs, np.zeros(72), np.ones(2))
    X = da.zeros((4, 72))
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "symasd\[dask\]"'):
        ensemble.data(jac, X, np.ones(2))


def _square_root(x, c):
    return x * x - c


def test_newton_ensemble_with_failing_points(client):
    from symasd import solvers

    c = [np.array([4.0, 9.0]), np.array([-1.0, 1.0]), np.array([16.0, 2.0]),
         np.array([25.0, 36.0])]
    x0s = np.ones((4, 2))
    results = ensemble.solve("root", _square_root, x0s, [(ci,) for ci in c], client=client)
    assert [r.success for r in results] == [True, False, True, True]
    assert results[1].message  # says why (no real root for c = -1)
    for r, ci in zip(results, c, strict=True):
        single = solvers.root(_square_root, np.ones(2), args=(ci,))
        assert r.success == single.success and r.status == single.status
        if r.success:
            np.testing.assert_allclose(r.x, np.sqrt(ci), rtol=1e-10)
            assert np.array_equal(r.x, single.x)
    # a point that raises (a changed static argument) fails alone
    mixed = ensemble.solve("root", _square_root, x0s[:2], [(c[0],), (3,)], client=client)
    assert mixed[0].success and not mixed[1].success
    assert "InputError" in mixed[1].message


def test_ensemble_solve_bad_input():
    with pytest.raises(InputError, match="unknown solver"):
        ensemble.solve("fsolve", _square_root, np.ones((2, 2)))
    with pytest.raises(InputError, match="one per point"):
        ensemble.solve("root", _square_root, np.ones((2, 2)), [(np.ones(2),)])
    with pytest.raises(InputError, match="t_span"):
        ensemble.solve("solve_ivp", _square_root, np.ones((2, 2)))


def _decay(t, y, k):
    return -k * y


def test_solve_ivp_ensemble(client):
    y0s = np.array([[1.0, 2.0], [3.0, 1.0], [0.5, 0.5]])
    ks = [(np.array([1.0, 2.0]),), (np.array([0.5, 3.0]),), (np.array([4.0, 1.0]),)]
    results = ensemble.solve("solve_ivp", _decay, y0s, ks, client=client, t_span=(0.0, 1.0),
                             rtol=1e-10, atol=1e-12)
    for r, y0, (k,) in zip(results, y0s, ks, strict=True):
        assert r.success
        np.testing.assert_allclose(r.y[:, -1], y0 * np.exp(-k), rtol=1e-7)


def test_complex_points_and_static_arguments():
    hes = symasd.hessian(rosenbrock, np.zeros(10))
    with pytest.raises(InputError, match="complex"):
        ensemble.data(hes, np.ones((4, 10)) + 1j)

    def scaled(x, k):  # k: a Python number, static data
        return x * k

    jac = symasd.jacobian(scaled, np.ones(3), 3)
    D = ensemble.data(jac, np.ones((2, 3)), 3)
    assert np.array_equal(D, np.full((2, 3), 3.0))
