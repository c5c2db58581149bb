/* Register-resident peak loops (peak_rate.h). */
#include "peak_rate.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>

int unmask_peak_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

__attribute__((target("avx512f")))
double unmask_peak_fma_f32(long n, float step) {
    const __m512 one = _mm512_set1_ps(1.0f), c = _mm512_set1_ps(step);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m512 a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    for (long i = 0; i < n; i++) {
        a0 = _mm512_fmadd_ps(a0, one, c);   a1 = _mm512_fmadd_ps(a1, one, c);
        a2 = _mm512_fmadd_ps(a2, one, c);   a3 = _mm512_fmadd_ps(a3, one, c);
        a4 = _mm512_fmadd_ps(a4, one, c);   a5 = _mm512_fmadd_ps(a5, one, c);
        a6 = _mm512_fmadd_ps(a6, one, c);   a7 = _mm512_fmadd_ps(a7, one, c);
        a8 = _mm512_fmadd_ps(a8, one, c);   a9 = _mm512_fmadd_ps(a9, one, c);
        a10 = _mm512_fmadd_ps(a10, one, c); a11 = _mm512_fmadd_ps(a11, one, c);
        /* An empty asm naming every chain: the compiler must keep each one, one fmadd per
           chain per iteration, instead of folding the loop into a multiply. */
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));
        __asm__ volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    float lanes[16];
    _mm512_storeu_ps(lanes, s);
    double total = 0;
    for (int i = 0; i < 16; i++) total += lanes[i];
    return total;
}

int unmask_peak_bf16_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
}

__attribute__((target("avx512f,avx512bf16")))
double unmask_peak_bf16_dot(long n, float step) {
    /* a = (step, 0) and b = (1, 1) in every pair: each instruction adds step to each lane. */
    uint32_t bits;
    __builtin_memcpy(&bits, &step, 4);
    const __m512bh a = (__m512bh)_mm512_set1_epi32((int)(bits >> 16));
    const __m512bh b = (__m512bh)_mm512_set1_epi32(0x3F803F80);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m512 a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    for (long i = 0; i < n; i++) {
        a0 = _mm512_dpbf16_ps(a0, a, b);   a1 = _mm512_dpbf16_ps(a1, a, b);
        a2 = _mm512_dpbf16_ps(a2, a, b);   a3 = _mm512_dpbf16_ps(a3, a, b);
        a4 = _mm512_dpbf16_ps(a4, a, b);   a5 = _mm512_dpbf16_ps(a5, a, b);
        a6 = _mm512_dpbf16_ps(a6, a, b);   a7 = _mm512_dpbf16_ps(a7, a, b);
        a8 = _mm512_dpbf16_ps(a8, a, b);   a9 = _mm512_dpbf16_ps(a9, a, b);
        a10 = _mm512_dpbf16_ps(a10, a, b); a11 = _mm512_dpbf16_ps(a11, a, b);
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));
        __asm__ volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    float lanes[16];
    _mm512_storeu_ps(lanes, s);
    double total = 0;
    for (int i = 0; i < 16; i++) total += lanes[i];
    return total;
}
#else
int unmask_peak_available(void) { return 0; }
double unmask_peak_fma_f32(long n, float step) { (void)n; (void)step; return 0; }
int unmask_peak_bf16_available(void) { return 0; }
double unmask_peak_bf16_dot(long n, float step) { (void)n; (void)step; return 0; }
#endif
