import XCTest
@testable import UnmaskTokenizer
import UnmaskSupport

/// The repository root, found from this file's path (tests must not depend on the cwd).
let repositoryRoot: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/UnmaskTokenizerTests/TestSupport.swift
    return parts.joined(separator: "/")
}()
let fixturesDirectory = repositoryRoot + "/Tests/UnmaskTokenizerTests/Fixtures"

let bundledTokenizer: Tokenizer = {
    try! Tokenizer.load(path: repositoryRoot + "/vocab/tokenizer.json")
}()

/// SplitMix64: a tiny seeded generator so property tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct GoldenCase {
    let text: String
    let ids: [Int]
}

func loadGoldens(_ name: String) throws -> [GoldenCase] {
    let bytes = try Files.read(fixturesDirectory + "/" + name)
    return try bytes.split(separator: 0x0A).map { line in
        let v = try JSON.parse(line)
        return GoldenCase(text: v["text"]!.stringValue!, ids: v["ids"]!.arrayValue!.map { $0.intValue! })
    }
}
