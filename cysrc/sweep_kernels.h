/* Tight loops of the tape sweeps (cysrc/sweeps.pyx): direction rows, block
   values and partials, scalar adjoints, row gathers. */
#ifndef SYMASD_SWEEP_KERNELS_H
#define SYMASD_SWEEP_KERNELS_H

#include <stdint.h>
#include <string.h>
/* Tight row loops of the sweeps. The rows written never overlap the rows read
   (the callers guarantee it), which __restrict tells the compiler, so the loops
   over the directions vectorize without run-time overlap checks; the usual
   small direction counts get loops of constant length. */
#define SW_ROWS1(CC) \
    for (ptrdiff_t i = 0; i < L; i++) { \
        const double w0 = D0[i]; \
        for (ptrdiff_t j = 0; j < (CC); j++) dst[j] = w0 * r0[j]; \
        dst += dstep; r0 += t0; \
    }
#define SW_ROWS2(CC) \
    for (ptrdiff_t i = 0; i < L; i++) { \
        const double w0 = D0[i], w1 = D1[i]; \
        for (ptrdiff_t j = 0; j < (CC); j++) dst[j] = w0 * r0[j] + w1 * r1[j]; \
        dst += dstep; r0 += t0; r1 += t1; \
    }
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
/* wider vectors where the CPU has them (chosen at load time; no FMA, so the
   results are the same bits as the baseline code's) */
#define SW_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SW_CLONES
#endif
#define SW_BY_CC(MACRO) \
    switch (cc) { \
        case 1: MACRO(1) break; case 2: MACRO(2) break; case 3: MACRO(3) break; \
        case 4: MACRO(4) break; case 6: MACRO(6) break; case 8: MACRO(8) break; \
        case 12: MACRO(12) break; case 16: MACRO(16) break; default: MACRO(cc) \
    }
SW_CLONES static void symasd_sw_rows1(double *__restrict dst, ptrdiff_t dstep,
                     const double *__restrict r0, ptrdiff_t t0,
                     const double *__restrict D0, ptrdiff_t L, ptrdiff_t cc) {
    SW_BY_CC(SW_ROWS1)
}
SW_CLONES static void symasd_sw_rows2(double *__restrict dst, ptrdiff_t dstep,
                     const double *__restrict r0, ptrdiff_t t0,
                     const double *__restrict r1, ptrdiff_t t1,
                     const double *__restrict D0, const double *__restrict D1,
                     ptrdiff_t L, ptrdiff_t cc) {
    SW_BY_CC(SW_ROWS2)
}
SW_CLONES static void symasd_sw_flat1(double *__restrict dst, const double *__restrict r0, double w0,
                     ptrdiff_t n) {
    for (ptrdiff_t j = 0; j < n; j++) dst[j] = w0 * r0[j];
}
SW_CLONES static void symasd_sw_flat2(double *__restrict dst, const double *__restrict r0,
                     const double *__restrict r1, double w1, ptrdiff_t n) {
    if (w1 == 1.0) {
        for (ptrdiff_t j = 0; j < n; j++) dst[j] = r0[j] + r1[j];
    } else {
        for (ptrdiff_t j = 0; j < n; j++) dst[j] = r0[j] + w1 * r1[j];
    }
}
#define SW_REV(CC) \
    for (ptrdiff_t i = L - 1; i >= 0; i--) { \
        const double w = D[i]; \
        const double *s = src + i * (CC); \
        double *d = dst + i * dstep; \
        if (flag[i * st]) { \
            for (ptrdiff_t j = 0; j < (CC); j++) d[j] += w * s[j]; \
        } else { \
            for (ptrdiff_t j = 0; j < (CC); j++) d[j] = w * s[j]; \
            flag[i * st] = 1; \
        } \
    }
/* reverse: dst[i st] (=|+=) D[i] src[i] for i = L-1 .. 0 (rows of cc) */
SW_CLONES static void symasd_sw_rev_rows(
        double *__restrict dst, ptrdiff_t dstep, unsigned char *__restrict flag,
        ptrdiff_t st, const double *__restrict src, const double *__restrict D,
        ptrdiff_t L, ptrdiff_t cc) {
    SW_BY_CC(SW_REV)
}
#define SW_HVP1(CC) \
    for (ptrdiff_t i = L - 1; i >= 0; i--) { \
        double *d = dst + i * dstep; \
        const double *a0 = r0 + i * t0; const double w0 = W0[i]; \
        if (flag[i * st]) { \
            for (ptrdiff_t j = 0; j < (CC); j++) d[j] += w0 * a0[j]; \
        } else { \
            for (ptrdiff_t j = 0; j < (CC); j++) d[j] = w0 * a0[j]; \
            flag[i * st] = 1; \
        } \
    }
