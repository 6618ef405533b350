"""Work memory that symasd keeps between calls, and how to give it back.

Fresh memory is expensive to touch for the first time (a page fault per
page, microseconds each on virtual machines), so the hot paths keep their
large work arrays for the next call:

* pattern-only traces build in one node table kept between calls (up to
  2^20 nodes, about 34 MB);
* the pattern kernels keep freed work blocks (at most 32 MB);
* the numeric sweeps keep one work buffer per thread (at most 256 MB).

:func:`kept_memory` reports the first two and the calling thread's buffer;
:func:`release_memory` frees them, for a program that is done differentiating
large functions and wants the memory back. Nothing else changes: the next
call allocates afresh.
"""

from __future__ import annotations

from . import _pattern, _sweeps
from .sparsity import _SCRATCH

__all__ = ["kept_memory", "release_memory"]

def kept_memory() -> int:
    """Bytes of work memory kept for the next call.

    Counts the pattern traces' node table, the pattern kernels' blocks and
    the calling thread's sweep buffer.

    Example
    -------
    >>> import numpy as np, symasd
    >>> _ = symasd.jacobian_sparsity(np.diff, np.zeros(10**5))
    >>> symasd.kept_memory() > 0
    True
    >>> symasd.release_memory()
    >>> symasd.kept_memory()
    0
    """
    return (_SCRATCH.kept_bytes + _pattern.kept_work_bytes()
            + _sweeps.kept_workspace_bytes())


def release_memory() -> None:
    """Free the work memory symasd keeps between calls (see :func:`kept_memory`).

    The sweep buffer is per thread: this frees the calling thread's.

    Example
    -------
    >>> import numpy as np, symasd
    >>> _ = symasd.hessian_sparsity(lambda x: np.sum(x ** 4), np.zeros(1000))
    >>> symasd.release_memory()
    >>> symasd.kept_memory()
    0
    """
    _SCRATCH.clear()
    _pattern.release_work_memory()
    _sweeps.release_workspace()
