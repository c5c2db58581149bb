import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Unmask

/// The server's settings (`unmask-serve --help` documents each).
public struct ServerSettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var apiKey: String?
    public var metrics = false
    /// Largest request body, bytes.
    public var maxBody = 1 << 20
    /// Seconds a connection may sit idle (slow headers, slow bodies) before it is closed.
    public var idleTimeout = 30
    /// Seconds SIGTERM waits for running jobs to stop.
    public var shutdownGrace = 5.0
    public init() {}
}

/// The model being served, once it is loaded: the server listens from the start, and
/// answers 503 `loading` (an OpenAI error object) until then.
public final class ServerState: @unchecked Sendable {
    private let lock = NSLock()
    private var loaded: Scheduler?
    public init(scheduler: Scheduler? = nil) { loaded = scheduler }
    public var scheduler: Scheduler? {
        get { lock.lock(); defer { lock.unlock() }; return loaded }
        set { lock.lock(); loaded = newValue; lock.unlock() }
    }
}

/// The routes, on a Hummingbird router. Everything that decides (what a request means, what
/// runs, what is streamed) is UnmaskServing's; this file only moves bytes.
public enum ServerApplication {
    /// Every route and its methods: a known path with another method is a 405, any other
    /// path a 404, both as JSON.
    static let routes: [(path: String, methods: [String])] = [
        ("/", ["GET"]), ("/health", ["GET"]), ("/v1/models", ["GET"]), ("/v1/completions", ["POST"]),
        ("/v1/chat/completions", ["POST"]), ("/unmask/v1/generate", ["POST"]), ("/unmask/v1/status", ["GET"]),
        ("/unmask/v1/jobs/{id}", ["DELETE"]), ("/metrics", ["GET"]),
    ]

    public static func router(state: ServerState, settings: ServerSettings) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.middlewares.add(GateMiddleware(settings: settings, state: state))

        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                     body: .init(byteBuffer: ByteBuffer(string: LivePage.html)))
        }
        router.get("/health") { _, _ in
            state.scheduler == nil ? error(.loading) : json(200, #"{"status":"ok"}"#)
        }
        router.get("/v1/models") { _, _ in
            let model = try state.loadedScheduler().model
            return json(200, JSON.objectValue([("object", .string("list")), ("data", .array([model.jsonValue]))]).serialized())
        }
        router.get("/unmask/v1/status") { _, _ in
            let scheduler = try state.loadedScheduler()
            let jobs = scheduler.status().map { s in
                JSON.objectValue([("id", .string(s.id)), ("state", .string(s.state)), ("step", .int(s.step)), ("nfe", .int(s.nfe)),
                                  ("masked", .int(s.masked)), ("seconds", .double(s.seconds)),
                                  ("eta_seconds", s.eta.map { .double($0) } ?? .null)])
            }
            let m = scheduler.metrics()
            return json(200, JSON.objectValue([("running", .int(m.running)), ("queued", .int(m.queued)),
                                               ("max_running", .int(scheduler.maxRunning)), ("max_queued", .int(scheduler.maxQueued)),
                                               ("jobs", .array(jobs))]).serialized())
        }
        router.delete("/unmask/v1/jobs/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard try state.loadedScheduler().cancel(id: id, reason: .deleted) else { return error(.notFound("no running or queued job \(id)")) }
            return json(200, JSON.objectValue([("id", .string(id)), ("cancelled", .bool(true))]).serialized())
        }
        if settings.metrics {
            router.get("/metrics") { _, _ in
                Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                         body: .init(byteBuffer: ByteBuffer(string: MetricsText.render(try state.loadedScheduler()))))
            }
        }
        for (path, route) in [("/v1/completions", GenerationRequest.Route.completions),
                              ("/v1/chat/completions", .chat), ("/unmask/v1/generate", .native)] {
            router.post(RouterPath(path)) { request, context in
                try await generate(request, route: route, scheduler: try state.loadedScheduler(), settings: settings)
            }
        }
        return router
    }

    static func json(_ status: Int, _ body: String, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        headers.append(contentsOf: extra)
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func error(_ e: APIError) -> Response {
        var extra: HTTPFields = [:]
        if e.status == 503 { extra[.retryAfter] = "1" }
        return json(e.status, e.json, headers: extra)
    }

    static func generate(_ request: Request, route: GenerationRequest.Route, scheduler: Scheduler, settings: ServerSettings) async throws -> Response {
        var request = request
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: settings.maxBody) } catch {
            return Self.error(.bodyTooLarge(limit: settings.maxBody))
        }
        let job: Job
        do {
            let r = try GenerationRequest.decode(Array(buffer: body), route: route, newSeed: { UInt64.random(in: 0...UInt64.max) })
            job = try scheduler.submit(r)
        } catch let e as APIError {
            return Self.error(e)
        } catch {
            return Self.error(.invalid(nil, "\(error)"))
        }
        let stream = ResponseStream(job: job, model: scheduler.model, created: Int(Date().timeIntervalSince1970))
        if !job.request.stream {
            // The client going away (inbound closed) cancels the job before its next call.
            let (status, text) = try await request.body.consumeWithInboundCloseHandler { _ in
                await stream.complete()
            } onInboundClosed: {
                scheduler.cancel(job, reason: .disconnected)
            }
            // Watching the inbound side for a hang-up ends the connection with the response:
            // say so, so that keep-alive clients open a new one instead of reusing it.
            return json(status, text, headers: [.connection: "close"])
        }
        let collected = request
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache", .init("X-Accel-Buffering")!: "no",
                                   .connection: "close"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            do {
                try await collected.body.consumeWithInboundCloseHandler { _ in
                    await stream.stream { text in try await writer.write(ByteBuffer(string: text)) }
                } onInboundClosed: {
                    scheduler.cancel(job, reason: .disconnected)
                }
            } catch {
                scheduler.cancel(job, reason: .disconnected)
            }
            if job.cancelledReason == .disconnected { scheduler.cancel(job, reason: .disconnected) }
            try await writer.finish(nil)
        })
    }

    /// Serves `scheduler`'s model until SIGTERM or SIGINT. On either, every job is cancelled
    /// first (open streams end with an error event, within `shutdownGrace` seconds), then
    /// the server stops: a service group shuts its services down in reverse order, so the
    /// job shutdown is listed after the server.
    public static func run(state: ServerState, settings: ServerSettings,
                           onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        // Warnings and errors only on stderr: the one line a failed start prints stays one line.
        var logger = Logger(label: "unmask-serve")
        logger.logLevel = .warning
        let app = Application(
            router: router(state: state, settings: settings),
            server: .http1(configuration: .init(idleTimeout: .seconds(Int64(settings.idleTimeout)))),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "unmask-serve"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? settings.port) },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(
            services: [app, JobShutdown(state: state, grace: settings.shutdownGrace)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: app.logger))
        try await group.run()
    }
}

