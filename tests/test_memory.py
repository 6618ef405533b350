"""kept_memory / release_memory: what symasd keeps between calls, and giving it back."""

import numpy as np
import scipy.sparse as sp

import symasd
from symasd import _pattern
from symasd.sparsity import _SCRATCH


def _banded(n):
    return sp.diags([np.ones(n - 3)] * 4, [0, 1, 2, 3], shape=(n - 3, n)).astype(bool)


def test_release_memory_frees_what_large_calls_keep():
    n = 200_000
    P = symasd.jacobian_sparsity(lambda x: np.diff(x, 3), np.zeros(n))
    assert (P != _banded(n)).nnz == 0
    assert _SCRATCH.kept_bytes > 0 and _pattern.kept_work_bytes() > 0
    hes = symasd.hessian(lambda x: np.sum(np.diff(x) ** 4), np.zeros(n), engine="tape")
    hes(np.ones(n))
    kept = symasd.kept_memory()
    assert kept >= _SCRATCH.kept_bytes + _pattern.kept_work_bytes()
    symasd.release_memory()
    assert symasd.kept_memory() == 0
    # everything still works afterwards, and keeps memory again
    x = np.random.default_rng(0).normal(size=n)
    H = hes(x)
    d = np.diff(x)
    np.testing.assert_allclose(H.diagonal()[1:-1], 12 * (d[:-1] ** 2 + d[1:] ** 2))
    assert (symasd.jacobian_sparsity(lambda x: np.diff(x, 3), np.zeros(n)) != _banded(n)).nnz == 0
    assert symasd.kept_memory() > 0


def test_release_memory_inside_a_traced_function_does_not_wait_for_itself():
    def f(x):
        symasd.release_memory()  # the scratch table is on loan to this very trace
        return np.diff(x) ** 2

    n = 1000
    assert symasd.jacobian_sparsity(f, np.zeros(n)).nnz == 2 * (n - 1)
    assert _SCRATCH.kept_bytes == 0  # dropped when it came back
    assert symasd.jacobian_sparsity(f, np.zeros(n)).nnz == 2 * (n - 1)
