/* AVX-512 VNNI int8 GEMM and activation quantization (x86_64 only). The target is
   built without -m flags, so every function here carries a target attribute and is only
   called after unmask_int8_has_vnni(). Results are bit-identical to the scalar
   reference in int8_gemm.c: the integer sums are exact, and the float epilogue does the
   same two multiplies (and add) in the same order, without FMA. */
#include "int8_gemm.h"
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define INLINE static inline __attribute__((always_inline)) TARGET
/* the row and panel loops of a tile must be fully unrolled for acc to live in registers */
#define UNROLL _Pragma("GCC unroll 16")

/* Register tile: MR rows x NP panels of 16 columns, MR * NP int32 accumulators.
   8 x 3 = 24 zmm accumulators + 3 weight vectors + 1 broadcast: per group of 4 k, 3
   weight loads and 8 broadcasts feed 24 vpdpbusd, so the loads stay well under the two
   per cycle and the 24 independent chains hide vpdpbusd's latency (5 cycles, 2/cycle).
   Measured: 12 x 2 and 6 x 4 run as fast within the noise of this VM. */
#define MR 8
#define NP 3

/* The explicit-rounding forms (round to nearest, as the default mode) are opaque to the
   compiler, so it cannot fuse the multiply and add into an FMA (GCC would otherwise). */
#define RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

static inline int32_t load32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

/* C[0..R, 16-column panels 0..P) for R rows of quantized A (stride kp) and P panels of
   the packed weight (panel stride pstride bytes); mask[p] selects the columns to write.
   R and P are compile-time constants after inlining, so acc lives in registers. */
INLINE void tile(int R, int P, const uint8_t *a, int kp, const int8_t *w, size_t pstride,
                 const float *rs, const float *sc, const int32_t *cs, float *c, int ldc,
                 int accumulate, const __mmask16 *mask) {
    __m512i acc[MR][NP];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int p = 0; p < P; p++) acc[r][p] = _mm512_setzero_si512();
    for (int g = 0; g < kp; g += 4) {
        __m512i wv[NP];
        UNROLL
        for (int p = 0; p < P; p++) wv[p] = _mm512_loadu_si512(w + p * pstride + g * 16);
        UNROLL
        for (int r = 0; r < R; r++) {
            __m512i av = _mm512_set1_epi32(load32(a + (size_t)r * kp + g));
            UNROLL
            for (int p = 0; p < P; p++) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], av, wv[p]);
        }
    }
    UNROLL
    for (int p = 0; p < P; p++) {
        __mmask16 m = mask[p];
        if (!m) continue;
        __m512i off = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m, cs + 16 * p), 7);
        __m512 s = _mm512_maskz_loadu_ps(m, sc + 16 * p);
        UNROLL
        for (int r = 0; r < R; r++) {
            float *cr = c + (size_t)r * ldc + 16 * p;
            __m512 dot = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][p], off));
            __m512 v = _mm512_mul_round_ps(dot, _mm512_mul_round_ps(_mm512_set1_ps(rs[r]), s, RN), RN);
            if (accumulate) v = _mm512_add_round_ps(_mm512_maskz_loadu_ps(m, cr), v, RN);
            _mm512_mask_storeu_ps(cr, m, v);
        }
    }
}

typedef void (*tile_fn)(const uint8_t *, int, const int8_t *, size_t, const float *,
                        const float *, const int32_t *, float *, int, int, const __mmask16 *);
#define T(R, P)                                                                          \
    static TARGET void tile_##R##_##P(const uint8_t *a, int kp, const int8_t *w,         \
                                      size_t ps, const float *rs, const float *sc,        \
                                      const int32_t *cs, float *c, int ldc, int acc,      \
                                      const __mmask16 *mask) {                            \
        tile(R, P, a, kp, w, ps, rs, sc, cs, c, ldc, acc, mask);                          \
    }
#define T3(R) T(R, 1) T(R, 2) T(R, 3)
T3(1) T3(2) T3(3) T3(4) T3(5) T3(6) T3(7) T3(8)
/* tiles[R][P - 1]: the full tile and the smaller ones for the last rows and columns */
#define R3(R) {tile_##R##_1, tile_##R##_2, tile_##R##_3}
static const tile_fn tiles[MR + 1][NP] = {{0}, R3(1), R3(2), R3(3), R3(4), R3(5), R3(6), R3(7), R3(8)};

/* Column tiles outer, row tiles inner: the NP-panel weight tile (NP * 16 * kp bytes,
   12 KB at k = 256) stays in L1 while the rows of A (MR * kp bytes per tile) stream past
   it from L2. At k = 1024 the tile (48 KB) is served from L2 too, still at full speed. */
