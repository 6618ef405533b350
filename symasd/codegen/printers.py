"""Printers: programs (:mod:`symasd.codegen.schedule`) as NumPy or CuPy source.

A printer is a class with one ``_print_<OP>`` method per opcode that is not
a plain call of the array module's function of the same meaning; those are
named in :attr:`ArrayPrinter.FUNCTIONS` and the arithmetic operators in
:attr:`ArrayPrinter.OPERATORS` (the way SymPy's code printers are built). Every
op of :mod:`symasd.ops` must be printable by one of the three:
:meth:`ArrayPrinter.op_expression` raises
:class:`~symasd.errors.MissingRuleError` for an op that is not, and the tests
check the whole table.

The printed semantics are those of the op table's NumPy rules, which the
virtual machine is tested against: comparisons and logical ops give 0.0 or
1.0, ``where`` selects on ``cond != 0``, ``maximum``/``minimum`` propagate NaN.

:class:`NumpyPrinter` prints for NumPy (floating-point warnings silenced, as
the virtual machine raises none), and writes a ufunc's result over an operand
read for the last time, so that a batch's megabyte temporaries are not
allocated (and page-faulted) afresh by every statement. :class:`CupyPrinter` differs from it by the
module it prints and by fusing: runs of elementwise statements that read each
other whole are printed as one function compiled by ``cupy.fuse``, one GPU
kernel instead of one per statement.

Example
-------
>>> import numpy as np, symasd
>>> from symasd.codegen.schedule import build_program
>>> from symasd.codegen.constants import ConstantPool
>>> g = symasd.trace(lambda x: np.sin(x[1:]) * x[:-1], np.ones(5))
>>> lines = NumpyPrinter(ConstantPool()).body(build_program(g, g.outputs))
>>> print("\\n".join(lines))
with np.errstate(all="ignore"):
    t0 = np.sin(x[1:5])
    t1 = np.multiply(x[0:4], t0, out=t0)
    del t0
dest[...] = t1
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import MissingRuleError
from ..evaluation import periodic_block
from ..ops import Code
from .constants import ConstantPool
from .schedule import (
    Concat,
    Constant,
    Literal,
    P,
    Program,
    Scatter,
    Slice,
    Statement,
    Take,
    Whole,
    X,
)

__all__ = ["ArrayPrinter", "NumpyPrinter", "CupyPrinter", "PRINTERS"]


class ArrayPrinter:
    """Prints programs for an array module with NumPy's API (``alias`` in the code)."""

    #: the module the generated code imports, and its alias there
    module = "numpy"
    alias = "np"
    #: ops printed as ``alias.<function>(args)``
    FUNCTIONS = {
        Code.ABS: "abs", Code.SIGN: "sign", Code.SQRT: "sqrt", Code.CBRT: "cbrt",
        Code.EXP: "exp", Code.EXPM1: "expm1", Code.LOG: "log", Code.LOG1P: "log1p",
        Code.LOG2: "log2", Code.LOG10: "log10", Code.SIN: "sin", Code.COS: "cos",
        Code.TAN: "tan", Code.ARCSIN: "arcsin", Code.ARCCOS: "arccos",
        Code.ARCTAN: "arctan", Code.SINH: "sinh", Code.COSH: "cosh", Code.TANH: "tanh",
        Code.ARCSINH: "arcsinh", Code.ARCCOSH: "arccosh", Code.ARCTANH: "arctanh",
        Code.SQUARE: "square", Code.RECIPROCAL: "reciprocal", Code.FLOOR: "floor",
        Code.CEIL: "ceil", Code.ROUND: "rint", Code.SINC: "sinc", Code.POW: "power",
        Code.ARCTAN2: "arctan2", Code.HYPOT: "hypot", Code.MAX: "maximum",
        Code.MIN: "minimum", Code.LOGADDEXP: "logaddexp",
    }
    #: ops printed as ``special.<function>(args)``: SciPy's special functions
    #: (``scipy.special`` for NumPy, ``cupyx.scipy.special`` for CuPy)
    SPECIAL = {
        Code.ERF: "erf", Code.ERFC: "erfc", Code.EXPIT: "expit", Code.LOGIT: "logit",
        Code.GAMMALN: "gammaln", Code.LOG_NDTR: "log_ndtr", Code.XLOGY: "xlogy",
        Code.XLOG1PY: "xlog1py",
    }
    #: the module ``special`` is imported from in the generated code
    special_module = "scipy.special"
    #: ops printed as a parenthesized binary operator
    OPERATORS = {Code.ADD: "+", Code.SUB: "-", Code.MUL: "*", Code.DIV: "/"}
    #: ops that give 0.0 or 1.0 from a boolean array
    COMPARISONS = {Code.LT: "<", Code.LE: "<=", Code.GT: ">", Code.GE: ">=",
                   Code.EQ: "==", Code.NE: "!="}

    def __init__(self, pool: ConstantPool):
        self.pool = pool
        self.scratch: list[str] = []  # arrays assembled for the operands of one statement
        self.uses_special = False  # whether the code calls SciPy's special functions

    # -- operands ------------------------------------------------------------

    def source_name(self, source: int) -> str:
        """The variable holding a source: ``x``, ``p`` or a run's ``t<r>``."""
        return {X: "x", P: "p"}.get(source, f"t{source}")

    def literal(self, value: float) -> str:
        if math.isnan(value):
            return f"{self.alias}.nan"
        if math.isinf(value):
            return f"{self.alias}.inf" if value > 0 else f"(-{self.alias}.inf)"
        text = repr(float(value))
        return f"({text})" if text.startswith("-") else text

    @staticmethod
    def _slice(s: Slice) -> str:
        stop = "" if s.stop is None else str(s.stop)
        step = "" if s.step == 1 else f":{s.step}"
        return f"{s.start}:{stop}{step}"

    def operand(self, a, lines: list[str], tag: str) -> str:
        """The expression reading access ``a``; assembly statements it needs first
        (a :class:`~symasd.codegen.schedule.Scatter`) are appended to ``lines``,
        into a variable named after ``tag``."""
        if isinstance(a, Literal):
            return self.literal(a.value)
        if isinstance(a, Constant):
            return f"{self.pool.floats(a.values)}[col]"
        if isinstance(a, Whole):
            return self.source_name(a.source)
        if isinstance(a, Slice):
            return f"{self.source_name(a.source)}[{self._slice(a)}]"
        if isinstance(a, Take):
            return f"{self.source_name(a.source)}[{self.pool.index(a.index)}]"
        if isinstance(a, Concat):
            parts = ", ".join(self.operand(p, lines, f"{tag}_{i}") for i, p in enumerate(a.parts))
            return f"_cat(({parts},), batch)"
        if isinstance(a, Scatter):
            self.assemble(tag, a, lines)
            return tag
        raise TypeError(f"not an access: {a!r}")

    def assemble(self, name: str, a: Scatter, lines: list[str]) -> None:
        """``name = <a's values>`` by one assignment per source (or per
        interleaved progression of one)."""
        lines.append(f"{name} = {self.alias}.empty(({a.length},) + batch)")
        self.scratch.append(name)
        for where, part in a.parts:
            pos = self._slice(where) if isinstance(where, Slice) else self.pool.index(where.index)
            lines.append(f"{name}[{pos}] = {self.stored(where, part, lines, name + '_')}")

    def stored(self, where: Slice | Take, a, lines: list[str], tag: str) -> str:
        """The expression stored at positions ``where`` (a strided or indexed store
        of a literal gets it as a row of points: see the module's ``_as_row``)."""
        if isinstance(a, Literal) and not (isinstance(where, Slice) and where.step == 1):
            return f"_as_row({self.literal(a.value)}, batch)"
        return self.operand(a, lines, tag)

    # -- ops -------------------------------------------------------------------

    def op_expression(self, op: Code, args: list[str], exponent: str | None) -> str:
        """The expression of ``op`` on the argument expressions ``args``."""
        method = getattr(self, f"_print_{op.name}", None)
        if method is not None:
            return method(*args) if exponent is None else method(*args, exponent)
        if op in self.FUNCTIONS:
            return f"{self.alias}.{self.FUNCTIONS[op]}({', '.join(args)})"
        if op in self.SPECIAL:
            self.uses_special = True
            return f"special.{self.SPECIAL[op]}({', '.join(args)})"
        if op in self.OPERATORS:
            return f"({args[0]} {self.OPERATORS[op]} {args[1]})"
        if op in self.COMPARISONS:
            return self._boolean(f"({args[0]} {self.COMPARISONS[op]} {args[1]})")
        raise MissingRuleError(f"op {op.name.lower()} has no rule in {type(self).__name__} "
                               "(symasd/codegen/printers.py)")

    def printable(self, op: Code) -> bool:
        """Whether this printer has a rule for ``op`` (leaves need none)."""
        return (hasattr(self, f"_print_{op.name}") or op in self.FUNCTIONS
                or op in self.SPECIAL or op in self.OPERATORS or op in self.COMPARISONS)

    def _boolean(self, expr: str) -> str:
        return f"{expr}.astype({self.alias}.float64)"

    def _print_NEG(self, a: str) -> str:
        return f"(-{a})"

    def _print_POWC(self, a: str, exponent: str) -> str:
        return f"{self.alias}.power({a}, {exponent})"

    def _print_POLYGAMMA(self, a: str, order: str) -> str:
        self.uses_special = True
        return f"special.polygamma({self.alias}.asarray({order}).astype(int), {a})"

    def _print_MULZ(self, a: str, b: str) -> str:
        # the strong-zero product: 0 where either factor is 0 (0 * inf is 0 here); a
        # literal factor other than 0 needs no test of its own
        tests = [f"({x} == 0)" for x in (a, b) if not _nonzero_literal(x)]
        if not tests:
            return f"({a} * {b})"
        return f"{self.alias}.where({' | '.join(tests)}, 0.0, {a} * {b})"

    def _print_ISNAN(self, a: str) -> str:
        return self._boolean(f"{self.alias}.isnan({a})")

    def _print_ISFINITE(self, a: str) -> str:
        return self._boolean(f"{self.alias}.isfinite({a})")

    def _print_NOT(self, a: str) -> str:
        return self._boolean(f"({a} == 0)")

    def _print_AND(self, a: str, b: str) -> str:
        return self._boolean(f"{self.alias}.logical_and({a}, {b})")

    def _print_OR(self, a: str, b: str) -> str:
        return self._boolean(f"{self.alias}.logical_or({a}, {b})")

    def _print_XOR(self, a: str, b: str) -> str:
        return self._boolean(f"{self.alias}.logical_xor({a}, {b})")

    def _print_WHERE(self, cond: str, a: str, b: str) -> str:
        return f"{self.alias}.where({cond} != 0, {a}, {b})"

    # -- statements --------------------------------------------------------------

    def statement(self, st: Statement, lines: list[str]) -> None:
        """``t<r> = <op>(<operands>)``."""
        tag = f"a{st.run}"
        self.scratch = []
        args = [self.operand(a, lines, f"{tag}_{i}") for i, a in enumerate(st.args)]
        exponent = None if st.exponent is None else self.operand(st.exponent, lines, tag)
        lines.append(f"t{st.run} = {self.op_expression(st.op, args, exponent)}")
        if self.scratch:
            lines.append(f"del {', '.join(self.scratch)}")
            self.scratch = []

    def statements(self, program: Program) -> list[str]:
        """The statements of ``program``, each run dropped after its last read."""
        lines: list[str] = []
        freed: dict[int, list[int]] = {}
        for st in program.statements:
            if st.free_after >= 0:
                freed.setdefault(st.free_after, []).append(st.run)
        for st in program.statements:
            self.statement(st, lines)
            if st.run in freed:
                lines.append("del " + ", ".join(f"t{r}" for r in freed[st.run]))
        return lines

    def output(self, program: Program, lines: list[str]) -> None:
        """The outputs written into ``dest``, of shape ``(n_outputs,) + batch``."""
        a = program.output
        if isinstance(a, Scatter):
            for where, part in a.parts:
                if isinstance(where, Slice):
                    self._store(where, part, lines)
                else:
                    lines.append(f"dest[{self.pool.index(where.index)}] = "
                                 f"{self.stored(where, part, lines, 'part')}")
        else:
            self._store(None, a, lines)

    def _store(self, where: Slice | None, a, lines: list[str]) -> None:
        """``dest[where] = a`` (all of ``dest`` for None); constants that repeat with a
        short period (the coefficients of a stencil) are stored without reading a long
        constant."""
        target = "dest" if where is None else f"dest[{self._slice(where)}]"
        if isinstance(a, Constant) and (where is None or where.step == 1):
            block = periodic_block(a.values)
            if block is not None:  # the generated module's _tile is fill_periodic
                lines.append(f"_tile({target}, {self.pool.floats(block)}[col])")
                return
        if where is None:
            lines.append(f"dest[...] = {self.operand(a, lines, 'part')}")
        else:
            lines.append(f"{target} = {self.stored(where, a, lines, 'part')}")

    def body(self, program: Program) -> list[str]:
        """The lines writing the outputs into ``dest`` from ``x``, ``p``, ``batch``
        and ``col``."""
        inner = self.statements(program)
        lines = self.wrap(inner)
        self.output(program, lines)
        return lines

    def wrap(self, lines: list[str]) -> list[str]:
        """The statements inside whatever context the backend runs them in."""
        return list(lines)


