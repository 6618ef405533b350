"""Derivative modes (symasd.modes): each mode's coloring problem, cost, compilation,
tape and description, and the choices of mode="auto" (the same as before modes
were objects)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from reference import central_jacobian

import symasd
from symasd import modes
from symasd.api import HESSIAN_MODES, JACOBIAN_MODES
from symasd.compiler import compile_hessian, compile_jacobian
from symasd.dense import dense_jacobian
from symasd.modes import HESSIAN, JACOBIAN, REVERSE_COST, Candidate

PROBLEMS = Path(__file__).resolve().parent.parent / "benchmarks" / "problems.py"


def brusselator(y, N=4, A=3.4, B=1.0, alpha=0.02):
    u, v = y[: N * N].reshape(N, N), y[N * N:].reshape(N, N)
    lap = lambda w: np.roll(w, 1, 0) + np.roll(w, -1, 0) + np.roll(w, 1, 1) - 3 * w  # noqa: E731
    return np.concatenate([(B + u * u * v - (A + 1) * u + alpha * lap(u)).ravel(),
                           (A * u - u * u * v + alpha * lap(v)).ravel()])


def arrow(x):  # one dense row and one dense column
    return np.concatenate([[np.sum(x ** 2)], x[1:] * x[0]])


def wide(x):  # 3 outputs of 30 inputs: reverse
    return np.array([np.sum(x * x), np.sum(np.cos(x)), x[0] * x[1]])


def rosenbrock(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def arrow_hessian(x):
    return np.sum(x ** 2) * x[0] + np.sum(np.sin(x[1:] * x[:-1]))


def test_registries_are_the_public_mode_names():
    assert JACOBIAN_MODES == ("auto", "forward", "reverse", "bidirectional", "dense")
    assert HESSIAN_MODES == ("auto", "star", "acyclic", "column", "dense")
    for table in (JACOBIAN, HESSIAN):
        assert all(m.name == name for name, m in table.items())
    assert all(isinstance(m, modes.JacobianMode) for m in JACOBIAN.values())
    assert all(isinstance(m, modes.HessianMode) for m in HESSIAN.values())
    assert repr(JACOBIAN["forward"]) == "ForwardMode()"


@pytest.mark.parametrize("name,problem", [("forward", "column"), ("reverse", "row"),
                                          ("bidirectional", "bidirectional"),
                                          ("dense", "column")])
def test_jacobian_mode_problem_and_cost(name, problem):
    P = symasd.jacobian_sparsity(arrow, np.zeros(12))
    mode = JACOBIAN[name]
    r = mode.color(P, "largest_first")
    assert r.problem == problem and symasd.is_valid_coloring(P, r)
    expected = {"forward": r.ncolors, "dense": r.ncolors,
                "reverse": REVERSE_COST * r.ncolors,
                "bidirectional": (getattr(r, "n_column_colors", 0)
                                  + REVERSE_COST * getattr(r, "n_row_colors", 0))}[name]
    assert mode.cost(r) == expected == Candidate(mode, r).cost
    if name == "dense":
        assert r.order == "given" and r.colors.tolist() == list(range(12))


@pytest.mark.parametrize("name,problem", [("star", "star"), ("acyclic", "acyclic"),
                                          ("column", "column"), ("dense", "column")])
def test_hessian_mode_problem_and_cost(name, problem):
    P = symasd.hessian_sparsity(arrow_hessian, np.zeros(10))
    r = HESSIAN[name].color(P, "natural")
    assert r.problem == problem and symasd.is_valid_coloring(P, r)
    assert HESSIAN[name].cost(r) == r.ncolors
    assert HESSIAN[name].products(r) == f"{r.ncolors} HVPs instead of 10"


def test_descriptions():
    P = symasd.jacobian_sparsity(arrow, np.zeros(12))
    assert JACOBIAN["forward"].products(JACOBIAN["forward"].color(P, "natural")) \
        == "12 JVPs instead of 12"
    assert JACOBIAN["dense"].products(JACOBIAN["dense"].color(P)) == "12 JVPs instead of 12"
    r = JACOBIAN["reverse"].color(P, "natural")
    assert JACOBIAN["reverse"].products(r) == f"{r.ncolors} VJPs instead of 12"
    r = JACOBIAN["bidirectional"].color(P)
    text = JACOBIAN["bidirectional"].products(r)
    assert text.endswith("instead of 12") and "JVP" in text and "VJP" in text
    jac = symasd.jacobian(arrow, np.zeros(12), mode="bidirectional")
    assert text in repr(jac) and jac.mode == "bidirectional"


@pytest.mark.parametrize("name", list(JACOBIAN))
def test_jacobian_modes_compile_and_tape_agree_with_dense_reference(name):
    x = np.random.default_rng(3).uniform(0.5, 1.5, 32)
    g = symasd.trace(brusselator, x)
    P = symasd.jacobian_sparsity(g)
    mode = JACOBIAN[name]
    r = mode.color(P)
    ref = dense_jacobian(g, x)
    tape = mode.tape(g, r)
    y, data = tape(x, ())
    np.testing.assert_allclose(y, brusselator(x), rtol=1e-13)
    np.testing.assert_allclose(_matrix(P, data), ref,
                               rtol=1e-13, atol=1e-13)
    compiled = mode.compile(g, r)
    out = compiled.matrix_graph(x)
    np.testing.assert_allclose(_matrix(P, out), ref, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("name", list(HESSIAN))
def test_hessian_modes_compile_and_tape_agree(name):
    x = np.random.default_rng(4).uniform(-1, 1, 12)
    g = symasd.trace(arrow_hessian, x)
    P = symasd.hessian_sparsity(g)
    mode = HESSIAN[name]
    r = mode.color(P)
    v, grad, data = mode.tape(g, r)(x, ())
    H = _matrix(P, mode.compile(g, r).matrix_graph(x))
    np.testing.assert_allclose(_matrix(P, data), H, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(v, arrow_hessian(x), rtol=1e-13)


def _matrix(P, data):
    return sp.csr_array((data, P.indices, P.indptr), shape=P.shape).toarray()


def test_dense_modes_on_large_graphs_run_on_the_tape(monkeypatch):
    """engine="auto" compiles a dense mode only when its tangent table is small
    (symasd.costs); engine="vm" is refused when it would not fit in memory."""
    f = lambda x: np.diff(x, 3)  # noqa: E731
    assert symasd.jacobian(f, np.zeros(100), mode="dense").engine == "vm"
    assert symasd.jacobian(f, np.zeros(3000), mode="dense").engine == "tape"
    # 4 colors: compiled where calls pay for it
    assert symasd.jacobian(f, np.zeros(3000), calls=10**6).engine == "vm"
    from symasd import api
    monkeypatch.setattr(api, "available_memory", lambda: 10 * 2**20)
    with pytest.raises(symasd.InputError, match=r"would need about 0.3 GB .* more than the "
                                                r"0.0 GB available; use engine='tape'"):
        symasd.jacobian(f, np.zeros(3000), mode="dense", engine="vm")


@pytest.mark.parametrize("mode", ["sideways", "star"])
def test_unknown_mode_lists_the_choices(mode):
    with pytest.raises(symasd.InputError, match="auto, forward, reverse, bidirectional, dense"):
        symasd.jacobian(arrow, np.zeros(5), mode=mode)
    with pytest.raises(symasd.InputError, match="auto, star, acyclic, column, dense"):
        symasd.hessian(rosenbrock, np.zeros(5), mode="forward")


# mode="auto" as it chose before the modes were objects (recorded from that version):
# (f, n, order, engine) -> (mode, ncolors)
AUTO_JACOBIAN = [
    (brusselator, 32, "largest_first", "auto", "forward"),
    (arrow, 40, "largest_first", "auto", "bidirectional", 3),
    (arrow, 40, "largest_first", "tape", "bidirectional", 3),
    (arrow, 40, "natural", "auto", "forward", 40),
    (wide, 30, "largest_first", "auto", "reverse", 3),
    (wide, 30, "natural", "tape", "reverse", 3),
]


@pytest.mark.parametrize("case", AUTO_JACOBIAN, ids=lambda c: f"{c[0].__name__}-{c[2]}-{c[3]}")
def test_auto_jacobian_chooses_as_before(case):
    f, n, order, engine, expected = case[:5]
    jac = symasd.jacobian(f, np.zeros(n) + 0.3, order=order, engine=engine)
    assert jac.mode == expected
    if len(case) > 5:
        assert jac.ncolors == case[5]


def _band(x):  # 41 taps: every row alike, no bicoloring can beat the 41 JVPs
    return sum((k + 1.0) * x[k:len(x) - 40 + k] ** 2 for k in range(41))


def test_auto_skips_bicolorings_that_cannot_pay(monkeypatch):
    from symasd import api

    tried = []
    real = Candidate.of.__func__

    def spy(cls, mode, pattern, order="largest_first"):
        tried.append(mode.name)
        return real(cls, mode, pattern, order)

    monkeypatch.setattr(Candidate, "of", classmethod(spy))
    P = symasd.jacobian_sparsity(_band, np.zeros(200))
    assert api._bicoloring_cost_bound(P) >= 41
    names = [c.mode.name for c in api._jacobian_candidates(P, "auto", "largest_first")]
    assert "bidirectional" not in names and "bidirectional" not in tried
    assert names[0] == "forward" and tried == names  # (reverse too, unless it cannot win)
    # with a dense row and column the bound is small, and the bicoloring wins
    tried.clear()
    P = symasd.jacobian_sparsity(arrow, np.zeros(60))
    assert api._bicoloring_cost_bound(P) < 3
    cands = api._jacobian_candidates(P, "auto", "largest_first")
    assert tried[0] == "forward" and tried[-1] == "bidirectional" and cands[-1].cost < 5


def test_bicoloring_cost_bound_is_a_lower_bound():
    from symasd import api

    rng = np.random.default_rng(1)
    for trial in range(40):
        m, n = rng.integers(1, 40, 2)
        A = rng.random((m, n)) < rng.uniform(0.02, 0.6)
        A[rng.integers(m), :] |= trial % 3 == 0
        A[:, rng.integers(n)] |= trial % 4 == 0
        P = sp.csr_array(A)
        for order in ("largest_first", "natural", "smallest_last"):
            r = JACOBIAN["bidirectional"].color(P, order)
            assert JACOBIAN["bidirectional"].cost(r) >= api._bicoloring_cost_bound(P) - 1e-9


@pytest.mark.parametrize("f,n,engine,expected,ncolors",
                         [(rosenbrock, 50, "auto", "star", 3),
                          (rosenbrock, 50, "tape", "acyclic", 2),
                          (arrow_hessian, 30, "auto", "star", 4),
                          (arrow_hessian, 30, "tape", "acyclic", 3)])
def test_auto_hessian_chooses_as_before(f, n, engine, expected, ncolors):
    hes = symasd.hessian(f, np.zeros(n) + 0.3, engine=engine)
    assert (hes.mode, hes.ncolors) == (expected, ncolors)


@pytest.mark.skipif(not PROBLEMS.is_file(), reason=f"no {PROBLEMS} (not a source checkout)")
def test_auto_on_the_benchmark_problems():
    spec = importlib.util.spec_from_file_location("symasd_bench_problems", PROBLEMS)
    pb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pb)
    for f, n, ncolors in ((pb.iter_diff, 1000, 4), (pb.brusselator_rhs, 2 * 32 * 32, 12),
                          (pb.conv_tanh, 28 * 28, 25)):
        for engine in ("auto", "tape"):
            jac = symasd.jacobian(f, np.zeros(n) + 0.3, engine=engine)
            assert (jac.mode, jac.ncolors) == ("forward", ncolors)
    # auto on the tape takes the tape's choice, compiled the compiler's
    for engine, calls, expected in (("auto", 10**6, ("star", 3)), ("auto", 0, ("acyclic", 2)),
                                    ("tape", None, ("acyclic", 2))):
        hes = symasd.hessian(pb.chained_rosenbrock, np.zeros(200) + 0.3, engine=engine,
                             calls=calls)
        assert (hes.mode, hes.ncolors) == expected


@pytest.mark.skipif(not PROBLEMS.is_file(), reason=f"no {PROBLEMS} (not a source checkout)")
@pytest.mark.parametrize("engine", ["tape", "vm"])
def test_the_new_user_benchmark_models_against_finite_differences(engine):
    """The models of preparation.py's engine section (a Godunov residual, a softmax
    cross-entropy, a hanging chain) have the derivatives central differences give,
    at points away from the Godunov flux's kinks."""
    spec = importlib.util.spec_from_file_location("symasd_bench_problems", PROBLEMS)
    pb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pb)
    rng = np.random.default_rng(3)
    u = rng.uniform(0.2, 1.0, 12) * rng.choice([-1.0, 1.0], 12)
    J = symasd.jacobian(pb.godunov_burgers, u, engine=engine)(u)
    np.testing.assert_allclose(J.toarray(), central_jacobian(pb.godunov_burgers, u),
                               rtol=1e-6, atol=1e-8)
    for f, x in ((pb.softmax_cross_entropy, rng.standard_normal(30)),
                 (pb.hanging_chain, rng.uniform(0.5, 1.5, 13))):
        H = symasd.hessian(f, x, engine=engine)(x)

        def grad(y, f=f):
            return central_jacobian(lambda z: np.atleast_1d(f(z)), y, 1e-5)[0]

        np.testing.assert_allclose(H.toarray(), central_jacobian(grad, x, 1e-4),
                                   rtol=1e-4, atol=1e-5)


