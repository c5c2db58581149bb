import ArgumentParser
import Unmask

/// What `generate` and `compare` take to steer: the method, the reward, the class.
struct SteeringOptions: ParsableArguments {
    @Option(name: .customLong("class"), help: "Class to steer to: cbg's class, and the classifier reward's default (e.g. emma).")
    var className: String?
    @Option(help: "Classifier directory (default: the bundled models/classifier).") var classifier: String?
    @Option(help: "Reward for tilt, bon, smc and svdd; kinds below.") var reward: String?
    @Option(parsing: .unconditional, help: "Seconds a reward command may take per call before it is killed (default 30).")
    var rewardTimeout = 30.0

    func validate() throws {
        if !(rewardTimeout > 0 && rewardTimeout.isFinite) {
            throw ValidationError("--reward-timeout must be a positive number of seconds, got \(rewardTimeout)")
        }
    }

    /// The reward, opening the evaluator only when it is the reward.
    func makeReward(tokenizer: Tokenizer, evaluator: @escaping () throws -> ModelSet.ScoringEvaluator) throws -> Reward? {
        guard let reward else { return nil }
        return try RewardSpec.make(reward, RewardSpec.Resources(
            tokenizer: tokenizer, className: className, classifierPath: { try NaiveBayesClassifier.path(orBundled: $0 ?? classifier) },
            evaluator: {
                let e = try evaluator()
                return EvaluatorReward(evaluator: e.evaluator, endOfText: e.endOfText, tokenizer: tokenizer, evaluatorTokenizer: e.ownTokenizer)
            }, timeout: rewardTimeout))
    }

    /// The classifier and class index for cbg (and the class columns of compare).
    func classTarget(tokenizer: Tokenizer) throws -> (classifier: NaiveBayesClassifier, index: Int)? {
        guard let className else { return nil }
        let model = try NaiveBayesClassifier.load(try NaiveBayesClassifier.path(orBundled: classifier), vocabSize: tokenizer.vocabSize)
        return (model, try model.classIndex(className))
    }

    /// The engine for one steering spec, on the draw options of a first-hitting sampler spec.
    func engine(_ text: String, sampler: SamplerSpec, reward: Reward?, tokenizer: Tokenizer) throws -> SteeringEngine {
        let spec = try SteeringSpec.parse(text)
        try SteeringEngine.checkSampler(sampler)
        let target = spec.needsClassifier ? try classTarget(tokenizer: tokenizer) : nil
        if spec.needsClassifier && target == nil { throw UnmaskError("steering cbg needs --class NAME (a class of the classifier)") }
        return try SteeringEngine(spec: spec, draw: sampler.draw, reward: reward, classifier: target?.classifier,
                                  classIndex: target?.index ?? 0)
    }

    /// The denoiser to sample: with `--class` and a label-conditional model, the model given
    /// that class, and (for cfg) the same model with the null label as the unconditional
    /// branch; without `--class`, a label-conditional model with its null label (it was
    /// never trained without a label token). Without labels, `--class` names the
    /// classifier's class and needs --steer.
    static func labeled(_ set: ModelSet, className: String?, steering: Bool) throws -> (Denoiser, unconditional: Denoiser?) {
        let base = set.denoiser!
        guard let className else {
            if let labels = set.denoiserLabels { return (try LabeledDenoiser(base: base, label: labels.nullId), nil) }
            return (base, nil)
        }
        guard let labels = set.denoiserLabels else {
            if steering { return (base, nil) }
            throw UnmaskError("--class \(className): this denoiser has no labels (labels.json); give a label-conditional --model, or a --steer method that uses the classifier")
        }
        return (try LabeledDenoiser(base: base, label: labels.id(of: className)),
                try LabeledDenoiser(base: base, label: labels.nullId))
    }

    /// cfg with `--class` guides by a label: the denoiser must have labels (else it would
    /// silently guide by the prompt instead).
    static func checkLabelGuidance(_ spec: SteeringSpec, className: String?, set: ModelSet) throws {
        if spec.method == .cfg, let className, set.denoiserLabels == nil {
            throw UnmaskError("cfg --class \(className) guides by a label, but this denoiser has none (no labels.json): give a label-conditional --model such as models/denoiser-labels, or drop --class to guide by the prompt")
        }
    }

    static let help = SteeringSpec.helpText + "\n\n" + RewardSpec.helpText
}
