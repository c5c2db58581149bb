import XCTest
import UnmaskKernels
import UnmaskModel
import UnmaskSupport

/// Tests/UnmaskModelTests/Fixtures/hf/NAME, the committed Hugging Face folders.
func huggingFaceFixture(_ name: String, file: String = #filePath) -> String {
    var parts = file.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast()
    return parts.joined(separator: "/") + "/Fixtures/hf/" + name
}

/// A fixture's golden.json: the ids (2, 16), the reference's logits, flat, and the rest.
func loadGolden(folder: String) throws -> (ids: [Int], logits: [Float], json: JSONValue) {
    let json = try JSON.parse(Files.read(folder + "/golden.json"))
    let ids = try XCTUnwrap(json["ids"]?.arrayValue).flatMap { try XCTUnwrap($0.arrayValue).map { try XCTUnwrap($0.intValue) } }
    let logits = try XCTUnwrap(json["logits"]?.arrayValue).map { Float(try XCTUnwrap($0.doubleValue)) }
    return (ids, logits, json)
}

/// A golden of raw rows, (batch, length, V) flat, as a shifted model's sampler reads them:
/// position i from row i − 1, position 0 from row 0 (Fast-dLLM v2's golden.json says
/// `"shifted": true` and holds the raw rows).
func shiftedAsItsSamplerReads(_ raw: [Float], batch: Int, length L: Int) -> [Float] {
    let V = raw.count / (batch * L)
    var out = raw
    for b in 0..<batch {
        for i in 1..<L { out.replaceSubrange((b * L + i) * V..<(b * L + i + 1) * V, with: raw[(b * L + i - 1) * V..<(b * L + i) * V]) }
    }
    return out
}

/// The three-way forward check of a Hugging Face folder: the engine (our kernels on 1 and
/// 2 threads, OpenBLAS), the naive Double reference (`referenceForward`, on the tensors
/// the folder's loader maps or folds) and the logits the family's own Python code wrote
/// (`golden`), on `ids` (2, 16). Each pair's max difference is printed. Engine against
/// reference checks the forward's arithmetic; either against the golden checks the
/// loader's reading of the folder (names, layouts, the DiT fold) and the function itself.
///
/// Tolerances, relative to the largest golden logit: 1e-4 for each pair — the engine sums
/// in Float, the golden is PyTorch in float32 and the reference exact in Double, so every
/// pair carries Float rounding over two layers (measured 1e-7 to 1e-6 relative, printed).
/// Our kernels on 1 and 2 threads give the same bits (asserted exactly).
func assertThreeWayForward(folder: String, ids: [Int], golden: [Float], label: String, reference: String,
                           file: StaticString = #filePath, line: UInt = #line) throws {
    let scale = Double(golden.map(abs).max()!)
    func maxDiff<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ a: [A], _ b: [B]) -> Double {
        zip(a, b).map { abs(Double($0) - Double($1)) }.max()!
    }
    let hf = try HuggingFaceFolder.open(directory: folder)
    let double = try referenceForward(config: hf.config, source: hf.source, ids: ids, batch: 2, length: 16)
    XCTAssertEqual(double.count, golden.count, file: file, line: line)
    let referenceToGolden = maxDiff(double, golden)
    print("\(label): Double reference vs \(reference): max logit diff \(referenceToGolden) (largest logit \(scale))")
    XCTAssertLessThanOrEqual(referenceToGolden, 1e-4 * scale, "Double reference vs golden", file: file, line: line)
    var oneThread: [Float]?
    for (backend, threads) in [(GEMMBackend.unmask, 1), (.unmask, 2), (.openblas, 2)] {
        let model = try Transformer.load(directory: folder, matmul: MatMul(backend: backend, threads: threads))
        let ours = try model.forward(ids: ids, batch: 2, length: 16)
        XCTAssertEqual(ours.count, golden.count, file: file, line: line)
        let toGolden = maxDiff(ours, golden), toReference = maxDiff(ours, double)
        print("\(label) [\(backend), \(threads) threads]: vs \(reference) max logit diff \(toGolden), vs Double reference \(toReference)")
        XCTAssertLessThanOrEqual(toGolden, 1e-4 * scale, "\(backend), \(threads) threads vs golden", file: file, line: line)
        XCTAssertLessThanOrEqual(toReference, 1e-4 * scale, "\(backend), \(threads) threads vs Double reference", file: file, line: line)
        if backend == .unmask {
            if let oneThread {
                XCTAssertEqual(ours.map(\.bitPattern), oneThread.map(\.bitPattern), "1 and 2 threads", file: file, line: line)
            } else {
                oneThread = ours
            }
        }
    }
}

