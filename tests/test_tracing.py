"""Tracing unmodified NumPy code: values, structure sharing and errors."""

import numpy as np
import pytest
from builders import NumPyPathTable
from reference import assert_same_values, central_jacobian

import symasd
from symasd import InputError, TracingError
from symasd.evaluation import output_plan

rng = np.random.default_rng(0)
A = rng.standard_normal((4, 6))
M = rng.standard_normal((6, 6))
IDX = np.array([0, 2, 2, 5, 1])

# (name, function, input shape): each must trace and evaluate exactly like NumPy
CASES = [
    ("ufuncs", lambda x: np.sin(x) * np.exp(-x) + np.tanh(x) / (1 + x**2), (6,)),
    ("scalars both sides", lambda x: 2.0 - x + 3 * x / 4 - 1 / (2 + x**2) + 2**x, (6,)),
    ("numpy array operand", lambda x: np.arange(6.0) * x - x * np.ones(6), (6,)),
    ("broadcast 2d", lambda x: x.reshape(2, 3) + np.array([[1.0], [2.0]]), (6,)),
    ("outer broadcast", lambda x: (x[:, None] * x[None, :]).ravel(), (4,)),
    ("basic indexing", lambda x: x[1:-1:2] + x[::-1][:2].sum(), (6,)),
    ("integer indexing", lambda x: x[IDX] * x[[1, 1, 0, 3, 4]], (6,)),
    ("boolean mask", lambda x: x[np.array([True, False, True, True, False, True])], (6,)),
    ("2d indexing", lambda x: x[1:, ::2].T @ np.ones(2), (3, 4)),
    ("reshape ravel transpose", lambda x: x.reshape(3, 2).T.ravel() * np.ravel(x), (6,)),
    ("concatenate stack", lambda x: np.concatenate([x, np.stack([x[0], x[1]]), [1.0]]), (6,)),
    ("hstack vstack", lambda x: np.vstack([x, 2 * x]).ravel() + np.hstack([x, x])[:12], (6,)),
    ("roll", lambda x: np.roll(x, 2) - np.roll(x.reshape(2, 3), -1, axis=1).ravel(), (6,)),
    ("diff", lambda x: np.diff(x, 2), (6,)),
    ("diff axis prepend", lambda x: np.diff(x, axis=0, prepend=0.0).ravel(), (2, 3)),
    ("pad constant", lambda x: np.pad(x, (2, 1), constant_values=3.5), (6,)),
    ("pad wrap 2d", lambda x: np.pad(x, 1, mode="wrap").ravel(), (2, 3)),
    ("sum prod mean", lambda x: np.array([x.sum(), np.prod(x), np.mean(x)]), (6,)),
    ("sum axis keepdims", lambda x: x.sum(axis=0, keepdims=True).ravel() + x.mean(1), (3, 3)),
    ("cumsum", lambda x: np.cumsum(x) + x.cumsum(), (7,)),
    ("cumsum axis", lambda x: np.cumsum(x, axis=1).ravel(), (2, 5)),
    ("dot matvec", lambda x: np.dot(A, x) + A @ x, (6,)),
    ("matmul left vec", lambda x: x[:4] @ A, (6,)),
    ("matmul symbolic both", lambda x: (x.reshape(2, 3) @ x.reshape(3, 2)).ravel(), (6,)),
    ("batched matmul", lambda x: (x.reshape(2, 2, 2) @ x.reshape(2, 2, 2)).ravel(), (8,)),
    ("dot vec vec", lambda x: np.atleast_1d(np.dot(x, x)), (6,)),
    ("outer", lambda x: np.outer(x[:3], x[3:]).ravel(), (6,)),
    ("einsum ij,j", lambda x: np.einsum("ij,j->i", A, x), (6,)),
    ("einsum trace", lambda x: np.atleast_1d(np.einsum("ii", x.reshape(3, 3))), (9,)),
    ("einsum implicit", lambda x: np.einsum("ij,jk", x.reshape(2, 3), M[:3, :2]).ravel(), (6,)),
    ("where", lambda x: np.where(x > 0, x**2, -x), (6,)),
    ("clip maximum minimum", lambda x: np.clip(x, -0.5, 0.5) + np.maximum(x, 0.1)
     - np.minimum(x, x[::-1]), (6,)),
    ("abs sign floor", lambda x: np.abs(x) + np.sign(x) + np.floor(3 * x) + np.ceil(x)
     + np.round(x), (6,)),
    ("comparisons logic", lambda x: np.where((x > 0) & (x < 1) | ~(x > -1), 1.0, 2.0) * x,
     (6,)),
    ("zeros_like assignment", None, (6,)),
    ("add.at", None, (6,)),
    ("special functions", lambda x: np.cbrt(x) + np.expm1(x) + np.log1p(x**2)
     + np.log2(1 + x**2) + np.log10(2 + x**2) + np.arctan(x) + np.sinh(x) + np.cosh(x)
     + np.arcsinh(x) + np.arccosh(2 + x**2) + np.arctanh(x / 3) + np.arcsin(x / 3)
     + np.arccos(x / 3) + np.hypot(x, 1) + np.arctan2(x, 2) + np.square(x)
     + np.reciprocal(2 + x**2) + np.sqrt(1 + x**2) + np.tan(x / 3) + np.cos(x), (6,)),
    ("tensordot", lambda x: np.tensordot(x.reshape(2, 3), M[:3, :4], axes=1).ravel(), (6,)),
    ("max min reductions", lambda x: np.array([x.max(), np.min(x)]), (6,)),
    ("full_like ones_like", lambda x: np.full_like(x, 2.0) * x + np.ones_like(x), (6,)),
    ("triu", lambda x: np.triu(x.reshape(3, 3)).ravel(), (9,)),
]


