#ifndef UNMASK_BF16_GEMM_H
#define UNMASK_BF16_GEMM_H
/* BF16 GEMM: C (m, n) = [C +] A (m, k) * W (k, n) with A and W rounded to BF16 and the
   products summed in fp32 by AVX-512 BF16 (vdpbf16ps), 32 products per instruction.

   ARITHMETIC CONTRACT (the scalar reference in bf16_gemm.c is the definition; the AVX-512
   kernel in bf16_gemm_avx512.c is bit-identical to it for finite data):

   Rounding to BF16 (weights once, by unmask_bf16_pack_weight; activations per call, by
   unmask_bf16_convert_rows), as vcvtneps2bf16 does it: round to nearest even on the top
   16 bits of the fp32 pattern; a subnormal input becomes a zero of its sign; NaN becomes
   a quiet NaN of its sign. A weight stored in BF16 is exact after its (exact) widening, so
   it is used as stored. kp = (k + 1) & ~1: k padded to a whole pair, padding 0.

   Product, for row i and column j, over the pairs g = 0 .. kp/2 - 1 in order:
       acc = +0
       acc = ftz(fma(a[2g+1], w[2g+1], acc))     (the odd element first,
       acc = ftz(fma(a[2g],   w[2g],   acc))      then the even one)
       C[i,j] = acc       or, with accumulate != 0,   C[i,j] = C[i,j] + acc
   where fma is the exact product plus acc, rounded once to fp32 (nearest even), and ftz
   flushes a subnormal result to a zero of its sign (vdpbf16ps ignores MXCSR: denormals
   are always flushed, but a product is never flushed before it is added: acc = +0 plus a
   product too small for fp32 gives -0 when the product is negative). This is what the
   instruction does on the Zen 4 core measured here (10^7 random lanes with finite inputs,
   and hand-made underflow cases: identical); on infinities it differs from the reference
   (inf + -inf gives an infinity, not NaN), which finite weights and activations never
   meet. The final add with accumulate is a plain fp32 add.

   Every C element is the same sum in the same order whatever the tile it falls in and
   however rows or columns are split over threads: results never depend on the batch size
   or the thread count.

   SPEED: see the measured table in docs/performance.md. Use the kernel only when
   unmask_bf16_has_avx512bf16(); the scalar reference (also the fallback) is for
   correctness, not speed. */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Row stride, in BF16 elements, of converted A and the pair count of a packed weight. */
static inline int unmask_bf16_padded_k(int k) { return (k + 1) & ~1; }

/* 1 when the CPU has AVX-512 F + BW + BF16 (the fast kernel runs), else 0. */
int unmask_bf16_has_avx512bf16(void);

/* fp32 -> BF16 bits, the contract's rounding. */
uint16_t unmask_bf16_round(float x);

/* Packed weight layout, one 64-byte load per vdpbf16ps: n padded to 16 * ceil(n / 16)
   (zero columns), k to kp. For panel t (columns 16t .. 16t+15) and pair g (rows 2g, 2g+1):
       32 values at packed[(t * (kp / 2) + g) * 32], element 2c + r = W[2g + r, 16t + c].
   Size in elements (uint16): 16 * ceil(n / 16) * kp. */
size_t unmask_bf16_packed_weight_elements(int k, int n);

/* Rounds and packs columns j0 .. j0 + count of W (k, n) into packed (the whole weight's
   buffer; j0 a multiple of 16). w points at column j0: transposed == 0, element (p, j0 + c)
   is w[p * ldw + c]; transposed != 0, it is w[c * ldw + p] (PyTorch's (out, in) storage).
   Returns 0, or -1 on a bad shape. */
int unmask_bf16_pack_weight(const float *w, int ldw, int transposed, int k, int n, int j0, int count,
                            uint16_t *packed);

/* Rounds A (m, k), row stride lda, into out (m, kp) BF16, row stride kp, padding 0. */
void unmask_bf16_convert_rows(const float *a, int lda, int m, int k, uint16_t *out);

/* C[i, j] for rows 0 <= i < m and columns j0 <= j < j1 (0 <= j0 <= j1 <= n); no other
   element of C is read or written. aq from unmask_bf16_convert_rows (row stride kp), packed
   from unmask_bf16_pack_weight with the same k and n. C row-major, stride ldc >= n. */
void unmask_bf16_gemm(int m, int n, int k, const uint16_t *aq, const uint16_t *packed,
                      float *c, int ldc, int accumulate, int j0, int j1);

/* The same contract in portable scalar C: the definition the tests compare against, and
   the path on CPUs without AVX512_BF16. */
void unmask_bf16_gemm_reference(int m, int n, int k, const uint16_t *aq, const uint16_t *packed,
                                float *c, int ldc, int accumulate, int j0, int j1);
void unmask_bf16_convert_rows_reference(const float *a, int lda, int m, int k, uint16_t *out);

#ifdef __cplusplus
}
#endif
#endif
