import UnmaskDiffusion
import UnmaskSupport
import UnmaskTokenizer

/// The token streams training reads.
///
/// Pipeline: each corpus file is one document. It must be valid UTF-8; it is NFC-normalised
/// and re-flowed (hard-wrapped lines joined into paragraphs, see `Reflow`), then tokenized
/// with the vocabulary. Documents are joined with `<|endoftext|>` between them.
///
/// Split rule: the last 1/20 of each document's tokens is the validation stream (the
/// periodic held-out loss during training); the first 19/20 is the training stream. The
/// project's real held-out text (`persuasion.txt`) is never given to training at all; it
/// is measured afterwards with `unmask eval`.
public struct TrainingData {
    public let train: [Int]
    public let validation: [Int]
    public let documents: Int
    public let bytes: Int
    /// False when the held-out split was shorter than one window, so that validation
    /// re-reads the last window of the training stream: the validation loss is then a
    /// training loss. The trainer says so when it starts and in the model card.
    public let validationHeldOut: Bool
    /// Tokens in the held-out split (the last 1/20 of each file).
    public let heldOutTokens: Int
    /// The tokenizer's special ids (never drawn as the planner objective's noise).
    public let specialIds: Set<Int>

    /// With `labeled`: the file (class) each token of `train` and `validation` comes from.
    public let trainLabels: [Int]?
    public let validationLabels: [Int]?

    public static let validationFraction = 20

    /// `labeled`: remember which file each token came from (file k is class k), for a
    /// label-conditional denoiser.
    public init(corpus paths: [String], tokenizer: Tokenizer, window: Int, labeled: Bool = false) throws {
        guard !paths.isEmpty else { throw UnmaskError("give at least one corpus file") }
        var train: [Int] = [], validation: [Int] = []
        var trainLabels: [Int] = [], validationLabels: [Int] = []
        var bytes = 0
        for (k, path) in paths.enumerated() {
            let (ids, size) = try TextPipeline.tokens(ofFile: path, tokenizer: tokenizer)
            bytes += size
            if ids.isEmpty { continue }
            let cut = ids.count - ids.count / TrainingData.validationFraction
            if !train.isEmpty { train.append(tokenizer.endOfTextId) }
            train.append(contentsOf: ids[..<cut])
            if cut < ids.count {
                if !validation.isEmpty { validation.append(tokenizer.endOfTextId) }
                validation.append(contentsOf: ids[cut...])
            }
            // The separator before a file's text is labelled with that file.
            trainLabels += [Int](repeating: k, count: train.count - trainLabels.count)
            validationLabels += [Int](repeating: k, count: validation.count - validationLabels.count)
        }
        self.trainLabels = labeled ? trainLabels : nil
        self.validationLabels = labeled ? validationLabels : nil
        if bytes == 0 || train.isEmpty { throw UnmaskError("the corpus is empty") }
        guard train.count > window + 1 else {
            throw UnmaskError("the corpus is too short: \(train.count) training tokens, but one window needs \(window + 2)")
        }
        self.train = train
        validationHeldOut = validation.count > window + 1
        heldOutTokens = validation.count
        self.validation = validationHeldOut ? validation : Array(train.suffix(window + 1))
        documents = paths.count
        specialIds = Set(tokenizer.specialTokens.map(\.id))
        self.bytes = bytes
    }

    /// B windows of `length` tokens (+1 for next-token targets) at offsets drawn from the
    /// Philox stream (seed, step): the batch of a step is a function of (seed, step) only,
    /// so a resumed run sees exactly the batches it would have seen.
    public func trainingWindows(batch: Int, length: Int, seed: UInt64, step: Int) -> [[Int]] {
        labeledTrainingWindows(batch: batch, length: length, seed: seed, step: step).map(\.window)
    }

    /// The same windows with the class of each (that of its first token; nil unlabeled).
    /// A window that crosses into the next file keeps the first file's label.
    public func labeledTrainingWindows(batch: Int, length: Int, seed: UInt64, step: Int) -> [(window: [Int], label: Int?)] {
        var rng = Philox(seed: seed, stream: UInt64(bitPattern: Int64(step)) << 8)
        return (0..<batch).map { _ in
            let start = rng.int(below: train.count - length - 1)
            return (Array(train[start..<(start + length + 1)]), trainLabels?[start])
        }
    }

    /// Fixed, non-overlapping validation windows (at most `maxWindows`).
    /// One line for the model card and the start of training.
    public var validationDescription: String {
        validationHeldOut
            ? "validation \(validation.count) tokens (last 1/\(TrainingData.validationFraction) of each file)"
            : "validation NOT held out: the last 1/\(TrainingData.validationFraction) of the files is \(heldOutTokens) tokens, shorter than one window, so validation re-reads the last window of the training stream (its loss is a training loss)"
    }

    public func validationWindows(length: Int, maxWindows: Int) -> [[Int]] {
        labeledValidationWindows(length: length, maxWindows: maxWindows).map(\.window)
    }

    public func labeledValidationWindows(length: Int, maxWindows: Int) -> [(window: [Int], label: Int?)] {
        var out: [(window: [Int], label: Int?)] = []
        var start = 0
        while start + length + 1 <= validation.count && out.count < maxWindows {
            out.append((Array(validation[start..<(start + length + 1)]), validationLabels?[start]))
            start += length
        }
        return out
    }
}