def ode_rhs(y):
    dy = np.zeros_like(y)
    dy[1:-1] = y[:-2] - 2 * y[1:-1] + y[2:]
    dy[0] = -y[0]
    dy[-1] += y[-1] ** 2
    return dy


def scatter(x):
    out = np.zeros_like(x)
    np.add.at(out, IDX, x[:5] ** 2)
    return out


def _function(name, f):
    return {"zeros_like assignment": ode_rhs, "add.at": scatter}.get(name, f)


@pytest.mark.parametrize("name,f,shape", CASES, ids=[c[0] for c in CASES])
def test_traced_values_match_numpy(name, f, shape):
    f = _function(name, f)
    g = symasd.trace(f, np.zeros(shape))
    J = symasd.jacobian_sparsity(g).toarray()
    for seed in range(3):
        x = np.random.default_rng(seed).uniform(-0.9, 0.9, size=shape)
        expected = np.asarray(f(x), dtype=float)
        assert g.output_shape == expected.shape
        np.testing.assert_allclose(g(x), expected, rtol=1e-12, atol=1e-12)
        # the global pattern, and the local pattern at x, contain every
        # numerically nonzero entry
        fd = central_jacobian(f, x)
        assert not np.any((np.abs(fd) > 1e-6) & ~J), name
        local = symasd.jacobian_sparsity(f, x, local=True).toarray()
        assert not np.any((np.abs(fd) > 1e-6) & ~local), name
        assert not np.any(local & ~J), name


def test_hash_consing_shares_structure():
    g1 = symasd.trace(lambda x: (x[1:] - x[:-1]) * (x[1:] - x[:-1]), np.zeros(5))
    g2 = symasd.trace(lambda x: np.diff(x) ** 2, np.zeros(5))
    # identical subexpressions are one node: 5 inputs + 4 differences + 4 squares
    assert g1.n_nodes == g2.n_nodes == 13


def test_simplification_rules():
    g = symasd.trace(lambda x: x * 0 + x * 1 + 0 / (x + 2) + (x + 0) - x ** 1, np.zeros(3))
    # everything folds to x + x - x: inputs, one ADD block and one SUB block
    assert g.n_nodes == 3 + 3 + 3
    g = symasd.trace(lambda x: np.sum(x * 0) + 2.0 * 3.0, np.zeros(3))
    assert g.n_nodes == 1 and g(np.ones(3)) == 6.0


@pytest.mark.parametrize("exponent", [0, 1, 2, -1, 3, 0.5, -0.0, 2.5, np.float64(2),
                                      np.int64(3), float("nan")])
