import ArgumentParser
import XCTest
@testable import UnmaskCLI

/// Every `.build/release/unmask …` command the documentation shows must still parse: a
/// renamed or removed flag, a subcommand that moved, or a `…` pasted into a command fails
/// here, with the file and line, instead of failing for the first reader who copies it.
///
/// The commands are taken from the shell blocks of README.md, docs/*.md and the model
/// cards: ``` fences that are untagged or sh/bash/shell/console, `$ ` lines anywhere, and
/// the inline code of table rows, where the docs put a measurement's command beside its
/// result (inline code in prose often names a command without its arguments, so it is not
/// read). Each is cut to the `unmask`
/// invocation itself (no environment prefix, `/usr/bin/time -v`, pipes, redirections or
/// comments), its placeholders are replaced by real paths, and the arguments are parsed
/// in-process by the command's own parser, `validate()` included.
final class DocCommandTests: XCTestCase {

    /// The placeholders the docs write in commands, and what the test puts in their place.
    /// A word equal to `word` is replaced by `by` (several words when `by` has several);
    /// a word starting with `prefix` is replaced whole by `by`'s first word. Real paths are
    /// used where a command's validation could look at them.
    static let placeholders: [(match: Placeholder, by: [String])] = [
        (.word("DIR"), ["models/denoiser"]),
        (.word("DREAM_DIR"), ["models/denoiser"]),
        (.word("CORPUS_DIR"), ["Benchmarks/heldout"]),
        (.word("FILE"), ["Benchmarks/heldout/persuasion.txt"]),
        (.word("SAMPLES.jsonl"), ["Benchmarks/results/compare.jsonl"]),
        (.word("NAME"), ["gpt2"]),
        (.word("B"), ["8"]),
        (.word("$N"), ["Benchmarks/heldout/persuasion.txt", "Benchmarks/heldout/persuasion.txt"]),
        (.prefix("$C/"), ["Benchmarks/heldout/persuasion.txt"]),
        (.word("$i/4"), ["0/4"]),
        (.prefix("path/to/"), ["Benchmarks/heldout/persuasion.txt"]),
    ]

    enum Placeholder {
        case word(String)
        case prefix(String)
    }

    /// One documented invocation of `unmask`: where it is, and its arguments (after the
    /// executable, before substitution).
    struct DocumentedCommand {
        let file: String
        let line: Int
        let arguments: [String]
        var location: String { "\(file):\(line)" }
    }

    // MARK: - The checks

    func testEveryDocumentedCommandParses() throws {
        let commands = try DocCommandTests.documentedCommands()
        XCTAssertGreaterThanOrEqual(commands.count, 30, "the extractor found too few commands: is it still reading the docs?")
        for command in commands {
            if let problem = DocCommandTests.problem(with: command) {
                XCTFail("\(command.location): .build/release/unmask \(command.arguments.joined(separator: " ")): \(problem)")
            }
        }
    }

    /// The same function must reject what is wrong, or the test above could never fail.
    func testTheCheckRejectsBadCommands() throws {
        let markdown = """
            ```sh
            .build/release/unmask generate --no-such-flag
            .build/release/unmask generate --length 10 … --seed 2
            .build/release/unmask frobnicate
            .build/release/unmask generate --samples 0
            ```
            """
        let commands = DocCommandTests.extract(markdown: markdown, file: "bad.md")
        XCTAssertEqual(commands.map(\.line), [2, 3, 4, 5])
        for command in commands {
            XCTAssertNotNil(DocCommandTests.problem(with: command), command.arguments.joined(separator: " "))
        }
        let unknown = DocCommandTests.problem(with: commands[0]) ?? ""
        XCTAssertTrue(unknown.contains("no-such-flag"), unknown)
        XCTAssertTrue((DocCommandTests.problem(with: commands[1]) ?? "").contains("…"))
    }

    /// Continuations are joined; prefixes, comments, pipes and redirections are cut off;
    /// quotes group words; only shell blocks, `$ ` lines and table rows count, not inline code
    /// in prose or Swift.
    func testTheExtractorReadsShellTheWayAShellWould() throws {
        let markdown = """
            Prose naming `.build/release/unmask convert` inline.
            $ .build/release/unmask info --model models/denoiser
            | `OPENBLAS_CORETYPE=SkylakeX .build/release/unmask bench gemm` | a measured result |

            ```swift
            let notShell = ".build/release/unmask generate --no-such-flag"
            ```

            ```
            $ .build/release/unmask generate "It is a truth" --seed 1   # a comment
            text the command printed
            ```

            ```sh
            OPENBLAS_CORETYPE=SkylakeX /usr/bin/time -v .build/release/unmask bench gemm --threads 1,2 \\
              --context 64 > out.txt
            echo "1 2 3" | .build/release/unmask detokenize && echo done; .build/release/unmask info
            .build/release/unmask train --objective ar --corpus $N --out 'a b' --steps 1
            ```
            """
        let commands = DocCommandTests.extract(markdown: markdown, file: "ok.md")
        XCTAssertEqual(commands.map(\.line), [2, 3, 10, 15, 17, 17, 18])
        XCTAssertEqual(commands.map(\.arguments), [
            ["info", "--model", "models/denoiser"],
            ["bench", "gemm"],
            ["generate", "It is a truth", "--seed", "1"],
            ["bench", "gemm", "--threads", "1,2", "--context", "64"],
            ["detokenize"],
            ["info"],
            ["train", "--objective", "ar", "--corpus", "$N", "--out", "a b", "--steps", "1"],
        ])
        for command in commands {
            XCTAssertNil(DocCommandTests.problem(with: command), command.location)
        }
        XCTAssertEqual(DocCommandTests.substituted(commands[6].arguments).filter { $0.hasSuffix("persuasion.txt") }.count, 2)
    }

