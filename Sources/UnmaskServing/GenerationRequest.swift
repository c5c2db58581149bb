import UnmaskSupport
import UnmaskDiffusion
import UnmaskTokenizer
import UnmaskSteering
import UnmaskGeneration

/// One request to generate, decoded and checked: the same for the three routes
/// (`/v1/completions`, `/v1/chat/completions`, `/unmask/v1/generate`). Decoding never
/// touches the model; `ServedModel.prepare` turns it into a run.
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

        public init(role: String, content: String) { (self.role, self.content) = (role, content) }
    }

    public var route: Route
    public var model: String?
    public var messages: [Message] = []
    /// What is generated and how: the library's one generation setup, as this request
    /// sets it (prompt, suffix, template, length, sampler and its keys, steering, class,
    /// window). `ServedModel.prepare` turns it into a run.
    public var settings: GenerationSettings
    /// The sampler spec after the request's overrides (`description` is its canonical text).
    public var sampler: SamplerSpec
    /// Tokens to generate (a template's blanks decide instead).
    public var maxTokens: Int { settings.length ?? 0 }
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

    public static let maxChoices = 16
    public static let maxStops = 4
    /// The sampler a request gets when it names none (the library's default).
    public static let defaultSampler = GenerationSettings.defaultSampler
    /// The end of the error when a steered request needs the bundled classifier and the
    /// install lacks it: a request cannot name a classifier directory.
    public static let classifierRemedy = "this server's install is incomplete (no classifier can be named in a request)"

    /// How the server spells a setting on a route: OpenAI's own fields by their names, the
    /// diffusion settings inside `unmask` on the OpenAI routes and at the top on the native one.
    public static func spelling(_ route: Route) -> (Setting) -> String {
        { setting in
            switch setting {
            case .length: return route == .native ? "length" : "max_tokens"
            case .prompt: return route == .chat ? "messages" : "prompt"
            case .promptIds: return "prompt"
            case .sampler, .steps, .tokensPerCall, .threshold, .window: return route == .native ? setting.rawValue : "unmask." + setting.rawValue
            default: return setting.rawValue
            }
        }
    }

    /// A setting's error as this route's 400, the setting spelled as the route spells it.
    public static func refusal(_ e: SettingError, route: Route) -> APIError {
        let spell = spelling(route)
        return APIError.invalid(spell(e.setting), e.message(spelling: spell), code: e.code)
    }

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
        var settings = GenerationSettings()
        settings.trust = .remote(remedy: classifierRemedy)
        // The OpenAI routes keep to the context unless the request asks for windows.
        settings.windowsPastContext = !openAI
        settings.length = defaultMaxTokens
        var request = GenerationRequest(route: route, settings: settings, sampler: SamplerSpec(kind: .fhs),
                                        seed: 0, seedGiven: false, stream: route == .native)
        request.model = try f.string("model")
        switch route {
        case .completions:
            if let p = f.take("prompt") {
                if let s = p.stringValue { settings.prompt = s }
                else if let a = p.arrayValue, a.count == 1, let s = a[0].stringValue { settings.prompt = s }
                else if let a = p.arrayValue, !a.isEmpty, a.allSatisfy({ $0.intValue != nil }) { settings.promptIds = a.map { $0.intValue! } }
                else if let a = p.arrayValue, a.count > 1, a.allSatisfy({ $0.stringValue != nil }) {
                    throw APIError.invalid("prompt", "one prompt per request (use n for several completions of it)")
                } else { throw APIError.invalid("prompt", "prompt must be a string, a one-string array, or an array of token ids") }
            }
            settings.suffix = try f.string("suffix")
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
            settings.prompt = try f.string("prompt")
            settings.suffix = try f.string("suffix")
            settings.template = try f.string("template")
            settings.className = try f.string("class")
            settings.steer = try f.string("steer")
            settings.reward = try f.string("reward")
        }
        let lengthKey = route == .native ? "length" : "max_tokens"
        let length = try f.int(lengthKey, 0...GenerationCanvas.maxTokens)
        if let length { settings.length = length }
        if route == .chat, let v = try f.int("max_completion_tokens", 0...GenerationCanvas.maxTokens) { settings.length = v }
        // A template's blanks set its length: the default is not a length given.
        if settings.template != nil && length == nil { settings.length = nil }
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
        settings.temperature = try f.double("temperature", openAI ? { $0 >= 0 && $0 <= 2 } : { $0 >= 0 }, openAI ? "in [0, 2]" : ">= 0")
        settings.topP = try f.double("top_p", { $0 > 0 && $0 <= 1 }, "in (0, 1]")
        settings.topK = try f.int("top_k", 1...Int(Int32.max))
        // Diffusion settings: inside `unmask` on the OpenAI routes, at the top on the native one.
        var inner = f
        if openAI {
            inner = try Fields([], prefix: "unmask.")
            if let u = f.take("unmask"), !u.isNull {
                guard let pairs = u.objectPairs else { throw APIError.invalid("unmask", "unmask must be an object") }
                inner = try Fields(pairs, prefix: "unmask.")
            }
        }
        settings.sampler = try inner.string("sampler")
        settings.steps = try inner.int("steps", 1...1_000_000)
        settings.tokensPerCall = try inner.int("tokens_per_call", 1...4096)
        settings.threshold = try inner.double("threshold", { $0 > 0 && $0 <= 1 }, "in (0, 1]")
        // `block` is the old spelling of `window` (accepted, not listed).
        let window = try inner.int("window", 1...GenerationCanvas.maxTokens)
        let oldWindow = try inner.int("block", 1...GenerationCanvas.maxTokens)
        if window != nil && oldWindow != nil {
            throw APIError.invalid(inner.prefix + "window", "\(inner.prefix)block is the old spelling of \(inner.prefix)window: give one")
        }
        settings.window = window ?? oldWindow
        if let s = try inner.string("frames") {
            guard let fr = Frames(rawValue: s) else { throw APIError.invalid(inner.prefix + "frames", "frames must be none, diff or full, got \"\(s)\"") }
            request.frames = fr
        }
        // The native route is for watching: frames of the revealed positions unless asked otherwise.
        if route == .native && !inner.had("frames") && request.stream { request.frames = .diff }
        if let t = try inner.double("timeout", { $0 > 0 && $0 <= 86_400 }, "in (0, 86400] seconds") { request.timeout = t }
        if openAI { try inner.finish() } else { f = inner }
        for (key, neutral) in meaningless.sorted(by: { $0.key < $1.key }) {
            if let v = f.take(key), !neutral(v) {
                throw APIError.invalid(key, "\(key) has no meaning for a masked diffusion model and is not supported", code: "unsupported_parameter")
            }
        }
        for key in metadata { _ = f.take(key) }
        try f.finish()
        if settings.steer != nil && f.had("frames") == false { request.frames = .none }
        if settings.steer != nil && request.frames != .none {
            throw APIError.invalid("frames", "steered samples have no frames (their particles are resampled): the text arrives with done")
        }
        if request.frames != .none && !request.stream {
            throw APIError.invalid(openAI ? "unmask.frames" : "frames", "frames need stream: true")
        }
        // Everything the library can check without the model, spelled for this route.
        do {
            try settings.validate()
            request.sampler = try settings.samplerSpec()
        } catch let e as SettingError { throw refusal(e, route: route) }
        if request.sampler.kind == .ddpd {
            throw APIError.invalid(openAI ? "unmask.sampler" : "sampler", "the ddpd sampler needs DDPD's corruption detector, which the server does not load")
        }
        request.settings = settings
        return request
    }

    /// Whether revealed tokens can be masked again (then nothing is final before the end).
    public var remasks: Bool { sampler.kind == .p2 || sampler.remask != nil }
}