/// A tiny random MDLM DiT, written by MDLM's own models/dit.py (commit and torch version in
/// golden.json; scripts/fixtures/make_hf_fixtures.py), in the mdlm-owt folder layout, against the
/// logits that code computed at σ = 0 in float32.
final class HuggingFaceDiTTests: XCTestCase {
    let folder = huggingFaceFixture("mdlm-tiny")

    func testFoldedDiTMatchesMDLM() throws {
        let (ids, golden, json) = try loadGolden(folder: folder)
        let info = try HuggingFaceFolder.open(directory: folder)
        XCTAssertEqual(info.family, .mdlm)
        XCTAssertEqual(info.config.maskTokenId, info.config.vocabSize - 1)
        XCTAssertEqual(ModelRole.of(info.config), .denoiser)
        try assertThreeWayForward(folder: folder, ids: ids, golden: golden,
                                label: "mdlm-tiny", reference: "MDLM dit.py \(json["mdlm_commit"]?.stringValue ?? "?")")
    }

    func testTimeConditionedDiTIsRefused() throws {
        let dir = NSTemporaryDirectory() + "unmask-dit-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: folder + "/model.safetensors", toPath: dir + "/model.safetensors")
        let config = try String(contentsOfFile: folder + "/config.json", encoding: .utf8)
            .replacingOccurrences(of: "\"time_conditioning\": false", with: "\"time_conditioning\": true")
        try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Transformer.load(directory: dir)) { XCTAssertTrue("\($0)".contains("time-conditioned"), "\($0)") }
    }
}

/// A tiny random BD3-LM (blocks of 4, model_length 16), written by BD3-LM's own
/// models/hf/modeling_bd3lm.py (commit and torch version in golden.json;
/// scripts/fixtures/make_hf_fixtures.py --bd3lm), in the bd3lm-owt folder layout, against that code's
/// logits at σ = 0: its training layout (x_t ⊕ x_0) and its sample mode without a cache (a
/// 12-token prefix). Tolerance 1e-4 relative to the largest logit, as for MDLM (float32
/// against float32 in another order; max diff printed).
final class HuggingFaceBD3LMTests: XCTestCase {
    let folder = huggingFaceFixture("bd3lm-tiny")

    func ints(_ v: JSONValue?) throws -> [Int] {
        try XCTUnwrap(v?.arrayValue).flatMap { try XCTUnwrap($0.arrayValue).map { try XCTUnwrap($0.intValue) } }
    }
    func floats(_ v: JSONValue?) throws -> [Float] { try XCTUnwrap(v?.arrayValue).map { Float(try XCTUnwrap($0.doubleValue)) } }

