import UnmaskSupport
import UnmaskTokenizer
import UnmaskModel
import UnmaskDiffusion
import UnmaskEvaluation
import UnmaskSteering

/// Everything a user sets about one generation, whichever front end takes it: `unmask
/// generate` translates its flags into this, `unmask-serve` its JSON fields, and neither
/// assembles a run itself. `prepare` turns it, with the models, into what a run needs.
///
/// Every error names a `Setting` (`SettingError`), which each front end spells: the same
/// check says `--window` on the command line and `unmask.window` on the server.
///
/// The rules written once here:
/// - the sampler: `sampler` (default `fhs:top_p=0.9`, or plain `fhs` when steering), then
///   the typed settings, each replacing the spec's key of the same name; temperature 0 is
///   greedy (top_k 1);
/// - the canvas: a template, or a prompt (text or ids) + `length` masks + a suffix;
/// - labels: a label-conditional denoiser runs under `className`'s label, else its null
///   label; without labels, a class names the classifier's class and needs steering;
/// - steering: on the first-hitting kernel, inside the context, with a reward and a
///   classifier found by `trust`'s rules;
/// - past the context: windows (`window`), or for a block-causal model its own blocks on
///   the exact cache (`cache`, `pastContext`).
public struct GenerationSettings: Sendable, Equatable {
    // MARK: The canvas

    /// Text before the generated span.
    public var prompt: String?
    /// Token ids before the generated span, instead of `prompt`.
    public var promptIds: [Int]?
    /// Whether `prompt` may hold special tokens written out (a rendered chat template).
    public var promptHasSpecialTokens = false
    /// Text after the generated span: infilling.
    public var suffix: String?
    /// An infilling template (`___` blanks), instead of prompt + length + suffix.
    public var template: String?
    /// Tokens to generate (nil: `defaultLength`).
    public var length: Int?

    // MARK: The sampler

    /// A sampler spec (`NAME[:key=value…]`); nil: the default.
    public var sampler: String?
    /// Typed keys, each replacing the spec's own.
    public var steps: Int?
    public var tokensPerCall: Int?
    public var threshold: Double?
    /// Draw overrides. Temperature 0 is greedy.
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var precision: SamplingPrecision?

    // MARK: Steering and classes

    /// A steering method (`SteeringSpec`), its reward (`RewardSpec`), and the class.
    public var steer: String?
    public var reward: String?
    public var className: String?
    /// The classifier directory (nil: the bundled `models/classifier`).
    public var classifier: String?
    /// Seconds a reward command may take per call.
    public var rewardTimeout = 30.0

    // MARK: Past the context, and caches

    /// Past the context (or whenever given): windows of this many tokens (MDLM's
    /// semi-autoregressive scheme, approximate). For a block-causal model, its block size.
    public var window: Int?
    /// Key-value caches: exact (block-causal models, their default), off, or Fast-dLLM's
    /// prefix | dual (bidirectional models with a block=K sampler; approximate).
    public var cache: KeyValueCaching?
    /// A block-causal model past its context: recompute (default) or slide.
    public var pastContext: PastContext?
    /// Whether text past the context is written in windows when `window` is not given
    /// (the command line does; the server's OpenAI routes ask for `window` explicitly).
    public var windowsPastContext = true

    /// What a run may open on the settings' word.
    public enum Trust: Sendable, Equatable {
        /// A local user: any reward (commands, the evaluator), any classifier directory.
        case local
        /// A stranger (a server's client): the classifier and words rewards only, the
        /// bundled classifier only. `remedy` ends the error when it is missing.
        case remote(remedy: String)
    }
    public var trust = Trust.local

    public init() {}

    /// The sampler a run gets when it names none: first-hitting with nucleus 0.9, the
    /// best-reading text of the bundled denoiser.
    public static let defaultSampler = "fhs:top_p=0.9"
    /// With steering: plain first-hitting, so the model itself is the p steering tilts.
    public static let defaultSteeringSampler = "fhs"
    /// Tokens generated when `length` is not given.
    public static let defaultLength = 64

    // MARK: Checks that need no model

    /// The sampler spec: `sampler` (or the default), then the typed keys and draw overrides.
    public func samplerSpec() throws -> SamplerSpec {
        var spec: SamplerSpec
        do {
            spec = try SamplerSpec.parse(sampler ?? (steer == nil ? Self.defaultSampler : Self.defaultSteeringSampler))
        } catch let e as UnmaskError { throw SettingError(.sampler, e.message) }
        try spec.override(steps: steps, tokensPerCall: tokensPerCall, threshold: threshold)
        try spec.override(temperature: temperature, topP: topP, topK: topK, precision: precision)
        return spec
    }

