"""The expression DAG: struct-of-arrays scalar nodes, hash-consed and simplified.

A graph is five parallel arrays over node ids ``k = 0 .. n_nodes-1``:
``op[k]`` (an opcode of :mod:`symasd.ops`), ``arg0/arg1/arg2[k]`` (argument
ids, -1 where unused) and ``const[k]`` (a constant's value, a leaf's index or
the exponent of ``POWC``). Nodes are stored in topological order.

:class:`Builder` appends nodes **block by block**: every operation on arrays
of node ids is one vectorized call that simplifies (constant folding, ``x*0``,
``x*1``, ``x+0``, ``0/x``, ``--x``, ``x**1`` ...), canonicalizes commutative
arguments and interns the survivors in a hash table (``symasd._dag``), so
identical subexpressions share one id and tracing the same code twice gives
the same ids. The start of every block of new nodes is kept in
``block_starts``: code generation turns each block into one statement.

Reductions lower to **balanced trees of binary nodes** (depth ``log2`` of the
reduced length), built level by level with vectorized pairing; terms that are
the constant zero (for sums) or one (for products) are dropped first, so a
product with a sparse constant matrix creates nodes only for its nonzeros.

:class:`Graph` is the immutable result of tracing: the nodes the outputs
need (renumbered when many others were built), plus input, parameter and
output shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import numpy as np

from . import _dag
from .ops import BOOLEAN_CODES, COMMUTATIVE_CODES, OPS, PAYLOAD_CODES, Code

T = TypeVar("T")

__all__ = ["Builder", "Graph", "compacted"]

_I = np.int64
# Opcodes as plain ints where arrays are compared with them: NumPy compares an
# array with an IntEnum member several times slower than with an int.
_CONST, _NEG, _MUL = int(Code.CONST), int(Code.NEG), int(Code.MUL)


class Builder:
    """Appends hash-consed, simplified nodes for whole arrays of node ids.

    Every method takes and returns flat ``int64`` arrays of node ids of equal
    length (callers broadcast). With ``local=True`` the builder also keeps the
    value of every node at the tracing point, and resolves comparisons,
    ``where``, ``maximum`` and ``minimum`` by value (a *local* graph).
    ``capacity`` is the number of nodes to expect (storage grows beyond it).
    ``share=False`` turns off hash-consing of non-leaf nodes (see
    ``symasd._dag.NodeTable``): for graphs that only feed pattern detection.
    ``start`` preloads the nodes of a graph, with their ids unchanged.
    ``table`` is an empty ``symasd._dag.NodeTable`` to build in (storage
    reused from an earlier trace); its ``share`` setting wins.

    ``structural=True`` builds a graph for sparsity patterns only: affine maps
    of one operand with a nonzero constant (``c * x``, ``x / c``, ``x + c``,
    ``c - x``, ``-x``) return the operand itself, since they have its
    Jacobian and Hessian structure. Such a graph does not compute the traced
    function and must never be evaluated or differentiated.
    """

    def __init__(self, local: bool = False, capacity: int = 4096, share: bool = True,
                 start: Graph | None = None, table: _dag.NodeTable | None = None,
                 structural: bool = False):
        if table is not None and table.n:
            raise ValueError("Builder needs an empty node table (call table.reset())")
        if structural and local:
            raise ValueError("a structural builder keeps no values: it cannot be local")
        self.structural = structural
        self.table = table if table is not None else _dag.NodeTable(max(int(capacity), 64),
                                                                    share)
        self.block_starts: list[int] = []
        if start is not None:
            self.table.load(start.op, start.arg0, start.arg1, start.arg2, start.const)
            self.block_starts = start.block_starts.tolist()
        self.local = local
        self._values = np.zeros(4096) if local else None
        # the parameters so far (new ones are numbered after them): a preloaded
        # graph's, whose values are not known (only local builders read them)
        self._param_point = np.zeros(start.n_params if start is not None else 0)
        self.zero = int(self.const(np.zeros(1))[0])
        self.one = int(self.const(np.ones(1))[0])

    @classmethod
    def from_graph(cls, g: Graph) -> Builder:
        """A builder that starts with the nodes of ``g`` (same ids), to append
        derivative nodes that share the function's nodes."""
        return cls(capacity=2 * g.n_nodes, start=g)

    # -- storage -----------------------------------------------------------

    @property
    def n_nodes(self) -> int:
        return self.table.n

    def arrays(self):
        """Views ``(op, arg0, arg1, arg2, const)`` of the nodes built so far."""
        return self.table.arrays()

    def values(self, ids: np.ndarray) -> np.ndarray:
        """Values at the tracing point (local builders only)."""
        return self._values[ids]

    def _intern(self, code: Code, a0=None, a1=None, a2=None, c=None, length=-1) -> np.ndarray:
        before = self.table.n
        ids = self.table.intern(int(code), a0, a1, a2, c, length)
        after = self.table.n
        if after > before:
            self.block_starts.append(before)
            if self.local:
                self._evaluate_new(code, before, after)
        return ids

    def _evaluate_new(self, code: Code, start: int, stop: int) -> None:
        if stop > self._values.shape[0]:
            grown = np.zeros(max(2 * self._values.shape[0], stop))
            grown[:start] = self._values[:start]
            self._values = grown
        op, a0, a1, a2, c = self.arrays()
        if code == Code.CONST:
            val = c[start:stop]
        elif code in (Code.VAR, Code.PARAM):
            src = self._point if code == Code.VAR else self._param_point
            val = src[c[start:stop].astype(_I)]
        else:
            rule = OPS[code]
            args = [self._values[a[start:stop]] for a in (a0, a1, a2)[: rule.arity]]
            with np.errstate(all="ignore"):
                if code in PAYLOAD_CODES:
                    val = rule.numpy(args[0], c[start:stop])
                else:
                    val = rule.numpy(*args)
        self._values[start:stop] = val

    # -- leaves --------------------------------------------------------------

    def variables(self, point: np.ndarray) -> np.ndarray:
        """Ids of ``VAR`` leaves for the flattened input ``point``."""
        self._point = np.ascontiguousarray(point, dtype=np.float64).ravel()
        return self._intern(Code.VAR, c=np.arange(self._point.size, dtype=np.float64))

    def parameters(self, point: np.ndarray) -> np.ndarray:
        """Ids of ``PARAM`` leaves for the flattened (concatenated) parameters
        ``point``, numbered after those of earlier calls (a graph's parameters are
        all of them, concatenated in that order)."""
        new = np.ascontiguousarray(point, dtype=np.float64).ravel()
        start = self._param_point.size
        self._param_point = np.concatenate([self._param_point, new]) if start else new
        return self._intern(Code.PARAM, c=np.arange(start, start + new.size, dtype=np.float64))

    def const(self, values) -> np.ndarray:
        """Ids of constant nodes holding ``values`` (flattened)."""
        v = np.ascontiguousarray(values, dtype=np.float64).ravel()
        return self._intern(Code.CONST, c=v)

    def const_like(self, ids: np.ndarray, value: float) -> np.ndarray:
        """An array shaped like ``ids`` filled with the id of constant ``value``."""
        if value == 0.0:
            cid = self.zero
        elif value == 1.0:
            cid = self.one
        else:
            cid = int(self.const(np.array([value]))[0])
        return np.full(np.shape(ids), cid, dtype=_I)

    # -- helpers -------------------------------------------------------------

    def _const_info(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        op, _, _, _, c = self.arrays()
        return op[ids] == _CONST, c[ids]

    def _fold(self, code: Code, *vals, c=None) -> np.ndarray:
        with np.errstate(all="ignore"):
            if code in PAYLOAD_CODES:
                res = OPS[code].numpy(vals[0], c)
            else:
                res = OPS[code].numpy(*vals)
        return self.const(res)

    # -- operations ------------------------------------------------------------

    def unary(self, code: Code, a: np.ndarray) -> np.ndarray:
        """Ids of ``code(a)`` elementwise."""
        a = np.asarray(a, dtype=_I)
        if a.size == 0:
            return a.copy()
        if self.structural and code == Code.NEG:
            return a.copy()
        is_c, va = self._const_info(a)
        if code != Code.NEG and not is_c.any():
            return self._intern(code, np.ascontiguousarray(a).ravel()).reshape(a.shape)
        out = np.empty_like(a)
        todo = ~is_c
        if is_c.any():
            out[is_c] = self._fold(code, va[is_c])
        if code == Code.NEG:
            op, a0 = self.arrays()[:2]
            dbl = todo & (op[a] == _NEG)
            out[dbl] = a0[a[dbl]]
            todo &= ~dbl
            # -(c * x) -> (-c) * x keeps constant factors in one node
            rows = np.flatnonzero(todo)
            pos, factor, rest = self._const_operand(a[rows], Code.MUL)
            if pos.size:
                out[rows[pos]] = self.binary(Code.MUL, self.const(-factor), rest)
                todo[rows[pos]] = False
        if todo.any():
            out[todo] = self._intern(code, a[todo])
        return out

    def powc(self, a: np.ndarray, p) -> np.ndarray:
        """Ids of ``a ** p`` for constant exponents ``p`` (scalar or per element)."""
        a = np.asarray(a, dtype=_I)
        if a.size == 0:
            return a.copy()
        is_c, va = self._const_info(a)
        if np.ndim(p) == 0 and not is_c.any():
            # one exponent, no constant base (the usual x ** 2): no per-element masks
            p = float(p)
            if p == 1.0:
                return a.copy()
            if p == 0.0:
                return np.full(a.shape, self.one, dtype=_I)
            flat = np.ascontiguousarray(a).ravel()
            if p in (2.0, -1.0):
                # (unary would look for constant bases again)
                ids = self._intern(Code.SQUARE if p == 2.0 else Code.RECIPROCAL, flat)
            else:
                ids = self._intern(Code.POWC, flat, c=np.full(a.size, p))
            return ids.reshape(a.shape)
        p = np.broadcast_to(np.asarray(p, dtype=np.float64), a.shape)
        out = np.empty_like(a)
        if is_c.any():
            out[is_c] = self._fold(Code.POWC, va[is_c], c=p[is_c])
        todo = ~is_c
        for value, result in ((1.0, lambda m: a[m]),
                              (0.0, lambda m: np.full(m.sum(), self.one, dtype=_I)),
                              (2.0, lambda m: self.unary(Code.SQUARE, a[m])),
                              (-1.0, lambda m: self.unary(Code.RECIPROCAL, a[m]))):
            m = todo & (p == value)
            if m.any():
                out[m] = result(m)
                todo &= ~m
        if todo.any():
            out[todo] = self._intern(Code.POWC, a[todo], c=np.ascontiguousarray(p[todo]))
        return out

    def unary_payload(self, code: Code, a: np.ndarray, c) -> np.ndarray:
        """Ids of ``code(a)`` for an op whose node constant is an argument (``c``,
        scalar or per element; ``polygamma``'s order), folded where ``a`` is constant."""
        a = np.asarray(a, dtype=_I)
        c = np.broadcast_to(np.asarray(c, dtype=np.float64), a.shape)
        out = np.empty_like(a)
        if a.size == 0:
            return out
        is_c, va = self._const_info(a)
        if is_c.any():
            out[is_c] = self._fold(code, va[is_c], c=c[is_c])
        todo = ~is_c
        if todo.any():
            out[todo] = self._intern(code, a[todo], c=np.ascontiguousarray(c[todo]))
        return out

    def binary(self, code: Code, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Ids of ``code(a, b)`` elementwise (``a`` and ``b`` of equal length)."""
        a = np.ascontiguousarray(a, dtype=_I)
        b = np.ascontiguousarray(b, dtype=_I)
        if a.size == 0:
            return np.empty_like(a)
        if self.structural:
            ids = self.table.affine_operand(int(code), a, b)
            if ids is not None:
                return ids
        if not self.local:
            before = self.table.n
            done = self.table.intern_simple_binary(int(code), a, b, code in COMMUTATIVE_CODES,
                                                   self.zero)
            if done is not None and len(done) == 6:  # ("rules", ...): see _binary_rules
                return self._binary_rules(code, a, b, *done[1:])
            if done is not None:
                ids, squares_from, plain_from = done
                # one block each for folded constants, squares and plain nodes
                for start, stop in ((before, squares_from), (squares_from, plain_from),
                                    (plain_from, self.table.n)):
                    if stop > start:
                        self.block_starts.append(start)
                return ids
        out = np.empty_like(a)
        ca, va = self._const_info(a)
        cb, vb = self._const_info(b)
        both = ca & cb
        if both.any():
            out[both] = self._fold(code, va[both], vb[both])
        todo = ~both

        def take(mask, result):
            nonlocal todo
            mask = todo & mask
            if mask.any():
                out[mask] = result(mask) if callable(result) else result
                todo &= ~mask

        # the rules below need a constant operand or a nested product; most
        # blocks have neither, and skip them after two cheap checks
        any_const = bool(ca.any() or cb.any())
        if code == Code.ADD and any_const:
            take(ca & (va == 0), lambda m: b[m])
            take(cb & (vb == 0), lambda m: a[m])
            self._reassociate(code, a, b, ca, cb, va, vb, take, np.add)
        elif code == Code.SUB and any_const:
            take(cb & (vb == 0), lambda m: a[m])
            take(ca & (va == 0), lambda m: self.unary(Code.NEG, b[m]))
        elif code == Code.MUL:
            if any_const:
                take((ca & (va == 0)) | (cb & (vb == 0)), self.zero)
                take(ca & (va == 1), lambda m: b[m])
                take(cb & (vb == 1), lambda m: a[m])
                take(ca & (va == -1), lambda m: self.unary(Code.NEG, b[m]))
                take(cb & (vb == -1), lambda m: self.unary(Code.NEG, a[m]))
                self._reassociate(code, a, b, ca, cb, va, vb, take, np.multiply)
                op, a0 = self.arrays()[:2]
                for c_side, v_side, other in ((ca, va, b), (cb, vb, a)):
                    neg = c_side & (op[other] == _NEG)
                    take(neg, lambda m, v=v_side, o=other: self.binary(
                        Code.MUL, self.const(-v[m]), a0[o[m]]))
            take(a == b, lambda m: self.unary(Code.SQUARE, a[m]))
            op = self.arrays()[0]
            if (op[a] == _MUL).any() and (op[b] == _MUL).any():
                self._factor_constants(a, b, todo, take)
        elif code == Code.MULZ and any_const:
            # 0 is a strong zero here: x * 0 is 0 for every x
            take((ca & (va == 0)) | (cb & (vb == 0)), self.zero)
            take(ca & (va == 1), lambda m: b[m])
            take(cb & (vb == 1), lambda m: a[m])
        elif code == Code.DIV and any_const:
            take(ca & (va == 0), self.zero)
            take(cb & (vb == 1), lambda m: a[m])
            take(ca & (va == 1), lambda m: self.unary(Code.RECIPROCAL, b[m]))
        elif code == Code.POW and any_const:
            take(cb, lambda m: self.powc(a[m], vb[m]))
            take(ca & (va == 1), self.one)
        elif code in (Code.MAX, Code.MIN):
            take(a == b, lambda m: a[m])
            if self.local:
                va_, vb_ = self._values[a], self._values[b]
                first = va_ > vb_ if code == Code.MAX else va_ < vb_
                second = va_ < vb_ if code == Code.MAX else va_ > vb_
                take(first, lambda m: a[m])
                take(second, lambda m: b[m])
        if self.local and code in BOOLEAN_CODES and todo.any():
            vals = OPS[code].numpy(self._values[a[todo]], self._values[b[todo]])
            take(np.ones_like(todo), self.const(vals))
        everything = bool(todo.all())
        if not (everything or todo.any()):
            return out
        x, y = (a, b) if everything else (a[todo], b[todo])
        if code in COMMUTATIVE_CODES:
            x, y = np.minimum(x, y), np.maximum(x, y)
        ids = self._intern(code, np.ascontiguousarray(x), np.ascontiguousarray(y))
        if everything:
            return ids
        out[todo] = ids
        return out

    def _binary_rules(self, code: Code, a, b, kinds, ids, vals, first, second) -> np.ndarray:
        """``code(a, b)`` for a block that ``NodeTable.intern_simple_binary`` has
        classified row by row (its ``_rule`` lists the kinds): the blocks are
        built in the order of the NumPy path below (folded constants, then each
        rule on its rows, squares, factored constants, plain nodes), so the
        nodes and ids are the same, without a dozen NumPy passes over the block."""
        out = ids
        present = np.bincount(kinds, minlength=13)

        def rows(kind):
            return np.flatnonzero(kinds == kind) if present[kind] else None

        m = rows(2)
        if m is not None:
            out[m] = self.const(vals[m])
        for kind in (5, 6, 7, 8, 9, 10, 11, 4, 12):
            m = rows(kind)
            if m is None:
                continue
            if kind in (5, 6):
                out[m] = self.unary(Code.NEG, first[m])
            elif kind in (7, 8):
                out[m] = self.binary(code, self.const(vals[m]), first[m])
            elif kind in (9, 10):
                out[m] = self.binary(Code.MUL, self.const(vals[m]), first[m])
            elif kind == 11:
                out[m] = self.unary(Code.RECIPROCAL, first[m])
            elif kind == 4:
                out[m] = self.unary(Code.SQUARE, a[m])
            else:
                out[m] = self.binary(Code.MUL, self.const(vals[m]),
                                     self.binary(Code.MUL, first[m], second[m]))
        m = rows(0)
        if m is not None:
            x, y = a[m], b[m]
            if code in COMMUTATIVE_CODES:
                x, y = np.minimum(x, y), np.maximum(x, y)
            out[m] = self._intern(code, x, y)
        return out

    def _const_operand(self, ids: np.ndarray, code: Code):
        """For the nodes ``ids`` that are ``code`` nodes with a constant argument:
        their positions in ``ids``, the constant and the other argument."""
        op, a0, a1, _, c = self.arrays()
        pos = np.flatnonzero(op[ids] == int(code))
        if pos.size == 0:
            return pos, np.zeros(0), pos
        x, y = a0[ids[pos]], a1[ids[pos]]
        x_const = op[x] == _CONST
        has = x_const | (op[y] == _CONST)
        factor = np.where(x_const, c[x], c[y])[has]
        rest = np.where(x_const, y, x)[has]
        return pos[has], factor, rest

    def _reassociate(self, code, a, b, ca, cb, va, vb, take, combine) -> None:
        """``c1 op (c2 op x)`` -> ``(c1 op c2) op x`` for associative ``op``."""
        for c_side, v_side, other in ((ca, va, b), (cb, vb, a)):
            rows = np.flatnonzero(c_side)
            if rows.size == 0:
                continue
            pos, factor, rest = self._const_operand(other[rows], code)
            if pos.size == 0:
                continue
            mask = np.zeros(a.shape[0], dtype=bool)
            mask[rows[pos]] = True
            full_f = np.zeros(a.shape[0])
            full_r = np.zeros(a.shape[0], dtype=_I)
            with np.errstate(all="ignore"):
                full_f[rows[pos]] = combine(v_side[rows[pos]], factor)
            full_r[rows[pos]] = rest
            take(mask, lambda m, f=full_f, r=full_r: self.binary(code, self.const(f[m]), r[m]))

    def _factor_constants(self, a, b, todo, take) -> None:
        """``(c1 * x) * (c2 * y)`` -> ``(c1 * c2) * (x * y)``."""
        rows = np.flatnonzero(todo)
        if rows.size == 0:
            return
        pa, fa, ra = self._const_operand(a[rows], Code.MUL)
        pb, fb, rb = self._const_operand(b[rows], Code.MUL)
        common, ia, ib = np.intersect1d(pa, pb, assume_unique=True, return_indices=True)
        if common.size == 0:
            return
        mask = np.zeros(a.shape[0], dtype=bool)
        mask[rows[common]] = True
        factor = np.zeros(a.shape[0])
        x = np.zeros(a.shape[0], dtype=_I)
        y = np.zeros(a.shape[0], dtype=_I)
        factor[rows[common]] = fa[ia] * fb[ib]
        x[rows[common]] = ra[ia]
        y[rows[common]] = rb[ib]
        take(mask, lambda m: self.binary(Code.MUL, self.const(factor[m]),
                                         self.binary(Code.MUL, x[m], y[m])))

    def where(self, cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Ids of ``where(cond, a, b)`` elementwise."""
        cond, a, b = (np.asarray(v, dtype=_I) for v in (cond, a, b))
        out = np.empty_like(a)
        if a.size == 0:
            return out
        is_c, vc = self._const_info(cond)
        if self.local:
            is_c = np.ones_like(is_c)
            vc = self._values[cond]
        pick_a = is_c & (vc != 0)
        pick_b = is_c & (vc == 0)
        out[pick_a] = a[pick_a]
        out[pick_b] = b[pick_b]
        same = ~is_c & (a == b)
        out[same] = a[same]
        todo = ~(is_c | same)
        if todo.any():
            out[todo] = self._intern(Code.WHERE, cond[todo], a[todo], b[todo])
        return out

    def sequence(self, op: np.ndarray, a0: np.ndarray, a1: np.ndarray) -> np.ndarray:
        """Intern binary nodes that refer to each other (``-2 - j`` is entry ``j``
        of this call), one by one in Cython; no simplification beyond
        hash-consing and folding ``ADD`` / ``SUB`` of two constants. For long
        dependency chains that cannot be vectorized; derivative graphs only (no
        local values are tracked)."""
        before = self.table.n
        ids = self.table.intern_sequence(
            np.ascontiguousarray(op, dtype=np.uint8), np.ascontiguousarray(a0, dtype=_I),
            np.ascontiguousarray(a1, dtype=_I), np.full(op.shape[0], -1, dtype=_I),
            np.zeros(op.shape[0]))
        if self.table.n > before:
            self.block_starts.append(before)
        return ids

    def reduce_segments(self, code: Code, ids: np.ndarray, indptr: np.ndarray) -> np.ndarray:
        """Reduce each segment ``ids[indptr[s]:indptr[s+1]]`` with the binary op
        ``code`` (``ADD``, ``MUL``, ``MAX`` or ``MIN``) as a balanced tree.

        Identity terms (zero for sums, one for products) are dropped first; an
        empty segment reduces to the identity (``MAX``/``MIN`` need non-empty
        segments).
        """
        ids = np.asarray(ids, dtype=_I)
        indptr = np.asarray(indptr, dtype=_I)
        nseg = indptr.shape[0] - 1
        lengths = np.diff(indptr)
        identity = {Code.ADD: self.zero, Code.MUL: self.one}.get(code)
        if identity is not None and ids.size:
            keep = ids != identity
            if not keep.all():
                seg = np.repeat(np.arange(nseg), lengths)
                lengths = np.bincount(seg[keep], minlength=nseg).astype(_I)
                ids = ids[keep]
        if nseg and lengths.min() == lengths.max() > 1:
            # equal lengths (one segment, or pairs): the same tree, paired by
            # slicing a (segments, length) view; binary sees the same rows
            rows = ids.reshape(nseg, -1)
            while rows.shape[1] > 1:
                half = rows.shape[1] // 2
                merged = self.binary(code, rows[:, 0:2 * half:2].ravel(),
                                     rows[:, 1:2 * half:2].ravel()).reshape(nseg, half)
                rows = merged if rows.shape[1] == 2 * half else np.hstack([merged,
                                                                           rows[:, -1:]])
            return rows[:, 0].copy()
        while (lengths > 1).any():
            starts = np.cumsum(lengths) - lengths
            seg_len = np.repeat(lengths, lengths)
            pos = np.arange(ids.size, dtype=_I) - np.repeat(starts, lengths)
            even = pos % 2 == 0
            paired = even & (pos + 1 < seg_len)
            left = np.flatnonzero(paired)
            merged = ids.copy()
            merged[left] = self.binary(code, ids[left], ids[left + 1])
            ids = merged[even]
            lengths = (lengths + 1) // 2
        out = np.full(nseg, identity if identity is not None else -1, dtype=_I)
        out[lengths == 1] = ids
        return out

    def finish(self, outputs: np.ndarray, input_shape, output_shape, param_shapes=(),
               compact: bool | None = False) -> Graph:
        """Freeze the nodes needed by ``outputs`` into a :class:`Graph`
        (renumbered without the unneeded ones when they are more than 1/8, or
        whenever there are any with ``compact=True``: for graphs that will be
        evaluated many times; never with ``compact=None``: the graph keeps the
        builder's ids, for a builder that goes on appending to it, or for
        :func:`compacted` later)."""
        op, a0, a1, a2, c = self.arrays()
        # a view of the builder's arrays, whose first n entries are never
        # written again (nodes are only appended)
        g = Graph(op=op, arg0=a0, arg1=a1, arg2=a2, const=c,
                  outputs=np.ascontiguousarray(outputs, dtype=_I).ravel(),
                  input_shape=tuple(input_shape), output_shape=tuple(output_shape),
                  param_shapes=tuple(tuple(s) for s in param_shapes),
                  block_starts=np.unique(np.asarray(self.block_starts, dtype=_I)),
                  local=self.local)
        if compact is None:
            return g
        # (a few unused nodes cost less than renumbering)
        return compacted(g, slack=0.0 if compact else 0.125)


def compacted(g: Graph, slack: float = 0.0, *, live: np.ndarray | None = None) -> Graph:
    """``g`` without the nodes its outputs do not need, renumbered in order in one
    pass; ``g`` itself when those are at most a ``slack`` fraction of its nodes.
    ``live``: the flags of the needed nodes (uint8, as ``_dag.live_nodes`` marks
    them), if the caller has them already.

    Example
    -------
    >>> import numpy as np, symasd
    >>> from symasd.graph import Builder, compacted
    >>> from symasd.ops import Code
    >>> b = Builder()
    >>> x = b.variables(np.zeros(2))
    >>> _ = b.unary(Code.SIN, x)                        # not an output
    >>> g = b.finish(b.binary(Code.MUL, x[:1], x[1:]), (2,), (1,), compact=None)
    >>> g.n_nodes, compacted(g).n_nodes
    (7, 3)
    """
    if live is None:
        live = np.zeros(g.n_nodes, dtype=np.uint8)
        _dag.live_nodes(g.op, g.arg0, g.arg1, g.arg2, g.outputs, live)
    unneeded = g.n_nodes - int(np.count_nonzero(live))
    if unneeded <= slack * g.n_nodes:
        return g
    op, a0, a1, a2, c, block_starts, outputs = _dag.compact_nodes(
        g.op, g.arg0, g.arg1, g.arg2, g.const, live,
        np.ascontiguousarray(g.block_starts, dtype=_I),
        g.outputs)
    return Graph(op=op, arg0=a0, arg1=a1, arg2=a2, const=c, outputs=outputs,
                 input_shape=g.input_shape, output_shape=g.output_shape,
                 param_shapes=g.param_shapes, block_starts=block_starts, local=g.local)


@dataclass(frozen=True, eq=False)
class Graph:
    """An immutable expression DAG with its inputs, parameters and outputs.

    Produced by :func:`symasd.trace` and :func:`symasd.from_sympy`. The graph
    is the IR only: the passes over it live in their own modules and import
    it, never the other way round. Two of them register a method here, where
    they are defined: calling the graph, ``g(x, *p)``, evaluates it on the
    Cython virtual machine (:func:`symasd.evaluation.evaluate`), and
    ``g.to_sympy()`` converts it (:func:`symasd.sympy_bridge.graph_to_sympy`).

    Example
    -------
    >>> import numpy as np, symasd
    >>> g = symasd.trace(lambda x: np.sin(x[1:]) * x[:-1], np.ones(4))
    >>> g.n_inputs, g.n_outputs, g.output_shape
    (4, 3, (3,))
    >>> np.allclose(g(np.arange(4.0)), np.sin([1., 2., 3.]) * [0., 1., 2.])
    True
    """

    op: np.ndarray
    arg0: np.ndarray
    arg1: np.ndarray
    arg2: np.ndarray
    const: np.ndarray
    outputs: np.ndarray
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    param_shapes: tuple[tuple[int, ...], ...] = ()
    block_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=_I))
    local: bool = False

    @cached_property
    def n_inputs(self) -> int:
        # cached: every tape call checks its seeds against it, and np.prod costs
        # microseconds
        return int(np.prod(self.input_shape, dtype=_I))

    @property
    def n_outputs(self) -> int:
        return int(self.outputs.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.op.shape[0])

    @property
    def n_params(self) -> int:
        return int(sum(np.prod(s, dtype=_I) for s in self.param_shapes))

    def __repr__(self) -> str:
        kind = "local" if self.local else "global"
        return (f"Graph({kind}, input_shape={self.input_shape}, output_shape="
                f"{self.output_shape}, n_nodes={self.n_nodes})")

    def derived(self, key: str, build: Callable[[Graph], T]) -> T:
        """``build(self)``, built once and kept with the graph under ``key``.

        This is the one place anything derived from a graph is kept: the
        virtual machine's plans (:mod:`symasd.evaluation`), the sweeps' plan
        and row layouts (:mod:`symasd.sweeps`). A graph never changes after it
        is built, so what is derived from it stays valid as long as the graph
        lives, and goes with it. Two threads that build at once keep the first
        value stored, so every caller sees the same object. Derived values are
        not pickled with the graph: they are rebuilt on first use.

        Example
        -------
        >>> import numpy as np, symasd
        >>> g = symasd.trace(np.sin, np.zeros(3))
        >>> first = g.derived("example", lambda g: np.zeros(g.n_nodes))
        >>> g.derived("example", lambda g: None) is first  # kept: not built again
        True
        """
        kept = self.__dict__.get("_derived")
        if kept is None:
            kept = self.__dict__.setdefault("_derived", {})
        try:
            return kept[key]
        except KeyError:
            return kept.setdefault(key, build(self))

    def __getstate__(self) -> dict:
        # the derived plans hold kernel objects that do not pickle; they are rebuilt
        state = dict(self.__dict__)
        state.pop("_derived", None)
        return state

    @cached_property
    def levels(self) -> np.ndarray:
        """Level of every node: 0 for leaves, 1 + the deepest argument's level otherwise."""
        level = np.empty(self.n_nodes, dtype=_I)
        _dag.node_levels(self.op, self.arg0, self.arg1, self.arg2, level)
        return level
