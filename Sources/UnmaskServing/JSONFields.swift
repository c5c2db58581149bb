import UnmaskSupport

/// An object's fields, each taken once; what is left at `finish` is an unknown field.
struct Fields {
    var pairs: [(key: String, value: JSONValue)]
    let prefix: String
    private var taken: Set<String> = []

    init(_ pairs: [(key: String, value: JSONValue)], prefix: String) throws {
        var seen = Set<String>()
        for p in pairs where !seen.insert(p.key).inserted {
            throw APIError.invalid(prefix + p.key, "field \(prefix + p.key) is given twice")
        }
        self.pairs = pairs
        self.prefix = prefix
    }

    mutating func take(_ key: String) -> JSONValue? {
        guard let i = pairs.firstIndex(where: { $0.key == key }) else { return nil }
        taken.insert(key)
        return pairs.remove(at: i).value
    }
    func had(_ key: String) -> Bool { taken.contains(key) }

    mutating func string(_ key: String) throws -> String? {
        guard let v = take(key), !v.isNull else { return nil }
        guard let s = v.stringValue else { throw APIError.invalid(prefix + key, "\(prefix + key) must be a string") }
        return s
    }
    mutating func bool(_ key: String) throws -> Bool? {
        guard let v = take(key), !v.isNull else { return nil }
        guard let b = v.boolValue else { throw APIError.invalid(prefix + key, "\(prefix + key) must be true or false") }
        return b
    }
    mutating func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let v = take(key), !v.isNull else { return nil }
        guard let i = v.intValue, range.contains(i) else {
            throw APIError.invalid(prefix + key, "\(prefix + key) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return i
    }
    mutating func double(_ key: String, _ ok: (Double) -> Bool, _ what: String) throws -> Double? {
        guard let v = take(key), !v.isNull else { return nil }
        guard let d = v.doubleValue, d.isFinite, ok(d) else { throw APIError.invalid(prefix + key, "\(prefix + key) must be a number \(what)") }
        return d
    }
    /// A chat message's content: a string, or an array of `{"type": "text", "text": …}` parts.
    mutating func messageContent() throws -> String? {
        guard let v = take("content"), !v.isNull else { return nil }
        if let s = v.stringValue { return s }
        guard let parts = v.arrayValue else { throw APIError.invalid(prefix + "content", "content must be a string or an array of text parts") }
        var text = ""
        for p in parts {
            guard p["type"]?.stringValue == "text", let t = p["text"]?.stringValue else {
                throw APIError.invalid(prefix + "content", "only text parts are supported ({\"type\": \"text\", \"text\": ...})")
            }
            text += t
        }
        return text
    }
    mutating func finish() throws {
        if let first = pairs.first {
            throw APIError.invalid(prefix + first.key, "unknown field \(prefix + first.key)", code: "unknown_parameter")
        }
    }
}
