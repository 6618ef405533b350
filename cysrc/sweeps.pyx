# Numeric compressed sweeps over a graph's node arrays: forward (c JVPs),
# reverse (c VJPs) and forward-over-reverse (c HVPs of a scalar output).
#
# Every sweep is one pass over the nodes in topological order (and, for the
# reverse sweeps, one pass back), with no Python per node. Node values come
# from ``apply_op`` (cysrc/_op_rules.pxi, shared with the virtual
# machine); local derivatives from two inline C functions that mirror the op
# table's partial rules (symasd/ops.py): ``first_partials`` and
# ``second_partials``. Structural zeros are skipped with one flag per node:
# a tangent row that is known to be zero is never read or written, an
# adjoint row that no output reaches is never propagated, and an argument
# whose first (second, cross) derivative is classified as identically zero
# (``d1``/``d2``/``cross`` tables of ``symasd.ops.classification_tables``)
# contributes nothing.
#
# The passes walk the segments of the virtual machine's plan (``symasd.evaluation.segments``,
# ``plan`` in cysrc/vm.pyx). An indexed segment goes node by node through the
# argument arrays. A strided segment (one opcode, arguments in arithmetic
# progressions) goes in blocks of BLK nodes with no index loads: the block's
# values, then its local partials (one array per argument, computed once and
# reused by all directions), then the direction rows in tight loops. A block
# takes the tight loops when its flags are uniform and its partials finite;
# otherwise, and for selections, it runs the per-node rules with computed
# indices. Both paths perform the same floating-point operations in the same
# order, so the results are identical for every plan (tests compare them
# bit for bit with an all-indexed plan).
#
# Selections (``where``, ``maximum``, ``minimum``) *select* a derivative
# rather than multiply by 0/1: the derivative of the branch that is not taken
# is never read, so a NaN or inf in a discarded branch does not leak into the
# result. At a NaN argument, ``maximum``/``minimum`` (whose value is then
# NaN) have NaN partials, so NaN inputs give NaN derivatives. A NaN or
# infinite partial scales only the nonzero entries of a direction row, so the
# NaN reaches exactly the entries that depend on it, never entries outside
# the sparsity pattern.
#
# Work arrays: values N, tangents / adjoints N x cc where cc is the number of
# directions per chunk (the callers split c columns into chunks to bound
# memory); the forward sweep's row layout (``RowLayout``) shrinks its tangents
# to the rows live at one time. Rows are assigned on first write, so no
# N x cc array is zeroed; the work buffer is cached per thread
# (``WORKSPACE_KEEP_BYTES``).
#
# Files: this module holds the Python entry points; the kernels are included
# from _sweep_common.pxi (row and block helpers shared by the sweeps),
# _row_layout.pxi (row layouts and their planner), _sweep_plan.pxi (SweepPlan:
# a graph's arrays and cached layouts, built once per graph, the one argument
# the entry points take for the graph), _workspace.pxi (work buffers),
# _sweep_forward.pxi, _sweep_reverse.pxi and _sweep_hvp.pxi; their C loops
# live in sweep_kernels.h and sweep_flags.h.
cimport cython

include "_types.pxi"
include "_opcodes.pxi"
include "_op_rules.pxi"

import threading

from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import numpy as np


include "_sweep_common.pxi"
include "_row_layout.pxi"
include "_sweep_plan.pxi"
include "_workspace.pxi"
include "_sweep_forward.pxi"
include "_sweep_reverse.pxi"
include "_sweep_hvp.pxi"


# ---------------------------------------------------------------------------
# Python entry points.


# not picklable: it holds raw views of arrays (Cython's default pickling of it
# would read a null view); pickle the graph instead
@cython.auto_pickle(False)
cdef class RowGather:
    """The decompression ``B.ravel()[compressed_indices]`` of a column coloring (B of
    shape ``(n_rows, n_cols)``, C order) for the forward sweep's ``gather=``: the row
    pointers of the nonzeros (``indptr``; each nonzero's index lies in its row of B)
    and the indices (``idx``: int32 when B has fewer than 2**31 entries, else
    int64), checked once by :func:`row_gather`."""
    cdef readonly ITYPE_t n_rows, n_cols, nnz
    cdef readonly object indptr, idx
    # typed views, held for the gather's life (the sweep reads idx32 or idx64)
    cdef const ITYPE_t[::1] indptr_v, idx64
    cdef const int32_t[::1] idx32

    def __repr__(self):
        return f"RowGather(n_rows={self.n_rows}, n_cols={self.n_cols}, nnz={self.nnz})"