extension ServerState {
    /// The scheduler, or the 503 a route answers while the model loads.
    func loadedScheduler() throws -> Scheduler {
        guard let s = scheduler else { throw APIError.loading }
        return s
    }
}

/// Ends every job when the service group shuts down (SIGTERM, SIGINT).
struct JobShutdown: Service {
    let state: ServerState
    let grace: Double
    func run() async throws {
        try? await gracefulShutdown()
        state.scheduler?.shutdown(within: grace)
    }
}

/// API key, known paths and methods, and errors as JSON (the router's own are text).
struct GateMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let settings: ServerSettings
    let state: ServerState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let method = request.method.rawValue
        guard let route = ServerApplication.routes.first(where: { Self.matches($0.path, path) }),
              route.path != "/metrics" || settings.metrics else {
            return ServerApplication.error(.notFound("no route \(path)"))
        }
        guard route.methods.contains(method) else {
            return ServerApplication.error(.methodNotAllowed(method, path, allowed: route.methods))
        }
        if let key = settings.apiKey, path != "/health", path != "/" {
            let given = request.headers[.authorization] ?? ""
            guard Self.constantTimeEqual(Array(given.utf8), Array(("Bearer " + key).utf8)) else {
                return ServerApplication.error(.unauthorized)
            }
        }
        do {
            return try await next(request, context)
        } catch let e as APIError {
            return ServerApplication.error(e)
        } catch let e as HTTPError {
            return ServerApplication.error(APIError(status: Int(e.status.code), type: "invalid_request_error", e.body ?? "\(e.status)"))
        }
    }

    static func matches(_ pattern: String, _ path: String) -> Bool {
        let a = pattern.split(separator: "/", omittingEmptySubsequences: false)
        let b = path.split(separator: "/", omittingEmptySubsequences: false)
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
    }

    /// Compares every byte whatever the first difference (no early exit on the key).
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }
}

/// `/metrics` in Prometheus's text format: a handful of counters the scheduler already
/// keeps under its lock, written directly (no metrics backend to configure).
enum MetricsText {
    static func render(_ s: Scheduler) -> String {
        let m = s.metrics()
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ lines: [(String, String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in lines { out += name + labels + " " + value + "\n" }
        }
        metric("unmask_requests_total", "counter", "Requests accepted (queued or started), by route.",
               GenerationRequest.Route.allCases.map { ("{route=\"\($0.rawValue)\"}", "\(m.accepted[$0] ?? 0)") })
        metric("unmask_requests_completed_total", "counter", "Requests generated to the end.", [("", "\(m.completed)")])
        metric("unmask_requests_refused_total", "counter", "Requests refused because the queue was full.", [("", "\(m.refused)")])
        metric("unmask_tokens_generated_total", "counter", "Tokens generated by completed requests.", [("", "\(m.tokens)")])
        metric("unmask_network_calls_total", "counter", "Calls of the denoiser (each shared by the requests in it).", [("", "\(m.calls.calls)")])
        metric("unmask_network_call_sequences_total", "counter", "Sequences evaluated in those calls.", [("", "\(m.calls.sequences)")])
        metric("unmask_network_call_seconds_total", "counter", "Seconds spent in denoiser calls.", [("", JSON.formatDouble(m.calls.seconds))])
        metric("unmask_jobs_running", "gauge", "Jobs generating now.", [("", "\(m.running)")])
        metric("unmask_queue_length", "gauge", "Jobs waiting to start.", [("", "\(m.queued)")])
        metric("unmask_cancellations_total", "counter", "Jobs stopped before their end, by reason.",
               CancelReason.allCases.map { ("{reason=\"\($0.rawValue)\"}", "\(m.cancellations[$0] ?? 0)") })
        return out
    }
}
