# Which entries of a CSR structure are alone in their row with their column's
# color: the test of direct recovery from a compressed product (included by
# cysrc/coloring.pyx and cysrc/decompress.pyx).


cdef void _unique_color_flags(const ITYPE_t[::1] ptr, const ITYPE_t[::1] idx,
                              const ITYPE_t[::1] color, ITYPE_t[::1] counts,
                              BOOL_t[::1] out) noexcept nogil:
    """out[k] = 1 where entry k = (i, j) of the CSR structure is the only entry of
    row i whose column has j's color (0 for a neutral column, color -1); counts:
    zeros on entry and on exit."""
    cdef ITYPE_t i, k, c
    for i in range(ptr.shape[0] - 1):
        for k in range(ptr[i], ptr[i + 1]):
            c = color[idx[k]]
            if c >= 0:
                counts[c] += 1
        for k in range(ptr[i], ptr[i + 1]):
            c = color[idx[k]]
            out[k] = c >= 0 and counts[c] == 1
        for k in range(ptr[i], ptr[i + 1]):
            c = color[idx[k]]
            if c >= 0:
                counts[c] = 0
