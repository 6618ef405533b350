"""Generated code (symasd.codegen): NumPy modules equal the virtual machine, on one
point and on batches, run without symasd, and feed SciPy's solvers; the CuPy
module is run with NumPy standing in for CuPy."""

import os
import subprocess
import sys
import types

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from programs import programs, run, run_scalar
from reference import central_jacobian
from test_derivatives import arrow, brusselator, extended_rosenbrock, iter_diff, rosenbrock

import symasd
from symasd.codegen import load_module
from symasd.codegen.constants import ConstantPool
from symasd.codegen.printers import PRINTERS
from symasd.errors import InputError, MissingRuleError
from symasd.graph import Builder
from symasd.ops import OPS, Code

NON_LEAF = [row for row in OPS.values() if row.arity > 0]
# arrow at 200: gathers long enough to be split into interleaved slices
J_PROBLEMS = [(iter_diff, 12), (brusselator, 72), (arrow, 9), (arrow, 200)]
H_PROBLEMS = [(rosenbrock, 10), (extended_rosenbrock, 10),
              (lambda x: np.sum(np.exp(x[::2] * x[1::2])) + np.sum(x) ** 2 * 0.01, 8)]


def _close(a, b, err_msg=""):
    """Equal to 1e-12 relative where finite, NaN and infinities exactly where the other
    has them: the two sides call different implementations of the same functions
    (NumPy's cbrt is not glibc's), so the last bits may differ."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, err_msg
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg)
    inf = np.isinf(a) | np.isinf(b)
    np.testing.assert_array_equal(a[inf], b[inf], err_msg)
    finite = ~np.isnan(a) & ~inf
    scale = 1 + np.max(np.abs(b[finite]), initial=0)
    np.testing.assert_allclose(a[finite], b[finite], rtol=1e-12, atol=1e-13 * scale,
                               err_msg=err_msg)


@pytest.mark.parametrize("backend", sorted(PRINTERS))
def test_every_op_has_a_printing_rule(backend):
    printer = PRINTERS[backend](ConstantPool())
    for row in NON_LEAF:
        args = ["a", "b", "c"][: row.arity]
        text = printer.op_expression(row.code, args, "2.0" if row.payload else None)
        assert all(a in text for a in args), (row.name, text)
    with pytest.raises(MissingRuleError, match="no rule in"):
        printer.op_expression(Code.VAR, [], None)


@pytest.mark.parametrize("mode", ["forward", "reverse", "bidirectional", "auto"])
@pytest.mark.parametrize("f,n", J_PROBLEMS, ids=["iter_diff", "brusselator", "arrow",
                                                 "arrow-200"])
def test_jacobian_numpy_engine_equals_vm(f, n, mode):
    jac = symasd.jacobian(f, np.zeros(n), mode=mode, engine="numpy")
    vm = symasd.jacobian(f, np.zeros(n), mode=jac.mode, engine="vm")
    assert jac.engine == "numpy"
    rng = np.random.default_rng(n)
    for _ in range(2):
        x = rng.uniform(0.1, 1.0, n)
        J = jac(x)
        assert (J.indptr == vm.sparsity.indptr).all() and (J.indices == vm.sparsity.indices).all()
        _close(J.data, vm(x).data)
        y, J2 = jac.value_and_jacobian(x)
        _close(y, f(x))
        _close(J2.data, J.data)
        np.testing.assert_allclose(J.toarray(), central_jacobian(f, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["star", "acyclic", "column", "auto"])
@pytest.mark.parametrize("f,n", H_PROBLEMS, ids=["rosenbrock", "extended", "dense-ish"])
def test_hessian_numpy_engine_equals_vm(f, n, mode):
    hes = symasd.hessian(f, np.zeros(n), mode=mode, engine="numpy")
    vm = symasd.hessian(f, np.zeros(n), mode=hes.mode, engine="vm")
    x = np.random.default_rng(n).uniform(-1, 1, n)
    _close(hes(x).data, vm(x).data)
    v, g, H = hes.value_gradient_and_hessian(x)
    v2, g2, H2 = vm.value_gradient_and_hessian(x)
    _close(v, v2)
    _close(g, g2)
    _close(H.data, H2.data)


def _op_graph(row, n=7):
    """A graph applying ``row``'s op elementwise to slices of x (and a parameter)."""
    b = Builder()
    xs = b.variables(np.zeros(3 * n))
    p = b.parameters(np.zeros(n))
    a0, a1, a2 = xs[:n], xs[n:2 * n], xs[2 * n:]
    a0 = b.binary(Code.ADD, a0, p)
    if row.code == Code.POWC:
        out = b.powc(a0, np.linspace(-1.5, 2.5, n))
    elif row.payload:  # polygamma: orders 0 .. 2 along the array
        out = b.unary_payload(row.code, a0, np.arange(n) % 3)
    elif row.arity == 1:
        out = b.unary(row.code, a0)
    elif row.arity == 2:
        out = b.binary(row.code, a0, a1)
    else:
        out = b.where(b.binary(Code.GT, a0, a2), a1, a2)
    total = b.reduce_segments(Code.ADD, out, np.array([0, n]))
    return (b.finish(out, (3 * n,), (n,), ((n,),)),
            b.finish(total, (3 * n,), (), ((n,),)))


