"""Tracing unmodified NumPy code into a :class:`~symasd.graph.Graph`.

:class:`SymArray` is a NumPy-compatible array of *node ids*. It implements
``__array_ufunc__`` and ``__array_function__``, so NumPy calls on it are
routed here: elementwise functions append one block of nodes, and functions
that only rearrange elements (slicing, ``reshape``, ``transpose``,
``concatenate``, ``roll``, ``pad`` ...) are applied to the id array itself and
create no node at all. Views behave as NumPy views do, so item assignment
into ``np.zeros_like(x)`` (the usual way ODE right-hand sides are written)
and into slices of it works as in NumPy.

Anything that cannot be traced raises :class:`~symasd.errors.TracingError`
with a message that names the function and says what to do instead.
"""

from __future__ import annotations

import string
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse
import scipy.special

from . import _validation as validation
from .arguments import Arguments
from .errors import InputError, TracingError
from .graph import Builder, Graph
from .ops import BOOLEAN_CODES, OPS, Code

__all__ = ["SymArray", "trace", "symbols"]

_I = np.int64

_BRANCH_MESSAGE = (
    "the truth value of a symbolic array is unknown while tracing (Python `if`, `while`, "
    "`and`/`or` or `bool()` on a value that depends on x). Write the choice with "
    "np.where(condition, a, b) (or np.maximum / np.minimum / np.clip), or pass "
    "local=True (symasd.jacobian(f, x0, local=True), and so hessian, trace and the sparsity "
    "functions) to resolve branches at x0: the result then holds where the same branches "
    "are taken."
)
_NUMBER_MESSAGE = (
    "a traced value cannot become a Python number: float(), int(), the math module "
    "(math.sin) and storing into an element of a plain float array (out = np.zeros(n); "
    "out[0] = ...) need a number, but this value depends on x (or a parameter) and is "
    "symbolic while tracing. Use NumPy functions (np.sin, not math.sin), and build "
    "outputs with np.zeros_like(x) (or np.zeros_like(x, shape=...)), np.stack or "
    "np.concatenate."
)
_CONVERT_MESSAGE = (
    "a symbolic array cannot be converted to a plain NumPy array or number. If you are "
    "storing results into an array made with np.zeros(n) / np.empty(n), create it with "
    "np.zeros_like(x) (or np.zeros_like(x, shape=...)) instead so that it can hold "
    "symbolic values."
)


_SEE_DOCS = "; docs/tracing.md lists what is supported and how to write the rest"
# what to write instead of an unsupported function (the messages name it)
_ADVICE: dict[Any, str] = {}


def ufunc_name(ufunc) -> str:
    """A ufunc's name with the module users reach it from: ``numpy.sin``,
    ``scipy.special.erf`` (ufuncs carry no module of their own).

    Example
    -------
    >>> import numpy as np, scipy.special
    >>> ufunc_name(np.sin), ufunc_name(scipy.special.erf)
    ('numpy.sin', 'scipy.special.erf')
    """
    name = ufunc.__name__
    if getattr(np, name, None) is ufunc:
        return f"numpy.{name}"
    if getattr(scipy.special, name, None) is ufunc:
        return f"scipy.special.{name}"
    return f"the ufunc {name}"


def register(function, handler: Callable, advice: str | None = None) -> None:
    """Trace ``function`` (a NumPy function dispatched by ``__array_function__``, or
    a ufunc) by ``handler``; with ``handler=None``, only record ``advice`` (what to
    write instead) for its error message. For rule modules such as
    :mod:`symasd.functions`, which import this one.

    Example
    -------
    >>> import numpy as np, symasd
    >>> register(np.percentile, None, "; for a fixed rank: np.sort(x)[k]")
    >>> symasd.trace(lambda x: np.percentile(x, 50).reshape(1), np.ones(3))
    Traceback (most recent call last):
    ...
    symasd.errors.TracingError: numpy.percentile is not ... tracing; for a fixed rank: np.sort(x)[k]
    """
    if handler is not None:
        table = _UFUNCS if isinstance(function, np.ufunc) else _FUNCTIONS
        table[function] = handler
    if advice is not None:
        _ADVICE.setdefault(function, advice)


def _arithmetic(ufunc, code: Code, reflected: bool = False):
    """An arithmetic operator of :class:`SymArray`.

    Operands of the same shape from the same trace, and Python or NumPy
    float/int scalars, go straight to the builder: NumPy's override dispatch
    and broadcasting cost more than the operation itself on small arrays, and
    ODE right-hand sides are dozens of such operations. Everything else takes
    the ufunc route (broadcasting, arrays, error messages).
    """

    def operator(self, other):
        b = self._b
        shape = self._ids.shape
        if type(other) is SymArray:
            if other._b is not b or other._ids.shape != shape:
                return ufunc(other, self) if reflected else ufunc(self, other)
            ids = other._ids.ravel()
        elif isinstance(other, float | int) and not isinstance(other, bool):
            ids = b.const_like(self._ids.ravel(), float(other))
        elif code == Code.MUL and scipy.sparse.issparse(other):
            return _sparse_multiply(other, self, reflected)
        else:
            return ufunc(other, self) if reflected else ufunc(self, other)
        mine = self._ids.ravel()
        out = b.binary(code, ids, mine) if reflected else b.binary(code, mine, ids)
        return SymArray(out.reshape(shape), b)

    operator.__name__ = f"__{'r' if reflected else ''}{ufunc.__name__}__"
    return operator


class _UntraceableAttribute(TracingError, AttributeError):
    """An ndarray attribute that a symbolic array lacks: a TracingError that says
    why, and an AttributeError still, so that ``hasattr`` and ``getattr`` with a
    default (libraries probing ``x.flags`` or ``x.device``) see a missing one."""


# ndarray attributes a symbolic array cannot have, and why (what to write instead)
_NDARRAY_ONLY = {
    **dict.fromkeys(("item", "tolist"), "it needs the numbers, which a symbolic array "
                    "does not have while it is traced"),
    **dict.fromkeys(("fill", "put", "resize", "setfield", "setflags"), "assign to a part "
                    "instead (x[...] = value, x[idx] = value), or build a new array"),
    **dict.fromkeys(("nonzero", "argpartition", "partition", "searchsorted"), "its result "
                    "depends on the values of x; np.sort (traced) or np.where selections "
                    "can stand in"),
    **dict.fromkeys(("compress", "choose"), "use indexing with a constant mask or index "
                    "array (x[mask], np.take), or np.where"),
    "flat": "use x.ravel() or x.reshape(-1)",
    **dict.fromkeys(("view", "byteswap", "getfield", "tobytes", "tofile", "dump", "dumps",
                     "data", "ctypes", "strides", "base", "flags", "itemsize", "nbytes",
                     "device", "to_device"), "a symbolic array has no memory of its own "
                    "(it holds graph nodes, not numbers)"),
}


def _in_place(operator: Callable, logical: bool = False) -> Callable:
    """``a op= b`` for a symbolic ``a``: ``a[...] = a op b``, the shape and the kind
    (float or boolean) of ``a`` kept, as NumPy keeps them (it refuses a result that
    does not broadcast back into ``a``, floats written into a boolean array and
    ``&``, ``|``, ``^`` on floats). A scalar (``x[0]``, ``x.sum()``, ``s + x[0]``:
    NumPy scalars, immutable) is not changed in place: the name is rebound, and
    ``y[0] += v`` stores the new value back through ``y.__setitem__``, as Python
    does."""
    def method(self, other):
        if logical and not self._bool:
            raise TracingError(f"{name}: &, | and ^ in place need a boolean array (NumPy "
                               "refuses them on floats); use np.logical_and etc.")
        result = operator(self, other)
        if result is NotImplemented or self._ids.ndim == 0:
            return result
        if result.shape != self.shape:
            raise TracingError(f"in-place operation: the result's shape {result.shape} "
                               f"does not fit the array's {self.shape} (NumPy refuses it too)")
        if self._bool and not result._bool:
            raise TracingError(f"{name}: the result is float, and a boolean array cannot "
                               "hold it (NumPy refuses the cast too); compute a new array")
        self[...] = result
        return self
    name = operator.__name__.replace("__", "__i", 1)
    method.__name__ = name
    return method