def test_scalar_exponents_trace_as_per_element_exponents(exponent):
    # x ** scalar goes straight to the builder; the nodes must be those of the
    # general route (an exponent per element), with constant bases folded alike
    x0 = np.array([0.5, 1.5, 2.0, 3.0])

    def fast(x):
        return np.concatenate([x, np.array([2.0, 0.0])]) ** exponent

    def general(x):
        return np.power(np.concatenate([x, np.array([2.0, 0.0])]),
                        np.full(6, float(exponent)))

    def no_constants(x):
        return x ** exponent

    def no_constants_general(x):
        return np.power(x, np.full(4, float(exponent)))

    for a, b in ((fast, general), (no_constants, no_constants_general)):
        ga, gb = symasd.trace(a, x0), symasd.trace(b, x0)
        for name in ("op", "arg0", "outputs"):
            np.testing.assert_array_equal(getattr(ga, name), getattr(gb, name))
        np.testing.assert_array_equal(ga.const, gb.const)
        with np.errstate(all="ignore"):
            assert_same_values(ga(x0 + 0.25), a(x0 + 0.25))


def test_builder_fast_paths_take_strided_and_2d_ids():
    from symasd.graph import Builder
    from symasd.ops import Code

    b = Builder()
    x = b.variables(np.arange(6.0))
    for ids in (x[::2], x.reshape(2, 3)):
        for out in (b.unary(Code.SIN, ids), b.powc(ids, 3.0), b.powc(ids, 2.0)):
            assert out.shape == ids.shape
        np.testing.assert_array_equal(b.unary(Code.SIN, ids), b.unary(Code.SIN, ids.copy()))
        np.testing.assert_array_equal(b.powc(ids, 3.0), b.powc(ids.copy(), 3.0))


def test_an_exponent_past_float64_is_a_tracing_error():
    with pytest.raises(TracingError, match="cannot trace a value of type int"):
        symasd.trace(lambda x: x ** 10**400, np.ones(3))


def test_reductions_are_balanced_trees():
    g = symasd.trace(lambda x: x.sum(), np.zeros(1024))
    # depth log2(1024) = 10: count levels by walking the left spine
    depth, k = 0, int(g.outputs[0])
    while g.arg0[k] >= 0:
        k = int(g.arg0[k])
        depth += 1
    assert depth == 10
    assert int(np.sum(g.op == symasd.ops.Code.ADD)) == 1023


@pytest.mark.parametrize("lengths", [[7], [5, 5, 5], [2] * 6, [3, 1, 4, 0, 2], [1, 1]])
def test_reduce_segments_pairs_neighbours(lengths):
    # every layout (equal lengths take a reshaped path) gives the balanced
    # tree that pairs neighbours and carries an odd last term up a level
    from symasd.graph import Builder
    from symasd.ops import Code

    def tree(terms):
        while len(terms) > 1:
            pairs = [(int(Code.ADD), "0.0", *terms[i:i + 2])
                     for i in range(0, len(terms) - 1, 2)]
            terms = pairs + terms[len(terms) - len(terms) % 2:]
        return terms[0] if terms else (int(Code.CONST), "0.0")

    b = Builder()
    x = b.variables(np.zeros(sum(lengths)))
    got = _structure(b, b.reduce_segments(Code.ADD, x, np.cumsum([0, *lengths])))
    leaves = _structure(b, x)
    bounds = np.cumsum([0, *lengths])
    want = [tree(leaves[s:e]) for s, e in zip(bounds[:-1], bounds[1:], strict=True)]
    assert [_canonical(t) for t in got] == [_canonical(t) for t in want]


def _canonical(t):
    """A structure with the arguments of commutative nodes sorted."""
    from symasd.ops import COMMUTATIVE_CODES

    args = [_canonical(a) for a in t[2:]]
    if t[0] in {int(c) for c in COMMUTATIVE_CODES}:
        args.sort(key=repr)
    return (t[0], t[1], *args)


def test_sparse_constant_matrix_creates_nodes_only_for_nonzeros():
    D = np.diag(np.full(100, 2.0)) + np.diag(np.ones(99), 1)
    g = symasd.trace(lambda x: D @ x, np.zeros(100))
    assert g.n_nodes < 100 + 2 + 3 * 100
    J = symasd.jacobian_sparsity(g)
    assert J.nnz == 199