@pytest.mark.parametrize("row", NON_LEAF, ids=[r.name for r in NON_LEAF])
def test_every_op_on_generated_code_equals_vm(row):
    """f, J and H of each op at random and special values (NaN and infinities
    propagate as on the virtual machine)."""
    g, total = _op_graph(row)
    jac = symasd.jacobian(g, np.zeros(21), engine="numpy")
    vm = symasd.jacobian(g, np.zeros(21), engine="vm", mode=jac.mode)
    hes = symasd.hessian(total, np.zeros(21), engine="numpy")
    hvm = symasd.hessian(total, np.zeros(21), engine="vm", mode=hes.mode)
    rng = np.random.default_rng(int(row.code))
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0])
    points = [rng.uniform(-2, 2, 21), rng.uniform(0.2, 0.9, 21),
              np.concatenate([special, special[::-1], rng.uniform(-1, 1, 7)])]
    for x in points:
        p = (rng.uniform(-0.1, 0.1, 7),)
        mod = jac._generated
        _close(mod.f(x, *p), g(x, *p), row.name)
        _close(jac(x, *p).data, vm(x, *p).data, row.name)
        _close(hes(x, *p).data, hvm(x, *p).data, row.name)
        _close(hes._generated.gradient(x, *p), hvm.value_gradient_and_hessian(x, *p)[1],
               row.name)


@settings(max_examples=25, deadline=None)
@given(programs(), st.sampled_from(["forward", "reverse", "auto"]))
def test_random_programs_with_parameters(prog, mode):
    n = prog[0]

    def f(x, p):
        return run(prog, x) * p[0] + p[1]

    x0, p0 = np.zeros(n), np.ones(2)
    jac = symasd.jacobian(f, x0, p0, mode=mode, engine="numpy")
    vm = symasd.jacobian(f, x0, p0, mode=jac.mode, engine="vm")
    rng = np.random.default_rng(n)
    x, p = rng.uniform(-0.9, 0.9, n), rng.uniform(0.5, 1.5, 2)
    _close(jac(x, p).data, vm(x, p).data)
    _close(jac._generated.f(x, p), f(x, p))


@settings(max_examples=10, deadline=None)
@given(programs(n_min=64, n_max=130), st.sampled_from(["forward", "reverse"]))
def test_random_programs_on_long_arrays(prog, mode):
    """Long enough for every kind of operand: slices, interleaved scatters, gathers."""
    n = prog[0]
    f = lambda x: run(prog, x)  # noqa: E731
    jac = symasd.jacobian(f, np.zeros(n), mode=mode, engine="numpy")
    vm = symasd.jacobian(f, np.zeros(n), mode=jac.mode, engine="vm")
    X = np.random.default_rng(n).uniform(-0.9, 0.9, (2, n))
    for x in X:
        _close(jac(x).data, vm(x).data)
    D = jac._generated.jacobian_data(X)
    _close(D[1], vm(X[1]).data)


@settings(max_examples=15, deadline=None)
@given(programs(max_steps=4, n_max=5, selections=False))
def test_random_programs_hessian(prog):
    n = prog[0]
    f = lambda x: run_scalar(prog, x)  # noqa: E731
    hes = symasd.hessian(f, np.zeros(n), engine="numpy")
    vm = symasd.hessian(f, np.zeros(n), engine="vm", mode=hes.mode)
    x = np.random.default_rng(n).uniform(-0.9, 0.9, n)
    _close(hes(x).data, vm(x).data)


