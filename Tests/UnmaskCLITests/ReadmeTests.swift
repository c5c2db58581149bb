import XCTest

/// The README's library example is the file CI compiles and runs, word for word.
final class ReadmeTests: XCTestCase {
    func testLibraryExampleIsTheCompiledFile() throws {
        let readme = try String(contentsOfFile: cliRepositoryRoot + "/README.md", encoding: .utf8)
        let example = try String(contentsOfFile: cliRepositoryRoot + "/Examples/Sources/CustomSampler/main.swift",
                                 encoding: .utf8)
        XCTAssertTrue(readme.contains("```swift\n" + example + "```"), "README.md does not show Examples/Sources/CustomSampler/main.swift as it is")
    }
}