class SymArray:
    """A symbolic array: the node ids of a graph under construction, with NumPy's
    array interface.

    Create one with :func:`symbols` or receive one as the argument of a function
    passed to :func:`trace`. Every NumPy operation on it records nodes.

    Example
    -------
    >>> import numpy as np, symasd
    >>> x = symasd.symbols("x", (3,))
    >>> y = np.sin(x[1:]) * x[:-1]
    >>> y.shape
    (2,)
    """

    __array_priority__ = 1000.0
    __slots__ = ("_ids", "_b", "_bool")

    def __init__(self, ids: np.ndarray, builder: Builder, is_bool: bool = False):
        self._ids = ids
        self._b = builder
        self._bool = is_bool

    # -- array attributes ----------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self._ids.shape

    @property
    def ndim(self) -> int:
        return self._ids.ndim

    @property
    def size(self) -> int:
        return self._ids.size

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(bool) if self._bool else np.dtype(np.float64)

    @property
    def T(self) -> SymArray:
        return self._like(self._ids.T)

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"SymArray(shape={self.shape}, dtype={self.dtype})"

    def _like(self, ids: np.ndarray, is_bool: bool | None = None) -> SymArray:
        return SymArray(ids, self._b, self._bool if is_bool is None else is_bool)

    # -- conversions that cannot be traced ----------------------------------------

    def __bool__(self) -> bool:
        if self._b.local:
            if self.size != 1:
                raise TracingError(
                    f"the truth value of a symbolic array with {self.size} elements is "
                    "ambiguous; use .any() or .all() on a comparison, or np.where")
            return bool(self._b.values(self._ids.ravel())[0] != 0)
        raise TracingError(_BRANCH_MESSAGE)

    def __float__(self):
        raise TracingError(_NUMBER_MESSAGE)

    __int__ = __float__
    __complex__ = __float__

    def __index__(self):
        raise TracingError("a symbolic value cannot be used as an index or a size; indices "
                           "must be plain integers or integer NumPy arrays")

    def __array__(self, dtype=None, copy=None):
        # An object array of 0-d symbolic scalars: ``np.array([a, b])`` of symbolic
        # pieces builds one (tracing stacks it, _object_ids), and NumPy's object
        # loops run on it elementwise (``+`` by the operators, ``np.sin`` by the
        # ``sin`` method below), so that ``x = np.asarray(x)`` in a traced
        # function still traces, one element at a time. Converting to float fails
        # with a message that explains np.zeros_like.
        if dtype is not None and np.dtype(dtype) != object:
            raise TracingError(_CONVERT_MESSAGE)
        if _caller_code() in _HAND_BACK:
            # scipy.sparse's ``A @ x`` gives the product back (NotImplemented, so that
            # Python calls ``x.__rmatmul__(A)``) when ``np.asanyarray(x)`` is a 0-d
            # object array: it is, for that caller only
            out = np.empty((), dtype=object)
            out[()] = self
            return out
        out = np.empty(self.shape, dtype=object)
        for index in np.ndindex(self.shape):
            out[index] = SymArray(self._ids[index], self._b, self._bool)
        return out

    # -- indexing --------------------------------------------------------------

    def __getitem__(self, key) -> SymArray:
        return self._like(self._ids[_check_key(key)])

    def __setitem__(self, key, value) -> None:
        ids = _to_ids(value, self._b)
        if not isinstance(self._ids, np.ndarray):
            raise TracingError("assignment into a single element taken out of an array "
                               "(y = x[i]: a NumPy scalar, immutable); assign into the "
                               "array itself: x[i] = value")
        if not self._ids.flags.writeable:
            raise TracingError("assignment to a read-only symbolic array (a broadcast view, "
                               "as np.broadcast_to makes, is read-only in NumPy too); "
                               "assign to a copy")
        if self._bool and not (isinstance(value, SymArray) and value._bool):
            self._bool = False
        self._ids[_check_key(key)] = ids

    # -- methods mirroring ndarray ---------------------------------------------

    def reshape(self, *shape, order="C") -> SymArray:
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return self._like(self._ids.reshape(shape, order=order))

    def ravel(self, order="C") -> SymArray:
        return self._like(self._ids.ravel(order=order))

    def flatten(self, order="C") -> SymArray:
        return self._like(self._ids.flatten(order=order))

    def transpose(self, *axes) -> SymArray:
        return self._like(self._ids.transpose(*axes))

    def swapaxes(self, a, b) -> SymArray:
        return self._like(self._ids.swapaxes(a, b))

    def squeeze(self, axis=None) -> SymArray:
        return self._like(self._ids.squeeze(axis))

    def copy(self) -> SymArray:
        return self._like(self._ids.copy())

    def astype(self, dtype, copy=True) -> SymArray:
        dt = np.dtype(dtype)
        if dt.kind == "c":
            raise TracingError("symasd traces real functions only; astype(complex) is "
                               "not supported")
        if dt.kind in "iu":
            raise TracingError("astype(int) truncates a symbolic value; use np.floor / "
                               "np.rint explicitly (their derivative is zero)")
        return self._like(self._ids.copy() if copy else self._ids, is_bool=dt.kind == "b")

    def sum(self, axis=None, keepdims=False, **kw):
        return _reduce(Code.ADD, self, axis, keepdims, **kw)

    def prod(self, axis=None, keepdims=False, **kw):
        return _reduce(Code.MUL, self, axis, keepdims, **kw)

    def mean(self, axis=None, keepdims=False, **kw):
        return _mean(self, axis=axis, keepdims=keepdims, **kw)

    def max(self, axis=None, keepdims=False, **kw):
        return _reduce(Code.MAX, self, axis, keepdims, **kw)

    def min(self, axis=None, keepdims=False, **kw):
        return _reduce(Code.MIN, self, axis, keepdims, **kw)

    def cumsum(self, axis=None):
        return _cumulative(Code.ADD, self, axis)

    def cumprod(self, axis=None):
        return _cumulative(Code.MUL, self, axis)

    def dot(self, other):
        return _dot(self, other)

    def clip(self, a_min=None, a_max=None):
        return _clip(self, a_min, a_max)

    def any(self, axis=None, keepdims=False):
        return _logical_reduce(Code.OR, self, axis, keepdims)

    # these dispatch to the rules of symasd.functions (registered there)
    def var(self, *args, **kw):
        return np.var(self, *args, **kw)

    def std(self, *args, **kw):
        return np.std(self, *args, **kw)

    def diagonal(self, *args, **kw):
        return np.diagonal(self, *args, **kw)

    def trace(self, *args, **kw):
        return np.trace(self, *args, **kw)

    def sort(self, axis=-1, kind=None, order=None):
        """In place, as ``ndarray.sort`` (views of this array see the sorted values)."""
        self._ids[...] = np.sort(self, axis=axis, kind=kind, order=order)._ids

    def argmax(self, *args, **kw):
        return np.argmax(self, *args, **kw)

    def argmin(self, *args, **kw):
        return np.argmin(self, *args, **kw)

    def argsort(self, *args, **kw):
        return np.argsort(self, *args, **kw)

    def repeat(self, repeats, axis=None):
        return np.repeat(self, repeats, axis=axis)

    def take(self, indices, axis=None, out=None, mode="raise"):
        return np.take(self, indices, axis=axis, out=out, mode=mode)

    def round(self, decimals=0, out=None):
        return np.round(self, decimals, out=out)

    @property
    def mT(self) -> SymArray:
        return self.swapaxes(-1, -2)


    def conj(self):
        return self.copy()

    conjugate = conj

    @property
    def real(self) -> SymArray:
        return self

    @property
    def imag(self) -> SymArray:
        return np.zeros_like(self)

    def all(self, axis=None, keepdims=False):
        return _logical_reduce(Code.AND, self, axis, keepdims)

    # -- operators (routed through the ufunc machinery) ----------------------------

    __add__ = _arithmetic(np.add, Code.ADD)
    __radd__ = _arithmetic(np.add, Code.ADD, reflected=True)
    __sub__ = _arithmetic(np.subtract, Code.SUB)
    __rsub__ = _arithmetic(np.subtract, Code.SUB, reflected=True)
    __mul__ = _arithmetic(np.multiply, Code.MUL)
    __rmul__ = _arithmetic(np.multiply, Code.MUL, reflected=True)
    __truediv__ = _arithmetic(np.true_divide, Code.DIV)
    __rtruediv__ = _arithmetic(np.true_divide, Code.DIV, reflected=True)

    def __pow__(self, o):
        # x ** 2 with a Python or NumPy scalar exponent: straight to the builder
        # (NumPy's dispatch and broadcasting cost more than the node on small arrays)
        if isinstance(o, float | int | np.floating | np.integer) and not isinstance(o, bool):
            try:
                exponent = float(o)
            except OverflowError:  # an int past float64: the ufunc route says so
                return np.power(self, o)
            return SymArray(self._b.powc(self._ids.ravel(), exponent).reshape(self.shape),
                            self._b)
        return np.power(self, o)

    def __rpow__(self, o):
        return np.power(o, self)

    def __matmul__(self, o):
        return np.matmul(self, o)

    def __rmatmul__(self, o):
        return np.matmul(o, self)

    def __neg__(self):
        return np.negative(self)

    def __pos__(self):
        return self.copy()

    def __abs__(self):
        return np.absolute(self)

    def __lt__(self, o):
        return np.less(self, o)

    def __le__(self, o):
        return np.less_equal(self, o)

    def __gt__(self, o):
        return np.greater(self, o)

    def __ge__(self, o):
        return np.greater_equal(self, o)

    def __eq__(self, o):  # type: ignore[override]
        return np.equal(self, o)

    def __ne__(self, o):  # type: ignore[override]
        return np.not_equal(self, o)

    def __and__(self, o):
        return np.logical_and(self, o)

    __rand__ = __and__

    def __or__(self, o):
        return np.logical_or(self, o)

    __ror__ = __or__

    def __xor__(self, o):
        return np.logical_xor(self, o)

    __rxor__ = __xor__

    def __invert__(self):
        if not self._bool:
            raise TracingError("~ on a float symbolic array is a bitwise not; use it on "
                               "comparisons only (or np.logical_not)")
        return np.logical_not(self)

    __hash__ = None  # type: ignore[assignment]

    def __floordiv__(self, o):
        return np.floor(np.true_divide(self, o))

    def __rfloordiv__(self, o):
        return np.floor(np.true_divide(o, self))

    def __mod__(self, o):
        raise TracingError("% (np.remainder) is not supported by symasd tracing; write "
                           "a - np.floor(a / b) * b explicitly")

    __rmod__ = __mod__

    # in place, as NumPy does it: the result is written into the array's own nodes,
    # so that every view of it (out[1:-1] += ...) and every name bound to it sees it
    __iadd__ = _in_place(__add__)
    __isub__ = _in_place(__sub__)
    __imul__ = _in_place(__mul__)
    __itruediv__ = _in_place(__truediv__)
    __ifloordiv__ = _in_place(__floordiv__)
    __imod__ = _in_place(__mod__)
    __ipow__ = _in_place(__pow__)
    __imatmul__ = _in_place(__matmul__)
    __iand__ = _in_place(__and__, logical=True)
    __ior__ = _in_place(__or__, logical=True)
    __ixor__ = _in_place(__xor__, logical=True)

    # -- NumPy protocols -------------------------------------------------------

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        builder = _builder_of(inputs)
        out = kwargs.pop("out", None)
        if method == "at":
            return _ufunc_at(ufunc, builder, *inputs, **kwargs)
        if method == "reduce":
            return _ufunc_reduce(ufunc, *inputs, **kwargs)
        if method != "__call__":
            raise TracingError(f"{ufunc_name(ufunc)}.{method} is not supported by symasd "
                               "tracing")
        bad = set(kwargs) - {"dtype", "casting", "order", "subok"}
        if bad or kwargs.get("dtype") not in (None, float, np.float64):
            raise TracingError(f"{ufunc_name(ufunc)} with keyword arguments "
                               f"{sorted(kwargs)} is not supported by symasd tracing")
        rule = _UFUNCS.get(ufunc)
        if rule is None:
            raise TracingError(f"{ufunc_name(ufunc)} is not supported by symasd tracing"
                               f"{_ADVICE.get(ufunc, _SEE_DOCS)}")
        result = rule(builder, *inputs)
        if out is not None:
            target = out[0] if isinstance(out, tuple) else out
            if not isinstance(target, SymArray):
                raise TracingError(_CONVERT_MESSAGE)
            target[...] = result
            return target
        return result

    def __array_function__(self, func, types, args, kwargs):
        handler = _FUNCTIONS.get(func)
        if handler is None:
            name = getattr(func, "__module__", "numpy") + "." + func.__name__
            raise TracingError(f"{name} is not supported by symasd tracing"
                               f"{_ADVICE.get(func, _SEE_DOCS)}")
        return handler(*args, **kwargs)