    func testFoldedBD3LMMatchesBD3LM() throws {
        let json = try JSON.parse(Files.read(folder + "/golden.json"))
        let info = try HuggingFaceFolder.open(directory: folder)
        XCTAssertEqual(info.family, .bd3lm)
        XCTAssertEqual(info.config.attention, .blockCausal)
        XCTAssertEqual(info.config.blockSize, 4)
        XCTAssertEqual(info.config.contextLength, 16)
        XCTAssertEqual(info.config.maskTokenId, info.config.vocabSize - 1)
        XCTAssertEqual(ModelRole.of(info.config), .denoiser)
        let noisy = try ints(json["noisy"]), clean = try ints(json["clean"]), prefix = try ints(json["prefix"])
        let layoutGolden = try floats(json["layout_logits"]), prefixGolden = try floats(json["prefix_logits"])
        let commit = json["bd3lms_commit"]?.stringValue ?? "?"
        for threads in [1, 2] {
            let model = try Transformer.load(directory: folder, matmul: MatMul(threads: threads))
            var layoutIds: [Int] = [], positions: [Int] = []
            for b in 0..<2 {
                layoutIds += noisy[(b * 16)..<((b + 1) * 16)]
                layoutIds += clean[(b * 16)..<((b + 1) * 16)]
                positions += (0..<16).map { b * 32 + $0 }
            }
            let layout = try model.forward(ids: layoutIds, batch: 2, length: 32, positions: positions, pattern: .blockDiffusionTraining(4))
            let sampled = try model.forward(ids: prefix, batch: 2, length: 12)
            let pairs: [(String, [Float], [Float])] = [("training layout", layout, layoutGolden),
                                                        ("sample mode, 12-token prefix", sampled, prefixGolden)]
            for (name, ours, golden) in pairs {
                XCTAssertEqual(ours.count, golden.count, name)
                let scale = Double(golden.map(abs).max()!)
                let diff = zip(ours, golden).map { Double(abs($0 - $1)) }.max()!
                print("bd3lm-tiny \(name) [\(threads) threads] vs BD3-LM modeling_bd3lm.py \(commit): max logit diff \(diff) (largest logit \(scale))")
                XCTAssertLessThanOrEqual(diff, 1e-4 * scale, name)
            }
        }
    }

    /// A BD3-LM folder whose config does not describe block diffusion is refused by name.
    func testBadConfigsAreRefused() throws {
        let dir = NSTemporaryDirectory() + "unmask-bd3lm-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: folder + "/model.safetensors", toPath: dir + "/model.safetensors")
        let original = try String(contentsOfFile: folder + "/config.json", encoding: .utf8)
        for (from, to, needle) in [("\"block_size\": 4", "\"block_size\": 5", "must divide model_length"),
                                   ("\"cross_attn\": true", "\"cross_attn\": false", "cross_attn"),
                                   ("\"causal\": false", "\"causal\": true", "causal"),
                                   ("\"time_conditioning\": false", "\"time_conditioning\": true", "time-conditioned")] {
            try original.replacingOccurrences(of: from, with: to).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try Transformer.load(directory: dir)) { XCTAssertTrue("\($0)".contains(needle), "\($0)") }
        }
    }
}

/// A tiny random Dream (Qwen2 blocks: grouped-query attention with 4 query and 2 key/value
/// heads, qkv biases, SwiGLU, RMSNorm, an untied head; mask id 1) written by transformers'
/// Qwen2ForCausalLM, against that code's logits with attention over every position,
/// shifted as Dream's sampler shifts them (scripts/fixtures/make_hf_fixtures.py, dream_tiny).
final class HuggingFaceDreamTests: XCTestCase {
    let folder = huggingFaceFixture("dream-tiny")

    func testDreamMatchesQwen2Bidirectional() throws {
        let (ids, golden, json) = try loadGolden(folder: folder)
        let info = try HuggingFaceFolder.open(directory: folder)
        XCTAssertEqual(info.family, .dream)
        XCTAssertEqual(info.config.maskTokenId, 1)
        XCTAssertEqual(info.config.nKVHeads, 2)
        XCTAssertEqual(ModelRole.of(info.config), .denoiser)
        try assertThreeWayForward(folder: folder, ids: ids, golden: golden,
                                label: "dream-tiny", reference: "transformers \(json["transformers"]?.stringValue ?? "?")")
        // Training does not cover these blocks yet, and says so.
        let model = try Transformer.load(directory: folder)
        XCTAssertThrowsError(try model.forwardForTraining(ids: ids, batch: 2, length: 16, positions: [0],
                                                          arena: ActivationArena(config: model.config, training: true))) {
            XCTAssertTrue("\($0)".contains("grouped-query attention"), "\($0)")
        }
    }
}

/// A tiny random LLaDA (OLMo names around LLaMA blocks: 4 query and 2 key/value heads,
/// SwiGLU with ff_proj the gate, RMSNorm, rotary θ = 500000, an untied head ff_out; mask
/// id 1) written by LLaDA's own modeling_llada.py, against that code's logits
/// (scripts/fixtures/make_hf_fixtures.py, llada_tiny; the code's origin and hashes in golden.json).
final class HuggingFaceLLaDATests: XCTestCase {
    let folder = huggingFaceFixture("llada-tiny")


