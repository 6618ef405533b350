"""Library functions traced by symasd/functions.py and tracing.py: values, exact
sparsity patterns (every nonzero found at random points, nothing more), and
Jacobians and Hessians on both engines against the complex step.

Each case has a complex-step-safe reference written with plain NumPy (the
absolute value and selections by the real part), so the references do not
share code with symasd.
"""

import zlib

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.special as special
from reference import central_jacobian, complex_step_hessian, complex_step_jacobian

import symasd
from symasd import TracingError
from symasd.functions import sorting_network, structural_inverse

ENGINES = ["vm", "tape"]


def _re(z):
    return np.real(z)


def cabs(z):
    return np.where(_re(z) < 0, -z, z)


def take_sorted(z, axis):
    return np.take_along_axis(z, np.argsort(_re(z), axis=axis), axis=axis)


def take_max(z, axis, keepdims=False):
    i = np.expand_dims(np.argmax(_re(z), axis=axis), axis)
    out = np.take_along_axis(z, i, axis=axis)
    return out if keepdims else np.squeeze(out, axis)


def take_min(z, axis):
    return np.squeeze(np.take_along_axis(z, np.expand_dims(np.argmin(_re(z), axis=axis), axis),
                                         axis=axis), axis)


def cs_cross(a, b):
    return np.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
                     a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                     a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], axis=-1)


rng = np.random.default_rng(42)
A_DENSE = rng.standard_normal((4, 4)) + 4 * np.eye(4)
A_BLOCK = np.array([[3.0, 1.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.5],
                    [0.0, 0.0, -0.5, 2.0]])  # block triangular: a structured inverse
C3 = np.array([0.3, -1.2, 0.8])

