"""The op table: opcodes shared with Cython, VM vs NumPy rules, partials vs differences."""

import doctest
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_cases import numpy_rule, op_nodes, payload_array
from programs import programs, run
from reference import assert_same_values

import symasd
from symasd import ops
from symasd.evaluation import leaf_plan, segments
from symasd.graph import Builder
from symasd.ops import OPS, Code, classification_tables

ROOT = Path(__file__).resolve().parents[1]

# input domains on which each op is smooth (for derivative checks)
DOMAIN = {
    Code.SQRT: (0.2, 3), Code.LOG: (0.2, 3), Code.LOG2: (0.2, 3), Code.LOG10: (0.2, 3),
    Code.LOG1P: (-0.5, 3), Code.ARCSIN: (-0.9, 0.9), Code.ARCCOS: (-0.9, 0.9),
    Code.ARCTANH: (-0.9, 0.9), Code.ARCCOSH: (1.2, 3), Code.RECIPROCAL: (0.3, 3),
    Code.TAN: (-1.2, 1.2), Code.POW: (0.3, 2),
    # away from the zeros of log|Gamma| (1, 2), and the poles; logit on (0, 1)
    Code.GAMMALN: (2.5, 6), Code.POLYGAMMA: (0.2, 4), Code.LOGIT: (0.05, 0.95),
    Code.XLOGY: (0.2, 3), Code.XLOG1PY: (0.2, 3),
}
NON_LEAF = [row for row in OPS.values() if row.arity > 0]
# the ops whose NumPy rule is a scipy.special function
SPECIAL = {Code.ERF, Code.ERFC, Code.EXPIT, Code.LOGIT, Code.GAMMALN, Code.LOG_NDTR,
           Code.POLYGAMMA, Code.XLOGY, Code.XLOG1PY}


@pytest.mark.skipif(not (ROOT / "cysrc" / "make_opcodes.py").exists(),
                    reason="needs the source tree (cysrc/) next to the tests")
def test_opcodes_pxi_is_the_generators_output():
    """The committed enum and constants are exactly what cysrc/make_opcodes.py writes
    from ops.py."""
    spec = importlib.util.spec_from_file_location("make_opcodes",
                                                  ROOT / "cysrc" / "make_opcodes.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert (ROOT / "cysrc" / "_opcodes.pxi").read_text() == generator.source(ops)
    assert doctest.testmod(generator).failed == 0
    # the generator reads the same table as the package, loaded by path
    assert [(c.name, int(c)) for c in generator.load_ops().Code] == \
        [(c.name, int(c)) for c in Code]


@pytest.mark.skipif(not (ROOT / "cysrc" / "make_opcodes.py").exists(),
                    reason="needs the source tree (cysrc/) next to the tests")
def test_opcode_generator_runs_without_the_package(tmp_path):
    """``python cysrc/make_opcodes.py --check`` in a fresh interpreter passes and never
    imports ``symasd`` (whose kernels it is an input of)."""
    code = ("import importlib.util, sys\n"
            "spec = importlib.util.spec_from_file_location('make_opcodes', sys.argv[1])\n"
            "m = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(m)\n"
            "assert m.main(['make_opcodes.py', '--check']) == 0\n"
            "assert 'symasd' not in sys.modules, 'the generator imported symasd'\n")
    subprocess.run([sys.executable, "-c", code, str(ROOT / "cysrc" / "make_opcodes.py")],
                   check=True, cwd=tmp_path)


def test_classification_tables_shape_and_rules():
    arity, d1, d2, cross = classification_tables()
    assert arity[Code.MUL] == 2 and d1[Code.MUL, :2].all() and not d2[Code.MUL].any()
    assert cross[Code.MUL, 0] == 1 and cross[Code.ADD, 0] == 0
    assert d1[Code.SIGN, 0] == 0 and d1[Code.FLOOR, 0] == 0 and d1[Code.LT].sum() == 0
    assert d2[Code.DIV, 0] == 0 and d2[Code.DIV, 1] == 1
    assert d1[Code.WHERE].tolist() == [0, 1, 1]
    # a zero first derivative implies zero second and cross derivatives
    for row in NON_LEAF:
        for i, nz in enumerate(row.d1):
            if not nz:
                assert not row.d2[i]


def _graph_of(code, n, rng):
    lo, hi = DOMAIN.get(code, (-2, 2))
    b = Builder()
    row = OPS[code]
    arity = row.arity
    pts = rng.uniform(lo, hi, size=(arity, n))
    if code == Code.WHERE:
        pts[0] = rng.choice([0.0, 1.0], n)
    x = b.variables(pts.ravel()).reshape(arity, n)
    out = op_nodes(b, code, x)
    c = payload_array(code, n)
    parts = row.partials(b, *x, out, c)
    parts = [p if p is not None else b.const_like(out, 0.0) for p in parts]
    g = b.finish(np.concatenate([out] + parts), pts.shape, (1 + arity, n))
    return g, pts


@pytest.mark.parametrize("row", NON_LEAF, ids=lambda r: r.name)
def test_vm_agrees_with_numpy_rule(row):
    rng = np.random.default_rng(int(row.code))
    g, pts = _graph_of(row.code, 50, rng)
    values = g(pts)[0]
    expected = numpy_rule(row.code, *pts)
    np.testing.assert_allclose(values, expected, rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("row", NON_LEAF, ids=lambda r: r.name)
def test_vm_matches_numpy_on_special_values(row):
    special = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 2.5, np.inf, -np.inf, np.nan])
    grid = np.meshgrid(*[special] * row.arity, indexing="ij")
    pts = np.stack([v.ravel() for v in grid])
    b = Builder()
    x = b.variables(pts.ravel()).reshape(pts.shape)
    out = op_nodes(b, row.code, x)
    g = b.finish(out, pts.shape, out.shape)
    expected = numpy_rule(row.code, *pts)
    got = g(pts)
    if row.code in (Code.MAX, Code.MIN):
        # the sign of max(+0, -0) is left open by IEEE 754 and NumPy's follows its SIMD
        # instruction set (x86's maxpd gives the second operand, Arm's fmax +0): ties of
        # zeros are zero, and every other point is checked in full
        tie = (pts[0] == 0) & (pts[1] == 0)
        assert np.all(got[tie] == 0)
        got, expected = got[~tie], expected[~tie]
    # NaNs, infinities and signed zeros exactly; finite values within 4 ulp
    # (NumPy's SIMD kernels and libm differ in the last bit on some CPUs), and
    # within 16 for SciPy's special functions, which are not correctly rounded
    # either (log|Gamma(-2.5)| is 6 ulp off there; tests/test_special.py checks
    # the C versions against mpmath)
    assert_same_values(got, expected, ulps=16 if row.code in SPECIAL else 4,
                       err_msg=row.name)


