import UnmaskDiffusion
import UnmaskKernels
import UnmaskModel
import UnmaskSupport
import UnmaskTokenizer

/// A tokenizer and the name messages call it by (the file it was read from).
public struct NamedTokenizer {
    public let tokenizer: Tokenizer
    public let name: String

    public init(tokenizer: Tokenizer, name: String) {
        self.tokenizer = tokenizer
        self.name = name
    }
}

/// The models a run uses, opened by role, each with the tokenizer it reads: the denoiser
/// and the corruption detector read `tokenizer`; the evaluator reads it too, or its own when it is a
/// Hugging Face folder (GPT-2), which then scores decoded text by the published recipe.
///
/// ```swift
/// let set = try ModelSet.open(ModelSet.Sources(denoiser: "LLaDA-8B-Instruct"), denoiser: .required)
/// let tokenizer = set.tokenizer.tokenizer, denoiser = set.denoiser!
/// let canvas = try GenerationCanvas.prompt("It is", length: 16, tokenizer: tokenizer)
/// try Generation.run(sampler: DiffusionSampler("fhs"), denoiser: denoiser, canvas: canvas, count: 1,
///                    batch: 1, seed: 1) { _, ids, _, _ in print(try tokenizer.decodeText(ids)) }
/// ```
///
/// Every model is checked when it is opened, before any work: that its weights fit in this
/// machine's memory, its role (a causal evaluator is not a denoiser), and its vocabulary
/// against its tokenizer's, which also makes the denoiser, the evaluator and the corruption detector
/// agree with one another. A model named explicitly that does not fit is an error. A
/// bundled default that the run can do without (`Need.optional`) and that does not fit the
/// tokenizer of the models named explicitly (the bundled 4096-token evaluator beside a
/// LLaDA folder) is left out, with a line in `notes`, rather than stop the run. Messages
/// name models as the command line gives them (`--model DIR`, `--evaluator DIR`).
public struct ModelSet {
    /// How much a run needs a role's model.
    public enum Need: Sendable {
        /// Not opened.
        case unused
        /// Opened when there is one that fits; nil when there is none (no bundled default,
        /// or a default that does not fit the models named explicitly).
        case optional
        /// Opened, or an error that says how to give one.
        case required
    }

    /// Where each model comes from: a directory (ours or a Hugging Face folder) per role,
    /// nil for the bundled `models/<role>`; and a tokenizer.json to use instead of the
    /// denoiser folder's own or the bundled `vocab/tokenizer.json`.
    public struct Sources: Sendable {
        public var denoiser: String?
        public var evaluator: String?
        public var corruptionDetector: String?
        public var tokenizer: String?

        public init(denoiser: String? = nil, evaluator: String? = nil, corruptionDetector: String? = nil, tokenizer: String? = nil) {
            self.denoiser = denoiser
            self.evaluator = evaluator
            self.corruptionDetector = corruptionDetector
            self.tokenizer = tokenizer
        }

        /// The directory named for `role`, or nil for its bundled default.
        public func explicitDirectory(_ role: ModelRole) -> String? {
            switch role {
            case .denoiser: return denoiser
            case .evaluator: return evaluator
            case .corruptionDetector: return corruptionDetector
            }
        }

        /// The directory `role`'s model is read from: the one named, else the bundled
        /// `models/<role>` where `resources` finds it, else nil.
        public func directory(_ role: ModelRole, resources: (String) -> String? = Files.locateResource) -> String? {
            explicitDirectory(role) ?? resources("models/\(role.rawValue)")
        }
    }

    /// The evaluator, with what scoring through it needs.
    public struct ScoringEvaluator {
        public let evaluator: TransformerEvaluator
        /// The end-of-text id, in the evaluator's vocabulary.
        public let endOfText: Int
        /// The evaluator's own tokenizer when it is not the set's (a Hugging Face
        /// evaluator): samples are decoded and retokenized with it. Nil when it reads the
        /// set's tokenizer.
        public let ownTokenizer: Tokenizer?
    }

    /// The tokenizer of the denoiser and the corruption detector (and of the evaluator unless it has
    /// its own).
    public let tokenizer: NamedTokenizer
    public let denoiser: TransformerDenoiser?
    /// The denoiser's classes, when it is label-conditional (its folder's labels.json).
    public var denoiserLabels: ClassLabels? = nil
    public let evaluator: ScoringEvaluator?
    public let corruptionDetector: TransformerCorruptionDetector?
    /// One line for every bundled default left out, saying why and how to give one.
    public let notes: [String]

