"""Exception types raised by symasd.

Every error symasd raises on purpose derives from :class:`SymasdError`, so a
caller can catch them all at once, and each one also derives from the builtin
exception a NumPy user would expect (``TypeError`` or ``ValueError``).
"""


class SymasdError(Exception):
    """Base class of every symasd error."""


class TracingError(SymasdError, TypeError):
    """A function cannot be traced into an expression graph.

    Raised for unsupported NumPy functions, Python control flow on symbolic
    values, storing symbolic values into plain NumPy arrays and outputs that
    are not arrays.
    """


class InputError(SymasdError, ValueError):
    """An argument has the wrong shape, dtype or value (for example a complex
    or integer point, or a pattern that is not two-dimensional)."""


class KernelsMissingError(SymasdError, ImportError):
    """The compiled kernels (``symasd._sweeps`` and the others) cannot be found,
    typically because Python runs in symasd's source tree, which has not been
    built in place; the message says how to fix it."""


class MissingRuleError(SymasdError, LookupError):
    """An op of the graph has no rule for a pass (a SymPy form, say): the op
    table (``symasd/ops.py``) lacks it. The message names the op and the pass."""


class CommandError(SymasdError, ValueError):
    """A command-line request cannot be carried out (a missing file, module or
    function, a bad ``--shape``); the ``symasd`` command prints the message on
    one line and exits with status 2."""


class MissingDependencyError(SymasdError, ImportError):
    """An optional feature needs a package that is not installed (IPOPT through
    cyipopt for ``minimize(method="ipopt")``, Dask for ensembles); the message
    names the install command."""