def row_gather(const ITYPE_t[::1] indptr, const ITYPE_t[::1] compressed_indices,
               ITYPE_t n_cols):
    """A :class:`RowGather` for ``B.ravel()[compressed_indices]``, B of shape
    ``(len(indptr) - 1, n_cols)``: ``indptr`` (row pointers of the nonzeros) must
    put every nonzero ``k`` in the row that holds ``compressed_indices[k]`` (as a
    column coloring's indices ``i * ncolors + colors[j]`` are); ValueError
    otherwise."""
    cdef ITYPE_t m = indptr.shape[0] - 1, nnz = compressed_indices.shape[0], r, k, c
    cdef ITYPE_t bad = -1
    if m < 0 or indptr[0] != 0 or indptr[m] != nnz or n_cols < 0:
        raise ValueError("indptr must run from 0 to the number of compressed indices")
    with nogil:
        for r in range(m):
            if indptr[r + 1] < indptr[r]:
                bad = r
                break
            for k in range(indptr[r], indptr[r + 1]):
                c = compressed_indices[k] - r * n_cols
                if not 0 <= c < n_cols:
                    bad = r
                    break
            if bad >= 0:
                break
    if bad >= 0:
        raise ValueError(f"row {bad}: the compressed indices of its nonzeros must lie in "
                         f"row {bad} of B")
    rg = RowGather()
    rg.n_rows = m
    rg.n_cols = n_cols
    rg.nnz = nnz
    rg.indptr = np.array(indptr, dtype=np.int64)
    # the sweep's gather reads an index per nonzero: half the traffic in int32
    rg.idx = np.array(compressed_indices,
                      dtype=np.int32 if m * n_cols <= np.iinfo(np.int32).max else np.int64)
    rg.indptr.flags.writeable = False
    rg.idx.flags.writeable = False
    rg.indptr_v = rg.indptr
    if rg.idx.dtype == np.int32:
        rg.idx32 = rg.idx
    else:
        rg.idx64 = rg.idx
    return rg


def seed_zero_rows(const double[:, ::1] S):
    """Zero flags of the rows of a seed matrix: uint8 ``(n,)``, 1 where ``S[i]`` is all
    zero (+0 or -0). The sweeps take them as ``seed_zero=`` from a caller that passes
    the same seeds at every call, so that they need not scan the seeds each time."""
    out = np.empty(S.shape[0], dtype=np.uint8)
    cdef uint8_t[::1] f = out
    if S.shape[0]:
        symasd_sw_zero_rows(&S[0, 0], S.shape[1], S.shape[0], S.shape[1], &f[0])
    return out


cdef int _check_point(SweepPlan graph, const double[::1] x, ITYPE_t seed_rows,
                      str seeds) except -1:
    """A sweep's point ``x`` and the rows of its input seeds must match the inputs."""
    if x.shape[0] != graph.n_inputs:
        raise ValueError("x must have n_inputs entries")
    if seed_rows != graph.n_inputs:
        raise ValueError(f"{seeds} must have one row per input")
    return 0


cdef const uint8_t *_seed_flags(const uint8_t[::1] seed_zero, ITYPE_t n,
                                bint one_pass) except? NULL:
    """The sweeps' pointer to ``seed_zero`` (checked to have ``n`` flags), or NULL when
    it is None or the columns run in chunks (its flags cover whole rows)."""
    if seed_zero is None:
        return NULL
    if seed_zero.shape[0] != n:
        raise ValueError("seed_zero must have one flag per row of the seed matrix")
    return &seed_zero[0] if one_pass and n else NULL


