import XCTest
import UnmaskSupport
import UnmaskTokenizer
import UnmaskKernels
import UnmaskDiffusion
import UnmaskEvaluation
import UnmaskSteering
@testable import UnmaskServing

/// Jobs on the bundled denoiser, in process: the text of a seed is the CLI's (Generation's),
/// the same streamed and not, alone and beside concurrent requests; network calls are
/// shared under load; cancellation stops a job before its next call; a full queue refuses
/// exactly the requests over capacity.
final class SchedulerTests: XCTestCase {
    static let repository: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()

    static let model: ServedModel = {
        let dir = repository + "/models/denoiser"
        let set = try! ModelSet.open(ModelSet.Sources(denoiser: dir, tokenizer: repository + "/vocab/tokenizer.json"), denoiser: .required,
                                     matmul: MatMul(backend: .unmask, threads: 2))
        return try! ServedModel(set: set, directory: dir)
    }()

    /// The bundled block-diffusion model is refused at load, with the reason and the command
    /// that does generate it: shared calls over whole canvases would run it as bidirectional.
    func testBlockCausalModelIsRefused() throws {
        let dir = Self.repository + "/models/block-diffusion"
        let set = try ModelSet.open(ModelSet.Sources(denoiser: dir, tokenizer: Self.repository + "/vocab/tokenizer.json"), denoiser: .required,
                                    matmul: MatMul(backend: .unmask, threads: 1))
        XCTAssertThrowsError(try ServedModel(set: set, directory: dir)) { e in
            XCTAssertTrue("\(e)".contains("block-causal") && "\(e)".contains("unmask generate"), "\(e)")
        }
    }

    func request(_ json: String, _ route: GenerationRequest.Route = .completions) throws -> GenerationRequest {
        try GenerationRequest.decode(Array(json.utf8), route: route, newSeed: { 1 })
    }

    /// What `unmask generate PROMPT --length N --seed S` writes for sample i.
    func reference(prompt: String, length: Int, seed: UInt64, n: Int = 1, sampler: String = GenerationRequest.defaultSampler) throws -> [String] {
        let m = Self.model
        let canvas = try GenerationCanvas.prompt(prompt, length: length, tokenizer: m.tokenizer)
        var texts: [String] = []
        try Generation.run(sampler: try DiffusionSampler(spec: try SamplerSpec.parse(sampler)), denoiser: m.base, canvas: canvas,
                           count: n, batch: n, seed: seed) { _, ids, _, _ in
            texts.append(try m.tokenizer.decodeText(Array(ids[m.tokenizer.encode(prompt).count...])))
        }
        return texts
    }

    func streamed(_ job: Job, model: ServedModel) async -> [String] {
        var chunks: [String] = []
        await ResponseStream(job: job, model: model, created: 0).stream { chunks.append($0) }
        return chunks
    }

    /// The text of OpenAI completion chunks, per choice.
    func texts(ofChunks chunks: [String], n: Int) throws -> [String] {
        var out = [String](repeating: "", count: n)
        for c in chunks where c.hasPrefix("data: ") && !c.hasPrefix("data: [DONE]") {
            let v = try JSON.parse(String(c.dropFirst(6)).trimmingSuffixNewlines())
            for ch in v["choices"]?.arrayValue ?? [] { out[ch["index"]!.intValue!] += ch["text"]?.stringValue ?? "" }
        }
        return out
    }

