#if canImport(Glibc)
import Glibc
#endif
import UnmaskKernels
import UnmaskSupport

// safetensors: an 8-byte little-endian header length N, N bytes of JSON header
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {..}}
// then the raw little-endian tensor bytes; offsets are relative to the end of the header.
//
// Reading maps the file (mmap, read-only) and hands out pointers into the mapping: F32
// weights are never copied. F16 and BF16 tensors (the bundled models are stored in F16 to
// halve the repository; published checkpoints in BF16) stay as they are in the mapping:
// weights are packed from them a panel at a time (`stored`, StoredMatrix), and only what
// the model reads as F32 directly (norms, biases, the embedding table) is widened, on first
// request, into a buffer the file owns (`float32`). Everything in the header is checked
// before any pointer is made, so a truncated or hostile file is an error, never a trap or a huge allocation:
// header length within the file and below 100 MB, valid JSON, known dtypes, shapes whose
// byte size matches the offsets, offsets inside the data and not overlapping.
//
// Writing builds the header, pads it with spaces to a multiple of 8 bytes (so every F32
// tensor starts 4-byte aligned in a mapping), and writes atomically (temp file + rename).

public struct TensorInfo: Sendable {
    public let name: String
    public let dtype: String
    public let shape: [Int]
    public let begin: Int  // byte offset in the data section
    public let end: Int
    public var count: Int { shape.reduce(1, *) }
}

