#ifndef UNMASK_INT8_GEMM_H
#define UNMASK_INT8_GEMM_H
/* Int8 GEMM for CPU inference: C (m, n) = A (m, k) x W (k, n), both operands quantized
   to 8 bits with symmetric per-row (A) and per-column (W) scales.

   The fast path uses AVX-512 VNNI (vpdpbusd: 4 u8 x s8 products summed into each int32
   lane); a portable scalar path gives bit-identical results and is the only one compiled
   off x86_64. unmask_int8_gemm picks the VNNI kernel at run time when the CPU has it.

   ARITHMETIC CONTRACT (both paths implement exactly this; inputs must be finite)

   round(x) rounds half away from zero; kp = (k + 3) & ~3 (k padded to a multiple of 4).

   Weights (quantized once, by unmask_int8_pack_weight), per output column j, with
   amax_j = max_p |W[p,j]| and inv_j = 127.0f / amax_j (float):
       s_j      = amax_j / 127.0f                               (float)
       q[p,j]   = clamp(round(W[p,j] * inv_j), -127, 127)       (int8)
       colsum_j = sum_{p<k} q[p,j]                              (int32, padding excluded)
     If inv_j is not finite (amax_j == 0, or below ~3.7e-37) the column is zero: s_j = 0,
     all q = 0. The k..kp padding rows of the packed weight are 0. The quantization
     multiplies by the inverse scale instead of dividing by s: vdivps (~10 cycles per 16
     floats) would dominate the quantization of A (measured 0.85 vs 0.5 ns per element).

   Activations (per call, by unmask_int8_quantize_rows), per row i, the same rule:
       a_i      = amax_i / 127.0f,   q[i,p] = clamp(round(A[i,p] * inv_i), -127, 127)
       u[i,p]   = q[i,p] + 128       (uint8 in [1, 255]; padding columns k..kp hold 128)
     vpdpbusd multiplies unsigned by signed bytes, hence the +128 offset on A.

   Product:
       acc_ij = sum_{p<kp} u[i,p] * q[p,j]              (int32, exact, see limit below)
       dot_ij = acc_ij - 128 * colsum_j                 (= sum_p qA[i,p] * qW[p,j], exact)
       v_ij   = (float)dot_ij * (a_i * s_j)             (int -> float rounds to nearest
                                                         even; then two float multiplies
                                                         in this order; no FMA)
       C[i,j] = v_ij            or, with accumulate != 0,   C[i,j] = C[i,j] + v_ij

   Limit: |u * q| <= 255 * 127 = 32385, so acc fits int32 for kp <= 65536
   (32385 * 65536 = 2 122 383 360 < 2^31). UNMASK_INT8_MAX_K is that bound;
   unmask_int8_pack_weight rejects larger k, and the GEMM assumes a weight packed by it.

   Expected error against the fp32 product, Gaussian A and W, k = 256..1024: max |err| /
   max |C| and rms err / rms C both about 1%. For inference, not training.

   SPEED (one core of a Xeon with AVX-512 VNNI, vpdpbusd peak ~680 GOP/s; 2 m n k ops):
   m = 128..1024, k = 256..1024: gemm 550-720 GOP/s, 420-630 with quantizing A.
   m = 4: ~500; m = 1: ~200 (reads all of W for one row: bandwidth-bound).
   Quantizing A costs ~0.25 ns per element, a fifth of the time when n = 256, so
   quantize an input once when several weights multiply it (q, k, v). Use the int8 path
   only when unmask_int8_has_vnni(): the scalar fallback (~4.5 GOP/s) is there for
   correctness, not speed. The kernels need optimization: at -O0 (a debug build without
   cSettings -O2) they run at ~10 GOP/s. */
#include <stddef.h>
#include <stdint.h>

#define UNMASK_INT8_MAX_K 65536

/* Row stride, in bytes, of quantized A: k rounded up to a multiple of 4. */
static inline int unmask_int8_padded_k(int k) { return (k + 3) & ~3; }

/* 1 when the CPU has AVX-512 F + BW + VL + VNNI (the fast kernel runs), else 0; always 0
   off x86_64. */
int unmask_int8_has_vnni(void);

/* Packed weight layout, chosen so that one 64-byte load feeds one vpdpbusd:
   n is padded to np = 16 * ceil(n / 16) columns (zero columns) and k to kp.
   For panel t (columns 16t .. 16t+15), for k-group g (rows 4g .. 4g+3):
       64 bytes at packed[(t * (kp / 4) + g) * 64], byte 4c + r = q[4g + r, 16t + c].
   Size: np * kp bytes. Align the buffer to 64 bytes for best speed (not required). */
size_t unmask_int8_packed_weight_bytes(int k, int n);

/* Quantizes and packs W (k, n). transposed == 0: element (p, j) is w[p * ldw + j]
   (row-major "in, out"); transposed != 0: element (p, j) is w[j * ldw + p] (storage
   (n, k), e.g. the tied embedding table (vocab, d) used as W = E^T).
   Writes packed (unmask_int8_packed_weight_bytes(k, n) bytes), scales[n], colsums[n].
   Returns 0, or -1 when k < 1, n < 1, k > UNMASK_INT8_MAX_K or ldw is too small. */
int unmask_int8_pack_weight(const float *w, int ldw, int transposed, int k, int n,
                            int8_t *packed, float *scales, int32_t *colsums);

/* Quantizes A (m, k), row-major with stride lda, into out (m, kp) uint8 (row stride kp,
   padding 128) and row_scales[m]. Uses AVX-512 when unmask_int8_has_vnni(); the result
   is identical to the reference either way. */
void unmask_int8_quantize_rows(const float *a, int lda, int m, int k,
                               uint8_t *out, float *row_scales);
void unmask_int8_quantize_rows_reference(const float *a, int lda, int m, int k,
                                         uint8_t *out, float *row_scales);

/* C[i, j] for all rows 0 <= i < m and columns j0 <= j < j1 (0 <= j0 <= j1 <= n); no other
   element of C is read or written. aq / row_scales come from unmask_int8_quantize_rows
   (row stride kp), packed / scales / colsums from unmask_int8_pack_weight with the same
   k and n. C is row-major with stride ldc >= n. accumulate != 0 adds into C.
   Threads: split columns into ranges (multiples of 16 keep every thread's panels whole,
   but any split is correct), or split rows by offsetting aq (by i0 * kp), row_scales
   and c (by i0 * ldc) and passing a smaller m. */
void unmask_int8_gemm(int m, int n, int k, const uint8_t *aq, const float *row_scales,
                      const int8_t *packed, const float *scales, const int32_t *colsums,
                      float *c, int ldc, int accumulate, int j0, int j1);

/* The same contract in portable scalar C: the reference the tests compare against,
   bit-identical to unmask_int8_gemm, and the path used off x86_64. */
void unmask_int8_gemm_reference(int m, int n, int k, const uint8_t *aq,
                                const float *row_scales, const int8_t *packed,
                                const float *scales, const int32_t *colsums,
                                float *c, int ldc, int accumulate, int j0, int j1);
#endif
