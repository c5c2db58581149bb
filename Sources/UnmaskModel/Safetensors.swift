#if canImport(Glibc)
import Glibc
#endif
import UnmaskSupport

// safetensors: an 8-byte little-endian header length N, N bytes of JSON header
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {..}}
// then the raw little-endian tensor bytes; offsets are relative to the end of the header.
//
// Reading maps the file (mmap, read-only) and hands out pointers into the mapping: F32
// weights are never copied. F16 and BF16 tensors (the bundled models are stored in F16 to
// halve the repository) are widened to F32 once, when the file is opened, into buffers the
// file owns; the model packs its weights at load anyway, so this costs one pass. Everything in the header is checked before any pointer is
// made, so a truncated or hostile file is an error, never a trap or a huge allocation:
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
    /// F32 copies of the F16/BF16 tensors, by tensor index (immutable after init).
    private let widened: [Int: UnsafeMutablePointer<Float>]

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
            var widened: [Int: UnsafeMutablePointer<Float>] = [:]
            for (index, t) in tensors.enumerated() where t.dtype == "F16" || t.dtype == "BF16" {
                let p = UnsafeMutablePointer<Float>.allocate(capacity: max(t.count, 1))
                let raw = UnsafeRawPointer(map + dataStart + t.begin)
                for i in 0..<t.count {
                    // Byte loads: a 2-byte tensor may start at any offset.
                    let bits = UInt16(raw.load(fromByteOffset: 2 * i, as: UInt8.self))
                        | UInt16(raw.load(fromByteOffset: 2 * i + 1, as: UInt8.self)) << 8
                    p[i] = t.dtype == "F16" ? HalfPrecision.float(fromF16: bits) : HalfPrecision.float(fromBF16: bits)
                }
                widened[index] = p
            }
            self.widened = widened
            // The widened tensors no longer need their F16/BF16 pages: drop them from
            // memory (a read-only private file mapping re-reads any page touched again, so
            // this is safe for F32 data too). It takes the file's size off generate's
            // peak memory.
            if !widened.isEmpty { _ = madvise(map, fileSize, MADV_DONTNEED) }
        } catch {
            munmap(map, fileSize)
            throw error
        }
    }

    deinit {
        munmap(base, fileSize)
        for p in widened.values { p.deallocate() }
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

    /// Pointer to a tensor's values as F32: into the mapping for F32 data, or to a widened
    /// copy for F16/BF16. The header writer pads to 8 bytes so F32 data is aligned; an F32
    /// tensor from elsewhere that is not aligned is refused.
    public func float32(_ name: String, shape expected: [Int]) throws -> UnsafePointer<Float> {
        guard let index = tensors.firstIndex(where: { $0.name.utf8.elementsEqual(name.utf8) }) else {
            throw UnmaskError("\(path): missing tensor \(name)")
        }
        let t = tensors[index]
        guard t.shape == expected else {
            throw UnmaskError("\(path): tensor \(name) has shape \(t.shape), the config needs \(expected)")
        }
        let offset = dataStart + t.begin
        switch t.dtype {
        case "F32":
            guard offset % 4 == 0 else { throw UnmaskError("\(path): tensor \(name) is not 4-byte aligned") }
            return UnsafePointer((base + offset).assumingMemoryBound(to: Float.self))
        case "F16", "BF16":
            return UnsafePointer(widened[index]!)
        default:
            throw UnmaskError("\(path): tensor \(name) is \(t.dtype); model weights must be F32, F16 or BF16")
        }
    }

    /// The raw bytes of the whole file (for checksums).
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: fileSize) }

    // MARK: Writing

    /// Writes tensors (in the order given) atomically, as F32 or rounded to F16/BF16
    /// (round to nearest even; values beyond the F16 range are an error, not an infinity).
    public static func write(path: String, tensors: [(name: String, shape: [Int], data: UnsafeBufferPointer<Float>)],
                             metadata: [(String, String)] = [], dtype: StorageType = .f32) throws {
        var header: [(key: String, value: JSONValue)] = []
        if !metadata.isEmpty {
            header.append(("__metadata__", .object(metadata.map { (key: $0.0, value: .string($0.1)) })))
        }
        var offset = 0
        for t in tensors {
            guard t.shape.reduce(1, *) == t.data.count else {
                throw UnmaskError("tensor \(t.name): shape \(t.shape) does not match \(t.data.count) values")
            }
            let bytes = t.data.count * dtype.width
            header.append((t.name, .object([("dtype", .string(dtype.safetensorsName)), ("shape", .array(t.shape.map { .int($0) })),
                                            ("data_offsets", .array([.int(offset), .int(offset + bytes)]))])))
            offset += bytes
        }
        var headerBytes = Array(JSONValue.object(header).serialized().utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var prefix = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { prefix[i] = UInt8(truncatingIfNeeded: UInt64(headerBytes.count) >> (8 * UInt64(i))) }
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
    var width: Int { self == .f32 ? 4 : 2 }
    var safetensorsName: String { rawValue.uppercased() }
}

/// Binary16 and bfloat16 conversions, written out so that they do not depend on the
/// platform's Float16 support. F16: 1 sign, 5 exponent (bias 15), 10 fraction bits;
/// BF16: the top half of a Float.
public enum HalfPrecision {
    public static func float(fromF16 h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F), fraction = UInt32(h & 0x3FF)
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | fraction << 13) }  // inf, nan
        if exponent == 0 {  // zero or subnormal: fraction · 2^-24, exact in Float
            let magnitude = Float(fraction) * 0x1p-24
            return sign != 0 ? -magnitude : magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | fraction << 13)
    }

    public static func float(fromBF16 h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// Nearest F16 (ties to even), or nil for a non-finite value or one that rounds past 65504.
    public static func f16(_ x: Float) -> UInt16? {
        guard x.isFinite else { return nil }
        let bits = x.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let a = abs(x)
        if a < 0x1p-14 {  // F16 subnormal range: a multiple of 2^-24, rounded to nearest even
            let q = (a * 0x1p24).rounded(.toNearestOrEven)  // exact scaling by a power of two
            return sign | UInt16(q)  // q = 1024 becomes the smallest normal, as it should
        }
        let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
        var mantissa = (bits & 0x7F_FFFF) | 0x80_0000  // 24 bits with the implicit one
        // Keep 11 bits: round the 13 dropped bits to nearest, ties to even.
        let dropped = mantissa & 0x1FFF, half: UInt32 = 0x1000
        mantissa >>= 13
        if dropped > half || (dropped == half && mantissa & 1 == 1) { mantissa += 1 }
        var e = exponent
        if mantissa == 0x800 { mantissa >>= 1; e += 1 }
        guard e < 0x1F else { return nil }
        return sign | UInt16(e) << 10 | UInt16(mantissa & 0x3FF)
    }

    /// Nearest BF16 (ties to even), or nil for a non-finite value or one that rounds to infinity.
    public static func bf16(_ x: Float) -> UInt16? {
        guard x.isFinite else { return nil }
        let bits = x.bitPattern
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        let h = UInt16(rounded >> 16)
        return (h & 0x7F80) == 0x7F80 ? nil : h
    }
}

/// Calls `body` with raw views of several arrays at once.
private func withRawBuffers<R>(_ arrays: [[UInt16]], _ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
    func nest(_ i: Int, _ acc: [UnsafeRawBufferPointer]) throws -> R {
        if i == arrays.count { return try body(acc) }
        return try arrays[i].withUnsafeBytes { try nest(i + 1, acc + [$0]) }
    }
    return try nest(0, [])
}