class NumpyPrinter(ArrayPrinter):
    """NumPy source; floating-point warnings are silenced around the statements
    (the virtual machine raises none: NaN and infinities just propagate)."""

    #: NumPy ufuncs of the ops, which can write their result over an operand
    UFUNCS = {
        **{op: name for op, name in ArrayPrinter.FUNCTIONS.items()
           if isinstance(getattr(np, name), np.ufunc)},
        Code.ADD: "add", Code.SUB: "subtract", Code.MUL: "multiply", Code.DIV: "divide",
        Code.NEG: "negative", Code.POWC: "power",
    }

    def wrap(self, lines: list[str]) -> list[str]:
        if not lines:
            return []
        return ['with np.errstate(all="ignore"):'] + ["    " + line for line in lines]

    def statements(self, program: Program) -> list[str]:
        self._last_read = {st.run: st.free_after for st in program.statements}
        self._length = {st.run: st.length for st in program.statements}
        self._batched: set[int] = set()  # runs whose values carry the batch axes
        return super().statements(program)

    def statement(self, st: Statement, lines: list[str]) -> None:
        """``t<r> = <op>(<operands>)``, or, where an operand is a whole earlier run of
        the same length read here for the last time, ``t<r> = np.<ufunc>(<operands>,
        out=t<k>)``: a batch's temporaries are megabytes each, and a fresh one costs
        page faults on every call."""
        if any(self._batched_access(a) for a in st.args):
            self._batched.add(st.run)
        over = self._dying_operand(st)
        if over is None:
            super().statement(st, lines)
            return
        self.scratch = []
        args = [self.operand(a, lines, f"a{st.run}_{i}") for i, a in enumerate(st.args)]
        if st.exponent is not None:
            args.append(self.operand(st.exponent, lines, f"a{st.run}"))
        lines.append(f"t{st.run} = np.{self.UFUNCS[st.op]}({', '.join(args)}, out=t{over})")
        if self.scratch:
            lines.append(f"del {', '.join(self.scratch)}")
            self.scratch = []

    def _batched_access(self, a) -> bool:
        """Whether access ``a`` has the batch axes (reads ``x``, ``p`` or such a run;
        assembled arrays always have them)."""
        if isinstance(a, Scatter):
            return True
        if isinstance(a, Concat):
            return any(self._batched_access(part) for part in a.parts)
        if isinstance(a, Whole | Slice | Take):
            return a.source in (X, P) or a.source in self._batched
        return False

    def _dying_operand(self, st: Statement) -> int | None:
        """The run whose array ``st`` can overwrite: read whole, last read here, of
        ``st``'s length and with the batch axes (so of the result's shape)."""
        if st.op not in self.UFUNCS:
            return None
        for a in st.args:
            if (isinstance(a, Whole) and a.source >= 0 and a.source in self._batched
                    and self._length[a.source] == st.length
                    and self._last_read[a.source] == st.run):
                return a.source
        return None


