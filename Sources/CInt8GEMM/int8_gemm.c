/* Int8 GEMM: weight packing, activation quantization, the scalar reference GEMM and
   the run-time dispatch. The AVX-512 VNNI kernels are in int8_gemm_avx512.c.
   The arithmetic contract is in include/int8_gemm.h. */
#include "int8_gemm.h"
#include <string.h>

/* No FMA contraction anywhere: C = C + v must round twice, like the SIMD path, and the
   fraction y - trunc(y) in quantize_one must use the rounded y. Clang obeys the pragma;
   GCC (which contracts across statements by default) gets the attribute. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#define NO_FMA
#elif defined(__GNUC__)
#define NO_FMA __attribute__((optimize("fp-contract=off")))
#else
#define NO_FMA
#endif

#if defined(__x86_64__)
/* int8_gemm_avx512.c */
void unmask_int8_quantize_rows_avx512(const float *a, int lda, int m, int k,
                                      uint8_t *out, float *row_scales);
void unmask_int8_gemm_avx512(int m, int n, int k, const uint8_t *aq,
                             const float *row_scales, const int8_t *packed,
                             const float *scales, const int32_t *colsums,
                             float *c, int ldc, int accumulate, int j0, int j1);
#endif

int unmask_int8_has_vnni(void) {
#if defined(__x86_64__)
    static int cached = -1; /* -1 unknown; racing threads store the same value */
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
#else
    return 0;
#endif
}

/* The quantization step of the contract: amax -> (scale, inverse scale). A row whose
   inverse overflows (amax == 0, or amax < ~3.7e-37) is all zero: scale 0, q 0. */
static inline float scale_of(float amax, float *inv) {
    *inv = 127.0f / amax;
    if (!(*inv <= 3.4028235e38f)) { *inv = 0.0f; return 0.0f; }
    return amax / 127.0f;
}

/* round(x * inv) half away from zero, clamped to [-127, 127]. Clamping before rounding
   gives the same result (the bounds are integers) and keeps the int cast in range.
   The fraction y - trunc(y) is exact in float, so the test against 0.5 is exact
   (unlike (int)(y + 0.5f), which rounds 0.49999997f up). The SIMD path mirrors this. */
NO_FMA static inline int quantize_one(float x, float inv) {
    float y = x * inv;
    y = y > 127.0f ? 127.0f : (y < -127.0f ? -127.0f : y);
    int t = (int)y;
    float d = y - (float)t;
    return t + (d >= 0.5f) - (d <= -0.5f);
}

size_t unmask_int8_packed_weight_bytes(int k, int n) {
    if (k < 1 || n < 1) return 0;
    return (size_t)((n + 15) & ~15) * (size_t)unmask_int8_padded_k(k);
}

NO_FMA int unmask_int8_pack_weight(const float *w, int ldw, int transposed, int k, int n,
                                   int8_t *packed, float *scales, int32_t *colsums) {
    if (k < 1 || n < 1 || k > UNMASK_INT8_MAX_K || ldw < (transposed ? k : n)) return -1;
    int kp = unmask_int8_padded_k(k);
    /* element (p, j) of W is w[p * sp + j * sj] */
    size_t sp = transposed ? 1 : (size_t)ldw, sj = transposed ? (size_t)ldw : 1;
    memset(packed, 0, unmask_int8_packed_weight_bytes(k, n));
    for (int j = 0; j < n; j++) {
        const float *col = w + (size_t)j * sj;
        float amax = 0.0f;
        for (int p = 0; p < k; p++) {
            float x = col[p * sp];
            x = x < 0 ? -x : x;
            amax = x > amax ? x : amax;
        }
        float inv, s = scale_of(amax, &inv);
        int8_t *panel = packed + (size_t)(j / 16) * kp * 16 + (j % 16) * 4;
        int32_t sum = 0;
        if (s != 0.0f) {
            for (int p = 0; p < k; p++) {
                int q = quantize_one(col[p * sp], inv);
                panel[(size_t)(p / 4) * 64 + p % 4] = (int8_t)q;
                sum += q;
            }
        }
        scales[j] = s;
        colsums[j] = sum;
    }
    return 0;
}

