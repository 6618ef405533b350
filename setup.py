"""Build the Cython kernels in ``cysrc/`` as private modules ``symasd._<name>``."""

from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
EXTENSIONS = [
    Extension(
        f"symasd._{pyx.stem}",
        [str(pyx.relative_to(HERE))],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    )
    for pyx in sorted((HERE / "cysrc").glob("*.pyx"))
]

setup(
    ext_modules=cythonize(
        EXTENSIONS,
        include_path=["cysrc"],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
        },
    )
)
