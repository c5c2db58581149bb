import FuzzSupport
import Unmask

/// A safetensors file of arbitrary bytes, through the mapped-file path the models load
/// by: an error or a table whose every tensor lies inside the file with the byte size of
/// its dtype and shape; each tensor is then read whole (a bounds mistake faults here).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = Fuzz.write(Fuzz.bytes(data, size), to: "model.safetensors")
    guard let file = try? SafetensorsFile(path: path) else { return 0 }
    let sizes = ["F32": 4, "F16": 2, "BF16": 2]
    for t in file.tensors {
        guard t.begin >= 0, t.begin <= t.end, t.end <= file.fileSize else {
            Fuzz.fail("tensor \(t.name) at [\(t.begin), \(t.end)) outside a \(file.fileSize)-byte file")
        }
        if let width = sizes[t.dtype], t.end - t.begin != t.count * width {
            Fuzz.fail("tensor \(t.name): \(t.end - t.begin) bytes for \(t.count) \(t.dtype) values")
        }
        guard let values = try? file.float32(t.name, shape: t.shape) else { continue }
        var sum: Float = 0
        for i in 0..<t.count { sum += values[i] }
        _ = sum
    }
    return 0
}
