import XCTest
import UnmaskSupport
import UnmaskDiffusion
@testable import UnmaskServing

/// Request validation: each bad field is a 400 that names it (`param`), OpenAI fields
/// without meaning here are refused unless neutral, unknown fields are refused, and the
/// diffusion settings reach the sampler spec.
final class GenerationRequestTests: XCTestCase {
    func decode(_ json: String, _ route: GenerationRequest.Route = .completions) throws -> GenerationRequest {
        try GenerationRequest.decode(Array(json.utf8), route: route, newSeed: { 42 })
    }

    func assertRefused(_ json: String, _ route: GenerationRequest.Route = .completions, param: String?, code: String? = nil,
                       file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try decode(json, route)
            XCTFail("accepted: \(json)", file: file, line: line)
        } catch let e as APIError {
            XCTAssertEqual(e.status, 400, json, file: file, line: line)
            XCTAssertEqual(e.param, param, "\(json): \(e.message)", file: file, line: line)
            if let code { XCTAssertEqual(e.code, code, json, file: file, line: line) }
            // The error body is OpenAI's error object, valid JSON.
            let body = try? JSON.parse(e.json)
            XCTAssertEqual(body?["error"]?["param"]?.stringValue, param, file: file, line: line)
        } catch {
            XCTFail("\(json): not an APIError: \(error)", file: file, line: line)
        }
    }

    func testAGoodRequestDecodes() throws {
        let r = try decode(#"{"model":"denoiser","prompt":"It is","max_tokens":12,"temperature":0.7,"top_p":0.8,"top_k":40,"seed":7,"stop":["\n\n"],"n":2,"stream":true,"stream_options":{"include_usage":true},"unmask":{"sampler":"confidence","tokens_per_call":2,"threshold":0.9,"frames":"diff","timeout":30},"user":"me","presence_penalty":0,"logit_bias":{},"echo":false,"best_of":1}"#)
        XCTAssertEqual(r.settings.prompt, "It is")
        XCTAssertEqual(r.maxTokens, 12)
        XCTAssertEqual(r.sampler.kind, .confidence)
        XCTAssertEqual(r.sampler.k, 2)
        XCTAssertEqual(r.sampler.threshold, 0.9)
        XCTAssertEqual(r.sampler.draw.temperature, 0.7)
        XCTAssertEqual(r.sampler.draw.topP, 0.8)
        XCTAssertEqual(r.sampler.draw.topK, 40)
        XCTAssertEqual(r.seed, 7)
        XCTAssertTrue(r.seedGiven)
        XCTAssertEqual(r.stops, ["\n\n"])
        XCTAssertEqual(r.n, 2)
        XCTAssertTrue(r.stream && r.includeUsage)
        XCTAssertEqual(r.frames, .diff)
        XCTAssertEqual(r.timeout, 30)
    }

    func testDefaults() throws {
        let r = try decode(#"{"prompt":"x"}"#)
        XCTAssertEqual(r.maxTokens, 16)
        XCTAssertEqual(r.sampler, try SamplerSpec.parse(GenerationRequest.defaultSampler))
        XCTAssertEqual(r.seed, 42)
        XCTAssertFalse(r.seedGiven)
        XCTAssertFalse(r.stream)
        // temperature 0 is greedy: the top token (ties drawn evenly), not a division by zero.
        XCTAssertEqual(try decode(#"{"prompt":"x","temperature":0}"#).sampler.draw.topK, 1)
        // The native route streams frames by default.
        let n = try decode(#"{"prompt":"x","length":4}"#, .native)
        XCTAssertTrue(n.stream)
        XCTAssertEqual(n.frames, .diff)
        XCTAssertEqual(n.maxTokens, 4)
    }

    func testEachBadFieldIsNamed() {
        assertRefused(#"{"prompt":3}"#, param: "prompt")
        assertRefused(#"{"prompt":["a","b"]}"#, param: "prompt")
        assertRefused(#"{"prompt":"x","max_tokens":-1}"#, param: "max_tokens")
        assertRefused(#"{"prompt":"x","max_tokens":0}"#, param: "max_tokens")
        assertRefused(#"{"prompt":"x","max_tokens":"9"}"#, param: "max_tokens")
        assertRefused(#"{"prompt":"x","temperature":3}"#, param: "temperature")
        assertRefused(#"{"prompt":"x","temperature":-0.1}"#, param: "temperature")
        assertRefused(#"{"prompt":"x","top_p":0}"#, param: "top_p")
        assertRefused(#"{"prompt":"x","top_p":1.5}"#, param: "top_p")
        assertRefused(#"{"prompt":"x","top_k":0}"#, param: "top_k")
        assertRefused(#"{"prompt":"x","seed":-1}"#, param: "seed")
        assertRefused(#"{"prompt":"x","seed":1.5}"#, param: "seed")
        assertRefused(#"{"prompt":"x","n":0}"#, param: "n")
        assertRefused(#"{"prompt":"x","n":17}"#, param: "n")
        assertRefused(#"{"prompt":"x","stop":["a","b","c","d","e"]}"#, param: "stop")
        assertRefused(#"{"prompt":"x","stop":[""]}"#, param: "stop")
        assertRefused(#"{"prompt":"x","stop":7}"#, param: "stop")
        assertRefused(#"{"prompt":"x","stream":"yes"}"#, param: "stream")
        assertRefused(#"{"prompt":"x","stream_options":{"include_usage":true}}"#, param: "stream_options")
        assertRefused(#"{"prompt":"x","stream":true,"stream_options":{"other":1}}"#, param: "stream_options.other")
        assertRefused(#"{"prompt":"x","unmask":{"sampler":"nope"}}"#, param: "unmask.sampler")
        assertRefused(#"{"prompt":"x","unmask":{"steps":10}}"#, param: "unmask.steps")  // fhs has no steps
        assertRefused(#"{"prompt":"x","unmask":{"sampler":"ddpd"}}"#, param: "unmask.sampler")
        assertRefused(#"{"prompt":"x","unmask":{"frames":"all"}}"#, param: "unmask.frames")
        assertRefused(#"{"prompt":"x","unmask":{"frames":"diff"}}"#, param: "unmask.frames")  // needs stream
        assertRefused(#"{"prompt":"x","unmask":{"threshold":0}}"#, param: "unmask.threshold")
        assertRefused(#"{"prompt":"x","unmask":{"window":0}}"#, param: "unmask.window")
        assertRefused(#"{"prompt":"x","unmask":{"block":0}}"#, param: "unmask.block")  // the old spelling, still read
        assertRefused(#"{"prompt":"x","unmask":{"block":4,"window":4}}"#, param: "unmask.window")
        assertRefused(#"{"prompt":"x","unmask":{"timeout":0}}"#, param: "unmask.timeout")
        assertRefused(#"{"prompt":"x","unmask":{"colour":"red"}}"#, param: "unmask.colour", code: "unknown_parameter")
        assertRefused(#"{"prompt":"x","unmask":3}"#, param: "unmask")
        assertRefused(#"{"prompt":"x","model":5}"#, param: "model")
        assertRefused(#"{"prompt":"x","suffix":5}"#, param: "suffix")
    }

    func testMeaninglessOpenAIFieldsAreRefusedUnlessNeutral() {
        for (field, value) in [("logit_bias", #"{"50256":-100}"#), ("presence_penalty", "0.5"), ("frequency_penalty", "1"),
                               ("logprobs", "3"), ("echo", "true"), ("best_of", "3"),
                               ("tools", #"[{"type":"function"}]"#), ("tool_choice", #""auto""#), ("response_format", #"{"type":"json_object"}"#)] {
            let route: GenerationRequest.Route = ["tools", "tool_choice", "response_format"].contains(field) ? .chat : .completions
            let base = route == .chat ? #""messages":[{"role":"user","content":"hi"}]"# : #""prompt":"x""#
            assertRefused("{\(base),\"\(field)\":\(value)}", route, param: field, code: "unsupported_parameter")
        }
    }

    func testUnknownAndRepeatedFields() {
        assertRefused(#"{"prompt":"x","temprature":1}"#, param: "temprature", code: "unknown_parameter")
        assertRefused(#"{"prompt":"x","prompt":"y"}"#, param: "prompt")
        assertRefused(#"[1,2]"#, param: nil)
        assertRefused(#"{"prompt":"x""#, param: nil, code: "invalid_json")
        assertRefused("", param: nil, code: "invalid_json")
    }

    func testChatMessages() throws {
        let r = try decode(#"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_completion_tokens":8}"#, .chat)
        XCTAssertEqual(r.messages, [.init(role: "system", content: "Be brief."), .init(role: "user", content: "Hi")])
        XCTAssertEqual(r.maxTokens, 8)
        assertRefused(#"{"messages":[]}"#, .chat, param: "messages")
        assertRefused(#"{"prompt":"x"}"#, .chat, param: "messages")
        assertRefused(#"{"messages":[{"role":"tool","content":"x"}]}"#, .chat, param: "messages[0].role")
        assertRefused(#"{"messages":[{"role":"user"}]}"#, .chat, param: "messages[0].content")
        assertRefused(#"{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#, .chat, param: "messages[0].content")
        assertRefused(#"{"messages":[{"role":"user","content":"x","extra":1}]}"#, .chat, param: "messages[0].extra")
    }

    func testNativeRoute() throws {
        let r = try decode(#"{"template":"It is [___ x4] that","sampler":"fhs:k=2","seed":3,"samples":2,"stream":false}"#, .native)
        XCTAssertEqual(r.settings.template, "It is [___ x4] that")
        XCTAssertEqual(r.sampler.k, 2)
        XCTAssertEqual(r.n, 2)
        XCTAssertEqual(r.frames, .none)
        assertRefused(#"{"template":"a ___","prompt":"b"}"#, .native, param: "template")
        assertRefused(#"{"template":"a ___","length":3}"#, .native, param: "length")
        assertRefused(#"{"prompt":"a","max_tokens":3}"#, .native, param: "max_tokens", code: "unknown_parameter")
    }
}
