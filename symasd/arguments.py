"""The arguments after ``x``: parameters and static data (SciPy-style ``args``).

SciPy calls a function as ``fun(x, *args)`` and passes, next to float data,
Python numbers and integer index arrays (the cookbook's bundle adjustment:
``fun(params, n_cameras, n_points, camera_indices, point_indices, points_2d)``).
symasd sorts each argument after ``x`` by what it is:

* a **parameter**: a float array (a NumPy array of a float dtype, a list of
  floats, a 0-d float array). It is traced as inputs that are not
  differentiated and passed again at every call, with any value of the same
  shape (time in an ODE, measured data, multipliers).
* **static data**: everything else: Python numbers (``int``, ``float``,
  ``bool``, and NumPy scalars), integer and boolean arrays (or lists of
  them), and other objects (a ``scipy.sparse`` matrix, a string, ``None``).
  It is passed to ``f`` as it is while tracing, so it may shape the graph
  (sizes, indices, masks, constants); it is not a parameter. A call must pass
  the same values (arrays and sparse matrices: equal shape and elements,
  compared with a copy taken at preparation; other objects: the same object),
  which is checked at every call (a comparison, no tracing), and a different
  value raises :class:`~symasd.errors.InputError` naming the argument.

A float that should change between calls is a parameter when passed as an
array: ``np.array(0.5)`` rather than ``0.5``.

Example
-------
>>> import numpy as np
>>> from symasd.arguments import Arguments
>>> a = Arguments.of((3, np.array([0, 2]), np.ones(2)))
>>> a.kinds
('static', 'static', 'parameter')
>>> a.parameters((3, np.array([0, 2]), np.zeros(2)))
(array([0., 0.]),)
>>> a.parameters((4, np.array([0, 2]), np.zeros(2)))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
symasd.errors.InputError: argument 1 after x is static data (a Python number): it was 3, got 4...
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse

from .errors import InputError

__all__ = ["Arguments", "is_parameter"]

PARAMETER = "parameter"
STATIC = "static"


def is_parameter(value) -> bool:
    """Whether an argument after ``x`` is a parameter (a float array), not static data.

    Example
    -------
    >>> import numpy as np
    >>> is_parameter(np.ones(3)), is_parameter([0.5, 1.0]), is_parameter(0.5)
    (True, True, False)
    >>> is_parameter(np.arange(3)), is_parameter(np.array(2.0))
    (False, True)
    """
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f"
    if isinstance(value, numbers.Number | np.generic | str | bytes) or value is None:
        return False
    if isinstance(value, list | tuple):
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError):
            return False
        return arr.dtype.kind == "f"
    return False


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    if isinstance(value, numbers.Number | np.generic):
        return "a Python number"
    return f"a {type(value).__name__}"


def _frozen(value):
    """What a static argument is compared with at call time: a private read-only
    copy of an array, a copy of a sparse matrix, or the value itself."""
    if sparse.issparse(value):
        return value.copy()
    if isinstance(value, np.ndarray):
        copy = value.copy()
        copy.flags.writeable = False
        return copy
    if isinstance(value, list | tuple):
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError):
            return value
        if arr.dtype.kind in "biuf":
            arr.flags.writeable = False
            return arr
    return value


def _same(stored, value) -> bool:
    if sparse.issparse(stored):
        return (sparse.issparse(value) and value.shape == stored.shape
                and (value != stored).nnz == 0)
    if isinstance(stored, np.ndarray):
        if isinstance(value, np.ndarray):
            arr = value
        elif isinstance(value, list | tuple):
            try:
                arr = np.asarray(value)
            except (ValueError, TypeError):
                return False
        else:
            return False
        return arr.shape == stored.shape and arr.dtype.kind in "biuf" and bool(
            np.array_equal(arr, stored))
    if isinstance(stored, numbers.Number | np.generic):
        if not isinstance(value, numbers.Number | np.generic) or isinstance(value, bool) != \
                isinstance(stored, bool):
            return False
        try:
            return bool(value == stored) or (value != value and stored != stored)
        except (TypeError, ValueError):
            return False
    if isinstance(stored, str | bytes) or stored is None:
        return type(value) is type(stored) and value == stored
    return value is stored


@dataclass(frozen=True, eq=False)
class Arguments:
    """How the arguments after ``x`` of one traced function split (see the module).

    ``kinds[i]`` is ``"parameter"`` or ``"static"``; ``static[i]`` the value a
    static argument must keep (``None`` for parameters).
    """

    kinds: tuple[str, ...]
    static: tuple

    @classmethod
    def of(cls, args: Sequence) -> Arguments:
        """The split of ``args``, as passed at preparation."""
        kinds = tuple(PARAMETER if is_parameter(a) else STATIC for a in args)
        static = tuple(None if k == PARAMETER else _frozen(a)
                       for k, a in zip(kinds, args, strict=True))
        return cls(kinds, static)

    @property
    def has_static(self) -> bool:
        """Whether any argument is static data (else every one is a parameter)."""
        return STATIC in self.kinds

    def split(self, args: Sequence) -> list:
        """The parameters among ``args`` (as passed at preparation), in order."""
        return [a for k, a in zip(self.kinds, args, strict=True) if k == PARAMETER]

    def merge(self, params: Sequence) -> list:
        """``f``'s arguments after ``x``: ``params`` in the parameters' places (symbolic
        arrays while tracing) and the static data in theirs."""
        it = iter(params)
        return [next(it) if k == PARAMETER else s for k, s in zip(self.kinds, self.static,
                                                                   strict=True)]

    def parameters(self, args: Sequence) -> tuple:
        """The parameters of a call's ``args`` (every argument after ``x``), after
        checking the count and that every static argument is what it was."""
        if not isinstance(args, tuple | list):
            raise InputError("the arguments after x must be a tuple (f(x, *args)); got "
                             f"{type(args).__name__}")
        if len(args) != len(self.kinds):
            n_par = self.kinds.count(PARAMETER)
            raise InputError(
                f"f was prepared with {len(self.kinds)} argument(s) after x ({n_par} "
                f"parameter array(s), {len(self.kinds) - n_par} static); got {len(args)}. "
                "Pass the same arguments as at preparation, in the order f takes them")
        if not self.has_static:
            return tuple(args)
        out = []
        for i, (kind, stored, value) in enumerate(zip(self.kinds, self.static, args,
                                                      strict=True)):
            if kind == PARAMETER:
                out.append(value)
            elif not _same(stored, value):
                raise InputError(self._changed(i + 1, stored, value))
        return tuple(out)

    @staticmethod
    def _changed(position: int, stored, value) -> str:
        what = _describe(stored)
        if isinstance(stored, np.ndarray):
            now = _describe(np.asarray(value)) if isinstance(value, list | tuple) else \
                _describe(value)
            shown = f"it was {what}, got {now}" + (
                "" if now != what else " with other values")
        elif isinstance(stored, numbers.Number | np.generic | str | bytes) or stored is None:
            shown = f"it was {stored!r}, got {value!r}"
        elif sparse.issparse(stored):
            shown = (f"it was {what} of shape {stored.shape}, got "
                     f"{_describe(value)}" + (f" of shape {value.shape}" if sparse.issparse(
                         value) else ""))
        else:
            shown = f"got another {type(value).__name__} than the one passed at preparation"
        hint = ("; to vary a number between calls, pass it as a float array "
                "(np.array(0.5)) so that it is a parameter" if isinstance(
                    stored, numbers.Number | np.generic) else "")
        return (f"argument {position} after x is static data ({what}): {shown}. Static "
                "arguments shape the traced graph and must be the same at every call; "
                f"prepare again for new values{hint}")
