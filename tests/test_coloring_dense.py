"""Colorings of patterns with dense rows, dense columns and hubs.

The kernels keep the colors around dense rows (column problems) and hubs
(symmetric problems) in tables instead of scanning them (docs/coloring.md,
"Dense rows and columns").  The tables change the cost, never the colors:
every test here colors the same pattern in the same vertex order with the
tables off (the textbook scans), on for every row or vertex, and on with a
memory budget so small that rows are dropped from the tables midway, and
requires the very same colors; the colorings are checked against the
definitions and by recovering a random matrix.
"""

from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from test_coloring import arrow, check_result

import symasd
from symasd import coloring, orderings
from symasd.coloring import PROBLEMS, as_pattern, is_valid_coloring
from symasd.orderings import Adjacency, degrees

# (HUB_DEGREE, DENSE_ROW, TABLE_BUDGET): no tables; tables for every vertex
# and row; tables that the budget keeps shrinking (a few rows of a few words)
SETTINGS = {
    "scans": (10**9, 10**9, 1 << 27),
    "tables": (0, 0, 1 << 27),
    "shrinking": (1, 1, 3000),
}


@contextmanager
def kernel_settings(name):
    saved = (coloring.HUB_DEGREE, orderings.DENSE_ROW, coloring.TABLE_BUDGET)
    coloring.HUB_DEGREE, orderings.DENSE_ROW, coloring.TABLE_BUDGET = SETTINGS[name]
    try:
        yield
    finally:
        coloring.HUB_DEGREE, orderings.DENSE_ROW, coloring.TABLE_BUDGET = saved


def hub_pattern(rng, m, n, density, dense_rows, dense_cols):
    A = rng.random((m, n)) < density
    for i in rng.choice(m, min(dense_rows, m), replace=False):
        A[i, :] = rng.random(n) < rng.uniform(0.6, 1.0)
    for j in rng.choice(n, min(dense_cols, n), replace=False):
        A[:, j] = rng.random(m) < rng.uniform(0.6, 1.0)
    return A