def test_blocks_are_recorded():
    g = symasd.trace(lambda x: np.sin(x) + np.cos(x), np.zeros(50))
    assert g.block_starts.size >= 3
    starts = np.append(g.block_starts, g.n_nodes)
    for s, e in zip(starts[:-1], starts[1:], strict=True):
        assert len(set(g.op[s:e].tolist())) == 1


def test_local_tracing_resolves_branches():
    def f(x):
        if x[0] > 0:
            return np.maximum(x, 0.0) * x[1]
        return -x

    x0 = np.array([1.0, -2.0, 3.0])
    g = symasd.trace(f, x0, local=True)
    np.testing.assert_allclose(g(x0), f(x0))
    J = symasd.jacobian_sparsity(f, x0, local=True).toarray()
    Jg = symasd.jacobian_sparsity(lambda x: np.maximum(x, 0.0) * x[1], x0).toarray()
    assert J.sum() < Jg.sum()
    assert np.array_equal(J, Jg & J)


def test_parameters_are_traced_not_differentiated():
    g = symasd.trace(lambda x, p: x * p[0] + p[1], np.ones(3), np.array([2.0, 5.0]))
    assert g.param_shapes == ((2,),)
    np.testing.assert_allclose(g(np.arange(3.0), np.array([3.0, 1.0])), [1.0, 4.0, 7.0])
    assert symasd.jacobian_sparsity(g).nnz == 3


# ---- errors ----------------------------------------------------------------


def test_branching_on_symbolic_value_explains_where():
    def f(x):
        if x[0] > 0:
            return x
        return -x

    with pytest.raises(TracingError, match="np.where"):
        symasd.trace(f, np.ones(3))


def test_unsupported_function_names_itself():
    import scipy.special

    with pytest.raises(TracingError, match="numpy.median .*np.sort"):
        symasd.trace(lambda x: np.median(x).reshape(1), np.ones(3))
    with pytest.raises(TracingError, match="remainder|%"):
        symasd.trace(lambda x: x % 2, np.ones(3))
    with pytest.raises(TracingError, match="numpy.remainder .*np.floor"):
        symasd.trace(lambda x: np.mod(x, 2), np.ones(3))
    with pytest.raises(TracingError, match="numpy.linalg.inv .*np.linalg.solve"):
        symasd.trace(lambda x: np.linalg.inv(x.reshape(2, 2)), np.ones(4))
    # a SciPy ufunc is named with its module (not numpy.gamma)
    with pytest.raises(TracingError, match="scipy.special.gamma is not supported"):
        symasd.trace(lambda x: scipy.special.gamma(x), np.ones(3))


def test_storing_into_plain_array_says_zeros_like():
    def f(x):
        out = np.zeros(3)
        out[0] = x[0]
        return out

    with pytest.raises(TracingError, match="zeros_like"):
        symasd.trace(f, np.ones(3))

    def g(x):
        out = np.zeros(3)
        out[:] = x
        return out

    with pytest.raises(TracingError, match="zeros_like"):
        symasd.trace(g, np.ones(3))


def test_non_array_output_is_rejected():
    with pytest.raises(TracingError, match="np.stack"):
        symasd.trace(lambda x: [x[0], x[1]], np.ones(3))
    with pytest.raises(TracingError, match="dict"):
        symasd.trace(lambda x: {"a": x}, np.ones(3))


@pytest.mark.parametrize("bad,match", [
    (np.ones(3, dtype=complex), "complex"),
    (np.ones(3, dtype=int), "float64"),
    (np.ones(3, dtype=bool), "float64"),
    ("abc", "float64|dtype"),
])
def test_bad_x0(bad, match):
    with pytest.raises(InputError, match=match):
        symasd.trace(lambda x: x, bad)


def test_local_needs_finite_point():
    with pytest.raises(InputError, match="finite"):
        symasd.trace(lambda x: x, np.array([1.0, np.nan]), local=True)


def test_shape_mismatch_at_call_time():
    g = symasd.trace(lambda x: x**2, np.ones(3))
    with pytest.raises(InputError, match="shape"):
        g(np.ones(4))
    with pytest.raises(InputError, match="complex"):
        g(np.ones(3, dtype=complex))
    with pytest.raises(InputError, match="parameter"):
        g(np.ones(3), np.ones(2))


