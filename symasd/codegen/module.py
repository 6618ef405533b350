"""Standalone modules: a prepared derivative as importable NumPy or CuPy source.

:func:`module_source` prints, for a compiled Jacobian or Hessian, a module
that imports only NumPy and SciPy (backend ``"numpy"``) or CuPy (``"cupy"``)
and provides the names of ``../shared/API.md`` ("Code generation and
export"): the structure (``SHAPE``, ``NNZ``, ``INDPTR``, ``INDICES``, the input,
parameter and output shapes) and the functions ``f``, ``jacobian_data``,
``jacobian``, ``value_and_jacobian`` (Hessians: ``f``, ``gradient``,
``hessian_data``, ``hessian``, ``value_gradient_and_hessian``). The code
comes first, one statement per run of the derivative DAG
(:mod:`~symasd.codegen.schedule`); the compressed index constants
(:mod:`~symasd.codegen.constants`) close the module.

:func:`load_module` turns such source into a module object without writing a
file (the ``engine="numpy"`` and ``"cupy"`` of the prepared objects), and
:func:`write_atomically` writes it to a path (temporary file, then rename).
"""

from __future__ import annotations

import itertools
import keyword
import linecache
import os
import re
import tempfile
import types
from dataclasses import dataclass

import numpy as np

from .._version import __version__
from ..compiler import CompiledDerivative
from ..errors import InputError
from .constants import DECODER, ConstantPool
from .printers import PRINTERS
from .schedule import build_program

__all__ = ["ModuleSpec", "module_source", "load_module", "write_atomically"]

BACKENDS = tuple(PRINTERS)


@dataclass(frozen=True)
class ModuleSpec:
    """What a generated module computes: a compiled derivative and its structure.

    ``kind`` is ``"jacobian"`` or ``"hessian"``; ``name`` the model's function
    name; ``summary`` lines describing mode and coloring; ``made_by`` the call
    or command that made the module (for its header)."""

    kind: str
    name: str
    compiled: CompiledDerivative
    shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray
    input_shape: tuple[int, ...]
    param_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...]
    summary: tuple[str, ...]
    made_by: str


_HELPERS = '''\
def _array(a, what):
    a = {xp}.asarray(a)
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{{what}} must be a real float array, got dtype {{a.dtype}}")
    return a.astype({xp}.float64, copy=False)


def _lead(a, shape, what):
    """The batch axes of a (those before shape), or a ValueError saying the shape."""
    k = len(shape)
    if a.ndim < k or tuple(a.shape[a.ndim - k:]) != shape:
        raise ValueError(f"{{what}} has shape {{tuple(a.shape)}}; expected (..., "
                         f"{{', '.join(map(str, shape))}}): {{shape}} after any batch axes")
    return tuple(a.shape[:a.ndim - k])


def _inputs(x, p):
    """x as (N_INPUTS, *batch), the parameters flat and stacked as (N_PARAMS, *batch),
    the batch shape they broadcast to, and the index that lifts a constant vector to
    (size, 1, ...): the node axis comes first, so that slices and gathers are rows."""
    x = _array(x, "x")
    batch = _lead(x, INPUT_SHAPE, "x")
    if len(p) != len(PARAM_SHAPES):
        raise ValueError(f"expected {{len(PARAM_SHAPES)}} parameter arrays after x "
                         f"(shapes {{PARAM_SHAPES}}), got {{len(p)}}")
    p = [_array(v, f"parameter {{i}}") for i, v in enumerate(p)]
    leads = [_lead(v, s, f"parameter {{i}}") for i, (v, s) in enumerate(zip(p, PARAM_SHAPES))]
    try:
        batch = np.broadcast_shapes(batch, *leads)
    except ValueError:
        raise ValueError(f"the batch axes of x {{batch}} and of the parameters {{leads}} do "
                         "not broadcast") from None
    x = _rows(x, batch, INPUT_SHAPE)
    p = _cat([_rows(v, batch, s) for v, s in zip(p, PARAM_SHAPES)], batch) if p else None
    return x, p, batch, (slice(None),) + (None,) * len(batch)


def _rows(a, batch, shape):
    \"\"\"a, of shape (*lead, *shape), as (size of shape, 1, ..., *lead): the values on the
    first axis, the batch axes aligned with batch (contiguous rows where it has them).\"\"\"
    lead = tuple(a.shape[:a.ndim - len(shape)])
    size = int(np.prod(shape, dtype=np.int64))
    rows = {xp}.moveaxis(a.reshape(lead + (size,)), -1, 0)
    if lead and not rows.flags.c_contiguous:
        rows = _node_major(a.reshape(-1, size)).reshape((size,) + lead)
    return rows.reshape((size,) + (1,) * (len(batch) - len(lead)) + lead)


def _point(x, p):
    """One point (no batch axes), as the sparse-matrix functions take."""
    if tuple(np.shape(x)) != INPUT_SHAPE:
        raise ValueError(f"x has shape {{tuple(np.shape(x))}}; expected INPUT_SHAPE "
                         f"{{INPUT_SHAPE}} (one point: use the _data function for batches)")
    for i, (v, shape) in enumerate(zip(p, PARAM_SHAPES)):
        if tuple(np.shape(v)) != shape:
            raise ValueError(f"parameter {{i}} has shape {{tuple(np.shape(v))}}; expected "
                             f"{{shape}} (one point: use the _data function for batches)")


def _as_row(value, batch):
    """A scalar as one row of points (value where there are none): a strided or indexed
    store of a row is a copy per row, of a scalar an element-by-element fill."""
    return {xp}.full(batch, value) if batch else value


def _cat(parts, batch):
    """Concatenate along the node axis, broadcasting the batch axes."""
    return {xp}.concatenate([{xp}.broadcast_to(a, a.shape[:1] + batch) for a in parts], axis=0)


{run}
{node_major}
def _flat(a, batch, count):
    """(size, *batch) (a's batch axes may broadcast) as (size, count)."""
    if tuple(a.shape[1:]) != batch:
        a = {xp}.ascontiguousarray({xp}.broadcast_to(a, a.shape[:1] + batch))
    return a.reshape(a.shape[0], count)

'''

