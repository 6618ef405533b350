"""Estimates before large allocations (symasd/costs.py, the Hessian pattern's bit
matrix and its memory bound): the counts are exact, the choices follow them,
and the dense pattern route gives the same patterns as the pair route."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from programs import programs, run, run_scalar
from reference import complex_step_hessian, complex_step_jacobian

import symasd
from symasd import _dag, _pattern, api, costs
from symasd.modes import HESSIAN, JACOBIAN
from symasd.ops import Code, classification_tables

_, D1, D2, CROSS = classification_tables()
_LEAF = {int(Code.CONST), int(Code.VAR), int(Code.PARAM)}
_LINEAR = {int(Code.ADD), int(Code.SUB), int(Code.NEG)}


def _reference_counts(g, colors):
    """The forward and Hessian direction counts by Python sets (the definitions of
    symasd._dag.direction_counts, written independently)."""
    n = g.n_nodes
    F = [set() for _ in range(n)]
    affine = [False] * n
    forward = 0
    for k in range(n):
        o = int(g.op[k])
        args = [int(a) for a in (g.arg0[k], g.arg1[k], g.arg2[k])]
        if o == int(Code.VAR):
            affine[k] = True
            if colors[int(g.const[k])] >= 0:
                F[k] = {int(colors[int(g.const[k])])}
            continue
        if o in _LEAF:
            continue
        for t, a in enumerate(args):
            if a >= 0 and D1[o, t]:
                F[k] |= F[a]

        def constant(a):
            return affine[a] or not F[a]

        if o in _LINEAR:
            affine[k] = all(constant(a) for t, a in enumerate(args) if a >= 0 and D1[o, t])
        elif o == int(Code.MUL):
            affine[k] = any(g.op[args[t]] == Code.CONST and constant(args[1 - t])
                            for t in (0, 1))
        elif o == int(Code.DIV):
            affine[k] = g.op[args[1]] == Code.CONST and constant(args[0])
        if not affine[k]:
            forward += len(F[k])
    G = [set() for _ in range(n)]
    live = [False] * n
    for out in g.outputs:
        live[int(out)] = True
    hessian = 0
    for k in range(n - 1, -1, -1):
        o = int(g.op[k])
        if not live[k] or o in _LEAF:
            continue
        hessian += len(G[k])
        args = [int(a) for a in (g.arg0[k], g.arg1[k], g.arg2[k])]
        for t, a in enumerate(args):
            if a < 0 or not D1[o, t]:
                continue
            live[a] = True
            G[a] |= G[k]
            for b, ab in enumerate(args):
                if ab >= 0 and D1[o, b] and (D2[o, t] if b == t else CROSS[o, t + b - 1]):
                    G[a] |= F[ab]
    return forward, forward + hessian


def _kernel(g, colors, mode):
    ncolors = int(np.max(colors)) + 1
    words = (ncolors + 63) // 64
    work = np.empty(g.n_nodes * words * (2 if mode == 2 else 1), dtype=np.uint64)
    return _dag.direction_counts(g.op, g.arg0, g.arg1, g.arg2, g.const, D1, D2, CROSS,
                                 np.asarray(colors, dtype=np.int64), g.outputs,
                                 np.zeros(g.n_outputs, dtype=np.int64), ncolors, mode, work)


@settings(max_examples=40, deadline=None)
@given(programs(max_steps=6), st.integers(0, 2**16), st.integers(1, 70))
def test_direction_counts_match_the_definitions(prog, seed, ncolors):
    n = prog[0]
    g = symasd.trace(lambda x: run_scalar(prog, x), np.zeros(n))
    colors = np.random.default_rng(seed).integers(-1, ncolors, n)
    colors[0] = ncolors - 1  # the largest color is used (words of the bitsets)
    forward, hessian = _reference_counts(g, colors)
    assert _kernel(g, colors, 0) == forward
    assert _kernel(g, colors, 2) == hessian


def test_reverse_counts_are_the_output_colors_reaching_each_node():
    g = symasd.trace(lambda x: np.concatenate([x[:2] * x[1:3], [np.sum(np.sin(x))]]),
                     np.zeros(4))
    words = 1
    work = np.empty(g.n_nodes * words, dtype=np.uint64)
    count = _dag.direction_counts(g.op, g.arg0, g.arg1, g.arg2, g.const, D1, D2, CROSS,
                                  np.zeros(4, dtype=np.int64), g.outputs,
                                  np.array([0, 1, 2], dtype=np.int64), 3, 1, work)
    # every node reaches one output, but the x_j reached by two or three
    reach = {k: set() for k in range(g.n_nodes)}
    for i, out in enumerate(g.outputs):
        stack = [int(out)]
        while stack:
            k = stack.pop()
            if i in reach[k]:
                continue
            reach[k].add(i)
            stack += [int(a) for t, a in enumerate((g.arg0[k], g.arg1[k], g.arg2[k]))
                      if a >= 0 and D1[g.op[k], t]]
    assert count == sum(len(v) for v in reach.values())


@pytest.fixture
def eager(monkeypatch):
    """engine="auto" compiles at preparation wherever the compile budget allows
    (symasd.tiering: as if the tape's preparation had been very long)."""
    from symasd import tiering

    monkeypatch.setattr(tiering, "UPFRONT_SECONDS", 1e12)
    monkeypatch.setattr(tiering, "MIN_BUDGET", 600.0)


def test_auto_engine_follows_the_memory_estimate(monkeypatch, eager):
    """engine="auto" compiles wherever the estimated memory fits in a quarter of what is
    available (the compile budget does not bind it: symasd.tiering), and the tape's
    derivative is the compiled one's."""
    from symasd import tiering

    def mlp_loss(w, X, Y):
        h = np.tanh(X @ w[:20].reshape(4, 5) + w[20:25])
        return np.mean((h @ w[25:30] + w[30] - Y) ** 2)

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((30, 4)), rng.standard_normal(30)
    w0 = rng.standard_normal(31) * 0.5
    monkeypatch.setattr(costs, "COMPILE_BUDGET", 10)
    hes = symasd.hessian(mlp_loss, w0, X, Y)
    assert hes.engine == "vm"
    cost = costs.compile_cost(hes.graph, HESSIAN["star"], hes.coloring)
    monkeypatch.setattr(tiering, "available_memory", lambda: 4 * cost.bytes - 1)
    hes_tape = symasd.hessian(mlp_loss, w0, X, Y)
    assert hes_tape.engine == "tape" and hes_tape.mode in ("star", "acyclic")
    H = hes_tape(w0, X, Y).toarray()
    np.testing.assert_allclose(H, complex_step_hessian(lambda w: mlp_loss(w, X, Y), w0),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H, symasd.hessian(mlp_loss, w0, X, Y, engine="vm")(
        w0, X, Y).toarray(), rtol=1e-11, atol=1e-13)
    # Jacobians likewise
    f = lambda x: np.sin(x[1:]) * x[:-1]  # noqa: E731
    jac = symasd.jacobian(f, np.zeros(40), engine="tape")
    need = costs.compile_cost(jac.graph, jac._mode, jac.coloring).bytes
    assert need == 200 * 117 + 8 * jac.graph.n_nodes * 2  # 117 directions, 2 colors
    monkeypatch.setattr(tiering, "available_memory", lambda: 4 * need)
    assert symasd.jacobian(f, np.zeros(40)).engine == "vm"
    monkeypatch.setattr(tiering, "available_memory", lambda: 4 * need - 1)
    assert symasd.jacobian(f, np.zeros(40)).engine == "tape"


def test_compiles_checks_the_cells_before_counting(monkeypatch, eager):
    """``costs.compiles`` agrees with ``compile_cost(...).compiles`` for every mode,
    and past the cell limit it decides without the bitset pass."""
    f = lambda x: np.sin(x[1:]) * x[:-1] + x[0] ** 2  # noqa: E731
    g = symasd.trace(f, np.zeros(30))
    P = symasd.jacobian_sparsity(g)
    h = symasd.trace(lambda x: np.sum(f(x) ** 2), np.zeros(30))
    cases = [(g, JACOBIAN[m], JACOBIAN[m].color(P)) for m in ("forward", "reverse",
                                                               "bidirectional")]
    cases.append((h, HESSIAN["star"], HESSIAN["star"].color(symasd.hessian_sparsity(h))))
    for limit in (10**9, 60):
        monkeypatch.setattr(costs, "CELL_LIMIT", limit)
        for graph, mode, coloring in cases:
            assert costs.compiles(graph, mode, coloring) == \
                costs.compile_cost(graph, mode, coloring).compiles
    monkeypatch.setattr(costs, "CELL_LIMIT", 0)

    def no_count(*args):
        raise AssertionError("the directions were counted")

    monkeypatch.setattr(costs, "_count", no_count)
    assert not costs.compiles(*cases[0])
    assert not costs.compiles(*cases[-1])


def test_auto_drops_a_compiled_derivative_slower_than_the_tape(monkeypatch, eager):
    """A softmax cross-entropy's Hessian compiles to about 4 DAG nodes per graph node
    and color (its compiled call slower than the tape's): auto takes the tape, with
    the tape's coloring and the same matrix; engine="vm" still compiles it. Small
    DAGs are kept whatever their ratio (fixed call costs decide there), and so is
    Rosenbrock's (one node per node); a lower threshold drops a Jacobian's too.
    (eager: auto compiles at preparation wherever the budget allows.)"""
    from scipy.special import logsumexp

    def xent(z):
        Z = z.reshape(-1, 10)
        rows = np.arange(Z.shape[0])
        return np.sum(logsumexp(Z, axis=1) - Z[rows, rows % 10])

    rng = np.random.default_rng(1)
    z = rng.standard_normal(2000)
    auto = symasd.hessian(xent, z)
    vm = symasd.hessian(xent, z, engine="vm")
    assert auto.engine == "tape" and auto.compiled is None
    assert vm.engine == "vm"
    dag = vm.compiled.matrix_graph.n_nodes
    assert costs.compiled_is_slower(vm.graph, auto.ncolors, dag)
    assert dag > max(costs.DAG_KEEP_NODES,
                     costs.DAG_PER_TAPE_PRODUCT * vm.graph.n_nodes * auto.ncolors)
    np.testing.assert_allclose(auto(z).toarray(), vm(z).toarray(), rtol=1e-12, atol=1e-14)
    small = z[:30]
    assert symasd.hessian(xent, small).engine == "vm"
    np.testing.assert_allclose(symasd.hessian(xent, small, engine="tape")(small).toarray(),
                               complex_step_hessian(xent, small), rtol=1e-6, atol=1e-8)
    rosen = lambda x: np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)  # noqa: E731
    assert symasd.hessian(rosen, np.zeros(50_000)).engine == "vm"
    monkeypatch.setattr(costs, "DAG_PER_TAPE_PRODUCT", 100.0)
    assert symasd.hessian(xent, z).engine == "vm"
    # Jacobians likewise: the softmax itself, about 0.75 DAG nodes per graph node and
    # color (a dense 10 x 10 block per sample), kept at the default threshold
    softmax = lambda z: np.exp(z.reshape(-1, 10) - logsumexp(z.reshape(-1, 10), axis=1,  # noqa: E731
                                                              keepdims=True)).ravel()
    monkeypatch.setattr(costs, "DAG_PER_TAPE_PRODUCT", 2.0)
    jac_vm = symasd.jacobian(softmax, z, engine="vm")
    assert jac_vm.compiled.matrix_graph.n_nodes > costs.DAG_KEEP_NODES
    assert symasd.jacobian(softmax, z).engine == "vm"
    monkeypatch.setattr(costs, "DAG_PER_TAPE_PRODUCT", 0.1)
    jac = symasd.jacobian(softmax, z)
    assert jac.engine == "tape" and jac.compiled is None
    assert symasd.jacobian(softmax, z, engine="vm").engine == "vm"
    np.testing.assert_allclose(jac(z).toarray(), jac_vm(z).toarray(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(symasd.jacobian(softmax, small, engine="tape")(small).toarray(),
                               complex_step_jacobian(softmax, small), rtol=1e-12, atol=1e-14)


def test_compile_cost_counts_are_upper_bounds_of_the_derivative_nodes():
    """The directions exceed the nodes the compiled derivative adds, within a factor
    that stays below 10 on these problems (0.2 to 1 new node per direction)."""
    from test_derivatives import brusselator, rosenbrock

    cases = [(JACOBIAN["forward"], lambda y: brusselator(y, N=10), 200, symasd.jacobian),
             (JACOBIAN["reverse"], lambda y: brusselator(y, N=10), 200, symasd.jacobian),
             (HESSIAN["star"], rosenbrock, 300, symasd.hessian)]
    for mode, f, n, build in cases:
        prepared = build(f, np.zeros(n), mode=mode.name, engine="vm")
        added = prepared.compiled.graph.n_nodes - prepared.graph.n_nodes
        cost = costs.compile_cost(prepared.graph, mode, prepared.coloring)
        assert added <= 1.2 * cost.directions + 10 and cost.directions <= 10 * added + 100


# ---- the Hessian pattern: the bit matrix and the memory bound ---------------------


def _both_routes(g):
    args = (g.op, g.arg0, g.arg1, g.arg2, g.const, D1, D2, CROSS, int(g.outputs[0]),
            g.n_inputs)
    pairs = _pattern.hessian_pattern(*args, -1, 0)           # never the bit matrix
    dense = _pattern.hessian_pattern(*args, -1, 1 << 28)     # the bit matrix early
    return pairs, dense


@settings(max_examples=60, deadline=None)
@given(programs(max_steps=6, n_max=9))
def test_bit_matrix_route_gives_the_pair_routes_pattern(prog):
    n = prog[0]
    g = symasd.trace(lambda x: run_scalar(prog, x), np.zeros(n))
    (ip, ii), (dp, di) = _both_routes(g)
    np.testing.assert_array_equal(ip, dp)
    np.testing.assert_array_equal(ii, di)


def test_dense_hessian_pattern_and_its_memory_bound():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 3))

    def loss(w):
        return np.sum((np.tanh(X @ w[:9].reshape(3, 3)) @ w[9:12] - 1.0) ** 2)

    g = symasd.trace(loss, np.ones(12))
    (ip, ii), (dp, di) = _both_routes(g)
    np.testing.assert_array_equal(ip, dp)
    np.testing.assert_array_equal(ii, di)
    assert ii.size == 12 * 12  # a squared residual of all weights: dense
    # 1830 distinct pairs in the upper triangle of a dense 60 x 60 Hessian: more
    # than a buffer of at most 100 (checked when it grows) may hold
    X60 = rng.standard_normal((5, 60))
    g60 = symasd.trace(lambda w: np.sum((X60 @ w) ** 2), np.ones(60))
    with pytest.raises(MemoryError, match="would need more than"):
        _pattern.hessian_pattern(g60.op, g60.arg0, g60.arg1, g60.arg2, g60.const, D1, D2,
                                 CROSS, int(g60.outputs[0]), g60.n_inputs, 100, 0)
    H = symasd.hessian_sparsity(loss, np.ones(12)).toarray()
    ref = np.abs(complex_step_hessian(loss, rng.standard_normal(12))) > 1e-8
    np.testing.assert_array_equal(H, ref)


def test_jacobian_estimates_of_random_programs_are_not_negative():
    @settings(max_examples=10, deadline=None)
    @given(programs(max_steps=4))
    def check(prog):
        n = prog[0]
        jac = symasd.jacobian(lambda x: run(prog, x), np.zeros(n), engine="tape")
        cost = costs.compile_cost(jac.graph, jac._mode, jac.coloring)
        assert cost.directions >= 0 and cost.cells >= 0

    check()


def test_available_memory_is_read():
    avail = api.available_memory()
    assert avail is None or avail > 2**20