def _untraceable(name: str, why: str) -> property:
    def get(self):
        raise _UntraceableAttribute(f"x.{name} cannot be traced: {why}")
    return property(get, doc=f"Not traceable: {why}.")


# one property each (not __getattr__, which NumPy's probes of every element of
# np.array([...]) would run)
for _name, _why in _NDARRAY_ONLY.items():
    setattr(SymArray, _name, _untraceable(_name, _why))
del _name, _why


# ---------------------------------------------------------------------------
# conversion helpers


def _check_key(key):
    parts = key if isinstance(key, tuple) else (key,)
    for part in parts:
        if isinstance(part, SymArray):
            raise TracingError("indexing with a symbolic array is not supported: indices and "
                               "masks must not depend on x; use np.where for selections")
    return key


def _builder_of(values) -> Builder:
    builder = None
    for v in _flatten_args(values):
        if isinstance(v, SymArray):
            if builder is None:
                builder = v._b
            elif v._b is not builder:
                raise TracingError("symbolic arrays from two different traces were mixed")
    if builder is None:
        raise TracingError("no symbolic array among the arguments")
    return builder


def _flatten_args(values):
    for v in values:
        if isinstance(v, list | tuple):
            yield from _flatten_args(v)
        else:
            yield v


def _hand_back_codes() -> frozenset:
    """The code of scipy.sparse's matrix product dispatch (see ``SymArray.__array__``),
    where SciPy has it (a private name: nothing if it moved)."""
    try:
        from scipy.sparse._base import _spbase
    except ImportError:  # pragma: no cover - SciPy reorganized
        return frozenset()
    dispatch = getattr(_spbase, "_matmul_dispatch", None)
    return frozenset({dispatch.__code__}) if dispatch is not None else frozenset()


_HAND_BACK = _hand_back_codes()


def _caller_code():
    """The code of the Python function that asked for ``SymArray.__array__`` (two
    frames up: past ``__array__`` itself), or None."""
    try:
        return sys._getframe(2).f_code
    except ValueError:
        return None


def _object_ids(arr: np.ndarray, builder: Builder) -> np.ndarray:
    """Ids of an object array of symbolic arrays and numbers (``np.array([a, b])``):
    its items stacked, as NumPy stacks arrays of one shape."""
    items = [_to_ids(arr[index], builder) for index in np.ndindex(arr.shape)]
    shapes = {i.shape for i in items}
    if len(shapes) > 1:
        raise TracingError("np.array of symbolic arrays and numbers of different shapes "
                           f"({', '.join(str(s) for s in sorted(shapes))}); use np.stack or "
                           "np.concatenate, or broadcast the pieces first")
    item_shape = shapes.pop() if shapes else ()
    if not items:
        return np.zeros(arr.shape, dtype=_I)
    return np.stack(items).reshape(arr.shape + item_shape)