# name: (f, complex-step-safe reference, input shape)
CASES = {
    "norm": (lambda x: np.linalg.norm(x).reshape(1),
             lambda z: np.sqrt(np.sum(z * z)).reshape(1), (5,)),
    "norm-axis1": (lambda x: np.linalg.norm(x.reshape(3, 4), axis=1),
                   lambda z: np.sqrt(np.sum(z.reshape(3, 4) ** 2, axis=1)), (12,)),
    "norm-axis0-ord1": (lambda x: np.linalg.norm(x.reshape(3, 4), ord=1, axis=0),
                        lambda z: np.sum(cabs(z.reshape(3, 4)), axis=0), (12,)),
    "norm-ord-inf": (lambda x: np.linalg.norm(x.reshape(3, 4), ord=np.inf, axis=1),
                     lambda z: take_max(cabs(z.reshape(3, 4)), 1), (12,)),
    "norm-ord-minus-inf": (lambda x: np.linalg.norm(x.reshape(3, 4), ord=-np.inf, axis=-1),
                           lambda z: take_min(cabs(z.reshape(3, 4)), 1), (12,)),
    "norm-ord3-keepdims": (lambda x: np.linalg.norm(x.reshape(3, 4), ord=3, axis=0,
                                                    keepdims=True).ravel(),
                           lambda z: (np.sum(cabs(z.reshape(3, 4)) ** 3, axis=0)) ** (1 / 3),
                           (12,)),
    "norm-fro": (lambda x: np.linalg.norm(x.reshape(3, 4), "fro").reshape(1),
                 lambda z: np.sqrt(np.sum(z * z)).reshape(1), (12,)),
    "norm-matrix-ord1": (lambda x: np.linalg.norm(x.reshape(3, 4), 1).reshape(1),
                         lambda z: take_max(np.sum(cabs(z.reshape(3, 4)), axis=0)[None], 1),
                         (12,)),
    "norm-matrix-inf-batch": (lambda x: np.linalg.norm(x.reshape(2, 3, 2), np.inf, axis=(1, 2)),
                              lambda z: take_max(np.sum(cabs(z.reshape(2, 3, 2)), axis=2), 1),
                              (12,)),
    "cross": (lambda x: np.cross(x[:6].reshape(2, 3), x[6:].reshape(2, 3)).ravel(),
              lambda z: cs_cross(z[:6].reshape(2, 3), z[6:].reshape(2, 3)).ravel(), (12,)),
    "cross-axis-const": (lambda x: np.cross(x.reshape(3, 2), C3, axisa=0).ravel(),
                         lambda z: cs_cross(z.reshape(3, 2).T, C3).ravel(), (6,)),
    "cross-2d": (lambda x: np.cross(x[:2], x[2:]).reshape(1),
                 lambda z: (z[0] * z[3] - z[1] * z[2]).reshape(1), (4,)),
    "diag-k": (lambda x: np.diag(x, k=1).ravel(),
               lambda z: np.diag(z, k=1).ravel(), (3,)),
    "diag-extract": (lambda x: np.diag(x.reshape(3, 3), -1) * x[:2],
                     lambda z: np.diag(z.reshape(3, 3), -1) * z[:2], (9,)),
    "diagonal-trace": (lambda x: np.concatenate([np.diagonal(x.reshape(3, 3), 1),
                                                 [np.trace(x.reshape(3, 3) ** 2, offset=-1)],
                                                 [x.reshape(3, 3).trace()]]),
                       lambda z: np.concatenate([np.diagonal(z.reshape(3, 3), 1),
                                                 [np.trace(z.reshape(3, 3) ** 2, offset=-1)],
                                                 [np.trace(z.reshape(3, 3))]]), (9,)),
    "var-std": (lambda x: np.concatenate([np.var(x.reshape(3, 4), axis=1),
                                          np.std(x.reshape(3, 4), axis=0, ddof=1),
                                          [x.var()]]),
                lambda z: np.concatenate([
                    np.mean((z.reshape(3, 4) - np.mean(z.reshape(3, 4), 1, keepdims=True)) ** 2,
                            axis=1),
                    np.sqrt(np.sum((z.reshape(3, 4) - np.mean(z.reshape(3, 4), 0)) ** 2,
                                   axis=0) / 2),
                    [np.mean((z - np.mean(z)) ** 2)]]), (12,)),
    "nan_to_num": (lambda x: np.nan_to_num(x / np.where(x > 0, x, 1.0)) * x,
                   lambda z: z / np.where(_re(z) > 0, z, 1.0) * z, (4,)),
    "solve-dense": (lambda x: np.linalg.solve(A_DENSE, x),
                    lambda z: np.linalg.inv(A_DENSE) @ z, (4,)),
    "solve-structured": (lambda x: np.linalg.solve(A_BLOCK, x ** 2),
                         lambda z: np.linalg.inv(A_BLOCK) @ z ** 2, (4,)),
    "solve-matrix-rhs": (lambda x: np.linalg.solve(A_BLOCK, x.reshape(4, 2)).ravel(),
                         lambda z: (np.linalg.inv(A_BLOCK) @ z.reshape(4, 2)).ravel(), (8,)),
    "max-axis": (lambda x: np.max(x.reshape(3, 4), axis=1) * np.min(x.reshape(3, 4), axis=0)[:3],
                 lambda z: take_max(z.reshape(3, 4), 1) * take_min(z.reshape(3, 4), 0)[:3],
                 (12,)),
    "max-keepdims": (lambda x: (x.reshape(3, 4).max(axis=0, keepdims=True) - x.reshape(3, 4))
                     .ravel(),
                     lambda z: (take_max(z.reshape(3, 4), 0, True) - z.reshape(3, 4)).ravel(),
                     (12,)),
    "sort-axis1": (lambda x: np.sort(x.reshape(3, 5), axis=1).ravel() * np.arange(1.0, 16.0),
                   lambda z: take_sorted(z.reshape(3, 5), 1).ravel() * np.arange(1.0, 16.0),
                   (15,)),
    "sort-axis0": (lambda x: np.sort(x.reshape(5, 3), axis=0).ravel(),
                   lambda z: take_sorted(z.reshape(5, 3), 0).ravel(), (15,)),
    "sort-none": (lambda x: np.sort(x.reshape(2, 3), axis=None) ** 2,
                  lambda z: take_sorted(z.ravel(), 0) ** 2, (6,)),
    "logsumexp": (lambda x: np.atleast_1d(special.logsumexp(x)),
                  lambda z: np.atleast_1d(np.log(np.sum(np.exp(z)))), (5,)),
    "logsumexp-axis-b": (lambda x: special.logsumexp(x.reshape(2, 3), axis=1,
                                                     b=np.array([1.0, 0.5, 2.0])),
                         lambda z: np.log(np.sum(np.array([1.0, 0.5, 2.0])
                                                 * np.exp(z.reshape(2, 3)), axis=1)), (6,)),
    "softmax": (lambda x: special.softmax(x.reshape(2, 3), axis=0).ravel(),
                lambda z: (np.exp(z.reshape(2, 3)) / np.sum(np.exp(z.reshape(2, 3)), axis=0))
                .ravel(), (6,)),
    "logaddexp-reduce": (lambda x: np.logaddexp.reduce(x.reshape(2, 3), axis=0),
                         lambda z: np.log(np.sum(np.exp(z.reshape(2, 3)), axis=0)), (6,)),
    "special-ufuncs": (lambda x: np.concatenate([
        special.erf(x), special.erfc(x) * x, special.expit(x), special.logit(special.expit(x)),
        special.gammaln(x + 3), special.log_ndtr(x), special.xlogy(x, x + 3),
        special.xlog1py(x ** 2, x + 1.5), special.psi(x + 2)]),
        lambda z: np.concatenate([
            special.erf(z), special.erfc(z) * z, 1 / (1 + np.exp(-z)), z,
            special.loggamma(z + 3), special.log_ndtr(z), z * np.log(z + 3),
            z ** 2 * np.log1p(z + 1.5),
            special.psi(_re(z) + 2) + 1j * np.imag(z) * special.polygamma(1, _re(z) + 2)]),
        (3,)),
    "real-imag": (lambda x: (np.real(x) * 2 + np.imag(x) + x.real * np.conj(x) + x.imag
                             + 0.0 * np.isrealobj(x) * np.iscomplexobj(x)),
                  lambda z: 2 * z + z * z, (3,)),
}