#define SW_HVP2(CC) \
    for (ptrdiff_t i = L - 1; i >= 0; i--) { \
        double *d = dst + i * dstep; \
        const double *a0 = r0 + i * t0; const double w0 = W0[i]; \
        const double *a1 = r1 + i * t1; const double w1 = W1[i]; \
        if (flag[i * st]) { \
            for (ptrdiff_t j = 0; j < (CC); j++) d[j] = (d[j] + w0 * a0[j]) + w1 * a1[j]; \
        } else { \
            for (ptrdiff_t j = 0; j < (CC); j++) d[j] = w0 * a0[j] + w1 * a1[j]; \
            flag[i * st] = 1; \
        } \
    }
#define SW_HVP3(CC) \
    for (ptrdiff_t i = L - 1; i >= 0; i--) { \
        double *d = dst + i * dstep; \
        const double *a0 = r0 + i * t0; const double w0 = W0[i]; \
        const double *a1 = r1 + i * t1; const double w1 = W1[i]; \
        const double *a2 = r2 + i * t2; const double w2 = W2[i]; \
        if (flag[i * st]) { \
            for (ptrdiff_t j = 0; j < (CC); j++) \
                d[j] = ((d[j] + w0 * a0[j]) + w1 * a1[j]) + w2 * a2[j]; \
        } else { \
            for (ptrdiff_t j = 0; j < (CC); j++) \
                d[j] = (w0 * a0[j] + w1 * a1[j]) + w2 * a2[j]; \
            flag[i * st] = 1; \
        } \
    }
/* forward over reverse: dst[i st] (=|+=) sum_r W_r[i] r_r[i t_r] for i = L-1 .. 0,
   rounded term by term like successive axpy calls */
SW_CLONES static void symasd_sw_hvp_rows(
        double *__restrict dst, ptrdiff_t dstep, unsigned char *__restrict flag,
        ptrdiff_t st, ptrdiff_t nr,
        const double *__restrict r0, ptrdiff_t t0, const double *__restrict W0,
        const double *__restrict r1, ptrdiff_t t1, const double *__restrict W1,
        const double *__restrict r2, ptrdiff_t t2, const double *__restrict W2,
        ptrdiff_t L, ptrdiff_t cc) {
    if (nr == 1) { SW_BY_CC(SW_HVP1) }
    else if (nr == 2) { SW_BY_CC(SW_HVP2) }
    else { SW_BY_CC(SW_HVP3) }
}
/* _scale(d, a) (d * a, 0 where a is +-0) with integer masking: the compiler does
   not if-convert a floating-point test, so a loop of this vectorizes */
static inline double symasd_sw_scale(double d, double a) {
    const double p = d * a;
    uint64_t ua, up;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&up, &p, sizeof up);
    up &= -(uint64_t)((ua << 1) != 0);  /* the sign bit dropped: -0 is 0 too */
    double w;
    memcpy(&w, &up, sizeof w);
    return w;
}
/* scalar adjoints: dst[i st] (=|+=) D[i] * src[i] (0 where src[i] is 0), i = L-1 .. 0;
   uniform: 1 when every flag[i st] is set (all add), 2 when none is (all assign,
   distinct targets), else 0 */
SW_CLONES static void symasd_sw_scalar(
        double *__restrict dst, ptrdiff_t st, unsigned char *__restrict flag,
        const double *__restrict src, const double *__restrict D, ptrdiff_t L,
        int uniform) {
    if (st == 1 && uniform) {
        /* distinct targets, so any order: these loops vectorize */
        if (uniform == 1) {
            for (ptrdiff_t i = 0; i < L; i++) dst[i] += symasd_sw_scale(D[i], src[i]);
        } else {
            for (ptrdiff_t i = 0; i < L; i++) dst[i] = symasd_sw_scale(D[i], src[i]);
            memset(flag, 1, L);
        }
    } else if (uniform == 1 && st == 2) {
        for (ptrdiff_t i = L - 1; i >= 0; i--) dst[2 * i] += symasd_sw_scale(D[i], src[i]);
    } else if (uniform == 1) {
        for (ptrdiff_t i = L - 1; i >= 0; i--) dst[i * st] += symasd_sw_scale(D[i], src[i]);
    } else if (uniform == 2 && st == 2) {
        for (ptrdiff_t i = L - 1; i >= 0; i--) {
            dst[2 * i] = symasd_sw_scale(D[i], src[i]);
            flag[2 * i] = 1;
        }
    } else if (uniform == 2) {
        for (ptrdiff_t i = L - 1; i >= 0; i--) {
            dst[i * st] = symasd_sw_scale(D[i], src[i]);
            flag[i * st] = 1;
        }
    } else {
        for (ptrdiff_t i = L - 1; i >= 0; i--) {
            const double a = src[i];
            const double w = a != 0.0 ? D[i] * a : 0.0;
            if (flag[i * st]) {
                dst[i * st] += w;
            } else {
                dst[i * st] = w;
                flag[i * st] = 1;
            }
        }
    }
}
/* scalar adjoints of two arguments that interleave (x[2i], x[2i + 1]: a pairwise
   sum): dst[2i] (=|+=) D0[i] * src[i], dst[2i + 1] (=|+=) D1[i] * src[i] (0 where
   src[i] is 0), every flag of dst[0 .. 2L) set (add) or none (assign) */