def _numeric(value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object:
        raise TracingError(f"cannot trace a value of type {type(value).__name__}; use NumPy "
                           "arrays, Python numbers and symbolic arrays")
    if arr.dtype.kind == "c":
        raise TracingError("complex values are not supported: symasd differentiates real "
                           "functions; split real and imaginary parts")
    return arr.astype(np.float64)


def _to_ids(value, builder: Builder) -> np.ndarray:
    """Node ids of a symbolic array, or of constants for a numeric value."""
    if isinstance(value, SymArray):
        if value._b is not builder:
            raise TracingError("symbolic arrays from two different traces were mixed")
        return value._ids
    if isinstance(value, list | tuple):
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and value.dtype == object:
        return _object_ids(value, builder)
    if scipy.sparse.issparse(value):
        raise TracingError(
            f"a scipy.sparse {type(value).__name__} meets a traced value only in products: "
            "A @ x, x @ A, A.dot(x) (and A * x for sparse matrices, a matrix product); for "
            "anything else convert it with A.toarray()")
    arr = _numeric(value)
    return builder.const(arr).reshape(arr.shape)


def _is_bool(v) -> bool:
    if isinstance(v, SymArray):
        return v._bool
    return np.asarray(v).dtype == bool


def _wrap(ids: np.ndarray, builder: Builder, is_bool=False) -> SymArray:
    return SymArray(ids, builder, is_bool)


# ---------------------------------------------------------------------------
# elementwise


def _unary(code: Code, is_bool=False):
    def rule(b: Builder, x):
        ids = _to_ids(x, b)
        return _wrap(b.unary(code, ids.ravel()).reshape(ids.shape), b, is_bool)

    return rule


def _elementwise(b: Builder, fn: Callable, *values, is_bool=False) -> SymArray:
    ids = [_to_ids(v, b) for v in values]
    shape = ids[0].shape
    if any(i.shape != shape for i in ids):
        ids = np.broadcast_arrays(*ids)
        shape = ids[0].shape
    res = fn(*[np.ascontiguousarray(i).ravel() for i in ids])
    return _wrap(res.reshape(shape), b, is_bool)


def _binary(code: Code, is_bool=False):
    def rule(b: Builder, x, y):
        return _elementwise(b, lambda p, q: b.binary(code, p, q), x, y, is_bool=is_bool)

    return rule


def _power(b: Builder, x, y):
    if not isinstance(y, SymArray):
        exponent = _numeric(y)
        xi = _to_ids(x, b)
        xi, e = np.broadcast_arrays(xi, exponent)
        res = b.powc(np.ascontiguousarray(xi).ravel(), np.ascontiguousarray(e).ravel())
        return _wrap(res.reshape(xi.shape), b)
    return _binary(Code.POW)(b, x, y)


def _logical(code: Code):
    def rule(b: Builder, x, y):
        return _binary(code, True)(b, _truth(b, x), _truth(b, y))

    return rule


def _truth(b: Builder, x):
    """``x != 0`` unless ``x`` is already boolean."""
    if _is_bool(x):
        return x
    return _binary(Code.NE, True)(b, x, 0.0)


def _bitwise(code: Code, name: str):
    def rule(b: Builder, x, y):
        if not (_is_bool(x) and _is_bool(y)):
            raise TracingError(f"numpy.{name} on float symbolic values is not supported; use "
                               "it on comparisons only")
        return _binary(code, True)(b, x, y)

    return rule


def _invert(b: Builder, x):
    if not _is_bool(x):
        raise TracingError("numpy.invert on float symbolic values is not supported; use "
                           "it on comparisons only")
    return _unary(Code.NOT, True)(b, x)


def _scale(factor: float):
    def rule(b: Builder, x):
        return _binary(Code.MUL)(b, x, factor)

    return rule


def _exp2(b: Builder, x):
    return _binary(Code.POW)(b, 2.0, x)


def _positive(b: Builder, x):
    return _wrap(_to_ids(x, b).copy(), b)


def _matmul_ufunc(b: Builder, x, y):
    return _matmul(x, y)


def _traced_op(row):
    if row.arity == 1:
        return _unary(row.code, row.code in BOOLEAN_CODES)
    return _binary(row.code, row.code in BOOLEAN_CODES)


def _traced_function(row):
    rule = _traced_op(row)
    return lambda *args: rule(_builder_of(args), *args)


# ufunc -> tracing rule: an op's own ufuncs (``Op.traced`` in ops.py), then the
# rules that are more than one node of one op
_UFUNCS: dict[Any, Callable] = {
    f: _traced_op(row) for row in OPS.values() for f in row.traced if isinstance(f, np.ufunc)
}
_UFUNCS.update({
    np.power: _power,
    np.float_power: _power,
    np.logical_and: _logical(Code.AND),
    np.logical_or: _logical(Code.OR),
    np.logical_xor: _logical(Code.XOR),
    np.logical_not: lambda b, x: _unary(Code.NOT, True)(b, _truth(b, x)),
    np.bitwise_and: _bitwise(Code.AND, "bitwise_and"),
    np.bitwise_or: _bitwise(Code.OR, "bitwise_or"),
    np.bitwise_xor: _bitwise(Code.XOR, "bitwise_xor"),
    np.invert: _invert,
    np.positive: _positive,
    np.exp2: _exp2,
    np.deg2rad: _scale(np.pi / 180.0),
    np.radians: _scale(np.pi / 180.0),
    np.rad2deg: _scale(180.0 / np.pi),
    np.degrees: _scale(180.0 / np.pi),
    np.matmul: _matmul_ufunc,
    np.isinf: lambda b, x: _unary(Code.NOT, True)(b, _binary(Code.OR, True)(
        b, _unary(Code.ISFINITE, True)(b, x), _unary(Code.ISNAN, True)(b, x))),
    np.conjugate: _positive,  # of a real value: the value
    scipy.special.psi: lambda b, x: _polygamma(b, x, 0),
})


def _polygamma(b: Builder, x, order: int):
    ids = _to_ids(x, b)
    return _wrap(b.unary_payload(Code.POLYGAMMA, ids.ravel(), float(order)).reshape(ids.shape),
                 b)


def _object_loop_method(ufunc):
    """A method ``x.sin()``: NumPy's object loops call it on each element of an
    object array (``np.sin(np.asarray(x))``)."""
    if ufunc.nin == 1:
        return lambda self: ufunc(self)
    return lambda self, other: ufunc(self, other)


def _ufunc_reduce(ufunc, x, axis=0, dtype=None, out=None, keepdims=False, **kw):
    codes = {np.add: Code.ADD, np.multiply: Code.MUL, np.maximum: Code.MAX,
             np.minimum: Code.MIN, np.logaddexp: Code.LOGADDEXP}
    if ufunc not in codes or out is not None or kw:
        raise TracingError(f"{ufunc_name(ufunc)}.reduce is not supported by symasd tracing")
    return _reduce(codes[ufunc], x, axis, keepdims)


def _ufunc_at(ufunc, builder: Builder, a, indices, b=None):
    """``np.add.at(a, indices, b)`` and friends: unbuffered scatter with repeats."""
    codes = {np.add: Code.ADD, np.subtract: Code.ADD, np.multiply: Code.MUL,
             np.maximum: Code.MAX, np.minimum: Code.MIN}
    if ufunc not in codes or b is None:
        raise TracingError(f"numpy.{ufunc.__name__}.at is not supported by symasd tracing")
    if not isinstance(a, SymArray):
        raise TracingError("np." + ufunc.__name__ + ".at into a plain NumPy array cannot "
                           "hold symbolic values; create the target with np.zeros_like(x)")
    _check_key(indices)
    positions = np.arange(a.size, dtype=_I).reshape(a.shape)[indices]
    vals = _to_ids(b, builder)
    if ufunc is np.subtract:
        vals = builder.unary(Code.NEG, vals.ravel()).reshape(vals.shape)
    positions, vals = np.broadcast_arrays(positions, vals)
    positions = positions.ravel()
    targets, inverse = np.unique(positions, return_inverse=True)
    current = a._ids[np.unravel_index(targets, a.shape)]
    seg_of = np.concatenate([np.arange(targets.size, dtype=_I), inverse.astype(_I)])
    terms = np.concatenate([current, vals.ravel()])
    order = np.argsort(seg_of, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(seg_of, minlength=targets.size))])
    result = builder.reduce_segments(codes[ufunc], terms[order], indptr)
    a._ids[np.unravel_index(targets, a.shape)] = result
    if not _is_bool(b):
        a._bool = False


# ---------------------------------------------------------------------------
# reductions, scans and contractions


def _norm_axis(axis, ndim) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple | list) else (axis,)
    out = []
    for ax in axes:
        ax = int(ax)
        if not -ndim <= ax < ndim:
            raise np.exceptions.AxisError(ax, ndim)
        out.append(ax % ndim)
    return tuple(sorted(set(out)))