def _points(shape, count, seed):
    r = np.random.default_rng(seed)
    return [r.uniform(-0.9, 0.9, shape) + 0.05 * np.sign(r.uniform(-1, 1, shape))
            for _ in range(count)]


def _cs(ref, x):
    with np.errstate(all="ignore"):
        return complex_step_jacobian(ref, x)


@pytest.mark.parametrize("name", CASES)
def test_values_and_jacobians_on_both_engines(name):
    f, ref, shape = CASES[name]
    points = _points(shape, 3, zlib.crc32(name.encode()) % 1000)
    for engine in ENGINES:
        jac = symasd.jacobian(f, np.ones(shape), engine=engine)
        for x in points:
            y, J = jac.value_and_jacobian(x)
            np.testing.assert_allclose(y.ravel(), np.real(ref(x.astype(complex))).ravel(),
                                       rtol=1e-12, atol=1e-13)
            np.testing.assert_allclose(J.toarray(), _cs(ref, x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_patterns_are_exact(name):
    """Every entry of the global pattern is nonzero at some random point, and no
    nonzero is outside it (the piecewise ones take many points to show all)."""
    f, ref, shape = CASES[name]
    P = symasd.jacobian_sparsity(f, np.ones(shape)).toarray()
    seen = np.zeros_like(P)
    for x in _points(shape, 60 if "sort" in name or "max" in name or "inf" in name
                     or "ord1" in name else 4, 7):
        D = _cs(ref, x) != 0
        assert not (D & ~P).any(), name
        seen |= D
    np.testing.assert_array_equal(seen, P, err_msg=name)


@pytest.mark.parametrize("name", [n for n in CASES if n not in ("real-imag",)])
def test_hessians_on_both_engines(name):
    f, ref, shape = CASES[name]
    w = np.random.default_rng(3).uniform(0.5, 1.5, np.asarray(ref(np.ones(shape) + 0j)).size)

    def F(x):
        return np.sum(w * np.ravel(f(x)) ** 2)

    def R(z):
        return np.sum(w * np.ravel(ref(z)) ** 2)

    x = _points(shape, 1, 11)[0]
    with np.errstate(all="ignore"):
        H_ref = complex_step_hessian(R, x)
    scale = 1 + np.abs(H_ref).max()
    Hs = []
    for engine in ENGINES:
        hes = symasd.hessian(F, np.ones(shape), engine=engine)
        H = hes(x).toarray()
        np.testing.assert_allclose(H, H_ref, rtol=1e-6, atol=1e-6 * scale, err_msg=engine)
        assert not ((np.abs(H_ref) > 1e-6 * scale) & ~hes.sparsity.toarray()).any()
        Hs.append(H)
    np.testing.assert_allclose(Hs[0], Hs[1], rtol=1e-10, atol=1e-12 * scale)


# ---- scipy.sparse matrices times traced values ------------------------------------


SPARSE_FORMATS = [(cls, fmt) for cls in (sp.csr_matrix, sp.csr_array) for fmt in ("csr", "csc",
                                                                                  "coo")]


@pytest.mark.parametrize("cls,fmt", SPARSE_FORMATS, ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("engine", ENGINES)
def test_sparse_matrix_products(cls, fmt, engine):
    dense = sp.random_array((6, 8), density=0.35, random_state=5).toarray()
    dense[2, :] = 0.0  # an empty row
    A = cls(dense).asformat(fmt)
    A_dup = sp.coo_array((np.array([1.0, 2.0, -1.0]), (np.array([0, 0, 1]), np.array([3, 3, 5]))),
                         shape=(2, 8))  # duplicates summed, stored entries kept
    cases = [
        (lambda x: A @ x, lambda z: dense @ z, (8,)),
        (lambda x: A.dot(x), lambda z: dense @ z, (8,)),
        (lambda x: x[:6] @ A, lambda z: z[:6] @ dense, (8,)),
        (lambda x: (A @ x.reshape(8, 2)).ravel(), lambda z: (dense @ z.reshape(8, 2)).ravel(),
         (16,)),
        (lambda x: (x.reshape(2, 6) @ A).ravel(), lambda z: (z.reshape(2, 6) @ dense).ravel(),
         (12,)),
        (lambda x: np.sin(A.T @ np.cos(x)), lambda z: np.sin(dense.T @ np.cos(z)), (6,)),
        (lambda x: A_dup @ x, lambda z: A_dup.toarray() @ z, (8,)),
    ]
    if cls is sp.csr_matrix:  # * is the matrix product of a sparse matrix
        cases.append((lambda x: A * x, lambda z: dense @ z, (8,)))
    for f, ref, shape in cases:
        x = np.random.default_rng(1).standard_normal(shape)
        jac = symasd.jacobian(f, np.ones(shape), engine=engine)
        y, J = jac.value_and_jacobian(x)
        np.testing.assert_allclose(y.ravel(), np.real(ref(x + 0j)).ravel(), rtol=1e-13,
                                   atol=1e-14)
        np.testing.assert_allclose(J.toarray(), _cs(ref, x), rtol=1e-12, atol=1e-14)
        P = jac.sparsity.toarray()
        seen = np.zeros_like(P)
        for seed in range(3):
            seen |= _cs(ref, np.random.default_rng(seed).standard_normal(shape)) != 0
        np.testing.assert_array_equal(seen, P)  # exactly A's nonzeros (and compositions)
    hes = symasd.hessian(lambda x: np.sum((A @ x) ** 2), np.ones(8), engine=engine)
    np.testing.assert_allclose(hes(np.ones(8)).toarray(), 2 * dense.T @ dense, rtol=1e-12,
                               atol=1e-13)


def test_sparse_array_elementwise_product_and_other_operations():
    A = sp.csr_array(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))
    J = symasd.jacobian(lambda x: (x * A).ravel(), np.ones(3))(np.ones(3)).toarray()
    np.testing.assert_allclose(J, complex_step_jacobian(lambda z: (z * A.toarray()).ravel(),
                                                        np.ones(3)))
    with pytest.raises(TracingError, match="csr_array meets a traced value only in products"):
        symasd.trace(lambda x: np.add(A, x), np.ones(3))


# ---- behaviour -------------------------------------------------------------------


def test_sorting_network_sorts_every_length():
    r = np.random.default_rng(0)
    for n in range(1, 40):
        keys = r.standard_normal((5, n))
        for i, j in sorting_network(n):
            lo, hi = np.minimum(keys[:, i], keys[:, j]), np.maximum(keys[:, i], keys[:, j])
            keys[:, i], keys[:, j] = lo, hi
        assert (np.diff(keys, axis=1) >= 0).all(), n
        for i, j in sorting_network(n):
            assert len(set(i.tolist()) | set(j.tolist())) == 2 * len(i)  # disjoint


def test_structural_inverse_is_exact_on_structured_matrices():
    # block diagonal: inv has numerically tiny entries across the blocks? never more
    blocks = sp.block_diag([np.array([[2.0, 1.0], [1.0, 3.0]]), np.array([[5.0]]),
                            np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [0.0, 0.0, 1.0]])])
    A = blocks.toarray()[np.random.default_rng(2).permutation(6)]  # rows permuted
    inv = structural_inverse(A)
    np.testing.assert_allclose(inv, np.linalg.inv(A), atol=1e-15)
    assert (inv != 0).sum() == 4 + 1 + 6  # the upper-triangular block's inverse is full
    with pytest.raises(np.linalg.LinAlgError):
        structural_inverse(np.array([[1.0, 2.0], [0.0, 0.0]]))


