import FuzzSupport
import Unmask

/// The server's request decoder (`GenerationRequest.decode`) on arbitrary bodies, for each
/// route: an APIError that is a 400 with a well-formed error object, or a request whose
/// every field is inside its documented range. The first byte picks the route.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzServerRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.bytes(data, size)
    guard let first = bytes.first else { return 0 }
    let routes: [GenerationRequest.Route] = [.completions, .chat, .native]
    let route = routes[Int(first) % 3]
    do {
        let r = try GenerationRequest.decode(Array(bytes.dropFirst()), route: route, newSeed: { 7 })
        guard (0...GenerationCanvas.maxTokens).contains(r.maxTokens), (1...GenerationRequest.maxChoices).contains(r.n),
              r.stops.count <= GenerationRequest.maxStops, r.stops.allSatisfy({ !$0.isEmpty }),
              r.frames == .none || r.stream, !r.includeUsage || r.stream,
              r.sampler.draw.temperature > 0, r.sampler.kind != .ddpd else {
            Fuzz.fail("an accepted request is out of range: \(r)")
        }
        if route == .chat && r.messages.isEmpty { Fuzz.fail("a chat request without messages was accepted") }
        if let t = r.timeout, !(t > 0 && t <= 86_400) { Fuzz.fail("timeout \(t) accepted") }
        // Its sampler prints to a spec that parses back to it.
        guard (try? SamplerSpec.parse(r.sampler.description)) == r.sampler else { Fuzz.fail("sampler \(r.sampler) does not round-trip") }
    } catch let e as APIError {
        guard e.status == 400, e.type == "invalid_request_error", !e.message.isEmpty else { Fuzz.fail("unexpected error \(e)") }
        guard let body = try? JSON.parse(e.json), body["error"]?["message"]?.stringValue == e.message else {
            Fuzz.fail("the error object does not parse back: \(e.json)")
        }
    } catch {
        Fuzz.fail("not an APIError: \(error)")
    }
    return 0
}
