"""Check, before anything imports them, that the compiled kernels are there.

Python puts the current folder first on ``sys.path``, so ``python`` started in
symasd's source tree imports the source folder ``symasd/``, which holds no
compiled modules unless they were built in place, instead of the installed
package. Without this check the first ``from . import _coloring`` then fails
with a misleading "partially initialized module (most likely due to a circular
import)" message.
"""

from importlib.util import find_spec
from pathlib import Path

from .errors import KernelsMissingError

#: the modules built from ``cysrc/*.pyx`` (and Cython's shared helpers)
COMPILED_MODULES = ("_coloring", "_cyutility", "_dag", "_decompress", "_ordering", "_pattern",
                    "_sweeps", "_vm")


def require_compiled_kernels() -> None:
    """Raise :class:`KernelsMissingError` saying what to do if a kernel is missing."""
    missing = [name for name in COMPILED_MODULES if find_spec(f"symasd.{name}") is None]
    if not missing:
        return
    package = Path(__file__).resolve().parent
    root = package.parent
    names = ", ".join(f"symasd.{name}" for name in missing)
    if (root / "setup.py").is_file() and (root / "cysrc").is_dir():
        raise KernelsMissingError(
            f"symasd was imported from its source tree ({package}), where its compiled "
            f"kernels ({names}) have not been built, instead of from the installed package. "
            f"Either start Python from another folder (the package that `pip install .` "
            f"installed then imports), or build the kernels in place: "
            f"`pip install -v -e .` in {root}.")
    raise KernelsMissingError(
        f"symasd's compiled kernels ({names}) are missing from {package}: the installation "
        f"is incomplete. Reinstall it, for example with "
        f"`pip install --force-reinstall --no-deps -v .` in symasd's source tree.")


require_compiled_kernels()
