import UnmaskSupport
import UnmaskDiffusion
import UnmaskTokenizer
import UnmaskSteering

/// One request to generate, decoded and checked: the same for the three routes
/// (`/v1/completions`, `/v1/chat/completions`, `/unmask/v1/generate`). Decoding never
/// touches the model; `ServedModel.canvas` turns it into token ids.
///
/// Every field of a route is known: an unknown field is a 400 naming it, and so is an
/// OpenAI field that has no meaning for a diffusion model (`logit_bias`, penalties,
/// `logprobs`, `tools`, …) unless it has its neutral value (`presence_penalty: 0`,
/// `logit_bias: {}`, `echo: false`, `best_of: 1`), which changes nothing.
public struct GenerationRequest: Sendable, Equatable {
    public enum Route: String, Sendable, CaseIterable { case completions, chat, native }
    /// Denoising frames on a stream: none (text only), the positions revealed since the
    /// last frame, or the whole canvas.
    public enum Frames: String, Sendable, CaseIterable { case none, diff, full }

    public struct Message: Sendable, Equatable {
        public var role: String
        public var content: String
    }

    public var route: Route
    public var model: String?
    /// Text before the generated span (completions, native).
    public var prompt: String?
    /// Token ids given instead of text (`prompt: [ids]` on completions).
    public var promptIds: [Int]?
    /// Text after the generated span: infilling.
    public var suffix: String?
    /// An infilling template (native).
    public var template: String?
    public var messages: [Message] = []
    /// Tokens to generate (a template's blanks decide instead).
    public var maxTokens: Int
    /// The sampler spec after the request's overrides (`description` is its canonical text).
    public var sampler: SamplerSpec
    /// Past the context: blocks of this many tokens (as `generate --block`).
    public var block: Int?
    public var seed: UInt64
    /// Whether the seed was the client's (else drawn by the server, and reported).
    public var seedGiven: Bool
    public var stops: [String] = []
    /// Choices (samples 0..<n of the seed).
    public var n = 1
    public var stream: Bool
    public var includeUsage = false
    public var frames = Frames.none
    /// Seconds the request may run, queueing included.
    public var timeout: Double?
    /// A class: of a label-conditional denoiser, or of the bundled classifier for steering (native).
    public var className: String?
    /// A steering method (native), as `generate --steer` takes it, and its reward
    /// (`classifier…` or `words…`: the server runs no commands and opens no other files).
    public var steer: String?
    public var reward: String?

    public static let maxChoices = 16
    public static let maxStops = 4
    /// The sampler a request gets when it names none: the CLI's `generate` default.
    public static let defaultSampler = "fhs:top_p=0.9"

    /// Decodes a body. `defaultMaxTokens`: what a request without `max_tokens` gets.
    /// `newSeed` draws the seed of a request that gives none.
    public static func decode(_ body: [UInt8], route: Route, defaultMaxTokens: Int = 16,
                              newSeed: () -> UInt64) throws -> GenerationRequest {
        let value: JSONValue
        do { value = try JSON.parse(body) } catch {
            throw APIError.invalid(nil, "the body is not JSON: \(error)", code: "invalid_json")
        }
        guard let pairs = value.objectPairs else { throw APIError.invalid(nil, "the body must be a JSON object") }
        var fields = try Fields(pairs, prefix: "")
        return try decode(&fields, route: route, defaultMaxTokens: defaultMaxTokens, newSeed: newSeed)
    }

    /// Fields OpenAI defines that mean nothing here, with their neutral value's test.
    static let meaningless: [String: (JSONValue) -> Bool] = [
        "logit_bias": { $0.isNull || ($0.objectPairs?.isEmpty ?? false) },
        "presence_penalty": { $0.isNull || $0.doubleValue == 0 },
        "frequency_penalty": { $0.isNull || $0.doubleValue == 0 },
        "logprobs": { $0.isNull || $0.boolValue == false },
        "top_logprobs": { $0.isNull },
        "echo": { $0.isNull || $0.boolValue == false },
        "best_of": { $0.isNull || $0.intValue == 1 },
        "tools": { $0.isNull }, "tool_choice": { $0.isNull }, "functions": { $0.isNull },
        "function_call": { $0.isNull }, "parallel_tool_calls": { $0.isNull },
        "response_format": { $0.isNull || $0["type"]?.stringValue == "text" },
        "audio": { $0.isNull }, "modalities": { $0.isNull }, "prediction": { $0.isNull },
        "reasoning_effort": { $0.isNull }, "service_tier": { $0.isNull || $0.stringValue == "auto" },
    ]
    /// Fields accepted and ignored on purpose: bookkeeping that does not change the text.
    static let metadata: Set<String> = ["user", "metadata", "store"]

