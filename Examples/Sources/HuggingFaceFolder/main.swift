import Foundation
import Unmask

// A Hugging Face denoiser folder opened from Swift the way `unmask generate --model DIR`
// opens it: `ModelSet.open` pairs the weights with the folder's tokenizer.json (the mask at
// the id its config names, or appended for MDLM) and checks that they belong together.
// By default the tiny LLaDA the tests use, from the repository this example sits in (three
// folders up); any folder given as the first argument instead.
let repository = String("\(#filePath)".split(separator: "/", omittingEmptySubsequences: false).dropLast(4)
    .joined(separator: "/"))
let folder = CommandLine.arguments.count > 1 ? CommandLine.arguments[1]
    : repository + "/Tests/UnmaskModelTests/Fixtures/hf/llada-tiny"

do {
    let set = try ModelSet.open(ModelSet.Sources(denoiser: folder), denoiser: .required)
    let tokenizer = set.tokenizer.tokenizer
    let denoiser = set.denoiser!
    print("\(folder): \(denoiser.model.config.parameterCount) parameters; \(set.tokenizer.name): \(tokenizer.vocabSize) ids, mask \(tokenizer.maskId)")

    // A prompt and eight masked positions, filled by the first-hitting sampler.
    let canvas = try GenerationCanvas.prompt("It is a truth", length: 8, tokenizer: tokenizer)
    let prompt = canvas.prefix { $0 != tokenizer.maskId }.count
    try Generation.run(sampler: DiffusionSampler("fhs"), denoiser: denoiser, canvas: canvas, count: 2, batch: 2, seed: 1) { i, ids, nfe, _ in
        let generated = ids[prompt...].map { String(decoding: tokenizer.tokenBytes[$0], as: UTF8.self) }
        print("sample \(i + 1) (\(nfe) denoiser calls): generated ids \(Array(ids[prompt...])), tokens \(generated)")
        print("  " + (try tokenizer.decodeText(ids)))
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