_SHAPED = '''\
def _tile(dest, block):
    """Fill dest (size, *batch) with block (whole periods of a constant that repeats)
    repeated along the first axis: a copy of a block in cache, not of a long constant."""
    size, width = dest.shape[0], block.shape[0]
    whole = size - size % width
    if whole:
        dest[:whole].reshape((whole // width, width) + dest.shape[1:])[...] = block
    dest[whole:] = block[:size - whole]


def _shaped(result, shape):
    """(*batch, size) as (*batch, *shape)."""
    return result.reshape(result.shape[:-1] + shape)

'''

_NUMPY_RUN = '''\
def _run(kernel, size, x, p, out):
    """Run kernel, which writes the size outputs of a chunk of points into dest (an
    array (size, *chunk): the node axis first, so that every gather and every store
    moves whole rows of points), over all points; return the outputs as (*batch, size),
    a transposed view of that layout. out: an array returned by an earlier call with
    the same batch shape, to write into instead of a new one."""
    x, p, batch, col = _inputs(x, p)
    if out is None:
        buf = np.empty((size,) + batch)
    else:
        buf = np.moveaxis(out, -1, 0) if batch else out
        if (tuple(buf.shape) != (size,) + batch or buf.dtype != np.float64
                or not buf.flags.c_contiguous):
            raise ValueError(f"out must be an array that an earlier call with batch shape "
                             f"{batch} returned: shape {batch + (size,)} in the node-major "
                             "layout the functions return (a transposed view of a C-ordered "
                             f"{(size,) + batch} array)")
    if not batch:
        kernel(x, p, (), col, buf)
        return buf
    count = int(np.prod(batch, dtype=np.int64))
    x = _flat(x, batch, count)
    p = None if p is None else _flat(p, batch, count)
    dest = buf.reshape(size, count)
    col = (slice(None), None)
    for start in range(0, count, _CHUNK):
        stop = min(count, start + _CHUNK)
        kernel(x[:, start:stop], None if p is None else p[:, start:stop], (stop - start,),
               col, dest[:, start:stop])
    return np.moveaxis(buf, 0, -1) if out is None else out


'''