    /// The steering spec, nil without steering.
    public func steeringSpec() throws -> SteeringSpec? {
        guard let steer else { return nil }
        do { return try SteeringSpec.parse(steer) } catch let e as UnmaskError { throw SettingError(.steer, e.message) }
    }

    /// Everything that can be checked without the models: the specs parse, the settings
    /// agree with one another, a stranger's reward is one it may use. `prepare` runs it too.
    public func validate() throws {
        let spec = try samplerSpec()
        let steering = try steeringSpec()
        if template != nil && (prompt != nil || promptIds != nil || suffix != nil) {
            throw SettingError(.template, "give a ⟨template⟩, or a ⟨prompt⟩ (and ⟨suffix⟩), not both")
        }
        if template != nil && length != nil {
            throw SettingError(.length, "⟨length⟩ does not apply to a ⟨template⟩: its blanks set what is generated ([___ x12] is twelve tokens)")
        }
        if let length, length < 0 || length > GenerationCanvas.maxTokens {
            throw SettingError(.length, "⟨length⟩ must be in 0...\(GenerationCanvas.maxTokens), got \(length)")
        }
        if template == nil && length == 0 { throw SettingError(.length, "nothing to generate: ⟨length⟩ is 0") }
        if let window, window < 1 { throw SettingError(.window, "⟨window⟩ must be at least 1, got \(window)") }
        if reward != nil && steering == nil { throw SettingError(.reward, "a ⟨reward⟩ steers: give a ⟨steer⟩ method too") }
        try Self.checkRewardTimeout(rewardTimeout)
        if pastContext != nil && steering != nil { throw SettingError(.pastContext, "⟨past_context⟩ is for block-causal models, which are not steered") }
        if steering != nil { try checkSteeringSampler(spec) }
        if case .remote = trust, let reward {
            let kind = reward.split(separator: ":", maxSplits: 1).first.map(String.init) ?? reward
            guard kind == "classifier" || kind == "words" else {
                throw SettingError(.reward, "a server takes the classifier and words rewards only (it runs no commands and loads no evaluator), got \"\(kind)\"")
            }
            if reward.contains("model=") {
                throw SettingError(.reward, "a server steers with its bundled classifier: model= is not taken (it opens no files a request names)")
            }
        }
    }

    /// A reward command's time limit per call: a positive number of seconds.
    public static func checkRewardTimeout(_ seconds: Double) throws {
        if !(seconds > 0 && seconds.isFinite) {
            throw SettingError(.rewardTimeout, "⟨reward_timeout⟩ must be a positive number of seconds, got \(seconds)")
        }
    }

    func checkSteeringSampler(_ spec: SamplerSpec) throws {
        do { try SteeringEngine.checkSampler(spec) } catch let e as UnmaskError { throw SettingError(.sampler, e.message) }
    }

    /// What the models must include for these settings: the corruption detector for
    /// `ddpd`, the evaluator for the evaluator reward.
    public var needsCorruptionDetector: Bool { (try? samplerSpec())?.kind == .ddpd }
    public var needsEvaluator: Bool { reward == "evaluator" }

    // MARK: Preparing a run

    /// The models a run draws on: the base denoiser (for its context, layout and labels),
    /// the tokenizer, and the optional roles.
    public struct Models {
        public var tokenizer: Tokenizer
        public var denoiser: Denoiser
        public var labels: ClassLabels?
        public var corruptionDetector: CorruptionDetector?
        /// The evaluator, opened only when the evaluator reward asks for it.
        public var evaluator: (() throws -> ModelSet.ScoringEvaluator)?

        public init(tokenizer: Tokenizer, denoiser: Denoiser, labels: ClassLabels? = nil, corruptionDetector: CorruptionDetector? = nil,
                    evaluator: (() throws -> ModelSet.ScoringEvaluator)? = nil) {
            self.tokenizer = tokenizer
            self.denoiser = denoiser
            self.labels = labels
            self.corruptionDetector = corruptionDetector
            self.evaluator = evaluator
        }