def test_symbolic_index_and_mixed_traces_rejected():
    with pytest.raises(TracingError, match="index"):
        symasd.trace(lambda x: x[x > 0], np.ones(3))
    other = symasd.symbols("y", 3)
    with pytest.raises(TracingError, match="different traces"):
        symasd.trace(lambda x: x + other, np.ones(3))


def test_complex_constants_rejected():
    with pytest.raises(TracingError, match="complex"):
        symasd.trace(lambda x: x * 1j, np.ones(3))


def test_symbols_and_graph_from():
    x = symasd.symbols("x", (2, 2))
    g = symasd.graph_from(x, np.exp(x).sum(axis=0))
    assert g.input_shape == (2, 2) and g.output_shape == (2,)
    np.testing.assert_allclose(g(np.zeros((2, 2))), [2.0, 2.0])
    with pytest.raises(InputError):
        symasd.graph_from(x * 2, x)


def _structure(builder, ids):
    """Each id as a nested tuple (op, const, args...): comparable across builders."""
    op, a0, a1, a2, c = builder.arrays()
    memo = {}

    def expr(k):
        if k not in memo:
            args = tuple(expr(int(a[k])) for a in (a0, a1, a2) if a[k] >= 0)
            memo[k] = (int(op[k]), repr(float(c[k]))) + args
        return memo[k]

    return [expr(int(k)) for k in ids]


def _operand_pool(builder):
    """Node ids covering every case a binary rule looks at: constants 0, -0,
    1, -1, others, infinities, NaN; variables; negations; sums and products with and
    without a constant argument."""
    from symasd.ops import Code

    x = builder.variables(np.arange(3.0))
    consts = builder.const(np.array([0.0, -0.0, 1.0, -1.0, 2.5, -3.0, np.inf, -np.inf,
                                      np.nan]))
    neg = builder.unary(Code.NEG, x[:2])
    cx = builder.binary(Code.MUL, builder.const(np.array([2.0, -4.0])), x[:2])
    xc = builder.binary(Code.ADD, x[1:], builder.const(np.array([5.0, 0.5])))
    xy = builder.binary(Code.MUL, x[:2], x[1:])
    sx = builder.binary(Code.ADD, x[:2], x[1:])
    return np.concatenate([x, consts, neg, cx, xc, xy, sx])


@pytest.mark.parametrize("name", ["ADD", "SUB", "MUL", "DIV", "POW", "MAX", "MIN", "LT",
                                  "ARCTAN2", "MULZ"])
def test_one_pass_interning_agrees_with_the_rules(name):
    from symasd.graph import Builder
    from symasd.ops import Code

    code = Code[name]
    fast = Builder()
    slow = Builder()
    slow.table = NumPyPathTable(slow.table)
    pool_f, pool_s = _operand_pool(fast), _operand_pool(slow)
    assert _structure(fast, pool_f) == _structure(slow, pool_s)
    n = pool_f.size
    a, b = np.divmod(np.arange(n * n), n)
    # row by row: the one-pass path (plain rows, trivial rules, folding) must
    # give what the NumPy rules give, and decline every row it cannot settle
    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        got = fast.binary(code, pool_f[[i]], pool_f[[j]])
        want = slow.binary(code, pool_s[[i]], pool_s[[j]])
        assert _structure(fast, got) == _structure(slow, want), (name, i, j)
    # whole blocks too (one declined row sends the block to the rules)
    got = fast.binary(code, pool_f[a], pool_f[b])
    want = slow.binary(code, pool_s[a], pool_s[b])
    assert _structure(fast, got) == _structure(slow, want)


def test_pattern_traces_reuse_storage_safely():
    from symasd import sparsity

    def f(x):
        # a pattern computed inside the traced function finds the scratch table
        # busy and builds in its own
        inner = symasd.jacobian_sparsity(np.sin, np.ones(3))
        assert inner.nnz == 3
        return np.diff(x) * x[0]

    first = symasd.jacobian_sparsity(f, np.ones(6))
    again = symasd.jacobian_sparsity(f, np.ones(6))
    small = symasd.jacobian_sparsity(lambda x: x[::-1] ** 2, np.ones(4))
    assert (first != again).nnz == 0 and first.nnz == 14
    assert small.toarray().astype(int).tolist() == np.eye(4, dtype=int)[::-1].tolist()
    assert sparsity._SCRATCH._table is not None


