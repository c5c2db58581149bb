import FuzzSupport
import Unmask

/// Sampler specs and infilling templates as typed on a command line. A spec that parses
/// prints (description) to a spec that parses to the same value; a template gives an
/// error or a canvas of in-vocabulary ids no longer than the limit.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSpecs(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: Fuzz.bytes(data, size), as: UTF8.self)
    if let spec = try? SamplerSpec.parse(text) {
        guard let again = try? SamplerSpec.parse(spec.description) else { Fuzz.fail("\(spec) does not parse back") }
        guard again == spec else { Fuzz.fail("\(text) -> \(spec) -> \(again)") }
    }
    let tokenizer = Fuzz.bundledTokenizer
    if let canvas = try? GenerationCanvas.template(text, tokenizer: tokenizer) {
        guard canvas.count <= GenerationCanvas.maxTokens, canvas.allSatisfy({ $0 >= 0 && $0 < tokenizer.vocabSize }) else {
            Fuzz.fail("template gave a bad canvas")
        }
    }
    return 0
}