    static func decode(_ f: inout Fields, route: Route, defaultMaxTokens: Int, newSeed: () -> UInt64) throws -> GenerationRequest {
        let openAI = route != .native
        var samplerText = GenerationRequest.defaultSampler
        var samplerKeys: [String] = []
        var request = GenerationRequest(route: route, maxTokens: defaultMaxTokens, sampler: SamplerSpec(kind: .fhs),
                                        seed: 0, seedGiven: false, stream: route == .native)
        request.model = try f.string("model")
        switch route {
        case .completions:
            if let p = f.take("prompt") {
                if let s = p.stringValue { request.prompt = s }
                else if let a = p.arrayValue, a.count == 1, let s = a[0].stringValue { request.prompt = s }
                else if let a = p.arrayValue, !a.isEmpty, a.allSatisfy({ $0.intValue != nil }) { request.promptIds = a.map { $0.intValue! } }
                else if let a = p.arrayValue, a.count > 1, a.allSatisfy({ $0.stringValue != nil }) {
                    throw APIError.invalid("prompt", "one prompt per request (use n for several completions of it)")
                } else { throw APIError.invalid("prompt", "prompt must be a string, a one-string array, or an array of token ids") }
            }
            request.suffix = try f.string("suffix")
        case .chat:
            guard let m = f.take("messages") else { throw APIError.invalid("messages", "messages is required") }
            guard let list = m.arrayValue, !list.isEmpty else { throw APIError.invalid("messages", "messages must be a non-empty array") }
            for (i, item) in list.enumerated() {
                guard let pairs = item.objectPairs else { throw APIError.invalid("messages[\(i)]", "each message is an object") }
                var mf = try Fields(pairs, prefix: "messages[\(i)].")
                guard let role = try mf.string("role") else { throw APIError.invalid("messages[\(i)].role", "role is required") }
                guard ["system", "user", "assistant"].contains(role) else {
                    throw APIError.invalid("messages[\(i)].role", "role must be system, user or assistant, got \"\(role)\"")
                }
                guard let content = try mf.messageContent() else { throw APIError.invalid("messages[\(i)].content", "content is required") }
                _ = mf.take("name")
                try mf.finish()
                request.messages.append(Message(role: role, content: content))
            }
        case .native:
            request.prompt = try f.string("prompt")
            request.suffix = try f.string("suffix")
            request.template = try f.string("template")
            if request.template != nil && (request.prompt != nil || request.suffix != nil) {
                throw APIError.invalid("template", "give a template, or a prompt (and suffix), not both")
            }
            request.className = try f.string("class")
            request.steer = try f.string("steer")
            request.reward = try f.string("reward")
            if let steer = request.steer {
                do { _ = try SteeringSpec.parse(steer) } catch { throw APIError.invalid("steer", "\(error)") }
                // Steering runs on the first-hitting kernel: plain fhs unless a sampler is given.
                samplerText = "fhs"
            }
            if request.reward != nil && request.steer == nil { throw APIError.invalid("reward", "a reward steers: give steer too") }
            if let reward = request.reward {
                let kind = reward.split(separator: ":", maxSplits: 1).first.map(String.init) ?? reward
                guard kind == "classifier" || kind == "words" else {
                    throw APIError.invalid("reward", "the server takes the classifier and words rewards only (it runs no commands and loads no evaluator), got \"\(kind)\"")
                }
                if reward.contains("model=") {
                    throw APIError.invalid("reward", "the server steers with its bundled classifier: model= is not taken (it opens no files a request names)")
                }
            }
        }
        let lengthKey = route == .native ? "length" : "max_tokens"
        if let v = try f.int(lengthKey, 0...GenerationCanvas.maxTokens) { request.maxTokens = v }
        if route == .chat, let v = try f.int("max_completion_tokens", 0...GenerationCanvas.maxTokens) { request.maxTokens = v }
        if route == .native && request.template != nil && f.had(lengthKey) {
            throw APIError.invalid("length", "length does not apply to a template: its blanks set what is generated")
        }
        if let v = try f.int(route == .native ? "samples" : "n", 1...maxChoices) { request.n = v }
        if let v = try f.bool("stream") { request.stream = v }
        if let so = f.take("stream_options"), !so.isNull {
            guard let pairs = so.objectPairs else { throw APIError.invalid("stream_options", "stream_options must be an object") }
            var sf = try Fields(pairs, prefix: "stream_options.")
            request.includeUsage = try sf.bool("include_usage") ?? false
            try sf.finish()
            if !request.stream { throw APIError.invalid("stream_options", "stream_options needs stream: true") }
        }
        if let s = f.take("stop"), !s.isNull {
            if let one = s.stringValue { request.stops = [one] }
            else if let a = s.arrayValue, a.allSatisfy({ $0.stringValue != nil }) { request.stops = a.map { $0.stringValue! } }
            else { throw APIError.invalid("stop", "stop must be a string or an array of strings") }
            guard request.stops.count <= maxStops else { throw APIError.invalid("stop", "at most \(maxStops) stop strings") }
            guard request.stops.allSatisfy({ !$0.isEmpty }) else { throw APIError.invalid("stop", "a stop string is empty") }
        }
        if let s = f.take("seed"), !s.isNull {
            guard let u = s.uint64Value else { throw APIError.invalid("seed", "seed must be an integer in 0...2^64-1") }
            request.seed = u
            request.seedGiven = true
        } else {
            request.seed = newSeed()
        }
        // Draw options: OpenAI's on the OpenAI routes (and the native route, by the same names).
        let temperature = try f.double("temperature", openAI ? { $0 >= 0 && $0 <= 2 } : { $0 >= 0 }, openAI ? "in [0, 2]" : ">= 0")
        let topP = try f.double("top_p", { $0 > 0 && $0 <= 1 }, "in (0, 1]")
        let topK = try f.int("top_k", 1...Int(Int32.max))
        // Diffusion settings: inside `unmask` on the OpenAI routes, at the top on the native one.
        var settings = f
        if openAI {
            settings = try Fields([], prefix: "unmask.")
            if let u = f.take("unmask"), !u.isNull {
                guard let pairs = u.objectPairs else { throw APIError.invalid("unmask", "unmask must be an object") }
                settings = try Fields(pairs, prefix: "unmask.")
            }
        }
        if let s = try settings.string("sampler") { samplerText = s }  // (after steer's default)
        if let v = try settings.int("steps", 1...1_000_000) { samplerKeys.append("steps=\(v)") }
        if let v = try settings.int("tokens_per_call", 1...4096) { samplerKeys.append("k=\(v)") }
        if let v = try settings.double("threshold", { $0 > 0 && $0 <= 1 }, "in (0, 1]") { samplerKeys.append("threshold=\(v)") }
        if let v = try settings.int("block", 1...GenerationCanvas.maxTokens) { request.block = v }
        if let s = try settings.string("frames") {
            guard let fr = Frames(rawValue: s) else { throw APIError.invalid(settings.prefix + "frames", "frames must be none, diff or full, got \"\(s)\"") }
            request.frames = fr
        }
        // The native route is for watching: frames of the revealed positions unless asked otherwise.
        if route == .native && !settings.had("frames") && request.stream { request.frames = .diff }
        if let t = try settings.double("timeout", { $0 > 0 && $0 <= 86_400 }, "in (0, 86400] seconds") { request.timeout = t }
        if openAI { try settings.finish() } else { f = settings }
        for (key, neutral) in meaningless.sorted(by: { $0.key < $1.key }) {
            if let v = f.take(key), !neutral(v) {
                throw APIError.invalid(key, "\(key) has no meaning for a masked diffusion model and is not supported", code: "unsupported_parameter")
            }
        }
        for key in metadata { _ = f.take(key) }
        try f.finish()
        if request.steer != nil && f.had("frames") == false { request.frames = .none }
        if request.steer != nil && request.frames != .none {
            throw APIError.invalid("frames", "steered samples have no frames (their particles are resampled): the text arrives with done")
        }
        if request.frames != .none && !request.stream {
            throw APIError.invalid(openAI ? "unmask.frames" : "frames", "frames need stream: true")
        }
        // The sampler: the spec with the diffusion keys appended (a key given twice is an
        // error naming it), then the draw options.
        let specText = ([samplerText] + samplerKeys).joined(separator: ":")
        do {
            var spec = try SamplerSpec.parse(specText)
            if let temperature {
                if temperature == 0 { spec.draw.topK = 1 } else { spec.draw.temperature = temperature }
            }
            if let topP { spec.draw.topP = topP }
            if let topK { spec.draw.topK = topK }
            try spec.draw.validate()
            request.sampler = spec
        } catch {
            throw APIError.invalid(openAI ? "unmask.sampler" : "sampler", "\(error)")
        }
        if request.sampler.kind == .ddpd {
            throw APIError.invalid(openAI ? "unmask.sampler" : "sampler", "the ddpd sampler needs the planner model, which the server does not load")
        }
        if route != .native && request.maxTokens == 0 && request.suffix == nil {
            throw APIError.invalid(lengthKey, "max_tokens must be at least 1")
        }
        return request
    }

