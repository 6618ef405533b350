"""Build the Cython kernels in ``cysrc/`` as private modules ``symasd._<name>``.

The build is arranged to take well under a minute on two cores:

* the code Cython writes into every module for typed memoryviews (about
  0.8 MB of C each) goes once into a shared module, ``symasd._cyutility``;
* the ``.pyx`` files are translated and the C files compiled in parallel, one
  job per core, the largest module first so that it does not finish last;
* no debug information (``-g0``): it triples the compile time of the
  generated C and nobody steps through it.

``-ffp-contract=off`` keeps ``a * b + c`` two roundings on every CPU, so the
virtual machine, the tape sweeps and NumPy agree wherever they do the same
arithmetic, whether or not the compiler could fuse it into an FMA.
"""

import os
import sys
import time
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
# the cores this process may use (a container may see more than it is given)
JOBS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
# every .pyx includes from these: listed as dependencies, they trigger rebuilds and
# travel in an sdist
INCLUDES = sorted(str(p.relative_to(HERE)) for pattern in ("*.pxi", "*.h")
                  for p in (HERE / "cysrc").glob(pattern))
SHARED = "symasd._cyutility"
COMPILE_ARGS = ["-O3", "-g0", "-ffp-contract=off"]


def _extension(name: str, sources: list[str]) -> Extension:
    return Extension(
        name,
        sources,
        include_dirs=[np.get_include(), "cysrc"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=COMPILE_ARGS,
        depends=INCLUDES,
    )


PYX = sorted((HERE / "cysrc").glob("*.pyx"))
EXTENSIONS = [_extension(f"symasd._{p.stem}", [str(p.relative_to(HERE))]) for p in PYX]
EXTENSIONS.append(_extension(SHARED, ["cysrc/_cyutility.c"]))


class ParallelBuildExt(build_ext):
    """``build_ext`` that translates and compiles one module per core and
    reports each one as it finishes (``pip install -v .`` shows the lines)."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:
            self.parallel = JOBS

    def run(self) -> None:
        # translated here rather than at import, so pip's metadata steps stay quick
        self._started = time.perf_counter()
        self._done = 0
        _report(f"translating {len(PYX)} Cython modules to C with {JOBS} job(s)")
        translated = cythonize(
            self.extensions,
            include_path=["cysrc"],
            nthreads=JOBS,
            shared_utility_qualified_name=SHARED,
            compiler_directives={
                "language_level": 3,
                "boundscheck": False,
                "wraparound": False,
                "initializedcheck": False,
                "cdivision": True,
            },
        )
        sources = {ext.name: ext.sources for ext in translated}
        for ext in self.extensions:
            ext.sources = sources[ext.name]
        # largest C file first: the parallel compile starts the longest job at once
        self.extensions.sort(key=lambda ext: -os.path.getsize(ext.sources[0]))
        _report(f"compiling {len(self.extensions)} C modules with {self.parallel} job(s)")
        super().run()

    def build_extension(self, ext: Extension) -> None:
        t0 = time.perf_counter()
        super().build_extension(ext)
        self._done += 1
        now = time.perf_counter()
        _report(f"[{self._done}/{len(self.extensions)}] {ext.name} compiled in {now - t0:.0f} s "
                f"({now - self._started:.0f} s since the build started)")


def _report(message: str) -> None:
    print(f"symasd build: {message}", file=sys.stderr, flush=True)


setup(cmdclass={"build_ext": ParallelBuildExt}, ext_modules=EXTENSIONS)
