#if canImport(Glibc)
import Glibc
#endif
import UnmaskSupport

/// A multinomial naive Bayes classifier on token counts: "which novel is this window
/// from". It trains in seconds, and its log-score is additive in tokens, which is what
/// makes exact classifier guidance cheap (every position × every token is a table lookup).
///
/// Model: class c (uniform prior) draws each token independently from θ_c, estimated from
/// the training windows' counts with add-α smoothing, θ_c(v) = (n_cv + α) / (N_c + α·V').
/// Only ordinary ids count (`ignored` holds the mask and the special tokens); V' is their
/// number. A partially masked sequence is classified from its unmasked tokens: under the
/// model a masked token is one not observed, and marginalising it drops its factor, so
/// the classifier of noisy sequences that classifier guidance needs is exact for the model.
public struct NaiveBayesClassifier: Sendable {
    public let classes: [String]
    /// (classes, vocab) token counts of the training windows.
    public let counts: [[Int]]
    public let alpha: Double
    public let ignored: Set<Int>
    /// (classes, vocab) log θ_c(v); −∞ at ignored ids.
    public let logTheta: [[Double]]
    /// (vocab) log of the classes' average θ̄(v): the reference of the likelihood ratio.
    public let logAverage: [Double]
    public var vocabSize: Int { logAverage.count }

    public init(classes: [String], counts: [[Int]], alpha: Double, ignored: Set<Int>) throws {
        guard classes.count >= 2, counts.count == classes.count, let V = counts.first?.count, V >= 2,
              counts.allSatisfy({ $0.count == V && $0.allSatisfy { $0 >= 0 } }) else {
            throw UnmaskError("a classifier needs at least 2 classes, each with one non-negative count per token id")
        }
        guard alpha > 0, alpha.isFinite else { throw UnmaskError("the classifier's smoothing alpha must be positive, got \(alpha)") }
        guard Set(classes).count == classes.count else { throw UnmaskError("the classifier's class names must be distinct") }
        let ordinary = Double((0..<V).filter { !ignored.contains($0) }.count)
        var logTheta: [[Double]] = []
        for row in counts {
            let total = Double(row.enumerated().reduce(0) { ignored.contains($1.offset) ? $0 : $0 + $1.element })
            logTheta.append(row.enumerated().map { v, n in
                ignored.contains(v) ? -.infinity : log((Double(n) + alpha) / (total + alpha * ordinary))
            })
        }
        self.classes = classes
        self.counts = counts
        self.alpha = alpha
        self.ignored = ignored
        self.logTheta = logTheta
        logAverage = (0..<V).map { v in
            ignored.contains(v) ? -.infinity : log(logTheta.reduce(0) { $0 + exp($1[v]) } / Double(classes.count))
        }
    }

    /// Counts the windows of each class (`windows[c]`: that class's token windows).
    public static func train(classes: [String], windows: [[[Int]]], vocabSize: Int, alpha: Double = 1,
                             ignored: Set<Int>) throws -> NaiveBayesClassifier {
        var counts = [[Int]](repeating: [Int](repeating: 0, count: vocabSize), count: classes.count)
        for (c, list) in windows.enumerated() {
            for w in list { for id in w where id >= 0 && id < vocabSize && !ignored.contains(id) { counts[c][id] += 1 } }
        }
        return try NaiveBayesClassifier(classes: classes, counts: counts, alpha: alpha, ignored: ignored)
    }

    public func classIndex(_ name: String) throws -> Int {
        guard let i = classes.firstIndex(of: name) else {
            throw UnmaskError("unknown class \"\(name)\" (this classifier's classes: \(classes.joined(separator: ", ")))")
        }
        return i
    }

    /// Σ_i log θ_c(x_i) over the counted tokens, per class (ids out of range are skipped,
    /// like ignored ones).
    public func logLikelihoods<S: Sequence>(_ tokens: S) -> [Double] where S.Element == Int {
        var out = [Double](repeating: 0, count: classes.count)
        for id in tokens where id >= 0 && id < vocabSize && !ignored.contains(id) {
            for c in classes.indices { out[c] += logTheta[c][id] }
        }
        return out
    }

    /// log p(c | tokens) for every class, uniform prior.
    public func logPosteriors<S: Sequence>(_ tokens: S) -> [Double] where S.Element == Int {
        Self.normalised(logLikelihoods(tokens))
    }

    public func classify<S: Sequence>(_ tokens: S) -> Int where S.Element == Int {
        let lp = logLikelihoods(tokens)
        return lp.indices.max { lp[$0] < lp[$1] || (lp[$0] == lp[$1] && $0 > $1) }!
    }

    static func normalised(_ l: [Double]) -> [Double] {
        let top = l.max()!
        let z = top + log(l.reduce(0) { $0 + exp($1 - top) })
        return l.map { $0 - z }
    }

    // MARK: File

    public static let format = "unmask-naive-bayes"