def forward_sweep(SweepPlan graph not None, const double[::1] x, const double[::1] p,
                  const double[:, ::1] S, ITYPE_t chunk=0, RowLayout layout=None,
                  finish=None, const uint8_t[::1] seed_zero=None, bint values=True,
                  RowGather gather=None):
    """Compressed forward sweep: output values and ``B = J @ S``.

    (input)  graph: the :class:`SweepPlan` of the graph (node arrays, tables,
             segment plan); x: (n_inputs,), p: (n_params,), S: (n_inputs, c) seed
             matrix; chunk: directions per pass (0: all c at once);
             layout: a :class:`RowLayout` of these node arrays from
             :meth:`SweepPlan.forward_layout` or :func:`forward_layout` (it carries
             its own plan); None: the plan's segments in order, node ``k``'s tangent
             row is row ``k`` of the work array;
             finish: None, or a function of ``B`` whose result is returned in
             place of ``B`` (see :func:`_compressed_out`);
             seed_zero: None, or ``seed_zero_rows(S)`` (computed once by a caller
             that reuses ``S``; trusted, used when one pass covers all c columns);
             values: False computes no output values (y is None) and, with a
             layout, only the node values that the tangents read;
             gather: None, or a :class:`RowGather` for B's shape, with a
             ``gathered`` layout: B is never formed, each output row's nonzeros are
             gathered from its tangent row (in the unit that computes it)
    (output) ``(y, B)``: y (m,) output values, B (m, c) float64; with ``gather``,
             ``(y, data)``: data (nnz,) the gather's nonzeros of B, a new array

    NumPy equivalent: ``y = f(x, p)``, ``B = jacobian(f)(x, p) @ S``,
    ``data = B.ravel()[gather's compressed_indices]``.
    Memory: values N plus tangents N x chunk (N = number of nodes; with a layout,
    ``layout.n_slots`` x chunk).
    """
    cdef Nodes nd = graph.nodes
    cdef ITYPE_t n = graph.n_nodes, m = graph.n_outputs, ctot = S.shape[1]
    cdef ITYPE_t cc, j0, r, j, k, g, nslots, nseg, nu
    _check_point(graph, x, S.shape[0], "S")
    if chunk <= 0 or chunk > ctot:
        chunk = ctot
    if gather is not None:
        if finish is not None:
            raise ValueError("pass finish or gather, not both")
        if gather.n_rows != m or gather.n_cols != ctot:
            raise ValueError(f"the row gather is for B of shape ({gather.n_rows}, "
                             f"{gather.n_cols}), not ({m}, {ctot})")
    if layout is not None and layout.gathered != (gather is not None):
        raise ValueError("a gathered row layout goes with gather= and only with it")
    cdef const uint8_t *sz = _seed_flags(seed_zero, S.shape[0], chunk == ctot)
    y_arr = np.empty(m) if values else None
    if n == 0 or ctot == 0:
        if gather is not None:
            # no nodes or no columns: no nonzeros either
            return y_arr, np.empty(0)
        B_arr = np.empty((m, ctot))
        return y_arr, (B_arr if finish is None else finish(B_arr))
    cdef const ITYPE_t[:, ::1] plan
    cdef const ITYPE_t[:, ::1] units
    if layout is not None:
        if layout.n_outputs != m or layout.out_addr != <size_t>nd.outputs:
            raise ValueError("the row layout was built for other node arrays")
        plan = layout.plan_v
        units = layout.units_v
        nslots = layout.n_slots
    elif gather is not None:
        raise ValueError("gather= needs a gathered row layout")
    else:
        plan = graph.seg_v
        units = graph.units_v
        nslots = n
    nseg = plan.shape[0]
    nu = units.shape[0]
    # every entry of B (or of data) is written below
    if gather is None:
        B_arr, (vals_arr, T_arr, tz_arr) = _compressed_out(
            (m, ctot), finish, [n, (nslots + 1) * chunk], [n])
    else:
        B_arr = None
        data_arr = np.empty(gather.nnz)
        vals_arr, T_arr, tz_arr = _work_arrays([n, (nslots + 1) * chunk], [n])
    cdef double[::1] vals = vals_arr
    cdef double[::1] T = T_arr
    cdef uint8_t[::1] tz = tz_arr
    cdef double[::1] y = y_arr
    cdef double[:, ::1] B = B_arr
    cdef const double *xp = &x[0] if x.shape[0] else NULL
    cdef const double *pp = &p[0] if p.shape[0] else NULL
    cdef const double *Sp = &S[0, 0] if S.shape[0] else NULL
    cdef double *Tp = &T[0]
    cdef double *Bp = &B[0, 0] if m and B_arr is not None else NULL
    cdef double *brow
    cdef const double *trow
    cdef const uint8_t[::1] kind
    cdef const ITYPE_t *cpos = NULL  # the output positions to copy (NULL: all)
    cdef ITYPE_t i, ncopy = m
    cdef double[::1] data
    cdef RowOut ro
    cdef RowOut *out = NULL
    if gather is not None:
        data = data_arr
        ro.data = &data[0] if gather.nnz else NULL
        ro.indptr = &gather.indptr_v[0]
        ro.idx32 = &gather.idx32[0] if gather.idx32 is not None and gather.nnz else NULL
        ro.idx64 = &gather.idx64[0] if gather.idx64 is not None and gather.nnz else NULL
        ro.run_ptr = &layout.run_ptr[0]
        ro.runs = &layout.runs[0, 0] if layout.runs.shape[0] else NULL
        ro.ctot = ctot
        out = &ro
    cdef Layout lay
    _open_layout(&lay, layout, LAYOUT_FORWARD, units, Tp, &nd, n, graph.n_inputs)
    if layout is not None:
        if not values and nu:
            lay.vneed = &layout.vneed_v[0]
        kind = layout.kind
        ncopy = layout.copy_pos.shape[0]
        cpos = &layout.copy_pos[0] if ncopy else NULL
    try:
        j0 = 0
        while j0 < ctot:
            cc = min(chunk, ctot - j0)
            lay.cc = cc
            ro.j0 = j0
            with nogil:
                _place_rows(&lay, nu, cc, Sp, Bp, ctot, j0)
                _forward(nd, &plan[0, 0], &units[0, 0], nu, xp, pp, j0 == 0, &vals[0], Sp,
                         ctot, j0, cc, &lay, sz, &tz[0], out)
                if not lay.ident:
                    # rows written in place: zero rows are left to fill
                    for g in range(nu):
                        if kind[g] == ROWS_OUT:
                            brow = lay.first[g]
                            for k in range(units[g, 1], units[g, 2]):
                                if tz[k]:
                                    for j in range(cc):
                                        brow[j] = 0.0
                                brow += ctot
                for i in range(ncopy):
                    r = cpos[i] if cpos != NULL else i
                    k = nd.outputs[r]
                    brow = Bp + r * ctot + j0
                    if tz[k]:
                        for j in range(cc):
                            brow[j] = 0.0
                    else:
                        trow = _rowp(&lay, k)
                        for j in range(cc):
                            brow[j] = trow[j]
            j0 += cc
    finally:
        _close_layout(&lay)
    if values:
        with nogil:
            for r in range(m):
                y[r] = vals[nd.outputs[r]]
    if gather is not None:
        return y_arr, data_arr
    return y_arr, (B_arr if finish is None else finish(B_arr))


