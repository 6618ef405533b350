"""Every example in the public docstrings runs and prints what it shows."""

import doctest
import importlib
import inspect
import pkgutil

import pytest

import symasd

# every public module, those of subpackages (symasd.solvers.*) included
MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(symasd.__path__, "symasd.")
    if not any(part.startswith("_") for part in name.split("."))
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_public_functions_have_examples():
    missing = [name for name in symasd.__all__
               if callable(getattr(symasd, name)) and not isinstance(getattr(symasd, name), type)
               and ">>>" not in (getattr(symasd, name).__doc__ or "")]
    assert missing == []


@pytest.mark.parametrize("name", MODULES)
def test_module_functions_have_examples(name):
    """Each function a module lists in ``__all__`` shows an example."""
    module = importlib.import_module(name)
    missing = {f for f in getattr(module, "__all__", ())
               if inspect.isfunction(getattr(module, f))
               and ">>>" not in (getattr(module, f).__doc__ or "")}
    assert missing == set()
