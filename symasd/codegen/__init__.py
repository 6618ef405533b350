"""Code generation: derivative DAGs as standalone vectorized NumPy or CuPy modules.

The pipeline's last backend, in dependency order:

* :mod:`~symasd.codegen.schedule`: the IR, a graph cut into one vectorized
  statement per run of nodes, with the operands' gathers as slices or index
  constants;
* :mod:`~symasd.codegen.constants`: index and value arrays, stored compactly
  as text in the module;
* :mod:`~symasd.codegen.printers`: NumPy and CuPy printers, one method per op;
* :mod:`~symasd.codegen.module`: the whole module (structure, functions,
  validation) for a prepared Jacobian or Hessian, loaded in memory or
  written atomically.

The prepared objects expose it as ``to_source``, ``export`` and the engines
``"numpy"`` and ``"cupy"``; the command line as ``symasd export``.
"""

from .module import BACKENDS, ModuleSpec, load_module, module_source, write_atomically

__all__ = ["BACKENDS", "ModuleSpec", "load_module", "module_source", "write_atomically"]
