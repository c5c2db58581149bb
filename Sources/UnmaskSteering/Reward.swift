import Foundation
import UnmaskSupport
import UnmaskTokenizer

/// A reward r(x) on finished sequences, what `tilt`, `bon`, `smc` and `svdd` steer by.
/// Implement it in your own package (`Examples/Sources/CustomReward` does) and pass it to
/// `SteeringEngine`.
///
/// The contract:
/// - `scores(sequences:generated:)` returns one finite number (or −∞: "forbidden") per
///   sequence, each depending on that sequence alone. Sequences are complete: every
///   masked position has been filled (for `smc` and `svdd`, with the denoiser's argmax
///   x̂₀). `generated` lists the positions that were masked in the canvas; a reward may
///   look at the rest (the prompt) too.
/// - `tokenScores`, when non-nil, says the reward is additive: r(x) = Σ_{i ∈ generated}
///   s(x_i) with s = tokenScores (one entry per token id; −∞ bans the token). `tilt`
///   needs it, because its exact proposal tilts each token by e^{λ s(v)}.
public protocol Reward {
    var name: String { get }
    var tokenScores: [Double]? { get }
    func scores(sequences: [[Int]], generated: [Int]) throws -> [Double]
}

extension Reward {
    public var tokenScores: [Double]? { nil }
}

/// The additive reward of a per-token table: r(x) = Σ_{i ∈ generated} s(x_i).
public struct TokenScoreReward: Reward {
    public let name: String
    public let table: [Double]
    public var tokenScores: [Double]? { table }

    public init(name: String, table: [Double]) {
        self.name = name
        self.table = table
    }

    public func scores(sequences: [[Int]], generated: [Int]) throws -> [Double] {
        sequences.map { x in generated.reduce(0.0) { $0 + table[x[$1]] } }
    }
}

/// Word lists: each token whose text is an included word (case-insensitive, surrounding
/// spaces and punctuation ignored) scores that word's weight; each token that is an
/// excluded word scores −∞, a hard constraint. Only whole-token words can be listed: a
/// word the tokenizer splits into several tokens is refused (banning a token sequence
/// exactly would need a different proposal).
public enum WordListReward {
    public static func make(include: [(word: String, weight: Double)], exclude: [String], tokenizer: Tokenizer) throws -> TokenScoreReward {
        func key(_ s: String) -> String {
            s.lowercased().trimmingCharacters(in: .whitespacesAndNewlines.union(.punctuationCharacters))
        }
        var byWord: [String: [Int]] = [:]
        for id in 0..<tokenizer.vocabSize where !tokenizer.isSpecialToken(id) && id != tokenizer.maskId {
            let text = String(decoding: tokenizer.tokenBytes[id], as: UTF8.self)
            let k = key(text)
            if !k.isEmpty { byWord[k, default: []].append(id) }
        }
        var table = [Double](repeating: 0, count: tokenizer.vocabSize)
        func ids(_ word: String) throws -> [Int] {
            let k = key(word)
            guard !k.isEmpty else { throw UnmaskError("reward words: \"\(word)\" is not a word") }
            guard let found = byWord[k] else {
                let pieces = tokenizer.encode(" " + word).count
                throw UnmaskError("reward words: \"\(word)\" is not one token of this vocabulary (it encodes to \(pieces) tokens); only single-token words can be listed")
            }
            return found
        }
        for (word, weight) in include {
            guard weight.isFinite else { throw UnmaskError("reward words: the weight of \"\(word)\" must be finite") }
            for id in try ids(word) { table[id] += weight }
        }
        for word in exclude { for id in try ids(word) { table[id] = -.infinity } }
        let parts = (include.isEmpty ? [] : ["include=" + include.map { "\($0.word)*\($0.weight)" }.joined(separator: ",")])
            + (exclude.isEmpty ? [] : ["exclude=" + exclude.joined(separator: ",")])
        return TokenScoreReward(name: "words:" + parts.joined(separator: ":"), table: table)
    }
}

/// Your own program as the reward: it is started once per scoring call, receives one
/// JSON object per line on stdin, `{"text": "...", "ids": [...]}`, and must print one
/// line per input, `{"reward": number}`, in order, then exit 0. A program that exits
/// non-zero, prints something else, or runs past `timeout` seconds is an error (and is
/// killed); the error quotes the last line it wrote to stderr.
public final class ExternalCommandReward: Reward {
    public let command: [String]
    public let timeout: Double
    let tokenizer: Tokenizer
    public var name: String { "command:" + command.joined(separator: " ") }

    public init(command: [String], timeout: Double, tokenizer: Tokenizer) throws {
        guard let first = command.first, !first.isEmpty else { throw UnmaskError("reward command: no program given") }
        guard timeout > 0, timeout.isFinite else { throw UnmaskError("reward command: the timeout must be a positive number of seconds") }
        self.command = command
        self.timeout = timeout
        self.tokenizer = tokenizer
    }

    public func scores(sequences: [[Int]], generated: [Int]) throws -> [Double] {
        var input = ""
        for x in sequences {
            let text = (try? tokenizer.decodeText(x.filter { $0 != tokenizer.maskId })) ?? ""
            input += JSON.line([("text", .string(text)), ("ids", .array(x.map { .int($0) }))]) + "\n"
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do { try process.run() } catch {
            throw UnmaskError("reward command: cannot start \(command[0]): \(error.localizedDescription)")
        }
        // Reading and writing on their own threads: a program that prints before it has
        // read everything must not deadlock against a full pipe.
        let output = ResultBox(), messages = ResultBox()
        for (box, pipe) in [(output, stdout), (messages, stderr)] {
            Thread {
                box.data = pipe.fileHandleForReading.readDataToEndOfFile()
                box.done.signal()
            }.start()
        }
        func why() -> String {
            _ = messages.done.wait(timeout: .now() + 1)
            let last = String(decoding: messages.data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
            return last.isEmpty ? "" : " (its last message: \(last.prefix(200)))"
        }
        // A program that exits without reading its input must give us EPIPE, not kill us
        // with SIGPIPE. (Standard output still ends quietly on a closed pipe:
        // `StandardOutput.writeLine` raises SIGPIPE itself on EPIPE.)
        signal(SIGPIPE, SIG_IGN)
        let payload = Data(input.utf8)
        let writer = Thread {
            try? stdin.fileHandleForWriting.write(contentsOf: payload)
            try? stdin.fileHandleForWriting.close()
        }
        writer.start()
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            _ = finished.wait(timeout: .now() + 1)
            kill(process.processIdentifier, SIGKILL)
            throw UnmaskError("reward command: \(command[0]) did not finish within \(timeout) s (killed)")
        }
        _ = output.done.wait(timeout: .now() + 2)
        guard process.terminationStatus == 0 else {
            throw UnmaskError("reward command: \(command[0]) exited with status \(process.terminationStatus)\(why())")
        }
        let lines = String(decoding: output.data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.count == sequences.count else {
            throw UnmaskError("reward command: \(command[0]) printed \(lines.count) lines for \(sequences.count) inputs (one {\"reward\": number} line each)")
        }
        return try lines.enumerated().map { i, line in
            guard let value = try? JSON.parse(Array(line.utf8)), let r = value["reward"]?.doubleValue, r.isFinite || r == -.infinity else {
                throw UnmaskError("reward command: line \(i + 1) of \(command[0])'s output is not {\"reward\": number}: \(line.prefix(80))")
            }
            return r
        }
    }

    final class ResultBox: @unchecked Sendable {
        var data = Data()
        let done = DispatchSemaphore(value: 0)
    }
}