    /// The whole classifier as one JSON document: the counts are integers, so nothing is
    /// lost, and θ is recomputed on load.
    public func serialized() -> String {
        JSON.objectValue([
            ("format", .string(Self.format)), ("classes", .array(classes.map { .string($0) })),
            ("alpha", .double(alpha)), ("vocab_size", .int(vocabSize)),
            ("ignored_ids", .array(ignored.sorted().map { .int($0) })),
            ("counts", .array(counts.map { .array($0.map { .int($0) }) })),
        ]).serialized() + "\n"
    }

    public static func load(_ path: String) throws -> NaiveBayesClassifier {
        let file = Files.isDirectory(path) ? path + "/classifier.json" : path
        let bytes = try Files.read(file, limit: 64 << 20)
        let value: JSONValue
        do { value = try JSON.parse(bytes) } catch {
            throw UnmaskError("\(file): not an Unmask classifier: \(error)")
        }
        func bad(_ why: String) -> UnmaskError { UnmaskError("\(file): not an Unmask classifier: \(why)") }
        guard value["format"]?.stringValue == format else { throw bad("format is not \"\(format)\"") }
        guard let classes = value["classes"]?.arrayValue?.compactMap(\.stringValue), let alpha = value["alpha"]?.doubleValue,
              let V = value["vocab_size"]?.intValue, V >= 2, V <= 1 << 22,
              let ignored = value["ignored_ids"]?.arrayValue?.compactMap(\.intValue),
              let rows = value["counts"]?.arrayValue else { throw bad("missing classes, alpha, vocab_size, ignored_ids or counts") }
        guard rows.count == classes.count else { throw bad("\(rows.count) rows of counts for \(classes.count) classes") }
        let counts = try rows.map { row -> [Int] in
            guard let r = row.arrayValue?.compactMap(\.intValue), r.count == V else { throw bad("a row of counts is not \(V) integers") }
            return r
        }
        do {
            return try NaiveBayesClassifier(classes: classes, counts: counts, alpha: alpha, ignored: Set(ignored))
        } catch let e as UnmaskError {
            throw UnmaskError("\(file): \(e.message)")
        }
    }
}

/// A classifier of partially masked sequences, for classifier guidance (`cbg`): log p(c |
/// the unmasked tokens among `generated`, with token v at `position`), for every v. It
/// looks at the generated positions only, as the rewards do: a prompt would otherwise
/// decide the class before anything is generated.
public protocol NoisyClassifier {
    var classes: [String] { get }
    func candidateLogPosteriors(sequence: [Int], position: Int, generated: [Int], mask: Int, classIndex: Int,
                                vocabSize: Int) throws -> [Double]
}

extension NaiveBayesClassifier: NoisyClassifier {
    public func candidateLogPosteriors(sequence: [Int], position: Int, generated: [Int], mask: Int, classIndex: Int,
                                       vocabSize V: Int) throws -> [Double] {
        let base = logLikelihoods(generated.lazy.filter { $0 != position && sequence[$0] != mask }.map { sequence[$0] })
        // log p(c | x, v) = base_c + log θ_c(v) − logsumexp_k (base_k + log θ_k(v)).
        var out = [Double](repeating: 0, count: V)
        var row = [Double](repeating: 0, count: classes.count)
        for v in 0..<V {
            guard v < vocabSize, !ignored.contains(v) else { out[v] = base[classIndex] - Self.logSumExp(base); continue }
            for k in classes.indices { row[k] = base[k] + logTheta[k][v] }
            out[v] = row[classIndex] - Self.logSumExp(row)
        }
        return out
    }

    static func logSumExp(_ l: [Double]) -> Double {
        let top = l.max()!
        return top + log(l.reduce(0) { $0 + exp($1 - top) })
    }
}

/// Rewards from the classifier: the log-posterior of a class (not additive), or its
/// log-likelihood ratio against the classes' average, Σ_i log θ_c(x_i)/θ̄(x_i) (additive,
/// so `tilt` can use it exactly).
public struct ClassifierReward: Reward {
    public enum Kind: String, Sendable { case posterior, ratio }
    public let classifier: NaiveBayesClassifier
    public let classIndex: Int
    public let kind: Kind
    public var name: String { "classifier:class=\(classifier.classes[classIndex])" + (kind == .ratio ? ":ratio" : "") }

    public init(classifier: NaiveBayesClassifier, className: String, kind: Kind = .posterior) throws {
        self.classifier = classifier
        classIndex = try classifier.classIndex(className)
        self.kind = kind
    }

    public var tokenScores: [Double]? {
        guard kind == .ratio else { return nil }
        return (0..<classifier.vocabSize).map { v in
            classifier.ignored.contains(v) ? 0 : classifier.logTheta[classIndex][v] - classifier.logAverage[v]
        }
    }

    public func scores(sequences: [[Int]], generated: [Int]) throws -> [Double] {
        sequences.map { x in
            let tokens = generated.lazy.map { x[$0] }
            switch kind {
            case .posterior: return classifier.logPosteriors(tokens)[classIndex]
            case .ratio:
                return tokens.reduce(0.0) { s, id in
                    id < classifier.vocabSize && !classifier.ignored.contains(id) ? s + classifier.logTheta[classIndex][id] - classifier.logAverage[id] : s
                }
            }
        }
    }
}
