import ArgumentParser
import Unmask

struct UnmaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unmask",
        abstract: "Masked (absorbing-state) discrete diffusion language models on the CPU.",
        version: "0.1.0",
        subcommands: [
            TokenizeCommand.self,
            DetokenizeCommand.self,
            TokenizerCommand.self,
            InfoCommand.self,
            ConvertCommand.self,
            TrainCommand.self,
            EvalCommand.self,
            GenerateCommand.self,
            CompareCommand.self,
            BenchCommand.self,
        ]
    )

    /// For argument errors, a hint on where to read more (the message itself is one line).
    static func usageHintIfArgumentError(_ error: Error) -> String? {
        if error is UnmaskError { return nil }
        return nil
    }
}

/// `--vocab FILE`, shared by every command that tokenizes.
struct VocabOptions: ParsableArguments {
    @Option(name: .long, help: "Tokenizer file (Hugging Face tokenizer.json). Default: the bundled vocab/tokenizer.json.")
    var vocab: String?

    func load() throws -> Tokenizer {
        if let vocab { return try Tokenizer.load(path: vocab) }
        guard let path = Files.locateResource("vocab/tokenizer.json") else {
            throw UnmaskError("cannot find vocab/tokenizer.json (run from the repository, or pass --vocab FILE)")
        }
        return try Tokenizer.load(path: path)
    }
}
