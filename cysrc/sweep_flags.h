/* Flag tests of the tape sweeps (cysrc/sweeps.pyx): which of a block's
   zero-row flags are set. */
#ifndef SYMASD_SWEEP_FLAGS_H
#define SYMASD_SWEEP_FLAGS_H

#include <stdint.h>
#include <string.h>
/* FLAGS_NONE (0), FLAGS_ALL (1) or FLAGS_MIXED (2) for the 0/1 flags f[i st],
   0 <= i < L (L >= 1). The blocks only branch on this, so a contiguous run is
   tested eight flags a word at a time rather than counted. */
static inline int symasd_sw_flags_state(const unsigned char *f, ptrdiff_t st,
                                        ptrdiff_t L) {
    const uint64_t ones = 0x0101010101010101ULL;
    uint64_t w, any = 0, all = ones;
    unsigned char any_b = 0, all_b = 1;
    ptrdiff_t i = 0;
    if (st == 0) return f[0] ? 1 : 0;
    if (st == 1) {
        for (; i + 8 <= L; i += 8) {
            memcpy(&w, f + i, sizeof w);
            any |= w;
            all &= w;
        }
        for (; i < L; i++) {
            any_b |= f[i];
            all_b &= f[i];
        }
    } else if (st == 2) {
        /* the even bytes of each word (a pairwise sum's arguments); the words
           end before the last flag, so no byte past it is read */
        const uint64_t even = 0x0001000100010001ULL;
        for (; 2 * i + 8 < 2 * (L - 1); i += 4) {
            memcpy(&w, f + 2 * i, sizeof w);
            any |= w & even;
            all &= (w & even) | (ones & ~even);
        }
        for (; i < L; i++) {
            any_b |= f[2 * i];
            all_b &= f[2 * i];
        }
    } else {
        for (; i < L; i++) {
            any_b |= f[i * st];
            all_b &= f[i * st];
            if (any_b && !all_b) return 2;
        }
    }
    if (!any && !any_b) return 0;
    return all == ones && all_b ? 1 : 2;
}

#endif /* SYMASD_SWEEP_FLAGS_H */