_CUPY_RUN = '''\
def _run(kernel, size, x, p, out):
    """Run kernel (which writes the size outputs into dest, an array (size, *batch)) on
    all points at once, and return the outputs as (*batch, size) (a transposed view: the
    kernels write whole rows of points, which the GPU coalesces), or in out."""
    x, p, batch, col = _inputs(x, p)
    dest = cp.empty((size,) + batch)
    kernel(x, p, batch, col, dest)
    result = cp.moveaxis(dest, 0, -1)
    if out is None:
        return result
    if tuple(out.shape) != batch + (size,) or out.dtype != cp.float64:
        raise ValueError(f"out must be a float64 array of shape {batch + (size,)}, got "
                         f"{out.dtype} {tuple(out.shape)}")
    out[...] = result
    return out

'''

_NUMPY_NODE_MAJOR = '''\
def _node_major(a):
    """a, (count, size), copied to a C-ordered (size, count): a few points at a time,
    whose rows stay in cache (a plain copy of the transpose reads with a stride of
    size and runs several times slower)."""
    count, size = a.shape
    out = np.empty((size, count))
    step = max(8, 32768 // max(size, 1))
    for start in range(0, count, step):
        out[:, start:start + step] = a[start:start + step].T
    return out

'''

_CUPY_NODE_MAJOR = '''\
def _node_major(a):
    """a, (count, size), copied to a C-ordered (size, count)."""
    return cp.ascontiguousarray(a.T)

'''

_NUMPY_MATRIX = '''\
def _matrix(data):
    import scipy.sparse

    return scipy.sparse.csr_array((data, INDICES, INDPTR), shape=SHAPE)

'''

_CUPY_MATRIX = '''\
def _matrix(data):
    import cupyx.scipy.sparse

    return cupyx.scipy.sparse.csr_matrix((data, _INDICES_DEVICE, _INDPTR_DEVICE), shape=SHAPE)

'''

_NAMES = {
    "jacobian": ("f, jacobian_data, jacobian, value_and_jacobian", "jacobian_data"),
    "hessian": ("f, gradient, hessian_data, hessian, value_gradient_and_hessian",
                "hessian_data"),
}


