import FuzzSupport
import Unmask

/// A JSONL file of samples (`unmask eval FILE`), through the line reader: an error that
/// names the file on one line, or samples of in-vocabulary ids.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSampleFile(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = Fuzz.write(Fuzz.bytes(data, size), to: "samples.jsonl")
    let tokenizer = Fuzz.bundledTokenizer
    do {
        try SampleFile.forEach(path, tokenizer: tokenizer, empty: { _ in }) { ids in
            guard ids.allSatisfy({ $0 >= 0 && $0 < tokenizer.vocabSize }) else { Fuzz.fail("a sample id outside the vocabulary") }
        }
    } catch {
        let text = "\(error)"
        guard text.contains(path), !text.contains("\n") else { Fuzz.fail("error does not name the file on one line: \(text)") }
    }
    return 0
}
