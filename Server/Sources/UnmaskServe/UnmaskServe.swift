import ArgumentParser
import Foundation
import Unmask
import UnmaskHTTP

/// `unmask-serve`: one model behind the OpenAI-compatible routes, the native streaming
/// route and the live page.
@main
struct UnmaskServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unmask-serve",
        abstract: "Serve a denoiser over HTTP: OpenAI-compatible completions and chat, the native streaming route, a live page.",
        discussion: """
        Routes: GET / (the live page), GET /health, GET /v1/models, POST /v1/completions, \
        POST /v1/chat/completions (models with a chat template), POST /unmask/v1/generate \
        (server-sent events: start, step, commit, done, error), GET /unmask/v1/status, \
        DELETE /unmask/v1/jobs/{id}, GET /metrics (with --metrics). docs/serving.md has the \
        request fields and examples with curl and the openai client.
        """
    )

    @Option(help: "Denoiser model directory (default: models/denoiser); a Hugging Face folder works too.") var model: String?
    @Option(help: "Tokenizer file (default: the model folder's, else the bundled vocab/tokenizer.json).") var vocab: String?
    @Option(help: "Address to bind (default 127.0.0.1: this machine only).") var host = "127.0.0.1"
    @Option(parsing: .unconditional, help: "Port (0 picks a free one; the line 'listening on …' names it).") var port = 8080
    @Option(help: "Require 'Authorization: Bearer KEY' on every route but / and /health.") var apiKey: String?
    @Flag(help: "Serve GET /metrics (Prometheus text).") var metrics = false
    @Option(parsing: .unconditional, help: "Requests generating at once (their network calls are shared).") var maxRunning = 4
    @Option(parsing: .unconditional, help: "Requests waiting; one more gets 503 with Retry-After.") var maxQueued = 16
    @Option(parsing: .unconditional, help: "Largest request body in bytes (over it: 413).") var maxBody = 1 << 20
    @Option(parsing: .unconditional, help: "Threads for matrix products, 1...64.") var threads = 2

    func validate() throws {
        if !(0...65535).contains(port) { throw ValidationError("--port must be in 0...65535") }
        if !(1...64).contains(maxRunning) { throw ValidationError("--max-running must be in 1...64") }
        if !(0...4096).contains(maxQueued) { throw ValidationError("--max-queued must be in 0...4096") }
        if !(1024...(64 << 20)).contains(maxBody) { throw ValidationError("--max-body must be in 1024...67108864") }
        if !(1...64).contains(threads) { throw ValidationError("--threads must be in 1...64") }
        if let apiKey, apiKey.isEmpty { throw ValidationError("--api-key must not be empty") }
    }

    func run() async throws {
        // The server listens at once and answers 503 "loading" until the model is open
        // (a large folder takes a while); a model that fails to open ends the process.
        let state = ServerState()
        let (model, vocab, threads, maxRunning, maxQueued) = (self.model, self.vocab, self.threads, self.maxRunning, self.maxQueued)
        let load: @Sendable () -> Void = {
            do {
                let set = try ModelSet.open(ModelSet.Sources(denoiser: model, tokenizer: vocab), denoiser: .required,
                                            matmul: MatMul(backend: .unmask, threads: threads))
                let directory = model ?? Files.locateResource("models/denoiser") ?? "models/denoiser"
                state.scheduler = Scheduler(model: try ServedModel(set: set, directory: directory), maxRunning: maxRunning, maxQueued: maxQueued)
                print("model loaded: \(directory)")
                fflush(stdout)
            } catch {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                Foundation.exit(1)
            }
        }
        var settings = ServerSettings()
        settings.host = host
        settings.port = port
        settings.apiKey = apiKey
        settings.metrics = metrics
        settings.maxBody = maxBody
        let host = self.host
        try await ServerApplication.run(state: state, settings: settings) { port in
            print("listening on http://\(host):\(port)")
            fflush(stdout)
            Thread { load() }.start()
        }
    }
}
