/* BF16 GEMM: weight packing, activation rounding, the scalar reference GEMM and the
   run-time dispatch. The AVX-512 BF16 kernels are in bf16_gemm_avx512.c; the arithmetic
   contract is in include/bf16_gemm.h. */
#include "bf16_gemm.h"
#include <math.h>
#include <string.h>

/* No FMA contraction beyond the fmaf calls the contract asks for: the flush of each sum
   must happen between the two steps of a pair. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#define NO_FMA
#elif defined(__GNUC__)
#define NO_FMA __attribute__((optimize("fp-contract=off")))
#else
#define NO_FMA
#endif

#if defined(__x86_64__)
/* bf16_gemm_avx512.c */
void unmask_bf16_convert_rows_avx512(const float *a, int lda, int m, int k, uint16_t *out);
void unmask_bf16_gemm_avx512(int m, int n, int k, const uint16_t *aq, const uint16_t *packed,
                             float *c, int ldc, int accumulate, int j0, int j1);
#endif

int unmask_bf16_has_avx512bf16(void) {
#if defined(__x86_64__)
    static int cached = -1; /* -1 unknown; racing threads store the same value */
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512bf16");
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
#else
    return 0;
#endif
}

static inline uint32_t bits_of(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float float_of(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }
static inline float widen(uint16_t h) { return float_of((uint32_t)h << 16); }

uint16_t unmask_bf16_round(float x) {
    uint32_t u = bits_of(x);
    uint32_t sign = u & 0x80000000u, magnitude = u & 0x7FFFFFFFu;
    if (magnitude > 0x7F800000u) return (uint16_t)((sign >> 16) | 0x7FC0u); /* NaN: quiet, signed */
    if (magnitude < 0x00800000u) return (uint16_t)(sign >> 16);             /* zero or subnormal */
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);              /* nearest even */
}

/* A subnormal becomes a zero of its sign. */
static inline float ftz(float x) {
    return (bits_of(x) & 0x7F800000u) == 0 ? float_of(bits_of(x) & 0x80000000u) : x;
}

size_t unmask_bf16_packed_weight_elements(int k, int n) {
    if (k < 1 || n < 1) return 0;
    return (size_t)16 * (size_t)((n + 15) / 16) * (size_t)unmask_bf16_padded_k(k);
}

int unmask_bf16_pack_weight(const float *w, int ldw, int transposed, int k, int n, int j0, int count,
                            uint16_t *packed) {
    if (k < 1 || n < 1 || j0 < 0 || j0 % 16 != 0 || count < 1 || j0 + count > n) return -1;
    if (transposed ? ldw < k : ldw < count) return -1;
    int kp = unmask_bf16_padded_k(k), pairs = kp / 2;
    int t0 = j0 / 16, t1 = (j0 + count + 15) / 16;
    for (int t = t0; t < t1; t++) {
        uint16_t *panel = packed + (size_t)t * pairs * 32;
        for (int g = 0; g < pairs; g++) {
            uint16_t *out = panel + (size_t)g * 32;
            for (int c = 0; c < 16; c++) {
                int col = 16 * t + c - j0; /* column within w */
                for (int r = 0; r < 2; r++) {
                    int p = 2 * g + r;
                    float v = 0.0f;
                    if (p < k && col < count) v = transposed ? w[(size_t)col * ldw + p] : w[(size_t)p * ldw + col];
                    out[2 * c + r] = unmask_bf16_round(v);
                }
            }
        }
    }
    return 0;
}

void unmask_bf16_convert_rows_reference(const float *a, int lda, int m, int k, uint16_t *out) {
    int kp = unmask_bf16_padded_k(k);
    for (int i = 0; i < m; i++) {
        for (int p = 0; p < k; p++) out[(size_t)i * kp + p] = unmask_bf16_round(a[(size_t)i * lda + p]);
        for (int p = k; p < kp; p++) out[(size_t)i * kp + p] = 0;
    }
}

void unmask_bf16_convert_rows(const float *a, int lda, int m, int k, uint16_t *out) {
#if defined(__x86_64__)
    if (unmask_bf16_has_avx512bf16()) { unmask_bf16_convert_rows_avx512(a, lda, m, k, out); return; }
#endif
    unmask_bf16_convert_rows_reference(a, lda, m, k, out);
}

NO_FMA void unmask_bf16_gemm_reference(int m, int n, int k, const uint16_t *aq, const uint16_t *packed,
                                       float *c, int ldc, int accumulate, int j0, int j1) {
    int kp = unmask_bf16_padded_k(k), pairs = kp / 2;
    if (j1 > n) j1 = n;
    for (int i = 0; i < m; i++) {
        const uint16_t *a = aq + (size_t)i * kp;
        for (int j = j0; j < j1; j++) {
            const uint16_t *w = packed + (size_t)(j / 16) * pairs * 32 + 2 * (j % 16);
            float acc = 0.0f;
            for (int g = 0; g < pairs; g++) {
                const uint16_t *wg = w + (size_t)g * 32;
                acc = ftz(fmaf(widen(a[2 * g + 1]), widen(wg[1]), acc));
                acc = ftz(fmaf(widen(a[2 * g]), widen(wg[0]), acc));
            }
            float *out = c + (size_t)i * ldc + j;
            *out = accumulate ? *out + acc : acc;
        }
    }
}

void unmask_bf16_gemm(int m, int n, int k, const uint16_t *aq, const uint16_t *packed,
                      float *c, int ldc, int accumulate, int j0, int j1) {
#if defined(__x86_64__)
    if (unmask_bf16_has_avx512bf16()) { unmask_bf16_gemm_avx512(m, n, k, aq, packed, c, ldc, accumulate, j0, j1); return; }
#endif
    unmask_bf16_gemm_reference(m, n, k, aq, packed, c, ldc, accumulate, j0, j1);
}