@pytest.mark.parametrize("row", NON_LEAF, ids=lambda r: r.name)
def test_partials_match_central_differences(row):
    rng = np.random.default_rng(100 + int(row.code))
    n = 40
    g, pts = _graph_of(row.code, n, rng)
    vals = g(pts)
    h = 1e-6
    for i in range(row.arity):
        if row.code == Code.WHERE and i == 0:
            np.testing.assert_array_equal(vals[1], 0.0)
            continue
        e = np.zeros_like(pts)
        e[i] = h
        fd = (g(pts + e)[0] - g(pts - e)[0]) / (2 * h)
        if row.code in (Code.MAX, Code.MIN, Code.ABS):
            # kinks: compare away from ties / zero only
            mask = np.abs(pts[0] - (pts[1] if row.arity == 2 else 0)) > 1e-3
        else:
            mask = np.ones(n, dtype=bool)
        np.testing.assert_allclose(vals[1 + i][mask], fd[mask], rtol=1e-6, atol=1e-6)
        if not row.d1[i]:
            np.testing.assert_array_equal(vals[1 + i], 0.0)


def test_every_op_name_is_unique_and_numpy_rules_exist():
    names = [row.name for row in OPS.values()]
    assert len(names) == len(set(names))
    assert all(row.numpy is not None and row.partials is not None for row in NON_LEAF)
    assert symasd.ops.op_by_name("multiply").code == Code.MUL


def test_strided_and_indexed_evaluation_agree():
    from symasd import _vm

    rng = np.random.default_rng(7)
    f = lambda x: np.concatenate([np.diff(x) * x[1:], np.sin(x[::2]) / (2 + x[1::2] ** 2),  # noqa: E731
                                  np.where(x > 0, x, -x)[::-1], 3 * x[::3] - x[0]])
    g = symasd.trace(f, np.zeros(64))
    x = rng.standard_normal(64)
    strided = segments(g)
    assert strided[:, 2].sum() > 0  # the plan does use strided segments
    indexed = _vm.plan(g.op, g.arg0, g.arg1, g.arg2, 10**9)
    assert indexed[:, 2].sum() == 0
    outs = []
    for seg in (strided, indexed):
        out = np.empty(g.n_outputs)
        _vm.execute(g.op, g.arg0, g.arg1, g.arg2, g.const, seg, g.outputs, x, np.zeros(0),
                    np.empty(g.n_nodes), out)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[0], f(x), rtol=1e-14)