def _function(name: str, doc: str, printer, program, shape: tuple | None = None,
              out: bool = False) -> str:
    """A kernel that writes the outputs of ``program`` into ``dest``, and the function
    ``name`` that runs it over the points (``shape``: the trailing shape it returns;
    ``out``: whether it takes a preallocated result)."""
    lines = printer.body(program)
    body = "".join(f"    {line}\n" for line in lines)
    kernel = f"_kernel_{name.lstrip('_')}"
    call = f"_run({kernel}, {program.n_outputs}, x, p, {'out' if out else 'None'})"
    if shape is not None:
        call = f"_shaped({call}, {_shape_text(shape)})"
    signature = "x, *p, out=None" if out else "x, *p"
    if out:
        doc += ("\n\n    out: an array an earlier call returned (same batch shape), to "
                "write into\n    instead of allocating (batches reuse their memory)")
    return (f"def {kernel}(x, p, batch, col, dest):\n{body}\n\n"
            f"def {name}({signature}):\n    \"\"\"{doc}\"\"\"\n    return {call}\n\n\n")


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def module_source(spec: ModuleSpec, backend: str = "numpy") -> str:
    """The source of the standalone module for ``spec`` on ``backend``.

    Example
    -------
    >>> import numpy as np, symasd
    >>> jac = symasd.jacobian(lambda x: np.diff(x) ** 2, np.zeros(4))
    >>> src = jac.to_source("numpy")
    >>> "def jacobian_data(x, *p, out=None):" in src and "import symasd" not in src
    True
    """
    printer = PRINTERS[backend](ConstantPool(wrap="" if backend == "numpy" else "cp.asarray"))
    pool = printer.pool
    c = spec.compiled
    g = c.graph
    xp = printer.alias
    n_in = int(np.prod(spec.input_shape, dtype=np.int64))
    values = g.outputs[:c.n_values]
    data_fn = _NAMES[spec.kind][1]
    funcs = [_function("f", "The function's value, shape (..., *OUTPUT_SHAPE).", printer,
                       build_program(g, values), spec.output_shape)]
    if spec.kind == "hessian":
        grad = g.outputs[c.n_values:c.n_values + c.n_gradient]
        funcs.append(_function("gradient", "The gradient, shape (..., *INPUT_SHAPE).", printer,
                               build_program(g, grad), spec.input_shape))
    data_program = build_program(c.matrix_graph, c.matrix_graph.outputs)
    funcs.append(_function(data_fn, "The nonzeros in CSR order, shape (..., NNZ).", printer,
                           data_program, out=True))
    all_program = build_program(g, g.outputs)
    funcs.append(_function("_all", "Values, (gradient,) and nonzeros in one pass.", printer,
                           all_program))
    widest = max([st.length for prog in (data_program, all_program)
                  for st in prog.statements] + [1])
    if spec.kind == "jacobian":
        funcs.append(
            "def jacobian(x, *p):\n    \"\"\"The Jacobian at one point, a sparse CSR matrix "
            "(SHAPE).\"\"\"\n    _point(x, p)\n    return _matrix(jacobian_data(x, *p))\n\n\n"
            "def value_and_jacobian(x, *p):\n    \"\"\"(f(x), J(x)) at one point, sharing "
            "the work of both.\"\"\"\n    _point(x, p)\n    out = _all(x, *p)\n"
            f"    return out[:{c.n_values}].reshape({_shape_text(spec.output_shape)}), "
            f"_matrix(out[{c.n_values}:])\n\n\n")
    else:
        n = c.n_gradient
        funcs.append(
            "def hessian(x, *p):\n    \"\"\"The Hessian at one point, a symmetric sparse CSR "
            "matrix (both triangles).\"\"\"\n    _point(x, p)\n"
            "    return _matrix(hessian_data(x, *p))\n\n\n"
            "def value_gradient_and_hessian(x, *p):\n    \"\"\"(f(x), grad f(x), H(x)) at one "
            "point, sharing the work.\"\"\"\n    _point(x, p)\n    out = _all(x, *p)\n"
            f"    return (float(out[0]), out[1:{1 + n}].reshape("
            f"{_shape_text(spec.input_shape)}), _matrix(out[{1 + n}:]))\n\n\n")
    code = "".join(funcs)
    kernels = "\n\n".join(getattr(printer, "kernels", []))
    host = ConstantPool(prefix="_S")  # the structure stays on the host (NumPy arrays)
    indptr = host.index(spec.indptr)
    indices = host.index(spec.indices)
    m, n_cols = spec.shape
    nnz = int(spec.indices.size)
    what = "Jacobian" if spec.kind == "jacobian" else "Hessian"
    alias_line = ""
    defined = set(re.findall(r"^(?:def |class )?(\w+)", _HELPERS + code + kernels, re.M))
    if (spec.name.isidentifier() and not keyword.iskeyword(spec.name)
            and spec.name not in defined | _RESERVED):
        alias_line = f"{spec.name} = f  # the model's own name for its value\n"
    density = 100.0 * nnz / max(m * n_cols, 1)
    header = "\n".join([
        f'"""Sparse {what} of `{_docstring_text(spec.name)}`: standalone {printer.module} '
        f"code, generated by symasd {__version__}.",
        "",
        f"    shape {m} x {n_cols}, {nnz} nonzeros ({density:.3g}% dense)",
        f"    input shape {tuple(spec.input_shape)}, output shape "
        f"{tuple(spec.output_shape)}, parameter shapes {tuple(spec.param_shapes)}",
        *(f"    {line}" for line in spec.summary),
        f"    made by: {_docstring_text(spec.made_by)}",
        "",
        f"Provides {_NAMES[spec.kind][0]}. x may carry leading batch axes:",
        "x.shape == (..., *INPUT_SHAPE) gives values of shape (..., *OUTPUT_SHAPE) and",
        f"{data_fn} of shape (..., NNZ); parameters broadcast against those axes. Batched",
        "results are views of node-major memory (np.ascontiguousarray for C order). The",
        "sparse-matrix functions take one point. Needs only "
        + ("NumPy and SciPy." if backend == "numpy" else "CuPy.") + " Do not edit:",
        "export again.",
        '"""',
        "",
    ])
    imports = ("import base64\nimport zlib\n\nimport numpy as np\n" if backend == "numpy" else
               "import base64\nimport zlib\n\nimport cupy as cp\nimport numpy as np\n")
    if printer.uses_special:
        package, _, name = printer.special_module.rpartition(".")
        imports += f"from {package} import {name}\n"
    if backend == "cupy":
        imports += "\n_fuse = cp.fuse\n"
    # a chunk's widest temporary takes at most 64 MB (smaller chunks do not pay on the
    # CPU: the time goes into writing the outputs); the GPU takes the batch whole
    chunk = 2**62 if backend == "cupy" else int(max(16, 2**23 // widest))
    structure = (
        f"SHAPE = ({m}, {n_cols})\nNNZ = {nnz}\n"
        f"INPUT_SHAPE = {_shape_text(spec.input_shape)}\n"
        f"PARAM_SHAPES = ({''.join(_shape_text(s) + ', ' for s in spec.param_shapes)})\n"
        f"OUTPUT_SHAPE = {_shape_text(spec.output_shape)}\n"
        f"N_INPUTS = {n_in}\n"
        f"# points per chunk of a batch: bounds the memory of the temporaries\n"
        f"_CHUNK = {chunk}\n\n\n")
    matrix = _NUMPY_MATRIX if backend == "numpy" else _CUPY_MATRIX
    index_dtype = "np.int32" if max(nnz, m, n_cols) < 2**31 - 1 else "np.int64"
    decoder = DECODER
    tail = (
        "\n# -- constants: index arrays and constant values, compressed (decoded once, "
        "at import) --\n\n" + decoder + pool.source() + host.source() + "\n"
        "# read-only: every matrix shares them, an in-place change would corrupt the next\n"
        f"INDPTR = {indptr}.astype({index_dtype})\n"
        f"INDICES = {indices}.astype({index_dtype})\n"
        "INDPTR.setflags(write=False)\nINDICES.setflags(write=False)\n"
    )
    if backend == "cupy":
        tail += ("_INDPTR_DEVICE = cp.asarray(INDPTR)\n_INDICES_DEVICE = cp.asarray(INDICES)\n")
    numpy = backend == "numpy"
    helpers = _HELPERS.format(xp=xp, run=_NUMPY_RUN if numpy else _CUPY_RUN,
                              node_major=_NUMPY_NODE_MAJOR if numpy else _CUPY_NODE_MAJOR)
    return (header + imports + "\n" + structure + helpers + _SHAPED + "\n"
            + matrix + "\n"
            + (kernels + "\n\n" if kernels else "") + code + alias_line + tail)


_RESERVED = frozenset({"f", "gradient", "jacobian", "hessian", "jacobian_data", "hessian_data",
                       "value_and_jacobian", "value_gradient_and_hessian", "np", "cp",
                       "special", "base64", "zlib", "SHAPE", "NNZ", "INDPTR", "INDICES",
                       "INPUT_SHAPE", "PARAM_SHAPES", "OUTPUT_SHAPE", "N_INPUTS", "_CHUNK",
                       "_fuse", "_indices", "_floats"})


def _docstring_text(text: str) -> str:
    """``text`` safe inside the module's docstring (a path with backslashes, quotes)."""
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


_LOADED = itertools.count()


def load_module(source: str, name: str) -> types.ModuleType:
    """Execute generated ``source`` as a new module called ``name`` (not added to
    ``sys.modules``); its source is registered with :mod:`linecache`, so that
    tracebacks show the generated lines.

    Example
    -------
    >>> import numpy as np, symasd
    >>> jac = symasd.jacobian(lambda x: x ** 2, np.zeros(3))
    >>> mod = load_module(jac.to_source(), "squares")
    >>> mod.jacobian_data(np.array([1.0, 2.0, 3.0]))
    array([2., 4., 6.])
    """
    filename = f"<symasd generated module {name} #{next(_LOADED)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


def write_atomically(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a
    rename, so that ``path`` never holds a partial file.

    Example
    -------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_atomically(os.path.join(folder, "m.py"), "X = 1\\n")
    >>> open(os.path.join(folder, "m.py")).read()
    'X = 1\\n'
    """
    if not isinstance(path, str | os.PathLike) or isinstance(os.fspath(path), bytes):
        raise InputError(f"the path to write must be a str or a pathlib.Path, got "
                         f"{type(path).__name__}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not path or os.path.isdir(path):
        raise InputError(f"cannot write {path!r}: give the path of a file (a folder's "
                         "name, or an empty one, is not)")
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {path}: the folder {folder} does not exist "
                         "(create it first)")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".symasd-", suffix=".tmp")
    except OSError as err:  # the folder is not writable: name the user's path
        raise OSError(err.errno, f"cannot write {path}: {err.strerror}") from err
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:  # the mode an existing file has, else what the umask leaves of rw-rw-rw-
            mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
