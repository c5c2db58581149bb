#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import UnmaskSupport

/// One entry point for every matrix product the model makes, so `--backend` switches
/// all of them at once: ours, or OpenBLAS. Same conventions as `GEMM.sgemm`.
public struct MatMul: Sendable {
    public var backend: GEMMBackend
    public var threads: Int
    /// The arithmetic of `linear` (the model's weight products): fp32, or int8 / bf16 on the
    /// weights' copies (`Weight.prepareInt8`, `prepareBF16`), which must exist. `gemm` is
    /// always fp32.
    public var compute: Compute
    /// Quantized-activation scratch for the int8 and bf16 paths. Copies of a MatMul share
    /// it, so a model takes its own (`withOwnScratch`): two models may then run on two threads.
    let int8Scratch: Int8Scratch?
    let bf16Scratch: BF16Scratch?
    /// When set, every `gemm` and `linear` call adds the time it took to this timer:
    /// `bench forward` measures the share of a forward spent inside the products with it.
    /// Unset (the default), a call pays one nil check.
    public var productTimer: ProductTimer?

    public init(backend: GEMMBackend = .unmask, threads: Int = 1, compute: Compute = .fp32) {
        self.backend = backend
        self.threads = max(1, threads)
        self.compute = compute
        int8Scratch = compute == .int8 ? Int8Scratch() : nil
        bf16Scratch = compute == .bf16 ? BF16Scratch() : nil
    }

    /// This MatMul with scratch of its own (for a model that may run beside others); the
    /// product timer, if any, is kept.
    public func withOwnScratch() -> MatMul {
        var copy = MatMul(backend: backend, threads: threads, compute: compute)
        copy.productTimer = productTimer
        return copy
    }

    /// C = [C +] op(A)·op(B)
    public func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
        guard let timer = productTimer else {
            untimedGEMM(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                        c: c, ldc: ldc, accumulate: accumulate)
            return
        }
        let start = monotonicNanoseconds()
        untimedGEMM(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                    c: c, ldc: ldc, accumulate: accumulate)
        timer.add(monotonicNanoseconds() &- start)
    }

    private func untimedGEMM(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        switch backend {
        case .unmask:
            GEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                       c: c, ldc: ldc, accumulate: accumulate, threads: threads)
        case .openblas:
            OpenBLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                           c: c, ldc: ldc, accumulate: accumulate, threads: threads)
        }
    }

    /// C (m, n) = [C +] A (m, k) · W, for a weight W that is used on every call.
    /// Ours multiplies by W packed once (or, for a handful of rows, streams the raw W);
    /// OpenBLAS multiplies by the raw W (it has no pre-packed interface).
    public func linear(m: Int, a: UnsafePointer<Float>, lda: Int, weight: Weight,
                       c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
        guard let timer = productTimer else {
            untimedLinear(m: m, a: a, lda: lda, weight: weight, c: c, ldc: ldc, accumulate: accumulate)
            return
        }
        let start = monotonicNanoseconds()
        untimedLinear(m: m, a: a, lda: lda, weight: weight, c: c, ldc: ldc, accumulate: accumulate)
        timer.add(monotonicNanoseconds() &- start)
    }

    private func untimedLinear(m: Int, a: UnsafePointer<Float>, lda: Int, weight: Weight,
                               c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        // A weight without the copy its compute reads is a bug of the caller (every weight a
        // model multiplies through `linear` gets its copy when the compute is set), never a
        // silent fall back to fp32, which would measure and report the wrong arithmetic.
        if compute == .int8, backend == .unmask {
            guard let q = weight.int8, let scratch = int8Scratch else {
                preconditionFailure("MatMul.linear: a (\(weight.rows), \(weight.cols)) weight has no int8 copy (Weight.prepareInt8)")
            }
            Int8GEMM.linear(m: m, a: a, lda: lda, weight: q, c: c, ldc: ldc, accumulate: accumulate, threads: threads,
                            scratch: scratch)
            return
        }
        if compute == .bf16, backend == .unmask {
            guard let h = weight.bf16, let scratch = bf16Scratch else {
                preconditionFailure("MatMul.linear: a (\(weight.rows), \(weight.cols)) weight has no bf16 copy (Weight.prepareBF16)")
            }
            BF16GEMM.linear(m: m, a: a, lda: lda, weight: h, c: c, ldc: ldc, accumulate: accumulate, threads: threads,
                            scratch: scratch)
            return
        }
        switch backend {
        case .unmask where m > GEMM.skinnyRows || weight.halfPanels:
            GEMM.gemmPacked(m: m, a: a, lda: lda, w: weight.packed, c: c, ldc: ldc, accumulate: accumulate,
                            threads: threads)
        case .unmask:
            // A few rows: stream the (in, out) weights; same summation order as the packed path.
            GEMM.sgemm(transA: false, transB: false, m: m, n: weight.cols, k: weight.rows, a: a, lda: lda,
                       b: weight.inOut, ldb: weight.cols, c: c, ldc: ldc, accumulate: accumulate, threads: threads)
        default:
            untimedGEMM(transA: false, transB: weight.transposed, m: m, n: weight.cols, k: weight.rows, a: a, lda: lda,
                 b: weight.raw, ldb: weight.transposed ? weight.rows : weight.cols, c: c, ldc: ldc, accumulate: accumulate)
        }
    }
}

/// Time spent inside a MatMul's product calls (`MatMul.productTimer`), summed over the
/// calls. A call counts from entry to return on the thread that made it, so a product
/// spread over worker threads counts its wall time once. Calls made side by side from
/// several threads (attention's units, each a single-threaded product on one worker) use
/// `sharedBy(workers)`: each adds its time divided by the number of workers, which is the
/// wall time the products occupy when the workers are evenly loaded.
public final class ProductTimer: Sendable {
    private let total: Counter
    private let callers: UInt64

    public init() {
        total = Counter()
        callers = 1
    }

    private init(total: Counter, callers: Int) {
        self.total = total
        self.callers = UInt64(max(1, callers))
    }

    /// The same total, for products run side by side on `workers` threads.
    public func sharedBy(_ workers: Int) -> ProductTimer { ProductTimer(total: total, callers: workers) }

    /// Seconds inside products since creation or the last `reset`.
    public var seconds: Double { Double(total.nanoseconds.load(ordering: .relaxed)) * 1e-9 }

    public func reset() { total.nanoseconds.store(0, ordering: .relaxed) }

    func add(_ nanoseconds: UInt64) { total.nanoseconds.wrappingAdd(nanoseconds / callers, ordering: .relaxed) }

    private final class Counter: Sendable {
        let nanoseconds = Atomic<UInt64>(0)
    }
}
