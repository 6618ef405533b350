# Row layouts of the sweeps of cysrc/sweeps.pyx (included there): where a sweep
# keeps the direction rows of every node, the C view a sweep reads (``Layout``)
# and the planner that builds a layout once per graph (``RowLayout``).

# ---------------------------------------------------------------------------
# The C view of a row layout.
#
# Tangent rows are placed by a row layout. Its *units* are runs of nodes of
# one plan segment, in the order the sweep runs them; per unit, the row of its
# first node and the distance between consecutive rows. The identity layout
# runs the plan's segments and puts node k's row at T + k * cc. The forward
# sweep's own layout (``RowLayout``, built once per graph by ``forward_layout``)
# runs blocks of segments in a tiled order (a consumer a block behind its
# producers), reads the rows of a run of inputs straight from the seed matrix,
# writes the rows of a run of outputs straight into B, and gives every other
# unit slots of T that are reused once all its readers have run: T holds the
# few live rows only, which keeps the sweep in cache (it is bound by memory
# traffic more than by arithmetic).

cdef enum:
    ROWS_SLOT = 0   # rows in T at slots off + (k - start), cc apart
    ROWS_SEED = 1   # a run of inputs: seed rows off + (k - start), ctot apart
    ROWS_OUT = 2    # a run of outputs: rows off + (k - start) of B, ctot apart
    ROWS_NONE = 3   # constants and parameters: no rows (their tangents are zero)
    ROWS_SKIP = 4   # tangents nobody reads (hvp_sweep): values only, no rows
    ROWS_DEAD = 5   # neither tangents nor values are read (hvp_sweep, no value): nothing


cdef struct Layout:
    bint ident              # node k's row is T + k * cc (the other fields are unused)
    ITYPE_t cc
    double *T
    const ITYPE_t *units    # the units of rows, in execution order: (plan row, start, stop)
    const ITYPE_t *unit_of  # node -> unit
    const ITYPE_t *unext    # per unit: the next unit of its segment (-1: none)
    const uint8_t *kind     # per unit: ROWS_*
    const ITYPE_t *off      # per unit: its first slot, seed row or output position
    ITYPE_t n_slots         # slots of T (row n_slots: a scratch row)
    double **first          # per unit: the row of its first node
    ITYPE_t *rs             # per unit: distance of consecutive rows, in doubles
    ITYPE_t *hints          # per plan segment and argument: the unit its rows were
                            # last found in (-1: none), for _prog_rows_hint
    ITYPE_t nseg
    const uint8_t *vneed    # per unit: whether its values are computed (NULL: all)
    double *A               # hvp_sweep's scalar adjoints, one per slot (see _adj)


cdef inline double *_rowp(const Layout *lay, ITYPE_t k) noexcept nogil:
    """The tangent row of node ``k``."""
    cdef ITYPE_t g
    if lay.ident:
        return lay.T + k * lay.cc
    g = lay.unit_of[k]
    return lay.first[g] + (k - lay.units[UNIT_COLS * g + 1]) * lay.rs[g]


cdef inline double *_adj(const Layout *lay, ITYPE_t k) noexcept nogil:
    """The scalar adjoint of node ``k`` in the adjoint layout of hvp_sweep: in the slot
    of its adjoint tangent row (``A + k`` in the identity layout), the scratch slot for
    constants and parameters. Slots are reused, so the reverse pass keeps its working
    set in few slots rather than one double per node."""
    cdef ITYPE_t g
    if lay.ident:
        return lay.A + k
    g = lay.unit_of[k]
    if lay.kind[g] != ROWS_SLOT:
        return lay.A + lay.n_slots
    return lay.A + lay.off[g] + (k - lay.units[UNIT_COLS * g + 1])


cdef inline bint _adj_slots(const Layout *lay, ITYPE_t k) noexcept nogil:
    """Whether the scalar adjoints of node ``k``'s unit have slots of their own (they
    are consecutive, like the nodes), not the scratch slot."""
    return lay.ident or lay.kind[lay.unit_of[k]] == ROWS_SLOT


cdef inline ITYPE_t _unit_rows(const Layout *lay, ITYPE_t g, ITYPE_t c, ITYPE_t st,
                               ITYPE_t L, double **p, ITYPE_t *step) noexcept nogil:
    """``_prog_rows`` of a progression that starts at node ``c`` of unit ``g``."""
    cdef ITYPE_t gs = lay.units[UNIT_COLS * g + 1], ge = lay.units[UNIT_COLS * g + 2], nn
    p[0] = lay.first[g] + (c - gs) * lay.rs[g]
    step[0] = st * lay.rs[g]
    if st > 0:
        nn = (ge - c + st - 1) // st
    elif st < 0:
        nn = (c - gs) // (-st) + 1
    else:
        nn = L
    return min(L, nn)


cdef inline ITYPE_t _prog_rows(const Layout *lay, ITYPE_t c, ITYPE_t st, ITYPE_t L,
                               double **p, ITYPE_t *step) noexcept nogil:
    """Rows of the nodes ``c + i st``: ``p[0] + i * step[0]`` for ``i`` below the
    returned count (at most ``L``: the terms within the unit of node ``c``)."""
    cdef ITYPE_t g
    if lay.ident:
        p[0] = lay.T + c * lay.cc
        step[0] = st * lay.cc
        return L
    g = lay.unit_of[c]
    return _unit_rows(lay, g, c, st, L, p, step)


