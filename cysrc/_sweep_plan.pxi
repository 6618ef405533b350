# What a sweep of cysrc/sweeps.pyx (included there) runs over, built once per
# graph: the node arrays, the op classification tables and the segment plan,
# checked once and held as typed views, and the row layouts built from them
# (cached here, the one place a graph's sweep data lives; symasd.sweeps keeps
# one SweepPlan per graph).


cdef int _check_tables(const uint8_t[:, ::1] tab) except -1:
    if tab.shape[1] != 3 or tab.shape[0] < 96:
        raise ValueError("classification tables must have shape (N_CODES >= 96, 3)")
    return 0


# not picklable: it holds raw views of arrays (Cython's default pickling of it
# would read a null view); pickle the graph instead
@cython.auto_pickle(False)
cdef class SweepPlan:
    """The node arrays of one graph as the sweeps read them, with the
    classification tables and the segment plan.

    (input)  op, arg0, arg1, arg2, cst, outputs: the graph's node arrays;
             n_inputs: the number of inputs; d1, d2, cross:
             ``classification_tables()[1:]`` (which first, second and cross
             partials can be nonzero); seg: the segment plan (rows of
             ``symasd._vm.plan``, as ``symasd.evaluation.segments``; None: indexed
             segments, one per run of leaves of one opcode or of other nodes),
             checked here
    Build it once per graph: :meth:`forward_layout` and :meth:`hvp_layouts`
    cache the row layouts with it, and the sweeps read its views without
    acquiring an array's buffer at every call.
    """
    cdef readonly object op, arg0, arg1, arg2, cst, outputs, d1, d2, cross, segments
    cdef readonly ITYPE_t n_nodes, n_inputs, n_outputs
    cdef object units   # the segments as units (plan row, start, stop)
    cdef Nodes nodes
    cdef dict _layouts
    # typed views, held for the plan's life
    cdef const uint8_t[::1] op_v
    cdef const ITYPE_t[::1] arg0_v, arg1_v, arg2_v, outputs_v
    cdef const double[::1] cst_v
    cdef const uint8_t[:, ::1] d1_v, d2_v, cross_v
    cdef const ITYPE_t[:, ::1] seg_v, units_v

    def __init__(self, op, arg0, arg1, arg2, cst, outputs, ITYPE_t n_inputs, d1, d2, cross,
                 seg=None):
        cdef ITYPE_t n, r
        self.op_v = self.op = op
        self.arg0_v = self.arg0 = arg0
        self.arg1_v = self.arg1 = arg1
        self.arg2_v = self.arg2 = arg2
        self.cst_v = self.cst = cst
        self.outputs_v = self.outputs = outputs
        n = self.op_v.shape[0]
        if (self.arg0_v.shape[0] != n or self.arg1_v.shape[0] != n
                or self.arg2_v.shape[0] != n or self.cst_v.shape[0] != n):
            raise ValueError("node arrays of different lengths")
        for r in range(self.outputs_v.shape[0]):
            if not 0 <= self.outputs_v[r] < n:
                raise ValueError("an output is not a node id")
        if n_inputs < 0:
            raise ValueError("n_inputs must be >= 0")
        self.d1_v = self.d1 = d1
        self.d2_v = self.d2 = d2
        self.cross_v = self.cross = cross
        _check_tables(self.d1_v)
        _check_tables(self.d2_v)
        _check_tables(self.cross_v)
        self.seg_v = self.segments = _plan(seg, n, self.op_v)
        self.units_v = self.units = _segment_units(self.segments)
        self.n_nodes = n
        self.n_inputs = n_inputs
        self.n_outputs = self.outputs_v.shape[0]
        self._layouts = {}
        self.nodes.op = &self.op_v[0] if n else NULL
        self.nodes.a0 = &self.arg0_v[0] if n else NULL
        self.nodes.a1 = &self.arg1_v[0] if n else NULL
        self.nodes.a2 = &self.arg2_v[0] if n else NULL
        self.nodes.cst = &self.cst_v[0] if n else NULL
        self.nodes.outputs = &self.outputs_v[0] if self.n_outputs else NULL
        self.nodes.d1 = &self.d1_v[0, 0]
        self.nodes.d2 = &self.d2_v[0, 0]
        self.nodes.cross = &self.cross_v[0, 0]
        self.nodes.nseg = self.seg_v.shape[0]
        self.nodes.seg = &self.seg_v[0, 0] if self.nodes.nseg else NULL

    def forward_layout(self, bint gathered=False):
        """:func:`forward_layout` of this plan (slots reused, tiled), built once."""
        key = ("forward", gathered)
        lay = self._layouts.get(key)
        if lay is None:
            lay = self._layouts.setdefault(key, forward_layout(self, gathered=gathered))
        return lay

    def hvp_layouts(self, bint values=True):
        """:func:`hvp_layouts` of this plan (slots reused), built once."""
        key = ("hvp", values)
        lays = self._layouts.get(key)
        if lays is None:
            lays = self._layouts.setdefault(key, hvp_layouts(self, values=values))
        return lays

    def __repr__(self):
        return (f"SweepPlan(n_nodes={self.n_nodes}, n_inputs={self.n_inputs}, "
                f"n_outputs={self.n_outputs}, segments={self.segments.shape[0]})")