def test_compiler_reads_the_coloring_result():
    g = symasd.trace(arrow_hessian, np.zeros(8))
    H = symasd.hessian_sparsity(g)
    with pytest.raises(symasd.InputError, match="star coloring"):
        compile_jacobian(g, symasd.color(H, "star"))
    jg = symasd.trace(arrow, np.zeros(8))
    with pytest.raises(symasd.InputError, match="row coloring"):
        compile_hessian(g, symasd.color(symasd.jacobian_sparsity(jg), "row"))
    x = np.linspace(0.1, 0.8, 8)
    J = symasd.jacobian_sparsity(jg)
    values = [compile_jacobian(jg, symasd.color(J, p)).matrix_graph(x)
              for p in ("column", "row", "bidirectional")]
    for v in values[1:]:
        np.testing.assert_allclose(v, values[0], rtol=1e-14)


@pytest.mark.parametrize("build,f,kw", [(symasd.jacobian, arrow, {}),
                                        (symasd.jacobian, brusselator, {"engine": "tape"}),
                                        (symasd.hessian, arrow_hessian, {"engine": "tape"})])
def test_one_csr_template_per_preparation(build, f, kw, monkeypatch):
    from symasd import decompression

    built = []
    init = decompression.CSRTemplate.__init__
    monkeypatch.setattr(decompression.CSRTemplate, "__init__",
                        lambda self, *a: (built.append(a[0]), init(self, *a))[1])
    prepared = build(f, np.zeros(32), **kw)  # auto weighs 2-3 colorings
    M = prepared(np.full(32, 0.7))
    assert len(built) == 1
    # every matrix shares the structure arrays of the prepared pattern
    assert np.shares_memory(M.indptr, prepared.sparsity.indptr)
    assert np.shares_memory(M.indices, prepared.sparsity.indices)