def _reduce(code: Code, x, axis=None, keepdims=False, dtype=None, out=None, **kw):
    if kw or out is not None:
        raise TracingError(f"reduction keyword arguments {sorted(kw) or ['out']} are not "
                           "supported by symasd tracing")
    b = _builder_of([x])
    ids = _to_ids(x, b)
    axes = _norm_axis(axis, ids.ndim)
    kept = [d for d in range(ids.ndim) if d not in axes]
    moved = ids.transpose(kept + list(axes))
    out_shape = tuple(ids.shape[d] for d in kept)
    length = int(np.prod([ids.shape[d] for d in axes], dtype=_I))
    if length == 0 and code in (Code.MAX, Code.MIN, Code.LOGADDEXP):
        raise TracingError("a zero-size reduction with maximum, minimum or logaddexp has "
                           "no identity")
    nseg = int(np.prod(out_shape, dtype=_I))
    flat = np.ascontiguousarray(moved).reshape(nseg * length)
    res = b.reduce_segments(code, flat, np.arange(nseg + 1, dtype=_I) * length)
    res = res.reshape(out_shape)
    if keepdims:
        res = np.expand_dims(res, axes)
    return _wrap(res, b)


def _logical_reduce(code: Code, x, axis=None, keepdims=False):
    b = _builder_of([x])
    truth = _truth(b, x)
    reduce_code = Code.MAX if code == Code.OR else Code.MIN
    res = _reduce(reduce_code, truth, axis, keepdims)
    res._bool = True
    return res


def _mean(x, axis=None, dtype=None, out=None, keepdims=False, **kw):
    total = _reduce(Code.ADD, x, axis, keepdims, out=out, **kw)
    shape = np.shape(x._ids if isinstance(x, SymArray) else x)
    count = int(np.prod([shape[d] for d in _norm_axis(axis, len(shape))], dtype=_I))
    return total / float(count)


def _cumulative(code: Code, x, axis=None, dtype=None, out=None):
    if out is not None:
        raise TracingError("cumsum/cumprod with out= is not supported by symasd tracing")
    b = _builder_of([x])
    ids = _to_ids(x, b)
    if axis is None:
        ids = ids.ravel()
        axis = 0
    axis = _norm_axis(axis, ids.ndim)[0]
    y = np.moveaxis(ids, axis, -1).copy()
    n = y.shape[-1]
    step = 1
    # Hillis-Steele scan: log2(n) vectorized levels
    while step < n:
        left = np.ascontiguousarray(y[..., step:]).ravel()
        right = np.ascontiguousarray(y[..., :-step]).ravel()
        y[..., step:] = b.binary(code, right, left).reshape(y[..., step:].shape)
        step *= 2
    return _wrap(np.moveaxis(y, -1, axis), b)


def _einsum_core(b: Builder, spec_a: str, ida: np.ndarray, spec_b: str | None,
                 idb: np.ndarray | None, spec_out: str) -> np.ndarray:
    """Contract one or two id arrays by an einsum specification (no ellipsis)."""
    operands = [(spec_a, ida)] + ([(spec_b, idb)] if spec_b is not None else [])
    sizes: dict[str, int] = {}
    aligned = []
    letters_out = list(spec_out)
    all_letters = list(dict.fromkeys(letters_out + [ch for s, _ in operands for ch in s]))
    contracted = [ch for ch in all_letters if ch not in letters_out]
    order = letters_out + contracted
    for spec, ids in operands:
        if len(spec) != ids.ndim:
            raise TracingError(f"einsum subscripts '{spec}' do not match an operand with "
                               f"{ids.ndim} dimensions")
        uniq = "".join(dict.fromkeys(spec))
        if uniq != spec:  # repeated letters: take the diagonal (no summation)
            ids = np.einsum(f"{spec}->{uniq}", ids)
        for ch, n in zip(uniq, ids.shape, strict=True):
            if sizes.setdefault(ch, n) != n and n != 1 and sizes[ch] != 1:
                raise TracingError(f"einsum: inconsistent sizes for index '{ch}'")
            sizes[ch] = max(sizes[ch], n)
        perm = [uniq.index(ch) for ch in order if ch in uniq]
        expanded = ids.transpose(perm)
        shape = [ids.shape[uniq.index(ch)] if ch in uniq else 1 for ch in order]
        aligned.append(expanded.reshape(shape))
    full = [sizes[ch] for ch in order]
    out_size = int(np.prod([sizes[ch] for ch in letters_out], dtype=_I))
    k = int(np.prod([sizes[ch] for ch in contracted], dtype=_I))
    mats = [np.broadcast_to(a, full).reshape(out_size * k) for a in aligned]
    if len(mats) == 1:
        terms = mats[0]
        keep = terms != b.zero
        terms = terms[keep]
    else:
        keep = (mats[0] != b.zero) & (mats[1] != b.zero)
        terms = b.binary(Code.MUL, mats[0][keep], mats[1][keep])
    counts = keep.reshape(out_size, k).sum(axis=1)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(_I)
    res = b.reduce_segments(Code.ADD, terms, indptr)
    return res.reshape([sizes[ch] for ch in letters_out])


def _einsum(subscripts, *operands, **kw):
    if kw or not isinstance(subscripts, str):
        raise TracingError("einsum: only the subscripts string form without keyword "
                           "arguments is supported by symasd tracing")
    if len(operands) not in (1, 2):
        raise TracingError("einsum with more than two operands is not supported; contract "
                           "two at a time")
    spec = subscripts.replace(" ", "")
    if "." in spec:
        raise TracingError("einsum with '...' is not supported by symasd tracing; spell the "
                           "axes out")
    if "->" in spec:
        inputs, out = spec.split("->")
    else:
        inputs = spec
        counts = {ch: inputs.count(ch) for ch in set(inputs) if ch in string.ascii_letters}
        out = "".join(sorted(ch for ch, n in counts.items() if n == 1))
    specs = inputs.split(",")
    if len(specs) != len(operands):
        raise TracingError("einsum: number of subscripts and operands differ")
    b = _builder_of(operands)
    ids = [_to_ids(o, b) for o in operands]
    res = _einsum_core(b, specs[0], ids[0], specs[1] if len(ids) > 1 else None,
                       ids[1] if len(ids) > 1 else None, out)
    return _wrap(res, b)


def _sparse_product(A, x, b: Builder, left: bool) -> SymArray:
    """``A @ x`` (``left``) or ``x @ A`` for a constant scipy.sparse ``A`` and a
    traced ``x`` of one or two dimensions: one product node per stored nonzero and
    column of ``x``, and a balanced sum per output (explicit zeros and duplicate
    entries are merged first, so the pattern is that of ``A``'s nonzeros)."""
    ids = _to_ids(x, b)
    if A.ndim != 2 or ids.ndim not in (1, 2):
        raise TracingError(f"a product of a {A.ndim}-D sparse array and a {ids.ndim}-D "
                           "traced array is not supported; use a 2-D sparse matrix with a "
                           "vector or a 2-D array")
    A = scipy.sparse.csr_array(A if left else A.T, dtype=np.float64)
    A.sum_duplicates()
    A.eliminate_zeros()
    vector = ids.ndim == 1
    X = ids[:, None] if vector else (ids if left else ids.T)
    m, n = A.shape
    if X.shape[0] != n:
        raise ValueError(f"matmul: mismatch in core dimension ({n} vs {X.shape[0]})")
    k, nnz = X.shape[1], A.nnz
    cols = A.indices.astype(_I)
    # column j of the result sums, row by row, the terms data * X[cols, j]
    terms = b.binary(Code.MUL, np.tile(b.const(A.data), k), X[cols].T.ravel())
    indptr = np.append((np.arange(k, dtype=_I)[:, None] * nnz
                        + A.indptr[:-1].astype(_I)[None, :]).ravel(), k * nnz)
    res = b.reduce_segments(Code.ADD, terms, indptr).reshape(k, m).T
    if vector:
        res = res[:, 0]
    elif not left:
        res = res.T
    return _wrap(np.ascontiguousarray(res), b)


