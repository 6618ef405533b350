"""Graph surgery of symasd.solvers.graphs: a restriction computes exactly the chosen
outputs of the joint trace, and the appended Lagrangian equals sigma * f + lam . c,
on random programs; its Hessian matches one prepared from a separate trace."""

import numpy as np
from hypothesis import given, settings
from programs import programs, run, run_scalar

import symasd
from symasd.solvers.graphs import restricted, with_lagrangian


def _joint(prog):
    """A trace of f (a scalar program) and c (a vector program) together."""
    def fc(x):
        return np.concatenate([np.reshape(run_scalar(prog, x), -1), run(prog, x) * 0.5 + x[0]])
    return fc


@settings(max_examples=30, deadline=None)
@given(programs(max_steps=4))
def test_restriction_and_lagrangian_equal_the_functions(prog):
    n = prog[0]
    fc = _joint(prog)
    g = symasd.trace(fc, np.zeros(n))
    f_node, c_nodes = int(g.outputs[0]), g.outputs[1:]
    f_graph = restricted(g, g.outputs[:1], (), ())
    c_graph = restricted(g, c_nodes, (c_nodes.size,), ())
    L = with_lagrangian(g, f_node, c_nodes)
    rng = np.random.default_rng(n)
    x = rng.uniform(-0.9, 0.9, n)
    lam, sigma = rng.standard_normal(c_nodes.size), rng.uniform(0.5, 2.0, 1)
    full = g(x)  # the joint trace: a restriction runs the same nodes, bit for bit
    np.testing.assert_array_equal(np.ravel(f_graph(x)), full[:1])
    np.testing.assert_array_equal(c_graph(x), full[1:])
    np.testing.assert_allclose(full, fc(x), rtol=1e-12, atol=1e-12)
    assert f_graph.n_nodes <= g.n_nodes and c_graph.n_nodes <= g.n_nodes
    expected = sigma[0] * full[0] + np.sum(lam * full[1:])
    np.testing.assert_allclose(L(x, sigma, lam), expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(programs(max_steps=3, n_max=5, selections=False))
def test_lagrangian_hessian_equals_a_separate_trace(prog):
    n = prog[0]
    fc = _joint(prog)
    g = symasd.trace(fc, np.zeros(n))
    m = g.outputs.size - 1
    H = symasd.hessian(with_lagrangian(g, int(g.outputs[0]), g.outputs[1:]), np.zeros(n))

    def lagrangian(x, sigma, lam):
        v = fc(x)
        return sigma[0] * v[0] + np.sum(lam * v[1:])

    ref = symasd.hessian(lagrangian, np.zeros(n), np.ones(1), np.ones(m), engine="tape")
    rng = np.random.default_rng(n + 1)
    x = rng.uniform(-0.9, 0.9, n)
    sigma, lam = np.array([0.7]), rng.standard_normal(m)
    np.testing.assert_allclose(H(x, sigma, lam).toarray(), ref(x, sigma, lam).toarray(),
                               rtol=1e-9, atol=1e-9)
