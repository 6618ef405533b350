"""The ``symasd`` command line: ``symasd demo``."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .display import pattern_text
from .sparsity import jacobian_sparsity
from .tracing import trace


def iter_diff(x, k: int = 3):
    """Apply the first difference ``k`` times (the seed's demonstration function)."""
    for _ in range(k):
        x = np.diff(x)
    return x


def _demo(args: argparse.Namespace) -> int:
    n, k = args.n, args.k
    print(f"symasd demo: iter_diff(x, k={k}) = np.diff applied {k} times, n = {n}\n")
    x0 = np.zeros(n)
    g = trace(lambda x: iter_diff(x, k), x0)
    print(f"1. trace:   {g.n_nodes} graph nodes, {g.n_inputs} inputs -> {g.n_outputs} outputs")
    J = jacobian_sparsity(g)
    print(f"2. pattern: {J.shape[0]} x {J.shape[1]} Jacobian, {J.nnz} structural nonzeros\n")
    print(pattern_text(J))
    print("\n   index sets (1-based inputs each output depends on):")
    for i in range(J.shape[0]):
        cols = J.indices[J.indptr[i]:J.indptr[i + 1]] + 1
        print(f"   y{i + 1} <- {{{', '.join(map(str, cols))}}}")
    rng = np.random.default_rng(0)
    dense = _dense_jacobian(g, rng.standard_normal(n))
    outside = np.count_nonzero(dense[~J.toarray()])
    nonzero = np.count_nonzero(np.abs(dense) > 1e-8)
    print(f"\n   check: central differences at a random point give {nonzero} nonzero "
          f"entries, {outside} outside the pattern")
    return 0 if outside == 0 else 1


def _dense_jacobian(g, x0, h=1e-6):
    cols = []
    for j in range(x0.size):
        e = np.zeros(x0.size)
        e[j] = h
        cols.append((g(x0 + e) - g(x0 - e)) / (2 * h))
    return np.stack(cols, axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="symasd", description="Automatic sparse "
                                     "differentiation of NumPy code.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the full pipeline on the iter_diff demonstration")
    demo.add_argument("--n", type=int, default=10, help="input length (default 10)")
    demo.add_argument("--k", type=int, default=3, help="number of differences (default 3)")
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
