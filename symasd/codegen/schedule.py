"""The code generator's IR: a graph cut into vectorized statements.

A :class:`Program` computes chosen outputs of a :class:`~symasd.graph.Graph`
with one statement per **run**: nodes of one opcode built by one vectorized
call of the graph builder (one entry of ``Graph.block_starts``), split where a
block mixes opcodes or where some of its nodes depend on others of the same
block (substitution chains), so that every run is one elementwise array
operation. Only the nodes the outputs need are kept.

Every operand of a run is an :data:`Access`: how the array of its argument
ids is read from earlier values. A node's value lives in one **source**: the
input ``x`` (flat, trailing axis), the flat parameters ``p``, a constant, or
the value array of an earlier run (at the node's rank in that run). Operands
become, cheapest first: a literal scalar, a whole run, a slice (contiguous or
strided), an indexed read with an index array kept as a constant, a
concatenation of a few such pieces, or an array assembled by one assignment
per source (:class:`Scatter`). Every array is built on trailing axes, so the
same program runs on one point or on leading batch axes.

Each run records the statement after which its value is no longer read
(``free_after``): printers drop it there, so that peak memory follows the live
runs, not the number of nodes.

Example
-------
>>> import numpy as np, symasd
>>> from symasd.codegen.schedule import build_program
>>> g = symasd.trace(lambda x: np.sin(x[1:]) * x[:-1], np.ones(5))
>>> prog = build_program(g, g.outputs)
>>> [(s.op.name, [type(a).__name__ for a in s.args]) for s in prog.statements]
[('SIN', ['Slice']), ('MUL', ['Slice', 'Whole'])]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _dag
from ..graph import Graph
from ..ops import OPS, Code

__all__ = ["Program", "Statement", "build_program", "X", "P",
           "Literal", "Constant", "Whole", "Slice", "Take", "Concat", "Scatter"]

_I = np.int64
#: source ids of the leaves: the input and the parameters (runs are 0, 1, ...)
X, P = -1, -2
_CONST = -3
_VAR, _PARAM, _CODE_CONST = int(Code.VAR), int(Code.PARAM), int(Code.CONST)
# an operand gathered from more pieces than this is assembled by scatter
_MAX_PIECES = 4
# gathers at least this long are split into interleaved slices where they can be
# (k strided copies cost less than one indexed gather)
_INTERLEAVE_MIN = 64


@dataclass(frozen=True, slots=True)
class Literal:
    """A scalar constant broadcast over the operand."""

    value: float


@dataclass(frozen=True, slots=True)
class Constant:
    """A constant float array (a module constant)."""

    values: np.ndarray


@dataclass(frozen=True, slots=True)
class Whole:
    """All of a source (a run's value array, ``x`` or ``p``)."""

    source: int


@dataclass(frozen=True, slots=True)
class Slice:
    """``source[..., start:stop:step]`` (``stop`` ``None`` for a reversed slice to the front)."""

    source: int
    start: int
    stop: int | None
    step: int


@dataclass(frozen=True, slots=True)
class Take:
    """``source[..., index]`` with a constant index array."""

    source: int
    index: np.ndarray


@dataclass(frozen=True, slots=True)
class Concat:
    """The concatenation of a few accesses along the trailing axis."""

    parts: tuple


@dataclass(frozen=True, slots=True)
class Scatter:
    """An array of ``length`` values assembled by one assignment per source:
    ``parts`` are ``(positions, access)`` with ``positions`` a :class:`Slice` or
    :class:`Take` of the new array (source ignored)."""

    length: int
    parts: tuple


Access = Literal | Constant | Whole | Slice | Take | Concat | Scatter


@dataclass(frozen=True, slots=True)
class Statement:
    """One run: ``value = op(*args)`` over ``length`` nodes. ``exponent`` is the
    constant payload of an op that has one (``POWC``'s exponent, ``POLYGAMMA``'s
    order: ``Op.payload``), a :class:`Literal` or :class:`Constant`."""

    run: int
    op: Code
    length: int
    args: tuple
    exponent: Literal | Constant | None
    free_after: int


@dataclass(frozen=True, slots=True)
class Program:
    """Statements in order, then ``output``: the access that reads the outputs
    (``n_outputs`` values); ``n_inputs`` and ``n_params`` size ``x`` and ``p``."""

    statements: tuple[Statement, ...]
    output: Access
    n_outputs: int
    n_inputs: int
    n_params: int

    @property
    def n_runs(self) -> int:
        return len(self.statements)


def _runs(g: Graph, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The live non-leaf nodes ordered into runs: ``(nodes, bounds)``, run ``r``
    being ``nodes[bounds[r]:bounds[r + 1]]`` (ascending ids, one opcode, one level
    of one block)."""
    op = g.op
    inner = np.flatnonzero(live & (op != _CODE_CONST) & (op != _VAR) & (op != _PARAM))
    if inner.size == 0:
        return inner, np.zeros(1, dtype=_I)
    block = np.searchsorted(g.block_starts, inner, side="right")
    # within a block, nodes of one level never depend on each other
    key = (block.astype(_I) * (int(g.levels.max()) + 1) + g.levels[inner]) * 256 + op[inner]
    if np.any(key[1:] < key[:-1]):
        order = np.argsort(key, kind="stable")
        inner, key = inner[order], key[order]
    bounds = np.concatenate([[0], np.flatnonzero(key[1:] != key[:-1]) + 1, [inner.size]])
    return inner, bounds.astype(_I)


def _progression(q: np.ndarray) -> tuple[int, int] | None:
    """``(start, step)`` when ``q`` is an arithmetic progression (step may be 0)."""
    if q.size == 1:
        return int(q[0]), 1
    step = int(q[1] - q[0])
    if q.size > 2 and not np.all(np.diff(q) == step):
        return None
    return int(q[0]), step


def _positions(where: np.ndarray) -> Slice | Take:
    """Where a scatter part lands in the new array: a slice when it can be."""
    prog = _progression(where)
    if prog is None or prog[1] == 0:
        return Take(X, where)
    start, step = prog
    return Slice(X, start, start + step * (where.size - 1) + 1, step)


class _Reader:
    """Turns arrays of node ids into accesses (the node -> source map of one program)."""

    def __init__(self, g: Graph, sizes: dict[int, int]):
        self.g = g
        self.sizes = sizes  # length of every source (runs, x, p)
        self.source = np.full(g.n_nodes, _CONST, dtype=_I)
        self.rank = np.zeros(g.n_nodes, dtype=_I)
        var = g.op == _VAR
        par = g.op == _PARAM
        self.source[var] = X
        self.rank[var] = g.const[var].astype(_I)
        self.source[par] = P
        self.rank[par] = g.const[par].astype(_I)

    def set_run(self, run: int, nodes: np.ndarray) -> None:
        self.source[nodes] = run
        self.rank[nodes] = np.arange(nodes.size, dtype=_I)
        self.sizes[run] = int(nodes.size)

    def one_source(self, src: int, q: np.ndarray, ids: np.ndarray, scalar: bool = True,
                   split: bool = True):
        """The access of ``ids``, all in source ``src`` at ranks ``q``; constants
        become a :class:`Literal` where ``scalar`` allows and they are all equal; a
        long gather becomes interleaved slices where ``split`` allows and it can."""
        if src == _CONST:
            vals = self.g.const[ids]
            same = np.all(vals == vals[0]) and np.all(np.signbit(vals) == np.signbit(vals[0]))
            if scalar and (same or np.all(np.isnan(vals))):
                return Literal(float(vals[0]))
            return Constant(np.ascontiguousarray(vals, dtype=np.float64))
        prog = _progression(q)
        if prog is None:
            if split and q.size >= _INTERLEAVE_MIN:
                parts = self._parts(src, np.arange(q.size, dtype=_I), q, ids)
                if len(parts) > 1:
                    return Scatter(int(q.size), tuple(parts))
            return Take(src, np.ascontiguousarray(q))
        start, step = prog
        if step == 1 and start == 0 and q.size == self.sizes[src]:
            return Whole(src)
        if step == 0:
            if not scalar and q.size > 1:  # a piece of a concatenation keeps its length
                return Take(src, np.ascontiguousarray(q))
            return Slice(src, start, start + 1, 1)
        last = start + step * (q.size - 1)
        stop = last + 1 if step > 0 else (last - 1 if last > 0 else None)
        return Slice(src, start, stop, step)

    def read(self, ids: np.ndarray):
        """The access that reads the values of ``ids`` in order."""
        ids = np.asarray(ids, dtype=_I)
        s = self.source[ids]
        q = self.rank[ids]
        change = np.flatnonzero(s[1:] != s[:-1]) + 1
        if change.size == 0:
            return self.one_source(int(s[0]), q, ids)
        cuts = np.concatenate([[0], change, [ids.size]])
        if cuts.size - 1 <= _MAX_PIECES:
            parts = tuple(self.one_source(int(s[a]), q[a:b], ids[a:b], scalar=False)
                          for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True))
            if all(not isinstance(p, Take) for p in parts):
                return Concat(parts)
        parts = []
        for src in np.unique(s).tolist():
            where = np.flatnonzero(s == src)
            parts.extend(self._parts(src, where, q[where], ids[where]))
        return Scatter(int(ids.size), tuple(parts))

    def _parts(self, src: int, where: np.ndarray, q: np.ndarray, ids: np.ndarray) -> list:
        """The assignments that place ``ids`` (of source ``src``, ranks ``q``) at
        positions ``where``: one, or (for long parts whose positions or ranks are no
        progression) ``k <= 4`` interleaved ones that are all slices, when there are."""
        one = [(_positions(where), self.one_source(src, q, ids, split=False))]
        if where.size < _INTERLEAVE_MIN or (isinstance(one[0][0], Slice)
                                             and not isinstance(one[0][1], Take)):
            return one
        for k in range(2, 5):
            classes = [slice(j, None, k) for j in range(k)]
            if all(_progression(where[c]) is not None and _progression(where[c])[1] > 0
                   and (src == _CONST or _progression(q[c]) is not None) for c in classes):
                return [(_positions(where[c]), self.one_source(src, q[c], ids[c], split=False))
                        for c in classes]
        return one


def _sources(access) -> list[int]:
    if isinstance(access, Whole | Slice | Take):
        return [access.source]
    if isinstance(access, Concat):
        return [s for p in access.parts for s in _sources(p)]
    if isinstance(access, Scatter):
        return [s for _, p in access.parts for s in _sources(p)]
    return []


def build_program(g: Graph, outputs: np.ndarray) -> Program:
    """The program that computes ``outputs`` (node ids of ``g``), one statement per run.

    Example
    -------
    >>> import numpy as np, symasd
    >>> g = symasd.trace(lambda x: np.exp(x) + 1.0, np.ones(3))
    >>> prog = build_program(g, g.outputs)
    >>> prog.n_runs, sorted(type(a).__name__ for a in prog.statements[1].args)
    (2, ['Literal', 'Whole'])
    """
    outputs = np.ascontiguousarray(outputs, dtype=_I)
    live = np.zeros(g.n_nodes, dtype=np.uint8)
    if outputs.size:
        _dag.live_nodes(g.op, g.arg0, g.arg1, g.arg2, outputs, live)
    nodes, bounds = _runs(g, live.view(bool))
    reader = _Reader(g, {X: g.n_inputs, P: g.n_params})
    arg_arrays = (g.arg0, g.arg1, g.arg2)
    pending = []
    for r in range(bounds.size - 1):
        run = nodes[bounds[r]:bounds[r + 1]]
        code = Code(int(g.op[run[0]]))
        arity = OPS[code].arity
        args = tuple(reader.read(arg_arrays[i][run]) for i in range(arity))
        exponent = None
        if OPS[code].payload:
            exponent = reader.one_source(_CONST, run, run)
        reader.set_run(r, run)
        pending.append((r, code, int(run.size), args, exponent))
    output = reader.read(outputs) if outputs.size else Constant(np.zeros(0))
    # the last statement that reads each run; an output run is never freed
    last = {}
    for r, _, _, args, _ in pending:
        for a in args:
            for s in _sources(a):
                last[s] = r
    kept = set(_sources(output))
    statements = tuple(
        Statement(r, code, length, args, exponent,
                  -1 if r in kept else last.get(r, r))
        for r, code, length, args, exponent in pending)
    return Program(statements, output, int(outputs.size), g.n_inputs, g.n_params)