SW_CLONES static void symasd_sw_scalar_pairs(
        double *__restrict dst, unsigned char *__restrict flag,
        const double *__restrict src, const double *__restrict D0,
        const double *__restrict D1, ptrdiff_t L, int add) {
    if (add) {
        for (ptrdiff_t i = 0; i < L; i++) {
            dst[2 * i] += symasd_sw_scale(D0[i], src[i]);
            dst[2 * i + 1] += symasd_sw_scale(D1[i], src[i]);
        }
    } else {
        for (ptrdiff_t i = 0; i < L; i++) {
            dst[2 * i] = symasd_sw_scale(D0[i], src[i]);
            dst[2 * i + 1] = symasd_sw_scale(D1[i], src[i]);
        }
        memset(flag, 1, 2 * L);
    }
}
/* dst[i dstep + j] += src[i sstep + j] for i < L, j < cc (rows apart) */
SW_CLONES static void symasd_sw_add_rows(double *__restrict dst, ptrdiff_t dstep,
                                         const double *__restrict src, ptrdiff_t sstep,
                                         ptrdiff_t L, ptrdiff_t cc) {
    if (dstep == cc && sstep == cc) {
        for (ptrdiff_t i = 0; i < L * cc; i++) dst[i] += src[i];
    } else {
        for (ptrdiff_t i = 0; i < L; i++)
            for (ptrdiff_t j = 0; j < cc; j++) dst[i * dstep + j] += src[i * sstep + j];
    }
}
/* zero flags of L rows of cc doubles (rstep apart): tz[i] = 1 where the row is all
   zero (+0 or -0); integer tests, so the loop vectorizes */
SW_CLONES static void symasd_sw_zero_rows(const double *__restrict rows, ptrdiff_t rstep,
                                          ptrdiff_t L, ptrdiff_t cc,
                                          unsigned char *__restrict tz) {
    for (ptrdiff_t i = 0; i < L; i++) {
        const double *r = rows + i * rstep;
        uint64_t acc = 0;
        for (ptrdiff_t j = 0; j < cc; j++) {
            uint64_t u;
            memcpy(&u, r + j, sizeof u);
            acc |= u << 1;  /* drops the sign bit: -0 counts as zero */
        }
        tz[i] = acc == 0;
    }
}
/* the CSR nonzeros of the output rows r0 + i (0 <= i < count) from their tangent
   rows rows + i rstep (all zero where zero[i]), B being m x ctot: the nonzero p of
   row r is B[idx[p]] (idx32, else idx64), in column idx[p] - r ctot. A pass over
   every column whose rows are ctot apart (rows of slots or of the seeds) reads
   rows[idx[p] - r0 ctot] in one loop over the run's nonzeros, with no per-row
   work (rows flagged zero, if any, are cleared afterwards); otherwise, row by
   row, the nonzeros in the pass's columns [j0, j0 + cc) */
#define SW_GATHER_FLAT(IDX) \
    for (ptrdiff_t p = p0; p < p1; p++) data[p] = rows[IDX[p] - off];
#define SW_GATHER_ROWS(IDX) \
    for (ptrdiff_t i = 0; i < count; i++) { \
        const double *row = rows + i * rstep; \
        const ptrdiff_t base = (r0 + i) * ctot + j0; \
        for (ptrdiff_t p = indptr[r0 + i]; p < indptr[r0 + i + 1]; p++) { \
            const ptrdiff_t j = (ptrdiff_t)IDX[p] - base; \
            if (j >= 0 && j < cc) data[p] = zero[i] ? 0.0 : row[j]; \
        } \
    }
