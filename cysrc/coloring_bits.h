/* Bit sets of colors for the coloring kernels (cysrc/coloring.pyx).
 *
 * A set of colors is an array of 64-bit words, color c at bit (c & 63) of
 * word (c >> 6).  sym_ctz64 is the index of the lowest set bit of a nonzero
 * word (the first free color of a word is sym_ctz64(~word)).  sym_prefetch asks
 * for the cache line of p ahead of its use (nothing where the compiler has no
 * such builtin).
 */
#ifndef SYMASD_COLORING_BITS_H
#define SYMASD_COLORING_BITS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#if defined(_MSC_VER)
#include <intrin.h>
static inline int sym_ctz64(uint64_t x) {
    unsigned long i;
    _BitScanForward64(&i, x);
    return (int)i;
}
#else
static inline int sym_ctz64(uint64_t x) { return __builtin_ctzll(x); }
#endif

#if defined(__GNUC__) || defined(__clang__)
#define sym_prefetch(p) __builtin_prefetch(p)
#else
#define sym_prefetch(p) ((void)(p))
#endif

/* calloc, or for large blocks on Linux zeroed 2 MiB-aligned memory advised to use
   transparent huge pages (the hub tables are read at random rows: fewer TLB
   misses); released with free() either way. */
static void *sym_table_calloc(size_t count, size_t size) {
    size_t nbytes = count * size;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (nbytes >= ((size_t)4 << 20)) {
        void *p = NULL;
        if (posix_memalign(&p, (size_t)2 << 20, nbytes) != 0) return NULL;
        madvise(p, nbytes, MADV_HUGEPAGE);
        memset(p, 0, nbytes);
        return p;
    }
#endif
    return calloc(count, size);
}

#endif
