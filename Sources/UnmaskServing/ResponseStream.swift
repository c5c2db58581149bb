import UnmaskSupport
import UnmaskTokenizer

/// Server-sent events as text: `event: NAME` (optional), one `data:` line per line of the
/// payload, a blank line. Comments (`: …`) keep a connection alive and are ignored by clients.
public enum ServerSentEvents {
    public static func event(_ name: String? = nil, _ data: String) -> String {
        var out = ""
        if let name { out += "event: \(name)\n" }
        // A payload line break would end the field: each line is its own data field,
        // which the client joins back with "\n".
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) {
            out += "data: " + line.replacingCarriageReturns() + "\n"
        }
        return out + "\n"
    }
    public static func comment(_ text: String) -> String { ": \(text)\n\n" }
}

extension Substring {
    fileprivate func replacingCarriageReturns() -> String {
        // A bare CR also ends an SSE line; JSON payloads escape it, so this only guards text.
        String(self).split(separator: "\r", omittingEmptySubsequences: false).joined(separator: "\\r")
    }
}

/// What a job's client receives, for each route: the JSON of a non-streamed response, and
/// the events of a streamed one, written through `write` as the job runs.
public struct ResponseStream {
    public let job: Job
    public let model: ServedModel
    /// Unix seconds, for OpenAI's `created`.
    public let created: Int
    /// Seconds without an event after which a keep-alive comment is written.
    public var keepAlive: Double = 5

    public init(job: Job, model: ServedModel, created: Int) {
        self.job = job
        self.model = model
        self.created = created
    }

    var r: GenerationRequest { job.request }
    var objectId: String { (r.route == .chat ? "chatcmpl-" : "cmpl-") + job.id }

    /// Waits for the job's end and returns the status and body of the whole response.
    public func complete() async -> (status: Int, body: String) {
        for await _ in job.bell {}
        let u = job.drain()
        switch u.outcome {
        case .finished(let choices)?:
            return (200, finalBody(choices, update: u).serialized())
        case .cancelled(let reason)?:
            return Self.cancelled(reason)
        case .failed(let message)?:
            return (500, APIError(status: 500, type: "server_error", message).json)
        case nil:
            return (500, APIError(status: 500, type: "server_error", "the job ended without an outcome").json)
        }
    }

    static func cancelled(_ reason: CancelReason) -> (Int, String) {
        switch reason {
        case .deadline: return (408, APIError(status: 408, type: "timeout", code: "deadline_exceeded", "the request ran past its timeout").json)
        case .shutdown: return (503, APIError(status: 503, type: "server_error", code: "shutting_down", "the server is shutting down").json)
        default: return (499, APIError(status: 499, type: "cancelled", code: reason.rawValue, "the job was cancelled (\(reason.rawValue))").json)
        }
    }

    func usage(_ choices: [Job.Choice]) -> JSONValue {
        let completion = choices.reduce(0) { $0 + $1.completionTokens }
        return JSON.objectValue([("prompt_tokens", .int(job.promptTokens)), ("completion_tokens", .int(completion)),
                                 ("total_tokens", .int(job.promptTokens + completion))])
    }

    func extensionObject(_ u: Job.Update) -> JSONValue {
        JSON.objectValue([("seed", .uint64(r.seed)), ("sampler", .string(r.sampler.description)), ("nfe", .int(u.nfe)),
                          ("steps", .int(u.step)), ("job", .string(job.id))])
    }

    func finalBody(_ choices: [Job.Choice], update u: Job.Update) -> JSONValue {
        switch r.route {
        case .completions:
            return JSON.objectValue([
                ("id", .string(objectId)), ("object", .string("text_completion")), ("created", .int(created)), ("model", .string(model.id)),
                ("choices", .array(choices.enumerated().map { i, c in
                    JSON.objectValue([("index", .int(i)), ("text", .string(c.text)), ("logprobs", .null), ("finish_reason", .string(c.finishReason.rawValue))])
                })),
                ("usage", usage(choices)), ("unmask", extensionObject(u)),
            ])
        case .chat:
            return JSON.objectValue([
                ("id", .string(objectId)), ("object", .string("chat.completion")), ("created", .int(created)), ("model", .string(model.id)),
                ("choices", .array(choices.enumerated().map { i, c in
                    JSON.objectValue([("index", .int(i)),
                                      ("message", JSON.objectValue([("role", .string("assistant")), ("content", .string(c.text))])),
                                      ("logprobs", .null), ("finish_reason", .string(c.finishReason.rawValue))])
                })),
                ("usage", usage(choices)), ("unmask", extensionObject(u)),
            ])
        case .native:
            return JSON.objectValue([
                ("job", .string(job.id)), ("model", .string(model.id)), ("seed", .uint64(r.seed)), ("sampler", .string(r.sampler.description)),
                ("nfe", .int(u.nfe)), ("steps", .int(u.step)),
                ("choices", .array(choices.enumerated().map { i, c in
                    JSON.objectValue([("index", .int(i)), ("text", .string(c.text)),
                                      ("full_text", .string(fullText(finalIds(c)))),
                                      ("ids", .array(c.ids.map { .int($0) })), ("finish_reason", .string(c.finishReason.rawValue))])
                })),
                ("usage", usage(choices)),
            ])
        }
    }