cdef inline ITYPE_t _prog_rows_hint(const Layout *lay, ITYPE_t c, ITYPE_t st, ITYPE_t L,
                                    double **p, ITYPE_t *step,
                                    ITYPE_t *hint) noexcept nogil:
    """``_prog_rows``, trying first the unit ``hint[0]`` (the unit found last time for
    this argument, or -1) and the next unit of its segment: consecutive blocks read
    consecutive units, and ``unit_of`` is a large array to load from."""
    cdef ITYPE_t g = hint[0]
    if lay.ident:
        return _prog_rows(lay, c, st, L, p, step)
    if g >= 0 and not (lay.units[UNIT_COLS * g + 1] <= c < lay.units[UNIT_COLS * g + 2]):
        g = lay.unext[g]
        if g >= 0 and not (lay.units[UNIT_COLS * g + 1] <= c < lay.units[UNIT_COLS * g + 2]):
            g = -1
    if g < 0:
        g = lay.unit_of[c]
    hint[0] = g
    return _unit_rows(lay, g, c, st, L, p, step)


cdef void _place_rows(Layout *lay, ITYPE_t nseg, ITYPE_t cc, const double *S, double *B,
                      ITYPE_t ctot, ITYPE_t j0) noexcept nogil:
    """Point the rows of every one of the ``nseg`` units into T (``cc`` directions), the seed matrix ``S`` or
    the output matrix ``B`` (columns ``j0 .. j0+cc`` of ``ctot``)."""
    cdef ITYPE_t g
    lay.cc = cc
    if lay.ident:
        return
    for g in range(nseg):
        if lay.kind[g] == ROWS_SLOT:
            lay.first[g] = lay.T + lay.off[g] * cc
            lay.rs[g] = cc
        elif lay.kind[g] == ROWS_SEED:
            lay.first[g] = <double *>S + lay.off[g] * ctot + j0
            lay.rs[g] = ctot
        elif lay.kind[g] == ROWS_OUT:
            lay.first[g] = B + lay.off[g] * ctot + j0
            lay.rs[g] = ctot
        else:
            # no rows: writes that the per-node rules make anyway land in a scratch row
            lay.first[g] = lay.T + lay.n_slots * cc
            lay.rs[g] = 0


# ---------------------------------------------------------------------------
# Row layout of the forward sweep.


# not picklable: it holds raw views of arrays (Cython's default pickling of it
# would read a null view); pickle the graph instead
@cython.auto_pickle(False)
cdef class RowLayout:
    """Where :func:`forward_sweep` keeps the tangent rows of one graph: built by
    :func:`forward_layout`, opaque otherwise. It holds the segment plan it was
    built for, its units (plan row, start, stop; in execution order), the number
    of slots of the tangent work array, per unit, whether a sweep with
    ``values=False`` computes its values (``vneed``), and whether the outputs'
    nonzeros are gathered unit by unit (``gathered``)."""
    cdef readonly ITYPE_t n_nodes, n_inputs, n_outputs, n_slots
    cdef readonly int mode
    cdef readonly bint values   # every value is computed (else only those read)
    cdef readonly object plan, units, vneed
    cdef readonly bint gathered
    cdef object _arrays
    cdef size_t op_addr, cst_addr, out_addr
    # typed views, held for the layout's life: a sweep would otherwise acquire each
    # array's buffer at every call
    cdef const ITYPE_t[:, ::1] plan_v, units_v, runs
    cdef const ITYPE_t[::1] unit_of, unext, off, copy_pos, run_ptr
    cdef const uint8_t[::1] kind, vneed_v

    def __repr__(self):
        return (f"RowLayout(n_nodes={self.n_nodes}, segments={self.plan.shape[0]}, "
                f"units={self.units.shape[0]}, n_slots={self.n_slots})")


cdef void _free_slots(ITYPE_t *fs, ITYPE_t *fl, ITYPE_t *nf, ITYPE_t *top, ITYPE_t o,
                      ITYPE_t size) noexcept nogil:
    """Return slots ``[o, o + size)`` to the sorted free list ``fs``/``fl`` (merging
    neighbours; a free run at the top lowers ``top``)."""
    cdef ITYPE_t i = 0, j
    while i < nf[0] and fs[i] < o:
        i += 1
    if i > 0 and fs[i - 1] + fl[i - 1] == o:
        i -= 1
        fl[i] += size
        if i + 1 < nf[0] and fs[i] + fl[i] == fs[i + 1]:
            fl[i] += fl[i + 1]
            for j in range(i + 1, nf[0] - 1):
                fs[j] = fs[j + 1]
                fl[j] = fl[j + 1]
            nf[0] -= 1
    elif i < nf[0] and o + size == fs[i]:
        fs[i] = o
        fl[i] += size
    else:
        j = nf[0]
        while j > i:
            fs[j] = fs[j - 1]
            fl[j] = fl[j - 1]
            j -= 1
        fs[i] = o
        fl[i] = size
        nf[0] += 1
    if nf[0] > 0 and fs[nf[0] - 1] + fl[nf[0] - 1] == top[0]:
        top[0] = fs[nf[0] - 1]
        nf[0] -= 1


