"""The SciPy cookbook's large-scale bundle adjustment residual, written as the
cookbook writes it (``rotate``, ``project``, ``fun`` with SciPy's argument list),
and a synthetic problem of any size (the cookbook reads a BAL file; here the
cameras and points are random and the observations their projections).

Used by tests/test_bundle_adjustment.py and benchmarks/bundle_adjustment.py.
"""

import numpy as np
from scipy.sparse import lil_matrix


def rotate(points, rot_vecs):
    """Rotate points by given rotation vectors.

    Rodrigues' rotation formula is used.
    """
    theta = np.linalg.norm(rot_vecs, axis=1)[:, np.newaxis]
    with np.errstate(invalid='ignore'):
        v = rot_vecs / theta
        v = np.nan_to_num(v)
    dot = np.sum(points * v, axis=1)[:, np.newaxis]
    cos_theta = np.cos(theta)
    sin_theta = np.sin(theta)

    return cos_theta * points + sin_theta * np.cross(v, points) + dot * (1 - cos_theta) * v


def project(points, camera_params):
    """Convert 3-D points to 2-D by projecting onto images."""
    points_proj = rotate(points, camera_params[:, :3])
    points_proj += camera_params[:, 3:6]
    points_proj = -points_proj[:, :2] / points_proj[:, 2, np.newaxis]
    f = camera_params[:, 6]
    k1 = camera_params[:, 7]
    k2 = camera_params[:, 8]
    n = np.sum(points_proj**2, axis=1)
    r = 1 + k1 * n + k2 * n**2
    points_proj *= (r * f)[:, np.newaxis]
    return points_proj


def fun(params, n_cameras, n_points, camera_indices, point_indices, points_2d):
    """Compute residuals.

    `params` contains camera parameters and 3-D coordinates.
    """
    camera_params = params[:n_cameras * 9].reshape((n_cameras, 9))
    points_3d = params[n_cameras * 9:].reshape((n_points, 3))
    points_proj = project(points_3d[point_indices], camera_params[camera_indices])
    return (points_proj - points_2d).ravel()


def bundle_adjustment_sparsity(n_cameras, n_points, camera_indices, point_indices):
    """The cookbook's hand-written pattern: each observation's two residuals depend
    on its camera's 9 parameters and its point's 3 coordinates."""
    m = camera_indices.size * 2
    n = n_cameras * 9 + n_points * 3
    A = lil_matrix((m, n), dtype=int)

    i = np.arange(camera_indices.size)
    for s in range(9):
        A[2 * i, camera_indices * 9 + s] = 1
        A[2 * i + 1, camera_indices * 9 + s] = 1

    for s in range(3):
        A[2 * i, n_cameras * 9 + point_indices * 3 + s] = 1
        A[2 * i + 1, n_cameras * 9 + point_indices * 3 + s] = 1

    return A


def problem(n_cameras, n_points, n_observations, seed=0):
    """A synthetic problem: ``(x0, args)`` with ``args`` the cookbook's
    ``(n_cameras, n_points, camera_indices, point_indices, points_2d)`` and ``x0``
    the true parameters perturbed (every camera and point is observed)."""
    rng = np.random.default_rng(seed)
    cameras = np.empty((n_cameras, 9))
    cameras[:, :3] = rng.normal(0, 0.1, (n_cameras, 3))       # rotation vectors
    cameras[:, 3:5] = rng.normal(0, 0.5, (n_cameras, 2))
    cameras[:, 5] = rng.uniform(-12, -8, n_cameras)            # in front of the points
    cameras[:, 6] = rng.uniform(400, 600, n_cameras)           # focal length
    cameras[:, 7:] = rng.normal(0, 1e-3, (n_cameras, 2))       # radial distortion
    points = rng.normal(0, 1, (n_points, 3))
    camera_indices = np.concatenate([np.arange(n_cameras),
                                     rng.integers(0, n_cameras,
                                                  n_observations - n_cameras)])
    point_indices = np.concatenate([rng.integers(0, n_points, n_cameras),
                                    np.arange(n_points),
                                    rng.integers(0, n_points,
                                                 n_observations - n_cameras - n_points)])
    camera_indices = camera_indices[: n_observations]
    point_indices = point_indices[: n_observations]
    truth = np.concatenate([cameras.ravel(), points.ravel()])
    points_2d = project(points[point_indices], cameras[camera_indices])
    points_2d += rng.normal(0, 0.5, points_2d.shape)
    x0 = truth + rng.normal(0, 1e-3, truth.shape) * np.abs(truth).clip(1e-2)
    return x0, (n_cameras, n_points, camera_indices, point_indices, points_2d)