SW_CLONES static void symasd_sw_gather_run(
        double *__restrict data, const int64_t *__restrict indptr,
        const int32_t *__restrict idx32, const int64_t *__restrict idx64, ptrdiff_t r0,
        ptrdiff_t count, const double *__restrict rows, ptrdiff_t rstep,
        const unsigned char *__restrict zero, ptrdiff_t j0, ptrdiff_t cc, ptrdiff_t ctot) {
    if (cc == ctot && rstep == ctot) {
        const ptrdiff_t p0 = indptr[r0], p1 = indptr[r0 + count], off = r0 * ctot;
        if (idx32 != NULL) { SW_GATHER_FLAT(idx32) } else { SW_GATHER_FLAT(idx64) }
        if (symasd_sw_flags_state(zero, 1, count) == 0) return;
        for (ptrdiff_t i = 0; i < count; i++)
            if (zero[i])
                for (ptrdiff_t p = indptr[r0 + i]; p < indptr[r0 + i + 1]; p++) data[p] = 0.0;
    } else if (idx32 != NULL) {
        SW_GATHER_ROWS(idx32)
    } else {
        SW_GATHER_ROWS(idx64)
    }
}
/* values of a block of ADD (0), SUB (1), MUL (2) or DIV (3) nodes whose arguments
   x[i sx], y[i sy] lie outside the block */
#define SW_VALS(EXPR) \
    if (sx == 1 && sy == 1) { for (ptrdiff_t i = 0; i < L; i++) { \
        const double a = x[i], b = y[i]; out[i] = EXPR; } } \
    else if (sx == 1 && sy == 0) { const double b = y[0]; \
        for (ptrdiff_t i = 0; i < L; i++) { const double a = x[i]; out[i] = EXPR; } } \
    else if (sx == 0 && sy == 1) { const double a = x[0]; \
        for (ptrdiff_t i = 0; i < L; i++) { const double b = y[i]; out[i] = EXPR; } } \
    else { for (ptrdiff_t i = 0; i < L; i++) { \
        const double a = x[i * sx], b = y[i * sy]; out[i] = EXPR; } }
SW_CLONES static void symasd_sw_values2(int which, double *__restrict out,
                                        const double *__restrict x, ptrdiff_t sx,
                                        const double *__restrict y, ptrdiff_t sy,
                                        ptrdiff_t L) {
    switch (which) {
        case 0: SW_VALS(a + b) break;
        case 1: SW_VALS(a - b) break;
        case 2: SW_VALS(a * b) break;
        default: SW_VALS(a / b) break;
    }
}
/* nonzero when d is NaN or +-inf (an integer test, so loops of it vectorize) */
static inline int symasd_sw_nonfinite(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return (u & 0x7ff0000000000000ULL) == 0x7ff0000000000000ULL;
}
/* out[i] = f x[i sx] (f = 2: SQUARE's partial) or x[i sx] (f = 0: MUL's partials);
   returns whether every out[i] is finite */
#define SW_PARTIAL(SX) \
    if (f == 0.0) { for (ptrdiff_t i = 0; i < L; i++) { \
        const double d = x[i * (SX)]; out[i] = d; bad |= symasd_sw_nonfinite(d); } } \
    else { for (ptrdiff_t i = 0; i < L; i++) { \
        const double d = f * x[i * (SX)]; out[i] = d; bad |= symasd_sw_nonfinite(d); } }
SW_CLONES static int symasd_sw_partial(double *__restrict out, const double *__restrict x,
                                       ptrdiff_t sx, double f, ptrdiff_t L) {
    int bad = 0;
    if (sx == 1) { SW_PARTIAL(1) }
    else if (sx == 0) { SW_PARTIAL(0) }
    else if (sx == 2) { SW_PARTIAL(2) }
    else { SW_PARTIAL(sx) }
    return !bad;
}
/* out[i] = _scale(h, a[i]) (a constant second partial times the adjoints); returns
   whether every out[i] is finite */
SW_CLONES static int symasd_sw_hcoefs(double *__restrict out, double h,
                                      const double *__restrict a, ptrdiff_t L) {
    int bad = 0;
    for (ptrdiff_t i = 0; i < L; i++) {
        const double w = symasd_sw_scale(h, a[i]);
        out[i] = w;
        bad |= symasd_sw_nonfinite(w);
    }
    return !bad;
}

#endif /* SYMASD_SWEEP_KERNELS_H */