def forward_layout(SweepPlan g not None, bint reuse=True, bint tile=True,
                   bint gathered=False):
    """The row layout of :func:`forward_sweep` for a graph and its segment plan.

    (input)  g: the :class:`SweepPlan`; reuse: whether slots are reused; tile:
             whether the segments run in a tiled order (with reuse only);
             gathered: for a sweep with ``gather=``
    (output) a :class:`RowLayout`

    The nodes run in *units*: blocks of up to BLK nodes of one segment, in a
    tiled order where consumers follow their producers a block behind
    (``_schedule``), or whole segments in plan order. Per unit: constants and
    parameters have no rows; a run of inputs in order (``const[k] = i0 + k - s``)
    reads the seed rows in place; a run of nodes that are the outputs at
    consecutive positions is written straight into B; every other unit gets a
    run of slots of the tangent work array, released after the last unit that
    reads it (outputs are read at the end), so the array holds the rows that are
    live at one time, a few blocks per segment in flight, rather than all ``N``.
    It also flags the units whose values some partial derivative reads (directly,
    or through the values computed from them), the only values that a sweep with
    ``values=False`` computes. A ``gathered`` layout writes no rows into B: the
    outputs' rows get slots like the others (released after their last reader,
    perhaps the output's own unit), and the sweep gathers a unit's outputs'
    nonzeros right after the unit ran, while its rows are in cache.
    Building it is O(N) (once per graph; :meth:`SweepPlan.forward_layout` caches it).
    """
    return _build_layout(g.op, g.arg0, g.arg1, g.arg2, g.cst, g.outputs, g.n_inputs,
                         g.segments, reuse, LAYOUT_FORWARD, tile=tile, d1=g.d1,
                         gathered=gathered)


def hvp_layouts(SweepPlan g not None, bint reuse=True, bint values=True):
    """The row layouts of :func:`hvp_sweep`: ``(tangents, adjoint tangents)``.

    (input)  g: the :class:`SweepPlan`; whether slots are reused and whether every
             value is computed (False: only the values that the local rules read,
             and those needed to compute them; a sweep with these layouts returns
             no value)
    (output) two :class:`RowLayout`

    Tangents: inputs read from V in place; the rows of arguments of ops with
    second partials are kept for the reverse pass, the others released after
    their last consumer. Adjoint tangents: a segment's rows are taken when its
    last consumer runs backward (the first to write them) and released once the
    segment ran; constants and parameters share one scratch row. The scalar
    adjoints take the same slots (one double each).
    """
    empty = np.zeros(0, dtype=np.int64)
    return (_build_layout(g.op, g.arg0, g.arg1, g.arg2, g.cst, empty, g.n_inputs,
                          g.segments, reuse, LAYOUT_TANGENTS, g.d2, g.cross, values=values),
            _build_layout(g.op, g.arg0, g.arg1, g.arg2, g.cst, empty, g.n_inputs,
                          g.segments, reuse, LAYOUT_ADJOINTS))