    func testLLaDAMatchesItsOwnCode() throws {
        let (ids, golden, _) = try loadGolden(folder: folder)
        let info = try HuggingFaceFolder.open(directory: folder)
        XCTAssertEqual(info.family, .llada)
        XCTAssertEqual(info.config.maskTokenId, 1)
        XCTAssertEqual(info.config.nKVHeads, 2)
        XCTAssertFalse(info.config.shiftedLogits)
        XCTAssertEqual(ModelRole.of(info.config), .denoiser)
        try assertThreeWayForward(folder: folder, ids: ids, golden: golden, label: "llada-tiny", reference: "LLaDA's modeling_llada.py")
    }

    /// Published checkpoints are BF16. Their weights are packed panel by panel from the
    /// mapping (never widened whole) — into BF16 panels that the AVX-512 kernel widens in
    /// registers, or into F32 ones — and widening is exact, so a BF16 folder must give bit
    /// for bit the logits of an F32 folder holding the same (BF16-rounded) values, for fp32
    /// and int8 products, any thread count and any number of rows. Both folders are made
    /// here from llada-tiny.
    func testBF16FolderPacksExactlyLikeItsF32Widening() throws {
        let base = NSTemporaryDirectory() + "unmask-bf16-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let source = try SafetensorsFile(path: folder + "/model.safetensors")
        var rounded: [(name: String, shape: [Int], data: UnsafeBufferPointer<Float>)] = []
        defer { for t in rounded { t.data.deallocate() } }
        for t in source.tensors {
            let p = try source.float32(t.name, shape: t.shape)
            let copy = UnsafeMutableBufferPointer<Float>.allocate(capacity: t.count)
            for i in 0..<t.count { copy[i] = HalfPrecision.float(fromBF16: HalfPrecision.bf16(p[i])!) }
            rounded.append((t.name, t.shape, UnsafeBufferPointer(copy)))
        }
        for (name, dtype) in [("bf16", StorageType.bf16), ("f32", .f32)] {
            let dir = base + "/" + name
            try Files.createDirectory(dir)
            for file in ["config.json", "tokenizer.json"] { try Files.writeAtomically(try Files.read(folder + "/" + file), to: dir + "/" + file) }
            try SafetensorsFile.write(path: dir + "/model.safetensors", tensors: rounded, dtype: dtype)
        }
        let bf16File = try SafetensorsFile(path: base + "/bf16/model.safetensors")
        XCTAssertTrue(bf16File.tensors.allSatisfy { $0.dtype == "BF16" })
        // A NaN in a BF16 weight is found without widening the weights: the copy with one
        // value of up_proj patched to BF16 NaN (0x7FC0) is refused, naming the tensor.
        var bytes = Array(bf16File.bytes)
        let headerLength = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let target = try XCTUnwrap(bf16File.info("model.transformer.blocks.1.up_proj.weight"))
        let at = 8 + headerLength + target.begin + 2 * 37
        (bytes[at], bytes[at + 1]) = (0xC0, 0x7F)
        try Files.createDirectory(base + "/nan")
        for file in ["config.json", "tokenizer.json"] { try Files.writeAtomically(try Files.read(folder + "/" + file), to: base + "/nan/" + file) }
        try Files.writeAtomically(bytes, to: base + "/nan/model.safetensors")
        XCTAssertThrowsError(try Transformer.load(directory: base + "/nan")) {
            XCTAssertTrue("\($0)".contains("non-finite") && "\($0)".contains("layers.1.mlp.up.weight"), "\($0)")
        }
        let (ids, golden, _) = try loadGolden(folder: folder)
        var computes: [Compute] = [.fp32, .bf16]
        if Int8GEMM.available { computes.append(.int8) }
        for compute in computes {
            for threads in [1, 2] {
                let matmul = MatMul(threads: threads, compute: compute)
                let bf16Model = try Transformer.load(directory: base + "/bf16", matmul: matmul)
                let f32Model = try Transformer.load(directory: base + "/f32", matmul: matmul)
                let fromBF16 = try bf16Model.forward(ids: ids, batch: 2, length: 16)
                let fromF32 = try f32Model.forward(ids: ids, batch: 2, length: 16)
                XCTAssertEqual(fromBF16, fromF32, "\(compute), \(threads) threads")
                // Few rows (3 tokens; one head row): the F32 weights take the few-rows
                // path, the BF16 panels their kernel; the sums are in the same order.
                for positions in [[1], [0, 1, 2]] {
                    XCTAssertEqual(try bf16Model.forward(ids: Array(ids[0..<3]), batch: 1, length: 3, positions: positions),
                                   try f32Model.forward(ids: Array(ids[0..<3]), batch: 1, length: 3, positions: positions),
                                   "\(compute), \(threads) threads, 3 rows, head rows \(positions)")
                }
                let diff = zip(fromBF16, golden).map { abs($0 - $1) }.max()!
                print("llada-tiny in BF16 [\(compute), \(threads) threads]: identical to its F32 widening; max diff from the F32 golden \(diff) (BF16 rounding)")
            }
        }
    }
}

