#if canImport(Glibc)
import Glibc
#endif
import UnmaskDiffusion
import UnmaskModel
import UnmaskTokenizer
import UnmaskSupport

/// Generative perplexity the way the MDLM, BD3-LM, DUO and ReMDM papers take it under
/// GPT-2, written out so that a number from here can stand next to theirs:
///
///  1. each sample is decoded to text and encoded again by the evaluator's tokenizer (a
///     `<|endoftext|>` in the text is the end-of-text token; no BOS is added, as GPT-2's
///     tokenizer adds none);
///  2. the tokens are cut after the first end of text (it is counted; what follows is not);
///  3. they are scored in consecutive chunks of the evaluator's context; the first token of
///     each chunk has no context and is not scored;
///  4. the corpus-level figure is exp(Σ NLL / Σ tokens scored), summed in float64.
///
/// Where the papers' scripts differ: MDLM's `compute_generative_perplexity` (and DUO's,
/// which keeps it) tokenizes the batch with padding, then counts every token that is not
/// end of text plus each chunk's first end of text, so text after an end of text still
/// counts there (step 2 here stops at it, as the engine issue asks); its padding is end of
/// text and is not counted, as here. Samples without an end of text score the same. Both
/// score chunks without overlap, as step 3.
public struct RetokenizedRecipe {
    public let evaluator: CausalEvaluator
    public let tokenizer: Tokenizer

    public init(evaluator: CausalEvaluator, tokenizer: Tokenizer) {
        self.evaluator = evaluator
        self.tokenizer = tokenizer
    }

    /// (Σ NLL in nats, tokens scored) of one sample's text.
    public func score(_ text: String) throws -> (nats: Double, tokens: Int) {
        var ids = try tokenizer.encode(utf8: Array(text.utf8), allowSpecial: true)
        if let end = ids.firstIndex(of: tokenizer.endOfTextId) { ids = Array(ids[...end]) }
        let L = evaluator.maxLength, V = evaluator.vocabSize
        var nats = 0.0, count = 0
        var start = 0
        while start < ids.count {
            let chunk = Array(ids[start..<min(ids.count, start + L)])
            start += L
            guard chunk.count >= 2 else { continue }
            let logits = try evaluator.logits(window: chunk, positions: nil)
            for i in 1..<chunk.count {
                nats += Evaluation.nll(logits, row: i - 1, vocab: V, target: chunk[i], excluded: evaluator.excludedToken)
                count += 1
            }
        }
        return (nats, count)
    }
}
