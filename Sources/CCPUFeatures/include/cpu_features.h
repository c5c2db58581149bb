#ifndef UNMASK_CPU_FEATURES_H
#define UNMASK_CPU_FEATURES_H
/* Runtime CPU feature checks, so one binary can pick the AVX-512 GEMM micro-kernel
   where the CPU has it and the AVX2 one elsewhere. Swift has no cpuid intrinsic. */
int unmask_cpu_has_avx512f(void);
int unmask_cpu_has_avx2_fma(void);

/* A spin-wait hint (x86 PAUSE, arm64 YIELD): lets the sibling hyper-thread run and saves
   power while a worker thread polls for the next GEMM. Swift has no intrinsic for it. */
static inline void unmask_cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Signals (signals.c). SIGINT/SIGTERM set a flag that long jobs poll; a second one kills. */
void unmask_watch_interrupts(void);
/* The signal number received since unmask_watch_interrupts, or 0. */
int unmask_interrupt_received(void);
/* Until stopped: on SIGINT, SIGTERM or SIGHUP write `sequence` to stdout, then die of it. */
void unmask_restore_terminal_on_signal(const char *sequence);
void unmask_stop_restoring_terminal(void);
#endif
