# Shared C types for every kernel: `include "_types.pxi"` at the top of a .pyx.
# Node ids, index arrays and CSR pointers are int64 everywhere (NumPy's intp on
# the platforms we build for); values are float64.
from libc.stdint cimport int64_t, int32_t, uint8_t

ctypedef int64_t ITYPE_t
ctypedef double DTYPE_t
ctypedef uint8_t BOOL_t
