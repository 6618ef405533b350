"""``symasd export``: a function named on the command line, as a generated module.

:func:`export_function` finds ``MODULE:FUNCTION`` (MODULE an importable name
or a path to a ``.py`` file), traces it at a point of the given shape,
prepares its sparse Jacobian (or Hessian) and returns the module's source.
Every mistake a user can make on the command line is a
:class:`~symasd.errors.CommandError` whose message fits on one line; the
command (:mod:`symasd.cli`) prints it and exits non-zero.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable

import numpy as np

from ._system import available_memory
from .api import hessian, jacobian
from .codegen import BACKENDS
from .errors import CommandError, SymasdError

__all__ = ["parse_shape", "load_function", "export_function"]


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def parse_shape(text: str) -> tuple[int, ...]:
    """``"N[,M...]"`` as a shape of positive integers.

    Example
    -------
    >>> parse_shape("32,2")
    (32, 2)
    """
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(s <= 0 for s in shape):
        raise CommandError(f"--shape takes positive integers separated by commas (N or "
                           f"N,M,...), got {text!r}")
    return shape


def load_function(target: str) -> Callable:
    """The function ``FUNCTION`` of ``MODULE`` for ``target = "MODULE:FUNCTION"``.

    Example
    -------
    >>> load_function("numpy:sin")
    <ufunc 'sin'>
    """
    module_name, sep, function_name = target.rpartition(":")
    if not sep or not module_name or not function_name:
        raise CommandError(f"expected MODULE:FUNCTION (a module name or a .py file, a colon, "
                           f"a function name), got {target!r}")
    if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
        if not os.path.isfile(module_name):
            raise CommandError(f"no such file: {module_name}")
        name = os.path.splitext(os.path.basename(module_name))[0]
        folder = os.path.dirname(os.path.abspath(module_name))
        sys.path.insert(0, folder)  # so that the file imports its neighbours
        try:
            spec = importlib.util.spec_from_file_location(name, module_name)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as err:  # a script that exits at import, too
            raise CommandError(f"cannot import {module_name}: {type(err).__name__}: "
                               f"{_one_line(err)}") from err
        finally:
            sys.path.remove(folder)
    else:
        sys.path.insert(0, os.getcwd())  # as `python -m` does
        try:
            module = importlib.import_module(module_name)
        except (Exception, SystemExit) as err:
            raise CommandError(f"cannot import module {module_name!r}: "
                               f"{type(err).__name__}: {_one_line(err)}") from err
        finally:
            sys.path.remove(os.getcwd())
    function = getattr(module, function_name, None)
    if not callable(function):
        raise CommandError(f"module {module_name!r} has no function {function_name!r}")
    return function


def export_function(target: str, shape: tuple[int, ...], hessian_of: bool = False,
                    backend: str = "numpy", command: str | None = None) -> str:
    """The generated module of the sparse Jacobian (or, with ``hessian_of``, the
    Hessian) of ``target``'s function at inputs of ``shape``. ``command`` is
    recorded in the module's header.

    Example
    -------
    >>> src = export_function("numpy:sin", (4,))
    >>> "def jacobian_data(x, *p, out=None):" in src
    True
    """
    if backend not in BACKENDS:
        raise CommandError(f"--backend is one of {', '.join(BACKENDS)}, got {backend!r}")
    function = load_function(target)
    name = target.rpartition(":")[2]
    _check_takes_x_alone(function, name)
    prepare = hessian if hessian_of else jacobian
    x0 = _zeros(shape)
    try:
        prepared = prepare(function, x0)
    except SymasdError as err:
        raise CommandError(f"cannot trace {name} at shape {shape}: {_one_line(err)}") from err
    except (Exception, SystemExit) as err:
        raise CommandError(f"cannot trace {name} at shape {shape}: {type(err).__name__} in "
                           f"the function: {_one_line(err)}") from err
    source = prepared.to_source(backend, made_by=command)
    compile(source, "<generated module>", "exec")  # a SyntaxError here is our bug, not theirs
    return source


def _check_takes_x_alone(function: Callable, name: str) -> None:
    """The command traces ``function(x)``: a function that needs more arguments
    (parameters) is refused with what to do instead, before it is called.
    Functions without a Python signature (NumPy's ufuncs) are left to the trace."""
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p.name for p in params if p.default is inspect.Parameter.empty
                and p.kind in (*positional, inspect.Parameter.KEYWORD_ONLY)]
    if len(required) > 1:
        raise CommandError(
            f"{name} takes {', '.join(required)}, but symasd export traces {name}(x) alone: "
            f"export a function of x alone (one that fixes {', '.join(required[1:])}), or "
            "call symasd.jacobian(f, x0, *p0).export(path) in Python, which keeps the "
            "arrays after x0 as the module's parameters")


def _zeros(shape: tuple[int, ...]) -> np.ndarray:
    """The traced point: float64 zeros of ``shape``, if the machine can hold them
    (a bigger ``--shape`` is the command's mistake, not the function's)."""
    size = int(np.prod(shape, dtype=object))
    available = available_memory()
    if available is not None and 8 * size > available:
        raise CommandError(f"--shape {','.join(map(str, shape))} asks for {size} inputs, "
                           f"{8 * size / 1e9:.3g} GB as float64, more than the "
                           f"{available / 1e9:.3g} GB of memory available")
    try:
        return np.zeros(shape)
    except (ValueError, MemoryError) as err:
        raise CommandError(f"--shape {','.join(map(str, shape))}: {_one_line(err)}") from err
