import UnmaskDiffusion
import UnmaskSupport
import UnmaskTokenizer

/// Samples in JSONL, one object per line with "ids" (token ids) or "text" (encoded with
/// the tokenizer), as `unmask generate --json` writes them. Read one line at a time, each
/// at most `LineReader.defaultMaxLineBytes`, so a file may hold any number of samples.
public enum SampleFile {
    /// Calls `sample` with each non-empty sample in file order. An empty sample (`"ids":[]`,
    /// or text that encodes to nothing) is not scored: `empty` gets its line number instead.
    /// Blank lines are skipped. Errors name the file and line.
    public static func forEach(_ path: String, tokenizer: Tokenizer, empty: (Int) -> Void,
                               _ sample: ([Int]) throws -> Void) throws {
        let reader = try LineReader(path: path)
        while let line = try reader.next() {
            let n = reader.lineNumber
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            guard let value = try? JSON.parse(line), value.objectPairs != nil else {
                throw UnmaskError("\(path): line \(n) is not a JSON object")
            }
            var ids: [Int] = []
            if let array = value["ids"]?.arrayValue {
                for v in array {
                    guard let id = v.intValue, id >= 0, id < tokenizer.vocabSize, !tokenizer.isSpecialToken(id) else {
                        throw UnmaskError("\(path): line \(n) has an id outside the vocabulary (\(v.serialized()))")
                    }
                    ids.append(id)
                }
            } else if let text = value["text"]?.stringValue {
                ids = tokenizer.encode(text)
            } else {
                throw UnmaskError("\(path): line \(n) has neither \"ids\" nor \"text\"")
            }
            if ids.isEmpty { empty(n) } else { try sample(ids) }
        }
    }
}

extension Evaluation {
    /// What `unmask eval --text` reports on one text: the denoiser's ELBO and the
    /// evaluator's NLL, per token and per byte of the file.
    public struct HeldOutResult: Sendable {
        public var tokens: Int, bytes: Int
        public var elbo: (natsPerToken: Double, standardError: Double, tokens: Int)?
        public var evaluator: (nats: Double, tokens: Int)?
        /// With a paired denoiser: its ELBO on the same masks, and the difference (paired −
        /// denoiser) with the standard error of that difference.
        public var pairedELBO: (natsPerToken: Double, difference: Double, differenceStandardError: Double)?

        public var elboNatsPerByte: Double? { elbo.map { $0.natsPerToken * Double($0.tokens) / Double(bytes) } }
        public var evaluatorNatsPerToken: Double? { evaluator.map { $0.nats / Double($0.tokens) } }
        public var evaluatorNatsPerByte: Double? { evaluator.map { $0.nats / Double(bytes) } }
    }

    /// Reads a text file through `TextPipeline` and measures it under the models given.
    /// `progress(stage, done, total)`: stage 0 is the denoiser pass, 1 the evaluator's.
    /// `evaluatorTokenizer`: the evaluator's own tokenizer when it has one (a Hugging Face
    /// GPT-2); the file is then tokenized again, by it, for the evaluator's pass.
    public static func heldOut(file path: String, tokenizer: Tokenizer, denoiser: Denoiser?, evaluator: CausalEvaluator?,
                               evaluatorTokenizer: Tokenizer? = nil, lastFraction: Int? = nil, pairedDenoiser: Denoiser? = nil,
                               masks: Int, seed: UInt64, progress: ((Int, Int, Int) -> Void)? = nil) throws -> HeldOutResult {
        guard denoiser != nil || evaluator != nil else { throw UnmaskError("no denoiser or evaluator to measure with") }
        var (tokens, bytes) = try TextPipeline.tokens(ofFile: path, tokenizer: tokenizer)
        // Only the file's last 1/n tokens (the split training holds out of each corpus file);
        // its bytes are those the tokens decode to.
        if let n = lastFraction {
            guard n >= 2, evaluatorTokenizer == nil else { throw UnmaskError("a held-out split needs n >= 2 and the denoiser's tokenizer") }
            tokens = Array(tokens.suffix(tokens.count / n))
            bytes = try tokenizer.decode(tokens).count
        }
        guard tokens.count >= 2 else { throw UnmaskError("\(path) is too short to evaluate") }
        var result = HeldOutResult(tokens: tokens.count, bytes: bytes)
        if let denoiser, let paired = pairedDenoiser {
            // Both on the same masks: the first's estimate is exactly what it alone gives.
            let p = try pairedDenoiserELBO(denoiser, paired, tokens: tokens, draws: masks, seed: seed) { progress?(0, $0, $1) }
            result.elbo = p.a
            result.pairedELBO = (p.b.natsPerToken, p.difference, p.differenceStandardError)
        } else if let denoiser {
            result.elbo = try denoiserELBO(denoiser: denoiser, tokens: tokens, draws: masks, seed: seed) { progress?(0, $0, $1) }
        }
        if let evaluator {
            let own = try evaluatorTokenizer.map { try TextPipeline.tokens(ofFile: path, tokenizer: $0).tokens } ?? tokens
            result.evaluator = try causalNLL(evaluator: evaluator, tokens: own) { progress?(1, $0, $1) }
        }
        return result
    }
}