    /// Whether revealed tokens can be masked again (then nothing is final before the end).
    public var remasks: Bool { sampler.kind == .p2 || sampler.remask != nil }
}

/// An object's fields, each taken once; what is left at `finish` is an unknown field.
struct Fields {
    var pairs: [(key: String, value: JSONValue)]
    let prefix: String
    private var taken: Set<String> = []

    init(_ pairs: [(key: String, value: JSONValue)], prefix: String) throws {
        var seen = Set<String>()
        for p in pairs where !seen.insert(p.key).inserted {
            throw APIError.invalid(prefix + p.key, "field \(prefix + p.key) is given twice")
        }
        self.pairs = pairs
        self.prefix = prefix
    }

    mutating func take(_ key: String) -> JSONValue? {
        guard let i = pairs.firstIndex(where: { $0.key == key }) else { return nil }
        taken.insert(key)
        return pairs.remove(at: i).value
    }
    func had(_ key: String) -> Bool { taken.contains(key) }

    mutating func string(_ key: String) throws -> String? {
        guard let v = take(key), !v.isNull else { return nil }
        guard let s = v.stringValue else { throw APIError.invalid(prefix + key, "\(prefix + key) must be a string") }
        return s
    }
    mutating func bool(_ key: String) throws -> Bool? {
        guard let v = take(key), !v.isNull else { return nil }
        guard let b = v.boolValue else { throw APIError.invalid(prefix + key, "\(prefix + key) must be true or false") }
        return b
    }
    mutating func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let v = take(key), !v.isNull else { return nil }
        guard let i = v.intValue, range.contains(i) else {
            throw APIError.invalid(prefix + key, "\(prefix + key) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return i
    }
    mutating func double(_ key: String, _ ok: (Double) -> Bool, _ what: String) throws -> Double? {
        guard let v = take(key), !v.isNull else { return nil }
        guard let d = v.doubleValue, d.isFinite, ok(d) else { throw APIError.invalid(prefix + key, "\(prefix + key) must be a number \(what)") }
        return d
    }
    /// A chat message's content: a string, or an array of `{"type": "text", "text": …}` parts.
    mutating func messageContent() throws -> String? {
        guard let v = take("content"), !v.isNull else { return nil }
        if let s = v.stringValue { return s }
        guard let parts = v.arrayValue else { throw APIError.invalid(prefix + "content", "content must be a string or an array of text parts") }
        var text = ""
        for p in parts {
            guard p["type"]?.stringValue == "text", let t = p["text"]?.stringValue else {
                throw APIError.invalid(prefix + "content", "only text parts are supported ({\"type\": \"text\", \"text\": ...})")
            }
            text += t
        }
        return text
    }
    mutating func finish() throws {
        if let first = pairs.first {
            throw APIError.invalid(prefix + first.key, "unknown field \(prefix + first.key)", code: "unknown_parameter")
        }
    }
}