    func testStreamedAndWholeTextsAreTheCLIsForTheSeed() async throws {
        let s = Scheduler(model: Self.model)
        let expected = try reference(prompt: "It is a truth", length: 24, seed: 5, n: 2)
        let whole = try s.submit(try request(#"{"prompt":"It is a truth","max_tokens":24,"seed":5,"n":2}"#))
        let (status, body) = await ResponseStream(job: whole, model: Self.model, created: 0).complete()
        XCTAssertEqual(status, 200)
        let v = try JSON.parse(body)
        XCTAssertEqual(v["choices"]?.arrayValue?.map { $0["text"]!.stringValue! }, expected)
        XCTAssertEqual(v["usage"]?["prompt_tokens"]?.intValue, 4)
        XCTAssertEqual(v["usage"]?["completion_tokens"]?.intValue, 48)
        for frames in ["none", "diff", "full"] {
            let job = try s.submit(try request(#"{"prompt":"It is a truth","max_tokens":24,"seed":5,"n":2,"stream":true,"unmask":{"frames":"\#(frames)"}}"#))
            let chunks = await streamed(job, model: Self.model)
            XCTAssertEqual(try texts(ofChunks: chunks, n: 2), expected, "frames \(frames)")
            XCTAssertEqual(chunks.last, "data: [DONE]\n\n")
            // Text arrives in pieces as it becomes final, not only at the end.
            XCTAssertGreaterThan(chunks.count, 4)
            if frames != "none" {
                let firstFrame = chunks.firstIndex { $0.contains("\"unmask\":{\"step\"") }
                let firstFinish = chunks.firstIndex { $0.contains("\"finish_reason\":\"length\"") }
                XCTAssertNotNil(firstFrame)
                XCTAssertLessThan(firstFrame!, firstFinish!)
            }
        }
    }

    func testConcurrentRequestsShareCallsAndKeepTheirText() async throws {
        let s = Scheduler(model: Self.model, maxRunning: 4, gather: 0.05)
        let expected = try (0..<4).map { try reference(prompt: "She said", length: 32, seed: UInt64(10 + $0))[0] }
        let jobs = try (0..<4).map { i in try s.submit(try request(#"{"prompt":"She said","max_tokens":32,"seed":\#(10 + i)}"#)) }
        var got: [String] = []
        for j in jobs {
            let (_, body) = await ResponseStream(job: j, model: Self.model, created: 0).complete()
            got.append(try JSON.parse(body)["choices"]!.arrayValue![0]["text"]!.stringValue!)
        }
        XCTAssertEqual(got, expected)
        let m = s.metrics()
        XCTAssertEqual(m.completed, 4)
        // 4 × 32 sequence evaluations; shared, they took fewer calls than that.
        XCTAssertEqual(m.calls.sequences, 128)
        print("4 concurrent requests of 32 calls each: \(m.calls.calls) shared calls")
        XCTAssertLessThan(m.calls.calls, 128)
    }

    func testCancellationStopsBeforeTheNextCallAndFreesTheQueue() async throws {
        let s = Scheduler(model: Self.model, maxRunning: 1, maxQueued: 1)
        let long = try s.submit(try request(#"{"prompt":"A","max_tokens":120,"seed":1}"#))
        let queued = try s.submit(try request(#"{"prompt":"B","max_tokens":4,"seed":1}"#))
        // One running, one queued: the next is refused with 503.
        XCTAssertThrowsError(try s.submit(try request(#"{"prompt":"C","max_tokens":4}"#))) { e in
            XCTAssertEqual((e as? APIError)?.status, 503)
            XCTAssertEqual((e as? APIError)?.code, "queue_full")
        }
        s.cancel(queued, reason: .disconnected)
        XCTAssertEqual(s.status().count, 1)
        let (qs, _) = await ResponseStream(job: queued, model: Self.model, created: 0).complete()
        XCTAssertEqual(qs, 499)
        // Mid-run: wait for a few steps, cancel, and the job stops within one call.
        while long.status(queued: false).step < 3 { try await Task.sleep(nanoseconds: 2_000_000) }
        XCTAssertTrue(s.cancel(id: long.id, reason: .deleted))
        let atCancel = long.status(queued: false).nfe
        let (ls, _) = await ResponseStream(job: long, model: Self.model, created: 0).complete()
        XCTAssertEqual(ls, 499)
        XCTAssertLessThanOrEqual(long.status(queued: false).nfe, atCancel + 1)
        XCTAssertEqual(s.metrics().cancellations[.disconnected], 1)
        XCTAssertEqual(s.metrics().cancellations[.deleted], 1)
        // The next request starts at once.
        let next = try s.submit(try request(#"{"prompt":"D","max_tokens":4,"seed":2}"#))
        let (ns, _) = await ResponseStream(job: next, model: Self.model, created: 0).complete()
        XCTAssertEqual(ns, 200)
    }

    func testCapacityPlusKRequestsGetExactlyK503s() throws {
        let s = Scheduler(model: Self.model, maxRunning: 2, maxQueued: 3)
        var accepted: [Job] = [], refused = 0
        for i in 0..<(5 + 4) {
            do { accepted.append(try s.submit(try request(#"{"prompt":"x","max_tokens":100,"seed":\#(i)}"#))) }
            catch let e as APIError where e.status == 503 { refused += 1 }
        }
        XCTAssertEqual(accepted.count, 5)
        XCTAssertEqual(refused, 4)
        for j in accepted { s.cancel(j, reason: .deleted) }
        s.shutdown(within: 5)
        XCTAssertEqual(s.metrics().running, 0)
    }

    /// The native route steers as `generate --steer` does: the same engine, the same text for
    /// (seed, sample index); and it refuses what a server must not do (run a command, open a
    /// file a request names).
    func testSteeredRequestsAreTheEnginesSamples() async throws {
        let s = Scheduler(model: Self.model)
        let m = Self.model
        let job = try s.submit(try request(#"{"prompt":"It was","length":16,"seed":3,"samples":2,"steer":"bon:n=4","reward":"words:include=Emma,Harriet","stream":false}"#, .native))
        let (status, body) = await ResponseStream(job: job, model: m, created: 0).complete()
        XCTAssertEqual(status, 200, body)
        let texts = try JSON.parse(body)["choices"]!.arrayValue!.map { $0["full_text"]!.stringValue! }
        let reward = try RewardSpec.make("words:include=Emma,Harriet", RewardSpec.Resources(
            tokenizer: m.tokenizer, className: nil, classifierPath: { _ in "" }, evaluator: { throw UnmaskError("none") }, timeout: 1))
        let engine = try SteeringEngine(spec: try SteeringSpec.parse("bon:n=4"), draw: try SamplerSpec.parse("fhs").draw, reward: reward)
        let canvas = try GenerationCanvas.prompt("It was", length: 16, tokenizer: m.tokenizer)
        let expected = try (0..<2).map { try m.tokenizer.decodeText(try engine.sample(canvas: canvas, denoiser: m.base, seed: 3, index: $0).sequence) }
        XCTAssertEqual(texts, expected)
        func refused(_ json: String) -> APIError? {
            do { _ = try s.submit(try request(json, .native)); return nil } catch { return error as? APIError }
        }
        XCTAssertEqual(refused(#"{"prompt":"a","length":4,"steer":"bon:n=2","reward":"command:/bin/sh -c id"}"#)?.param, "reward")
        XCTAssertEqual(refused(#"{"prompt":"a","length":4,"steer":"bon:n=2","reward":"classifier:model=/etc"}"#)?.param, "reward")
        XCTAssertEqual(refused(#"{"prompt":"a","length":4,"steer":"bon:n=2","reward":"evaluator"}"#)?.param, "reward")
        XCTAssertEqual(refused(#"{"prompt":"a","length":4,"steer":"nope"}"#)?.param, "steer")
        XCTAssertEqual(refused(#"{"prompt":"a","length":4,"steer":"cbg:gamma=1"}"#)?.param, "class")
        XCTAssertEqual(refused(#"{"prompt":"a","length":4,"steer":"cfg:gamma=2","sampler":"confidence"}"#)?.param, "sampler")
        XCTAssertEqual(refused(#"{"prompt":"a","length":4,"steer":"bon:n=2","frames":"diff"}"#)?.param, "frames")
        XCTAssertEqual(refused(#"{"prompt":"a","length":200,"steer":"bon:n=2","reward":"words:include=Emma"}"#)?.code, "context_length_exceeded")
        XCTAssertEqual(refused(#"{"prompt":"a","length":4,"reward":"words:include=Emma"}"#)?.param, "reward")
        // cbg with the bundled classifier and a class runs.
        let cbg = try s.submit(try request(#"{"prompt":"It was","length":8,"seed":1,"steer":"cbg:gamma=1","class":"emma","stream":false}"#, .native))
        let (cs, cb) = await ResponseStream(job: cbg, model: m, created: 0).complete()
        XCTAssertEqual(cs, 200, cb)
    }

    func testTheModelChecksTheCanvas() throws {
        let s = Scheduler(model: Self.model)
        func refused(_ json: String, _ route: GenerationRequest.Route = .completions) -> APIError? {
            do { _ = try s.submit(try request(json, route)); return nil } catch { return error as? APIError }
        }
        XCTAssertEqual(refused(#"{"prompt":"x","max_tokens":128}"#)?.code, "context_length_exceeded")
        XCTAssertEqual(refused(#"{"model":"gpt-4","prompt":"x"}"#)?.status, 404)
        XCTAssertEqual(refused(#"{"messages":[{"role":"user","content":"hi"}]}"#, .chat)?.code, "no_chat_template")
        XCTAssertEqual(refused(#"{"prompt":[1, 4095]}"#)?.param, "prompt")
        XCTAssertEqual(refused(#"{"prompt":"x","length":4,"class":"emma"}"#, .native)?.param, "class")
        XCTAssertEqual(refused(#"{"template":"no blanks here"}"#, .native)?.param, "template")
    }
}

extension String {
    func trimmingSuffixNewlines() -> String {
        var s = self
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}
