"""Guarded branches: ``np.where(guard, a, b)`` whose untaken branch has a NaN or
infinite value or derivative (``q / h`` at ``h = 0``, ``sqrt(x)`` at ``x < 0``).

Every engine selects the branch taken (the compiled derivative by ``where``
nodes on tangents and adjoints and strong-zero products below a selection,
the tape by never reading the untaken branch), so the untaken branch's NaN
never reaches a derivative: both engines give the derivative of the branch
taken, which the complex step gives too (it evaluates the same ``where``).
Points are taken where each guard is false, true and exactly at its boundary.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from programs import COMPLEX_STEP, programs, run, run_scalar
from reference import central_jacobian, complex_step_hessian, complex_step_jacobian

import symasd

ENGINES = ["vm", "tape"]
J_MODES = ["forward", "reverse", "bidirectional", "dense"]
H_MODES = ["star", "acyclic", "column", "dense"]
EPS = 1e-3


def _complex(v) -> bool:
    return isinstance(v, np.ndarray) and v.dtype.kind == "c"


def _re(v):
    """The real part of a complex-step argument; traced and real values as they are."""
    return v.real if _complex(v) else v


def _maximum(a, b):
    return np.where(_re(a) >= _re(b), a, b) if _complex(a) else np.maximum(a, b)


def _abs(a):
    return np.where(_re(a) < 0, -a, a) if _complex(a) else np.abs(a)


# each idiom: (f, points where the guard is false, true, and at the boundary)
IDIOMS = {
    "div": (lambda x: np.where(_re(x[:4]) > EPS, x[4:] / x[:4], 0.0),
            np.array([0.0, -1.0, 0.0, -0.5, 1.0, 2.0, 3.0, 4.0]),
            np.array([0.5, 1.0, 2.0, 0.3, 1.0, 2.0, 3.0, 4.0]),
            np.array([EPS, EPS, 0.0, 1.0, 1.0, 2.0, 3.0, 4.0])),
    "sqrt": (lambda x: np.where(_re(x) > 0, np.sqrt(x), 0),
             np.array([-1.0, -4.0, -0.25, -2.0]), np.array([1.0, 4.0, 0.25, 2.0]),
             np.array([0.0, -0.0, 0.0, 1.0])),
    "sinc": (lambda x: np.where(_re(x) != 0, np.sin(x) / x, 1),
             np.array([0.0, -0.0, 0.0]), np.array([0.3, -1.2, 2.0]),
             np.array([0.0, -0.0, 0.5])),
    "power": (lambda x: np.where(_re(x) > 0, x ** 2.5, 0),
              np.array([-1.0, -0.5, -3.0]), np.array([1.0, 0.5, 3.0]),
              np.array([0.0, -0.0, 1.0])),
    "log-max": (lambda x: _maximum(np.log(_abs(x)), -3.0) * x,
                np.array([0.0, 1e-3, -1e-3]), np.array([1.0, -2.0, 0.5]),
                np.array([np.exp(-3.0), -np.exp(-3.0), 0.0])),
    "clip-reciprocal": (lambda x: np.clip(1.0 / x, -5.0, 5.0) * x * x,
                        np.array([0.0, 0.1, -0.1]), np.array([1.0, -0.5, 2.0]),
                        np.array([0.2, -0.2, 0.0])),
}
# the complex step of the same function where it would take another branch: at
# x + ih with x = 0, the real part of 1 / (ih) is 0, inside the clip interval
REFERENCE = {
    "clip-reciprocal": lambda z: np.where(np.abs(_re(z)) < 0.2, 5 * np.sign(_re(z)) * z * z,
                                          z),
}


# idioms whose guard is false at one point only (x = 0): there the derivative of
# the branch taken (the constant 1) is the function's to first order, not second
POINT_GUARDS = {"sinc"}


def _jac_ref(f, x):
    with np.errstate(all="ignore"):
        return complex_step_jacobian(f, x)


def _idiom(name):
    f, *points = IDIOMS[name]
    return f, REFERENCE.get(name, f), points


def _scalar(f):
    return lambda x: np.sum(np.arange(1.0, 1.0 + np.size(f(x))) * f(x) ** 2)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", J_MODES)
@pytest.mark.parametrize("name", IDIOMS)
def test_guarded_jacobians_are_those_of_the_branch_taken(name, mode, engine):
    f, ref, points = _idiom(name)
    jac = symasd.jacobian(f, np.ones_like(points[0]), mode=mode, engine=engine)
    for x in points:
        J = jac(x).toarray()
        assert np.isfinite(J).all(), (name, x, J)
        np.testing.assert_allclose(J, _jac_ref(ref, x), rtol=1e-12, atol=1e-12)
        _, J2 = jac.value_and_jacobian(x)
        np.testing.assert_array_equal(J2.toarray(), J)


@pytest.mark.parametrize("mode", H_MODES)
@pytest.mark.parametrize("name", IDIOMS)
def test_guarded_hessians_agree_with_references_and_between_engines(name, mode):
    f, ref, (false, true, boundary) = _idiom(name)
    F, R = _scalar(f), _scalar(ref)
    hes = {e: symasd.hessian(F, np.ones_like(false), mode=mode, engine=e) for e in ENGINES}
    for x in (false, true, boundary):
        v, g, H = hes["vm"].value_gradient_and_hessian(x)
        assert np.isfinite(H.toarray()).all() and np.isfinite(g).all(), (name, x)
        v2, g2, H2 = hes["tape"].value_gradient_and_hessian(x)
        np.testing.assert_allclose(H.toarray(), H2.toarray(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(g, g2, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(g, _jac_ref(R, x)[0], rtol=1e-12, atol=1e-12)
        # the references' differences would cross the boundary
        if x is true or (x is false and name not in POINT_GUARDS):
            with np.errstate(all="ignore"):
                H_ref = complex_step_hessian(R, x)
            np.testing.assert_allclose(H.toarray(), H_ref, rtol=1e-6,
                                       atol=1e-7 * (1 + np.abs(H_ref).max()))


def _shallow_water(U, g=9.81, dx=0.5):
    """Six-cell wet/dry shallow water (depth h, discharge q), Rusanov-free central
    fluxes: the velocity q / h only where the cell is wet."""
    h, q = U[:6], U[6:]
    u = np.where(_re(h) > 1e-8, q / h, 0.0)
    flux_h = q
    flux_q = q * u + 0.5 * g * h * h
    pad_h = np.concatenate([flux_h[:1], flux_h, flux_h[-1:]])
    pad_q = np.concatenate([flux_q[:1], flux_q, flux_q[-1:]])
    return np.concatenate([-(pad_h[2:] - pad_h[:-2]) / (2 * dx),
                           -(pad_q[2:] - pad_q[:-2]) / (2 * dx)])


@pytest.mark.parametrize("engine", ENGINES)
def test_shallow_water_with_dry_cells(engine):
    """The case of the issue: eight NaN entries from the compiled engine before."""
    U = np.array([1.0, 0.8, 0.0, 0.0, 0.5, 1.2, 0.3, -0.2, 0.0, 0.0, 0.1, 0.4])
    jac = symasd.jacobian(_shallow_water, np.ones(12), engine=engine)
    J = jac(U).toarray()
    np.testing.assert_allclose(J, _jac_ref(_shallow_water, U), rtol=1e-12, atol=1e-12)
    with np.errstate(all="ignore"):  # dry depths at 0 - 1e-9: the untaken q / h
        fd = central_jacobian(_shallow_water, U, h=1e-9)
    np.testing.assert_allclose(J, fd, rtol=1e-5, atol=1e-5)
    hes = symasd.hessian(lambda V: np.sum(_shallow_water(V) ** 2), np.ones(12), engine=engine)
    H = hes(U).toarray()
    assert np.isfinite(H).all()
    np.testing.assert_allclose(
        H, symasd.hessian(lambda V: np.sum(_shallow_water(V) ** 2), np.ones(12),
                          engine="tape")(U).toarray(), rtol=1e-12, atol=1e-12)


def test_a_zero_adjoint_on_the_branch_taken_keeps_its_second_derivatives():
    """A strong zero only where the partial is not finite: at ``y = 0`` the adjoint of
    ``sin(x) * y`` is 0 on the branch taken, and its Hessian terms still count."""
    f = lambda v: np.where(v[0] > -10, np.cos(np.sin(v[0]) * v[1]), 0.0)  # noqa: E731
    x = np.array([0.7, 0.0])
    ref = complex_step_hessian(f, x)
    for engine in ENGINES:
        np.testing.assert_allclose(symasd.hessian(f, x, engine=engine)(x).toarray(), ref,
                                   rtol=1e-7, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(programs(guarded=True), st.sampled_from(["forward", "reverse", "bidirectional"]),
       st.integers(0, 2**16))
def test_random_guarded_programs_jacobians_agree(prog, mode, seed):
    n = prog[0]
    x = np.random.default_rng(seed).uniform(-0.9, 0.9, n)
    with np.errstate(all="ignore"):
        ref = complex_step_jacobian(lambda z: run(prog, z, COMPLEX_STEP), x)
        for engine in ENGINES:
            jac = symasd.jacobian(lambda v: run(prog, v), np.zeros(n), mode=mode,
                                  engine=engine)
            J = jac(x).toarray()
            np.testing.assert_allclose(J, ref, rtol=1e-8, atol=1e-8)


@settings(max_examples=25, deadline=None)
@given(programs(max_steps=4, n_max=5, selections=False, guarded=True),
       st.sampled_from(["star", "acyclic", "column"]), st.integers(0, 2**16))
def test_random_guarded_programs_hessians_agree(prog, mode, seed):
    n = prog[0]
    x = np.random.default_rng(seed).uniform(-0.9, 0.9, n)
    with np.errstate(all="ignore"):
        ref = complex_step_hessian(lambda z: run_scalar(prog, z, COMPLEX_STEP), x)
        scale = 1 + np.abs(ref).max()
        got = {}
        for engine in ENGINES:
            hes = symasd.hessian(lambda v: run_scalar(prog, v), np.zeros(n), mode=mode,
                                 engine=engine)
            got[engine] = hes(x).toarray()
            np.testing.assert_allclose(got[engine], ref, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(got["vm"], got["tape"], rtol=1e-10, atol=1e-10 * scale)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_an_infinite_partial_times_a_zero_tangent_is_zero_on_both_engines(mode):
    """|r| = sqrt(r @ r) has an infinite partial at r = 0, times a zero tangent (the
    tangent of r @ r is 2 r dr): both engines give 0 for it, not NaN. At that one
    point np.nan_to_num selects v = 0, so the derivative is that branch's: zeros
    (the smooth sin(|r|) r / |r| has the identity there, which the formula, as
    written, cannot show at a single point), the same on both engines."""
    def f(r):
        theta = np.sqrt(np.sum(r * r))
        v = np.nan_to_num(r / theta)
        return np.concatenate([[np.cos(theta)], np.sin(theta) * v])

    r0 = np.zeros(3)
    for engine in ENGINES:
        J = symasd.jacobian(f, np.ones(3), mode=mode, engine=engine)(r0).toarray()
        np.testing.assert_array_equal(J, np.vstack([np.zeros(3), np.zeros((3, 3))]))
    # and away from 0, the complex step
    r = np.array([0.3, -0.2, 0.5])
    for engine in ENGINES:
        np.testing.assert_allclose(symasd.jacobian(f, np.ones(3), mode=mode, engine=engine)(r)
                                   .toarray(), _jac_ref(f, r), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("engine", ["tape", "vm", "numpy"])
def test_a_nan_input_or_parameter_in_the_branch_not_taken_stays_out(engine):
    """Missing data as NaN, masked by np.where: the branch not taken has the NaN
    parameter (or input) as its partial, and the compiled reverse sweep multiplied it
    by the zero adjoint (NaN); the tape never did."""
    def masked(x, d):
        return np.sum(np.where(np.isnan(d), 0.0, x * d))

    x, d = np.array([1.0, 2.0, 3.0]), np.array([0.5, np.nan, 2.0])
    jac = symasd.jacobian(masked, x, np.ones(3), engine=engine)
    np.testing.assert_array_equal(jac(x, d).toarray(), [[0.5, 0.0, 2.0]])
    hes = symasd.hessian(lambda x, d: masked(x, d) + np.sum(x ** 2), x, np.ones(3),
                         engine=engine)
    np.testing.assert_array_equal(hes.value_gradient_and_hessian(x, d)[1], [2.5, 4.0, 8.0])
    branch = symasd.jacobian(lambda x: np.where(x[:1] > 0, x[:1] * x[1:], -x[:1]),
                             np.ones(2), mode="reverse", engine=engine)
    for bad in (np.nan, np.inf):
        np.testing.assert_array_equal(branch(np.array([-1.0, bad])).toarray(), [[-1.0, 0.0]])