def _sparse_multiply(A, x: SymArray, left: bool) -> SymArray:
    """``A * x`` with a scipy.sparse ``A``: SciPy's matrix product for a sparse
    *matrix* (``spmatrix``), an elementwise product for a sparse *array* (a dense
    traced array here, zero where ``A`` stores nothing)."""
    b = x._b
    if isinstance(A, scipy.sparse.spmatrix):
        return _sparse_product(A, x, b, left)
    coo = scipy.sparse.coo_array(A, dtype=np.float64)
    coo.sum_duplicates()
    coo.eliminate_zeros()
    ids = _to_ids(x, b)
    shape = np.broadcast_shapes(coo.shape, ids.shape)
    if shape != coo.shape:
        raise TracingError(f"sparse array {coo.shape} * traced array {ids.shape}: broadcast "
                           "the traced array to the sparse array's shape first")
    full = np.broadcast_to(ids, shape)
    out = np.full(shape, b.zero, dtype=_I)
    out[coo.row, coo.col] = b.binary(Code.MUL, b.const(coo.data),
                                     np.ascontiguousarray(full[coo.row, coo.col]))
    return _wrap(out, b)


def _matmul(x, y, **kw):
    if kw:
        raise TracingError("matmul keyword arguments are not supported by symasd tracing")
    if scipy.sparse.issparse(x) or scipy.sparse.issparse(y):
        sym = y if scipy.sparse.issparse(x) else x
        return _sparse_product(x if sym is y else y, sym, _builder_of([sym]), sym is y)
    b = _builder_of([x, y])
    a, c = _to_ids(x, b), _to_ids(y, b)
    if a.ndim == 0 or c.ndim == 0:
        raise ValueError("matmul: input operand does not have enough dimensions")
    squeeze = []
    if a.ndim == 1:
        a = a[None, :]
        squeeze.append(-2)
    if c.ndim == 1:
        c = c[:, None]
        squeeze.append(-1)
    if a.shape[-1] != c.shape[-2]:
        raise ValueError(f"matmul: mismatch in core dimension ({a.shape[-1]} vs "
                         f"{c.shape[-2]})")
    batch = np.broadcast_shapes(a.shape[:-2], c.shape[:-2])
    nb = len(batch)
    letters = string.ascii_letters
    bl = letters[:nb]
    a = np.broadcast_to(a, batch + a.shape[-2:])
    c = np.broadcast_to(c, batch + c.shape[-2:])
    res = _einsum_core(b, bl + "xy", a, bl + "yz", c, bl + "xz")
    if squeeze:
        res = res.squeeze(axis=tuple(squeeze))
    return _wrap(res, b)


def _dot(x, y, out=None):
    if out is not None:
        raise TracingError("dot with out= is not supported by symasd tracing")
    if scipy.sparse.issparse(x) or scipy.sparse.issparse(y):
        return _matmul(x, y)
    b = _builder_of([x, y])
    a, c = _to_ids(x, b), _to_ids(y, b)
    if a.ndim == 0 or c.ndim == 0:
        return _binary(Code.MUL)(b, x, y)
    if a.ndim <= 2 and c.ndim <= 2:
        return _matmul(x, y)
    la = string.ascii_letters[: a.ndim]
    lc = string.ascii_letters[a.ndim: a.ndim + c.ndim]
    lc = lc[:-2] + la[-1] + lc[-1] if c.ndim >= 2 else la[-1]
    out_spec = la[:-1] + "".join(ch for ch in lc if ch != la[-1])
    return _wrap(_einsum_core(b, la, a, lc, c, out_spec), b)


def _outer(x, y, out=None):
    b = _builder_of([x, y])
    a, c = _to_ids(x, b).ravel(), _to_ids(y, b).ravel()
    return _wrap(_einsum_core(b, "i", a, "j", c, "ij"), b)


def _inner(x, y):
    b = _builder_of([x, y])
    a, c = _to_ids(x, b), _to_ids(y, b)
    if a.ndim == 0 or c.ndim == 0:
        return _binary(Code.MUL)(b, x, y)
    la = string.ascii_letters[: a.ndim]
    lc = string.ascii_letters[a.ndim: a.ndim + c.ndim - 1] + la[-1]
    return _wrap(_einsum_core(b, la, a, lc, c, la[:-1] + lc[:-1]), b)


def _vdot(x, y):
    b = _builder_of([x, y])
    return _wrap(_einsum_core(b, "i", _to_ids(x, b).ravel(), "i", _to_ids(y, b).ravel(), ""),
                 b)


def _tensordot(x, y, axes=2):
    b = _builder_of([x, y])
    a, c = _to_ids(x, b), _to_ids(y, b)
    if isinstance(axes, int):
        ax_a = list(range(a.ndim - axes, a.ndim))
        ax_c = list(range(axes))
    else:
        ax_a, ax_c = ([v] if isinstance(v, int) else list(v) for v in axes)
    la = list(string.ascii_letters[: a.ndim])
    lc = list(string.ascii_letters[a.ndim: a.ndim + c.ndim])
    for i, j in zip(ax_a, ax_c, strict=True):
        lc[j % c.ndim] = la[i % a.ndim]
    out = [ch for ch in la if ch not in lc] + [ch for ch in lc if ch not in la]
    return _wrap(_einsum_core(b, "".join(la), a, "".join(lc), c, "".join(out)), b)


# ---------------------------------------------------------------------------
# selection, clipping, differences, padding


def _where(cond, x=None, y=None):
    if x is None or y is None:
        raise TracingError("np.where with a single argument (np.nonzero) depends on values "
                           "and cannot be traced; use the three-argument form")
    b = _builder_of([cond, x, y])
    return _elementwise(b, b.where, cond, x, y, is_bool=_is_bool(x) and _is_bool(y))


def _round(a, decimals=0, out=None):
    if decimals != 0 or out is not None:
        raise TracingError("np.round with decimals or out= is not supported by symasd "
                           "tracing; its derivative is zero anyway: use np.rint")
    return np.rint(a)


def _clip(x, a_min=None, a_max=None, out=None, **kw):
    if out is not None or kw:
        raise TracingError("clip keyword arguments are not supported by symasd tracing")
    res = x
    if a_min is not None:
        res = np.maximum(res, a_min)
    if a_max is not None:
        res = np.minimum(res, a_max)
    return res


def _diff(x, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    b = _builder_of([x, prepend, append])
    ids = _to_ids(x, b)
    axis = _norm_axis(axis, ids.ndim)[0]
    parts = []
    for extra in (prepend, ids, append):
        if extra is np._NoValue:
            continue
        e = ids if extra is ids else _to_ids(extra, b)
        if e.ndim == 0:
            shape = list(ids.shape)
            shape[axis] = 1
            e = np.broadcast_to(e, shape)
        parts.append(e)
    cur = _wrap(np.concatenate(parts, axis=axis), b)
    for _ in range(n):
        hi = [slice(None)] * cur.ndim
        lo = [slice(None)] * cur.ndim
        hi[axis] = slice(1, None)
        lo[axis] = slice(None, -1)
        cur = cur[tuple(hi)] - cur[tuple(lo)]
    return cur


def _pad(x, pad_width, mode="constant", **kw):
    b = _builder_of([x])
    ids = _to_ids(x, b)
    if mode == "constant":
        values = kw.pop("constant_values", 0.0)
        if kw:
            raise TracingError(f"np.pad keyword arguments {sorted(kw)} are not supported")
        if isinstance(values, SymArray):
            raise TracingError("np.pad constant_values must be numbers, not symbolic values")
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), (ids.ndim, 2))
        widths = np.broadcast_to(np.asarray(pad_width, dtype=_I), (ids.ndim, 2))
        out = ids
        for axis in range(ids.ndim):
            blocks = []
            for side in (0, 1):
                shape = list(out.shape)
                shape[axis] = int(widths[axis, side])
                blocks.append(np.full(shape, int(b.const(values[axis, side:side + 1])[0]),
                                      dtype=_I))
            out = np.concatenate([blocks[0], out, blocks[1]], axis=axis)
        return _wrap(out, b, x._bool if isinstance(x, SymArray) else False)
    if mode in ("edge", "wrap", "reflect", "symmetric") and kw.get("reflect_type", "even") \
            == "even":
        kw.pop("reflect_type", None)
        if kw:
            raise TracingError(f"np.pad keyword arguments {sorted(kw)} are not supported")
        return _wrap(np.pad(ids, pad_width, mode=mode), b)
    raise TracingError(f"np.pad mode={mode!r} is not supported by symasd tracing; use "
                       "'constant', 'edge', 'wrap', 'reflect' or 'symmetric'")