def reverse_sweep(SweepPlan graph not None, const double[::1] x, const double[::1] p,
                  const double[:, ::1] W, ITYPE_t chunk=0, finish=None):
    """Compressed reverse sweep: output values and ``B = W.T @ J``.

    (input)  graph as in :func:`forward_sweep` (its segments run in plan order);
             x: (n_inputs,), p: (n_params,), W: (m, c) output seeds; chunk:
             directions per pass; finish: as in :func:`forward_sweep`
    (output) ``(y, B)``: y (m,) output values, B (c, n_inputs) float64, the
             adjoints of the inputs (accumulated over every use of every node)

    NumPy equivalent: ``y = f(x, p)``, ``B = W.T @ jacobian(f)(x, p)``.
    Memory: values N plus adjoints N x chunk.
    """
    cdef Nodes nd = graph.nodes
    cdef ITYPE_t n = graph.n_nodes, m = graph.n_outputs, ctot = W.shape[1]
    cdef ITYPE_t n_inputs = graph.n_inputs, cc, j0, r
    if W.shape[0] != m:
        raise ValueError("W must have one row per output")
    _check_point(graph, x, n_inputs, "x")
    if chunk <= 0 or chunk > ctot:
        chunk = ctot
    y_arr = np.empty(m)
    if n == 0 or ctot == 0:
        B_arr = np.zeros((ctot, n_inputs))
        return y_arr, (B_arr if finish is None else finish(B_arr))
    # the adjoints accumulate into Bt (n_inputs, c), returned transposed as B
    B_arr, (vals_arr, A_arr, Bt_arr, touched_arr) = _compressed_out(
        (ctot, n_inputs), finish, [n, n * chunk, n_inputs * ctot], [n])
    Bt_arr = Bt_arr.reshape(n_inputs, ctot)
    Bt_arr.fill(0.0)
    cdef double[::1] vals = vals_arr
    cdef double[::1] A = A_arr
    cdef uint8_t[::1] touched = touched_arr
    cdef double[::1] y = y_arr
    cdef double[:, ::1] Bt = Bt_arr
    cdef const double *xp = &x[0] if x.shape[0] else NULL
    cdef const double *pp = &p[0] if p.shape[0] else NULL
    cdef const double *Wp = &W[0, 0] if m else NULL
    cdef double *Btp = &Bt[0, 0] if n_inputs else NULL
    with nogil:
        _values(nd, nd.seg, nd.nseg, xp, pp, &vals[0])
        for r in range(m):
            y[r] = vals[nd.outputs[r]]
    j0 = 0
    while j0 < ctot:
        cc = min(chunk, ctot - j0)
        with nogil:
            _reverse(nd, nd.seg, nd.nseg, &vals[0], m, Wp, ctot, j0, cc, &A[0], &touched[0],
                     n, Btp)
        j0 += cc
    np.copyto(B_arr, Bt_arr.T)
    return y_arr, (B_arr if finish is None else finish(B_arr))


