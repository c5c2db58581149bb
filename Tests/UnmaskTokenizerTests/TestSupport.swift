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

/// Property tests draw from the library's seeded SplitMix64, so they are reproducible.
typealias SeededGenerator = SplitMix64

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
