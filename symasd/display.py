"""Text pictures of sparsity patterns and colorings for terminals and ``print``."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["pattern_text"]


def pattern_text(pattern, colors: np.ndarray | None = None, max_size: int = 60) -> str:
    """A character picture of a sparsity pattern: ``●`` (or the 1-based color of
    the entry's column) for a structural nonzero, ``·`` for a zero.

    Patterns larger than ``max_size`` in either dimension are shown as braille
    cells (2 x 4 entries per character), downsampled to fit.

    Example
    -------
    >>> import numpy as np
    >>> print(pattern_text(np.eye(3, dtype=bool)))
    ● · ·
    · ● ·
    · · ●
    """
    A = sp.csr_array(pattern)
    m, n = A.shape
    if m <= max_size and n <= max_size:
        dense = A.toarray() != 0
        rows = []
        for i in range(m):
            cells = []
            for j in range(n):
                if not dense[i, j]:
                    cells.append("·")
                elif colors is not None:
                    cells.append(str(int(colors[j]) + 1))
                else:
                    cells.append("●")
            rows.append(" ".join(cells))
        return "\n".join(rows)
    coo = A.tocoo()
    scale = max(1.0, max(m / (4 * max_size), n / (2 * max_size)))
    r = (coo.row / scale).astype(np.int64)
    c = (coo.col / scale).astype(np.int64)
    height = int(np.ceil(m / scale / 4)) or 1
    width = int(np.ceil(n / scale / 2)) or 1
    dots = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]])
    cells = np.zeros((height, width), dtype=np.int64)
    np.bitwise_or.at(cells, (r // 4, c // 2), dots[r % 4, c % 2])
    return "\n".join("".join(chr(0x2800 + v) for v in row) for row in cells)