@pytest.mark.parametrize("engine", ["tape", "vm"])
def test_problems_with_a_dimension_of_size_zero(engine):
    """No input or no output: no colors, an empty matrix, and the values (the tape
    asked its sweeps for at least one direction and raised)."""
    for f, x0, shape in ((lambda x: x * 2, np.zeros(0), (0, 0)),
                         (lambda x: x[:0], np.ones(3), (0, 3))):
        for mode in ("auto", "forward", "reverse", "bidirectional"):
            jac = symasd.jacobian(f, x0, mode=mode, engine=engine)
            J = jac(x0)
            assert J.shape == shape and J.nnz == 0
            y, J = jac.value_and_jacobian(x0)
            assert y.shape == (shape[0],) and J.shape == shape
    for mode in ("auto", "star", "acyclic"):
        hes = symasd.hessian(lambda x: np.sum(x) + 1.0, np.zeros(0), mode=mode, engine=engine)
        value, grad, H = hes.value_gradient_and_hessian(np.zeros(0))
        assert value == 1.0 and grad.shape == (0,) and H.shape == (0, 0)
        with pytest.raises(symasd.InputError, match="shape"):
            hes(np.ones(7))
    for mode in ("forward", "reverse", "bidirectional"):
        jac = symasd.jacobian(lambda x: x * 2, np.zeros(0), mode=mode, engine=engine)
        for bad in (np.ones(5), "junk"):
            with pytest.raises(symasd.InputError):
                jac(bad)