        /// A model set's denoiser (required), tokenizer, labels, detector and evaluator.
        public init(_ set: ModelSet) throws {
            guard let d = set.denoiser else { throw SettingError(.model, "generating needs a denoiser (⟨model⟩)") }
            self.init(tokenizer: set.tokenizer.tokenizer, denoiser: d, labels: set.denoiserLabels,
                      corruptionDetector: set.corruptionDetector,
                      evaluator: set.evaluator.map { e in { e } })
        }
    }

    /// Checks the settings against the models and builds what a run needs.
    public func prepare(_ models: Models) throws -> PreparedGeneration {
        try validate()
        let spec = try samplerSpec()
        let steering = try steeringSpec()
        let tokenizer = models.tokenizer, denoiser = models.denoiser
        let blockCausal = Generation.blockCausalModel(denoiser) != nil
        if pastContext != nil && !blockCausal {
            throw SettingError(.pastContext, "⟨past_context⟩ is for block-causal models; a bidirectional model past its context writes in windows (⟨window⟩)")
        }
        let (label, unconditionalLabel) = try labelIds(models.labels, steered: steering != nil)
        let sampler: DiffusionSampler
        if spec.kind == .ddpd && models.corruptionDetector == nil {
            throw SettingError(.sampler, "the ddpd sampler needs DDPD's corruption detector (⟨corruption_detector⟩), which is not loaded here")
        }
        do { sampler = try DiffusionSampler(spec: spec, corruptionDetector: models.corruptionDetector) }
        catch let e as UnmaskError { throw SettingError(.sampler, e.message) }
        // A label token takes one position of the context.
        let contextLength = denoiser.maxLength - (label == nil ? 0 : 1)
        let canvas = try makeCanvas(tokenizer: tokenizer, contextLength: contextLength, steered: steering != nil)
        if let window, !(1...contextLength).contains(window) {
            throw SettingError(.window, "⟨window⟩ \(window) must be in 1...\(contextLength) (the model's context)")
        }
        let engine = steering == nil ? nil : try steeringEngine(models, reward: try makeReward(models))
        // What a run reports: the cache used, and past the context how.
        let cacheUsed = cache ?? (blockCausal ? .exact : .off)
        let pastMode: PastContext? = blockCausal && canvas.ids.count > contextLength ? (pastContext ?? .recompute) : nil
        return PreparedGeneration(settings: self, spec: spec, sampler: sampler, steering: engine, canvas: canvas.ids, span: canvas.span,
                                  promptTokens: canvas.promptTokens, label: label, unconditionalLabel: unconditionalLabel,
                                  cacheUsed: cacheUsed, pastContextUsed: pastMode)
    }

    /// The label a run is conditioned on, and (for guidance by a label) the null label: a
    /// label-conditional denoiser runs under `className`'s label, else under its null label
    /// (it was never trained without a label token). Without labels, a class names the
    /// classifier's class, which only steering uses.
    public func labelIds(_ labels: ClassLabels?, steered: Bool) throws -> (label: Int?, unconditional: Int?) {
        guard let labels else {
            if let className, !steered {
                throw SettingError(.className, "⟨class⟩ \(className): this denoiser has no labels (labels.json); give a label-conditional ⟨model⟩, or a ⟨steer⟩ method that uses the classifier")
            }
            return (nil, nil)
        }
        guard let className else { return (labels.nullId, nil) }
        do { return (try labels.id(of: className), labels.nullId) } catch let e as UnmaskError { throw SettingError(.className, e.message) }
    }

    /// `base` under the label of `labelIds`, and the null-label branch for guidance.
    public func denoisers(over base: Denoiser, labels: ClassLabels?, steered: Bool) throws -> (denoiser: Denoiser, unconditional: Denoiser?) {
        let (label, unconditional) = try labelIds(labels, steered: steered)
        return try Self.labeled(base, label: label, unconditional: unconditional)
    }

    /// `base` under `label` (itself when nil), and under `unconditional` when given.
    static func labeled(_ base: Denoiser, label: Int?, unconditional: Int?) throws -> (denoiser: Denoiser, unconditional: Denoiser?) {
        guard let label else { return (base, nil) }
        return (try LabeledDenoiser(base: base, label: label), try unconditional.map { try LabeledDenoiser(base: base, label: $0) })
    }

    /// A model set's denoiser under these settings' label (what `eval` scores).
    public func labeledDenoiser(_ set: ModelSet) throws -> Denoiser? {
        guard let base = set.denoiser else { return nil }
        return try Self.labeled(base, label: labelIds(set.denoiserLabels, steered: false).label, unconditional: nil).denoiser
    }

