import XCTest
import Foundation

/// `unmask-serve` on loopback (port 0) with the bundled denoiser, driven over real sockets.
/// Each fault is bounded in count and time.
final class LiveServerTests: XCTestCase {
    /// Events of an SSE body: (event name or nil, data).
    func events(_ body: String) -> [(name: String?, data: String)] {
        body.components(separatedBy: "\n\n").compactMap { block in
            var name: String?, data: [String] = []
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data.append(String(line.dropFirst(6))) }
            }
            return data.isEmpty ? nil : (name, data.joined(separator: "\n"))
        }
    }

    func object(_ s: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(s.utf8))) as? [String: Any] ?? [:]
    }

    /// The text of a streamed OpenAI completion (choice 0).
    func streamedText(_ body: String) -> String {
        events(body).filter { $0.data != "[DONE]" }.map { e -> String in
            let choices = object(e.data)["choices"] as? [[String: Any]] ?? []
            return choices.map { ($0["text"] as? String) ?? (($0["delta"] as? [String: Any])?["content"] as? String) ?? "" }.joined()
        }.joined()
    }

    func wholeText(_ server: ServerProcess, _ body: String) throws -> String {
        let (status, v) = try server.json("POST", "/v1/completions", body: body)
        XCTAssertEqual(status, 200)
        return ((v["choices"] as? [[String: Any]])?.first?["text"] as? String) ?? "<none>"
    }

    func testRoutesErrorsAndLimits() throws {
        let s = try ServerProcess(["--max-body", "2048"])
        defer { s.stop() }
        XCTAssertEqual(try s.call("GET", "/health").body, #"{"status":"ok"}"#)
        let (ms, models) = try s.json("GET", "/v1/models")
        XCTAssertEqual(ms, 200)
        let m = (models["data"] as? [[String: Any]])?.first
        XCTAssertEqual(m?["id"] as? String, "denoiser")
        XCTAssertEqual((m?["unmask"] as? [String: Any])?["context_length"] as? Int, 128)
        XCTAssertEqual((m?["unmask"] as? [String: Any])?["mask_id"] as? Int, 4095)
        // Wrong paths and methods, oversized and malformed bodies: JSON errors with 4xx.
        for (method, path, body, status) in [("GET", "/nope", nil, 404), ("PUT", "/v1/completions", nil, 405),
                                             ("GET", "/v1/completions", nil, 405), ("POST", "/health", "{}", 405),
                                             ("GET", "/metrics", nil, 404),  // without --metrics
                                             ("POST", "/v1/completions", String(repeating: "x", count: 4000), 413),
                                             ("POST", "/v1/completions", "{\"prompt\":", 400),
                                             ("POST", "/v1/completions", #"{"prompt":"x","logit_bias":{"1":5}}"#, 400)] as [(String, String, String?, Int)] {
            let r = try s.call(method, path, body: body)
            XCTAssertEqual(r.status, status, "\(method) \(path)")
            XCTAssertTrue(r.headers["content-type"]?.hasPrefix("application/json") ?? false, "\(method) \(path)")
            XCTAssertNotNil(object(r.body)["error"], "\(method) \(path): \(r.body)")
        }
        // A malformed request line gets an error and the server keeps serving.
        let raw = try LoopbackClient(port: s.port)
        raw.send("NONSENSE\r\n\r\n")
        _ = raw.response()
        XCTAssertEqual(try s.call("GET", "/health").status, 200)
        // The live page is served from the binary.
        let page = try s.call("GET", "/")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.body.contains("<title>Unmask: live denoising</title>"))
    }

    func testStreamedTextIsTheWholeTextAloneAndUnderLoad() throws {
        let s = try ServerProcess()
        defer { s.stop() }
        let base = #""prompt":"It is a truth universally","max_tokens":40,"seed":11"#
        let whole = try wholeText(s, "{\(base)}")
        for extra in ["", #","unmask":{"frames":"diff"}"#, #","unmask":{"frames":"full"}"#, #","stream_options":{"include_usage":true}"#] {
            let r = try s.call("POST", "/v1/completions", body: "{\(base),\"stream\":true\(extra)}")
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.headers["content-type"], "text/event-stream")
            XCTAssertEqual(streamedText(r.body), whole, extra)
            XCTAssertEqual(events(r.body).last?.data, "[DONE]")
            if extra.contains("usage") {
                let usage = events(r.body).dropLast().last.map { object($0.data)["usage"] as? [String: Any] }
                XCTAssertEqual(usage??["completion_tokens"] as? Int, 40)
            }
        }
        // Beside a concurrent request (its calls shared with this one's), the same text.
        let other = try LoopbackClient(port: s.port)
        other.request("POST", "/v1/completions", body: #"{"prompt":"She","max_tokens":60,"seed":3,"stream":true}"#)
        let streamed = try s.call("POST", "/v1/completions", body: "{\(base),\"stream\":true}")
        XCTAssertEqual(streamedText(streamed.body), whole)
        XCTAssertEqual(other.response().status, 200)
    }

    func testTheNativeRouteStreamsFramesBeforeDone() throws {
        let s = try ServerProcess()
        defer { s.stop() }
        let r = try s.call("POST", "/unmask/v1/generate", body: #"{"prompt":"It is a truth universally","length":40,"seed":11}"#)
        let names = events(r.body).map { $0.name ?? "" }
        XCTAssertEqual(names.first, "start")
        XCTAssertEqual(names.last, "done")
        let firstStep = names.firstIndex(of: "step")!
        XCTAssertLessThan(firstStep, names.count - 1)
        XCTAssertGreaterThan(names.filter { $0 == "step" }.count, 10)
        // Masked positions fall step by step.
        let masked = events(r.body).filter { $0.name == "step" }.compactMap { object($0.data)["masked"] as? Int }
        XCTAssertEqual(masked, masked.sorted(by: >))
        let done = object(events(r.body).last!.data)
        let text = (done["choices"] as? [[String: Any]])?.first?["text"] as? String
        XCTAssertEqual(text, try wholeText(s, #"{"prompt":"It is a truth universally","max_tokens":40,"seed":11}"#))
        // The commit events concatenate to it too.
        let commits = events(r.body).filter { $0.name == "commit" }.compactMap { object($0.data)["text"] as? String }.joined()
        XCTAssertEqual(commits, text)
    }

    func testDisconnectsStopTheirJobs() throws {
        let s = try ServerProcess(["--metrics", "--max-running", "1"])
        defer { s.stop() }
        // Mid-stream: read the first frame, hang up; the job stops within one call.
        let c = try LoopbackClient(port: s.port)
        c.request("POST", "/unmask/v1/generate", body: #"{"prompt":"A","length":120,"seed":1}"#)
        _ = c.read(until: "event: step")
        close(c.fd)
        try waitFor("the cancelled job to leave", seconds: 5) { try s.metric("unmask_cancellations_total{reason=\"disconnected\"}") == 1 }
        try waitFor("no job", seconds: 5) { try s.metric("unmask_jobs_running") == 0 }
        // While queued: one long job runs, a second waits; its client hangs up.
        let long = try LoopbackClient(port: s.port)
        long.request("POST", "/v1/completions", body: #"{"prompt":"A","max_tokens":120,"seed":2,"stream":true}"#)
        _ = long.read(until: "data:")
        let queued = try LoopbackClient(port: s.port)
        queued.request("POST", "/v1/completions", body: #"{"prompt":"B","max_tokens":8,"seed":2}"#)
        try waitFor("the second job to queue", seconds: 5) { try s.metric("unmask_queue_length") == 1 }
        close(queued.fd)
        try waitFor("the queued job to be cancelled", seconds: 5) { try s.metric("unmask_cancellations_total{reason=\"disconnected\"}") == 2 }
        XCTAssertEqual(try s.metric("unmask_queue_length"), 0)
        close(long.fd)
        try waitFor("the long job to stop", seconds: 5) { try s.metric("unmask_jobs_running") == 0 }
        XCTAssertEqual(try s.metric("unmask_cancellations_total{reason=\"disconnected\"}"), 3)
        // The next request starts at once.
        XCTAssertEqual(try s.call("POST", "/v1/completions", body: #"{"prompt":"C","max_tokens":4}"#).status, 200)
    }

    func testCapacityPlusKGetExactlyK503s() throws {
        let s = try ServerProcess(["--max-running", "1", "--max-queued", "2"])
        defer { s.stop() }
        let clients = try (0..<7).map { i -> LoopbackClient in
            let c = try LoopbackClient(port: s.port)
            c.request("POST", "/v1/completions", body: #"{"prompt":"x","max_tokens":100,"seed":\#(i)}"#)
            return c
        }
        let responses = clients.map { $0.response() }
        XCTAssertEqual(responses.filter { $0.status == 503 }.count, 4)
        XCTAssertEqual(responses.filter { $0.status == 200 }.count, 3)
        for r in responses where r.status == 503 {
            XCTAssertEqual(r.headers["retry-after"], "1")
            XCTAssertEqual((object(r.body)["error"] as? [String: Any])?["code"] as? String, "queue_full")
        }
    }

    /// Every family Unmask loads serves: the bundled model and the Hugging Face fixtures
    /// (LLaDA, Dream, MDLM), each with /health 503 `loading` or 200 and nothing else
    /// before its model is open, and a completion.
    func testEveryFamilyServes() throws {
        let fixtures = ServerProcess.repository + "/Tests/UnmaskModelTests/Fixtures/hf"
        for (dir, family) in [(ServerProcess.repository + "/models/denoiser", "unmask"), (fixtures + "/llada-tiny", "llada"),
                              (fixtures + "/dream-tiny", "dream"), (fixtures + "/mdlm-tiny", "mdlm")] {
            let s = try ServerProcess(model: dir)
            defer { s.stop() }
            XCTAssertTrue(s.healthWhileLoading.allSatisfy { $0 == 503 || $0 == 200 }, "\(s.healthWhileLoading)")
            let (_, models) = try s.json("GET", "/v1/models")
            let m = (models["data"] as? [[String: Any]])?.first
            XCTAssertEqual((m?["unmask"] as? [String: Any])?["family"] as? String, family, dir)
            let (status, v) = try s.json("POST", "/v1/completions", body: #"{"prompt":"It is","max_tokens":8,"seed":1}"#)
            XCTAssertEqual(status, 200, "\(dir): \(v)")
            XCTAssertEqual(((v["usage"] as? [String: Any])?["completion_tokens"] as? Int).map { $0 <= 8 }, true, dir)
        }
    }

    func testAModelThatDoesNotOpenEndsTheProcessWithOneLine() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ServerProcess.executable)
        p.arguments = ["--port", "0", "--model", "/nonexistent/model"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 1)
        XCTAssertTrue(text.hasPrefix("error: "), text)
        XCTAssertEqual(text.split(separator: "\n").count, 1, text)
    }

    func testAPIKey() throws {
        let s = try ServerProcess(["--api-key", "sekrit"])
        defer { s.stop() }
        XCTAssertEqual(try s.call("GET", "/v1/models").status, 401)
        XCTAssertEqual(try s.call("GET", "/v1/models", headers: ["Authorization": "Bearer wrong"]).status, 401)
        XCTAssertEqual(try s.call("GET", "/v1/models", headers: ["Authorization": "Bearer sekrit"]).status, 200)
        XCTAssertEqual(try s.call("GET", "/health").status, 200)
    }

    func testSIGTERMEndsOpenStreamsWithAnErrorAndExits() throws {
        let s = try ServerProcess()
        let c = try LoopbackClient(port: s.port)
        c.request("POST", "/unmask/v1/generate", body: #"{"prompt":"A","length":120,"seed":1}"#)
        _ = c.read(until: "event: step")
        let start = Date()
        s.process.terminate()  // SIGTERM
        let rest = c.read(until: "event: error")
        XCTAssertTrue(rest.contains("event: error"), rest.suffix(300).description)
        XCTAssertTrue(rest.contains("shutting_down"))
        s.process.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
    }

    func waitFor(_ what: String, seconds: Double, _ condition: () throws -> Bool) throws {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if try condition() { return }
            usleep(20_000)
        }
        XCTFail("timed out waiting for \(what)")
    }
}
