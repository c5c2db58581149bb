import Unmask

/// A denoiser of your own: the exact conditionals of a toy "language" whose sequences
/// count upwards (token i+1 follows token i, modulo 5). A struct is fine.
struct CountingDenoiser: Denoiser {
    let vocabSize = 6          // tokens 0...4, and the mask
    let maskId = 5
    let maxLength = 12

    func logits(sequences: [[Int]], positions: [[Int]]) throws -> [Float] {
        var rows: [Float] = []
        for (sequence, wanted) in zip(sequences, positions) {
            // Any unmasked token fixes the whole sequence: token at i = (anchor + i − j) mod 5.
            let anchor = sequence.indices.first { sequence[$0] != maskId }
            for i in wanted {
                var row = [Float](repeating: -.infinity, count: vocabSize)
                if let j = anchor {
                    row[(sequence[j] + i - j + 5 * maxLength) % 5] = 0
                } else {
                    for v in 0..<5 { row[v] = 0 }  // nothing known yet: uniform
                }
                rows += row
            }
        }
        return rows
    }
}

/// A planner of your own: always the leftmost masked position (left-to-right decoding).
struct LeftToRightPlanner: Planner {
    var needsDenoiserEverywhere: Bool { false }
    func choose(masked: [Int], logProbabilities: [[Double]]?, count: Int, rng: inout Philox) -> [Int] {
        Array(masked.prefix(count))
    }
}

let denoiser = CountingDenoiser()
let canvas = [Int](repeating: denoiser.maskId, count: 12)
let sampler = try DiffusionSampler(planner: LeftToRightPlanner())
let result = try sampler.sample(canvases: [canvas, canvas], denoiser: denoiser, seed: 42)
for sequence in result.sequences {
    print(sequence.map(String.init).joined(separator: " "))
}
// The built-in samplers run on it too: the first-hitting sampler, by spec string.
let fhs = try DiffusionSampler("fhs").sample(canvases: [canvas], denoiser: denoiser, seed: 7)
print(fhs.sequences[0].map(String.init).joined(separator: " "), "(fhs, \(fhs.nfe[0]) calls)")

// The bundled model, from the repository this example sits in (three folders up).
let repository = String("\(#filePath)".split(separator: "/", omittingEmptySubsequences: false).dropLast(4)
    .joined(separator: "/"))
let tokenizer = try Tokenizer.load(path: repository + "/vocab/tokenizer.json")
let model = try Transformer.load(directory: repository + "/models/denoiser")
let transformer = try TransformerDenoiser(model: model)
let prompt = tokenizer.encode("It is a truth")
let text = prompt + [Int](repeating: transformer.maskId, count: 24)
let generated = try DiffusionSampler("fhs:temperature=0.9").sample(canvases: [text], denoiser: transformer, seed: 42)
print(try tokenizer.decodeText(generated.sequences[0]))