def _brusselator_with_parameters(y, p):
    return brusselator(y) * p[0] + p[1] * y


def test_batches_equal_a_loop_of_single_calls():
    jac = symasd.jacobian(_brusselator_with_parameters, np.zeros(72), np.ones(2))
    mod = load_module(jac.to_source(), "bru")
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (4, 3, 72))
    p = rng.uniform(0.5, 1.5, (3, 2))  # broadcasts against the last batch axis
    D = mod.jacobian_data(X, p)
    F = mod.f(X, p)
    assert D.shape == (4, 3, mod.NNZ) and F.shape == (4, 3, 72)
    for i in range(4):
        for j in range(3):
            _close(D[i, j], jac(X[i, j], p[j]).data)
            _close(F[i, j], _brusselator_with_parameters(X[i, j], p[j]))
    one = mod.jacobian_data(X[0], p[0])  # one batch axis, shared parameters
    _close(one[2], jac(X[0, 2], p[0]).data)
    mod._CHUNK = 5  # chunks of 5 points (the last one shorter), into a reused result
    again = mod.jacobian_data(X, p, out=D)
    assert again is D
    _close(mod.jacobian_data(X[::-1], p, out=D), np.asarray([
        [jac(X[::-1][i, j], p[j]).data for j in range(3)] for i in range(4)]))
    with pytest.raises(ValueError, match="earlier call"):
        mod.jacobian_data(X, p, out=np.empty((4, 3, mod.NNZ)))
    hes = symasd.hessian(rosenbrock, np.zeros(10))
    hmod = load_module(hes.to_source(), "ros")
    Xh = rng.uniform(-1, 1, (5, 10))
    G, H = hmod.gradient(Xh), hmod.hessian_data(Xh)
    for i in range(5):
        v, g, Hi = hes.value_gradient_and_hessian(Xh[i])
        _close(G[i], g)
        _close(H[i], Hi.data)
        _close(hmod.f(Xh)[i], v)


def test_batches_in_either_memory_order():
    """C-ordered batches are copied to node-major rows a block of points at a time
    (step 16 for 2048 inputs: 37 points end in a short block); Fortran-ordered ones
    already are node-major and are read in place."""
    jac = symasd.jacobian(iter_diff, np.zeros(2048))
    mod = load_module(jac.to_source(), "iter_order")
    X = np.random.default_rng(1).uniform(0, 1, (37, 2048))
    expected = np.asarray([jac(x).data for x in X])
    _close(mod.jacobian_data(X), expected)
    _close(mod.jacobian_data(np.asfortranarray(X)), expected)
    _close(mod.jacobian_data(X[::2]), expected[::2])  # a strided view of the points
    _close(mod.f(X.reshape(37, 1, 2048))[:, 0], np.asarray([iter_diff(x) for x in X]))


def test_module_structure_and_errors():
    jac = symasd.jacobian(brusselator, np.zeros(72))
    mod = load_module(jac.to_source(), "bru")
    assert mod.SHAPE == (72, 72) and mod.NNZ == jac.nnz
    assert (mod.INDPTR == jac.sparsity.indptr).all() and (mod.INDICES == jac.sparsity.indices).all()
    assert mod.INPUT_SHAPE == (72,) and mod.OUTPUT_SHAPE == (72,) and mod.PARAM_SHAPES == ()
    x = np.random.default_rng(1).uniform(0, 1, 72)
    J = mod.jacobian(x)
    assert isinstance(J, sp.csr_array) and abs(J - jac(x)).max() < 1e-12
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 72\)"):
        mod.jacobian_data(np.zeros(71))
    with pytest.raises(ValueError, match="one point"):
        mod.jacobian(np.zeros((2, 72)))
    with pytest.raises(ValueError, match="real float array"):
        mod.f(np.zeros(72, dtype=complex))
    with pytest.raises(ValueError, match="0 parameter arrays"):
        mod.f(x, x)
    with pytest.raises(InputError, match="shape"):
        symasd.jacobian(brusselator, np.zeros(72), engine="numpy")(np.zeros(71))