    func finalIds(_ c: Job.Choice) -> [Int] {
        var all = job.canvas
        all.replaceSubrange(job.span, with: c.ids)
        return all
    }

    func fullText(_ ids: [Int]) -> String {
        String(decoding: ids.flatMap { tokenBytes($0) }, as: UTF8.self)
    }

    func tokenBytes(_ id: Int) -> [UInt8] {
        let t = model.tokenizer
        guard id >= 0 && id < t.vocabSize && id != model.maskId else { return [] }
        return t.tokenBytes[id]
    }

    /// A frame: the canvas span as token texts (null where masked), whole or as the
    /// positions revealed since the client's last frame.
    func frame(_ canvases: [[Int]], last: [[Int]]?, u: Job.Update) -> JSONValue {
        let mask = model.maskId
        var perChoice: [JSONValue] = []
        for (i, s) in canvases.enumerated() where r.frames != .none {
            let span = Array(s[job.span])
            if r.frames == .full {
                perChoice.append(JSON.objectValue([("index", .int(i)), ("tokens", .array(span.map { $0 == mask ? .null : .string(text(of: $0)) }))]))
            } else {
                let before = last.map { Array($0[i][job.span]) } ?? Array(job.canvas[job.span])
                var revealed: [JSONValue] = []
                for p in span.indices where span[p] != before[p] {
                    revealed.append(.array([.int(p), span[p] == mask ? .null : .string(text(of: span[p]))]))
                }
                perChoice.append(JSON.objectValue([("index", .int(i)), ("revealed", .array(revealed))]))
            }
        }
        return JSON.objectValue([("step", .int(u.step)), ("nfe", .int(u.nfe)), ("masked", .int(u.masked)),
                                 ("ms_per_call", u.secondsPerCall.map { .double(($0 * 1e5).rounded() / 100) } ?? .null),
                                 ("choices", .array(perChoice))])
    }

    func text(of id: Int) -> String { String(decoding: tokenBytes(id), as: UTF8.self) }

    /// Streams the job. OpenAI routes: `data:` chunks, the finish chunk, the usage chunk
    /// if asked, `data: [DONE]`. Native: `start`, `step`, `commit`, `done` / `error` events.
    /// A write that throws (the client went away) cancels the job and ends the stream.
    public func stream(write: (String) async throws -> Void) async {
        do {
            try await streamThrowing(write: write)
        } catch {
            job.cancel(.disconnected)
        }
    }

    func streamThrowing(write: (String) async throws -> Void) async throws {
        var lastWrite = monotonicSeconds()
        func send(_ s: String) async throws { try await write(s); lastWrite = monotonicSeconds() }
        var lastCanvases: [[Int]]?
        if r.route == .native {
            try await send(ServerSentEvents.event("start", JSON.objectValue([
                ("job", .string(job.id)), ("model", .string(model.id)), ("seed", .uint64(r.seed)), ("sampler", .string(r.sampler.description)),
                ("samples", .int(r.n)), ("span", .array([.int(job.span.lowerBound), .int(job.span.upperBound)])),
                ("masked", .int(job.canvas.filter { $0 == model.maskId }.count * r.n)),
                ("prompt", .string(fullText(Array(job.canvas[..<job.span.lowerBound])))),
            ]).serialized()))
        }
        if r.route == .chat {
            // OpenAI's first chat chunk: the role, with empty content, for every choice.
            let choices: [JSONValue] = (0..<r.n).map { i in
                JSON.objectValue([("index", .int(i)), ("delta", JSON.objectValue([("role", .string("assistant")), ("content", .string(""))])),
                                  ("logprobs", .null), ("finish_reason", .null)])
            }
            try await send(ServerSentEvents.event(nil, JSON.objectValue([
                ("id", .string(objectId)), ("object", .string(chunkObject)), ("created", .int(created)), ("model", .string(model.id)),
                ("choices", .array(choices)),
            ]).serialized()))
        }
        var iterator = job.bell.makeAsyncIterator()
        var over = false
        while !over {
            if await iterator.next() == nil { over = true }
            let u = job.drain()
            // Frames first, then the text they made final.
            if r.frames != .none || r.route == .native, let c = u.canvases, u.outcome == nil || r.route == .native {
                let f = frame(c, last: lastCanvases, u: u)
                lastCanvases = c
                if r.route == .native {
                    try await send(ServerSentEvents.event("step", f.serialized()))
                } else {
                    try await send(ServerSentEvents.event(nil, chunk(deltas: [String](repeating: "", count: r.n), frame: f).serialized()))
                }
            }
            if u.text.contains(where: { !$0.isEmpty }) {
                if r.route == .native {
                    for (i, t) in u.text.enumerated() where !t.isEmpty {
                        try await send(ServerSentEvents.event("commit", JSON.objectValue([("index", .int(i)), ("text", .string(t)), ("step", .int(u.step))]).serialized()))
                    }
                } else {
                    let chunkValue = chunk(deltas: u.text, frame: nil)
                    try await send(ServerSentEvents.event(nil, chunkValue.serialized()))
                }
            }
            if let outcome = u.outcome {
                try await finish(outcome, u, send: send)
                return
            }
            if monotonicSeconds() - lastWrite >= keepAlive { try await send(ServerSentEvents.comment("keep-alive")) }
        }
        let u = job.drain()
        try await finish(u.outcome ?? .failed("the job ended without an outcome"), u, send: send)
    }