/// The tiny GPT-2 folder (its evaluation tests are in UnmaskEvaluationTests) in the
/// three-way forward check: layer norm, learned positions, biases on every linear, causal
/// attention, the head tied to the embeddings, against transformers' GPT2LMHeadModel.
final class HuggingFaceGPT2ForwardTests: XCTestCase {
    func testGPT2ThreeWays() throws {
        let folder = huggingFaceFixture("gpt2-tiny")
        let (ids, golden, json) = try loadGolden(folder: folder)
        try assertThreeWayForward(folder: folder, ids: ids, golden: golden,
                                  label: "gpt2-tiny", reference: "transformers \(json["transformers"]?.stringValue ?? "?")")
    }
}

/// What the reduced-precision paths cost on each family's fixture: the logits of
/// `--compute bf16` and `--compute int8` against the golden logits of the family's own
/// code (fp32), max difference printed. Measured on these random two-layer fixtures: bf16
/// 0.6–1.8 % of the largest logit, int8 1.9–5.7 % (random weights spread every column's
/// range, the worst case for per-column int8). The bounds, 3 % and 10 %, are about twice
/// that: they catch a path that is wrong, not one that is slightly worse; the figures are
/// what the printout and docs/performance.md report.
final class ReducedPrecisionFixtureTests: XCTestCase {
    func testEveryFamilyUnderBF16AndInt8() throws {
        var computes: [Compute] = [.bf16]
        if Int8GEMM.available { computes.append(.int8) }
        for name in ["llada-tiny", "dream-tiny", "mdlm-tiny", "gpt2-tiny", "sdar-tiny", "fast-dllm-v2-tiny", "a2d-qwen3-tiny"] {
            let folder = huggingFaceFixture(name)
            var (ids, golden, json) = try loadGolden(folder: folder)
            if json["shifted"]?.boolValue == true { golden = shiftedAsItsSamplerReads(golden, batch: 2, length: 16) }
            let scale = golden.map(abs).max()!
            let fp32 = try Transformer.load(directory: folder).forward(ids: ids, batch: 2, length: 16)
            let fp32Diff = zip(fp32, golden).map { abs($0 - $1) }.max()!
            for compute in computes {
                var outputs: [[Float]] = []
                for threads in [1, 2] {
                    let model = try Transformer.load(directory: folder, matmul: MatMul(threads: threads, compute: compute))
                    outputs.append(try model.forward(ids: ids, batch: 2, length: 16))
                }
                XCTAssertEqual(outputs[0].map(\.bitPattern), outputs[1].map(\.bitPattern), "\(name) \(compute): 1 and 2 threads")
                let diff = zip(outputs[0], golden).map { abs($0 - $1) }.max()!
                print("\(name) --compute \(compute.rawValue): max logit diff vs its own code \(diff) (fp32: \(fp32Diff); largest logit \(scale))")
                XCTAssertGreaterThan(diff, fp32Diff, "\(name) \(compute): really the reduced path")
                XCTAssertLessThan(diff, (compute == .bf16 ? 0.03 : 0.10) * scale, "\(name) \(compute)")
            }
        }
    }
}