public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let tensors: [TensorInfo]
    public let metadata: [(key: String, value: String)]
    public let fileSize: Int
    let base: UnsafeMutableRawPointer
    let dataStart: Int
    /// F32 copies of the F16/BF16 tensors read through `float32`, by tensor index, made on
    /// first request (norms, biases, embeddings; weights are packed from `stored` instead).
    /// A `Locked`, which owns its lock: when `init` throws before `deinit` can run, the lock
    /// is freed with it (a hand-allocated pthread lock leaked there; the fuzzer found it).
    private let widened = Locked<[Int: UnsafeMutablePointer<Float>]>([:])

    public static let maxHeaderBytes = 100 << 20

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw UnmaskError("cannot open \(path): \(Files.errnoText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw UnmaskError("cannot stat \(path): \(Files.errnoText())") }
        fileSize = Int(st.st_size)
        guard fileSize >= 8 else { throw UnmaskError("\(path): truncated (\(fileSize) bytes, no header)") }
        guard let map = mmap(nil, fileSize, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw UnmaskError("cannot map \(path): \(Files.errnoText())")
        }
        base = map
        do {
            var n: UInt64 = 0
            for i in 0..<8 { n |= UInt64(map.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(i)) }
            guard n <= UInt64(SafetensorsFile.maxHeaderBytes) else {
                throw UnmaskError("\(path): header claims \(n) bytes (limit \(SafetensorsFile.maxHeaderBytes)); not a safetensors file or corrupted")
            }
            guard Int(n) <= fileSize - 8 else {
                throw UnmaskError("\(path): truncated: header claims \(n) bytes but the file has \(fileSize - 8) after the length")
            }
            dataStart = 8 + Int(n)
            let header = UnsafeBufferPointer(start: (map + 8).assumingMemoryBound(to: UInt8.self), count: Int(n))
            let json: JSONValue
            do {
                json = try JSON.parse(buffer: header)
            } catch let e as JSONParseError {
                throw UnmaskError("\(path): header is not valid JSON (\(e))")
            }
            (tensors, metadata) = try SafetensorsFile.parseHeader(json, dataSize: fileSize - dataStart, path: path)
        } catch {
            munmap(map, fileSize)
            throw error
        }
    }

    deinit {
        munmap(base, fileSize)
        widened.withLock { for p in $0.values { p.deallocate() } }
    }

    static func parseHeader(_ json: JSONValue, dataSize: Int, path: String) throws -> ([TensorInfo], [(key: String, value: String)]) {
        guard let pairs = json.objectPairs else { throw UnmaskError("\(path): header is not a JSON object") }
        var tensors: [TensorInfo] = []
        var metadata: [(key: String, value: String)] = []
        var seen: Set<[UInt8]> = []
        for (name, value) in pairs {
            if name == "__metadata__" {
                for (k, v) in value.objectPairs ?? [] {
                    guard let s = v.stringValue else { throw UnmaskError("\(path): __metadata__ values must be strings") }
                    metadata.append((k, s))
                }
                continue
            }
            guard seen.insert(Array(name.utf8)).inserted else { throw UnmaskError("\(path): tensor \(name) appears twice") }
            guard let dtype = value["dtype"]?.stringValue,
                  let shapeValues = value["shape"]?.arrayValue,
                  let offsets = value["data_offsets"]?.arrayValue, offsets.count == 2,
                  let begin = offsets[0].intValue, let end = offsets[1].intValue else {
                throw UnmaskError("\(path): tensor \(name) lacks dtype, shape or data_offsets")
            }
            var shape: [Int] = []
            var count = 1
            for s in shapeValues {
                guard let d = s.intValue, d >= 0, d <= 1 << 40 else { throw UnmaskError("\(path): tensor \(name) has an invalid shape") }
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, product <= 1 << 40 else { throw UnmaskError("\(path): tensor \(name) is impossibly large") }
                count = product
                shape.append(d)
            }
            guard let width = dtypeWidth(dtype) else { throw UnmaskError("\(path): tensor \(name) has unsupported dtype \(dtype)") }
            guard begin >= 0, end >= begin, end <= dataSize else {
                throw UnmaskError("\(path): tensor \(name) offsets [\(begin), \(end)] lie outside the \(dataSize)-byte data section (truncated file?)")
            }
            guard end - begin == count * width else {
                throw UnmaskError("\(path): tensor \(name) has \(end - begin) bytes but shape \(shape) of \(dtype) needs \(count * width)")
            }
            tensors.append(TensorInfo(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        let sorted = tensors.sorted { $0.begin < $1.begin }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.begin < a.end {
            throw UnmaskError("\(path): tensors \(a.name) and \(b.name) overlap")
        }
        return (tensors, metadata)
    }

    static func dtypeWidth(_ dtype: String) -> Int? {
        switch dtype {
        case "F32", "I32", "U32": return 4
        case "F16", "BF16", "I16", "U16": return 2
        case "F64", "I64", "U64": return 8
        case "I8", "U8", "BOOL": return 1
        default: return nil
        }
    }

    public func info(_ name: String) -> TensorInfo? {
        tensors.first { $0.name.utf8.elementsEqual(name.utf8) }
    }

    /// Pointer to a tensor's values as F32: into the mapping for F32 data, or to a copy
    /// widened from F16/BF16 on first request (after which the tensor's own pages are
    /// dropped from memory). The header writer pads to 8 bytes so F32 data is aligned; an
    /// F32 tensor from elsewhere that is not aligned is refused.
    public func float32(_ name: String, shape expected: [Int]) throws -> UnsafePointer<Float> {
        let (index, m) = try lookup(name, shape: expected)
        if let f = m.float32 { return f }
        if m.element == .f32 { throw UnmaskError("\(path): tensor \(name) is not 4-byte aligned") }
        return widened.withLock { widened in
            if let p = widened[index] { return UnsafePointer(p) }
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(m.rows * m.cols, 1))
            m.widen(rows: 0..<m.rows, cols: 0..<m.cols, into: p, ld: m.cols)
            widened[index] = p
            m.releasePages()
            return UnsafePointer(p)
        }
    }

    /// A tensor as stored, without widening: F32, F16 or BF16 inside the mapping, viewed as
    /// a matrix (its first dimension, the product of the rest; a vector is one row).
    public func stored(_ name: String, shape expected: [Int]) throws -> StoredMatrix {
        try lookup(name, shape: expected).1
    }

    private func lookup(_ name: String, shape expected: [Int]) throws -> (Int, StoredMatrix) {
        guard let index = tensors.firstIndex(where: { $0.name.utf8.elementsEqual(name.utf8) }) else {
            throw UnmaskError("\(path): missing tensor \(name)")
        }
        let t = tensors[index]
        guard t.shape == expected else {
            throw UnmaskError("\(path): tensor \(name) has shape \(t.shape), the config needs \(expected)")
        }
        let element: ElementType
        switch t.dtype {
        case "F32": element = .f32
        case "F16": element = .f16
        case "BF16": element = .bf16
        default: throw UnmaskError("\(path): tensor \(name) is \(t.dtype); model weights must be F32, F16 or BF16")
        }
        let rows = t.shape.count > 1 ? t.shape[0] : 1
        let m = StoredMatrix(base: UnsafeRawPointer(base + dataStart + t.begin), element: element, rows: rows,
                             cols: rows == 0 ? 0 : t.count / rows, mapped: true)
        return (index, m)
    }

    /// The raw bytes of the whole file (for checksums).
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: fileSize) }

    // MARK: Writing

    /// The 8-byte length and the header (padded with spaces to a multiple of 8 bytes) of a
    /// file holding `tensors` back to back, in that order, all stored as `dtype`.
    public static func header(tensors: [(name: String, shape: [Int])], metadata: [(String, String)] = [],
                              dtype: StorageType) -> (prefix: [UInt8], header: [UInt8]) {
        var header: [(key: String, value: JSONValue)] = []
        if !metadata.isEmpty {
            header.append(("__metadata__", .object(metadata.map { (key: $0.0, value: .string($0.1)) })))
        }
        var offset = 0
        for t in tensors {
            let bytes = t.shape.reduce(1, *) * dtype.width
            header.append((t.name, .object([("dtype", .string(dtype.safetensorsName)), ("shape", .array(t.shape.map { .int($0) })),
                                            ("data_offsets", .array([.int(offset), .int(offset + bytes)]))])))
            offset += bytes
        }
        var headerBytes = Array(JSONValue.object(header).serialized().utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var prefix = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { prefix[i] = UInt8(truncatingIfNeeded: UInt64(headerBytes.count) >> (8 * UInt64(i))) }
        return (prefix, headerBytes)
    }

    /// Writes tensors (in the order given) atomically, as F32 or rounded to F16/BF16
    /// (round to nearest even; values beyond the F16 range are an error, not an infinity).
    public static func write(path: String, tensors: [(name: String, shape: [Int], data: UnsafeBufferPointer<Float>)],
                             metadata: [(String, String)] = [], dtype: StorageType = .f32) throws {
        for t in tensors where t.shape.reduce(1, *) != t.data.count {
            throw UnmaskError("tensor \(t.name): shape \(t.shape) does not match \(t.data.count) values")
        }
        let (prefix, headerBytes) = header(tensors: tensors.map { ($0.name, $0.shape) }, metadata: metadata, dtype: dtype)
        // Float bits are written as they are in memory: little-endian on every platform we build for.
        var narrowed: [[UInt16]] = []
        if dtype != .f32 {
            for t in tensors {
                var out = [UInt16](repeating: 0, count: t.data.count)
                for i in 0..<t.data.count {
                    guard let h = dtype == .f16 ? HalfPrecision.f16(t.data[i]) : HalfPrecision.bf16(t.data[i]) else {
                        throw UnmaskError("tensor \(t.name): value \(t.data[i]) at index \(i) does not fit in \(dtype.safetensorsName)")
                    }
                    out[i] = h
                }
                narrowed.append(out)
            }
        }
        try prefix.withUnsafeBytes { p in
            try headerBytes.withUnsafeBytes { h in
                if dtype == .f32 {
                    try Files.writeAtomically(chunks: [p, h] + tensors.map { UnsafeRawBufferPointer($0.data) }, to: path)
                } else {
                    try withRawBuffers(narrowed) { try Files.writeAtomically(chunks: [p, h] + $0, to: path) }
                }
            }
        }
    }
}

/// How a tensor is stored in a safetensors file we write.
public enum StorageType: String, CaseIterable, Sendable {
    case f32, f16, bf16
    public var width: Int { self == .f32 ? 4 : 2 }
    public var safetensorsName: String { rawValue.uppercased() }
}

/// Calls `body` with raw views of several arrays at once.
private func withRawBuffers<R>(_ arrays: [[UInt16]], _ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
    func nest(_ i: Int, _ acc: [UnsafeRawBufferPointer]) throws -> R {
        if i == arrays.count { return try body(acc) }
        return try arrays[i].withUnsafeBytes { try nest(i + 1, acc + [$0]) }
    }
    return try nest(0, [])
}
