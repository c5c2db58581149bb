import UnmaskSupport

/// One way to run a model's weight products: a backend and an arithmetic. It is what
/// `bench forward --engines` takes, what the memory estimate counts, and what results
/// files name (`fp32`, `openblas`, `int8`, `bf16`): one type from the flag to the row.
public struct Engine: Hashable, Sendable, CustomStringConvertible {
    public var backend: GEMMBackend
    public var compute: Compute

    public init(backend: GEMMBackend = .unmask, compute: Compute = .fp32) {
        self.backend = backend
        self.compute = compute
    }

    /// Our fp32 kernels (the reference).
    public static let fp32 = Engine()
    /// OpenBLAS in fp32 (the reference we measure ours against).
    public static let openblas = Engine(backend: .openblas)
    /// Our int8 (VNNI) and bf16 (vdpbf16ps) weight products.
    public static let int8 = Engine(compute: .int8)
    public static let bf16 = Engine(compute: .bf16)
    /// The engines there are, in the order benchmarks list them.
    public static let all: [Engine] = [.fp32, .openblas, .int8, .bf16]

    /// `fp32`, `openblas`, `int8`, `bf16`: how a flag and a results row spell it.
    public var name: String {
        backend == .openblas ? (compute == .fp32 ? "openblas" : "openblas-\(compute.rawValue)") : compute.rawValue
    }
    public var description: String { name }

    /// The engine a name spells, nil for none.
    public init?(name: String) {
        guard let e = Engine.all.first(where: { $0.name == name }) else { return nil }
        self = e
    }

    /// Why this CPU cannot run it, nil when it can.
    public var unavailableReason: SettingError? { compute.unavailableReason(backend: backend) }

    /// Its matrix products on `threads` threads.
    public func matmul(threads: Int = 1) -> MatMul { MatMul(backend: backend, threads: threads, compute: compute) }
}
