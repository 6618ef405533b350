"""The SciPy cookbook's bundle adjustment, with its own function and argument list:
symasd prepares and evaluates it verbatim (static index arrays and sizes,
np.linalg.norm, np.nan_to_num, np.cross), with the cookbook's pattern exactly,
and its Jacobian matches finite differences on both engines."""

import numpy as np
import pytest
import scipy.optimize
from bundle_adjustment import bundle_adjustment_sparsity, fun, problem
from reference import central_jacobian

import symasd


@pytest.mark.parametrize("engine", ["vm", "tape"])
def test_cookbook_residual_prepares_and_evaluates_verbatim(engine):
    x0, args = problem(n_cameras=6, n_points=20, n_observations=60)
    jac = symasd.jacobian(fun, x0, *args, engine=engine)
    assert jac.graph.param_shapes == ((60, 2),)  # points_2d; the rest is static
    np.testing.assert_array_equal(jac.sparsity.toarray(),
                                  bundle_adjustment_sparsity(*args[:4]).toarray() != 0)
    x = x0 * (1 + 1e-3 * np.random.default_rng(1).standard_normal(x0.size))
    y, J = jac.value_and_jacobian(x, *args)
    np.testing.assert_allclose(y, fun(x, *args), rtol=1e-12, atol=1e-9)
    fd = central_jacobian(lambda v: fun(v, *args), x, h=1e-6)
    np.testing.assert_allclose(J.toarray(), fd, rtol=1e-5, atol=1e-4 * np.abs(fd).max())


def test_a_zero_rotation_vector_gives_the_limit_of_rodrigues_formula():
    """rot_vecs / theta is 0 / 0 at a zero rotation: np.nan_to_num makes it 0 in the
    cookbook's rotate, and the derivative (a selection) is that of the branch taken."""
    x0, args = problem(n_cameras=2, n_points=4, n_observations=8)
    x0[:3] = 0.0
    J = symasd.jacobian(fun, x0, *args)(x0, *args)
    assert np.isfinite(J.data).all()


def test_least_squares_with_the_prepared_jacobian():
    x0, args = problem(n_cameras=4, n_points=15, n_observations=50, seed=2)
    jac = symasd.jacobian(fun, x0, *args)
    res = scipy.optimize.least_squares(fun, x0, jac=jac, args=args, x_scale="jac",
                                       method="trf", max_nfev=20)
    assert res.cost < 0.5 * np.sum(fun(x0, *args) ** 2)
    assert res.njev >= 1
