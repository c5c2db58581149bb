import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 client over a loopback socket, for the live tests: raw enough to
/// send bad requests, read a stream as it arrives, and hang up mid-stream.
final class LoopbackClient {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(fd); throw NSError(domain: "connect", code: Int(errno)) }
        var tv = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    func request(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        send(head + "\r\n" + (body ?? ""))
    }

    /// Reads what has arrived (blocking for some), nil at end of stream.
    func readSome() -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(buf[..<n]) : nil
    }

    /// Reads until `marker` has arrived (or the stream ends); returns everything so far.
    func read(until marker: String) -> String {
        var all: [UInt8] = []
        while let chunk = readSome() {
            all += chunk
            if String(decoding: all, as: UTF8.self).contains(marker) { break }
        }
        return String(decoding: all, as: UTF8.self)
    }

    /// The whole response: status, headers (lowercased names), body (de-chunked).
    func response() -> (status: Int, headers: [String: String], body: String) {
        var all: [UInt8] = []
        while let chunk = readSome() { all += chunk }
        return Self.parse(all)
    }

    static func parse(_ all: [UInt8]) -> (status: Int, headers: [String: String], body: String) {
        let text = String(decoding: all, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return (0, [:], text) }
        let headLines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let status = Int(headLines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in headLines.dropFirst() {
            if let c = line.firstIndex(of: ":") {
                headers[line[..<c].lowercased()] = line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)
            }
        }
        var body = String(text[split.upperBound...])
        if headers["transfer-encoding"] == "chunked" { body = dechunk(body) }
        return (status, headers, body)
    }

    static func dechunk(_ s: String) -> String {
        var bytes = Array(s.utf8)[...]
        var out: [UInt8] = []
        while let lineEnd = bytes.firstIndex(of: 13) {
            let sizeText = String(decoding: bytes[bytes.startIndex..<lineEnd], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16), size > 0 else { break }
            let start = lineEnd + 2
            guard start + size <= bytes.endIndex else { out += bytes[start...]; break }
            out += bytes[start..<(start + size)]
            bytes = bytes[(start + size + 2)...]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// `unmask-serve` started as a process on port 0, stopped at the end of a test.
final class ServerProcess {
    let process = Process()
    let port: Int
    let output = Pipe()

    static let repository: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(4)
        return parts.joined(separator: "/")
    }()

    /// `UNMASK_SERVE`, else the unmask-serve built beside these tests (the products folder
    /// of whichever scratch path built them), else the package's own build folder.
    static var executable: String {
        if let e = ProcessInfo.processInfo.environment["UNMASK_SERVE"] { return e }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("unmask-serve").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        for config in ["debug", "release"] {
            let p = repository + "/Server/.build/\(config)/unmask-serve"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return repository + "/Server/.build/debug/unmask-serve"
    }

    /// Answers to /health before the model was loaded (503 `loading`, or 200 once it is).
    var healthWhileLoading: [Int] = []

    init(_ arguments: [String] = [], model: String = ServerProcess.repository + "/models/denoiser") throws {
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = ["--port", "0", "--model", model] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: Self.repository)
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first stdout line names the port.
        var line = ""
        let handle = output.fileHandleForReading
        while !line.contains("\n") {
            let d = handle.availableData
            if d.isEmpty { break }
            line += String(decoding: d, as: UTF8.self)
        }
        guard let p = line.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            process.terminate()
            throw NSError(domain: "unmask-serve did not say its port: \(line)", code: 1)
        }
        port = p
        // The server listens before the model is open: wait for it, recording what /health says.
        let end = Date().addingTimeInterval(60)
        while Date() < end {
            let r = try call("GET", "/health")
            healthWhileLoading.append(r.status)
            if r.status == 200 { return }
            guard r.status == 503, r.body.contains("\"loading\"") else { break }
            usleep(5_000)
        }
        process.terminate()
        throw NSError(domain: "unmask-serve did not load its model: /health said \(healthWhileLoading)", code: 1)
    }

    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }

    deinit { stop() }

    func call(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) throws -> (status: Int, headers: [String: String], body: String) {
        let c = try LoopbackClient(port: port)
        c.request(method, path, body: body, headers: headers)
        return c.response()
    }

    func json(_ method: String, _ path: String, body: String? = nil) throws -> (Int, [String: Any]) {
        let r = try call(method, path, body: body)
        let v = (try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [String: Any] ?? [:]
        return (r.status, v)
    }

    /// A metric's value from /metrics.
    func metric(_ name: String) throws -> Double? {
        let r = try call("GET", "/metrics")
        for line in r.body.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }
}