NO_FMA void unmask_int8_quantize_rows_reference(const float *a, int lda, int m, int k,
                                                uint8_t *out, float *row_scales) {
    int kp = unmask_int8_padded_k(k);
    for (int i = 0; i < m; i++) {
        const float *x = a + (size_t)i * lda;
        uint8_t *o = out + (size_t)i * kp;
        float amax = 0.0f;
        for (int p = 0; p < k; p++) {
            float v = x[p] < 0 ? -x[p] : x[p];
            amax = v > amax ? v : amax;
        }
        float inv, s = scale_of(amax, &inv);
        for (int p = 0; p < k; p++) o[p] = (uint8_t)(128 + (s != 0.0f ? quantize_one(x[p], inv) : 0));
        for (int p = k; p < kp; p++) o[p] = 128;
        row_scales[i] = s;
    }
}

void unmask_int8_quantize_rows(const float *a, int lda, int m, int k,
                               uint8_t *out, float *row_scales) {
#if defined(__x86_64__)
    if (unmask_int8_has_vnni()) {
        unmask_int8_quantize_rows_avx512(a, lda, m, k, out, row_scales);
        return;
    }
#endif
    unmask_int8_quantize_rows_reference(a, lda, m, k, out, row_scales);
}

/* One row of A against one 16-column panel at a time, in the packed layout: the innermost
   loop runs over the 16 columns of a 64-byte group (stride 4 bytes), which a compiler can
   vectorize. This is a reference and a fallback, not a fast path: ~4.5 GOP/s on x86_64
   without SIMD flags, far below the fp32 GEMM. */
NO_FMA void unmask_int8_gemm_reference(int m, int n, int k, const uint8_t *aq,
                                       const float *row_scales, const int8_t *packed,
                                       const float *scales, const int32_t *colsums,
                                       float *c, int ldc, int accumulate, int j0, int j1) {
    int kp = unmask_int8_padded_k(k), groups = kp / 4;
    if (j1 > n) j1 = n;
    if (m < 1 || k < 1 || j0 < 0 || j0 >= j1) return;
    for (int i = 0; i < m; i++) {
        const uint8_t *a = aq + (size_t)i * kp;
        for (int t = j0 / 16; t * 16 < j1; t++) {
            const int8_t *panel = packed + (size_t)t * kp * 16;
            int32_t acc[16] = {0};
            for (int g = 0; g < groups; g++)
                for (int r = 0; r < 4; r++)
                    for (int col = 0; col < 16; col++)
                        acc[col] += (int32_t)a[4 * g + r] * panel[g * 64 + col * 4 + r];
            int lo = j0 > t * 16 ? j0 : t * 16, hi = j1 < t * 16 + 16 ? j1 : t * 16 + 16;
            for (int j = lo; j < hi; j++) {
                int32_t dot = acc[j - t * 16] - 128 * colsums[j];
                float scale = row_scales[i] * scales[j];
                float v = (float)dot * scale;
                float *cij = c + (size_t)i * ldc + j;
                *cij = accumulate ? *cij + v : v;
            }
        }
    }
}

void unmask_int8_gemm(int m, int n, int k, const uint8_t *aq, const float *row_scales,
                      const int8_t *packed, const float *scales, const int32_t *colsums,
                      float *c, int ldc, int accumulate, int j0, int j1) {
#if defined(__x86_64__)
    if (unmask_int8_has_vnni()) {
        unmask_int8_gemm_avx512(m, n, k, aq, row_scales, packed, scales, colsums,
                                c, ldc, accumulate, j0, j1);
        return;
    }
#endif
    unmask_int8_gemm_reference(m, n, k, aq, row_scales, packed, scales, colsums,
                               c, ldc, accumulate, j0, j1);
}
