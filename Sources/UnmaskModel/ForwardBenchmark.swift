#if canImport(Glibc)
import Glibc
#endif
import UnmaskKernels
import UnmaskSupport

/// `unmask bench forward` as a library call: one full forward pass (every position's
/// logits) with our kernels and with OpenBLAS, side by side, interleaved.
public enum ForwardBenchmark {
    /// Median seconds per forward of `batch` random sequences of the context length:
    /// (ours, OpenBLAS), on `threads` threads.
    public static func measure(config: ModelConfig, source: TensorSource, batch: Int, threads: Int) throws -> (unmask: Double, openblas: Double) {
        let length = config.contextLength
        var rng = SplitMix64(seed: 5)
        let ids = (0..<(batch * length)).map { _ in Int(rng.next() % UInt64(config.vocabSize)) }
        let ours = try Transformer(config: config, source: source, matmul: MatMul(backend: .unmask, threads: threads))
        let blas = try Transformer(config: config, source: source, matmul: MatMul(backend: .openblas, threads: threads))
        let times = interleavedMedianSeconds([
            { _ = try! ours.forward(ids: ids, batch: batch, length: length) },
            { _ = try! blas.forward(ids: ids, batch: batch, length: length) },
        ], rounds: 7, batchSeconds: 0.1, between: { i in
            // Let the other side's spinning workers sleep first (see GEMMBenchmark).
            if threads > 1 { usleep(i == 1 ? 150_000 : useconds_t(WorkerPool.spinSeconds * 5e6)) }
        })
        return (times[0], times[1])
    }
}
