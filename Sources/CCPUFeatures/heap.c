#include "cpu_features.h"
/* malloc.h before the __GLIBC__ test: that macro only exists once a libc header is
   included (an earlier version tested it first, so mallopt was silently compiled out). */
#if defined(__linux__)
#include <malloc.h>
#endif

/* glibc serves large blocks (the activation arrays of a training step, 16-64 MB) by mmap
   and unmaps them on free, so each step faulted ~160 000 pages in and zeroed them again.
   No mmap for blocks (M_MMAP_MAX 0; the mmap threshold itself cannot be raised past 32 MB)
   and no trimming keep freed memory in the heap for reuse. Measured: page faults only in
   the first step afterwards, and 1-thread `unmask bench train` 1429 -> 1736 tokens/s.
   Swift cannot call mallopt itself (malloc.h is not in its Glibc module). */
int unmask_keep_freed_heap_memory(void) {
#if defined(__GLIBC__)
    /* mallopt returns 1 on success. */
    return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
#else
    return 0;
#endif
}
