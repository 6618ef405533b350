/* Bit counting for the dense bit matrices of the pattern kernels
   (cysrc/pattern.pyx): population count and index of the lowest set bit. */
#ifndef SYMASD_BITSET_H
#define SYMASD_BITSET_H

#include <stdint.h>

static inline int symasd_popcount64(uint64_t w) {
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_popcountll(w);
#else
    int c = 0;
    while (w) { w &= w - 1; c++; }
    return c;
#endif
}

/* index of the lowest set bit of w != 0 */
static inline int symasd_ctz64(uint64_t w) {
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctzll(w);
#else
    int i = 0;
    while (!(w & 1)) { w >>= 1; i++; }
    return i;
#endif
}

#endif /* SYMASD_BITSET_H */
