"""What the machine offers, for the estimates made before large allocations.

Example
-------
>>> from symasd._system import available_memory
>>> available_memory() is None or available_memory() > 0
True
"""

from __future__ import annotations

import os

__all__ = ["available_memory"]


def available_memory() -> int | None:
    """Bytes of memory available to allocate now (Linux's MemAvailable; the free
    pages elsewhere), or None if the system does not say.

    Example
    -------
    >>> available_memory() is None or available_memory() > 0
    True
    """
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
