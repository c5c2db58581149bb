import FuzzSupport
import Unmask

/// The bundled tokenizer on arbitrary input: bytes round-trip exactly through
/// encodeRawBytes → decode; valid UTF-8 encodes (never traps) to ids that decode to its
/// NFC form's bytes; invalid UTF-8 is refused by encode(utf8:), never trapped on.
/// Time: libFuzzer's -timeout (scripts/ci/fuzz.sh sets 10 s) catches super-linear inputs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEncode(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let tokenizer = Fuzz.bundledTokenizer
    let bytes = Fuzz.bytes(data, size)
    let raw = tokenizer.encodeRawBytes(bytes)
    guard let back = try? tokenizer.decode(raw), back == bytes else { Fuzz.fail("raw bytes did not round-trip") }
    if let ids = try? tokenizer.encode(utf8: bytes) {
        guard let decoded = try? tokenizer.decode(ids) else { Fuzz.fail("encoded ids do not decode") }
        guard String(validating: decoded, as: UTF8.self) != nil else { Fuzz.fail("valid UTF-8 decoded to invalid UTF-8") }
        guard ids.allSatisfy({ $0 >= 0 && $0 < tokenizer.vocabSize }) else { Fuzz.fail("an id outside the vocabulary") }
    } else if String(validating: bytes, as: UTF8.self) != nil {
        Fuzz.fail("valid UTF-8 was refused")
    }
    return 0
}
