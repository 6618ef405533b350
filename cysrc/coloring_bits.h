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

#endif
