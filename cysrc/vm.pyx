# The virtual machine: evaluates a graph's node arrays in one pass, segment by
# segment (see plan()): strided segments read no index arrays at all.
include "_types.pxi"
include "_opcodes.pxi"
include "_op_rules.pxi"

from libc.string cimport memcpy

import numpy as np


cdef inline void _run1(uint8_t o, ITYPE_t s, ITYPE_t e, const ITYPE_t[::1] a0,
                       const ITYPE_t[::1] a1, const ITYPE_t[::1] a2, const double[::1] c,
                       const double[::1] x, const double[::1] p,
                       double[::1] v) noexcept nogil:
    cdef ITYPE_t k
    # the most frequent opcodes get their own loop so the compiler can keep the
    # switch out of the inner loop; the rest share apply_op
    if o == OP_CONST:
        for k in range(s, e):
            v[k] = c[k]
    elif o == OP_VAR:
        for k in range(s, e):
            v[k] = x[<ITYPE_t>c[k]]
    elif o == OP_PARAM:
        for k in range(s, e):
            v[k] = p[<ITYPE_t>c[k]]
    elif o == OP_ADD:
        for k in range(s, e):
            v[k] = v[a0[k]] + v[a1[k]]
    elif o == OP_SUB:
        for k in range(s, e):
            v[k] = v[a0[k]] - v[a1[k]]
    elif o == OP_MUL:
        for k in range(s, e):
            v[k] = v[a0[k]] * v[a1[k]]
    elif o == OP_DIV:
        for k in range(s, e):
            v[k] = v[a0[k]] / v[a1[k]]
    elif o == OP_NEG:
        for k in range(s, e):
            v[k] = -v[a0[k]]
    elif o == OP_SQUARE:
        for k in range(s, e):
            v[k] = v[a0[k]] * v[a0[k]]
    elif o == OP_WHERE:
        for k in range(s, e):
            v[k] = v[a1[k]] if v[a0[k]] != 0 else v[a2[k]]
    else:
        for k in range(s, e):
            v[k] = apply_op(o, v[a0[k]], v[a1[k] if a1[k] >= 0 else a0[k]],
                            v[a2[k] if a2[k] >= 0 else a0[k]], c[k])


def plan(const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
         const ITYPE_t[::1] a2, ITYPE_t min_strided=8):
    """Split the nodes into segments of one opcode whose arguments are arithmetic
    progressions (``a_j[k] = base_j + (k - start) * stride_j``), so that they can
    be evaluated without loading any index ("strided"); the rest stays indexed.

    Returns ``seg`` of shape ``(n_segments, 9)``: start, stop, strided flag,
    then base and stride of arguments 0, 1, 2 (``-1``/0 where unused).
    Leaves and stretches shorter than ``min_strided`` form indexed segments.
    """
    cdef ITYPE_t m = _segments(op, a0, a1, a2, min_strided, None)
    seg = np.zeros((m, 9), dtype=np.int64)
    _segments(op, a0, a1, a2, min_strided, seg)
    return seg


cdef ITYPE_t _segments(const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
                       const ITYPE_t[::1] a2, ITYPE_t min_strided, ITYPE_t[:, ::1] seg):
    """Count the segments of :func:`plan` (``seg`` None), or write them."""
    cdef ITYPE_t n = op.shape[0], k = 0, s, e, m = 0, d0, d1, d2
    cdef bint fill = seg is not None
    cdef bint last_indexed = False
    while k < n:
        s = k
        e = k + 1
        if (op[s] != OP_CONST and op[s] != OP_VAR and op[s] != OP_PARAM and e < n
                and op[e] == op[s]):
            d0 = a0[e] - a0[s]
            d1 = a1[e] - a1[s]
            d2 = a2[e] - a2[s]
            while (e < n and op[e] == op[s] and a0[e] - a0[e - 1] == d0
                   and a1[e] - a1[e - 1] == d1 and a2[e] - a2[e - 1] == d2):
                e += 1
            if e - s < min_strided:
                e = s + 1
        if e - s >= min_strided:
            if fill:
                seg[m, 0] = s
                seg[m, 1] = e
                seg[m, 2] = 1
                seg[m, 3] = a0[s]
                seg[m, 4] = a0[s + 1] - a0[s]
                seg[m, 5] = a1[s]
                seg[m, 6] = a1[s + 1] - a1[s]
                seg[m, 7] = a2[s]
                seg[m, 8] = a2[s + 1] - a2[s]
            m += 1
            last_indexed = False
        elif last_indexed and op[s] == op[s - 1]:
            if fill:
                seg[m - 1, 1] = e  # extend the indexed segment
        else:
            if fill:
                seg[m, 0] = s
                seg[m, 1] = e
                seg[m, 3] = -1
                seg[m, 5] = -1
                seg[m, 7] = -1
            m += 1
            last_indexed = True
        k = e
    return m


def leaf_runs(const ITYPE_t[:, ::1] seg, const uint8_t[::1] op, const double[::1] c,
              ITYPE_t min_run=8):
    """The plan ``seg`` for :func:`execute`, with every indexed segment of
    inputs (or of parameters) whose indices are ``c[k] = base + (k - start)``
    marked as a copy (flag 2 in column 2, ``base`` in column 3): its values are
    one block copy instead of a conversion per node. Segments shorter than
    ``min_run`` stay as they are. The sweeps read the unmarked plan."""
    out = np.array(seg, dtype=np.int64)
    cdef ITYPE_t[:, ::1] o = out
    cdef ITYPE_t r, k, s, e
    for r in range(seg.shape[0]):
        s = seg[r, 0]
        e = seg[r, 1]
        if seg[r, 2] or e - s < min_run or (op[s] != OP_VAR and op[s] != OP_PARAM):
            continue
        for k in range(s + 1, e):
            if c[k] != c[s] + (k - s):
                break
        else:
            o[r, 2] = 2
            o[r, 3] = <ITYPE_t>c[s]
    return out


def execute(const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
            const ITYPE_t[::1] a2, const double[::1] c, const ITYPE_t[:, ::1] seg,
            const ITYPE_t[::1] outputs, const double[::1] x, const double[::1] p,
            double[::1] vals, double[::1] out, const ITYPE_t[::1] positions=None):
    """Evaluate every node by the segments of :func:`plan`, then
    ``out[:] = vals[outputs]``, or ``out[positions] = vals[outputs]`` when
    ``positions`` is given (the other entries of ``out`` are left as they
    are: constant outputs filled in beforehand).

    (output) vals (n_nodes) as workspace, out (n_outputs, or larger with positions)
    """
    cdef ITYPE_t r, i, s, e
    with nogil:
        for r in range(seg.shape[0]):
            s = seg[r, 0]
            e = seg[r, 1]
            if seg[r, 2] == 2:
                if op[s] == OP_VAR:
                    memcpy(&vals[s], &x[seg[r, 3]], (e - s) * sizeof(double))
                else:
                    memcpy(&vals[s], &p[seg[r, 3]], (e - s) * sizeof(double))
            elif seg[r, 2]:
                strided_values(op[s], e - s, seg[r, 3], seg[r, 4], seg[r, 5], seg[r, 6],
                               seg[r, 7], seg[r, 8], &c[s], &vals[0], &vals[s])
            else:
                _run1(op[s], s, e, a0, a1, a2, c, x, p, vals)
        if positions is None:
            for i in range(outputs.shape[0]):
                out[i] = vals[outputs[i]]
        else:
            for i in range(outputs.shape[0]):
                out[positions[i]] = vals[outputs[i]]
