import UnmaskSupport

/// Which arithmetic the model's weight products use. The sampling draw's precision
/// (`--precision float64|float32`) is a separate matter.
public enum Compute: String, Sendable, CaseIterable {
    /// Our fp32 GEMM: the reference, and the fallback everywhere.
    case fp32
    /// Weights int8 per output column, activations int8 per row, products summed exactly
    /// in int32 by AVX-512 VNNI (`vpdpbusd`), rescaled to fp32 (Sources/CInt8GEMM): the
    /// four weight products of each block and the vocabulary head. Attention's products
    /// and everything else stay fp32. Inference only.
    case int8
    /// Weights and activations rounded to BF16, products summed in fp32 by AVX512_BF16
    /// (`vdpbf16ps`, Sources/CBF16GEMM): the same weights as int8 (block products and the
    /// head). A checkpoint stored in BF16 is used as stored. Inference only; run only
    /// where the instruction is measured faster than fp32 FMA (`BF16GEMM.measuredRates`).
    case bf16

    /// Why this CPU or backend cannot run `self`, or nil when it can: an error about the
    /// compute setting, which a front end spells (`--compute` on the command line).
    public func unavailableReason(backend: GEMMBackend) -> SettingError? {
        switch self {
        case .fp32:
            return nil
        case .int8:
            if backend != .unmask { return SettingError(.compute, "⟨compute⟩ int8 runs on our kernels only (not ⟨backend⟩ \(backend.rawValue))") }
            if !Int8GEMM.available {
                #if arch(x86_64)
                return SettingError(.compute, "⟨compute⟩ int8 needs AVX-512 VNNI, which this CPU lacks; use ⟨compute⟩ fp32")
                #else
                return SettingError(.compute, "⟨compute⟩ int8 needs x86-64 AVX-512 VNNI; on this CPU use ⟨compute⟩ fp32")
                #endif
            }
            return nil
        case .bf16:
            if backend != .unmask { return SettingError(.compute, "⟨compute⟩ bf16 runs on our kernels only (not ⟨backend⟩ \(backend.rawValue))") }
            guard let rates = BF16GEMM.measuredRates else {
                return SettingError(.compute, "⟨compute⟩ bf16 needs AVX512_BF16 (vdpbf16ps), which this CPU lacks; use ⟨compute⟩ fp32 or int8")
            }
            let ratio = rates.bf16 / rates.fp32
            if ratio < BF16GEMM.requiredSpeedup {
                return SettingError(.compute, "⟨compute⟩ bf16 would be slower here: this core runs vdpbf16ps at \(Int(rates.bf16.rounded())) GFLOP/s against \(Int(rates.fp32.rounded())) for fp32 FMA (\(fixed(ratio, 2))x, measured; it needs \(BF16GEMM.requiredSpeedup)x); use ⟨compute⟩ fp32 or int8")
            }
            return nil
        }
    }
}
