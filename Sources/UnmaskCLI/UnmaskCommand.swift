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
}

/// A tokenizer and the name to use for it in messages.
struct LoadedTokenizer {
    let tokenizer: Tokenizer
    let name: String
}

/// `--vocab FILE`, shared by every command that tokenizes.
struct VocabOptions: ParsableArguments {
    @Option(help: "Tokenizer file (Hugging Face tokenizer.json). Default: the bundled vocab/tokenizer.json.")
    var vocab: String?

    func load() throws -> Tokenizer { try loadNamed().tokenizer }

    /// The tokenizer for `model` (a denoiser directory, if one was given): --vocab, else the
    /// model's own tokenizer.json when it is a Hugging Face folder, else the bundled one. A
    /// Hugging Face denoiser's tokenizer without a mask token (GPT-2's, for MDLM) gets
    /// `<|mask|>` appended after its ids, MDLM's rule; the model's config is then checked
    /// against it like any other pairing.
    func loadNamed(forModel model: String?) throws -> LoadedTokenizer {
        guard let model, HuggingFaceFolder.isHuggingFace(directory: model) else { return try loadNamed() }
        let path = vocab ?? model + "/tokenizer.json"
        guard Files.exists(path) else {
            throw UnmaskError("\(model) has no tokenizer.json: pass the tokenizer it was trained with (--vocab FILE)")
        }
        var tokenizer = try Tokenizer.load(path: path, requireMask: false, endOfText: HuggingFaceFolder.declaredEndOfTextId(directory: model))
        if let mask = HuggingFaceFolder.declaredMaskId(directory: model), mask < tokenizer.vocabSize {
            do {
                tokenizer = try tokenizer.withMask(id: mask)
            } catch let e as UnmaskError {
                throw UnmaskError("\(path) and \(model)/config.json: \(e.message)")
            }
        } else if tokenizer.maskId == Tokenizer.noMask {
            tokenizer = try tokenizer.appendingMaskToken()
        }
        return LoadedTokenizer(tokenizer: tokenizer, name: path)
    }

    func loadNamed() throws -> LoadedTokenizer {
        if let vocab { return LoadedTokenizer(tokenizer: try Tokenizer.load(path: vocab), name: vocab) }
        guard let path = Files.locateResource("vocab/tokenizer.json") else {
            throw UnmaskError("cannot find vocab/tokenizer.json (run from the repository, or pass --vocab FILE)")
        }
        return LoadedTokenizer(tokenizer: try Tokenizer.load(path: path), name: path)
    }
}
