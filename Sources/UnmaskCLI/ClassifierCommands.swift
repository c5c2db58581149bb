import ArgumentParser
import Unmask
import UnmaskBenchmarks

/// `unmask classifier train | score`: the "which novel" naive Bayes classifier that
/// steering uses as a reward and for classifier guidance.
struct ClassifierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classifier",
        abstract: "Train and apply the token-count (naive Bayes) classifier used to steer and to score.",
        subcommands: [ClassifierTrainCommand.self, ClassifierScoreCommand.self]
    )
}

struct ClassifierTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a which-file classifier on token windows; report held-out accuracy per class.",
        discussion: """
        Each --corpus file is a class, named after the file (emma.txt is "emma"). Each file \
        is tokenized and split as `train` splits it: the first 19/20 is training text, the \
        last 1/20 held out. Both are cut into windows of --window tokens; --half keeps the \
        even or the odd training windows (two classifiers trained on different halves, one \
        to steer by and one to check the steering with). Accuracy is measured on every \
        held-out window. Writes OUT/classifier.json and OUT/README.md (the card).
        """
    )

    @Option(name: .customLong("corpus"), parsing: .upToNextOption, help: "UTF-8 text files, one class each.") var corpus: [String]
    @Option(help: "Output directory.") var out: String
    @Option(parsing: .unconditional, help: "Tokens per window (8...4096).") var window = 64
    @Option(help: "Training windows to use: all, even or odd.") var half = "all"
    @Option(parsing: .unconditional, help: "Add-alpha smoothing of the token counts (> 0).") var alpha = 1.0
    @OptionGroup var vocabOptions: VocabOptions

    func validate() throws {
        if corpus.count < 2 { throw ValidationError("give at least two --corpus files (one class each)") }
        if !(8...4096).contains(window) { throw ValidationError("--window must be in 8...4096, got \(window)") }
        if !["all", "even", "odd"].contains(half) { throw ValidationError("--half must be all, even or odd, got \(half)") }
        if !(alpha > 0 && alpha.isFinite) { throw ValidationError("--alpha must be a positive number, got \(alpha)") }
    }

    func run() throws {
        let tokenizer = try vocabOptions.load()
        let names = corpus.map(ClassLabels.className(ofCorpusFile:))
        guard Set(names).count == names.count else { throw UnmaskError("two --corpus files have the same name; classes must be distinct") }
        try Files.createDirectory(out)
        var trainWindows: [[[Int]]] = [], heldOut: [[[Int]]] = []
        for path in corpus {
            let ids = try TextPipeline.tokens(ofFile: path, tokenizer: tokenizer).tokens
            let split = try ClassifierWindows(tokens: ids, window: window, half: ClassifierWindows.Half(rawValue: half)!,
                                              heldOutFraction: TrainingData.validationFraction, name: path)
            trainWindows.append(split.training)
            heldOut.append(split.heldOut)
        }
        let ignored = Set(tokenizer.specialTokens.map(\.id)).union([tokenizer.maskId])
        let classifier = try NaiveBayesClassifier.train(classes: names, windows: trainWindows, vocabSize: tokenizer.vocabSize,
                                                        alpha: alpha, ignored: ignored)
        var rows: [String] = []
        var correct = 0, total = 0
        for (c, windows) in heldOut.enumerated() {
            let right = windows.filter { classifier.classify($0) == c }.count
            correct += right
            total += windows.count
            let line = "\(padRight(names[c], 24)) \(padLeft(String(trainWindows[c].count), 8)) \(padLeft(String(windows.count), 9)) \(padLeft(String(format1(100 * Double(right) / Double(windows.count))) + "%", 9))"
            rows.append(line)
        }
        let header = "\(padRight("class", 24)) \(padLeft("train", 8)) \(padLeft("held out", 9)) \(padLeft("accuracy", 9))"
        let overall = "\(padRight("all", 24)) \(padLeft(String(trainWindows.map(\.count).reduce(0, +)), 8)) \(padLeft(String(total), 9)) \(padLeft(format1(100 * Double(correct) / Double(total)) + "%", 9))"
        print("held-out accuracy on windows of \(window) tokens (chance \(format1(100 / Double(names.count)))%):")
        ([header] + rows + [overall]).forEach { print($0) }
        let machine = MachineHeader.current(openBLASCore: OpenBLAS.coreName)
        let command = ".build/release/unmask classifier train --corpus \(corpus.joined(separator: " ")) --out \(out) --window \(window) --half \(half)" + (alpha == 1 ? "" : " --alpha \(alpha)")
        let card = """
        # \(out.split(separator: "/").last.map(String.init) ?? out)

        A multinomial naive Bayes classifier of token counts ("which novel is this window
        from"), trained by `unmask classifier train` in well under a minute. Steering uses it
        as a reward (`--reward classifier:class=emma`) and for classifier guidance (`cbg`).

        Classes: \(names.joined(separator: ", ")). Tokenizer: the bundled vocabulary. Smoothing
        α = \(alpha); uniform prior; special tokens and the mask are not counted. Training
        windows: the \(half == "all" ? "" : half + " ")windows of \(window) tokens of the first 19/20 of
        each file; held out: every window of the last 1/20 (the split `train` uses).

        Command (\(machine.date), commit \(machine.commit)):

            \(command)

        ## Held-out accuracy

        Chance is \(format1(100 / Double(names.count)))%.

        ```
        \(([header] + rows + [overall]).joined(separator: "\n"))
        ```
        """
        try Files.writeAtomically(Array(classifier.serialized().utf8), to: out + "/classifier.json")
        try Files.writeAtomically(Array((card + "\n").utf8), to: out + "/README.md")
        print("wrote \(out)/classifier.json, README.md")
    }

    func format1(_ x: Double) -> String { fixed(x, 1) }
}