def test_solve_with_a_traced_matrix_says_what_to_do():
    with pytest.raises(TracingError, match="traced matrix A.*residual"):
        symasd.trace(lambda x: np.linalg.solve(x.reshape(2, 2), np.ones(2)), np.ones(4))


def test_unsupported_norms_and_arg_functions():
    with pytest.raises(TracingError, match="ord=2 .*singular values"):
        symasd.trace(lambda x: np.linalg.norm(x.reshape(2, 2), 2).reshape(1), np.ones(4))
    with pytest.raises(TracingError, match="numpy.argmax depends on the values.*local=True"):
        symasd.trace(lambda x: x[np.argmax(x)].reshape(1), np.ones(4))
    # with local=True the index is taken at x0
    x0 = np.array([0.3, 2.0, -1.0, 0.5])
    jac = symasd.jacobian(lambda x: x[np.argsort(x)] * x[np.argmax(x)], x0, local=True)
    np.testing.assert_allclose(jac(x0).toarray(), central_jacobian(
        lambda x: x[np.argsort(x0)] * x[np.argmax(x0)], x0), rtol=1e-8, atol=1e-8)


def test_sort_in_place_and_nan_to_num_values():
    def f(x):
        y = x * 1.0
        y[1:].sort()
        return y

    x = np.array([3.0, 2.0, -1.0, 5.0, 0.5])
    np.testing.assert_array_equal(symasd.trace(f, x)(x), [3.0, -1.0, 0.5, 2.0, 5.0])
    v = np.array([np.nan, np.inf, -np.inf, 2.0])
    g = symasd.trace(lambda x: np.nan_to_num(x, nan=-1.0, posinf=9.0), v)
    np.testing.assert_array_equal(g(v), np.nan_to_num(v, nan=-1.0, posinf=9.0))
    g = symasd.trace(lambda x: np.nan_to_num(x), v)
    np.testing.assert_array_equal(g(v), np.nan_to_num(v))
    np.testing.assert_array_equal(
        symasd.trace(lambda x: np.isinf(x) + 2 * np.isnan(x) + 4 * np.isfinite(x), v)(v),
        np.isinf(v) + 2 * np.isnan(v) + 4 * np.isfinite(v))


