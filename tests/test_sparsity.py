"""Jacobian and Hessian sparsity: the seed examples, random programs, local patterns."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from programs import COMPLEX_STEP, programs, run, run_scalar
from reference import complex_step_hessian, complex_step_jacobian

import symasd
from symasd import InputError


def iter_diff(x, k=3):
    for _ in range(k):
        x = np.diff(x)
    return x


def test_seed_index_sets():
    f = lambda x: np.array([x[0] * x[1] + np.sign(x[2]), np.sign(x[2]) * x[3] / 2])  # noqa: E731
    J = symasd.jacobian_sparsity(f, np.ones(4))
    rows = [J.indices[J.indptr[i]:J.indptr[i + 1]].tolist() for i in range(2)]
    assert rows == [[0, 1], [3]]  # {1,2} and {4} in 1-based numbering


def test_seed_hessian_of_product_of_sum():
    H = symasd.hessian_sparsity(lambda x: (x[0] + x[1]) * x[2], np.ones(3))
    assert sorted(zip(*H.nonzero(), strict=True)) == [(0, 2), (1, 2), (2, 0), (2, 1)]


def test_seed_iter_diff_pattern():
    J = symasd.jacobian_sparsity(iter_diff, np.zeros(10))
    assert J.shape == (7, 10) and J.nnz == 28
    expected = sum(np.eye(7, 10, k=d, dtype=bool) for d in range(4)).astype(bool)
    assert np.array_equal(J.toarray(), expected)
    assert J.dtype == bool and J.has_canonical_format


def test_classification_rules():
    # sign / floor / comparisons forward nothing
    J = symasd.jacobian_sparsity(lambda x: np.sign(x) + np.floor(x) * (x > 0), np.ones(3))
    assert J.nnz == 0
    # linear ops add no Hessian entries, x*y only the cross pair, 0*expr nothing
    assert symasd.hessian_sparsity(lambda x: np.sum(3 * x - x[::-1]), np.ones(4)).nnz == 0
    H = symasd.hessian_sparsity(lambda x: x[0] * x[1], np.ones(2)).toarray()
    assert np.array_equal(H, [[False, True], [True, False]])
    assert symasd.hessian_sparsity(lambda x: 0 * np.exp(x).sum() + x[0], np.ones(3)).nnz == 0
    # second derivative behind a zero first derivative does not count
    assert symasd.hessian_sparsity(lambda x: np.sign(x[0] * x[1]) + x[2], np.ones(3)).nnz == 0
    # division: x / y is nonlinear in y only (and the cross pair)
    H = symasd.hessian_sparsity(lambda x: x[0] / x[1], np.ones(2)).toarray()
    assert np.array_equal(H, [[False, True], [True, True]])


def test_rosenbrock_hessian_is_tridiagonal():
    def rosen(x):
        return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    H = symasd.hessian_sparsity(rosen, np.zeros(50))
    expected = (np.abs(np.subtract.outer(np.arange(50), np.arange(50))) <= 1)
    assert np.array_equal(H.toarray(), expected)
    assert (H != H.T).nnz == 0


def test_graph_input_and_errors():
    g = symasd.trace(lambda x: x ** 2, np.ones(3))
    assert symasd.jacobian_sparsity(g).nnz == 3
    with pytest.raises(InputError, match="scalar"):
        symasd.hessian_sparsity(g)
    with pytest.raises(InputError, match="local"):
        symasd.jacobian_sparsity(g, local=True)
    with pytest.raises(InputError, match="x0"):
        symasd.jacobian_sparsity(lambda x: x)
    with pytest.raises(InputError, match="shape"):
        symasd.jacobian_sparsity(g, np.ones(4))


def _points(n, count=3, seed=0):
    return np.random.default_rng(seed + n).uniform(-0.9, 0.9, size=(count, n))


@given(programs())
def test_global_jacobian_pattern_contains_every_nonzero(prog):
    n = prog[0]
    J = symasd.jacobian_sparsity(lambda x: run(prog, x), np.zeros(n)).toarray()
    for x in _points(n):
        with np.errstate(all="ignore"):
            D = complex_step_jacobian(lambda z: run(prog, z, COMPLEX_STEP), x)
        D[~np.isfinite(D)] = 1.0  # a NaN/inf derivative counts as nonzero
        assert J.shape == D.shape
        assert not np.any((D != 0) & ~J)


@given(programs(selections=False))
def test_global_jacobian_pattern_is_exact_without_selections(prog):
    n = prog[0]
    J = symasd.jacobian_sparsity(lambda x: run(prog, x), np.zeros(n)).toarray()
    seen = np.zeros_like(J)
    for x in _points(n):
        D = complex_step_jacobian(lambda z: run(prog, z, COMPLEX_STEP), x)
        seen |= D != 0
    assert np.array_equal(seen, J)


@given(programs(), st.integers(0, 1000))
def test_local_jacobian_pattern_contains_nonzeros_at_x0(prog, seed):
    n = prog[0]
    x0 = np.random.default_rng(seed).uniform(-0.9, 0.9, n)
    Jl = symasd.jacobian_sparsity(lambda x: run(prog, x), x0, local=True).toarray()
    Jg = symasd.jacobian_sparsity(lambda x: run(prog, x), x0).toarray()
    with np.errstate(all="ignore"):
        D = complex_step_jacobian(lambda z: run(prog, z, COMPLEX_STEP), x0)
    D[~np.isfinite(D)] = 1.0
    assert not np.any((D != 0) & ~Jl)
    assert not np.any(Jl & ~Jg)  # local patterns are subsets of global ones
    g = symasd.trace(lambda x: run(prog, x), x0, local=True)
    np.testing.assert_allclose(g(x0), run(prog, x0), rtol=1e-10, atol=1e-10)


@given(programs(max_steps=5, n_max=5))
def test_global_hessian_pattern_contains_every_nonzero(prog):
    n = prog[0]
    H = symasd.hessian_sparsity(lambda x: run_scalar(prog, x), np.zeros(n)).toarray()
    assert np.array_equal(H, H.T)
    for x in _points(n, count=2):
        with np.errstate(all="ignore"):
            D = complex_step_hessian(lambda z: run_scalar(prog, z, COMPLEX_STEP), x)
        scale = 1e-6 * (1 + np.abs(D).max())
        assert not np.any((np.abs(D) > scale) & ~H)


@given(programs(max_steps=5, n_max=5, selections=False))
def test_global_hessian_pattern_is_exact_without_selections(prog):
    n = prog[0]
    H = symasd.hessian_sparsity(lambda x: run_scalar(prog, x), np.zeros(n)).toarray()
    seen = np.zeros_like(H)
    for x in _points(n, count=3):
        D = complex_step_hessian(lambda z: run_scalar(prog, z, COMPLEX_STEP), x)
        seen |= np.abs(D) > 1e-7 * (1 + np.abs(D).max())
    assert np.array_equal(seen, H)


@given(programs(max_steps=5, n_max=5), st.integers(0, 1000))
def test_local_hessian_pattern_contains_nonzeros_at_x0(prog, seed):
    n = prog[0]
    x0 = np.random.default_rng(seed).uniform(-0.9, 0.9, n)
    f = lambda x: run_scalar(prog, x)  # noqa: E731
    Hl = symasd.hessian_sparsity(f, x0, local=True).toarray()
    Hg = symasd.hessian_sparsity(f, x0).toarray()
    assert not np.any(Hl & ~Hg)
    with np.errstate(all="ignore"):
        D = complex_step_hessian(lambda z: run_scalar(prog, z, COMPLEX_STEP), x0)
    scale = 1e-6 * (1 + np.abs(D).max())
    assert not np.any((np.abs(D) > scale) & ~Hl)


@pytest.mark.parametrize("n", [1, 2, 7])
def test_patterns_are_canonical_csr(n):
    J = symasd.jacobian_sparsity(lambda x: np.roll(x, 1) * x, np.zeros(n))
    H = symasd.hessian_sparsity(lambda x: np.sum(np.roll(x, 1) * x), np.zeros(n))
    for P in (J, H):
        assert isinstance(P, sp.csr_array) and P.dtype == bool
        assert P.has_sorted_indices and P.has_canonical_format


def test_hessian_rows_of_every_length_and_spread():
    """Short rows, a dense hub row (each column reached by several terms: repeats to
    drop) and a long row spread thin over the columns each take their own sort in
    the pattern kernel; all give exactly the pairs of the terms."""
    n = 40_000
    far = np.arange(0, n, 1000)             # 40 columns spread over 625 words of bits

    def f(x):
        hub = np.sum((x[:-2] + x[1:-1] + x[-1]) ** 2)      # rows 0 .. n-2 and the hub
        spread = np.sum(x[1] * x[far]) + np.sum(x[2] * x[far[::-1]])
        return hub + spread

    H = symasd.hessian_sparsity(f, np.zeros(n))
    expected = set()
    for i in range(n - 2):
        block = (i, i + 1, n - 1)
        expected.update((a, b) for a in block for b in block)
    for row in (1, 2):
        expected.update((row, int(j)) for j in far if j != row)
        expected.update((int(j), row) for j in far if j != row)
    rows, cols = H.nonzero()
    assert set(zip(rows.tolist(), cols.tolist(), strict=True)) == expected
    assert H.has_sorted_indices and H.has_canonical_format
    assert np.diff(H.indptr)[n - 1] == n            # the hub row is full


def test_large_pattern_scales_with_nnz():
    n = 200_000
    J = symasd.jacobian_sparsity(iter_diff, np.zeros(n))
    assert J.shape == (n - 3, n) and J.nnz == 4 * (n - 3)


@given(programs(max_steps=5, n_max=5), st.booleans())
def test_structural_graphs_give_the_patterns_of_the_full_graph(prog, scalar):
    # pattern-only traces drop affine maps with constants (c*x, x+c, -x, ...);
    # the patterns must be those of the ordinary graph
    from symasd.tracing import trace_into

    n = prog[0]
    f = (lambda x: run_scalar(prog, x)) if scalar else (lambda x: run(prog, x))
    full = symasd.trace(f, np.zeros(n))
    structural = trace_into(None, f, np.zeros(n), share=False, structural=True)
    assert structural.n_nodes <= full.n_nodes + 2
    patterns = symasd.hessian_sparsity if scalar else symasd.jacobian_sparsity
    assert (patterns(full) != patterns(structural)).nnz == 0


def test_structural_builder_aliases_affine_maps_only():
    from symasd.tracing import trace_into

    g = trace_into(None, lambda x: 3.0 * x + 1.0 - (x / 2.0) * (0.0 * x) - x ** 2,
                   np.ones(4), share=False, structural=True)
    # x**2 is one SQUARE per element and the difference one SUB per element;
    # everything else is affine in x or the constant zero
    assert g.n_nodes <= 4 + 2 + 4 + 4 + 2
    H = symasd.hessian_sparsity(lambda x: np.sum(5.0 * x[:2] * -x[1:3]), np.ones(3))
    assert H.toarray().astype(int).tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]


def test_pattern_kernels_reuse_work_memory_across_threads():
    # the kernels park freed work blocks for the next call (no page faults);
    # concurrent calls must still get their own blocks
    from concurrent.futures import ThreadPoolExecutor

    from symasd import _pattern

    def rosen(x):
        return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    def both(n):
        x = np.ones(n)
        return (symasd.jacobian_sparsity(lambda z: np.diff(z, 3) * z[0], x),
                symasd.hessian_sparsity(rosen, x))

    sizes = [30000, 20000, 30000, 25000, 20000, 30000]
    expected = {n: both(n) for n in set(sizes)}
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(both, sizes))
    for n, (J, H) in zip(sizes, results, strict=True):
        assert (J != expected[n][0]).nnz == 0 and (H != expected[n][1]).nnz == 0
        assert H.nnz == 3 * n - 2
    assert 0 < _pattern.kept_work_bytes() <= 32 << 20
