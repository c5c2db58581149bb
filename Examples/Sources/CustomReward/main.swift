import Unmask

/// A reward of your own: the number of sentences the generated text ends ("." "!" "?"),
/// a stand-in for any score of finished text. It implements `Reward`: one number per
/// sequence, from that sequence alone. It is not additive over tokens as declared (no
/// `tokenScores`), so it steers best-of-n, FK steering (smc) and SVDD, not `tilt`.
struct SentenceEnds: Reward {
    let tokenizer: Tokenizer
    var name: String { "sentence ends" }

    func scores(sequences: [[Int]], generated: [Int]) throws -> [Double] {
        try sequences.map { x in
            let text = try tokenizer.decodeText(generated.map { x[$0] })
            return Double(text.filter { ".!?".contains($0) }.count)
        }
    }
}

// The bundled model, from the repository this example sits in (three folders up).
let repository = String("\(#filePath)".split(separator: "/", omittingEmptySubsequences: false).dropLast(4)
    .joined(separator: "/"))
let tokenizer = try Tokenizer.load(path: repository + "/vocab/tokenizer.json")
let denoiser = try TransformerDenoiser(model: try Transformer.load(directory: repository + "/models/denoiser"))
let reward = SentenceEnds(tokenizer: tokenizer)
let canvas = tokenizer.encode("She said") + [Int](repeating: denoiser.maskId, count: 24)

for method in ["bon:n=1", "bon:n=4", "smc:particles=4:lambda=2:every=6"] {
    let engine = try SteeringEngine(spec: SteeringSpec.parse(method), reward: reward)
    var total = 0.0
    for i in 0..<3 {
        let s = try engine.sample(canvas: canvas, denoiser: denoiser, seed: 7, index: i)
        total += s.reward ?? 0
        if i == 0 { print("\(method) [reward \(s.reward ?? 0), nfe \(s.nfe)]: \(try tokenizer.decodeText(s.sequence))") }
    }
    print("\(method): mean reward over 3 samples \(total / 3); samples \(engine.spec.target)")
}