class CupyPrinter(ArrayPrinter):
    """CuPy source: the NumPy printer's code on ``cupy``, with elementwise chains
    fused into single kernels by ``cupy.fuse``.

    A *chain* is a stretch of consecutive statements that read earlier
    statements of the chain only whole (same length, no gather); it becomes a
    function of the operands it reads from outside, compiled by ``cupy.fuse``
    into one kernel that returns the values read after the chain."""

    module = "cupy"
    alias = "cp"
    special_module = "cupyx.scipy.special"

    def _boolean(self, expr: str) -> str:
        # a ufunc, which cupy.fuse compiles (it may not compile astype)
        return f"cp.where({expr}, 1.0, 0.0)"

    def _print_POLYGAMMA(self, a: str, order: str) -> str:
        # cupyx's polygamma is a ufunc of a float order (fusable, no astype)
        self.uses_special = True
        return f"special.polygamma({order}, {a})"

    def __init__(self, pool: ConstantPool):
        super().__init__(pool)
        self.kernels: list[str] = []

    def _chains(self, program: Program) -> list[list[Statement]]:
        chains: list[list[Statement]] = []
        for st in program.statements:
            if chains and self._extends(chains[-1], st):
                chains[-1].append(st)
            else:
                chains.append([st])
        return chains

    @staticmethod
    def _extends(chain: list[Statement], st: Statement) -> bool:
        runs = {s.run for s in chain}
        length = chain[0].length
        if st.length != length:
            return False
        for a in st.args:
            if isinstance(a, Scatter | Concat):
                return False
            if isinstance(a, Slice | Take) and a.source in runs:
                return False
        return True

    def statements(self, program: Program) -> list[str]:
        lines: list[str] = []
        reads_after: dict[int, int] = {}
        for st in program.statements:
            reads_after[st.run] = st.free_after
        for chain in self._chains(program):
            if len(chain) == 1:
                self.statement(chain[0], lines)
            else:
                self._fused(chain, lines, reads_after)
            first, last = chain[0].run, chain[-1].run
            inside = {s.run for s in chain} if len(chain) > 1 else set()
            dead = [r for r, f in reads_after.items()
                    if first <= f <= last and r not in inside]
            if dead:
                lines.append("del " + ", ".join(f"t{r}" for r in dead))
        return lines

    def _fused(self, chain: list[Statement], lines: list[str],
               reads_after: dict[int, int]) -> None:
        runs = {s.run for s in chain}
        last = chain[-1].run
        outer: list[str] = []  # operand expressions evaluated outside the kernel
        params: list[str] = []
        body: list[str] = []
        for st in chain:
            args = []
            for i, a in enumerate(st.args if st.exponent is None else (*st.args, st.exponent)):
                if isinstance(a, Whole) and a.source in runs:
                    args.append(f"t{a.source}")
                elif isinstance(a, Literal):
                    args.append(self.literal(a.value))
                else:
                    expr = self.operand(a, lines, f"a{st.run}_{i}")
                    if expr not in outer:
                        outer.append(expr)
                        params.append(f"v{len(params)}")
                    args.append(params[outer.index(expr)])
            exponent = None
            if st.exponent is not None:
                *args, exponent = args
            body.append(f"    t{st.run} = {self.op_expression(st.op, args, exponent)}")
        results = [f"t{s.run}" for s in chain
                   if reads_after[s.run] < 0 or reads_after[s.run] > last]
        name = f"_kernel{len(self.kernels)}"
        self.kernels.append(
            f"@_fuse\ndef {name}({', '.join(params)}):\n" + "\n".join(body)
            + f"\n    return {', '.join(results) if results else 'None'}\n")
        if results:
            targets = ", ".join(results)
            lines.append(f"{targets} = {name}({', '.join(outer)})")


#: The printer of each backend.
PRINTERS = {"numpy": NumpyPrinter, "cupy": CupyPrinter}


def _nonzero_literal(expression: str) -> bool:
    """Whether a printed operand is a literal number other than 0 (as
    :meth:`Printer.literal` writes them, in parentheses when negative)."""
    try:
        return float(expression.strip("()")) != 0.0
    except ValueError:
        return False