def _filled_like(value):
    def handler(a, dtype=None, order="K", subok=True, shape=None, *args, **kw):
        if dtype is not None and np.dtype(dtype).kind == "c":
            raise TracingError("complex arrays are not supported by symasd tracing")
        b = _builder_of([a])
        shp = a.shape if shape is None else shape
        return _wrap(np.full(shp, int(b.const(np.array([value]))[0]), dtype=_I), b)

    return handler


def _full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None):
    b = _builder_of([a])
    shp = a.shape if shape is None else shape
    return _wrap(np.broadcast_to(_to_ids(fill_value, b), shp).copy(), b)


def _triangle(fn):
    def handler(m, k=0):
        b = _builder_of([m])
        ids = _to_ids(m, b)
        mask = fn(np.ones(ids.shape[-2:], dtype=bool), k)
        return _wrap(np.where(mask, ids, b.zero), b)

    return handler


def _structural(fn, sequence=False):
    """Wrap a NumPy function that only rearranges elements: apply it to ids."""

    def handler(data, *args, **kwargs):
        for v in _flatten_args(list(args) + list(kwargs.values())):
            if isinstance(v, SymArray):
                raise TracingError(f"numpy.{fn.__name__}: only the array argument may be "
                                   "symbolic")
        items = list(data) if sequence else [data]
        b = _builder_of(items)
        ids = [_to_ids(v, b) for v in items]
        is_bool = all(_is_bool(v) for v in items)
        res = fn(ids if sequence else ids[0], *args, **kwargs)
        if isinstance(res, list | tuple) and res and all(isinstance(r, np.ndarray)
                                                         for r in res):
            return [_wrap(r, b, is_bool) for r in res]  # np.split and its kin
        if isinstance(res, np.ndarray) and res.dtype == _I:
            return _wrap(res, b, is_bool)
        return res

    return handler


_SHAPE_FUNCS = [np.reshape, np.ravel, np.transpose, np.swapaxes, np.moveaxis, np.squeeze,
                np.expand_dims, np.broadcast_to, np.atleast_1d, np.atleast_2d, np.atleast_3d,
                np.flip, np.fliplr, np.flipud, np.roll, np.tile, np.repeat, np.take,
                np.diagonal, np.split, np.array_split, np.hsplit, np.vsplit, np.copy,
                np.rot90, np.shape, np.ndim, np.size, np.take_along_axis, np.rollaxis]
_SEQUENCE_FUNCS = [np.concatenate, np.stack, np.hstack, np.vstack, np.dstack, np.column_stack,
                   np.block]

_FUNCTIONS: dict[Any, Callable] = {
    **{f: _structural(f) for f in _SHAPE_FUNCS},
    **{f: _structural(f, sequence=True) for f in _SEQUENCE_FUNCS},
    np.sum: lambda a, axis=None, dtype=None, out=None, keepdims=False, **kw: _reduce(
        Code.ADD, a, axis, keepdims, out=out, **kw),
    np.prod: lambda a, axis=None, dtype=None, out=None, keepdims=False, **kw: _reduce(
        Code.MUL, a, axis, keepdims, out=out, **kw),
    np.max: lambda a, axis=None, out=None, keepdims=False, **kw: _reduce(
        Code.MAX, a, axis, keepdims, out=out, **kw),
    np.min: lambda a, axis=None, out=None, keepdims=False, **kw: _reduce(
        Code.MIN, a, axis, keepdims, out=out, **kw),
    np.mean: _mean,
    np.cumsum: lambda a, axis=None, dtype=None, out=None: _cumulative(Code.ADD, a, axis,
                                                                       out=out),
    np.cumprod: lambda a, axis=None, dtype=None, out=None: _cumulative(Code.MUL, a, axis,
                                                                        out=out),
    np.dot: _dot,
    np.matmul: _matmul,
    np.outer: _outer,
    np.inner: _inner,
    np.vdot: _vdot,
    np.tensordot: _tensordot,
    np.einsum: _einsum,
    np.where: _where,
    np.round: _round,
    np.around: _round,
    np.clip: _clip,
    np.diff: _diff,
    np.pad: _pad,
    np.zeros_like: _filled_like(0.0),
    np.empty_like: _filled_like(0.0),
    np.ones_like: _filled_like(1.0),
    np.full_like: _full_like,
    np.triu: _triangle(np.triu),
    np.tril: _triangle(np.tril),
    np.any: lambda a, axis=None, out=None, keepdims=False: _logical_reduce(Code.OR, a, axis,
                                                                           keepdims),
    np.all: lambda a, axis=None, out=None, keepdims=False: _logical_reduce(Code.AND, a, axis,
                                                                           keepdims),
}
# an op's elementwise NumPy functions that are not ufuncs (Op.traced: np.sinc)
_FUNCTIONS.update({f: _traced_function(row) for row in OPS.values() for f in row.traced
                   if not isinstance(f, np.ufunc)})
for _name in ("amax", "amin"):
    if hasattr(np, _name):
        _FUNCTIONS[getattr(np, _name)] = _FUNCTIONS[np.max if _name == "amax" else np.min]
for _ufunc in list(_UFUNCS):
    if _ufunc.nin in (1, 2) and not hasattr(SymArray, _ufunc.__name__):
        setattr(SymArray, _ufunc.__name__, _object_loop_method(_ufunc))


# ---------------------------------------------------------------------------
# entry points


def _check_point(x0, what: str) -> np.ndarray:
    if isinstance(x0, SymArray):
        raise InputError(f"{what} must be a numeric NumPy array, not a symbolic array")
    return validation.point(x0, what)


def _output_ids(out, builder: Builder) -> np.ndarray:
    if isinstance(out, SymArray):
        if out._b is not builder:
            raise TracingError("the output is built from other symbolic inputs than the "
                               "traced ones (symbolic arrays from two different traces or "
                               "symbols() calls)")
        return out._ids
    if isinstance(out, np.ndarray) and out.dtype == object:
        return _object_ids(out, builder)
    if isinstance(out, np.ndarray | np.generic) and out.dtype.kind in "fiub":
        return builder.const(np.asarray(out, dtype=np.float64)).reshape(np.shape(out))
    if isinstance(out, np.ndarray | np.generic | complex) and np.iscomplexobj(out):
        raise TracingError("the traced function returned a complex value: symasd "
                           "differentiates real functions; return the real and imaginary "
                           "parts as separate real outputs")
    hint = ""
    if isinstance(out, list | tuple):
        hint = " Combine the pieces with np.stack(...) or np.concatenate(...)."
    raise TracingError(f"the traced function returned {type(out).__name__}; it must return "
                       f"an array.{hint}")


_SCIPY_ADVICE = (
    "Write it with the functions symasd traces (docs/tracing.md): the scipy.special "
    "ufuncs, scipy.special.logsumexp, softmax, log_softmax and polygamma, and products "
    "with scipy.sparse matrices are. A SciPy function bound before symasd was imported "
    "(from scipy.special import logsumexp) is SciPy's own: import symasd first.")
# what a library says when it meets a traced value it cannot use
_OBJECT_ERRORS = ("SymArray", "dtype object", "object arrays", "not supported for the input "
                  "types", "not supported type", "unsupported data types")


def _scipy_culprit(tb) -> str | None:
    """The SciPy function a traceback went through first (the one the user called),
    as ``scipy.special.logsumexp``, or None."""
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module == "scipy" or module.startswith("scipy."):
            public = ".".join(p for p in module.split(".") if not p.startswith("_"))
            code = tb.tb_frame.f_code
            return f"{public}.{getattr(code, 'co_qualname', code.co_name)}"
        tb = tb.tb_next
    return None


# Array libraries whose functions take a SymArray for a foreign object and fail
# somewhere inside (JAX reads its shape, PyTorch refuses it), with errors that
# say nothing of the cause.
_FOREIGN_LIBRARIES = ("jax", "jaxlib", "torch", "tensorflow", "cupy", "dask")