TARGET void unmask_int8_gemm_avx512(int m, int n, int k, const uint8_t *aq,
                                    const float *row_scales, const int8_t *packed,
                                    const float *scales, const int32_t *colsums,
                                    float *c, int ldc, int accumulate, int j0, int j1) {
    int kp = unmask_int8_padded_k(k);
    size_t pstride = (size_t)16 * kp;
    if (j1 > n) j1 = n;
    if (m < 1 || k < 1 || j0 < 0 || j0 >= j1) return;
    int t_end = (j1 + 15) / 16;
    for (int t = j0 / 16, np; t < t_end; t += np) {
        np = t_end - t < NP ? t_end - t : NP;
        if (t_end - t == 4) np = 2; /* 2 + 2 panels, not 3 + 1 (a 1-panel tile is slower) */
        __mmask16 mask[NP];
        for (int p = 0; p < np; p++) {
            int js = 16 * (t + p);
            int lo = j0 > js ? j0 - js : 0, hi = j1 - js < 16 ? j1 - js : 16;
            mask[p] = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
        }
        const int8_t *w = packed + (size_t)t * pstride;
        for (int i = 0; i < m; i += MR) {
            int mr = m - i < MR ? m - i : MR;
            tiles[mr][np - 1](aq + (size_t)i * kp, kp, w, pstride, row_scales + i,
                              scales + 16 * t, colsums + 16 * t,
                              c + (size_t)i * ldc + 16 * t, ldc, accumulate, mask);
        }
    }
}

/* q + 128 for 16 floats x, the same value as quantize_one in int8_gemm.c in fewer
   instructions: the sum y + copysign(0.5, y) is rounded toward zero, which moves it
   toward zero but never past an integer (integers are exact in float), so truncating it
   gives floor(y + 0.5) for y >= 0 and ceil(y - 0.5) for y < 0: round half away from zero,
   without the double rounding of a plain y + 0.5f. */
INLINE __m128i quantize16(__m512 x, __m512 inv) {
    __m512 y = _mm512_mul_ps(x, inv);
    y = _mm512_min_ps(_mm512_max_ps(y, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
    __m512i half = _mm512_ternarylogic_epi32(_mm512_castps_si512(y), _mm512_set1_epi32(INT32_MIN),
                                             _mm512_set1_epi32(0x3F000000), 0xEA); /* (y & sign) | 0.5f */
    __m512 s = _mm512_add_round_ps(y, _mm512_castsi512_ps(half), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m128i q = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(s));   /* low bytes of q in [-127, 127] */
    return _mm_xor_si128(q, _mm_set1_epi8((char)0x80));         /* + 128 */
}

TARGET void unmask_int8_quantize_rows_avx512(const float *a, int lda, int m, int k,
                                             uint8_t *out, float *row_scales) {
    int kp = unmask_int8_padded_k(k), kfull = k & ~15;
    /* the last, partial vector: lanes < k - kfull are data, lanes up to kp - kfull get 128 */
    __mmask16 mk = (__mmask16)((1u << (k - kfull)) - 1), mo = (__mmask16)((1u << (kp - kfull)) - 1);
    for (int i = 0; i < m; i++) {
        const float *x = a + (size_t)i * lda;
        uint8_t *o = out + (size_t)i * kp;
        /* two max chains: one is latency-bound (4 cycles per vector) */
        __m512 m0 = _mm512_abs_ps(_mm512_maskz_loadu_ps(mk, x + kfull)), m1 = m0;
        int p;
        for (p = 0; p + 32 <= kfull; p += 32) {
            m0 = _mm512_max_ps(m0, _mm512_abs_ps(_mm512_loadu_ps(x + p)));
            m1 = _mm512_max_ps(m1, _mm512_abs_ps(_mm512_loadu_ps(x + p + 16)));
        }
        if (p < kfull) m0 = _mm512_max_ps(m0, _mm512_abs_ps(_mm512_loadu_ps(x + p)));
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1)), inv = 127.0f / amax, s = amax / 127.0f;
        if (!(inv <= 3.4028235e38f)) inv = s = 0.0f; /* as scale_of: a zero row */
        row_scales[i] = s;
        __m512 vinv = _mm512_set1_ps(inv);
        for (p = 0; p < kfull; p += 16) { /* and fetch the next row while we are at it */
            if (i + 1 < m) _mm_prefetch((const char *)(x + lda + p), _MM_HINT_T0);
            _mm_storeu_si128((__m128i *)(o + p), quantize16(_mm512_loadu_ps(x + p), vinv));
        }
        if (mo) /* lanes past k load 0 and so become 128, as padding should */
            _mm_mask_storeu_epi8(o + kfull, mo, quantize16(_mm512_maskz_loadu_ps(mk, x + kfull), vinv));
    }
}
#endif