def test_input_dependent_nodes():
    from symasd import _dag
    from symasd.ops import Code

    # 3 * p + x[0] * p: the constant, the parameter and 3 * p do not depend on x
    g = symasd.trace(lambda x, p: 3.0 * p + x[0] * p, np.ones(1), np.ones(1))
    dep = np.zeros(g.n_nodes, dtype=np.uint8)
    _dag.input_dependent(g.op, g.arg0, g.arg1, g.arg2, dep)
    names = [Code(int(o)).name for o in g.op]
    assert sorted(n for n, d in zip(names, dep, strict=True) if d) == ["ADD", "MUL", "VAR"]
    assert sorted(n for n, d in zip(names, dep, strict=True) if not d) == ["CONST", "MUL",
                                                                            "PARAM"]


def test_graphs_with_mostly_constant_outputs_evaluate_every_entry():
    # constant outputs are precomputed and only the others are written by the
    # virtual machine, at their positions
    w = np.array([2.0, -1.0, 0.5, 3.0, 1.0, -2.0])

    def f(x):
        return np.concatenate([w * 1.5, x[:2] * x[1:3], w[:3], np.sin(x[3:4])])

    g = symasd.trace(f, np.ones(4))
    assert output_plan(g) is not None
    for x in np.random.default_rng(3).normal(size=(3, 4)):
        with np.errstate(all="ignore"):
            expected = f(x)
        assert_same_values(g(x), expected)


def test_shape_queries_of_symbolic_arrays_are_plain_numbers():
    # np.shape, np.ndim and np.size of a traced array are the integers NumPy gives,
    # so code that allocates from them (np.ones(np.shape(x))) traces
    seen = {}

    def f(x):
        seen.update(shape=np.shape(x), scalar=np.shape(x[0]), ndim=np.ndim(x),
                     size=np.size(x), rows=np.size(x, 0))
        return x * np.ones(np.shape(x)) + np.arange(np.size(x)).reshape(np.shape(x))

    J = symasd.jacobian(f, np.zeros((2, 3)))(np.ones((2, 3)))
    assert seen == {"shape": (2, 3), "scalar": (3,), "ndim": 2, "size": 6, "rows": 2}
    assert type(seen["shape"][0]) is int
    np.testing.assert_array_equal(J.toarray(), np.eye(6))


def test_a_function_written_with_jax_gets_a_tracing_error():
    jnp = pytest.importorskip("jax.numpy")
    for f in (lambda x: jnp.sin(x), lambda x: jnp.sum(x ** 2)):
        with pytest.raises(TracingError, match="calls jax.*write it with numpy"):
            symasd.trace(f, np.zeros(3))


def test_builder_parameters_are_numbered_after_earlier_ones():
    """Parameters added later (the Lagrangian's multipliers after the caller's, a
    builder that starts from a graph with parameters) are new leaves numbered after
    the earlier ones, never an existing leaf."""
    from symasd.graph import Builder
    from symasd.ops import Code
    g = symasd.trace(lambda x, p: x * p, np.ones(2), np.ones(2))
    b = Builder.from_graph(g)
    new = b.parameters(np.ones(1))
    op, _, _, _, c = b.arrays()
    assert new[0] >= g.n_nodes and op[new[0]] == Code.PARAM and c[new[0]] == 2.0
    local = Builder(local=True)
    first = local.parameters(np.array([3.0, 4.0]))
    second = local.parameters(np.array([5.0]))
    assert local.arrays()[4][second].tolist() == [2.0]
    np.testing.assert_array_equal(local.values(np.concatenate([first, second])), [3., 4., 5.])


def test_graph_from_needs_all_its_inputs_and_outputs_built_on_them():
    """A part of the symbols array as inputs, or outputs built on other symbols, is an
    error (they read inputs the graph does not have: garbage values, a crash)."""
    x = symasd.symbols("x", 3)
    with pytest.raises(InputError, match="whole, unmodified array"):
        symasd.graph_from(x[:2], x * 2)
    with pytest.raises(TracingError, match="other symbolic inputs"):
        symasd.graph_from(x, symasd.symbols("y", 3))
    with pytest.raises(TracingError, match="other symbolic inputs"):
        symasd.graph_from(x, np.sin(symasd.symbols("y", 2)))
    np.testing.assert_array_equal(symasd.graph_from(x, x * 2)(np.arange(3.0)), [0, 2, 4])