@st.composite
def hub_patterns(draw):
    m = draw(st.integers(1, 60))
    n = draw(st.integers(1, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.sampled_from([0.0, 0.03, 0.1, 0.3]))
    return hub_pattern(rng, m, n, density, draw(st.integers(0, 3)), draw(st.integers(0, 3)))


def custom_order(problem, shape, rng):
    m, n = shape
    size = {"row": m, "bidirectional": m + n}.get(problem, n)
    return rng.permutation(size)


def colors_of(r):
    if isinstance(r, coloring.BicoloringResult):
        return np.concatenate([r.row_colors, r.column_colors])
    return r.colors


def same_under_every_setting(P, problem, order, seed=0):
    """Color P under every kernel setting; assert equal colors, return one result."""
    results = {}
    for name in SETTINGS:
        with kernel_settings(name):
            results[name] = symasd.color(P, problem, order=order, seed=seed)
    first = results["scans"]
    for name, r in results.items():
        assert r.ncolors == first.ncolors, name
        assert np.array_equal(colors_of(r), colors_of(first)), name
    return first


@settings(max_examples=60, deadline=None)
@given(hub_patterns(), st.sampled_from(["column", "row", "bidirectional"]), st.integers(0, 99))
def test_jacobian_tables_change_no_color(A, problem, seed):
    rng = np.random.default_rng(seed)
    order = custom_order(problem, A.shape, rng)
    check_result(A, same_under_every_setting(sp.csr_array(A), problem, order), rng)


@settings(max_examples=60, deadline=None)
@given(hub_patterns(), st.sampled_from(["star", "acyclic"]), st.integers(0, 99))
def test_symmetric_tables_change_no_color(A, problem, seed):
    k = min(A.shape)
    S = A[:k, :k] | A[:k, :k].T
    np.fill_diagonal(S, seed % 2 == 0)
    rng = np.random.default_rng(seed)
    for order in (custom_order(problem, S.shape, rng), "natural", "largest_first",
                  "smallest_last", "incidence_degree", "dynamic_largest_first", "random"):
        check_result(S, same_under_every_setting(sp.csr_array(S), problem, order, seed), rng)


@settings(max_examples=40, deadline=None)
@given(hub_patterns(), st.integers(0, 99))
def test_acyclic_tree_records_of_either_width_give_the_same_colors(A, seed):
    """The acyclic kernel keeps its 2-colored trees in int32 records, or int64 ones
    past 2**31 vertices or edges (forced here): the colors are the same."""
    from symasd import _coloring

    k = min(A.shape)
    S = sp.csr_array(A[:k, :k] | A[:k, :k].T)
    st_ = coloring._Structure(as_pattern(S))
    edge, nedges = st_.edges(st_.mirror())
    perm = np.random.default_rng(seed).permutation(k).astype(np.int64)
    got = []
    for wide in (False, True):
        with kernel_settings("tables" if seed % 2 else "shrinking"):
            heavy, nheavy = coloring._hubs(st_.indptr)
            colors = np.full(k, -1, dtype=np.int64)
            ncolors = _coloring.acyclic(st_.indptr, st_.indices, edge, nedges, perm, heavy,
                                        nheavy, coloring.TABLE_BUDGET, colors, wide)
        got.append((ncolors, colors))
    assert got[0][0] == got[1][0]
    assert np.array_equal(got[0][1], got[1][1])
    assert coloring.is_acyclic_coloring(S, got[0][1])


def test_tables_past_64_colors():
    """Dozens of words per table row, grown several times, with rows dropped."""
    rng = np.random.default_rng(5)
    A = hub_pattern(rng, 220, 200, 0.04, 3, 3)
    S = (A[:200] | A[:200].T)
    big = symasd.color(S, "star").ncolors
    assert big > 64 and symasd.color(A, "column").ncolors > 128
    for problem in PROBLEMS:
        P = S if problem in ("star", "acyclic") else A
        order = custom_order(problem, P.shape, rng)
        check_result(P, same_under_every_setting(sp.csr_array(P), problem, order), rng)


def test_dynamic_orders_with_dense_rows_give_valid_colorings():
    # the orders themselves depend on DENSE_ROW (degrees of heavy rows are bounds)
    rng = np.random.default_rng(2)
    A = sp.csr_array(hub_pattern(rng, 300, 250, 0.01, 4, 4))
    for problem in ("column", "row", "bidirectional"):
        for order in ("smallest_last", "incidence_degree", "dynamic_largest_first", "best"):
            check_result(A, symasd.color(A, problem, order=order), rng)


def test_heavy_rows_count_as_their_size_in_degrees():
    # rows 0 and 1 are dense (over DENSE_ROW entries), row 2 is light
    n = orderings.DENSE_ROW + 10
    A = np.zeros((3, n), dtype=bool)
    A[0, :] = True
    A[1, : n - 2] = True
    A[2, [0, 5]] = True
    P = sp.csr_array(A)
    C = P.tocsc()
    adj = Adjacency.column_intersection(C.indptr, C.indices, P.indptr, P.indices)
    assert adj.heavy.tolist() == [1, 1, 0]
    d = degrees(adj)
    # column 0: light row {0, 5} -> 1, heavy rows n - 1 and n - 3: capped at n - 1
    assert d[0] == n - 1
    # the last column is in row 0 only: exactly n - 1
    assert d[n - 1] == n - 1
    exact = Adjacency(C.indptr, C.indices, P.indptr, P.indices)
    assert not exact.heavy.any() and degrees(exact).tolist() == [n - 1] * n


def test_arrow_colors():
    P = arrow(3000)
    expected = {"column": 3000, "row": 3000, "star": 2, "acyclic": 2, "bidirectional": 3}
    for problem, k in expected.items():
        r = symasd.color(P, problem)
        assert r.ncolors == k, problem
        assert is_valid_coloring(P, r)


def test_hub_of_degree_past_uint16():
    """A hub with more than 65,535 neighbours: the star kernel's per-color table
    holds int32 row offsets instead of uint16 ones; colors and recovery as before."""
    n = 70_000
    i = np.arange(n)
    rows = np.concatenate([i, np.zeros(n - 1, dtype=np.int64), i[1:]])
    cols = np.concatenate([i, i[1:], np.zeros(n - 1, dtype=np.int64)])
    P = sp.csr_array((np.ones(rows.size, dtype=bool), (rows, cols)), shape=(n, n))
    rng = np.random.default_rng(3)
    for problem in ("star", "bidirectional"):
        r = symasd.color(P, problem)
        assert r.ncolors == {"star": 2, "bidirectional": 3}[problem]
        assert is_valid_coloring(P, r)
    M = sp.csr_array((rng.standard_normal(P.nnz), P.indices, P.indptr), shape=P.shape)
    M = sp.csr_array(M + M.T)
    r = symasd.color(M != 0, "star")
    got = r.decompress(M @ r.seeds())
    assert abs(got - M).max() < 1e-12


def test_random_pattern_with_dense_rows_and_columns():
    rng = np.random.default_rng(0)
    n = 3000
    rows = np.repeat(np.arange(n), 3)
    cols = rng.integers(0, n, 3 * n)
    dense_r, dense_c = rng.choice(n, 5, replace=False), rng.choice(n, 5, replace=False)
    rows = np.concatenate([rows, np.repeat(dense_r, n), np.tile(np.arange(n), 5)])
    cols = np.concatenate([cols, np.tile(np.arange(n), 5), np.repeat(dense_c, n)])
    P = as_pattern(sp.csr_array((np.ones(rows.size, bool), (rows, cols)), shape=(n, n)))
    S = as_pattern(P + P.T)
    for problem in PROBLEMS:
        Q = S if problem in ("star", "acyclic") else P
        check_result(Q, symasd.color(Q, problem), rng)
    # a bicoloring reads the dense rows from VJPs and the dense columns from JVPs
    assert symasd.color(P, "bidirectional").ncolors < 40
