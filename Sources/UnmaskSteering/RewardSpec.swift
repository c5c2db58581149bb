import UnmaskSupport
import UnmaskTokenizer
import UnmaskEvaluation

/// The evaluator's log-likelihood of the generated text, r(x) = log p_eval(x) in nats
/// (after an end-of-text, as generative perplexity scores it), so e^{λr} = p_eval(x)^λ.
/// An evaluator with a tokenizer of its own (a Hugging Face GPT-2) scores the decoded text.
public struct EvaluatorReward: Reward {
    public let evaluator: CausalEvaluator
    public let endOfText: Int
    public let tokenizer: Tokenizer
    public let recipe: RetokenizedRecipe?
    public var name: String { "evaluator" }

    public init(evaluator: CausalEvaluator, endOfText: Int, tokenizer: Tokenizer, evaluatorTokenizer: Tokenizer?) {
        self.evaluator = evaluator
        self.endOfText = endOfText
        self.tokenizer = tokenizer
        recipe = evaluatorTokenizer.map { RetokenizedRecipe(evaluator: evaluator, tokenizer: $0) }
    }

    public func scores(sequences: [[Int]], generated: [Int]) throws -> [Double] {
        try sequences.map { x in
            let ids = generated.map { x[$0] }
            if let recipe { return -(try recipe.score(try tokenizer.decodeText(ids)).nats) }
            return -(try Evaluation.causalNLL(evaluator: evaluator, tokens: [endOfText] + ids).nats)
        }
    }
}

/// A reward as a user names it (`--reward`):
///
/// | spec                                        | r(x)                                             |
/// |---------------------------------------------|--------------------------------------------------|
/// | `classifier[:class=C][:model=DIR][:kind=K]` | log p(C \| x) (kind=posterior), or the additive log-likelihood ratio (kind=ratio) |
/// | `words[:include=W,W*2…][:exclude=W,…]`      | Σ weights of included words; excluded words forbidden (−∞) |
/// | `evaluator`                                 | log p_eval(x), nats                              |
/// | `command:PROGRAM ARGS…`                     | your program's {"reward": r} per JSONL line       |
public enum RewardSpec {
    public static let helpText = """
    A reward is one of:
      classifier[:class=NAME][:model=DIR][:kind=posterior|ratio]
                  the which-novel classifier (models/classifier): log p(class | x), or with
                  kind=ratio its additive log-likelihood ratio (what tilt needs)
      words[:include=W,W*2,...][:exclude=W,...]
                  +weight per included word (default 1), excluded words forbidden
      evaluator   the evaluator's log-likelihood of the text, in nats
      command:PROGRAM ARGS...
                  your program: JSONL {"text","ids"} in, one {"reward": r} per line out
                  (killed after --reward-timeout seconds)
    """

    /// Resources a reward may need, opened only when it does.
    public struct Resources {
        public var tokenizer: Tokenizer
        /// The class named by `--class`, when the spec names none.
        public var className: String?
        /// The classifier directory (DIR of model=, or nil for the bundled one) to a path.
        public var classifierPath: (String?) throws -> String
        public var evaluator: () throws -> EvaluatorReward
        public var timeout: Double

        public init(tokenizer: Tokenizer, className: String?, classifierPath: @escaping (String?) throws -> String,
                    evaluator: @escaping () throws -> EvaluatorReward, timeout: Double) {
            self.tokenizer = tokenizer
            self.className = className
            self.classifierPath = classifierPath
            self.evaluator = evaluator
            self.timeout = timeout
        }
    }

    public static func make(_ text: String, _ resources: Resources) throws -> Reward {
        if text.hasPrefix("command:") {
            let words = text.dropFirst("command:".count).split(separator: " ").map(String.init)
            return try ExternalCommandReward(command: words, timeout: resources.timeout, tokenizer: resources.tokenizer)
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let name = parts[0]
        var keys: [String: String] = [:]
        let allowed: [String]
        switch name {
        case "classifier": allowed = ["class", "model", "kind"]
        case "words": allowed = ["include", "exclude"]
        case "evaluator": allowed = []
        default: throw UnmaskError("unknown reward \"\(name)\" (known: classifier, words, evaluator, command:PROGRAM)")
        }
        for part in parts.dropFirst() {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, !kv[0].isEmpty else { throw UnmaskError("reward \(name): \"\(part)\" is not key=value") }
            guard allowed.contains(kv[0]) else {
                throw UnmaskError("reward \(name) has no key \"\(kv[0])\"" + (allowed.isEmpty ? "" : " (keys: \(allowed.joined(separator: ", ")))"))
            }
            guard keys[kv[0]] == nil else { throw UnmaskError("reward \(name): key \(kv[0]) given twice") }
            keys[kv[0]] = kv[1]
        }
        switch name {
        case "classifier":
            let classifier = try NaiveBayesClassifier.load(try resources.classifierPath(keys["model"]))
            guard let className = keys["class"] ?? resources.className else {
                throw SettingError(.className, "reward classifier needs a class: classifier:class=NAME or ⟨class⟩ NAME (classes: \(classifier.classes.joined(separator: ", ")))")
            }
            guard let kind = ClassifierReward.Kind(rawValue: keys["kind"] ?? "posterior") else {
                throw UnmaskError("reward classifier: kind must be posterior or ratio, got \(keys["kind"]!)")
            }
            guard classifier.vocabSize == resources.tokenizer.vocabSize else {
                throw UnmaskError("the classifier counts \(classifier.vocabSize) token ids, but the tokenizer has \(resources.tokenizer.vocabSize): it was trained on another vocabulary")
            }
            return try ClassifierReward(classifier: classifier, className: className, kind: kind)
        case "words":
            func list(_ key: String) -> [String] {
                (keys[key] ?? "").split(separator: ",", omittingEmptySubsequences: true).map(String.init)
            }
            let include = try list("include").map { item -> (word: String, weight: Double) in
                let pieces = item.split(separator: "*", maxSplits: 1).map(String.init)
                guard pieces.count == 2 else { return (item, 1) }
                guard let w = Double(pieces[1]), w.isFinite else {
                    throw UnmaskError("reward words: the weight in \"\(item)\" is not a finite number")
                }
                return (pieces[0], w)
            }
            let exclude = list("exclude")
            guard !include.isEmpty || !exclude.isEmpty else { throw UnmaskError("reward words needs include=... or exclude=...") }
            return try WordListReward.make(include: include, exclude: exclude, tokenizer: resources.tokenizer)
        default:
            return try resources.evaluator()
        }
    }
}
