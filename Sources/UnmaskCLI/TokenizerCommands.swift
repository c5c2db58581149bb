import ArgumentParser
import Unmask
#if canImport(Glibc)
import Glibc
#endif

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Read text on stdin and print its token ids on one line.",
        discussion: """
        Text is NFC-normalised, then encoded. Special-token text such as <|mask|> is encoded \
        as plain characters. Input that is not valid UTF-8 is refused (the error names the \
        offset of the first bad byte) unless --raw-bytes is given, which encodes the bytes \
        exactly as they are, without normalisation.
        """
    )

    @OptionGroup var vocabOptions: VocabOptions
    @Flag(help: "Print {\"ids\":[...],\"tokens\":[...]} instead of the ids alone.")
    var json = false
    @Flag(name: .customLong("raw-bytes"), help: "Encode stdin byte for byte, even if it is not valid UTF-8.")
    var rawBytes = false

    func run() throws {
        let tokenizer = try vocabOptions.load()
        let input = try Files.readStandardInput()
        let ids: [Int]
        if rawBytes {
            ids = tokenizer.encodeRawBytes(input)
        } else {
            do {
                ids = try tokenizer.encode(utf8: input)
            } catch let e as UnmaskError {
                throw UnmaskError("standard input: \(e.message); pass --raw-bytes to encode the bytes as they are")
            }
        }
        if json {
            print(JSON.line([
                ("ids", .array(ids.map { .int($0) })),
                ("tokens", .array(ids.map { .string(tokenizer.tokenString($0)) })),
            ]))
        } else {
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}

struct DetokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detokenize",
        abstract: "Read token ids (separated by spaces, commas or newlines) on stdin and print the text.",
        discussion: "The bytes are written as they are; a sequence cut inside a character is not repaired."
    )

    @OptionGroup var vocabOptions: VocabOptions

    func run() throws {
        let tokenizer = try vocabOptions.load()
        let input = try Files.readStandardInput()
        var ids: [Int] = []
        for field in input.split(whereSeparator: { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D || $0 == UInt8(ascii: ",") }) {
            let text = String(decoding: field, as: UTF8.self)
            guard let id = Int(text) else {
                throw UnmaskError("standard input: \"\(text.prefix(40))\" is not a token id")
            }
            guard id >= 0 && id < tokenizer.vocabSize else {
                throw UnmaskError("token id \(id) is outside the vocabulary (0..<\(tokenizer.vocabSize))")
            }
            ids.append(id)
        }
        var bytes = try tokenizer.decode(ids)
        bytes.append(0x0A)
        bytes.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, $0.count, stdout) }
    }
}

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train a byte-level BPE tokenizer.",
        subcommands: [TokenizerTrainCommand.self]
    )
}

struct TokenizerTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a byte-level BPE vocabulary and write it as a Hugging Face tokenizer.json.",
        discussion: """
        Ids 0-255 are the bytes; merges follow in the order learned; <|endoftext|> and \
        <|mask|> take the last two ids. Among equally frequent pairs the one with the \
        smaller left id, then smaller right id, is merged first, so training is deterministic.
        """
    )

    @Option(name: .customLong("vocab-size"), parsing: .unconditional, help: "Total vocabulary size, including 256 byte tokens and 2 specials (258...1048576).")
    var vocabSize: Int
    @Option(help: "Where to write tokenizer.json.")
    var out: String
    @Flag(help: "Undo hard wrapping first (join the lines of each paragraph), as `unmask train` does.")
    var reflow = false
    @Argument(help: "UTF-8 text files to train on.")
    var corpus: [String]

    func validate() throws {
        if corpus.isEmpty { throw ValidationError("give at least one corpus file") }
        if vocabSize < 258 || vocabSize > 1 << 20 { throw ValidationError("--vocab-size must be in 258...1048576 (256 bytes + 2 specials at least)") }
    }

    func run() throws {
        for path in corpus where Files.sameFile(path, out) {
            throw UnmaskError("--out \(out) is the corpus file \(path): training would overwrite its own input")
        }
        try Files.checkWritableFile(out, what: "--out")
        let start = monotonicSeconds()
        var texts: [[UInt8]] = []
        var total = 0
        for path in corpus {
            var bytes = try TextPipeline.readUTF8(path)
            if reflow { bytes = Reflow.paragraphs(bytes) }
            total += bytes.count
            texts.append(bytes)
        }
        if total == 0 { throw UnmaskError("the corpus is empty") }
        let tokenizer = try BPETrainer(vocabSize: vocabSize).train(texts: texts)
        try tokenizer.write(to: out)
        let seconds = monotonicSeconds() - start
        print("wrote \(out): \(tokenizer.vocabSize) tokens (\(tokenizer.merges.count) merges) from \(total) bytes in \(fixed(seconds, 1)) s")
    }
}