    /// Opens the tokenizer (see `tokenizer(_:resources:)`), then each role's model that
    /// is needed, in the order denoiser, evaluator, corruption detector, each checked as it is opened.
    /// `resources` finds a bundled file by its path relative to the repository
    /// ("models/evaluator"); nil when there is none. Throws one-line `UnmaskError`s.
    public static func open(_ sources: Sources, denoiser: Need = .unused, evaluator: Need = .unused, corruptionDetector: Need = .unused,
                            matmul: MatMul = MatMul(), resources: (String) -> String? = Files.locateResource) throws -> ModelSet {
        let tokenizer = try ModelSet.tokenizer(sources, resources: resources)
        let needs: [(ModelRole, Need)] = [(.denoiser, denoiser), (.evaluator, evaluator), (.corruptionDetector, corruptionDetector)]
        var directories: [ModelRole: String] = [:]
        for role in ModelRole.allCases { directories[role] = sources.directory(role, resources: resources) }
        var opener = Opener(sources: sources, directories: directories, tokenizer: tokenizer, matmul: matmul,
                            namesAModel: needs.contains { $0.1 != .unused && sources.explicitDirectory($0.0) != nil })
        let denoiserModel = try opener.model(.denoiser, need: denoiser).map {
            try TransformerDenoiser(model: $0, tokenizerSize: tokenizer.tokenizer.vocabSize)
        }
        let scoring = try opener.scoringEvaluator(need: evaluator)
        let specials = Set(tokenizer.tokenizer.specialTokens.map(\.id))
        let detectorModel = try opener.model(.corruptionDetector, need: corruptionDetector).map {
            try TransformerCorruptionDetector(model: $0, specialIds: specials)
        }
        var set = ModelSet(tokenizer: tokenizer, denoiser: denoiserModel, evaluator: scoring, corruptionDetector: detectorModel, notes: opener.notes)
        if let model = denoiserModel, let dir = directories[.denoiser], let labels = try ClassLabels.load(directory: dir) {
            guard labels.firstId >= tokenizer.tokenizer.vocabSize, labels.nullId < model.vocabSize else {
                throw UnmaskError("\(dir)/\(ClassLabels.fileName): label ids \(labels.firstId)...\(labels.nullId) must lie past the tokenizer's \(tokenizer.tokenizer.vocabSize) ids and inside the model's \(model.vocabSize)")
            }
            set.denoiserLabels = labels
        }
        return set
    }

    /// The tokenizer for `sources`: `sources.tokenizer` if given, else the denoiser's own
    /// tokenizer.json when the denoiser is a Hugging Face folder, else the bundled
    /// `vocab/tokenizer.json`. A Hugging Face folder's tokenizer is paired with its config:
    /// the mask is the id the config names (LLaDA's `mask_token_id`, one of the tokenizer's
    /// specials), or, for a tokenizer without one (GPT-2's, for MDLM), `<|mask|>` appended
    /// after its ids, MDLM's rule; end of text is the config's `eos_token_id` when the
    /// tokenizer has no `<|endoftext|>`. The model's config is then checked against it
    /// like any other pairing.
    public static func tokenizer(_ sources: Sources, resources: (String) -> String? = Files.locateResource) throws -> NamedTokenizer {
        guard let model = sources.denoiser, HuggingFaceFolder.isHuggingFace(directory: model) else {
            if let path = sources.tokenizer { return NamedTokenizer(tokenizer: try Tokenizer.load(path: path), name: path) }
            guard let path = resources("vocab/tokenizer.json") else {
                throw SettingError(.vocab, "cannot find vocab/tokenizer.json (run from the repository, or give ⟨vocab⟩ FILE)")
            }
            return NamedTokenizer(tokenizer: try Tokenizer.load(path: path), name: path)
        }
        let path = try sources.tokenizer ?? Files.insideFolder("tokenizer.json", of: model)
        guard Files.exists(path) else {
            throw SettingError(.vocab, "\(model) has no tokenizer.json: give the tokenizer it was trained with (⟨vocab⟩ FILE)")
        }
        var tokenizer = try Tokenizer.load(path: path, requireMask: false, endOfText: HuggingFaceFolder.declaredEndOfTextId(directory: model))
        if let mask = HuggingFaceFolder.declaredMaskId(directory: model), mask < tokenizer.vocabSize {
            do {
                tokenizer = try tokenizer.withMask(id: mask)
            } catch let e as UnmaskError {
                throw UnmaskError("\(path) and \(model)/config.json: \(e.message)")
            }
        } else if tokenizer.maskId == Tokenizer.noMask {
            tokenizer = try tokenizer.appendingMaskToken()
        }
        return NamedTokenizer(tokenizer: tokenizer, name: path)
    }

    /// How messages name the option that gives `role`'s model.
    static func flag(_ role: ModelRole) -> String { role == .denoiser ? "--model" : "--\(role.rawValue)" }
}

/// The checks of `ModelSet.open`, one role at a time.
private struct Opener {
    let sources: ModelSet.Sources
    /// Each role's directory: the one named, else the bundled one; absent when neither.
    let directories: [ModelRole: String]
    let tokenizer: NamedTokenizer
    let matmul: MatMul
    /// Whether the run names a model of a role it uses: only then may a default that does
    /// not fit be left out (with nothing named, the defaults are what was asked for).
    let namesAModel: Bool
    var notes: [String] = []