    /// The canvas (fixed ids and the mask at every position to generate), the span
    /// generated, and how many of its tokens were given (prompt and suffix, or a template's
    /// text up to the first blank). Steered text must fit in `contextLength`.
    public func makeCanvas(tokenizer: Tokenizer, contextLength: Int, steered: Bool) throws -> (ids: [Int], span: Range<Int>, promptTokens: Int) {
        let mask = tokenizer.maskId
        if let template {
            let ids: [Int]
            do { ids = try GenerationCanvas.template(template, tokenizer: tokenizer) }
            catch let e as UnmaskError { throw SettingError(.template, e.message) }
            try checkFits(ids.count, given: 0, contextLength: contextLength, steered: steered, setting: .template)
            let first = ids.firstIndex(of: mask) ?? ids.count
            return (ids, first..<ids.count, first)
        }
        let prompt: [Int]
        if let ids = promptIds {
            guard ids.allSatisfy({ $0 >= 0 && $0 < tokenizer.vocabSize && $0 != mask }) else {
                throw SettingError(.promptIds, "a ⟨prompt_ids⟩ token id is outside 0..<\(tokenizer.vocabSize) or is the mask id \(mask)")
            }
            prompt = ids
        } else {
            prompt = self.prompt.map { tokenizer.encode($0, allowSpecial: promptHasSpecialTokens) } ?? []
        }
        let after = suffix.map { tokenizer.encode($0) } ?? []
        let length = self.length ?? Self.defaultLength
        // Compared without adding: `length` comes from the user and may be huge.
        guard prompt.count + after.count <= GenerationCanvas.maxTokens, length <= GenerationCanvas.maxTokens - prompt.count - after.count else {
            throw SettingError(.length, "⟨prompt⟩ (\(prompt.count + after.count) tokens) + ⟨length⟩ \(length) is over the limit of \(GenerationCanvas.maxTokens) tokens",
                               code: "context_length_exceeded")
        }
        guard length >= 1 else { throw SettingError(.length, "nothing to generate: ⟨length⟩ is 0") }
        try checkFits(prompt.count + length + after.count, given: prompt.count + after.count, contextLength: contextLength,
                      steered: steered, setting: .length)
        return (prompt + [Int](repeating: mask, count: length) + after, prompt.count..<(prompt.count + length), prompt.count + after.count)
    }

    /// Steered text must fit in the context; past it, windows unless a front end asks for them explicitly.
    func checkFits(_ total: Int, given: Int, contextLength: Int, steered: Bool, setting: Setting) throws {
        guard total > contextLength else { return }
        if steered {
            throw SettingError(setting, "steering needs the text to fit in the model's context: \(total) tokens > \(contextLength) (shorten ⟨\(setting.rawValue)⟩ or the ⟨prompt⟩)",
                               code: "context_length_exceeded")
        }
        if !windowsPastContext && window == nil {
            throw SettingError(setting, "this model's context is \(contextLength) tokens; the prompt is \(given) and ⟨\(setting.rawValue)⟩ asks for \(total - given) more (set ⟨window⟩ to generate past the context, in windows)",
                               code: "context_length_exceeded")
        }
    }

    /// The classifier directory by `trust`'s rules: a local user's `classifier` (or a
    /// reward's own model=), a stranger's bundled one only.
    func classifierDirectory(_ given: String?) throws -> String {
        do {
            switch trust {
            case .local: return try NaiveBayesClassifier.path(orBundled: given ?? classifier, remedy: "give ⟨classifier⟩ DIR")
            case .remote(let remedy): return try NaiveBayesClassifier.path(orBundled: nil, remedy: remedy)
            }
        } catch let e as UnmaskError { throw SettingError(.classifier, e.message) }
    }

    /// The classifier and the index of `className` in it (cbg's target, and the class
    /// columns of a steered comparison); nil without a class.
    public func classTarget(vocabSize: Int) throws -> (classifier: NaiveBayesClassifier, index: Int)? {
        guard let className else { return nil }
        let model: NaiveBayesClassifier
        do { model = try NaiveBayesClassifier.load(try classifierDirectory(nil), vocabSize: vocabSize) }
        catch let e as UnmaskError { throw SettingError(.classifier, e.message) }
        do { return (model, try model.classIndex(className)) } catch let e as UnmaskError { throw SettingError(.className, e.message) }
    }

