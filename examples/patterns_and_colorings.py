"""Sparsity patterns, colorings and decompression, one step at a time.

This script walks through the preparation of automatic sparse
differentiation without computing any derivative by hand:

1. detect Jacobian and Hessian patterns (global and local);
2. color them for forward, reverse, bidirectional and symmetric products,
   with several vertex orders;
3. check every coloring by compressing a random matrix with the pattern and
   decompressing it again.

Run: python examples/patterns_and_colorings.py
"""

import numpy as np
import scipy.sparse as sp

import symasd
from symasd.display import pattern_text

ORDERS = ["natural", "random", "largest_first", "smallest_last", "incidence_degree",
          "dynamic_largest_first"]
rng = np.random.default_rng(0)


def index_sets(P):
    """Row i of a pattern as the 1-based set of inputs that influence output i."""
    P = sp.csr_array(P)
    return [set((P.indices[P.indptr[i]:P.indptr[i + 1]] + 1).tolist())
            for i in range(P.shape[0])]


def random_values(P):
    """A random float matrix with exactly the structure of P."""
    A = sp.csr_array(P, dtype=float)
    A.data = rng.uniform(1.0, 2.0, A.nnz)
    return A


# --- 1. Patterns ------------------------------------------------------------
def f(x):
    # sign() has a zero derivative: x3 does not appear in the pattern
    return np.stack([x[0] * x[1] + np.sign(x[2]), np.sign(x[2]) * x[3] / 2])


P = symasd.jacobian_sparsity(f, np.zeros(4))
print("index sets of f:", index_sets(P))
assert index_sets(P) == [{1, 2}, {4}]


def g(x):
    return np.maximum(x[:-1], x[1:])            # each output: the larger of two neighbours


x0 = np.arange(6.0)                              # increasing: x[1:] always wins
P_global = symasd.jacobian_sparsity(g, x0)
P_local = symasd.jacobian_sparsity(g, x0, local=True)
print(f"maximum of neighbours: global pattern {P_global.nnz} nonzeros, "
      f"{symasd.color(P_global, 'column').ncolors} colors; local pattern at x0 "
      f"{P_local.nnz} nonzeros, {symasd.color(P_local, 'column').ncolors} color")
assert (P_local > P_global).nnz == 0              # local patterns are subsets of global ones

H = symasd.hessian_sparsity(lambda x: (x[0] + x[1]) * x[2], np.zeros(3))
pairs = sorted((int(i) + 1, int(j) + 1) for i, j in zip(*H.nonzero(), strict=True))
print("Hessian pattern of (x1 + x2) * x3:", pairs)
assert pairs == [(1, 3), (2, 3), (3, 1), (3, 2)]


# --- 2. Column coloring and orders --------------------------------------------
def iter_diff(x, k=3):
    for _ in range(k):
        x = np.diff(x)
    return x


J = symasd.jacobian_sparsity(iter_diff, np.zeros(10))
r = symasd.color(J, "column", order="natural")
print(f"\niter_diff, n=10, k=3: colors {' '.join(str(c + 1) for c in r.colors)} "
      f"({r.ncolors} JVPs instead of 10)")
print(pattern_text(J, colors=r.colors))
assert (r.colors + 1).tolist() == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2]

# The number of colors depends on the order; try them all on a 2D problem.
N = 12
T = sp.diags_array([1.0, -2.0, 1.0], offsets=[-1, 0, 1], shape=(N, N))
lap = sp.csr_array(sp.kron(sp.identity(N), T) + sp.kron(T, sp.identity(N)))  # N^2 x N^2
print(f"\n2D five-point stencil, {N * N} columns:")
for order in ORDERS + ["best"]:
    r = symasd.color(lap, "column", order=order, seed=1)
    print(f"  {order:>22}: {r.ncolors} colors")
r = symasd.color(lap, "column", order="best", improve=10)
print(f"  {'best + improve=10':>22}: {r.ncolors} colors")

# --- 3. Row and bidirectional coloring: the arrow pattern ---------------------
n = 10
arrow = np.eye(n, dtype=bool)
arrow[0, :] = arrow[:, 0] = True                 # one dense row, one dense column
print(f"\narrow pattern {n} x {n}:")
for problem in ["column", "row", "bidirectional"]:
    r = symasd.color(arrow, problem)
    print(f"  {problem:>13}: {r.ncolors} products")
rb = symasd.color(arrow, "bidirectional")
print(f"  bidirectional: {rb.n_row_colors} VJP(s) + {rb.n_column_colors} JVP(s)")

# --- 4. Symmetric coloring for Hessians ---------------------------------------
def rosenbrock(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


Hr = symasd.hessian_sparsity(rosenbrock, np.zeros(12))
print("\nRosenbrock Hessian (tridiagonal, 12 x 12):")
for problem in ["column", "star", "acyclic"]:
    print(f"  {problem:>8}: {symasd.color(Hr, problem).ncolors} HVPs")

# --- 5. Decompression check ----------------------------------------------------
print("\ncompress a random matrix with the pattern, decompress, compare:")
cases = [(J, "column"), (J, "row"), (lap, "column"), (arrow, "bidirectional"),
         (Hr, "star"), (Hr, "acyclic"), (lap, "star"), (lap, "acyclic")]
for pattern, problem in cases:
    A = random_values(pattern)
    if problem in ("star", "acyclic"):
        A = A + A.T                              # Hessians are symmetric
    r = symasd.color(pattern, problem)
    if problem == "bidirectional":
        S_row, S_col = r.seeds()
        A_back = r.decompress(S_row.T @ A, A @ S_col)
    elif problem == "row":
        A_back = r.decompress(r.seeds().T @ A)
    else:
        A_back = r.decompress(A @ r.seeds())
    err = abs(A_back - A).max()
    print(f"  {problem:>13} on {A.shape[0]:>3} x {A.shape[1]:<3}: {r.ncolors:>2} products, "
          f"max error {err:.1e}")
    assert err < 1e-12 and symasd.is_valid_coloring(pattern, r)

# --- 6. The same, done for you, on a real function -----------------------------
jac = symasd.jacobian(iter_diff, np.zeros(10), order="natural")
x = rng.standard_normal(10)
eye = np.eye(10)
J_fd = np.stack([(iter_diff(x + 1e-6 * e) - iter_diff(x - 1e-6 * e)) / 2e-6 for e in eye], 1)
print(f"\nprepared Jacobian of iter_diff: {jac.ncolors} JVPs, max difference to finite "
      f"differences {abs(jac(x).toarray() - J_fd).max():.1e}")
assert np.allclose(jac(x).toarray(), J_fd, atol=1e-8)
