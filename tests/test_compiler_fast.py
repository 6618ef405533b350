"""The compiler's fast paths against their plain references: loading a graph
into a node table, interning in chunks, sparse tangent gathering, and a
Hessian sweep that goes on with the gradient's builder."""

import numpy as np
import pytest
from builders import NumPyPathTable

import symasd
from symasd import _dag
from symasd.compiler import compile_hessian, forward_tangents, gradient_graph
from symasd.graph import Builder
from symasd.ops import Code

FUNCTIONS = [
    ("chained rosenbrock", lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2
                                            + (1.0 - x[:-1]) ** 2)),
    ("arrowhead", lambda x: np.sum(3.0 - 4.0 * x[:-1]) + np.sum((x[:-1] ** 2 + x[-1] ** 2) ** 2)),
    ("shared subexpressions", lambda x: np.sum(np.sin(x) * np.sin(x)) + np.prod(x[:3])),
    ("selections", lambda x: np.sum(np.maximum(x, 0.3) ** 2 * np.where(x > 0, x, -x))),
    ("guarded branch", lambda x: np.sum(np.where(x > 0, np.sqrt(np.abs(x)), x ** 3))),
    ("singular partials", lambda x: np.sqrt(x @ x) + np.sum(np.cbrt(x) * x)),
]


