import FuzzSupport
import Unmask

/// tokenizer.json of arbitrary bytes: an error, or a tokenizer for which any bytes
/// survive encodeRawBytes → decode unchanged and encoding text never traps.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerFile(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.bytes(data, size)
    guard let tokenizer = try? Tokenizer.parse(json: bytes, requireMask: false) else { return 0 }
    let probe = Array(bytes.prefix(256))
    guard let back = try? tokenizer.decode(tokenizer.encodeRawBytes(probe)), back == probe else {
        Fuzz.fail("raw bytes did not round-trip through a loaded tokenizer")
    }
    _ = tokenizer.encode(String(decoding: probe, as: UTF8.self))
    return 0
}