struct ClassifierScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Classify samples (`generate --json` lines) or text windows; print the fraction per class.",
        discussion: """
        Reads JSONL with an "ids" array per line (as `generate --json` writes), or with \
        --text, a UTF-8 file cut into windows of --window tokens. Prints, per class, the \
        fraction of inputs classified as it, and the mean log-posterior of --class with its \
        standard error.
        """
    )

    @Argument(help: "A JSONL file of samples (generate --json).") var samples: String?
    @Option(help: "A text file to cut into windows instead.") var text: String?
    @Option(parsing: .unconditional, help: "Tokens per window for --text (8...4096).") var window = 64
    @Option(help: "Classifier directory or file (default: models/classifier).") var classifier: String?
    @Option(name: .customLong("class"), help: "The class whose mean log-posterior to report (default: the first).") var className: String?
    @Flag(help: "One JSON object.") var json = false
    @OptionGroup var vocabOptions: VocabOptions

    func validate() throws {
        if (samples == nil) == (text == nil) { throw ValidationError("give a JSONL file of samples or --text FILE, one of them") }
        if !(8...4096).contains(window) { throw ValidationError("--window must be in 8...4096, got \(window)") }
    }

    func run() throws {
        let model = try NaiveBayesClassifier.load(NaiveBayesClassifier.path(orBundled: classifier, remedy: "give --classifier DIR"))
        let target = try className.map { try model.classIndex($0) } ?? 0
        var inputs: [[Int]] = []
        if let text {
            let ids = try TextPipeline.tokens(ofFile: text, tokenizer: try vocabOptions.load()).tokens
            inputs = stride(from: 0, to: ids.count - window + 1, by: window).map { Array(ids[$0..<($0 + window)]) }
            if inputs.isEmpty { throw UnmaskError("\(text) is shorter than one window of \(window) tokens") }
        } else if let samples {
            try SampleFile.forEach(samples, tokenizer: try vocabOptions.load(), empty: { _ in }) { inputs.append($0) }
            if inputs.isEmpty { throw UnmaskError("\(samples) has no samples") }
        }
        var counts = [Int](repeating: 0, count: model.classes.count)
        var posteriors: [Double] = []
        for x in inputs {
            counts[model.classify(x)] += 1
            posteriors.append(model.logPosteriors(x)[target])
        }
        let n = Double(inputs.count)
        let mean = posteriors.reduce(0, +) / n
        let se = inputs.count > 1 ? (posteriors.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1) / n).squareRoot() : 0
        if json {
            print(JSON.line([("inputs", .int(inputs.count)),
                             ("fractions", JSON.objectValue(model.classes.indices.map { (model.classes[$0], .double(Double(counts[$0]) / n)) })),
                             ("class", .string(model.classes[target])), ("log_posterior", .double(mean)), ("log_posterior_se", .double(se))]))
            return
        }
        print("\(inputs.count) inputs")
        for c in model.classes.indices {
            print("\(padRight(model.classes[c], 24)) \(padLeft(fixed(100 * Double(counts[c]) / n, 1) + "%", 7))")
        }
        print("mean log p(\(model.classes[target]) | x) = \(fixed(mean, 3)) ± \(fixed(se, 3))")
    }
}
