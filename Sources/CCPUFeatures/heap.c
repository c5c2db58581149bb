#include "cpu_features.h"
/* malloc.h first: __GLIBC__ is only defined once a libc header is included, and the
   stop-9 version tested it before including anything, so mallopt was compiled out and
   the fix below never ran (found by `nm -D` showing no mallopt import). Measured once it
   ran: 160 000 page faults per training step -> ~0 in steady state, and 1-thread
   `unmask bench train` 1429 -> 1736 tokens/s. */
#if defined(__linux__)
#include <malloc.h>
#endif

/* glibc serves large blocks (the activation arrays of a training step, 16-64 MB) by mmap
   and unmaps them on free, so each step faulted them in and zeroed them again: 12% of a
   1-thread training step was page faults (perf). No mmap for blocks (M_MMAP_MAX 0; the
   mmap threshold itself cannot be raised past 32 MB) and no trimming keep freed memory in
   the heap for reuse. Swift cannot see mallopt (malloc.h is not in its Glibc module). */
void unmask_keep_freed_heap_memory(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}
