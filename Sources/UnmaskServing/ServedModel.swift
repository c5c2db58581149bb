import Foundation
import UnmaskSupport
import UnmaskTokenizer
import UnmaskModel
import UnmaskDiffusion
import UnmaskEvaluation
import UnmaskSteering
import UnmaskGeneration

/// The model a server serves, and how a request becomes its run.
public final class ServedModel: @unchecked Sendable {
    /// What `/v1/models` lists and requests name (`model`): the folder's name.
    public let id: String
    public let directory: String
    /// `unmask` for a folder of ours, else the Hugging Face family (llada, dream, mdlm).
    public let family: String
    public let tokenizer: Tokenizer
    public let base: TransformerDenoiser
    public let labels: ClassLabels?
    /// nil for a model without a chat template (`/v1/chat/completions` says so).
    public let chat: ChatTemplate?
    public let endOfText: Set<Int>

    public init(set: ModelSet, directory: String) throws {
        guard let d = set.denoiser else { throw UnmaskError("the server needs a denoiser") }
        // Requests share network calls (SharedCalls) over whole canvases; a block-causal
        // model is generated block by block with a cache per sample, which that sharing
        // does not do yet. Refused rather than served as if it were bidirectional.
        if Generation.blockCausalModel(d) != nil {
            throw UnmaskError("\(directory) is block-causal (block diffusion); unmask-serve serves bidirectional denoisers: use `unmask generate --model \(directory)` for it")
        }
        self.directory = directory
        self.id = directory.split(separator: "/").last.map(String.init) ?? directory
        self.family = HuggingFaceFolder.isHuggingFace(directory: directory) ? (try HuggingFaceFolder.open(directory: directory)).family.rawValue : "unmask"
        self.tokenizer = set.tokenizer.tokenizer
        self.base = d
        self.labels = set.denoiserLabels
        self.chat = try ChatTemplate.load(directory: directory)
        var ends: Set<Int> = [tokenizer.endOfTextId]
        if let chat, let t = tokenizer.specialTokens.first(where: { $0.content == chat.endOfTurn }) { ends.insert(t.id) }
        self.endOfText = ends
    }

    public var contextLength: Int { base.maxLength - (labels == nil ? 0 : 1) }
    public var maskId: Int { tokenizer.maskId }

    public var jsonValue: JSONValue {
        JSON.objectValue([
            ("id", .string(id)), ("object", .string("model")), ("created", .int(0)), ("owned_by", .string("unmask")),
            ("unmask", JSON.objectValue([
                ("family", .string(family)), ("context_length", .int(contextLength)), ("mask_id", .int(maskId)),
                ("vocab_size", .int(tokenizer.vocabSize)), ("default_sampler", .string(GenerationRequest.defaultSampler)),
                ("chat_template", chat.map { .string($0.rawValue) } ?? .null),
                ("classes", labels.map { .array($0.classes.map { .string($0) }) } ?? .null),
            ])),
        ])
    }

    /// What the library's generation setup draws on: the tokenizer, the base denoiser and
    /// its labels (the server loads no corruption detector and no evaluator).
    var models: GenerationSettings.Models { GenerationSettings.Models(tokenizer: tokenizer, denoiser: base, labels: labels) }

    /// A request checked against the model and prepared by the library: its canvas, the
    /// span whose text is the completion, the sampler, the steering engine. A chat's
    /// messages are rendered into the prompt first.
    public func prepare(_ r: GenerationRequest) throws -> PreparedGeneration {
        if let m = r.model, m != id {
            throw APIError(status: 404, type: "invalid_request_error", param: "model", code: "model_not_found",
                           "model \"\(m)\" is not served here (this server serves \"\(id)\")")
        }
        var settings = r.settings
        if r.route == .chat {
            guard let chat else {
                throw APIError.invalid("messages", "this model has no chat template (tokenizer_config.json); use /v1/completions", code: "no_chat_template")
            }
            let bos = tokenizer.specialTokens.first { ["<|startoftext|>", "<|begin_of_text|>"].contains($0.content) }?.content ?? ""
            settings.prompt = chat.render(r.messages, bos: bos)
            settings.promptHasSpecialTokens = true
        }
        do { return try settings.prepare(models) } catch let e as SettingError { throw GenerationRequest.refusal(e, route: r.route) }
    }
}