    func finish(_ outcome: Job.Outcome, _ u: Job.Update, send: (String) async throws -> Void) async throws {
        switch outcome {
        case .finished(let choices):
            if r.route == .native {
                try await send(ServerSentEvents.event("done", finalBody(choices, update: u).serialized()))
                return
            }
            for (i, c) in choices.enumerated() {
                try await send(ServerSentEvents.event(nil, chunkFinish(index: i, reason: c.finishReason.rawValue).serialized()))
            }
            if r.includeUsage {
                try await send(ServerSentEvents.event(nil, JSON.objectValue([
                    ("id", .string(objectId)), ("object", .string(chunkObject)), ("created", .int(created)), ("model", .string(model.id)),
                    ("choices", .array([])), ("usage", usage(choices)),
                ]).serialized()))
            }
            try await send(ServerSentEvents.event(nil, "[DONE]"))
        case .cancelled(let reason):
            let body = Self.cancelled(reason).1
            try await send(ServerSentEvents.event(r.route == .native ? "error" : nil, body))
            if r.route != .native { try await send(ServerSentEvents.event(nil, "[DONE]")) }
        case .failed(let message):
            let body = APIError(status: 500, type: "server_error", message).json
            try await send(ServerSentEvents.event(r.route == .native ? "error" : nil, body))
            if r.route != .native { try await send(ServerSentEvents.event(nil, "[DONE]")) }
        }
    }

    var chunkObject: String { r.route == .chat ? "chat.completion.chunk" : "text_completion" }

    /// One chunk with a delta per choice (choices with an empty delta are left out unless
    /// the chunk carries a frame, which then has every choice with an empty delta).
    func chunk(deltas: [String], frame: JSONValue?) -> JSONValue {
        var choices: [JSONValue] = []
        for (i, d) in deltas.enumerated() where !d.isEmpty || frame != nil {
            if r.route == .chat {
                var delta: [(String, JSONValue)] = []
                if !d.isEmpty { delta.append(("content", .string(d))) }
                choices.append(JSON.objectValue([("index", .int(i)), ("delta", JSON.objectValue(delta)), ("logprobs", .null), ("finish_reason", .null)]))
            } else {
                choices.append(JSON.objectValue([("index", .int(i)), ("text", .string(d)), ("logprobs", .null), ("finish_reason", .null)]))
            }
        }
        var fields: [(String, JSONValue)] = [("id", .string(objectId)), ("object", .string(chunkObject)), ("created", .int(created)),
                                             ("model", .string(model.id)), ("choices", .array(choices))]
        if let frame { fields.append(("unmask", frame)) }
        return JSON.objectValue(fields)
    }

    func chunkFinish(index: Int, reason: String) -> JSONValue {
        let choice: JSONValue
        if r.route == .chat {
            choice = JSON.objectValue([("index", .int(index)), ("delta", JSON.objectValue([])), ("logprobs", .null), ("finish_reason", .string(reason))])
        } else {
            choice = JSON.objectValue([("index", .int(index)), ("text", .string("")), ("logprobs", .null), ("finish_reason", .string(reason))])
        }
        return JSON.objectValue([("id", .string(objectId)), ("object", .string(chunkObject)), ("created", .int(created)),
                                 ("model", .string(model.id)), ("choices", .array([choice]))])
    }
}