def test_asarray_inside_the_function_traces_elementwise():
    def f(x):
        x = np.asarray(x)
        return np.sin(x) * x[::-1] + np.exp(x) / 2

    x = np.array([0.1, 0.7, -0.3])
    J = symasd.jacobian(f, x)(x).toarray()
    np.testing.assert_allclose(J, complex_step_jacobian(f, x), rtol=1e-13)


def test_np_array_of_symbolic_pieces():
    def f(x):
        return np.array([x[:2], np.sin(x[1:])]).ravel() + np.array([[x[0], 1.0], [2.0, x[2]]]
                                                                   ).ravel()

    x = np.array([0.2, 0.4, 0.6])
    np.testing.assert_allclose(symasd.trace(f, x)(x), f(x))
    with pytest.raises(TracingError, match="different shapes"):
        symasd.trace(lambda x: np.array([x[:2], x]).ravel(), x)


def test_logsumexp_options():
    x = np.array([0.3, -1.0, 2.0])
    value, sign = special.logsumexp(symasd.symbols("x", 3), return_sign=True)
    assert sign.tolist() == 1.0 and value.shape == ()
    with pytest.raises(TracingError, match="negative weights"):
        symasd.trace(lambda v: special.logsumexp(v, b=np.array([1.0, -1.0, 1.0])).reshape(1),
                     x)
    # SciPy's own function still runs on numbers
    np.testing.assert_allclose(special.logsumexp(x), np.log(np.sum(np.exp(x))))
    assert special.logsumexp.__symasd_original__ is not special.logsumexp