    // MARK: - Reading the docs

    /// README.md, docs/*.md and models/*/README.md, relative to the repository.
    static func documentFiles() throws -> [String] {
        let manager = FileManager.default
        var files = ["README.md"]
        let docs = cliRepositoryRoot + "/docs"
        if manager.fileExists(atPath: docs) {
            files += try manager.contentsOfDirectory(atPath: docs).filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
        }
        for model in try manager.contentsOfDirectory(atPath: cliRepositoryRoot + "/models").sorted()
        where manager.fileExists(atPath: cliRepositoryRoot + "/models/\(model)/README.md") {
            files.append("models/\(model)/README.md")
        }
        return files
    }

    static func documentedCommands() throws -> [DocumentedCommand] {
        try documentFiles().flatMap { file in
            extract(markdown: try String(contentsOfFile: cliRepositoryRoot + "/" + file, encoding: .utf8), file: file)
        }
    }

    /// The `unmask` invocations of one markdown file, with the line each starts on.
    static func extract(markdown: String, file: String) -> [DocumentedCommand] {
        let lines = markdown.components(separatedBy: "\n")
        var commands: [DocumentedCommand] = []
        var fence: Bool? = nil  // inside a ``` block: is it a shell block?
        var index = 0
        while index < lines.count {
            let start = index
            let trimmed = lines[index].trimmingCharacters(in: .whitespaces)
            index += 1
            if trimmed.hasPrefix("```") {
                if fence == nil {
                    let tag = trimmed.dropFirst(3).trimmingCharacters(in: .whitespaces).lowercased()
                    fence = ["", "sh", "bash", "shell", "console"].contains(tag)
                } else {
                    fence = nil
                }
                continue
            }
            if fence == nil && trimmed.hasPrefix("|") {
                for span in inlineCodeSpans(trimmed) where span.contains(executable) {
                    commands += invocations(in: span).map { DocumentedCommand(file: file, line: start + 1, arguments: $0) }
                }
                continue
            }
            // Outside code blocks only `$ ` lines are commands; inside, only shell blocks hold them.
            guard fence ?? trimmed.hasPrefix("$ ") else { continue }
            var logical = lines[start]
            while logical.hasSuffix("\\") && index < lines.count {
                logical = String(logical.dropLast()) + " " + lines[index]
                index += 1
            }
            guard logical.contains(executable) else { continue }
            commands += invocations(in: logical).map { DocumentedCommand(file: file, line: start + 1, arguments: $0) }
        }
        return commands
    }

    static let executable = ".build/release/unmask"

    /// The text between single backticks on one line.
    static func inlineCodeSpans(_ line: String) -> [String] {
        let parts = line.components(separatedBy: "`")
        return stride(from: 1, to: parts.count - 1, by: 2).map { parts[$0] }
    }

    /// Shell words and the operators that end a command, as a shell would split them:
    /// quotes group, `#` at the start of a word begins a comment, and `|`, `>`, `<`, `&`
    /// and `;` (also `&&`, `||`, `>>`) end the current command.
    enum Token: Equatable {
        case word(String)
        case end
    }

    static func tokens(_ text: String) -> [Token] {
        var result: [Token] = []
        var word = ""
        var inWord = false
        var quote: Character? = nil
        func finish() {
            if inWord { result.append(.word(word)) }
            word = ""
            inWord = false
        }
        for c in text {
            if let q = quote {
                if c == q { quote = nil } else { word.append(c) }
                continue
            }
            switch c {
            case "'", "\"":
                quote = c
                inWord = true
            case " ", "\t":
                finish()
            case "#" where !inWord:
                finish()
                return result
            case "|", ">", "<", "&", ";":
                finish()
                if result.last != .end { result.append(.end) }
            default:
                word.append(c)
                inWord = true
            }
        }
        finish()
        return result
    }

    /// The arguments after each `.build/release/unmask` word, up to the end of its command.
    static func invocations(in text: String) -> [[String]] {
        var found: [[String]] = []
        var current: [String]? = nil
        for token in tokens(text) {
            switch token {
            case .word(let w) where w.hasSuffix(executable):
                if let c = current { found.append(c) }
                current = []
            case .word(let w):
                current?.append(w)
            case .end:
                if let c = current { found.append(c) }
                current = nil
            }
        }
        if let c = current { found.append(c) }
        return found
    }

    // MARK: - Parsing

    static func substituted(_ arguments: [String]) -> [String] {
        arguments.flatMap { argument -> [String] in
            for (match, replacement) in placeholders {
                switch match {
                case .word(let w) where argument == w: return replacement
                case .prefix(let p) where argument.hasPrefix(p): return [replacement[0]]
                default: continue
                }
            }
            return [argument]
        }
    }

    /// Why `command` would not run as documented, or nil when the parser accepts it.
    static func problem(with command: DocumentedCommand) -> String? {
        if command.arguments.contains(where: { $0.contains("…") }) {
            return "a literal … in a command: write the arguments out"
        }
        do {
            _ = try UnmaskCommand.parseAsRoot(substituted(command.arguments))
            return nil
        } catch {
            if UnmaskCommand.exitCode(for: error) == .success { return nil }  // --help, --version
            return UnmaskCommand.message(for: error)
        }
    }
}
