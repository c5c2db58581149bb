import UnmaskSupport

/// The classes of a label-conditional denoiser, from its folder's `labels.json`.
///
/// Such a denoiser reads its label as a token at position 0: class c is token id
/// `firstId + c`, "no label" is `nullId` (= firstId + number of classes). These ids sit past
/// the tokenizer's vocabulary, so the tokenizer never produces them and no sampler draws
/// them (their logits are −∞, as for any padding row). Their embedding rows are the label
/// embedding. `unmask train --labels` trains one, dropping the label to the null id with
/// probability `--label-dropout` (0.1 by default, as Schiff et al. do), so that the same
/// network is both p(x | c) and p(x).
public struct ClassLabels: Sendable, Equatable {
    public let classes: [String]
    public let firstId: Int
    public var nullId: Int { firstId + classes.count }
    public var count: Int { classes.count }
    public static let fileName = "labels.json"

    /// The class a corpus file stands for: its file name without the folder and a `.txt`
    /// ending (`corpus/emma.txt` is "emma"). Training and the classifier name classes alike.
    public static func className(ofCorpusFile path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        return base.hasSuffix(".txt") ? String(base.dropLast(4)) : base
    }

    public init(classes: [String], firstId: Int) throws {
        guard !classes.isEmpty, Set(classes).count == classes.count, firstId >= 1 else {
            throw UnmaskError("labels: need distinct class names and a first id >= 1")
        }
        self.classes = classes
        self.firstId = firstId
    }

    public func id(of name: String) throws -> Int {
        guard let c = classes.firstIndex(of: name) else {
            throw UnmaskError("unknown class \"\(name)\" (this model's classes: \(classes.joined(separator: ", ")))")
        }
        return firstId + c
    }

    public var serialized: String {
        JSON.objectValue([("classes", .array(classes.map { .string($0) })), ("first_id", .int(firstId)),
                          ("null_id", .int(nullId))]).serialized(indent: 2) + "\n"
    }

    /// The labels of the model in `directory`, or nil when it has none.
    public static func load(directory: String) throws -> ClassLabels? {
        let path = directory + "/" + fileName
        guard Files.exists(path) else { return nil }
        func bad(_ why: String) -> UnmaskError { UnmaskError("\(path): \(why)") }
        let value: JSONValue
        do { value = try JSON.parse(Files.read(path, limit: 1 << 20)) } catch { throw bad("not JSON (\(error))") }
        guard let names = value["classes"]?.arrayValue?.compactMap(\.stringValue), let first = value["first_id"]?.intValue else {
            throw bad("needs \"classes\" (strings) and \"first_id\"")
        }
        let labels = try ClassLabels(classes: names, firstId: first)
        if let null = value["null_id"]?.intValue, null != labels.nullId {
            throw bad("null_id \(null) is not first_id + number of classes (\(labels.nullId))")
        }
        return labels
    }
}

/// A label-conditional denoiser with its label fixed: p(x | c), or p(x) with the null id.
/// It is a `Denoiser` like any other (every sampler, the ELBO and steering run on it): each
/// sequence is sent to the network with the label token in front, one position shorter
/// than the network's context.
public struct LabeledDenoiser: Denoiser {
    public let base: Denoiser
    public let label: Int
    public var vocabSize: Int { base.vocabSize }
    public var maskId: Int { base.maskId }
    public var maxLength: Int { base.maxLength - 1 }

    public init(base: Denoiser, label: Int) throws {
        guard label >= 0, label < base.vocabSize, label != base.maskId else {
            throw UnmaskError("label id \(label) is not a token of this model (0..<\(base.vocabSize), not the mask)")
        }
        guard base.maxLength >= 2 else { throw UnmaskError("a labeled denoiser needs a context of at least 2") }
        self.base = base
        self.label = label
    }

    public func logits(sequences: [[Int]], positions: [[Int]]) throws -> [Float] {
        try base.logits(sequences: sequences.map { [label] + $0 }, positions: positions.map { $0.map { $0 + 1 } })
    }
}