def hvp_sweep(SweepPlan graph not None, const double[::1] x, const double[::1] p,
              const double[:, ::1] V, ITYPE_t chunk=0, layouts=None, finish=None,
              bint gradient=True, const uint8_t[::1] seed_zero=None, bint value=True):
    """Forward-over-reverse sweep of a scalar output: value, gradient and ``H @ V``.

    (input)  graph as in :func:`forward_sweep`, with one output (the scalar);
             x: (n_inputs,), p: (n_params,), V: (n_inputs, c) directions; chunk:
             directions per pass; layouts: the pair of :meth:`SweepPlan.hvp_layouts`
             or :func:`hvp_layouts` for these node arrays (they carry their plan), or
             None (the plan's segments, rows in node order); finish: as in
             :func:`forward_sweep`; gradient: False skips the gradient;
             seed_zero: None, or ``seed_zero_rows(V)`` (as in :func:`forward_sweep`);
             value: False returns no value (layouts built with ``values=False``
             need it: they leave out the values nobody reads)
    (output) ``(value, grad, HV)``: value float (None when not ``value``), grad
             (n_inputs,) (None when not ``gradient``), HV (n_inputs, c)

    NumPy equivalent: ``value = f(x, p)``, ``grad = gradient(f)(x, p)``,
    ``HV = hessian(f)(x, p) @ V``.
    Forward pass: values and c tangents (seeded by V); reverse pass: scalar
    adjoints and c adjoint tangents, using the second partials.
    Memory: values N, scalar adjoints N, tangents and adjoint tangents 2N x chunk
    (with layouts, their slots x chunk, and the scalar adjoints take the adjoint
    tangents' slots).
    """
    cdef Nodes nd = graph.nodes
    cdef ITYPE_t n = graph.n_nodes, nin = graph.n_inputs, ctot = V.shape[1]
    cdef ITYPE_t cc, j0, tslots, aslots, output
    cdef RowLayout tlayout = None, alayout = None
    _check_point(graph, x, V.shape[0], "V")
    if graph.n_outputs != 1:
        raise ValueError("hvp_sweep needs a graph with one output")
    output = nd.outputs[0]
    if chunk <= 0 or chunk > ctot:
        chunk = ctot
    cdef const uint8_t *sz = _seed_flags(seed_zero, nin, chunk == ctot)
    if layouts is not None:
        tlayout, alayout = layouts
        if tlayout.plan is not alayout.plan and not np.array_equal(tlayout.plan, alayout.plan):
            raise ValueError("the two layouts were built for different plans")
        if value and not tlayout.values:
            raise ValueError("layouts built with values=False compute no value")
        plan_arr = tlayout.plan
        tslots = tlayout.n_slots
        aslots = alayout.n_slots
    else:
        plan_arr = graph.segments
        tslots = n
        aslots = n
    cdef const ITYPE_t[:, ::1] plan = plan_arr
    # the forward pass runs the tangent layout's units (a tiled order), the reverse
    # pass walks the plan's segments back (the adjoint layout's units)
    units_arr = graph.units if plan_arr is graph.segments else _segment_units(plan_arr)
    tunits_arr = tlayout.units if tlayout is not None else units_arr
    cdef const ITYPE_t[:, ::1] units = units_arr
    cdef const ITYPE_t[:, ::1] tunits = tunits_arr
    cdef const ITYPE_t *up = &tunits[0, 0]
    cdef ITYPE_t ntu = tunits.shape[0]
    cdef const ITYPE_t *sp = &plan[0, 0]
    cdef ITYPE_t nseg = plan.shape[0]
    grad_arr = _zeros(nin) if gradient else None
    cc = max(chunk, 1)
    HV_arr, (vals_arr, a_arr, T_arr, At_arr, ra_arr, rt_arr, tz_arr) = _compressed_out(
        (nin, ctot), finish, [n, aslots + 1, (tslots + 1) * cc, (aslots + 1) * cc],
        [n, n, n])
    HV_arr.fill(0.0)
    cdef double[::1] vals = vals_arr, a = a_arr, T = T_arr, At = At_arr
    cdef double[::1] grad
    cdef uint8_t[::1] ra = ra_arr, rt = rt_arr, tz = tz_arr
    cdef double[:, ::1] HV = HV_arr
    cdef const double *xp = &x[0] if nin else NULL
    cdef const double *pp = &p[0] if p.shape[0] else NULL
    cdef const double *Vp = &V[0, 0] if nin else NULL
    cdef double *HVp = &HV[0, 0] if nin and ctot else NULL
    cdef double *gp = NULL
    if gradient and nin:
        grad = grad_arr
        gp = &grad[0]
    cdef Layout tl, al
    _open_layout(&tl, tlayout, LAYOUT_TANGENTS, tunits, &T[0], &nd, n, nin)
    try:
        _open_layout(&al, alayout, LAYOUT_ADJOINTS, units, &At[0], &nd, n, nin)
    except BaseException:
        _close_layout(&tl)
        raise
    al.A = &a[0]
    try:
        if ctot == 0:
            with nogil:
                _values(nd, sp, nseg, xp, pp, &vals[0])
                # one scalar reverse pass with no directions
                for j0 in range(n):
                    tz[j0] = 1
                _place_rows(&tl, ntu, 0, Vp, NULL, 0, 0)
                _place_rows(&al, nseg, 0, NULL, NULL, 0, 0)
                _hvp_reverse(nd, sp, nseg, n, &vals[0], output, &tl, &tz[0], 0, 0, 0,
                             &ra[0], &al, &rt[0], gp, HVp)
            return (float(vals[output]) if value else None, grad_arr,
                    HV_arr if finish is None else finish(HV_arr))
        with nogil:
            _flag_skipped(&tl, ntu, &tz[0])
        j0 = 0
        while j0 < ctot:
            cc = min(chunk, ctot - j0)
            with nogil:
                _place_rows(&tl, ntu, cc, Vp, NULL, ctot, j0)
                _place_rows(&al, nseg, cc, NULL, NULL, 0, 0)
                _forward(nd, sp, up, ntu, xp, pp, j0 == 0, &vals[0], Vp, ctot, j0, cc, &tl,
                         sz, &tz[0], NULL)
                # the gradient is accumulated by the first chunk's scalar pass only
                _hvp_reverse(nd, sp, nseg, n, &vals[0], output, &tl, &tz[0], ctot, j0, cc,
                             &ra[0], &al, &rt[0], gp if j0 == 0 else NULL, HVp)
            j0 += cc
    finally:
        _close_layout(&tl)
        _close_layout(&al)
    return (float(vals[output]) if value else None, grad_arr,
            HV_arr if finish is None else finish(HV_arr))