def test_interp_values_derivatives_and_local_tables():
    """np.interp with constant breakpoints: NumPy's values bit for bit (breakpoints,
    outside, repeated breakpoints, NaN and infinities included), the slope of the
    piece as derivative (central differences away from the breakpoints), a
    diagonal pattern, traced values fp, and with local=True tables of any size."""
    rng = np.random.default_rng(4)
    xp = np.sort(rng.uniform(-1, 1, 9))
    xp[4] = xp[3]  # an empty piece
    fp = rng.standard_normal(9)
    x = np.concatenate([rng.uniform(-1.5, 1.5, 60), xp, [np.nan, np.inf, -np.inf]])
    for kw in ({}, {"left": -7.0, "right": 3.5}):
        f = lambda x, kw=kw: np.interp(x, xp, fp, **kw)  # noqa: E731
        g = symasd.trace(f, np.zeros(x.size))
        np.testing.assert_array_equal(g(x).view(np.int64), f(x).view(np.int64))
        J = symasd.jacobian(f, np.zeros(x.size))
        assert J.nnz == x.size and (J.sparsity.indices == np.arange(x.size)).all()
        inner = rng.uniform(-1.5, 1.5, 30)
        inner = inner[np.min(np.abs(inner[:, None] - xp[None, :]), axis=1) > 1e-3]
        Ji = symasd.jacobian(f, inner)(inner).toarray()
        np.testing.assert_allclose(Ji, central_jacobian(f, inner), rtol=1e-7, atol=1e-9)
        assert symasd.jacobian(f, inner, engine="tape")(inner).toarray() == pytest.approx(Ji)
    # traced values: the derivative reaches x through the slopes and fp
    h = lambda z: np.interp(z[:5], np.linspace(-1, 1, 4), z[5:] ** 2)  # noqa: E731
    z = np.concatenate([rng.uniform(-0.9, 0.9, 5), rng.uniform(0.5, 1.5, 4)])
    np.testing.assert_array_equal(symasd.trace(h, z)(z), h(z))
    np.testing.assert_allclose(symasd.jacobian(h, z)(z).toarray(), central_jacobian(h, z),
                               rtol=1e-6, atol=1e-8)
    # a large table on many values: refused globally with what to do (it would select
    # among 1000 pieces for each of 2001 values), traced at x0 with local=True
    big_xp = np.linspace(0.0, 1.0, 1001)
    big = lambda x: np.interp(x, big_xp, np.sin(big_xp))  # noqa: E731
    with pytest.raises(TracingError, match="local=True"):
        symasd.jacobian(big, np.full(2001, 0.5))
    few = np.array([0.1, 0.5, 1.0])  # (globally for a few values)
    np.testing.assert_array_equal(symasd.trace(big, np.zeros(3))(few), big(few))
    x0 = np.concatenate([rng.uniform(0, 1, 20), [-0.5, 1.5, 1.0]])
    loc = symasd.jacobian(big, x0, local=True)
    np.testing.assert_array_equal(loc.graph(x0), big(x0))
    np.testing.assert_allclose(loc(x0).toarray()[:20], central_jacobian(big, x0)[:20],
                               rtol=1e-5, atol=1e-9)
    np.testing.assert_array_equal(loc(x0).toarray()[20:].diagonal(20), 0.0)
    # what is not traced says so
    with pytest.raises(TracingError, match="increasing"):
        symasd.trace(lambda x: np.interp(x, [1.0, 0.0], [0.0, 1.0]), np.zeros(3))
    with pytest.raises(TracingError, match="period"):
        symasd.trace(lambda x: np.interp(x, [0.0, 1.0], [0.0, 1.0], period=1.0), np.zeros(3))
    with pytest.raises(TracingError, match="xp must not depend on x"):
        symasd.trace(lambda x: np.interp(x[:2], x[2:], [0.0, 1.0]), np.array([0., 1., 2., 3.]))