cdef inline ITYPE_t _take_slots(ITYPE_t *fs, ITYPE_t *fl, ITYPE_t *nf, ITYPE_t *top,
                               ITYPE_t *peak, ITYPE_t size, bint reuse) noexcept nogil:
    """A run of ``size`` slots: the first free run that fits, else the top."""
    cdef ITYPE_t i, j, o
    if reuse:
        for i in range(nf[0]):
            if fl[i] >= size:
                o = fs[i]
                fs[i] += size
                fl[i] -= size
                if fl[i] == 0:
                    for j in range(i, nf[0] - 1):
                        fs[j] = fs[j + 1]
                        fl[j] = fl[j + 1]
                    nf[0] -= 1
                return o
    o = top[0]
    top[0] += size
    peak[0] = max(peak[0], top[0])
    return o


cdef ITYPE_t _allocate_slots(const ITYPE_t[:, ::1] plan, const uint8_t[::1] kind,
                             const ITYPE_t[::1] last, ITYPE_t[::1] off, bint reuse,
                             bint backward) noexcept nogil:
    """Give every ``ROWS_SLOT`` segment a run of slots (``off``), first fit; returns
    the slots needed. Forward (tangents): a segment's rows are taken when it runs and
    released after its last consumer ``last[g]`` ran. Backward (adjoints, segments
    run last to first): taken when its last consumer runs (the first to write them)
    and released after the segment itself ran."""
    cdef ITYPE_t nseg = plan.shape[0], g, r, t, top = 0, peak = 0, nf = 0
    cdef ITYPE_t *head = <ITYPE_t *>malloc((nseg + 1) * sizeof(ITYPE_t))
    cdef ITYPE_t *link = <ITYPE_t *>malloc((nseg + 1) * sizeof(ITYPE_t))
    cdef ITYPE_t *fs = <ITYPE_t *>malloc((nseg + 2) * sizeof(ITYPE_t))
    cdef ITYPE_t *fl = <ITYPE_t *>malloc((nseg + 2) * sizeof(ITYPE_t))
    if head == NULL or link == NULL or fs == NULL or fl == NULL:
        free(head)
        free(link)
        free(fs)
        free(fl)
        for g in range(nseg):
            if kind[g] == ROWS_SLOT:
                off[g] = top
                top += plan[g, 1] - plan[g, 0]
        return top
    # segments by last consumer
    for g in range(nseg + 1):
        head[g] = -1
    for g in range(nseg):
        if kind[g] == ROWS_SLOT:
            link[g] = head[last[g]]
            head[last[g]] = g
    for r in range(nseg):
        g = nseg - 1 - r if backward else r
        if backward:
            t = head[g]
            while t >= 0:
                off[t] = _take_slots(fs, fl, &nf, &top, &peak, plan[t, 1] - plan[t, 0], reuse)
                t = link[t]
            if reuse and kind[g] == ROWS_SLOT:
                _free_slots(fs, fl, &nf, &top, off[g], plan[g, 1] - plan[g, 0])
        else:
            if kind[g] == ROWS_SLOT:
                off[g] = _take_slots(fs, fl, &nf, &top, &peak, plan[g, 1] - plan[g, 0], reuse)
            if reuse:
                t = head[g]
                while t >= 0:
                    _free_slots(fs, fl, &nf, &top, off[t], plan[t, 1] - plan[t, 0])
                    t = link[t]
    free(head)
    free(link)
    free(fs)
    free(fl)
    return peak


cdef inline bint _const_node(const uint8_t *op, ITYPE_t k) noexcept nogil:
    return op[k] == OP_CONST or op[k] == OP_PARAM


cdef void _dead_units(const uint8_t[::1] op, const ITYPE_t[::1] arg0,
                      const ITYPE_t[::1] arg1, const ITYPE_t[::1] arg2,
                      const ITYPE_t[::1] unit_of, uint8_t[::1] kind,
                      ITYPE_t nu) noexcept nogil:
    """Turn the ``ROWS_SKIP`` units whose values nobody reads into ``ROWS_DEAD``. The
    reverse pass reads the values of the arguments of a SQUARE, of a MUL's argument
    whose partial (the other argument's value) reaches a non-constant node, and of
    every other op with non-constant partials (with its own value); the forward
    pass computes the values of the units with tangents and reads the arguments of
    the values it computes. ADD, SUB and NEG read none."""
    cdef ITYPE_t n = op.shape[0], k, t, v
    cdef uint8_t o
    cdef uint8_t *need = <uint8_t *>malloc(max(n, 1))
    if need == NULL:
        return  # (every value computed, as with values=True)
    for k in range(n):
        need[k] = kind[unit_of[k]] != ROWS_SKIP
    k = n
    while k > 0:
        k -= 1
        o = op[k]
        if _is_leaf(o):
            continue
        if o == OP_SQUARE:
            need[arg0[k]] = 1
        elif o == OP_MUL:
            if not _const_node(&op[0], arg1[k]):
                need[arg0[k]] = 1
            if not _const_node(&op[0], arg0[k]):
                need[arg1[k]] = 1
        elif o != OP_ADD and o != OP_SUB and o != OP_NEG:
            need[k] = 1
        if need[k]:
            for t in range(3):
                v = arg0[k] if t == 0 else (arg1[k] if t == 1 else arg2[k])
                if v >= 0:
                    need[v] = 1
    for k in range(n):
        if need[k] and kind[unit_of[k]] == ROWS_SKIP:
            kind[unit_of[k]] = ROWS_SKIP + 8  # values needed (the mark is undone below)
    for k in range(nu):
        if kind[k] == ROWS_SKIP:
            kind[k] = ROWS_DEAD
        elif kind[k] == ROWS_SKIP + 8:
            kind[k] = ROWS_SKIP
    free(need)


