# Dependency levels of a substitution decompression program, so that the
# symbolic compiler can emit all steps of one level as one vectorized block.
include "_types.pxi"


def step_levels(const ITYPE_t[::1] targets, const ITYPE_t[::1] mirrors,
                const ITYPE_t[::1] dep_ptr, const ITYPE_t[::1] dep_indices,
                ITYPE_t nnz, ITYPE_t[::1] level):
    """Level of every step of a substitution program (see
    ``symasd.decompression.SubstitutionProgram``): 0 without dependencies,
    otherwise one more than the deepest step that wrote a dependency.

    (output) level (n_steps)
    """
    cdef ITYPE_t t, d, m, n_steps = targets.shape[0]
    cdef ITYPE_t[::1] written = _zeros(nnz)
    with nogil:
        for t in range(n_steps):
            m = -1
            for d in range(dep_ptr[t], dep_ptr[t + 1]):
                if written[dep_indices[d]] > m:
                    m = written[dep_indices[d]]
            level[t] = m + 1
            written[targets[t]] = m + 1
            written[mirrors[t]] = m + 1


cdef ITYPE_t[::1] _zeros(ITYPE_t n):
    import numpy as np

    return np.zeros(max(n, 1), dtype=np.int64)