def _foreign_library(err: BaseException) -> str | None:
    """The first foreign array library (:data:`_FOREIGN_LIBRARIES`) that the
    traceback of ``err``, or of an exception chained to it, went through. JAX
    removes its own frames from the tracebacks it raises, but names itself in
    its messages ("... is not a valid JAX type")."""
    if "JAX" in str(err):
        return "jax"
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        tb = err.__traceback__
        while tb is not None:
            top = tb.tb_frame.f_globals.get("__name__", "").partition(".")[0]
            if top in _FOREIGN_LIBRARIES:
                return top
            tb = tb.tb_next
        err = err.__cause__ or err.__context__
    return None


def _call_traced(f: Callable, *args):
    try:
        with np.errstate(all="ignore"):
            return f(*args)
    except Exception as err:
        library = _foreign_library(err)
        if library is not None:
            raise TracingError(
                f"the function calls {library}, which cannot compute with symasd's symbolic "
                f"arrays ({type(err).__name__} inside {library}); symasd traces NumPy "
                f"code: write it with numpy (for code written for several array "
                f"libraries, pass numpy as its array module, for example xp=np)") from err
        if isinstance(err, (ValueError, TypeError)):
            _explain(err)
        raise


def _explain(err: ValueError | TypeError) -> None:
    """Raise a :class:`TracingError` that says what went wrong where NumPy's or
    SciPy's own error ``err`` does not (the caller re-raises ``err`` otherwise)."""
    text = str(err)
    culprit = _scipy_culprit(err.__traceback__)
    if isinstance(err, TracingError):
        if culprit is not None:
            raise TracingError(f"{culprit} cannot be traced: {text} {_SCIPY_ADVICE}") from err
    elif "inhomogeneous" in text:
        raise TracingError("np.array of symbolic pieces of different shapes; use "
                           "np.stack or np.concatenate, or broadcast the pieces "
                           "first") from err
    # NumPy reports a symbolic scalar stored into a float array as a sequence
    # (SymArray supports indexing); say what actually went wrong.
    elif "setting an array element with a sequence" in text:
        raise TracingError(_CONVERT_MESSAGE) from err
    elif culprit is not None and any(s in text for s in _OBJECT_ERRORS):
        raise TracingError(f"{culprit} cannot be traced: SciPy converts its arguments "
                           f"to plain NumPy arrays ({type(err).__name__}: {text}). "
                           f"{_SCIPY_ADVICE}") from err


def trace(f: Callable, x0: np.ndarray, *p0: np.ndarray, local: bool = False,
          share: bool = True) -> Graph:
    """Trace ``f(x, *p)`` at ``x0`` into an expression graph.

    ``f`` is ordinary NumPy code; it is called once with a :class:`SymArray`
    shaped like ``x0`` (and one per parameter array in ``p0``: traced as
    inputs that are not differentiated; the other arguments of ``p0``, Python
    numbers and integer or boolean arrays, are static data, passed to ``f`` as
    they are and part of the graph: see :mod:`symasd.arguments`; the graph
    takes the parameters alone, ``g(x, *parameters)``). With ``local=False`` (the default)
    the graph holds for every input and branching on symbolic values raises
    :class:`~symasd.errors.TracingError`; with ``local=True`` comparisons,
    ``where``, ``maximum``, ``minimum`` and Python ``if`` are resolved at
    ``x0`` and the graph is only valid where those choices stay the same.
    ``share=False`` skips hash-consing (identical subexpressions are not
    merged): the graph is larger but built faster, which is what the
    sparsity functions use, since patterns do not depend on sharing.

    Example
    -------
    >>> import numpy as np, symasd
    >>> g = symasd.trace(lambda x: np.diff(x, 3), np.zeros(10))
    >>> g.input_shape, g.output_shape
    ((10,), (7,))
    """
    return trace_into(None, f, x0, *p0, local=local, share=share)


#: Nodes per input reserved up front for a trace: traced programs have 4 to 30
#: (Luksan-Vlcek's objective and constraints 26), and growing the node arrays
#: copies them into fresh memory (a fifth of the trace's time there). Reserved
#: memory that is never written costs no physical memory.
_NODES_PER_INPUT = 32
_MAX_RESERVED_NODES = 1 << 28


def _initial_capacity(n_inputs: int) -> int:
    return min(_NODES_PER_INPUT * n_inputs, _MAX_RESERVED_NODES) + 4096


def trace_into(table, f: Callable, x0: np.ndarray, *p0: np.ndarray, local: bool = False,
               share: bool = True, structural: bool = False,
               extend: Callable | None = None) -> Graph:
    """:func:`trace` building in ``table``, an empty ``symasd._dag.NodeTable``
    (or a new one if None). The graph views the table's storage: it is valid
    until the table is reset. ``structural=True``: a graph for sparsity
    patterns only (see :class:`~symasd.graph.Builder`).

    ``extend(builder, ids)``, if given, appends nodes to the trace before it is
    frozen: it receives the builder and the flat ids of ``f``'s outputs, and
    returns the graph's output ids and the shapes of the parameters it added
    (with ``builder.parameters``, after ``p0``'s)."""
    if not callable(f):
        raise InputError(f"f must be a function of x (and the parameters), got "
                         f"{type(f).__name__}")
    x0 = _check_point(x0, "x0")
    for i, p in enumerate(p0):
        if isinstance(p, SymArray):
            raise InputError(f"p0[{i}] must be a numeric NumPy array, not a symbolic array")
    arguments = Arguments.of(p0)
    params = [_check_point(p, f"p0[{i}]") for i, p in zip(
        (i for i, k in enumerate(arguments.kinds) if k == "parameter"), arguments.split(p0),
        strict=True)]
    if local:
        for arr, what in ((x0, "x0"), *((p, f"p0[{i}]") for i, p in enumerate(params))):
            validation.finite(arr, what, "local tracing")
    builder = Builder(local=local, capacity=_initial_capacity(x0.size), share=share,
                      table=table, structural=structural)
    x = SymArray(builder.variables(x0).reshape(x0.shape), builder)
    syms = []
    if params:
        pids = builder.parameters(np.concatenate([p.ravel() for p in params]))
        offsets = np.cumsum([0] + [p.size for p in params])
        syms = [SymArray(pids[offsets[i]:offsets[i + 1]].reshape(p.shape), builder)
                for i, p in enumerate(params)]
    out = _call_traced(f, x, *arguments.merge(syms))
    ids = _output_ids(out, builder)
    shapes = [p.shape for p in params]
    if extend is not None:
        ids, added = extend(builder, ids.ravel())
        ids = np.asarray(ids, dtype=np.int64)
        shapes += [tuple(s) for s in added]
    return builder.finish(ids.ravel(), x0.shape, ids.shape, shapes)


def symbols(name: str, shape: int | Sequence[int]) -> SymArray:
    """A fresh symbolic input array, to write a model directly.

    Build expressions with NumPy and freeze them with :func:`graph_from`.

    Example
    -------
    >>> import numpy as np, symasd
    >>> x = symasd.symbols("x", 3)
    >>> g = symasd.graph_from(x, np.exp(x) * x.sum())
    >>> g.n_inputs, g.n_outputs
    (3, 3)
    """
    shape = validation.shape(shape, "symbols' shape")
    builder = Builder()
    point = np.zeros(shape)
    return SymArray(builder.variables(point).reshape(shape), builder)


def graph_from(inputs: SymArray, outputs) -> Graph:
    """Freeze expressions built on ``inputs`` (from :func:`symbols`) into a Graph.

    Example
    -------
    >>> import numpy as np, symasd
    >>> x = symasd.symbols("x", 2)
    >>> g = symasd.graph_from(x, x[0] * x[1])
    >>> float(g(np.array([2.0, 3.0])))
    6.0
    """
    if not isinstance(inputs, SymArray):
        raise InputError("graph_from needs the SymArray returned by symasd.symbols")
    op, _, _, _, c = inputs._b.arrays()
    ids = inputs._ids.ravel()
    # every input of the builder, in order: a part of the array (x[:2]) would leave
    # inputs the outputs read out of the graph's input vector
    if not (np.all(op[ids] == Code.VAR) and np.array_equal(c[ids], np.arange(ids.size))
            and np.count_nonzero(op == Code.VAR) == ids.size):
        raise InputError("graph_from: `inputs` must be the whole, unmodified array that "
                         "symasd.symbols returned (not a part, a reshaped copy or an "
                         "expression of it)")
    out = _output_ids(outputs, inputs._b)
    return inputs._b.finish(out.ravel(), inputs.shape, out.shape)