cdef inline bint _tangent_read(const uint8_t[::1] op, const ITYPE_t[::1] arg0,
                               const ITYPE_t[::1] arg1, const uint8_t[:, ::1] d2,
                               const uint8_t[:, ::1] cross, ITYPE_t k,
                               ITYPE_t t) noexcept nogil:
    """Whether the second-order terms of node ``k`` read the tangent of its argument
    ``t`` (0 or 1): through d2/d(arg t)^2, or through the cross partial into the
    other argument's adjoint tangent, unless that argument is a constant or a
    parameter, whose adjoints nobody reads (the 100 in ``100 * y``)."""
    cdef uint8_t o = op[k]
    cdef ITYPE_t other = arg1[k] if t == 0 else arg0[k]
    if d2[o, t]:
        return 1
    return cross[o, 0] and other >= 0 and not _const_node(&op[0], other)


cdef enum:
    LAYOUT_FORWARD = 0   # forward_sweep: inputs from the seeds, outputs into B
    LAYOUT_TANGENTS = 1  # hvp_sweep's tangents: kept where second partials read them
    LAYOUT_ADJOINTS = 2  # hvp_sweep's adjoint tangents: slots taken backward


cdef ITYPE_t _schedule(const ITYPE_t[:, ::1] plan, const uint8_t[::1] op,
                       const ITYPE_t[::1] arg0, const ITYPE_t[::1] arg1,
                       const ITYPE_t[::1] arg2, const ITYPE_t[::1] seg_of,
                       ITYPE_t[::1] progress, ITYPE_t[:, ::1] units,
                       ITYPE_t window) noexcept nogil:
    """A tiled order of the nodes: ``units`` rows (plan row, start, stop), returns
    their number. Rounds over a window of the first ``window`` unfinished segments
    advance each by a block of up to BLK nodes whose arguments are computed (or lie
    earlier in the block itself), so a consumer follows its producers a block
    behind and reads their rows while they are in cache. The first unfinished
    segment can always advance (its arguments lie in finished segments or in
    itself), so the rounds end."""
    cdef ITYPE_t nseg = plan.shape[0], g, gmax, first = 0, nu = 0, ks, ke, kr, t, v, gv
    cdef bint ok
    for g in range(nseg):
        progress[g] = plan[g, 0]
    while first < nseg:
        gmax = min(nseg, first + window)
        for g in range(first, gmax):
            ks = progress[g]
            if ks == plan[g, 1]:
                continue
            ke = min(ks + <ITYPE_t>BLK, plan[g, 1])
            kr = ks
            while kr < ke:
                ok = 1
                if not _is_leaf(op[kr]):
                    for t in range(3):
                        v = arg0[kr] if t == 0 else (arg1[kr] if t == 1 else arg2[kr])
                        if v < 0:
                            continue
                        gv = seg_of[v]
                        if v >= progress[gv] and not (gv == g and v >= ks):
                            ok = 0
                            break
                if not ok:
                    break
                kr += 1
            # a short step only to finish a segment or to keep the front moving
            if kr > ks and (kr == ke or g == first or kr - ks >= BLK // 4):
                units[nu, 0] = g
                units[nu, 1] = ks
                units[nu, 2] = kr
                nu += 1
                progress[g] = kr
        while first < nseg and progress[first] == plan[first, 1]:
            first += 1
    return nu


cdef void _values_needed(const ITYPE_t[:, ::1] units, const uint8_t[::1] op,
                         const ITYPE_t[::1] arg0, const ITYPE_t[::1] arg1,
                         const ITYPE_t[::1] arg2, const uint8_t[:, ::1] d1,
                         const ITYPE_t[::1] unit_of, uint8_t[::1] vneed) noexcept nogil:
    """Flag the units whose values a tangent computation reads (``vneed``, zeros on
    entry): those holding a node whose first partials depend on values (every op
    but the constant-partial ones and those with no nonzero partial) and,
    recursively, the units of the arguments of flagged units' nodes. A unit's
    arguments run before it or in it, so one pass back over the execution order
    closes the set."""
    cdef ITYPE_t nu = units.shape[0], u, k, t, a
    cdef uint8_t o
    u = nu
    while u > 0:
        u -= 1
        if not vneed[u]:
            for k in range(units[u, 1], units[u, 2]):
                o = op[k]
                if not (_is_leaf(o) or _constant_partials(o)
                        or not (d1[o, 0] or d1[o, 1] or d1[o, 2])):
                    vneed[u] = 1
                    break
        if not vneed[u]:
            continue
        for k in range(units[u, 1], units[u, 2]):
            if _is_leaf(op[k]):
                continue
            for t in range(3):
                a = arg0[k] if t == 0 else (arg1[k] if t == 1 else arg2[k])
                if a >= 0:
                    vneed[unit_of[a]] = 1


cdef ITYPE_t _output_runs(const ITYPE_t[:, ::1] units, const ITYPE_t[::1] unit_of,
                         const ITYPE_t[::1] outputs, ITYPE_t[::1] order,
                         ITYPE_t[::1] run_ptr, ITYPE_t[:, ::1] runs) noexcept nogil:
    """The output positions of every unit as runs (first position, first node,
    count) of consecutive positions holding consecutive nodes: unit ``u``'s runs are
    ``runs[run_ptr[u]:run_ptr[u + 1]]``, positions increasing (``run_ptr``: zeros
    on entry; ``order``: scratch of at least ``len(outputs)``). Returns the number
    of runs."""
    cdef ITYPE_t nu = units.shape[0], m = outputs.shape[0], u, r, q, e, s, nr = 0
    for r in range(m):
        run_ptr[unit_of[outputs[r]] + 1] += 1
    for u in range(nu):
        run_ptr[u + 1] += run_ptr[u]
    # positions by unit (a counting sort, stable: increasing within a unit)
    for r in range(m):
        u = unit_of[outputs[r]]
        order[run_ptr[u]] = r
        run_ptr[u] += 1
    q = 0
    for u in range(nu):
        e = run_ptr[u]  # the fill left the end of unit u's positions here
        run_ptr[u] = nr
        s = nr
        while q < e:
            r = order[q]
            if (nr > s and runs[nr - 1, 0] + runs[nr - 1, 2] == r
                    and runs[nr - 1, 1] + runs[nr - 1, 2] == outputs[r]):
                runs[nr - 1, 2] += 1
            else:
                runs[nr, 0] = r
                runs[nr, 1] = outputs[r]
                runs[nr, 2] = 1
                nr += 1
            q += 1
    run_ptr[nu] = nr
    return nr


cdef inline bint _arg_units(const ITYPE_t[:, ::1] plan, const uint8_t[::1] op,
                            const ITYPE_t[:, ::1] units, const ITYPE_t[::1] unit_of,
                            ITYPE_t u, ITYPE_t *au) noexcept nogil:
    """Whether unit ``u`` is a stretch of a strided segment (not of leaves) each of
    whose argument progressions lies within one unit; then ``au[t]`` is that unit
    for argument ``t`` (-1: unused), and every node of ``u`` reads its arguments
    from the same units: what a pass over the nodes would find once per node, it
    finds once. (Units are contiguous runs of nodes, so the first and the last
    term of a progression tell.)"""
    cdef ITYPE_t g = units[u, 0], us = units[u, 1], ue = units[u, 2], t, b, st, lo, hi
    if not _blocked(&op[0], &plan[g, 0]):
        return 0
    for t in range(3):
        b = plan[g, 3 + 2 * t]
        st = plan[g, 4 + 2 * t]
        if b < 0:
            au[t] = -1
            continue
        lo = b + (us - plan[g, 0]) * st
        hi = b + (ue - 1 - plan[g, 0]) * st
        if unit_of[lo] != unit_of[hi]:
            return 0
        au[t] = unit_of[lo]
    return 1


cdef inline bint _tangent_read_unit(const uint8_t[::1] op, const ITYPE_t[:, ::1] units,
                                    const uint8_t[:, ::1] d2, const uint8_t[:, ::1] cross,
                                    uint8_t o, ITYPE_t t, ITYPE_t other) noexcept nogil:
    """:func:`_tangent_read` for every node of a unit of opcode ``o`` whose other
    argument lies in unit ``other`` (-1: unused); a unit has one opcode."""
    if d2[o, t]:
        return 1
    return cross[o, 0] and other >= 0 and not _const_node(&op[0], units[other, 1])


cdef enum:
    TILE_WINDOW = 64     # segments in flight in a tiled forward order


def _build_layout(const uint8_t[::1] op, const ITYPE_t[::1] arg0, const ITYPE_t[::1] arg1,
                  const ITYPE_t[::1] arg2, const double[::1] cst, const ITYPE_t[::1] outputs,
                  ITYPE_t n_inputs, seg, bint reuse, int mode, const uint8_t[:, ::1] d2=None,
                  const uint8_t[:, ::1] cross=None, bint tile=True, bint values=True,
                  const uint8_t[:, ::1] d1=None, bint gathered=False):
    cdef ITYPE_t n = op.shape[0], m = outputs.shape[0] if mode == LAYOUT_FORWARD else 0
    plan_arr = _plan(seg, n)
    cdef const ITYPE_t[:, ::1] plan = plan_arr
    cdef ITYPE_t nseg = plan.shape[0], nu, u, g, k, s, e, r, a, t, gk
    if arg0.shape[0] != n or arg1.shape[0] != n or arg2.shape[0] != n or cst.shape[0] != n:
        raise ValueError("node arrays of different lengths")
    for r in range(outputs.shape[0]):
        if not 0 <= outputs[r] < n:
            raise ValueError("an output is not a node id")
    if mode == LAYOUT_TANGENTS:
        _check_tables(d2)
        _check_tables(cross)
    if mode == LAYOUT_FORWARD:
        _check_tables(d1)
    # a plan with many tiny segments gains little from reuse; bound the allocator's work
    reuse = reuse and nseg <= n // 4 + 16
    # (the forward-over-reverse layouts keep the plan's segments: most of their
    # tangents are kept for the reverse pass anyway, which walks the segments)
    tile = tile and reuse and mode == LAYOUT_FORWARD
    cdef ITYPE_t[::1] seg_of
    cdef ITYPE_t[:, ::1] sched
    cdef ITYPE_t[::1] progress
    # units of rows, in execution order: the tiled order, or the segments
    if tile:
        seg_of_arr = np.empty(n, dtype=np.int64)
        seg_of = seg_of_arr
        with nogil:
            for g in range(nseg):
                for k in range(plan[g, 0], plan[g, 1]):
                    seg_of[k] = g
        units_arr = np.empty((max(n, 1), UNIT_COLS), dtype=np.int64)
        progress_arr = np.empty(nseg, dtype=np.int64)
        sched = units_arr
        progress = progress_arr
        with nogil:
            nu = _schedule(plan, op, arg0, arg1, arg2, seg_of, progress, sched, TILE_WINDOW)
        units_arr = units_arr[:nu].copy()
    else:
        units_arr = np.empty((nseg, UNIT_COLS), dtype=np.int64)
        units_arr[:, 0] = np.arange(nseg)
        units_arr[:, 1:] = plan_arr[:, :2]
    cdef const ITYPE_t[:, ::1] units = units_arr
    nu = units.shape[0]
    unit_of_arr = np.empty(n, dtype=np.int64)
    kind_arr = np.zeros(nu, dtype=np.uint8)
    off_arr = np.zeros(nu, dtype=np.int64)
    last_arr = np.empty(nu, dtype=np.int64)
    # pos: the output position of each node (forward layouts with outputs), else
    # the tangent-read flags of the units (LAYOUT_TANGENTS)
    pos_arr = np.full(n if m else max(nu, 1), -1, dtype=np.int64)
    cp_arr = np.empty(m, dtype=np.int64)
    ranges_arr = np.ascontiguousarray(units_arr[:, 1:])
    cdef ITYPE_t[::1] unit_of = unit_of_arr, off = off_arr, last = last_arr, pos = pos_arr
    cdef ITYPE_t[::1] cp = cp_arr
    cdef const ITYPE_t[:, ::1] ranges = ranges_arr
    unext_arr = np.full(nu, -1, dtype=np.int64)
    seg_last_arr = np.full(nseg, -1, dtype=np.int64)
    cdef ITYPE_t[::1] unext = unext_arr, seg_last = seg_last_arr
    cdef uint8_t[::1] kind = kind_arr
    vneed_arr = np.zeros(nu, dtype=np.uint8)
    cdef uint8_t[::1] vneed = vneed_arr
    run_ptr_arr = np.zeros(nu + 1, dtype=np.int64)
    runs_arr = np.empty((m if gathered else 0, 3), dtype=np.int64)
    order_arr = np.empty(m if gathered else 0, dtype=np.int64)
    cdef ITYPE_t[::1] run_ptr = run_ptr_arr, order = order_arr
    cdef ITYPE_t[:, ::1] runs = runs_arr
    cdef ITYPE_t nruns = 0
    cdef ITYPE_t au[3]
    cdef bint ok
    cdef uint8_t o
    with nogil:
        for u in range(nu):
            for k in range(units[u, 1], units[u, 2]):
                unit_of[k] = u
            last[u] = u
            g = units[u, 0]
            if seg_last[g] >= 0:
                unext[seg_last[g]] = u
            seg_last[g] = u
        r = m
        while r > 0:
            r -= 1
            pos[outputs[r]] = r
        for u in range(nu):
            s = units[u, 1]
            e = units[u, 2]
            ok = 1
            for k in range(s, e):
                if op[k] != OP_CONST and op[k] != OP_PARAM:
                    ok = 0
                    break
            if ok:
                kind[u] = ROWS_NONE
                continue
            kind[u] = ROWS_SLOT
            if mode == LAYOUT_ADJOINTS:
                continue
            ok = cst[s] >= 0 and cst[s] + (e - s) <= n_inputs
            for k in range(s, e):
                if not ok or op[k] != OP_VAR or cst[k] != cst[s] + (k - s):
                    ok = 0
                    break
            if ok:
                kind[u] = ROWS_SEED
                off[u] = <ITYPE_t>cst[s]
                continue
            if gathered or m == 0:
                continue
            r = pos[s]
            ok = r >= 0 and r + (e - s) <= m
            for k in range(s, e):
                if not ok or outputs[r + k - s] != k:
                    ok = 0
                    break
            if ok:
                kind[u] = ROWS_OUT
                off[u] = r
        # the last unit that reads each unit; outputs are read at the end, and so are
        # the tangents that the reverse pass of hvp_sweep reads
        for u in range(nu):
            if _arg_units(plan, op, units, unit_of, u, au):
                # the same for every node of the unit: one update per argument
                o = op[units[u, 1]]
                for t in range(3):
                    if au[t] < 0:
                        continue
                    if mode == LAYOUT_TANGENTS and t < 2 and _tangent_read_unit(
                            op, units, d2, cross, o, t, au[1 - t]):
                        last[au[t]] = nu
                    elif last[au[t]] < u:
                        last[au[t]] = u
                continue
            for k in range(units[u, 1], units[u, 2]):
                o = op[k]
                if _is_leaf(o):
                    continue
                for t in range(3):
                    a = arg0[k] if t == 0 else (arg1[k] if t == 1 else arg2[k])
                    if a < 0:
                        continue
                    if mode == LAYOUT_TANGENTS and t < 2 and _tangent_read(op, arg0, arg1,
                                                                           d2, cross, k, t):
                        last[unit_of[a]] = nu
                    elif last[unit_of[a]] < u:
                        last[unit_of[a]] = u
        if not gathered:
            for r in range(m):
                last[unit_of[outputs[r]]] = nu
        if mode == LAYOUT_FORWARD:
            _values_needed(units, op, arg0, arg1, arg2, d1, unit_of, vneed)
        if mode == LAYOUT_TANGENTS:
            # the tangents that are read: those that second partials multiply (marked
            # by last = nu above) and, recursively, of the arguments of nodes whose
            # tangents are read; the other units only need values (a sum tree above
            # the second-order terms, for instance; hvp_sweep flags their tangents
            # zero)
            for u in range(nu):
                pos[u] = last[u] == nu
            # (units in node order here, so a unit's readers are flagged before it)
            u = nu
            while u > 0:
                u -= 1
                if not pos[u] or _is_leaf(op[units[u, 1]]):
                    continue
                if _arg_units(plan, op, units, unit_of, u, au):
                    for t in range(3):
                        if au[t] >= 0:
                            pos[au[t]] = 1
                    continue
                for k in range(units[u, 1], units[u, 2]):
                    for t in range(3):
                        a = arg0[k] if t == 0 else (arg1[k] if t == 1 else arg2[k])
                        if a >= 0:
                            pos[unit_of[a]] = 1
            for u in range(nu):
                if not pos[u] and kind[u] != ROWS_NONE:
                    kind[u] = ROWS_SKIP
            if not values:
                _dead_units(op, arg0, arg1, arg2, unit_of, kind, nu)
        t = _allocate_slots(ranges, kind, last, off, reuse, mode == LAYOUT_ADJOINTS)
        # the output positions whose rows are not written in place (gathered: none,
        # each unit gathers its outputs' nonzeros)
        a = 0
        for r in range(0 if gathered else m):
            k = outputs[r]
            u = unit_of[k]
            if not (kind[u] == ROWS_OUT and off[u] + k - units[u, 1] == r):
                cp[a] = r
                a += 1
        if gathered:
            nruns = _output_runs(units, unit_of, outputs, order, run_ptr, runs)
    lay = RowLayout()
    lay.mode = mode
    lay.values = values
    lay.n_nodes = n
    lay.n_inputs = n_inputs
    lay.n_outputs = m
    lay.n_slots = t
    lay.plan = plan_arr
    lay.units = units_arr
    lay.plan_v = plan_arr
    lay.units_v = units_arr
    lay.unit_of = unit_of_arr
    lay.unext = unext_arr
    lay.kind = kind_arr
    lay.off = off_arr
    lay.copy_pos = cp_arr[:a].copy()
    lay.vneed = vneed_arr
    lay.vneed_v = vneed_arr
    lay.gathered = gathered
    lay.run_ptr = run_ptr_arr
    lay.runs = runs_arr[:nruns].copy()
    lay._arrays = (op, cst, outputs)  # keeps the addresses below meaningful
    lay.op_addr = <size_t>&op[0] if n else 0
    lay.cst_addr = <size_t>&cst[0] if n else 0
    lay.out_addr = <size_t>&outputs[0] if m else 0
    return lay


def _plan(seg, ITYPE_t n, const uint8_t[::1] op=None):
    """The segment plan to run: ``seg`` (rows of ``symasd._vm.plan``) checked against
    ``n`` nodes, or, when ``seg`` is None, indexed segments over all nodes: one per
    run of leaves of one opcode and one per run of other nodes (``op``, the node
    opcodes, is needed then: the kernels treat a segment whose first node is a
    leaf as leaves of its opcode).

    The check is O(segments): the rows must tile ``[0, n)`` in order, and every
    argument progression of a strided row must stay within the nodes before the
    node that reads it (so no strided access leaves the arrays).
    """
    cdef ITYPE_t r, t, s, e, bt, st, prev = 0
    if seg is None:
        if op is None or op.shape[0] != n:
            raise ValueError("a plan of indexed segments needs the n node opcodes")
        codes = np.asarray(op)
        kind = np.where(np.isin(codes, (OP_CONST, OP_VAR, OP_PARAM)), codes.astype(np.int64), -1)
        starts = np.flatnonzero(np.diff(kind, prepend=-2)) if n else np.zeros(0, dtype=np.int64)
        out = np.zeros((starts.shape[0], SEG_COLS), dtype=np.int64)
        out[:, 0] = starts
        out[:, 1] = np.append(starts[1:], n)
        out[:, 3:] = (-1, 0, -1, 0, -1, 0)
        return out
    out = np.ascontiguousarray(seg, dtype=np.int64)
    if out.ndim != 2 or out.shape[1] != SEG_COLS:
        raise ValueError(f"a segment plan has {SEG_COLS} columns; got shape {out.shape}")
    cdef const ITYPE_t[:, ::1] v = out
    for r in range(v.shape[0]):
        s = v[r, 0]
        e = v[r, 1]
        if s != prev or e <= s:
            raise ValueError(f"plan row {r} ({s}, {e}) does not continue at node {prev}")
        prev = e
        if not v[r, 2]:
            continue
        if v[r, 3] < 0:
            raise ValueError(f"strided plan row {r} has no argument 0")
        for t in range(3):
            bt = v[r, 3 + 2 * t]
            st = v[r, 4 + 2 * t]
            if bt < 0:
                continue
            # b + i st must lie in [0, s + i) for 0 <= i < e - s (linear in i)
            if bt >= s or bt + (e - s - 1) * st < 0 or bt + (e - s - 1) * st >= e - 1:
                raise ValueError(f"strided plan row {r}: argument {t} leaves [0, node)")
    if prev != n:
        raise ValueError(f"the plan covers nodes [0, {prev}), the graph has {n}")
    return out


cdef inline int _leaf_kind(uint8_t o) noexcept nogil:
    """The opcode of a leaf, -1 for any other node: a segment's nodes must agree."""
    return o if _is_leaf(o) else -1


def check_plan_nodes(const uint8_t[::1] op, const ITYPE_t[::1] arg0, const ITYPE_t[::1] arg1,
                     const ITYPE_t[::1] arg2, const ITYPE_t[:, ::1] seg):
    """Check that the plan ``seg`` (as :func:`_plan` returns it) describes the
    nodes: the nodes of a row are all leaves of one opcode or all other nodes
    (the kernels take a row whose first node is an input as a run of inputs),
    and every node of a strided row has the row's first opcode and, for each
    argument ``t``, ``arg_t = b_t + i st_t`` (``-1`` where the row has none; the
    sweeps take a strided row's opcode and arguments from the row). A plan that
    is not the graph's would compute another function. O(nodes); raises
    ValueError naming the first row and node that differ."""
    cdef ITYPE_t r, k, i, t, s, e, want
    cdef const ITYPE_t *args[3]
    args[0] = &arg0[0] if op.shape[0] else NULL
    args[1] = &arg1[0] if op.shape[0] else NULL
    args[2] = &arg2[0] if op.shape[0] else NULL
    for r in range(seg.shape[0]):
        s = seg[r, 0]
        e = seg[r, 1]
        for k in range(s + 1, e):
            if _leaf_kind(op[k]) != _leaf_kind(op[s]):
                raise ValueError(f"plan row {r}: node {k} (opcode {op[k]}) and the row's "
                                 f"first node (opcode {op[s]}) are not both leaves of one "
                                 "opcode or both other nodes")
        if not seg[r, 2]:
            continue
        for k in range(s, e):
            i = k - s
            if op[k] != op[s]:
                raise ValueError(f"strided plan row {r}: node {k} has opcode {op[k]}, "
                                 f"the row's first node {op[s]}")
            for t in range(3):
                want = -1 if seg[r, 3 + 2 * t] < 0 else seg[r, 3 + 2 * t] + i * seg[r, 4 + 2 * t]
                if args[t][k] != want:
                    raise ValueError(f"strided plan row {r}: argument {t} of node {k} is "
                                     f"{args[t][k]}, the row says {want}")
    return None


cdef int _open_layout(Layout *lay, RowLayout layout, int mode, const ITYPE_t[:, ::1] units,
                      double *T, const Nodes *nd, ITYPE_t n_nodes,
                      ITYPE_t n_inputs) except -1:
    """Fill ``lay`` from ``layout`` (None: the identity layout over ``T``), which must
    have been built for the node arrays ``nd`` (``n_nodes``, ``n_inputs``) and this
    sweep (``mode``); ``units``: the layout's units (or the plan's segments as units)."""
    cdef ITYPE_t nu = units.shape[0]
    lay.ident = layout is None
    lay.cc = 0
    lay.T = T
    lay.units = &units[0, 0] if nu else NULL
    lay.unit_of = NULL
    lay.unext = NULL
    lay.kind = NULL
    lay.off = NULL
    lay.n_slots = 0
    lay.first = NULL
    lay.rs = NULL
    lay.hints = NULL
    lay.nseg = 0
    lay.vneed = NULL
    lay.A = NULL
    if layout is None:
        return 0
    if (layout.mode != mode or layout.n_nodes != n_nodes or layout.n_inputs != n_inputs
            or layout.op_addr != <size_t>nd.op or layout.cst_addr != <size_t>nd.cst):
        raise ValueError("the row layout was built for other node arrays or another sweep")
    lay.unit_of = &layout.unit_of[0]
    lay.unext = &layout.unext[0]
    lay.kind = &layout.kind[0]
    lay.off = &layout.off[0]
    lay.n_slots = layout.n_slots
    lay.first = <double **>malloc(max(nu, 1) * sizeof(double *))
    lay.rs = <ITYPE_t *>malloc(max(nu, 1) * sizeof(ITYPE_t))
    lay.nseg = layout.plan_v.shape[0]
    lay.hints = <ITYPE_t *>malloc(max(3 * lay.nseg, 1) * sizeof(ITYPE_t))
    if lay.first == NULL or lay.rs == NULL or lay.hints == NULL:
        _close_layout(lay)
        raise MemoryError()
    return 0


def _segment_units(plan):
    """The plan's segments as units: (plan row, start, stop)."""
    units = np.empty((plan.shape[0], UNIT_COLS), dtype=np.int64)
    units[:, 0] = np.arange(plan.shape[0])
    units[:, 1:] = plan[:, :2]
    return units


cdef void _close_layout(Layout *lay) noexcept:
    free(lay.first)
    free(lay.rs)
    free(lay.hints)
    lay.first = NULL
    lay.rs = NULL
    lay.hints = NULL
