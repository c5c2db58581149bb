import UnmaskSupport

// Reading and writing Hugging Face `tokenizer.json`.
//
// We accept exactly the configuration we implement, and say so when a file differs:
//   normalizer     {"type": "NFC"}              (null is accepted too: no normalisation, as GPT-2's)
//   pre_tokenizer  {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}
//   decoder        {"type": "ByteLevel"}         (or null)
//   model          {"type": "BPE", "vocab": {...}, "merges": [...]} with no dropout,
//                  no unk token, no subword prefix/suffix, no byte fallback
//   added_tokens   the specials; `<|endoftext|>` is required, and `<|mask|>` too unless the
//                  caller asks for an evaluator's tokenizer (requireMask: false).
// Merges may be "left right" strings (older files) or ["left", "right"] pairs (newer).
// Vocabulary keys are byte-level alphabet strings; they are converted to bytes at once
// and every table is keyed by bytes or ids.

extension Tokenizer {
    /// Loads `tokenizer.json`; every problem is a one-line UnmaskError naming the file.
    /// `endOfText`: the end-of-text id a model's config names (`eos_token_id`), used when
    /// the tokenizer has no `<|endoftext|>` token (Llama-3-style tokenizers have none).
    public static func load(path: String, requireMask: Bool = true, endOfText: Int? = nil) throws -> Tokenizer {
        let bytes = try Files.read(path, limit: 1 << 30)
        do {
            return try parse(json: bytes, requireMask: requireMask, endOfText: endOfText)
        } catch let e as UnmaskError {
            throw UnmaskError("\(path): \(e.message)")
        }
    }

