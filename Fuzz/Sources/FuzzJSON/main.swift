import FuzzSupport
import Unmask

/// The JSON parser on arbitrary bytes: an error or a value, never a trap; a value prints
/// to text that parses back to the same value, and printing that again gives the same text.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.bytes(data, size)
    guard let value = try? JSON.parse(bytes) else { return 0 }
    let text = value.serialized()
    guard let again = try? JSON.parse(text) else { Fuzz.fail("printed JSON does not parse: \(text.prefix(200))") }
    // NaN cannot come out of the parser, so == is a fair round-trip check.
    guard again == value else { Fuzz.fail("round trip changed the value: \(text.prefix(200))") }
    guard again.serialized() == text else { Fuzz.fail("printing is not stable: \(text.prefix(200))") }
    return 0
}