@pytest.mark.parametrize("name,f", FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
@pytest.mark.parametrize("share", [True, False])
def test_loaded_table_finds_every_node(name, f, share):
    # load hashes only leaves and the nodes that are no first user of an
    # argument; interning any stored node again must still find it
    g = symasd.trace(f, np.linspace(0.3, 1.7, 9))
    table = _dag.NodeTable(16, share)
    table.load(g.op, g.arg0, g.arg1, g.arg2, g.const)
    ids = np.concatenate([table.intern(int(g.op[k]), g.arg0[k:k + 1], g.arg1[k:k + 1],
                                       g.arg2[k:k + 1], g.const[k:k + 1])
                          for k in range(g.n_nodes) if share or g.arg0[k] < 0])
    expected = np.arange(g.n_nodes) if share else np.flatnonzero(g.arg0 < 0)
    np.testing.assert_array_equal(ids, expected)
    assert table.n == g.n_nodes


def test_interning_many_folds_keeps_the_table_small():
    # a block of 10^5 rows that folds to three constants reserves room chunk
    # by chunk: the storage grows for one chunk (4096 rows), not for 10^5
    # (which took 6 MB: node arrays and hash table for every row)
    table = _dag.NodeTable(64)
    consts = table.intern(int(Code.CONST), c=np.array([0.0, 1.0, 2.0, 3.0]))
    rng = np.random.default_rng(3)
    a = consts[rng.integers(1, 4, 10 ** 5)]
    b = consts[rng.integers(1, 4, 10 ** 5)]
    ids, squares_from, plain_from = table.intern_simple_binary(int(Code.MUL), a, b, True,
                                                              int(consts[0]))
    op, _, _, _, c = table.arrays()
    assert (op[ids] == int(Code.CONST)).all()
    np.testing.assert_array_equal(c[ids], c[a] * c[b])
    assert table.n == 4 + len(np.unique(c[a] * c[b])) - 3  # 4, 6, 9 are new; 1, 2, 3 were there
    assert squares_from == plain_from == table.n
    assert table.nbytes < 10 ** 6


def test_interning_in_chunks_matches_one_by_one():
    # more rows than one chunk, mixing folds, squares and plain nodes: every row
    # decodes to the node Builder.binary's rules make of it, and no node twice
    rng = np.random.default_rng(5)
    table = _dag.NodeTable(64)
    zero = int(table.intern(int(Code.CONST), c=np.zeros(1))[0])
    consts = table.intern(int(Code.CONST), c=np.array([2.0, 3.0]))
    leaves = table.intern(int(Code.VAR), c=np.arange(50.0))
    pool = np.concatenate([consts, leaves])
    L = 3 * 4096 + 17
    a = pool[rng.integers(0, pool.size, L)]
    b = np.where(rng.random(L) < 0.3, a, pool[rng.integers(0, pool.size, L)])
    ids, squares_from, plain_from = table.intern_simple_binary(int(Code.MUL), a, b, True, zero)
    op, a0, a1, _, c = table.arrays()
    is_c = op[a] == int(Code.CONST)
    both = is_c & (op[b] == int(Code.CONST))
    np.testing.assert_array_equal(c[ids[both]], c[a[both]] * c[b[both]])
    square = ~both & (a == b)
    assert (op[ids[square]] == int(Code.SQUARE)).all()
    np.testing.assert_array_equal(a0[ids[square]], a[square])
    plain = ~both & ~square
    assert (op[ids[plain]] == int(Code.MUL)).all()
    np.testing.assert_array_equal(a0[ids[plain]], np.minimum(a[plain], b[plain]))
    np.testing.assert_array_equal(a1[ids[plain]], np.maximum(a[plain], b[plain]))
    assert (ids[square] >= squares_from).all() and (ids[square] < plain_from).all()
    keys = set(zip(op.tolist(), a0.tolist(), a1.tolist(), c.tolist(), strict=True))
    assert len(keys) == table.n


def test_tangent_entries_match_the_dense_gather():
    rng = np.random.default_rng(7)
    zero = 5
    T = np.where(rng.random((40, 3)) < 0.4, rng.integers(0, 100, (40, 3)), zero)
    args = rng.integers(0, 40, 60)
    K = np.sort(rng.choice(60, 25, replace=False))
    r, c, v = _dag.tangent_entries(T, args, K, zero)
    dense = T[args[K]]
    rr, cc = np.nonzero(dense != zero)
    np.testing.assert_array_equal(r, rr)
    np.testing.assert_array_equal(c, cc)
    np.testing.assert_array_equal(v, dense[rr, cc])


@pytest.mark.parametrize("name,f", FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
@pytest.mark.parametrize("mode", ["star", "acyclic"])
def test_hessian_going_on_with_the_gradient_builder(name, f, mode):
    # compile_hessian builds the second sweep in the gradient's builder; the
    # same sweep over G2 loaded into a fresh builder gives the same Hessian
    x0 = np.linspace(-0.8, 1.3, 9)
    g = symasd.trace(f, x0)
    coloring = symasd.color(symasd.hessian_sparsity(g), mode)
    compiled = compile_hessian(g, coloring)
    _, _, G2 = gradient_graph(g)
    b = Builder.from_graph(G2)
    T = forward_tangents(b, G2, np.asarray(coloring.colors), coloring.ncolors,
                         roots=G2.outputs[1:])
    B = b.finish(T[G2.outputs[1:]], G2.input_shape, (g.n_inputs, coloring.ncolors))
    x = np.linspace(-1.1, 0.9, 9)
    expected = coloring.decompress(B(x)).toarray()
    H = symasd.hessian(f, x0, mode=mode, engine="tape")(x).toarray()
    got = np.zeros_like(H)
    pattern = symasd.hessian_sparsity(g).tocsr()
    got[np.repeat(np.arange(9), np.diff(pattern.indptr)), pattern.indices] = \
        compiled.matrix_graph(x)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(got, H, rtol=1e-12, atol=1e-12)


def _random_pool(b, rng):
    """Ids of constants (0, 1, -1, NaN, inf ...), inputs, and nodes that the
    rules look into: negations, products and sums with a constant."""
    consts = b.const(np.array([0.0, 1.0, -1.0, 2.0, 0.5, -3.0, np.nan, np.inf]))
    x = b.variables(np.arange(6.0))
    c = consts[rng.integers(0, consts.size, 12)]
    v = x[rng.integers(0, 6, 12)]
    products = b.binary(Code.MUL, c, v)
    sums = b.binary(Code.ADD, c[::-1], v)
    negs = b.unary(Code.NEG, x)
    return np.concatenate([consts, x, products, sums, negs, b.binary(Code.SUB, v, c)])


@pytest.mark.parametrize("seed", range(12))
def test_binary_rules_in_c_build_what_the_numpy_path_builds(seed):
    rng = np.random.default_rng(seed)
    fast, slow = Builder(), Builder()
    slow.table = NumPyPathTable(slow.table)
    codes = [Code.ADD, Code.SUB, Code.MUL, Code.DIV, Code.MULZ, Code.POW, Code.MAX]
    for step in range(40):
        pools = [_random_pool(bl, np.random.default_rng(1000 * seed + step)) for bl in (fast, slow)]
        np.testing.assert_array_equal(pools[0], pools[1])
        pool = pools[0]
        size = int(rng.integers(1, 30))
        a = pool[rng.integers(0, pool.size, size)]
        bb = np.where(rng.random(size) < 0.2, a, pool[rng.integers(0, pool.size, size)])
        code = codes[int(rng.integers(0, len(codes)))]
        got, expected = fast.binary(code, a, bb), slow.binary(code, a, bb)
        np.testing.assert_array_equal(got, expected, err_msg=f"{code.name} at step {step}")
    for u, v in zip(fast.arrays(), slow.arrays(), strict=True):
        np.testing.assert_array_equal(u, v)
    assert fast.block_starts == slow.block_starts