    /// `role`'s model, checked against the set's tokenizer; nil when it is not needed, or
    /// optional and absent or left out.
    mutating func model(_ role: ModelRole, need: ModelSet.Need) throws -> Transformer? {
        guard let (dir, name) = try locate(role, need: need) else { return nil }
        // A Hugging Face model may pad its vocabulary past the tokenizer's; a label-conditional
        // denoiser keeps its label ids there (labels.json).
        let padded = HuggingFaceFolder.isHuggingFace(directory: dir) || Files.exists(dir + "/" + ClassLabels.fileName)
        let size = tokenizer.tokenizer.vocabSize, mask = tokenizer.tokenizer.maskId
        if need == .optional, namesAModel, sources.explicitDirectory(role) == nil, let config = try? Transformer.peekConfig(directory: dir),
           !config.fitsVocabulary(size: size, maskTokenId: mask, padded: padded) {
            notes.append("skipping \(name): its vocabulary of \(config.vocabSize) tokens (mask \(config.maskTokenId)) does not fit the tokenizer \(tokenizer.name) (\(size) tokens, mask \(mask)); pass \(ModelSet.flag(role)) DIR for one that does")
            return nil
        }
        let m = try load(dir, role: role, name: name)
        try m.config.checkVocabulary(size: size, maskTokenId: mask, modelName: name, tokenizerName: tokenizer.name, padded: padded)
        return m
    }

    /// The evaluator: ours, reading the set's tokenizer, or a Hugging Face folder with a
    /// tokenizer of its own (GPT-2's), which must not have more ids than the model.
    mutating func scoringEvaluator(need: ModelSet.Need) throws -> ModelSet.ScoringEvaluator? {
        guard let dir = directories[.evaluator], HuggingFaceFolder.isHuggingFace(directory: dir) else {
            return try model(.evaluator, need: need).map {
                ModelSet.ScoringEvaluator(evaluator: try TransformerEvaluator(model: $0), endOfText: tokenizer.tokenizer.endOfTextId,
                                          ownTokenizer: nil)
            }
        }
        guard let (_, name) = try locate(.evaluator, need: need) else { return nil }
        let model = try load(dir, role: .evaluator, name: name)
        let own = try Tokenizer.load(path: Files.insideFolder("tokenizer.json", of: dir), requireMask: false,
                                     endOfText: HuggingFaceFolder.declaredEndOfTextId(directory: dir))
        guard own.vocabSize <= model.config.vocabSize else {
            throw UnmaskError("\(dir)/tokenizer.json has \(own.vocabSize) ids but the model only \(model.config.vocabSize): they do not belong together")
        }
        return ModelSet.ScoringEvaluator(evaluator: try TransformerEvaluator(model: model), endOfText: own.endOfTextId, ownTokenizer: own)
    }

    /// The directory of `role`'s model and its name in messages, or nil when it is not
    /// needed or optional and absent.
    func locate(_ role: ModelRole, need: ModelSet.Need) throws -> (dir: String, name: String)? {
        guard need != .unused else { return nil }
        guard let dir = directories[role] else {
            guard need == .optional else {
                throw UnmaskError("cannot find the bundled models/\(role.rawValue) (pass \(ModelSet.flag(role)) DIR)")
            }
            return nil
        }
        return (dir, sources.explicitDirectory(role) != nil ? "\(ModelSet.flag(role)) \(dir)" : "the bundled \(dir)")
    }

    /// Loads a model and checks its role. A model too big for this machine is refused
    /// before its weights are read (an 8 B folder takes seconds to check and minutes to
    /// pack).
    func load(_ dir: String, role: ModelRole, name: String) throws -> Transformer {
        if let config = try? Transformer.peekConfig(directory: dir) {
            let half = matmul.backend == .unmask && Transformer.peekHalfPanels(directory: dir)
            func weights(_ compute: Compute) -> Double {
                MemoryEstimate.weightBytes(config: config, engine: Engine(backend: matmul.backend, compute: compute), halfPanels: half)
            }
            let need = weights(matmul.compute), have = Double(physicalMemoryBytes())
            if !MemoryEstimate.fits(need, fraction: 0.9) {
                throw UnmaskError("\(name) needs about \(fixed(need / 1e9, 1)) GB for its \(matmul.compute.rawValue) weights; this machine has \(fixed(have / 1e9, 1)) GB (weights: \(Compute.allCases.map { "\($0.rawValue) about \(fixed(weights($0) / 1e9, 1)) GB" }.joined(separator: ", ")))")
            }
        }
        let m = try Transformer.load(directory: dir, matmul: matmul)
        try role.check(m.config, name: name)
        return m
    }
}
