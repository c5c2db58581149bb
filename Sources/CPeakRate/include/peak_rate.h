#ifndef UNMASK_PEAK_RATE_H
#define UNMASK_PEAK_RATE_H
/* Register-resident loops that measure one core's arithmetic peak: the rate every kernel's
   GFLOP/s is a fraction of. Each runs 12 independent chains of one 512-bit instruction
   (enough to cover its latency on every core here: 4 cycles x 2 ports, plus margin), so
   nothing but the instruction's throughput limits it; no memory is touched in the loop.

   unmask_peak_fma_f32(n, step): every lane of 12 zmm accumulators, starting at 0, does
   acc = acc * 1 + step, n times (vfmadd, 16 lanes: 32 FLOP per instruction). Returns the
   sum of all 12 x 16 lanes, n * step * 192 when that is exact, so a caller can check the
   loop did the work it is timed for.

   unmask_peak_bf16_dot(n, step): the same with vdpbf16ps (AVX512_BF16): every lane of 12
   accumulators, starting at 0, adds step * 1 + 0 * 1, n times (32 products, 64 FLOP per
   instruction). Returns the sum of every lane, n * step * 192 when exact; step must be a
   BF16 value (its low 16 bits zero). Call it only when unmask_peak_bf16_available().

   Built with -O2 in every configuration (an unoptimised loop spills its chains to the
   stack and measures memory). The functions carry a target attribute; call them only
   when unmask_peak_available() says the CPU has AVX-512F. */
#ifdef __cplusplus
extern "C" {
#endif

int unmask_peak_available(void);
double unmask_peak_fma_f32(long n, float step);
int unmask_peak_bf16_available(void);
double unmask_peak_bf16_dot(long n, float step);

#ifdef __cplusplus
}
#endif
#endif
