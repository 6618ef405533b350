"""A SymPy model, exported as a standalone module, used by SciPy without symasd.

A modeller writes the equations in SymPy: here a stiff chemical kinetics
problem on a line of cells, Robertson's reactions in every cell with the
species diffusing between neighbours (3 species x 100 cells = 300 unknowns).
symasd reads the expressions (``from_sympy``), prepares the exact sparse
Jacobian once and **exports** it as a plain Python module. That module is then
used by SciPy's stiff integrator in a separate Python process in which symasd
cannot even be imported, the way a project would ship it.

Run: python examples/sympy_export_solver.py
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import sympy

import symasd

CELLS = 100
k1, k2, k3, D = sympy.symbols("k1 k2 k3 D")
y = sympy.symbols(f"y0:{3 * CELLS}")


def species(s, i):
    return y[3 * i + s]


def diffusion(s, i):
    left = species(s, i - 1) if i > 0 else species(s, i)
    right = species(s, i + 1) if i < CELLS - 1 else species(s, i)
    return D * (left - 2 * species(s, i) + right)


rates = []
for i in range(CELLS):
    a, b, c = species(0, i), species(1, i), species(2, i)
    rates += [-k1 * a + k3 * b * c + diffusion(0, i),
              k1 * a - k3 * b * c - k2 * b**2 + diffusion(1, i),
              k2 * b**2 + diffusion(2, i)]

t0 = time.perf_counter()
g = symasd.from_sympy(rates, y, params=[k1, k2, k3, D])
jac = symasd.jacobian(g, np.zeros(3 * CELLS))
print(f"SymPy model: {len(rates)} equations; graph of {g.n_nodes} nodes; Jacobian "
      f"{jac.shape[0]} x {jac.shape[1]} with {jac.nnz} nonzeros, {jac.ncolors} colors "
      f"({time.perf_counter() - t0:.2f} s to read and prepare)")

folder = tempfile.mkdtemp()
module = os.path.join(folder, "robertson_cells.py")
jac.export(module)
print(f"exported {os.path.getsize(module) / 1e3:.0f} kB of NumPy code to {module}")

# The consumer: SciPy's BDF with the exported f and Jacobian, in a fresh process
# where importing symasd fails.
CONSUMER = """
import sys, time
sys.modules["symasd"] = None
import numpy as np
from scipy.integrate import solve_ivp
sys.path.insert(0, sys.argv[1])
import robertson_cells as m
k = np.array([0.04, 3e7, 1e4, 0.1])  # k1, k2, k3, D
y0 = np.zeros(m.INPUT_SHAPE)
y0[0::3] = np.linspace(1.0, 0.5, y0.size // 3)
t0 = time.perf_counter()
sol = solve_ivp(lambda t, y: m.f(y, k), (0.0, 40.0), y0, method="BDF",
                jac=lambda t, y: m.jacobian(y, k), rtol=1e-6, atol=1e-10)
print(f"{sol.message} in {time.perf_counter() - t0:.2f} s: {sol.nfev} RHS and {sol.njev} "
      f"Jacobian evaluations")
mass = sol.y[:, -1].reshape(-1, 3).sum()
np.save(sys.argv[2], sol.y[:, -1])
print(f"total mass {mass:.12f} (initially {y0.sum():.12f})")
"""
out = os.path.join(folder, "final.npy")
run = subprocess.run([sys.executable, "-c", CONSUMER, folder, out], capture_output=True,
                     text=True, timeout=300)
print(run.stdout.strip())
assert run.returncode == 0, run.stderr

# Independent check, here: the same integration with SymPy's own Jacobian
# (lambdify of sympy.Matrix.jacobian), dense.
from scipy.integrate import solve_ivp  # noqa: E402

params = [k1, k2, k3, D]
f_sympy = sympy.lambdify([y, params], rates, "numpy")
J_sympy = sympy.lambdify([y, params], sympy.Matrix(rates).jacobian(y), "numpy")
kv = np.array([0.04, 3e7, 1e4, 0.1])
y0 = np.zeros(3 * CELLS)
y0[0::3] = np.linspace(1.0, 0.5, CELLS)
x = np.random.default_rng(0).uniform(0, 1, 3 * CELLS)
assert np.allclose(jac(x, kv).toarray(), np.asarray(J_sympy(x, kv), dtype=float),
                   rtol=1e-13, atol=1e-9)
ref = solve_ivp(lambda t, v: np.asarray(f_sympy(v, kv), dtype=float), (0.0, 40.0), y0,
                method="BDF", jac=lambda t, v: np.asarray(J_sympy(v, kv), dtype=float),
                rtol=1e-6, atol=1e-10)
final = np.load(out)
assert np.allclose(final, ref.y[:, -1], rtol=1e-4, atol=1e-8)
assert abs(final.sum() - y0.sum()) < 1e-6  # the reactions and diffusion conserve mass
print("the exported module's solution matches SymPy's own Jacobian; mass is conserved")
