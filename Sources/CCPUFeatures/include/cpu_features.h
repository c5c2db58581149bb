#ifndef UNMASK_CPU_FEATURES_H
#define UNMASK_CPU_FEATURES_H
/* Runtime CPU feature checks, so one binary can pick the AVX-512 GEMM micro-kernel
   where the CPU has it and the AVX2 one elsewhere. Swift has no cpuid intrinsic. */
int unmask_cpu_has_avx512f(void);
int unmask_cpu_has_avx2_fma(void);
#endif
