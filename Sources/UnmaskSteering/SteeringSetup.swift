import UnmaskSupport
import UnmaskDiffusion

/// The checks and lookups that `generate --steer` and `unmask-serve` share, so that both
/// refuse the same samplers and find the same classifier.

extension SteeringEngine {
    /// Steering runs on the first-hitting kernel (one position revealed per step, float64
    /// draws): a sampler spec it can use has `fhs` (or `uniform`) with draw keys only.
    public static func checkSampler(_ sampler: SamplerSpec) throws {
        guard sampler.kind == .fhs || sampler.kind == .uniform, sampler.k == 1, sampler.block == nil, sampler.threshold == nil,
              sampler.remask == nil else {
            throw UnmaskError("steering runs on the first-hitting kernel: the sampler must be fhs with draw keys only (temperature, top_k, top_p, method), got \(sampler)")
        }
        guard sampler.draw.precision == .float64 else { throw UnmaskError("steering draws in float64; precision=float32 does not apply") }
    }
}

extension NaiveBayesClassifier {
    /// The classifier directory given, or else the bundled `models/classifier`. `remedy`
    /// ends the error when neither exists: what the caller's user can do about it (the
    /// CLI's flag; the server's, which has none, says the install is incomplete).
    public static func path(orBundled given: String?, remedy: String) throws -> String {
        if let given { return given }
        guard let found = Files.locateResource("models/classifier") else {
            throw UnmaskError("no classifier found: the bundled models/classifier is missing; \(remedy)")
        }
        return found
    }

    /// Loads a classifier and checks that it counts the ids of a tokenizer of `vocabSize`.
    public static func load(_ path: String, vocabSize: Int) throws -> NaiveBayesClassifier {
        let model = try load(path)
        guard model.vocabSize == vocabSize else {
            throw UnmaskError("the classifier counts \(model.vocabSize) token ids, but the tokenizer has \(vocabSize): it was trained on another vocabulary")
        }
        return model
    }
}
