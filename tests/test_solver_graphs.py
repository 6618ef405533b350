"""Graph surgery of symasd.solvers.graphs: a restriction computes exactly the chosen
outputs of the joint trace (viewing a prefix of it or compacted), and the appended
Lagrangian equals sigma * f + lam . c, on random programs; its Hessian matches one
prepared from a separate trace."""

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from programs import programs, run, run_scalar

import symasd
from symasd.solvers.graphs import append_lagrangian, compacted, restricted
from symasd.tracing import trace_into


def _joint(prog):
    """c (a vector program) then f (a scalar program), traced together."""
    def cf(x):
        return np.concatenate([run(prog, x) * 0.5 + x[0], np.reshape(run_scalar(prog, x), -1)])
    return cf


def _with_lagrangian(prog, n, *p0):
    """The joint trace of ``prog`` with the Lagrangian appended, and m."""
    cf = _joint(prog)
    m = cf(np.zeros(n)).size - 1
    return trace_into(None, cf, np.zeros(n), *p0, extend=partial(append_lagrangian, m=m)), m


@settings(max_examples=30, deadline=None)
@given(programs(max_steps=4))
def test_restriction_and_lagrangian_equal_the_functions(prog):
    n = prog[0]
    g, m = _with_lagrangian(prog, n)
    c_nodes, f_node = g.outputs[:m], g.outputs[m:m + 1]
    f_graph = restricted(g, f_node, (), ())
    c_graph = restricted(g, c_nodes, (m,), ())
    L = restricted(g, g.outputs[-1:], (), g.param_shapes)
    assert g.param_shapes == ((1,), (m,))
    rng = np.random.default_rng(n)
    x = rng.uniform(-0.9, 0.9, n)
    lam, sigma = rng.standard_normal(m), rng.uniform(0.5, 2.0, 1)
    full = g(x, sigma, lam)  # the joint trace: a restriction runs the same nodes, bit for bit
    np.testing.assert_array_equal(np.ravel(f_graph(x)), full[m:m + 1])
    np.testing.assert_array_equal(c_graph(x), full[:m])
    np.testing.assert_allclose(full[:-1], _joint(prog)(x), rtol=1e-12, atol=1e-12)
    assert f_graph.n_nodes <= g.n_nodes and c_graph.n_nodes <= g.n_nodes
    expected = sigma[0] * full[m] + np.sum(lam * full[:m])
    np.testing.assert_allclose(L(x, sigma, lam), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(L(x, sigma, lam), full[-1:])


def test_a_prefix_is_viewed_and_parameters_past_the_declared_ones_force_a_copy():
    cf = lambda x, p: np.concatenate([np.sin(x) * 2.0, [np.sum(x ** 2)]])  # noqa: E731
    g = trace_into(None, cf, np.ones(50), np.ones(1), extend=partial(append_lagrangian, m=50))
    c = restricted(g, g.outputs[:50], (50,), ((1,),))   # the caller's parameter declared
    assert np.shares_memory(c.op, g.op) and c.n_nodes == int(g.outputs[:50].max()) + 1
    c0 = compacted(g, g.outputs[:50], (50,), ())
    undeclared = restricted(g, g.outputs[:50], (50,), ())   # its leaf precedes the constraints
    assert not np.shares_memory(undeclared.op, g.op)
    for h in (undeclared, c0):
        np.testing.assert_array_equal(h.op, c0.op)
        np.testing.assert_array_equal(h.arg0, c0.arg0)
    x = np.linspace(0.1, 0.5, 50)
    np.testing.assert_array_equal(c(x, np.ones(1)), np.sin(x) * 2.0)
    np.testing.assert_array_equal(undeclared(x), np.sin(x) * 2.0)
    # the Lagrangian reads every node: the whole trace, viewed
    L = restricted(g, g.outputs[-1:], (), g.param_shapes)
    assert np.shares_memory(L.op, g.op) and L.n_nodes == g.n_nodes


def _restricted_by_numpy(g, outputs):
    """The restriction's node arrays and blocks, computed with NumPy: the kept nodes
    renumbered by a cumulative count, each block that keeps a node starting at the
    count of kept nodes before it."""
    keep = np.zeros(g.n_nodes, dtype=bool)
    stack = list(outputs)
    while stack:
        k = stack.pop()
        if not keep[k]:
            keep[k] = True
            stack.extend(a for a in (g.arg0[k], g.arg1[k], g.arg2[k]) if a >= 0)
    new_id = np.append(np.cumsum(keep) - 1, -1)
    kept_before = np.concatenate([[0], np.cumsum(keep)])[np.append(g.block_starts, g.n_nodes)]
    return (g.op[keep], new_id[g.arg0[keep]], new_id[g.arg1[keep]], new_id[g.arg2[keep]],
            g.const[keep], new_id[outputs],
            np.unique(kept_before[:-1][np.diff(kept_before) > 0]))


@settings(max_examples=60, deadline=None)
@given(programs(max_steps=6, n_max=30), st.integers(0, 2**16))
def test_restriction_keeps_exactly_the_needed_nodes_and_their_blocks(prog, seed):
    n = prog[0]
    g = symasd.trace(_joint(prog), np.zeros(n))
    pick = np.random.default_rng(seed).random(g.n_outputs) < 0.5
    outputs = g.outputs[pick] if pick.any() else g.outputs[-1:]
    h = compacted(g, outputs, (outputs.size,), ())
    for got, want in zip((h.op, h.arg0, h.arg1, h.arg2, h.const, h.outputs, h.block_starts),
                         _restricted_by_numpy(g, outputs), strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_compacting_refuses_block_starts_out_of_order_or_range():
    from symasd import _dag
    g = symasd.trace(lambda x: np.sin(x) * x[0], np.zeros(4))
    live = np.ones(g.n_nodes, dtype=np.uint8)
    for starts in ([2, 0], [0, 0], [0, g.n_nodes], [-1]):
        with pytest.raises(ValueError, match="block starts"):
            _dag.compact_nodes(g.op, g.arg0, g.arg1, g.arg2, g.const, live,
                               np.array(starts, dtype=np.int64), g.outputs)


@settings(max_examples=15, deadline=None)
@given(programs(max_steps=3, n_max=5, selections=False))
def test_lagrangian_hessian_equals_a_separate_trace(prog):
    n = prog[0]
    g, m = _with_lagrangian(prog, n)
    H = symasd.hessian(restricted(g, g.outputs[-1:], (), g.param_shapes), np.zeros(n))

    def lagrangian(x, sigma, lam):
        v = _joint(prog)(x)
        return sigma[0] * v[m] + np.sum(lam * v[:m])

    ref = symasd.hessian(lagrangian, np.zeros(n), np.ones(1), np.ones(m), engine="tape")
    rng = np.random.default_rng(n + 1)
    x = rng.uniform(-0.9, 0.9, n)
    sigma, lam = np.array([0.7]), rng.standard_normal(m)
    np.testing.assert_allclose(H(x, sigma, lam).toarray(), ref(x, sigma, lam).toarray(),
                               rtol=1e-9, atol=1e-9)


def test_a_restriction_that_reads_undeclared_parameters_is_refused():
    g = symasd.trace(lambda x, p: np.concatenate([np.sin(x), x * p]), np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="read parameter 2"):
        compacted(g, g.outputs[3:], (3,), ())
    with pytest.raises(ValueError, match="read parameter 2"):
        restricted(g, g.outputs[3:], (3,), ((2,),))
    h = restricted(g, g.outputs[3:], (3,), ((3,),))
    np.testing.assert_array_equal(h(np.arange(3.0), np.full(3, 2.0)), [0.0, 2.0, 4.0])
