"""Dense derivatives, for reference and checks.

A dense Jacobian needs one forward sweep per input (the identity seeds):
``Theta(n)`` JVPs where a coloring needs ``ncolors``. It is what sparse
differentiation is measured against (``symasd demo``, ``docs/figures.py``)
and an independent check of a compressed result, since it neither colors
nor decompresses.
"""

from __future__ import annotations

import numpy as np

from .graph import Graph
from .sweeps import forward_numeric

__all__ = ["dense_jacobian"]


def dense_jacobian(graph: Graph, x, params: tuple = (), chunk: int = 256) -> np.ndarray:
    """The Jacobian of ``graph`` at ``x`` as a dense ``(m, n)`` array, by forward
    sweeps with the identity seeds, ``chunk`` columns at a time (bounded memory).

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.dense import dense_jacobian
    >>> g = symasd.trace(lambda x: np.diff(x) ** 2, np.zeros(3))
    >>> dense_jacobian(g, np.array([0., 1., 3.]))
    array([[-2.,  2.,  0.],
           [ 0., -4.,  4.]])
    """
    n = graph.n_inputs
    blocks = []
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        seeds = np.zeros((n, stop - start))
        seeds[np.arange(start, stop), np.arange(stop - start)] = 1.0
        blocks.append(forward_numeric(graph, x, params, seeds)[1])
    return np.hstack(blocks) if blocks else np.zeros((graph.n_outputs, 0))