    /// `requireMask: false` accepts a tokenizer without `<|mask|>` (an evaluator's: GPT-2's
    /// tokenizer.json has only `<|endoftext|>`); its `maskId` is then `Tokenizer.noMask`.
    public static func parse(json bytes: [UInt8], requireMask: Bool = true, endOfText: Int? = nil) throws -> Tokenizer {
        let root: JSONValue
        do {
            root = try JSON.parse(bytes)
        } catch let e as JSONParseError {
            throw UnmaskError("not a tokenizer.json: \(e)")
        }
        guard root.objectPairs != nil else { throw UnmaskError("not a tokenizer.json: top level is not an object") }
        guard let model = root["model"], model.objectPairs != nil else { throw UnmaskError("missing \"model\"") }
        guard model["type"]?.stringValue == "BPE" || (model["type"] == nil && model["merges"] != nil) else {
            throw UnmaskError("model type \(model["type"]?.serialized() ?? "?") is not supported (only BPE)")
        }
        try checkUnsupported(model: model)
        let splitRule = try checkPipeline(root)

        // Vocabulary: byte-level strings -> ids.
        guard let vocabPairs = model["vocab"]?.objectPairs else { throw UnmaskError("model has no \"vocab\" object") }
        var specials: [(content: String, id: Int)] = []
        for entry in root["added_tokens"]?.arrayValue ?? [] {
            guard let id = entry["id"]?.intValue, let content = entry["content"]?.stringValue else {
                throw UnmaskError("an added_tokens entry lacks \"id\" or \"content\"")
            }
            specials.append((content, id))
        }
        let specialIds = Set(specials.map(\.id))
        var ordinary: [[UInt8]?] = []
        var idForBytes: [[UInt8]: Int32] = [:]
        for (key, value) in vocabPairs {
            guard let id = value.intValue, id >= 0, id < 1 << 24 else {
                throw UnmaskError("vocab entry \(JSONValue.string(key).serialized()) has an invalid id")
            }
            if id >= ordinary.count { ordinary.append(contentsOf: repeatElement(nil, count: id + 1 - ordinary.count)) }
            if specialIds.contains(id) {
                // Specials may also sit in the vocab, as `tokenizers` writes them; their text must match.
                guard specials.contains(where: { $0.id == id && $0.content.unicodeScalars.elementsEqual(key.unicodeScalars) }) else {
                    throw UnmaskError("duplicate id \(id) in vocab (also used by an added token)")
                }
                continue
            }
            guard let bytes = ByteLevelAlphabet.decode(key), !bytes.isEmpty else {
                throw UnmaskError("vocab entry \(JSONValue.string(key).serialized()) is not in the byte-level alphabet")
            }
            guard ordinary[id] == nil else { throw UnmaskError("duplicate id \(id) in vocab") }
            guard idForBytes[bytes] == nil else {
                throw UnmaskError("vocab entry \(JSONValue.string(key).serialized()) appears twice")
            }
            ordinary[id] = bytes
            idForBytes[bytes] = Int32(id)
        }

        // Merges: pairs of vocabulary strings, in rank order.
        guard let mergeList = model["merges"]?.arrayValue else { throw UnmaskError("model has no \"merges\" list") }
        var merges: [(left: Int32, right: Int32, merged: Int32)] = []
        merges.reserveCapacity(mergeList.count)
        for (rank, item) in mergeList.enumerated() {
            let parts: [String]
            if let s = item.stringValue {
                parts = s.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else if let a = item.arrayValue {
                parts = a.compactMap(\.stringValue)
            } else {
                parts = []
            }
            guard parts.count == 2 else { throw UnmaskError("merge \(rank) is not a pair of tokens") }
            guard let l = ByteLevelAlphabet.decode(parts[0]), let r = ByteLevelAlphabet.decode(parts[1]),
                  let li = idForBytes[l], let ri = idForBytes[r] else {
                throw UnmaskError("merge \(rank) names an unknown token (\(parts[0]) \(parts[1]))")
            }
            guard let mi = idForBytes[l + r] else {
                throw UnmaskError("merge \(rank) (\(parts[0]) \(parts[1])) produces a token missing from the vocab")
            }
            merges.append((li, ri, mi))
        }
        let normalizer = root["normalizer"]
        return try Tokenizer(tokenBytes: ordinary, merges: merges, specialTokens: specials, requireMask: requireMask,
                             normalizesNFC: normalizer != nil && !normalizer!.isNull, splitRule: splitRule,
                             ignoresMerges: model["ignore_merges"]?.boolValue == true, endOfTextOverride: endOfText)
    }

    static func checkUnsupported(model: JSONValue) throws {
        if let d = model["dropout"], !d.isNull, d.doubleValue != 0 { throw UnmaskError("BPE dropout is not supported") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = model[key], !v.isNull, v.stringValue != "" { throw UnmaskError("BPE \(key) is not supported") }
        }
        if model["byte_fallback"]?.boolValue == true { throw UnmaskError("BPE byte_fallback is not supported") }
    }

    /// Checks the normalizer, pre-tokenizer and decoder; returns the split they describe.
    static func checkPipeline(_ root: JSONValue) throws -> SplitRule {
        if let n = root["normalizer"], !n.isNull {
            guard n["type"]?.stringValue == "NFC" else {
                throw UnmaskError("normalizer \(n["type"]?.stringValue ?? "?") is not supported (only NFC)")
            }
        }
        if let d = root["decoder"], !d.isNull, d["type"]?.stringValue != "ByteLevel" {
            throw UnmaskError("decoder must be ByteLevel")
        }
        guard let p = root["pre_tokenizer"] else { throw UnmaskError("pre_tokenizer must be ByteLevel") }
        if p["type"]?.stringValue == "Sequence" {
            // Qwen2 / Llama-3: Split(pattern, Isolated) then ByteLevel without its own regex.
            guard let parts = p["pretokenizers"]?.arrayValue, parts.count == 2,
                  parts[0]["type"]?.stringValue == "Split", parts[1]["type"]?.stringValue == "ByteLevel" else {
                throw UnmaskError("pre_tokenizer Sequence is supported only as [Split, ByteLevel] (Qwen2, Llama-3)")
            }
            let split = parts[0], byteLevel = parts[1]
            guard let pattern = split["pattern"]?["Regex"]?.stringValue,
                  let rule = SplitRule.allCases.first(where: { $0.pattern == pattern }) else {
                throw UnmaskError("Split pattern \(split["pattern"]?.serialized() ?? "?") is not supported (Unmask knows Qwen2's and Llama-3's)")
            }
            guard split["behavior"]?.stringValue == "Isolated", split["invert"]?.boolValue != true else {
                throw UnmaskError("Split must have behavior Isolated and invert false")
            }
            if byteLevel["add_prefix_space"]?.boolValue == true { throw UnmaskError("ByteLevel add_prefix_space=true is not supported") }
            if byteLevel["use_regex"]?.boolValue != false { throw UnmaskError("ByteLevel after Split must have use_regex=false") }
            return rule
        }
        guard p["type"]?.stringValue == "ByteLevel" else { throw UnmaskError("pre_tokenizer must be ByteLevel") }
        if p["add_prefix_space"]?.boolValue == true { throw UnmaskError("ByteLevel add_prefix_space=true is not supported") }
        if p["use_regex"]?.boolValue == false { throw UnmaskError("ByteLevel use_regex=false is not supported") }
        return .gpt2
    }

    // MARK: Writing

    /// The `tokenizer.json` text for this tokenizer, in the layout `tokenizers` writes.
    public func jsonText() -> String {
        func bool(_ b: Bool) -> JSONValue { .bool(b) }
        let added: [JSONValue] = specialTokens.map { s in
            .object([
                ("id", .int(s.id)), ("content", .string(s.content)), ("single_word", bool(false)),
                ("lstrip", bool(false)), ("rstrip", bool(false)), ("normalized", bool(false)),
                ("special", bool(true)),
            ])
        }
        var vocab: [(key: String, value: JSONValue)] = []
        for id in 0..<vocabSize {
            vocab.append((tokenString(id), .int(id)))
        }
        let mergeValues: [JSONValue] = merges.map {
            .array([.string(tokenString(Int($0.left))), .string(tokenString(Int($0.right)))])
        }
        let byteLevel: [(key: String, value: JSONValue)] = [
            ("type", .string("ByteLevel")), ("add_prefix_space", bool(false)),
            ("trim_offsets", bool(true)), ("use_regex", bool(true)),
        ]
        var preTokenizer = JSONValue.object(byteLevel)
        if let pattern = splitRule.pattern {
            preTokenizer = .object([("type", .string("Sequence")), ("pretokenizers", .array([
                .object([("type", .string("Split")), ("pattern", .object([("Regex", .string(pattern))])),
                         ("behavior", .string("Isolated")), ("invert", bool(false))]),
                .object([("type", .string("ByteLevel")), ("add_prefix_space", bool(false)), ("trim_offsets", bool(false)),
                         ("use_regex", bool(false))]),
            ]))])
        }
        let root = JSONValue.object([
            ("version", .string("1.0")),
            ("truncation", .null),
            ("padding", .null),
            ("added_tokens", .array(added)),
            ("normalizer", normalizesNFC ? .object([("type", .string("NFC"))]) : .null),
            ("pre_tokenizer", preTokenizer),
            ("post_processor", .null),
            ("decoder", .object(byteLevel)),
            ("model", .object([
                ("type", .string("BPE")), ("dropout", .null), ("unk_token", .null),
                ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null),
                ("fuse_unk", bool(false)), ("byte_fallback", bool(false)), ("ignore_merges", bool(ignoresMerges)),
                ("vocab", .object(vocab)), ("merges", .array(mergeValues)),
            ])),
        ])
        return root.serialized(indent: 2) + "\n"
    }

    /// Writes `tokenizer.json` atomically.
    public func write(to path: String) throws {
        try Files.writeAtomically(Array(jsonText().utf8), to: path)
    }
}
