import CCPUFeatures

/// What this CPU must have. On x86_64 the kernel modules are compiled for Haswell (AVX2 +
/// FMA, see Package.swift): on an older CPU their first instruction would kill the process
/// with SIGILL, so the CLI checks first and says why in one line.
public enum CPU {
    /// The missing instruction sets, or nil when everything needed is there.
    public static var missingRequiredFeatures: String? {
#if arch(x86_64)
        return unmask_cpu_has_avx2_fma() == 1 ? nil : "AVX2 and FMA"
#else
        return nil
#endif
    }
}