def test_unit_and_zero_stride_loops_and_input_copies_match_the_indexed_plan():
    """Every arithmetic opcode with unit, zero and other strides (and a segment that
    reads its own earlier nodes), and inputs and parameters stored in order, in
    reverse and interleaved: the VM's plan gives the values of the all-indexed one,
    and only runs of consecutive inputs become block copies."""
    from symasd import _vm

    def f(x, p):
        h, t = x[:-1], x[1:]
        parts = [x[::-1] * p, p[::-1] + x]
        for op in (np.add, np.subtract, np.multiply, np.divide):
            parts += [op(h, t), op(h, x[0]), op(x[3], t), op(x[:0:-1], t),
                      op(p[0], x), op(x, p[-1])]
        return np.concatenate(parts)

    n = 40
    rng = np.random.default_rng(3)
    x, p = rng.uniform(0.5, 2, n), rng.uniform(0.5, 2, n)
    g = symasd.trace(f, np.ones(n), np.ones(n))
    plan = leaf_plan(g)
    copies = plan[plan[:, 2] == 2]
    assert copies.shape[0] == 2  # x[0..n) and p[0..n), created in order
    leaf = np.isin(g.op, [int(Code.VAR), int(Code.PARAM)])
    assert (plan[:, 1] - plan[:, 0])[plan[:, 2] == 2].sum() == leaf.sum()
    strided = plan[plan[:, 2] == 1]
    strides = {(int(s0), int(s1)) for s0, s1 in strided[:, [4, 6]]}
    assert strides >= {(1, 1), (1, 0), (0, 1)} and strides - {(1, 1), (1, 0), (0, 1)}
    indexed = _vm.plan(g.op, g.arg0, g.arg1, g.arg2, 10**9)
    outs = []
    for seg in (plan, indexed):
        out = np.empty(g.n_outputs)
        _vm.execute(g.op, g.arg0, g.arg1, g.arg2, g.const, seg, g.outputs, x, p,
                    np.empty(g.n_nodes), out)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[0], f(x, p), rtol=1e-15)

    # a leaf segment out of order stays indexed: reversed input ids
    const = g.const.copy()
    var = np.flatnonzero(g.op == int(Code.VAR))
    const[var] = const[var][::-1]
    marked = _vm.leaf_runs(segments(g), g.op, const)
    assert (marked[:, 2] == 2).sum() == 1
    out = np.empty(g.n_outputs)
    _vm.execute(g.op, g.arg0, g.arg1, g.arg2, const, marked, g.outputs, x, p,
                np.empty(g.n_nodes), out)
    _vm.execute(g.op, g.arg0, g.arg1, g.arg2, const, indexed, g.outputs, x, p,
                np.empty(g.n_nodes), outs[1])
    np.testing.assert_array_equal(out, outs[1])


@settings(max_examples=40, deadline=None)
@given(programs(max_steps=8, n_min=8, n_max=40), st.integers(0, 2**16))
def test_vm_plan_matches_the_indexed_plan_on_random_programs(program, seed):
    """Random programs long enough for strided segments (slices, reversals, rolls
    and differences give unit, zero, negative and other strides): the VM's plan
    and the all-indexed one agree bit for bit, NaN and infinities included."""
    from symasd import _vm

    n = program[0]
    with np.errstate(all="ignore"):
        g = symasd.trace(lambda x: np.atleast_1d(run(program, x)), np.full(n, 0.3))
        x = np.random.default_rng(seed).uniform(-2, 2, n)
        x[seed % n] = (np.nan, np.inf, -np.inf, 0.0)[seed % 4]
        outs = []
        for seg in (leaf_plan(g), _vm.plan(g.op, g.arg0, g.arg1, g.arg2, 10**9)):
            out = np.empty(g.n_outputs)
            _vm.execute(g.op, g.arg0, g.arg1, g.arg2, g.const, seg, g.outputs, x,
                        np.zeros(0), np.empty(g.n_nodes), out)
            outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_node_table_hash_conses_like_a_dict():
    from symasd import _dag

    rng = np.random.default_rng(11)
    table = _dag.NodeTable(16)
    reference: dict = {}
    leaves = table.intern(int(Code.VAR), c=np.arange(5.0))
    for k, leaf in enumerate(leaves):
        reference[(int(Code.VAR), -1, -1, -1, float(k))] = int(leaf)
    for _ in range(300):
        n = table.n
        size = int(rng.integers(1, 20))
        a0 = rng.integers(0, n, size)
        a1 = rng.integers(-1, n, size)
        code = int(rng.choice([Code.ADD, Code.MUL, Code.SIN]))
        c = rng.choice([0.0, 1.5], size)
        if rng.random() < 0.5:  # repeat candidates inside the block
            a0[size // 2:] = a0[: size - size // 2]
            a1[size // 2:] = a1[: size - size // 2]
            c[size // 2:] = c[: size - size // 2]
        ids = table.intern(code, a0, a1, None, c)
        for i in range(size):
            key = (code, int(a0[i]), int(a1[i]), -1, float(c[i]))
            expected = reference.setdefault(key, int(ids[i]))
            assert ids[i] == expected
    assert table.n == len(reference)
    op, a0, a1, a2, c = table.arrays()
    keys = set(zip(op.tolist(), a0.tolist(), a1.tolist(), a2.tolist(), c.tolist(), strict=True))
    assert len(keys) == table.n  # no node is stored twice