def test_header_names_the_model_and_how_it_was_made():
    src = symasd.jacobian(brusselator, np.zeros(72)).to_source()
    head = src.split('"""', 2)[1]
    for text in ("`brusselator`", "72 x 72", "nonzeros", "colors", "symasd.jacobian("):
        assert text in head
    assert "brusselator = f" in src
    with pytest.raises(InputError, match="unknown backend"):
        symasd.jacobian(brusselator, np.zeros(72)).to_source("fortran")


def test_tape_engine_exports_too():
    tape = symasd.hessian(rosenbrock, np.zeros(10), engine="tape")
    mod = load_module(tape.to_source(), "ros")
    x = np.linspace(-1, 1, 10)
    _close(mod.hessian(x).toarray(), tape(x).toarray())


def test_export_is_atomic_and_replaces(tmp_path):
    path = tmp_path / "jac.py"
    path.write_text("old")
    symasd.jacobian(iter_diff, np.zeros(12)).export(path)
    assert path.read_text().startswith('"""Sparse Jacobian')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jac.py"]


_RUN_WITHOUT_SYMASD = """
import sys
sys.modules["symasd"] = None  # any import of symasd now fails
import importlib.util
import numpy as np
spec = importlib.util.spec_from_file_location("exported", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
try:
    import symasd
except ImportError:
    pass
else:
    raise SystemExit("symasd was importable")
x = np.load(sys.argv[2])
J = mod.jacobian(x)
np.savez(sys.argv[3], data=J.data, indices=J.indices, indptr=J.indptr,
         batch=mod.jacobian_data(np.stack([x, 2 * x])))
print("modules:", sorted(m for m in sys.modules if m.startswith("symasd") and sys.modules[m]))
"""


