# Node storage with hash-consing, and graph-wide passes over the node arrays.
#
# NodeTable owns the struct-of-arrays node storage of a graph being built and
# an open-addressing hash table keyed on (op, arg0, arg1, arg2, const bits), so
# that interning a whole block of candidate nodes is one call: identical
# nodes, inside the block or already stored, get the same id.
include "_types.pxi"
include "_opcodes.pxi"

import numpy as np

from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset
from libc.stdint cimport uint64_t


cdef uint64_t _HIGH = 0xFFFFFFFF00000000ULL
cdef uint64_t _LOW = 0x00000000FFFFFFFFULL
# rows interned between two checks of the storage's room
cdef ITYPE_t _CHUNK = 4096


cdef inline uint64_t _mix(uint64_t h, uint64_t v) noexcept nogil:
    h ^= v + <uint64_t>0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2)
    h ^= h >> 33
    h *= <uint64_t>0xFF51AFD7ED558CCDULL
    h ^= h >> 33
    return h


cdef inline uint64_t _bits(double x) noexcept nogil:
    cdef uint64_t b
    memcpy(&b, &x, 8)
    return b


cdef class NodeTable:
    """Growable node arrays ``op, arg0, arg1, arg2, const`` with hash-consing.

    ``intern(op, a0, a1, a2, c)`` is the NumPy-vectorized equivalent of::

        ids = [table.setdefault((op, a0[i], a1[i], a2[i], bits(c[i])), next_id())
               for i in range(len(a0))]

    New nodes are appended in order of first appearance, so they occupy the
    contiguous id range ``[n_before, n_after)``. With ``share=False`` only
    leaves (constants, inputs) are hash-consed and every other node is
    appended as is: enough for sparsity patterns, which do not depend on
    sharing, and much cheaper.

    Most nodes of a traced program are the first node to use one of their
    arguments (``y = sin(x); z = y * 2``): such a node cannot have a twin yet,
    so it is appended without probing and stays out of the hash table; it is
    remembered as that argument's ``first_user`` instead. A later candidate
    whose arguments all have users is looked up among those first users and
    then in the table, so every existing twin is still found. Only nodes that
    reuse already-used arguments (and leaves) enter the table, which keeps it
    small and cache-friendly.
    """

    cdef public object op_arr, a0_arr, a1_arr, a2_arr, c_arr, first_arr, hashed_arr
    cdef uint8_t[::1] op
    cdef ITYPE_t[::1] a0, a1, a2
    cdef double[::1] c
    cdef ITYPE_t[::1] first_user  # first node using node k as an argument, or -1
    cdef uint8_t[::1] hashed      # 1 where node k is in the hash table
    # open addressing, one 8-byte word per slot: the high 32 bits of the node's
    # hash (never 0) above its 32-bit id; 0 = empty. A probe reads one word and
    # touches the node arrays only when the hash bits match.
    cdef uint64_t[::1] slots
    cdef public ITYPE_t n
    cdef readonly bint share  # False: only leaves are hash-consed (pattern-only traces)
    cdef ITYPE_t n_hashed  # nodes in the hash table (its load)
    cdef ITYPE_t cap
    cdef uint64_t mask

    def __cinit__(self, ITYPE_t capacity=1024, bint share=True):
        # the hash table holds only leaves and nodes that reuse used arguments,
        # far fewer than ``capacity``: it starts with room for a sixteenth of it
        # and grows. Each growth rehashes everything hashed so far (a fifth of the
        # time of tracing Luksan-Vlcek at n = 10^5, which hashes 800,000 of 2.6
        # million nodes, when the table started at 4,096 slots); a table much
        # larger than its entries costs cache misses and page faults instead (a
        # quarter more time to trace the chained Rosenbrock at 10^4 with room for
        # a quarter of ``capacity``).
        cdef ITYPE_t size = 64
        while size < 2 * min(capacity, 2048) or (share and size < capacity // 8):
            size *= 2
        self.share = share
        self.n = 0
        self.n_hashed = 0
        self._allocate(max(capacity, 16))
        self._rehash(size)

    @property
    def capacity(self):
        """Nodes the arrays hold before they grow."""
        return self.cap

    @property
    def nbytes(self):
        """Bytes held by the node arrays and the hash table."""
        return sum(a.nbytes for a in (self.op_arr, self.a0_arr, self.a1_arr, self.a2_arr,
                                      self.c_arr, self.first_arr, self.hashed_arr)) + \
            8 * self.slots.shape[0]

    def reset(self):
        """Forget every node and keep the storage, for reuse by another trace
        (memory already touched costs no page faults). Arrays handed out
        before (``arrays()``, graphs viewing them) must no longer be used."""
        self.slots[:] = 0
        self.n = 0
        self.n_hashed = 0

    cdef _allocate(self, ITYPE_t cap):
        # node fields are written when a node is appended: no need to fill them
        op_arr = np.empty(cap, dtype=np.uint8)
        a0_arr = np.empty(cap, dtype=np.int64)
        a1_arr = np.empty(cap, dtype=np.int64)
        a2_arr = np.empty(cap, dtype=np.int64)
        c_arr = np.empty(cap, dtype=np.float64)
        # without sharing only leaves are looked up, and leaves have no
        # arguments: first users are never read. Both are set for a node when
        # it is appended (_append): fresh memory is not touched before it is used
        first_arr = np.empty(cap if self.share else 1, dtype=np.int64)
        hashed_arr = np.empty(cap, dtype=np.uint8)
        if self.n:
            op_arr[: self.n] = self.op_arr[: self.n]
            a0_arr[: self.n] = self.a0_arr[: self.n]
            a1_arr[: self.n] = self.a1_arr[: self.n]
            a2_arr[: self.n] = self.a2_arr[: self.n]
            c_arr[: self.n] = self.c_arr[: self.n]
            if self.share:
                first_arr[: self.n] = self.first_arr[: self.n]
            hashed_arr[: self.n] = self.hashed_arr[: self.n]
        self.op_arr, self.a0_arr, self.a1_arr, self.a2_arr, self.c_arr = (
            op_arr, a0_arr, a1_arr, a2_arr, c_arr)
        self.first_arr, self.hashed_arr = first_arr, hashed_arr
        self.op = op_arr
        self.a0 = a0_arr
        self.a1 = a1_arr
        self.a2 = a2_arr
        self.c = c_arr
        self.first_user = first_arr
        self.hashed = hashed_arr
        self.cap = cap

    cdef _reserve(self, ITYPE_t count):
        """Room for ``count`` more nodes, in the node arrays and in the hash table
        (should they all be hashed)."""
        cdef ITYPE_t newcap = self.cap
        while self.n + count > newcap:
            newcap *= 2
        if newcap != self.cap:
            self._allocate(newcap)
        cdef ITYPE_t tsize = <ITYPE_t>(self.mask + 1)
        if 2 * (self.n_hashed + count) > tsize:
            while 2 * (self.n_hashed + count) > tsize:
                tsize *= 4  # grow fast: every rehash touches every hashed node again
            self._rehash(tsize)

    cdef inline uint64_t _hash(self, uint8_t op, ITYPE_t x, ITYPE_t y, ITYPE_t z,
                               double v) noexcept nogil:
        cdef uint64_t h = _mix(<uint64_t>op, <uint64_t>x)
        h = _mix(h, <uint64_t>y)
        h = _mix(h, <uint64_t>z)
        return _mix(h, _bits(v)) | (<uint64_t>1 << 32)

    cdef _rehash(self, ITYPE_t size):
        """Resize the table to ``size`` slots (a power of two) and reinsert all nodes."""
        cdef ITYPE_t k
        cdef uint64_t s, h
        cdef uint64_t[::1] slots = np.zeros(size, dtype=np.uint64)
        self.mask = <uint64_t>(size - 1)
        self.n_hashed = 0
        with nogil:
            for k in range(self.n):
                if not self.hashed[k]:
                    continue
                self.n_hashed += 1
                h = self._hash(self.op[k], self.a0[k], self.a1[k], self.a2[k], self.c[k])
                s = h & self.mask
                while slots[s] != 0:
                    s = (s + 1) & self.mask
                slots[s] = (h & _HIGH) | <uint64_t>k
        self.slots = slots

    def load(self, const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
             const ITYPE_t[::1] a2, const double[::1] c):
        """Start an empty table with these (already unique) nodes, ids unchanged."""
        if self.n:
            raise ValueError("load needs an empty table")
        cdef ITYPE_t n = op.shape[0], size = <ITYPE_t>(self.mask + 1)
        if n > self.cap:
            self._allocate(n)
        self.op_arr[:n] = op
        self.a0_arr[:n] = a0
        self.a1_arr[:n] = a1
        self.a2_arr[:n] = a2
        self.c_arr[:n] = c
        self.n = n
        cdef ITYPE_t k, hashed = 0
        if self.share:
            self.first_arr[:n] = -1
        with nogil:
            # first users are only kept for sharing
            for k in range(n - 1 if self.share else -1, -1, -1):  # earliest user wins
                if a0[k] >= 0:
                    self.first_user[a0[k]] = k
                if a1[k] >= 0:
                    self.first_user[a1[k]] = k
                if a2[k] >= 0:
                    self.first_user[a2[k]] = k
            # as in _find_or_add: a node that is the first user of one of its
            # arguments is found through that argument, so only leaves and the
            # nodes that reuse used arguments go into the hash table (a traced
            # graph has few: loading it costs far less than hashing every node)
            for k in range(n):
                if a0[k] < 0 and a1[k] < 0 and a2[k] < 0:
                    self.hashed[k] = 1
                elif not self.share:
                    self.hashed[k] = 0
                else:
                    self.hashed[k] = not ((a0[k] >= 0 and self.first_user[a0[k]] == k)
                                          or (a1[k] >= 0 and self.first_user[a1[k]] == k)
                                          or (a2[k] >= 0 and self.first_user[a2[k]] == k))
                hashed += self.hashed[k]
        # room for as many again before the first rehash
        while 4 * hashed > size:
            size *= 2
        self._rehash(size)

    def intern(self, int op, const ITYPE_t[::1] a0=None, const ITYPE_t[::1] a1=None,
               const ITYPE_t[::1] a2=None, const double[::1] c=None, ITYPE_t length=-1):
        """Intern ``length`` nodes of opcode ``op``; missing argument arrays mean -1
        (and a missing ``c`` means 0.0). Returns their int64 ids."""
        cdef ITYPE_t L = length
        if L < 0:
            if a0 is not None:
                L = a0.shape[0]
            elif c is not None:
                L = c.shape[0]
        if L < 0:
            raise ValueError("intern needs at least one array or an explicit length")
        out = np.empty(L, dtype=np.int64)
        cdef ITYPE_t[::1] ids = out
        cdef bint has0 = a0 is not None, has1 = a1 is not None
        cdef bint has2 = a2 is not None, hasc = c is not None
        cdef ITYPE_t i, x, y, z, start = 0, stop
        cdef double v
        cdef uint8_t o = <uint8_t>op
        # reserved chunk by chunk: a block of constants often holds few
        # distinct values, and room for all rows would grow the hash table
        while start < L:
            stop = min(L, start + _CHUNK)
            self._reserve(stop - start)
            with nogil:
                for i in range(start, stop):
                    x = a0[i] if has0 else -1
                    y = a1[i] if has1 else -1
                    z = a2[i] if has2 else -1
                    v = c[i] if hasc else 0.0
                    ids[i] = self._find_or_add(o, x, y, z, v)
            start = stop
        return out

    cdef inline bint _has_const_arg(self, ITYPE_t k, uint8_t o) noexcept nogil:
        """Whether node ``k`` is an ``o`` node with a constant argument."""
        return (self.op[k] == o and (self.op[self.a0[k]] == OP_CONST
                                     or self.op[self.a1[k]] == OP_CONST))

    cdef inline bint _simplifiable(self, uint8_t o, ITYPE_t x, ITYPE_t y) noexcept nogil:
        """Whether a rule of ``Builder.binary`` (global tracing) applies to
        ``o(x, y)``. Must list exactly the rules of ``Builder.binary``: a row
        that passes here is interned as is."""
        cdef bint cx = self.op[x] == OP_CONST, cy = self.op[y] == OP_CONST
        cdef double vx = self.c[x], vy = self.c[y]
        if cx and cy:
            return True  # constant folding
        if o == OP_ADD:
            return ((cx and (vx == 0.0 or self._has_const_arg(y, OP_ADD)))
                    or (cy and (vy == 0.0 or self._has_const_arg(x, OP_ADD))))
        if o == OP_SUB:
            return (cx and vx == 0.0) or (cy and vy == 0.0)
        if o == OP_MUL:
            if cx and (vx == 0.0 or vx == 1.0 or vx == -1.0 or self.op[y] == OP_NEG
                       or self._has_const_arg(y, OP_MUL)):
                return True
            if cy and (vy == 0.0 or vy == 1.0 or vy == -1.0 or self.op[x] == OP_NEG
                       or self._has_const_arg(x, OP_MUL)):
                return True
            return x == y or (self._has_const_arg(x, OP_MUL)
                              and self._has_const_arg(y, OP_MUL))
        if o == OP_DIV:
            return (cx and (vx == 0.0 or vx == 1.0)) or (cy and vy == 1.0)
        if o == OP_POW:
            return cy or (cx and vx == 1.0)
        if o == OP_MAX or o == OP_MIN:
            return x == y
        if o == OP_MULZ:
            return cx or cy  # x * 0 and x * 1
        return False

    cdef inline int _classify(self, uint8_t o, ITYPE_t x, ITYPE_t y, ITYPE_t zero,
                              ITYPE_t* res, double* val) noexcept nogil:
        """What ``Builder.binary`` (global tracing) makes of ``o(x, y)``, for the
        rules that need no new operation, and squares: 0 plain node; 1 the
        existing node ``*res``; 2 the constant ``*val`` (folded ``+ - * /``);
        3 another rule applies (the NumPy rules must run); 4 ``square(x)``
        (``x * x``). Rules are tried in the builder's order, so the first one
        that applies decides, as there."""
        cdef bint cx = self.op[x] == OP_CONST, cy = self.op[y] == OP_CONST
        cdef double vx = self.c[x], vy = self.c[y]
        if cx and cy:
            if o == OP_ADD:
                val[0] = vx + vy
            elif o == OP_SUB:
                val[0] = vx - vy
            elif o == OP_MUL:
                val[0] = vx * vy
            elif o == OP_DIV:
                val[0] = vx / vy  # IEEE, as np.divide under errstate(all="ignore")
            else:
                return 3
            return 2
        if o == OP_ADD:
            if cx and vx == 0.0:
                res[0] = y
                return 1
            if cy and vy == 0.0:
                res[0] = x
                return 1
        elif o == OP_SUB:
            if cy and vy == 0.0:
                res[0] = x
                return 1
        elif o == OP_MUL:
            if (cx and vx == 0.0) or (cy and vy == 0.0):
                res[0] = zero
                return 1
            if cx and vx == 1.0:
                res[0] = y
                return 1
            if cy and vy == 1.0:
                res[0] = x
                return 1
            if x == y:  # not a constant (folded above): no earlier rule applies
                return 4
        elif o == OP_DIV:
            if cx and vx == 0.0:
                res[0] = zero
                return 1
            if cy and vy == 1.0:
                res[0] = x
                return 1
        return 3 if self._simplifiable(o, x, y) else 0

    cdef inline ITYPE_t _rest(self, ITYPE_t k, double* factor) noexcept nogil:
        """For a node ``k`` with a constant argument (``_has_const_arg``): that
        constant in ``*factor`` and the other argument, as
        ``Builder._const_operand`` picks them (the first argument if both)."""
        if self.op[self.a0[k]] == OP_CONST:
            factor[0] = self.c[self.a0[k]]
            return self.a1[k]
        factor[0] = self.c[self.a1[k]]
        return self.a0[k]

    cdef inline int _rule(self, uint8_t o, ITYPE_t x, ITYPE_t y, double* val, ITYPE_t* o1,
                          ITYPE_t* o2) noexcept nogil:
        """For a row that ``_classify`` leaves to ``Builder.binary``'s rules
        (kind 3): which rule of ``Builder.binary`` (global tracing) applies
        first, in its order, as a kind ``Builder._binary_rules`` builds from
        ``*val``, ``*o1`` and ``*o2``; 3 where the rule is not one of these
        (the block then takes ``Builder.binary``'s NumPy path):

        5 ``-o1`` (``-1 * y``, ``0 - y``); 6 ``-o1`` (``x * -1``); 7 and 8
        ``o(val, o1)`` (``c1 op (c2 op z)`` reassociated, constant first or
        second); 9 and 10 ``val * o1`` (``c * -z``, ``-z * c``); 11
        ``reciprocal(o1)`` (``1 / y``); 12 ``val * (o1 * o2)`` (``(c1 x) (c2 y)``).
        """
        cdef bint cx = self.op[x] == OP_CONST, cy = self.op[y] == OP_CONST
        cdef double vx = self.c[x], vy = self.c[y], f
        if o == OP_MUL:
            if cx and vx == -1.0:
                o1[0] = y
                return 5
            if cy and vy == -1.0:
                o1[0] = x
                return 6
            if cx and self._has_const_arg(y, OP_MUL):
                o1[0] = self._rest(y, &f)
                val[0] = vx * f
                return 7
            if cy and self._has_const_arg(x, OP_MUL):
                o1[0] = self._rest(x, &f)
                val[0] = vy * f
                return 8
            if cx and self.op[y] == OP_NEG:
                o1[0] = self.a0[y]
                val[0] = -vx
                return 9
            if cy and self.op[x] == OP_NEG:
                o1[0] = self.a0[x]
                val[0] = -vy
                return 10
            if x != y and self._has_const_arg(x, OP_MUL) and self._has_const_arg(y, OP_MUL):
                o1[0] = self._rest(x, &f)
                val[0] = f
                o2[0] = self._rest(y, &f)
                val[0] = val[0] * f
                return 12
            return 3
        if o == OP_ADD:
            if cx and self._has_const_arg(y, OP_ADD):
                o1[0] = self._rest(y, &f)
                val[0] = vx + f
                return 7
            if cy and self._has_const_arg(x, OP_ADD):
                o1[0] = self._rest(x, &f)
                val[0] = vy + f
                return 8
            return 3
        if o == OP_SUB:
            if cx and vx == 0.0:
                o1[0] = y
                return 5
            return 3
        if o == OP_DIV:
            if cx and vx == 1.0:
                o1[0] = y
                return 11
            return 3
        return 3

    def intern_simple_binary(self, int op, const ITYPE_t[::1] a, const ITYPE_t[::1] b,
                             bint commutative, ITYPE_t zero):
        """Intern ``op(a, b)`` when every row is plain, settled by a rule that
        needs no new operation (``x+0``, ``x-0``, ``x*1``, ``x*0``, ``0/x``,
        ``x/1``, folding two constants under ``+ - * /``; ``zero`` is the id
        of the constant 0) or a square ``x * x -> square(x)`` (``u * u * v``);
        else return None and intern nothing.

        Where a row needs one of the rules that ``_rule`` lists, nothing is
        interned and ``("rules", kinds, ids, vals, first, second)`` is returned
        for the builder (``Builder._binary_rules``) to build in its order.

        Returns ``(ids, squares_from, plain_from)``: as in ``Builder.binary``,
        folded constants are appended first, then the squares from
        ``squares_from`` on, then the plain nodes from ``plain_from`` on, each
        a contiguous block. Commutative arguments are stored in canonical
        order ``(min, max)``. One pass in C instead of a dozen NumPy passes;
        ``Builder.binary`` handles the blocks this declines.
        """
        cdef ITYPE_t L = a.shape[0], i, x, y
        cdef uint8_t o = <uint8_t>op
        cdef int kind
        cdef bint declined = False
        out = np.empty(L, dtype=np.int64)
        kinds_arr = np.empty(L, dtype=np.uint8)
        vals_arr = np.empty(L, dtype=np.float64)
        cdef ITYPE_t[::1] ids = out
        cdef uint8_t[::1] kinds = kinds_arr
        cdef double[::1] vals = vals_arr
        cdef bint rules = False
        cdef ITYPE_t[::1] first, second
        first_arr = second_arr = None
        with nogil:
            for i in range(L):
                kind = self._classify(o, a[i], b[i], zero, &ids[i], &vals[i])
                if kind == 3:
                    if not rules:
                        with gil:
                            first_arr = np.empty(L, dtype=np.int64)
                            second_arr = np.empty(L, dtype=np.int64)
                            first = first_arr
                            second = second_arr
                        rules = True
                    kind = self._rule(o, a[i], b[i], &vals[i], &first[i], &second[i])
                    if kind == 3:
                        declined = True
                        break
                kinds[i] = <uint8_t>kind
        if declined:
            return None
        if rules:
            # rows for Builder.binary's rules: nothing is interned here, the
            # builder builds the blocks in its order (Builder._binary_rules)
            return "rules", kinds_arr, out, vals_arr, first_arr, second_arr
        # room is reserved chunk by chunk, as nodes are added: most blocks fold
        # to a few distinct constants, and reserving for every row at once
        # would grow (and rehash) the hash table for nodes that never come
        cdef ITYPE_t squares_from = 0, plain_from = 0, start, stop
        cdef int pass_kind
        for pass_kind in (2, 4, 0):
            if pass_kind == 4:
                squares_from = self.n
            elif pass_kind == 0:
                plain_from = self.n
            start = 0
            while start < L:
                stop = min(L, start + _CHUNK)
                self._reserve(stop - start)
                with nogil:
                    for i in range(start, stop):
                        if kinds[i] != pass_kind:
                            continue
                        if pass_kind == 2:
                            ids[i] = self._find_or_add(OP_CONST, -1, -1, -1, vals[i])
                        elif pass_kind == 4:
                            ids[i] = self._find_or_add(OP_SQUARE, a[i], -1, -1, 0.0)
                        else:
                            x = a[i]
                            y = b[i]
                            if commutative and y < x:
                                x, y = y, x
                            ids[i] = self._find_or_add(o, x, y, -1, 0.0)
                start = stop
        return out, squares_from, plain_from

    def affine_operand(self, int op, const ITYPE_t[::1] a, const ITYPE_t[::1] b):
        """For pattern-only graphs: if every row of ``op(a, b)`` is an affine map
        of one non-constant operand with a nonzero constant (``c*x``, ``x*c``,
        ``x/c``, ``x+c``, ``c+x``, ``x-c``, ``c-x``), return the ids of those
        operands, else None. Such a map has the Jacobian and Hessian
        structure of its operand, so it needs no node of its own."""
        cdef ITYPE_t L = a.shape[0], i, x, y
        cdef uint8_t o = <uint8_t>op
        cdef bint cx, cy
        if o != OP_ADD and o != OP_SUB and o != OP_MUL and o != OP_DIV:
            return None
        out = np.empty(L, dtype=np.int64)
        cdef ITYPE_t[::1] ids = out
        with nogil:
            for i in range(L):
                x = a[i]
                y = b[i]
                cx = self.op[x] == OP_CONST
                cy = self.op[y] == OP_CONST
                if cx == cy:
                    break
                if o == OP_MUL and (self.c[y] if cy else self.c[x]) == 0.0:
                    break
                if o == OP_DIV and (cx or self.c[y] == 0.0):
                    break
                ids[i] = x if cy else y
            else:
                i = L
        return out if i == L else None

    def intern_sequence(self, const uint8_t[::1] op, const ITYPE_t[::1] a0,
                        const ITYPE_t[::1] a1, const ITYPE_t[::1] a2, const double[::1] c):
        """Intern nodes that may depend on each other, in order.

        An argument ``>= 0`` is an existing node id, ``-1`` is unused, and
        ``-2 - j`` refers to the node interned for entry ``j < i`` of this same
        call. Returns the ids of all entries. Equivalent to one ``intern`` call
        per entry, with references resolved as the entries are interned, except
        that an ``ADD`` or ``SUB`` of two constants becomes the constant it
        computes (as ``Builder.binary`` folds them: a derivative DAG has no
        operation on constants alone, which its printers rely on).
        """
        cdef ITYPE_t L = op.shape[0], i
        out = np.empty(L, dtype=np.int64)
        cdef ITYPE_t[::1] ids = out
        cdef ITYPE_t x, y, z
        cdef uint8_t o
        for i in range(L):
            x = a0[i] if a0[i] > -2 else ids[-2 - a0[i]]
            y = a1[i] if a1[i] > -2 else ids[-2 - a1[i]]
            z = a2[i] if a2[i] > -2 else ids[-2 - a2[i]]
            o = op[i]
            if ((o == OP_ADD or o == OP_SUB) and x >= 0 and y >= 0
                    and self.op[x] == OP_CONST and self.op[y] == OP_CONST):
                ids[i] = self._intern_one(OP_CONST, -1, -1, -1, self.c[x] + self.c[y]
                                          if o == OP_ADD else self.c[x] - self.c[y])
            else:
                ids[i] = self._intern_one(o, x, y, z, c[i])
        return out

    cdef ITYPE_t _intern_one(self, uint8_t o, ITYPE_t x, ITYPE_t y, ITYPE_t z, double v):
        self._reserve(1)
        return self._find_or_add(o, x, y, z, v)

    cdef inline bint _same(self, ITYPE_t k, uint8_t o, ITYPE_t x, ITYPE_t y, ITYPE_t z,
                           double v) noexcept nogil:
        return (k >= 0 and self.op[k] == o and self.a0[k] == x and self.a1[k] == y
                and self.a2[k] == z and _bits(self.c[k]) == _bits(v))

    cdef inline ITYPE_t _append(self, uint8_t o, ITYPE_t x, ITYPE_t y, ITYPE_t z,
                                double v) noexcept nogil:
        cdef ITYPE_t k = self.n
        self.op[k] = o
        self.a0[k] = x
        self.a1[k] = y
        self.a2[k] = z
        self.c[k] = v
        self.hashed[k] = 0
        if self.share:
            self.first_user[k] = -1
        self.n += 1
        return k

    cdef inline ITYPE_t _find_or_add(self, uint8_t o, ITYPE_t x, ITYPE_t y, ITYPE_t z,
                                     double v) noexcept nogil:
        """Id of node ``(o, x, y, z, v)``, appended if new; capacity must suffice."""
        cdef ITYPE_t k
        cdef bint fresh = False
        if not self.share and x >= 0:
            return self._append(o, x, y, z, v)
        # a node that is the first user of one of its arguments has no twin
        if x >= 0 and self.first_user[x] < 0:
            fresh = True
        if y >= 0 and self.first_user[y] < 0:
            fresh = True
        if z >= 0 and self.first_user[z] < 0:
            fresh = True
        if fresh:
            k = self._append(o, x, y, z, v)
            if x >= 0 and self.first_user[x] < 0:
                self.first_user[x] = k
            if y >= 0 and self.first_user[y] < 0:
                self.first_user[y] = k
            if z >= 0 and self.first_user[z] < 0:
                self.first_user[z] = k
            return k
        # otherwise a twin is a first user of an argument, or in the table
        if x >= 0 and self._same(self.first_user[x], o, x, y, z, v):
            return self.first_user[x]
        if y >= 0 and self._same(self.first_user[y], o, x, y, z, v):
            return self.first_user[y]
        if z >= 0 and self._same(self.first_user[z], o, x, y, z, v):
            return self.first_user[z]
        cdef uint64_t full = self._hash(o, x, y, z, v)
        cdef uint64_t h = full & _HIGH
        cdef uint64_t s = full & self.mask
        cdef uint64_t word
        while True:
            word = self.slots[s]
            if word == 0:
                k = self._append(o, x, y, z, v)
                self.hashed[k] = 1
                self.n_hashed += 1
                self.slots[s] = h | <uint64_t>k
                return k
            if (word & _HIGH) == h:
                k = <ITYPE_t>(word & _LOW)
                if self._same(k, o, x, y, z, v):
                    return k
            s = (s + 1) & self.mask

    def arrays(self):
        """Views ``(op, arg0, arg1, arg2, const)`` of the ``n`` stored nodes."""
        n = self.n
        return (self.op_arr[:n], self.a0_arr[:n], self.a1_arr[:n], self.a2_arr[:n],
                self.c_arr[:n])


def live_nodes(const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
               const ITYPE_t[::1] a2, const ITYPE_t[::1] roots, uint8_t[::1] live):
    """Mark in ``live`` (output, zeroed by the caller) every node reachable from
    ``roots`` through argument edges: the nodes an evaluation of the roots
    needs. Nodes are in topological order, so one backward pass suffices."""
    cdef ITYPE_t k, n = op.shape[0]
    with nogil:
        for k in range(roots.shape[0]):
            live[roots[k]] = 1
        for k in range(n - 1, -1, -1):
            if live[k]:
                if a0[k] >= 0:
                    live[a0[k]] = 1
                if a1[k] >= 0:
                    live[a1[k]] = 1
                if a2[k] >= 0:
                    live[a2[k]] = 1


def compact_nodes(const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
                  const ITYPE_t[::1] a2, const double[::1] cst, const uint8_t[::1] keep,
                  const ITYPE_t[::1] starts, const ITYPE_t[::1] roots):
    """The nodes flagged in ``keep`` (closed under arguments, as :func:`live_nodes`
    leaves it), renumbered in order: ``(op, arg0, arg1, arg2, const, block_starts,
    roots)`` of the kept nodes, arguments and ``roots`` (node ids, kept) in the new
    ids, unused arguments ``-1``. ``starts``: the first node of each block (sorted);
    a block keeps its start where any of its nodes is kept."""
    cdef ITYPE_t n = op.shape[0], k, j = 0, b, nb = starts.shape[0], e
    if keep.shape[0] != n or a0.shape[0] != n or a1.shape[0] != n or a2.shape[0] != n \
            or cst.shape[0] != n:
        raise ValueError("node arrays of different lengths")
    for b in range(nb):
        if not (0 <= starts[b] < n and (b == 0 or starts[b - 1] < starts[b])):
            raise ValueError("block starts must be increasing node ids")
    new_arr = np.empty(n, dtype=np.int64)
    cdef ITYPE_t[::1] new = new_arr
    with nogil:
        for k in range(n):
            new[k] = j
            j += keep[k] != 0
    cdef ITYPE_t m = j
    op_arr = np.empty(m, dtype=np.uint8)
    b0_arr = np.empty(m, dtype=np.int64)
    b1_arr = np.empty(m, dtype=np.int64)
    b2_arr = np.empty(m, dtype=np.int64)
    c_arr = np.empty(m, dtype=np.float64)
    bs_arr = np.empty(nb, dtype=np.int64)
    out_arr = np.empty(roots.shape[0], dtype=np.int64)
    cdef uint8_t[::1] op2 = op_arr
    cdef ITYPE_t[::1] b0 = b0_arr, b1 = b1_arr, b2 = b2_arr, bs = bs_arr, out = out_arr
    cdef double[::1] c2 = c_arr
    cdef ITYPE_t a, nbs = 0
    with nogil:
        for k in range(n):
            if not keep[k]:
                continue
            j = new[k]
            op2[j] = op[k]
            a = a0[k]
            b0[j] = new[a] if a >= 0 else -1
            a = a1[k]
            b1[j] = new[a] if a >= 0 else -1
            a = a2[k]
            b2[j] = new[a] if a >= 0 else -1
            c2[j] = cst[k]
        for b in range(nb):
            e = starts[b + 1] if b + 1 < nb else n
            k = starts[b]
            while k < e and not keep[k]:
                k += 1
            # (blocks that keep a node keep their start: the new id of its first
            # kept node, which no earlier block shares)
            if k < e and (nbs == 0 or bs[nbs - 1] != new[k]):
                bs[nbs] = new[k]
                nbs += 1
    for k in range(roots.shape[0]):
        if not (0 <= roots[k] < n and keep[roots[k]]):
            raise ValueError(f"root {roots[k]} is not a kept node")
        out[k] = new[roots[k]]
    return op_arr, b0_arr, b1_arr, b2_arr, c_arr, bs_arr[:nbs].copy(), out_arr


def node_levels(const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
                const ITYPE_t[::1] a2, ITYPE_t[::1] level):
    """Longest distance of every node from a leaf: leaves are level 0 and every
    other node is one more than its deepest argument. Nodes of one level depend
    only on lower levels, so a level can be processed as one vectorized block.

    (output) level (n_nodes)
    """
    cdef ITYPE_t k, n = op.shape[0], m
    with nogil:
        for k in range(n):
            m = -1
            if a0[k] >= 0 and level[a0[k]] > m:
                m = level[a0[k]]
            if a1[k] >= 0 and level[a1[k]] > m:
                m = level[a1[k]]
            if a2[k] >= 0 and level[a2[k]] > m:
                m = level[a2[k]]
            level[k] = m + 1


def input_dependent(const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
                    const ITYPE_t[::1] a2, uint8_t[::1] dep):
    """Mark in ``dep`` (output) the nodes that depend on an input (``VAR``):
    the only ones whose adjoint can reach an input. Constants, parameters and
    expressions of them alone stay 0. One forward pass (topological order)."""
    cdef ITYPE_t k, n = op.shape[0]
    with nogil:
        for k in range(n):
            dep[k] = (op[k] == OP_VAR
                      or (a0[k] >= 0 and dep[a0[k]] != 0)
                      or (a1[k] >= 0 and dep[a1[k]] != 0)
                      or (a2[k] >= 0 and dep[a2[k]] != 0))


cdef extern from "bitset.h":
    int _popcount64 "symasd_popcount64" (uint64_t w) noexcept nogil


def direction_counts(const uint8_t[::1] op, const ITYPE_t[::1] a0, const ITYPE_t[::1] a1,
                     const ITYPE_t[::1] a2, const double[::1] c, const uint8_t[:, ::1] d1,
                     const uint8_t[:, ::1] d2, const uint8_t[:, ::1] cross,
                     const ITYPE_t[::1] input_colors, const ITYPE_t[::1] outputs,
                     const ITYPE_t[::1] output_colors, ITYPE_t ncolors, int mode,
                     uint64_t[::1] work):
    """How many (node, direction) pairs a symbolic sweep differentiates: the size
    of a compiled derivative, counted before building it.

    ``mode`` 0 (forward sweep): the sum over non-leaf nodes of ``|F_k|``, the
    colors of the inputs a node depends on through first derivatives that may be
    nonzero (input ``j`` has color ``input_colors[j]``, -1 none). 1 (reverse
    sweep): the sum of ``|R_k|``, the colors of the outputs that depend on node
    ``k`` (output ``i`` has color ``output_colors[i]``). 2 (forward over reverse,
    one output): the sum of ``|F_k|`` and of ``|G_k|``, the colors of the adjoint of
    ``k``, which is built from the adjoints of its users and their partials:
    ``G_a`` gathers ``G_k`` of every user ``k``, and ``F_b`` of the arguments ``b``
    that the partial of ``k`` by ``a`` depends on (a nonzero second or cross
    derivative). Nodes that are affine maps of their arguments with constant
    coefficients, all of whose tangents are constants, are not counted in ``F``
    (their tangents fold).

    (work)   ``n_nodes * ceil(ncolors / 64)`` words (twice that for mode 2),
             overwritten
    Returns the count as an int.
    """
    cdef ITYPE_t n = op.shape[0], words = (ncolors + 63) // 64, k, w, t, a, b
    cdef ITYPE_t total = 0, col
    cdef uint8_t o
    cdef uint64_t *F = &work[0] if work.shape[0] else NULL
    cdef uint64_t *G = F + n * words if mode == 2 else NULL
    cdef ITYPE_t args[3]
    cdef uint8_t *live = NULL
    cdef uint8_t *affine = NULL
    if work.shape[0] < n * words * (2 if mode == 2 else 1):
        raise ValueError("direction_counts: work array too small")
    if words == 0 or n == 0:
        return 0
    affine = <uint8_t *>malloc(max(n, 1)) if mode != 1 else NULL
    if mode != 1 and affine == NULL:
        raise MemoryError("direction_counts: no memory")
    with nogil:
        memset(F, 0, n * words * (2 if mode == 2 else 1) * sizeof(uint64_t))
        if mode != 1:
            for k in range(n):
                o = op[k]
                affine[k] = 0
                if o == OP_VAR:
                    affine[k] = 1
                    col = input_colors[<ITYPE_t>c[k]]
                    if col >= 0:
                        F[k * words + (col >> 6)] |= (<uint64_t>1) << (col & 63)
                    continue
                if o == OP_CONST or o == OP_PARAM:
                    continue
                args[0] = a0[k]
                args[1] = a1[k]
                args[2] = a2[k]
                for t in range(3):
                    a = args[t]
                    if a >= 0 and d1[o, t]:
                        for w in range(words):
                            F[k * words + w] |= F[a * words + w]
                # an affine node (constant coefficients of inputs) has constant
                # tangents, which fold: it adds no node to the derivative
                affine[k] = _affine(o, op, args, affine, F, words)
                if not affine[k]:
                    for w in range(words):
                        total += _popcount64(F[k * words + w])
        if mode == 1:
            for k in range(outputs.shape[0]):
                col = output_colors[k]
                if col >= 0:
                    F[outputs[k] * words + (col >> 6)] |= (<uint64_t>1) << (col & 63)
            for k in range(n - 1, -1, -1):
                o = op[k]
                for w in range(words):
                    total += _popcount64(F[k * words + w])
                if o == OP_VAR or o == OP_CONST or o == OP_PARAM:
                    continue
                args[0] = a0[k]
                args[1] = a1[k]
                args[2] = a2[k]
                for t in range(3):
                    a = args[t]
                    if a >= 0 and d1[o, t]:
                        for w in range(words):
                            F[a * words + w] |= F[k * words + w]
        elif mode == 2:
            live = <uint8_t *>malloc(n)
            if live == NULL:
                with gil:
                    raise MemoryError("direction_counts: no memory")
            memset(live, 0, n)
            for k in range(outputs.shape[0]):
                live[outputs[k]] = 1
            for k in range(n - 1, -1, -1):
                o = op[k]
                if not live[k] or o == OP_VAR or o == OP_CONST or o == OP_PARAM:
                    continue
                args[0] = a0[k]
                args[1] = a1[k]
                args[2] = a2[k]
                for w in range(words):
                    total += _popcount64(G[k * words + w])
                for t in range(3):
                    a = args[t]
                    if a < 0 or not d1[o, t]:
                        continue
                    live[a] = 1
                    for w in range(words):
                        G[a * words + w] |= G[k * words + w]
                    for b in range(3):
                        if args[b] < 0 or not d1[o, b]:
                            continue
                        if (d2[o, t] if b == t else cross[o, t + b - 1]):
                            for w in range(words):
                                G[a * words + w] |= F[args[b] * words + w]
            free(live)
    free(affine)
    return total


cdef inline bint _constant_tangent(ITYPE_t a, const uint8_t *affine, const uint64_t *F,
                                   ITYPE_t words) noexcept nogil:
    """Whether node ``a``'s tangents are constants: affine, or none at all."""
    cdef ITYPE_t w
    if affine[a]:
        return True
    for w in range(words):
        if F[a * words + w]:
            return False
    return True


cdef inline bint _affine(uint8_t o, const uint8_t[::1] op, const ITYPE_t *args,
                         const uint8_t *affine, const uint64_t *F,
                         ITYPE_t words) noexcept nogil:
    """Whether a node is an affine map of its arguments with constant coefficients
    and those have constant tangents (sums, differences, negation, products with
    and divisions by constants)."""
    if o == OP_ADD or o == OP_SUB:
        return (_constant_tangent(args[0], affine, F, words)
                and _constant_tangent(args[1], affine, F, words))
    if o == OP_NEG:
        return _constant_tangent(args[0], affine, F, words)
    if o == OP_MUL:
        return ((op[args[0]] == OP_CONST and _constant_tangent(args[1], affine, F, words))
                or (op[args[1]] == OP_CONST and _constant_tangent(args[0], affine, F, words)))
    if o == OP_DIV:
        return op[args[1]] == OP_CONST and _constant_tangent(args[0], affine, F, words)
    return False


def tangent_entries(const ITYPE_t[:, ::1] T, const ITYPE_t[::1] args, const ITYPE_t[::1] K,
                    ITYPE_t zero):
    """The entries of ``T[args[K]]`` that are not ``zero``, in row-major order:
    ``(r, c, v)`` with ``v = T[args[K[r]], c]``. What ``np.nonzero(T[args[K]] !=
    zero)`` and a gather give, without the dense ``(len(K), ncolors)`` tables
    (a symbolic forward sweep reads every group's argument tangents this way).
    """
    cdef ITYPE_t L = K.shape[0], C = T.shape[1], i, j, count = 0, row
    with nogil:
        for i in range(L):
            row = args[K[i]]
            for j in range(C):
                count += T[row, j] != zero
    r_arr = np.empty(count, dtype=np.int64)
    c_arr = np.empty(count, dtype=np.int64)
    v_arr = np.empty(count, dtype=np.int64)
    cdef ITYPE_t[::1] r = r_arr, c = c_arr, v = v_arr
    cdef ITYPE_t t
    count = 0
    with nogil:
        for i in range(L):
            row = args[K[i]]
            for j in range(C):
                t = T[row, j]
                if t != zero:
                    r[count] = i
                    c[count] = j
                    v[count] = t
                    count += 1
    return r_arr, c_arr, v_arr