@pytest.mark.parametrize("engine", ["tape", "vm", "numpy"])
def test_sort_at_ties_differentiates_a_permutation(engine):
    """At tied keys every output of np.sort takes one input's derivative, each input
    once (np.minimum and np.maximum both took the first: sum(sort(x)) had gradient
    [4, 0, 0, 0] at x = 0)."""
    jac = symasd.jacobian(np.sort, np.zeros(6), engine=engine)
    for x in (np.zeros(6), np.array([1.0, 1.0, 0.0, 1.0, 2.0, 0.0])):
        J = jac(x).toarray()
        assert set(np.unique(J)) <= {0.0, 1.0}
        np.testing.assert_array_equal(J.sum(axis=0), 1.0)
        np.testing.assert_array_equal(J.sum(axis=1), 1.0)
        np.testing.assert_array_equal(J @ x, np.sort(x))
    grad = symasd.jacobian(lambda x: np.sum(np.sort(x))[None], np.zeros(4), engine=engine)
    np.testing.assert_array_equal(grad(np.zeros(4)).toarray(), [[1.0, 1.0, 1.0, 1.0]])


def test_sort_puts_nans_last_and_permutes_signed_zeros():
    """NaNs go last, as np.sort puts them; zeros of either sign are equal keys, so
    their order among themselves is unspecified (NumPy's own depends on the
    algorithm): the output is a permutation of the input, sign bits included."""
    g = symasd.trace(np.sort, np.zeros(5))
    rng = np.random.default_rng(3)
    cases = [[1.0, np.nan, 0.0, 2.0, -1.0], [np.nan, 1.0, np.nan, 0.0, -np.inf]]
    cases += [rng.choice([0.0, -0.0, 1.0, -np.inf, np.nan], 5) for _ in range(200)]
    for x in map(np.array, cases):
        got, want = g(x), np.sort(x)
        np.testing.assert_array_equal(got, want)          # values; NaNs equal here
        key = lambda v: sorted(zip(np.nan_to_num(v, nan=9.0), np.signbit(v), strict=True))  # noqa: E731
        assert key(got) == key(x)
