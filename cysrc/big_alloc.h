/* Large blocks of work memory (cysrc/pattern_memory.h, cysrc/coloring_bits.h):
   on Linux, blocks of 4 MiB or more are 2 MiB-aligned and advised to use
   transparent huge pages (the kernels read them at random, and each huge page
   is one TLB entry and one fault); released with free() either way. */
#ifndef SYMASD_BIG_ALLOC_H
#define SYMASD_BIG_ALLOC_H

#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

static void *symasd_big_alloc(size_t nbytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (nbytes >= ((size_t)4 << 20)) {
        void *p = NULL;
        if (posix_memalign(&p, (size_t)2 << 20, nbytes) != 0) return NULL;
        madvise(p, nbytes, MADV_HUGEPAGE);
        return p;
    }
#endif
    return malloc(nbytes > 0 ? nbytes : 1);
}

/* symasd_big_alloc, zeroed (calloc for small blocks). */
static void *symasd_big_calloc(size_t count, size_t size) {
    size_t nbytes = count * size;
    void *p;
    if (nbytes < ((size_t)4 << 20)) return calloc(count, size);
    p = symasd_big_alloc(nbytes);
    if (p != NULL) memset(p, 0, nbytes);
    return p;
}

#endif /* SYMASD_BIG_ALLOC_H */