def test_exported_module_runs_without_symasd(tmp_path):
    jac = symasd.jacobian(brusselator, np.zeros(72))
    path = tmp_path / "bru_jac.py"
    jac.export(path)
    x = np.random.default_rng(2).uniform(0, 1, 72)
    np.save(tmp_path / "x.npy", x)
    script = tmp_path / "run.py"
    script.write_text(_RUN_WITHOUT_SYMASD)
    out = subprocess.run([sys.executable, str(script), str(path), str(tmp_path / "x.npy"),
                          str(tmp_path / "out.npz")], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "modules: []" in out.stdout
    got = np.load(tmp_path / "out.npz")
    J = jac(x)
    _close(got["data"], J.data)
    assert (got["indices"] == J.indices).all() and (got["indptr"] == J.indptr).all()
    _close(got["batch"][1], jac(2 * x).data)


def _import_file(path, name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_scipy_solvers_take_the_exported_jacobian(tmp_path):
    from scipy.integrate import solve_ivp
    from scipy.optimize import least_squares

    def residual(c):  # exponential fit with known parameters, as a vector of residuals
        t = np.linspace(0, 2, 40)
        return c[0] * np.exp(-c[1] * t) + c[2] - (2.0 * np.exp(-1.3 * t) + 0.5)

    symasd.jacobian(residual, np.ones(3)).export(tmp_path / "fit.py")
    fit = _import_file(tmp_path / "fit.py", "fit")
    sol = least_squares(fit.f, np.array([1.0, 1.0, 0.0]), jac=fit.jacobian, method="trf")
    assert sol.success and np.allclose(sol.x, [2.0, 1.3, 0.5], atol=1e-8)
    assert sol.njev >= 1

    symasd.jacobian(brusselator, np.zeros(72)).export(tmp_path / "bru.py")
    bru = _import_file(tmp_path / "bru.py", "bru")
    y0 = np.random.default_rng(3).uniform(0, 1, 72)
    ours = solve_ivp(lambda t, y: bru.f(y), (0, 1), y0, method="BDF",
                     jac=lambda t, y: bru.jacobian(y), rtol=1e-8, atol=1e-10)
    ref = solve_ivp(lambda t, y: brusselator(y), (0, 1), y0, method="BDF",
                    jac_sparsity=bru.jacobian(y0) != 0, rtol=1e-8, atol=1e-10)
    assert ours.success and ours.njev >= 1
    np.testing.assert_allclose(ours.y[:, -1], ref.y[:, -1], rtol=1e-5, atol=1e-7)


def _cupy_stand_in(monkeypatch):
    """NumPy posing as CuPy (and SciPy as cupyx.scipy.sparse), with fuse a no-op."""
    fake = types.ModuleType("cupy")
    fake.__dict__.update({k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    fake.fuse = lambda f: f
    fake.asnumpy = np.asarray
    cupyx = types.ModuleType("cupyx")
    cupyx_scipy = types.ModuleType("cupyx.scipy")
    cupyx_sparse = types.ModuleType("cupyx.scipy.sparse")
    cupyx_sparse.csr_matrix = sp.csr_matrix
    cupyx.scipy = cupyx_scipy
    cupyx_scipy.sparse = cupyx_sparse
    import scipy.special

    cupyx_scipy.special = scipy.special
    for name, module in [("cupy", fake), ("cupyx", cupyx), ("cupyx.scipy", cupyx_scipy),
                         ("cupyx.scipy.sparse", cupyx_sparse),
                         ("cupyx.scipy.special", scipy.special)]:
        monkeypatch.setitem(sys.modules, name, module)


@pytest.mark.parametrize("f,n,kind", [(brusselator, 72, "jacobian"), (arrow, 9, "jacobian"),
                                      (rosenbrock, 10, "hessian")])
def test_cupy_module_with_numpy_standing_in(monkeypatch, f, n, kind):
    prepared = (symasd.jacobian if kind == "jacobian" else symasd.hessian)(f, np.zeros(n))
    src = prepared.to_source("cupy")
    assert "import cupy as cp" in src and "@_fuse" in src and "np.errstate" not in src
    _cupy_stand_in(monkeypatch)
    mod = load_module(src, "on_cupy")
    rng = np.random.default_rng(n)
    X = rng.uniform(0.1, 1.0, (3, n))
    data = mod.jacobian_data(X) if kind == "jacobian" else mod.hessian_data(X)
    for i in range(3):
        _close(data[i], prepared(X[i]).data)
    M = mod.jacobian(X[0]) if kind == "jacobian" else mod.hessian(X[0])
    assert isinstance(M, sp.csr_matrix)
    engine = (symasd.jacobian if kind == "jacobian" else symasd.hessian)(f, np.zeros(n),
                                                                        engine="cupy")
    _close(engine(X[1]).data, prepared(X[1]).data)


@pytest.mark.skipif(__import__("importlib").util.find_spec("cupy") is not None,
                    reason="CuPy is installed")
def test_cupy_engine_without_cupy_says_how_to_install():
    with pytest.raises(InputError, match="pip install cupy"):
        symasd.jacobian(iter_diff, np.zeros(12), engine="cupy")


def _cli(*args, cwd):
    # the symasd these tests import (installed, or the source tree built in place)
    home = os.path.dirname(os.path.dirname(symasd.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [home, *filter(None, [os.environ.get("PYTHONPATH")])]))
    return subprocess.run([sys.executable, "-m", "symasd.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


MODEL = """
import numpy as np

def rhs(y):
    return np.diff(y) ** 2

def energy(x):
    return np.sum((x[1:] - x[:-1] ** 2) ** 2)

def branches(x):
    if x[0] > 0:
        return x
    return -x

def with_parameter(y, alpha):
    return alpha * y ** 2
"""


def test_cli_export_from_file_and_module(tmp_path):
    (tmp_path / "model.py").write_text(MODEL)
    out = _cli("export", f"{tmp_path / 'model.py'}:rhs", "--shape", "6", "-o",
               str(tmp_path / "rhs_jac.py"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    mod = _import_file(tmp_path / "rhs_jac.py", "rhs_jac")
    x = np.arange(6.0)
    assert mod.jacobian(x).shape == (5, 6)
    np.testing.assert_allclose(mod.jacobian(x).toarray(),
                               central_jacobian(lambda y: np.diff(y) ** 2, x), rtol=1e-6)
    out = _cli("export", "model:energy", "--shape", "5", "--hessian", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith('"""Sparse Hessian of `energy`')
    assert "symasd export model:energy --shape 5 --hessian" in out.stdout


@pytest.mark.parametrize("target,shape,message", [
    ("missing.py:rhs", "6", "no such file"),
    ("no_such_module_xyz:rhs", "6", "cannot import module"),
    ("model:nothing", "6", "has no function"),
    ("model:rhs", "6,x", "--shape"),
    ("model:rhs", "0", "--shape"),
    ("model:branches", "3", "cannot trace"),
    ("model:with_parameter", "3", "traces with_parameter(x) alone"),
    ("model", "3", "MODULE:FUNCTION"),
])
def test_cli_export_user_errors(tmp_path, target, shape, message):
    (tmp_path / "model.py").write_text(MODEL)
    out = _cli("export", target, "--shape", shape, cwd=tmp_path)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_periodic_constant_outputs_are_tiled():
    """iter_diff's Jacobian is one coefficient pattern repeated: stored as a block of
    whole periods copied over the output (with a remainder shorter than the block)."""
    n = 5000
    jac = symasd.jacobian(iter_diff, np.zeros(n), engine="numpy")
    src = jac.to_source()
    assert "_tile(dest" in src
    coef = np.tile([-1.0, 3.0, -3.0, 1.0], n - 3)
    X = np.random.default_rng(4).uniform(0, 1, (2, 3, n))
    assert (jac(X[0, 0]).data == coef).all()
    assert (jac._generated.jacobian_data(X) == coef).all()
    # the virtual machine fills its constant outputs the same way
    assert (symasd.jacobian(iter_diff, np.zeros(n))(X[0, 1]).data == coef).all()

    def banded_plus_square(x):  # a constant band, and one entry that varies
        return np.concatenate([np.diff(x, 3), [x[0] ** 2]])

    vm = symasd.jacobian(banded_plus_square, np.zeros(n))
    x = X[1, 2]
    J = vm(x)
    assert (J.data[:-1] == coef).all() and J.data[-1] == 2 * x[0]


def test_graphs_built_node_by_node_print_by_level():
    """A SymPy model enters one scalar expression at a time (blocks of one node):
    the statements follow the graph's depth, not its number of nodes."""
    import sympy

    from symasd.codegen.schedule import build_program

    y = sympy.symbols("y0:120")
    k = sympy.symbols("k0:2")
    exprs = [k[0] * y[i] * y[i + 1] - k[1] * sympy.sin(y[i + 2]) for i in range(118)]
    g = symasd.from_sympy(exprs, y, params=k)
    assert g.block_starts.size > 300  # node by node
    prog = build_program(g, g.outputs)
    assert prog.n_runs <= 10
    jac = symasd.jacobian(g, np.zeros(120), engine="numpy")
    vm = symasd.jacobian(g, np.zeros(120), engine="vm")
    x, p = np.random.default_rng(5).uniform(-1, 1, 120), np.array([0.7, 1.3])
    _close(jac(x, p).data, vm(x, p).data)
    _close(jac._generated.f(x, p), g(x, p))


def test_module_text_and_structure_are_safe():
    """Header text that would break a docstring, a model named like a module global,
    and the shared structure arrays (read-only, and on the host for CuPy)."""
    jac = symasd.jacobian(lambda x: x[1:] * x[:-1], np.ones(4))
    src = jac.to_source(made_by='symasd export C:\\Users\\x\\m.py:f """ --shape 4')
    compile(src, "m.py", "exec")
    mod = load_module(src, "m")
    J = mod.jacobian(np.array([0.0, 1, 2, 3]))
    with pytest.raises(ValueError):
        J.eliminate_zeros()  # would rewrite the structure every later matrix shares
    assert mod.jacobian(np.full(4, 2.0)).nnz == 6

    def special(x):
        return x * 2.0

    def INPUT_SHAPE(x):  # noqa: N802  (a user's name, as written)
        return x * 3.0

    for f in (special, INPUT_SHAPE):
        prepared = symasd.jacobian(f, np.ones(3), engine="numpy")
        assert f"{f.__name__} = f" not in prepared.to_source()
        _close(prepared(np.ones(3)).data, symasd.jacobian(f, np.ones(3))(np.ones(3)).data)
    cupy_src = jac.to_source("cupy")
    assert "INDPTR = _SI" in cupy_src and "= cp.asarray(_indices(" in cupy_src


def test_cli_output_errors_and_stdout(tmp_path):
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "exits.py").write_text("raise SystemExit(5)\n")
    out = _cli("export", "model:rhs", "--shape", "6", "-o", "-", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith('"""Sparse Jacobian')
    out = _cli("export", "model:rhs", "--shape", "6", "-o", str(tmp_path / "no" / "m.py"),
               cwd=tmp_path)
    assert out.returncode == 2 and "cannot write" in out.stderr and ".tmp" not in out.stderr
    out = _cli("export", "exits.py:f", "--shape", "3", cwd=tmp_path)
    assert out.returncode == 2 and "SystemExit" in out.stderr


def test_zero_dimensional_parameters_keep_their_shape():
    """A 0-d float parameter (a time, a scale) is passed back as it was traced, to the
    prepared object, the exported module (one value per point in a batch) and the VM."""
    jac = symasd.jacobian(lambda x, a: a * x, np.ones(3), np.array(2.0))
    assert jac.graph.param_shapes == ((),)
    assert (jac(np.ones(3), np.array(3.0)).data == 3.0).all()
    mod = load_module(jac.to_source(), "scaled")
    assert mod.PARAM_SHAPES == ((),)
    D = mod.jacobian_data(np.ones((2, 3)), np.array([2.0, 5.0]))
    assert (D == [[2.0] * 3, [5.0] * 3]).all()
    hes = symasd.hessian(lambda x: x ** 3, np.array(2.0))
    assert hes.graph.input_shape == () and hes(np.array(1.0)).toarray().tolist() == [[6.0]]


def test_acyclic_hessians_print_and_run():
    """The acyclic substitution's differences of two constants are folded, so the
    printed module has no operation on literals alone (it printed ``(4.0 - 2.0)``
    and sliced it: a TypeError in the module). Random sparse quadratics, the
    generated code against the VM, and the module the tape's Hessian exports."""
    rng = np.random.default_rng(12)
    checked = 0
    for _ in range(80):
        n = int(rng.integers(4, 9))
        C = rng.integers(0, 2, (n, n)).astype(float) * rng.integers(1, 3, (n, n))

        def f(x, C=C):
            return np.sum((C @ x) ** 2) + np.sum(np.sin(x) * x)

        x = rng.uniform(-1, 1, n)
        vm = symasd.hessian(f, np.ones(n), mode="acyclic", engine="vm")(x)
        generated = symasd.hessian(f, np.ones(n), mode="acyclic", engine="numpy")(x)
        np.testing.assert_allclose(generated.toarray(), vm.toarray(), rtol=1e-12, atol=1e-12)
        tape = symasd.hessian(f, np.ones(n), engine="tape")
        namespace = {}
        exec(compile(tape.to_source(), "<generated>", "exec"), namespace)
        np.testing.assert_allclose(namespace["hessian"](x).toarray(), vm.toarray(),
                                   rtol=1e-12, atol=1e-12)
        checked += tape.mode == "acyclic"
    assert checked >= 5


@pytest.mark.parametrize("args,message", [
    (["demo", "--n", "0"], "--n must be larger than --k"),
    (["demo", "--n", "3", "--k", "5"], "--n must be larger than --k"),
    (["demo", "--max-n", "-1"], "--max-n"),
    (["demo", "--plot", "/no/such/folder/p.png"], "does not exist"),
    (["export", "numpy:sin", "--shape", "10000000,10000000"], "more than the"),
    (["export", "numpy:sin", "--shape", "3", "-o", "/no/such/folder/m.py"], "does not exist"),
])
def test_cli_argument_errors_are_one_line(tmp_path, args, message):
    out = _cli(*args, cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in out.stderr


def test_export_and_to_source_check_their_arguments(tmp_path):
    jac = symasd.jacobian(np.sin, np.zeros(3))
    for path, message in ((tmp_path / "missing" / "m.py", "does not exist"),
                          (tmp_path, "give the path of a file"), ("", "give the path"),
                          (None, "must be a str"), (b"m.py", "must be a str")):
        with pytest.raises(InputError, match=message):
            jac.export(path)
    with pytest.raises(InputError, match="made_by must be a str"):
        jac.to_source(made_by=123)
    jac.export(tmp_path / "m.py")
    assert (tmp_path / "m.py").read_text().startswith('"""Sparse Jacobian')
