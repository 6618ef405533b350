"""Constant arrays of generated modules: collected once, stored compactly as text.

A generated module holds its index arrays and constant float arrays in its
own source, without pickle: each array is written as base64 text of its
zlib-compressed bytes, and decoded once, when the module is imported, by a
few lines of NumPy printed into the module (:data:`DECODER`). Index arrays
are stored as differences of consecutive entries in the smallest integer
type that holds them: the gathers of a stencil or a banded pattern repeat a
few differences, which compress to almost nothing.

:class:`ConstantPool` names each distinct array once (``I0, I1, ...`` for
indices, ``C0, C1, ...`` for floats), so that two statements reading the same
gather share one constant.

Example
-------
>>> import numpy as np
>>> pool = ConstantPool()
>>> pool.index(np.array([0, 2, 4, 7])), pool.index(np.array([0, 2, 4, 7]))
('I0', 'I0')
>>> import base64, zlib
>>> namespace = {"np": np, "base64": base64, "zlib": zlib}  # what a module imports
>>> exec(DECODER + pool.source(), namespace)
>>> namespace["I0"]
array([0, 2, 4, 7])
"""

from __future__ import annotations

import base64
import zlib

import numpy as np

__all__ = ["ConstantPool", "DECODER"]

#: Decoding functions, printed into every generated module that has constants.
DECODER = '''\
def _indices(text, dtype, size):
    """An index array stored as compressed differences of consecutive entries."""
    steps = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=dtype)
    out = np.cumsum(steps, dtype=np.int64)
    if out.shape != (size,):
        raise ValueError("a constant of this generated module is damaged; export it again")
    return out


def _floats(text, size):
    """A float64 array stored as its compressed bytes."""
    out = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.float64)
    if out.shape != (size,):
        raise ValueError("a constant of this generated module is damaged; export it again")
    return out

'''

_LINE = 96  # characters of base64 text per source line


def _text(raw: bytes) -> str:
    """Compressed base64 of ``raw`` as a parenthesized run of string literals."""
    b64 = base64.b64encode(zlib.compress(raw, 6)).decode("ascii")
    if len(b64) <= _LINE:
        return f'"{b64}"'
    lines = [b64[i:i + _LINE] for i in range(0, len(b64), _LINE)]
    return "(\n" + "".join(f'    "{line}"\n' for line in lines) + ")"


def _smallest(steps: np.ndarray) -> str:
    for dtype in ("int8", "int16", "int32"):
        info = np.iinfo(dtype)
        if steps.size == 0 or (steps.min() >= info.min and steps.max() <= info.max):
            return dtype
    return "int64"


class ConstantPool:
    """The distinct constant arrays of one generated module, each named once."""

    def __init__(self, prefix: str = "", wrap: str = ""):
        # prefix: of the names (a second pool beside the first); wrap: a function
        # applied to every decoded array (cp.asarray: the constants live on the GPU)
        self._prefix, self._wrap = prefix, wrap
        self._names: dict[tuple[str, bytes], str] = {}
        self._lines: list[str] = []
        self._counts = {"I": 0, "C": 0}

    def _add(self, kind: str, arr: np.ndarray, encode) -> str:
        key = (kind, arr.tobytes())
        name = self._names.get(key)
        if name is None:
            name = f"{self._prefix}{kind}{self._counts[kind]}"
            self._counts[kind] += 1
            self._names[key] = name
            value = encode(arr)
            self._lines.append(f"{name} = {self._wrap}({value})\n" if self._wrap
                               else f"{name} = {value}\n")
        return name

    def index(self, arr: np.ndarray) -> str:
        """The name of the int64 index array ``arr``."""
        arr = np.ascontiguousarray(arr, dtype=np.int64)

        def encode(a):
            steps = np.diff(a, prepend=0)
            dtype = _smallest(steps)
            return f'_indices({_text(steps.astype(dtype).tobytes())}, "{dtype}", {a.size})'

        return self._add("I", arr, encode)

    def floats(self, arr: np.ndarray) -> str:
        """The name of the float64 array ``arr``."""
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        return self._add("C", arr, lambda a: f"_floats({_text(a.tobytes())}, {a.size})")

    def __len__(self) -> int:
        return len(self._lines)

    def source(self) -> str:
        """The assignments of every constant, in the order they were named."""
        return "".join(self._lines)