    /// The reward (nil without one), opening the evaluator only when it is the reward.
    public func makeReward(_ models: Models) throws -> Reward? {
        guard let reward else { return nil }
        let tokenizer = models.tokenizer, evaluator = models.evaluator
        do {
            return try RewardSpec.make(reward, RewardSpec.Resources(
                tokenizer: tokenizer, className: className, classifierPath: { try self.classifierDirectory($0) },
                evaluator: {
                    guard let evaluator else { throw UnmaskError("the evaluator reward needs an evaluator, which is not loaded here") }
                    let e = try evaluator()
                    return EvaluatorReward(evaluator: e.evaluator, endOfText: e.endOfText, tokenizer: tokenizer, evaluatorTokenizer: e.ownTokenizer)
                }, timeout: rewardTimeout))
        } catch let e as UnmaskError { throw SettingError(.reward, e.message) }
    }

    /// The steering engine of `steer` (nil without it), on the sampler spec's draw options.
    /// `classGuides`: a class with cfg guides by its label, so a denoiser without labels is
    /// refused (else the run would quietly guide by the prompt); a steered comparison passes
    /// false, where the class names the classifier's class of its columns.
    public func steeringEngine(_ models: Models, reward: Reward?, classGuides: Bool = true) throws -> SteeringEngine? {
        guard let spec = try steeringSpec() else { return nil }
        let sampler = try samplerSpec()
        try checkSteeringSampler(sampler)
        if classGuides, spec.method == .cfg, let className, models.labels == nil {
            throw SettingError(.className, "cfg with ⟨class⟩ \(className) guides by a label, but this denoiser has none (no labels.json): give a label-conditional ⟨model⟩ such as models/denoiser-labels, or drop ⟨class⟩ to guide by the prompt")
        }
        var target: (classifier: NaiveBayesClassifier, index: Int)?
        if spec.needsClassifier {
            guard className != nil else { throw SettingError(.className, "steering cbg steers to a class: give ⟨class⟩ (a class of the classifier)") }
            target = try classTarget(vocabSize: models.tokenizer.vocabSize)
        }
        do {
            return try SteeringEngine(spec: spec, draw: sampler.draw, reward: reward, classifier: target?.classifier, classIndex: target?.index ?? 0)
        } catch let e as SettingError { throw e } catch let e as UnmaskError { throw SettingError(.steer, e.message) }
    }
}

/// What a run needs, from `GenerationSettings.prepare`: the sampler, the steering engine
/// (nil without steering), the canvas, and the labels to run the denoiser under.
public struct PreparedGeneration {
    public let settings: GenerationSettings
    public let spec: SamplerSpec
    public let sampler: DiffusionSampler
    public let steering: SteeringEngine?
    /// The canvas: fixed ids and the mask at every position to generate.
    public let canvas: [Int]
    /// The positions generated after the prompt (a template's: from its first blank on).
    public let span: Range<Int>
    /// Tokens given: prompt and suffix, or a template's text before its first blank.
    public let promptTokens: Int
    /// A label-conditional denoiser's label (the class's, or null), and the null label for guidance.
    public let label: Int?
    public let unconditionalLabel: Int?
    /// The key-value cache used, and past the context how (nil inside it or for a bidirectional model).
    public let cacheUsed: KeyValueCaching
    public let pastContextUsed: PastContext?

    public var window: Int? { settings.window }
    public var cache: KeyValueCaching? { settings.cache }
    public var pastContext: PastContext { settings.pastContext ?? .recompute }

    /// The denoiser to sample, over `base` (the model itself, or a server's shared calls):
    /// under the run's label if the model has labels; and, for guidance by a label, the
    /// same model under the null label.
    public func denoisers(over base: Denoiser) throws -> (denoiser: Denoiser, unconditional: Denoiser?) {
        try GenerationSettings.labeled(base, label: label, unconditional: unconditionalLabel)
    }

    /// Bytes of the key-value caches of a batch of `batch` samples: a block-causal model's
    /// window (the canvas up to the context, in whole blocks), or a Fast-dLLM cache's whole
    /// canvas, per sample. 0 without a cache.
    public func cacheBytes(denoiser: Denoiser, batch: Int) -> Int {
        guard let t = denoiser as? TransformerDenoiser, cacheUsed != .off else { return 0 }
        let c = t.model.config, K = c.blockSize ?? 1
        let blockCausal = Generation.blockCausalModel(denoiser) != nil
        let capacity = blockCausal ? min(c.contextLength, (canvas.count + K - 1) / K * K) : canvas.count
        return KeyValueCache.bytes(config: c, slots: batch, capacity: capacity)
    }
}