@pytest.mark.parametrize("shape", [-1, (2, -1), 2.5, "3", None, True])
def test_symbols_checks_its_shape(shape):
    with pytest.raises(InputError, match="non-negative integer"):
        symasd.symbols("x", shape)


def test_in_place_operators_write_through_views_as_numpy_does():
    """``a op= b`` writes into ``a``'s own nodes, so a view's in-place update reaches
    the array it views (it used to rebind the view's name: a Jacobian of zeros)."""
    def laplacian(x):
        out = np.zeros_like(x)
        inner = out[1:-1]
        inner += x[2:] - 2 * x[1:-1] + x[:-2]
        return out

    def chain(x):
        y = x.copy()
        y += 1.0
        y **= 2
        y /= 3.0
        y -= x
        y *= x
        z = y
        z //= 0.5
        return y

    def alias(x):
        y = x
        y *= 2.0
        return x

    x = np.random.default_rng(0).uniform(0.5, 2.0, 6)
    for f in (laplacian, chain, alias):
        assert_same_values(symasd.trace(f, np.ones(6))(x), f(x.copy()))
    for f in (laplacian, alias):
        np.testing.assert_allclose(symasd.jacobian(f, np.ones(6))(x).toarray(),
                                   central_jacobian(lambda v, f=f: f(v.copy()), x), atol=1e-6)

    def grows(x):
        y = x.copy()
        y += np.ones((2, 6))
        return y

    def broadcast_view(x):
        b = np.broadcast_to(x, (2, 6))
        b += 1.0
        return b

    with pytest.raises(TracingError, match="does not fit"):
        symasd.trace(grows, np.ones(6))
    with pytest.raises(TracingError, match="read-only"):
        symasd.trace(broadcast_view, np.ones(6))


def test_ndarray_methods_trace_or_say_why_not():
    x0 = np.linspace(0.1, 1.0, 6)
    for f in (lambda x: x.repeat(2), lambda x: x.take([0, 2]), lambda x: (10 * x).round(),
              lambda x: x.reshape(2, 3).mT):
        assert_same_values(symasd.trace(f, x0)(x0), f(x0))
    for name in ("item", "tolist", "fill", "nonzero", "flat", "view", "searchsorted"):
        with pytest.raises(TracingError, match=f"x.{name} cannot be traced: "):
            symasd.trace(lambda x, name=name: getattr(x, name), x0)
    x = symasd.symbols("x", 3)
    assert not hasattr(x, "flags") and getattr(x, "device", None) is None   # probes still work
    with pytest.raises(AttributeError, match="no attribute 'foo'"):
        x.foo  # noqa: B018


def test_a_complex_output_is_named():
    with pytest.raises(TracingError, match="returned a complex value"):
        symasd.trace(lambda x: np.ones(2) * 1j, np.ones(2))


def test_in_place_on_scalars_rebinds_and_arrays_keep_their_kind():
    """A running sum (s += x[i]) rebinds s, as NumPy's immutable scalars do (writing
    into s made every partial sum the total); floats into a boolean array and &= on
    floats are refused, as NumPy refuses them."""
    def partial_sums(x):
        out, s = [], 0.0
        for i in range(x.size):
            s += x[i]
            out.append(s)
        return np.stack(out)

    def alias(x):
        a = x.sum()
        b = a
        b += 1.0
        return np.stack([a, b])

    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert_same_values(symasd.trace(partial_sums, x)(x), partial_sums(x))
    np.testing.assert_array_equal(symasd.jacobian(partial_sums, x)(x).toarray(),
                                  np.tril(np.ones((4, 4))))
    assert_same_values(symasd.trace(alias, x)(x), alias(x))

    def float_into_bool(x):
        c = x > 1
        c += x
        return c

    def and_on_floats(x):
        y = x.copy()
        y &= x > 1
        return y

    def masks(x):
        c = x > 1
        c &= x < 3
        return np.where(c, x, 0.0)

    with pytest.raises(TracingError, match="boolean array cannot hold it"):
        symasd.trace(float_into_bool, x)
    with pytest.raises(TracingError, match="need a boolean array"):
        symasd.trace(and_on_floats, x)
    assert_same_values(symasd.trace(masks, x)(x), masks(x))
