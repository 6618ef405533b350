"""What every solver does before it starts: check the starting point, split
SciPy-style ``args``, trace the user's NumPy function, choose the engine.

SciPy passes ``args`` after ``x`` (``fun(x, *args)``). symasd splits them the
way its public contract says:

* **float arrays** (any shape, 0-d included) are *parameters*: traced as inputs
  that are not differentiated and passed again at each evaluation, so one
  preparation serves new values (a parameter sweep, model-predictive control);
* **everything else** (Python numbers, integer and boolean arrays, strings,
  objects) is *static data*: bound into the traced function as it is. A later
  solve of the same prepared problem must pass the same static values, which
  is checked (changing a static value would need a new trace; pass the value as
  a float array to vary it).

The engine: ``engine="auto"`` is the tape (numeric compressed sweeps) for a
one-off solve, and symasd's own ``engine="auto"`` (:mod:`symasd.tiering`) for
a prepared problem object that is solved again: its derivatives start on the
tape and are compiled at the call after which their tape calls have cost
what compiling is estimated to. One IPOPT or Newton solve evaluates them 5 to
50 times, too few for a compile to pay back (on the Luksan-Vlcek problem,
after roughly 70 evaluations at n = 10^3, 170 at 10^4 and 330 at 10^5:
``benchmarks/solvers.py``); a problem solved again, in a parameter sweep or a
model-predictive controller, reaches the point where it does, and its first
solve does not wait for a compile that may never pay (6 s at n = 10^5).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np

from .. import _validation as validation
from ..errors import InputError, SymasdError, TracingError
from ..tracing import SymArray

__all__ = ["Arguments", "check_x0", "tolerance", "resolve_engine", "tracing", "traced_array",
           "scipy_call", "Stopwatch"]

ENGINES = ("auto", "vm", "tape")


def check_x0(x0, what: str = "x0") -> np.ndarray:
    """A starting point: a non-empty, finite float64 array (a copy). Integers (and
    booleans) are converted, as SciPy's solvers convert them.

    Example
    -------
    >>> from symasd.solvers.prepare import check_x0
    >>> check_x0([1, 2])
    array([1., 2.])
    """
    if np.asarray(x0).dtype.kind in "iub":
        x0 = np.asarray(x0, dtype=np.float64)
    x = np.array(validation.point(x0, what), dtype=np.float64)
    if x.size == 0:
        raise InputError(f"{what} is empty; the solver needs at least one unknown")
    if not np.isfinite(x).all():
        raise InputError(f"{what} contains NaN or inf; the solver needs a finite starting "
                         "point")
    return x


def tolerance(value, what: str = "tol") -> float:
    """A tolerance: a real number >= 0 (a float).

    Example
    -------
    >>> from symasd.solvers.prepare import tolerance
    >>> tolerance(1e-8)
    1e-08
    """
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value[()]   # a 0-d array, as SciPy takes it
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InputError(f"{what} must be a number >= 0, got {value!r}")
    if not value >= 0:
        raise InputError(f"{what} must be a number >= 0, got {value!r}")
    return float(value)


def resolve_engine(engine: str, reuse: bool) -> str:
    """The engine of the prepared derivatives: ``engine`` unless it is ``"auto"``,
    then ``"auto"`` (tape first, compiled once the calls pay:
    :mod:`symasd.tiering`) for a problem solved again (``reuse``) and ``"tape"``
    for a one-off solve (see the module docstring for why).

    Example
    -------
    >>> from symasd.solvers.prepare import resolve_engine
    >>> resolve_engine("auto", reuse=False), resolve_engine("auto", reuse=True)
    ('tape', 'auto')
    """
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine != "auto":
        return engine
    return "auto" if reuse else "tape"


def _same(a, b) -> bool:
    """Whether two static arguments are the same value (by identity, or equal
    arrays of one dtype, or ``==`` where it gives a plain truth value)."""
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                and a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b)))
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # an object whose == raises or is ambiguous: not provably the same
        return False


def _is_parameter(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind in "fc"


class Arguments:
    """SciPy-style ``args``, split into parameters (float arrays) and static data.

    Example
    -------
    >>> import numpy as np
    >>> from symasd.solvers.prepare import Arguments
    >>> a = Arguments((np.array([2.0]), 3))
    >>> a.param_positions, a.static
    ([0], {1: 3})
    >>> a.full([np.array([5.0])])
    [array([5.]), 3]
    >>> a.parameters((np.array([7.0]), 3))
    (array([7.]),)
    """

    def __init__(self, args, what: str = "args"):
        self.what = what
        self.values = _as_tuple(args, what)
        self.param_positions = [i for i, a in enumerate(self.values) if _is_parameter(a)]
        self.static = {i: a for i, a in enumerate(self.values) if not _is_parameter(a)}
        self.param_shapes = [self.values[i].shape for i in self.param_positions]
        self.initial = self.parameters(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def full(self, params: Sequence) -> list:
        """The argument list for ``fun``: the static values with ``params`` (symbolic
        while tracing, numbers otherwise) at the parameters' places, each in the
        shape it was given (symasd holds a 0-d parameter as shape (1,))."""
        out = list(self.values)
        for i, p, shape in zip(self.param_positions, params, self.param_shapes, strict=True):
            out[i] = p if p.shape == shape else p.reshape(shape)
        return out

    def parameters(self, args) -> tuple[np.ndarray, ...]:
        """The parameter arrays of a new ``args`` for the same preparation, checked:
        as many arguments, parameters of the same shapes, the same static values."""
        args = _as_tuple(args, self.what)
        if len(args) != len(self.values):
            raise InputError(f"{self.what} has {len(args)} entries, but the problem was "
                             f"prepared with {len(self.values)}; pass the same arguments "
                             "with new values")
        params = []
        for k, i in enumerate(self.param_positions):
            if not _is_parameter(args[i]):
                raise InputError(f"{self.what}[{i}] was a float array (a parameter) when the "
                                 f"problem was prepared, got {type(args[i]).__name__}; pass a "
                                 "float array of the same shape")
            params.append(validation.point(args[i], f"{self.what}[{i}]",
                                           tuple(self.param_shapes[k])))
        for i, value in self.static.items():
            if not _same(args[i], value):
                raise InputError(
                    f"{self.what}[{i}] differs from the value the problem was prepared with; "
                    "Python numbers, integer and boolean arrays and other objects are static "
                    "data, fixed when the function is traced: prepare the problem again, or "
                    "pass the value as a float array to vary it between solves")
        return tuple(params)


def _as_tuple(args, what: str) -> tuple:
    if args is None:
        return ()
    if isinstance(args, tuple):
        return args
    if isinstance(args, list):
        return tuple(args)
    raise InputError(f"{what} must be a tuple of extra arguments, got {type(args).__name__} "
                     "(wrap a single argument as (a,))")


_PARAMETER_HINT = (" (float arrays in args are traced as parameters, symbolic like x; "
                   "data that must stay plain numbers can be bound with a closure or "
                   "functools.partial)")


@contextmanager
def tracing(what: str, shape: tuple[int, ...], arguments: Arguments | None = None):
    """Turn an error raised while tracing ``what`` into a symasd error that names it
    (and, with ``arguments`` that hold parameters, says that they were symbolic).

    Example
    -------
    >>> from symasd.solvers.prepare import tracing
    >>> with tracing("fun", (3,)):
    ...     [1, 2][5]
    Traceback (most recent call last):
    ...
    symasd.errors.TracingError: fun raised IndexError while symasd traced it with x of shape
    (3,): list index out of range; check that x0 has the shape fun expects
    """
    hint = _PARAMETER_HINT if arguments is not None and arguments.param_positions else ""
    try:
        yield
    except SymasdError as err:
        raise type(err)(f"{what}: {err}" + (hint if isinstance(err, TracingError) else "")
                        ) from err
    except Exception as err:
        raise TracingError(f"{what} raised {type(err).__name__} while symasd traced it with "
                           f"x of shape {shape}: {err}; check that x0 has the shape {what} "
                           "expects" + hint) from err


def traced_array(out):
    """``out``, what a traced function returned, if it is an array (symbolic or
    numeric) or a number; else a TracingError (raise it inside :func:`tracing`,
    which names the function).

    Example
    -------
    >>> import numpy as np
    >>> from symasd.solvers.prepare import traced_array
    >>> traced_array(np.ones(2))
    array([1., 1.])
    """
    if isinstance(out, SymArray):
        return out
    if isinstance(out, list | tuple):
        raise TracingError(f"it returned a {type(out).__name__}; return an array (combine "
                           "the pieces with np.stack or np.concatenate)")
    items = np.asarray(out).ravel() if out is not None else np.array([None])
    # np.array([...]) of symbolic pieces and numbers is an object array the tracer takes
    bad = next((v for v in items if not isinstance(v, SymArray | int | float | np.number)),
               None) if items.dtype == object else None
    if out is None or bad is not None:
        what = type(out).__name__ if out is None else f"an array holding {type(bad).__name__}"
        raise TracingError(f"it returned {what}; it must return an array (or a number) "
                           "computed from x")
    return out


@contextmanager
def scipy_call(name: str):
    """Report a ``ValueError`` that SciPy raises for an argument passed through
    (``x_scale``, ``t_eval`` ...) as an :class:`~symasd.errors.InputError` naming
    the SciPy function; symasd's own errors pass unchanged.

    Example
    -------
    >>> from symasd.solvers.prepare import scipy_call
    >>> with scipy_call("scipy.integrate.solve_ivp"):
    ...     raise ValueError("Values in `t_eval` are not within `t_span`.")
    Traceback (most recent call last):
    ...
    symasd.errors.InputError: scipy.integrate.solve_ivp rejected an argument: Values in
    `t_eval` are not within `t_span`.
    """
    try:
        yield
    except SymasdError:
        raise
    except ValueError as err:
        raise InputError(f"{name} rejected an argument: {err}") from err


def function(value, what: str) -> Callable:
    """``value`` if it is callable, else an :class:`~symasd.errors.InputError`."""
    if not callable(value):
        raise InputError(f"{what} must be a function written with NumPy, got "
                         f"{type(value).__name__}")
    return value


class Stopwatch:
    """Seconds spent in named phases (``prepare``, ``solve``).

    Example
    -------
    >>> from symasd.solvers.prepare import Stopwatch
    >>> w = Stopwatch()
    >>> with w("prepare"):
    ...     pass
    >>> sorted(w.seconds)
    ['prepare']
    """

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0
