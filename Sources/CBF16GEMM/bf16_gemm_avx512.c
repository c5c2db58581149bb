/* AVX-512 BF16 GEMM and activation rounding (x86_64 only). The target is built without -m
   flags, so every function here carries a target attribute and is only called after
   unmask_bf16_has_avx512bf16(). Bit-identical to the scalar reference in bf16_gemm.c for
   finite data (the contract is in include/bf16_gemm.h). */
#include "bf16_gemm.h"
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define INLINE static inline __attribute__((always_inline)) TARGET
/* the row and panel loops of a tile must be fully unrolled for acc to live in registers */
#define UNROLL _Pragma("GCC unroll 16")

/* Register tile: MR rows x NP panels of 16 columns, MR * NP fp32 accumulators.
   8 x 3 = 24 zmm accumulators + 3 weight vectors + 1 broadcast: per pair of k, 3 weight
   loads and 8 broadcasts feed 24 vdpbf16ps, and 24 independent chains cover the
   instruction's latency. The same shape as the int8 kernel's, for the same reasons. */
#define MR 8
#define NP 3

static inline int32_t load32(const uint16_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

/* C[0..R, 16-column panels 0..P) for R rows of BF16 A (stride kp) and P panels of the
   packed weight (panel stride pstride elements); mask[p] selects the columns to write. */
INLINE void tile(int R, int P, const uint16_t *a, int kp, const uint16_t *w, size_t pstride,
                 float *c, int ldc, int accumulate, const __mmask16 *mask) {
    __m512 acc[MR][NP];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int p = 0; p < P; p++) acc[r][p] = _mm512_setzero_ps();
    for (int g = 0; g < kp; g += 2) {
        __m512bh wv[NP];
        UNROLL
        for (int p = 0; p < P; p++) wv[p] = (__m512bh)_mm512_loadu_si512(w + p * pstride + g * 16);
        UNROLL
        for (int r = 0; r < R; r++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32(load32(a + (size_t)r * kp + g));
            UNROLL
            for (int p = 0; p < P; p++) acc[r][p] = _mm512_dpbf16_ps(acc[r][p], av, wv[p]);
        }
    }
    UNROLL
    for (int p = 0; p < P; p++) {
        __mmask16 m = mask[p];
        if (!m) continue;
        UNROLL
        for (int r = 0; r < R; r++) {
            float *cr = c + (size_t)r * ldc + 16 * p;
            __m512 v = acc[r][p];
            if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, cr), v);
            _mm512_mask_storeu_ps(cr, m, v);
        }
    }
}

typedef void (*tile_fn)(const uint16_t *, int, const uint16_t *, size_t, float *, int, int, const __mmask16 *);
#define T(R, P)                                                                                 \
    static TARGET void tile_##R##_##P(const uint16_t *a, int kp, const uint16_t *w, size_t ps,  \
                                      float *c, int ldc, int acc, const __mmask16 *mask) {      \
        tile(R, P, a, kp, w, ps, c, ldc, acc, mask);                                            \
    }
#define T3(R) T(R, 1) T(R, 2) T(R, 3)
T3(1) T3(2) T3(3) T3(4) T3(5) T3(6) T3(7) T3(8)
/* tiles[R][P - 1]: the full tile and the smaller ones for the last rows and columns */
#define R3(R) {tile_##R##_1, tile_##R##_2, tile_##R##_3}
static const tile_fn tiles[MR + 1][NP] = {{0}, R3(1), R3(2), R3(3), R3(4), R3(5), R3(6), R3(7), R3(8)};

/* Column tiles outer, row tiles inner: the NP-panel weight tile (NP * 16 * kp * 2 bytes,
   96 KB at k = 1024, 384 KB at LLaDA's k = 4096) stays in L2 while the rows of A stream
   past it; a few rows read each weight byte from memory once. */
TARGET void unmask_bf16_gemm_avx512(int m, int n, int k, const uint16_t *aq, const uint16_t *packed,
                                    float *c, int ldc, int accumulate, int j0, int j1) {
    int kp = unmask_bf16_padded_k(k);
    size_t pstride = (size_t)16 * kp;
    if (j1 > n) j1 = n;
    if (m < 1 || k < 1 || j0 < 0 || j0 >= j1) return;
    int t_end = (j1 + 15) / 16;
    for (int t = j0 / 16, np; t < t_end; t += np) {
        np = t_end - t < NP ? t_end - t : NP;
        if (t_end - t == 4) np = 2; /* 2 + 2 panels, not 3 + 1 */
        __mmask16 mask[NP];
        for (int p = 0; p < np; p++) {
            int js = 16 * (t + p);
            int lo = j0 > js ? j0 - js : 0, hi = j1 - js < 16 ? j1 - js : 16;
            mask[p] = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
        }
        const uint16_t *w = packed + (size_t)t * pstride;
        for (int i = 0; i < m; i += MR) {
            int mr = m - i < MR ? m - i : MR;
            tiles[mr][np - 1](aq + (size_t)i * kp, kp, w, pstride, c + (size_t)i * ldc + 16 * t, ldc, accumulate, mask);
        }
    }
}

/* vcvtneps2bf16 rounds as the contract says (nearest even, subnormals to signed zero,
   NaN quiet); the tests check it against unmask_bf16_round on random bit patterns. */
TARGET void unmask_bf16_convert_rows_avx512(const float *a, int lda, int m, int k, uint16_t *out) {
    int kp = unmask_bf16_padded_k(k);
    for (int i = 0; i < m; i++) {
        const float *src = a + (size_t)i * lda;
        uint16_t *dst = out + (size_t)i * kp;
        int p = 0;
        for (; p + 16 <= k; p += 16) {
            __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + p));
            _mm256_storeu_si256((__m256i *)(dst + p), (__m256i)h);
        }
        if (p < k) {
            __mmask16 m16 = (__mmask16)((1u << (k - p)) - 1);
            __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m16, src + p));
            _mm256_mask_storeu_epi16(dst + p, m16, (__m256i)h);
        }
        for (p = k; p < kp; p++) dst[p] = 0;
    }
}
#endif
