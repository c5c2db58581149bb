import XCTest
@testable import UnmaskModel
import UnmaskKernels
import UnmaskSupport

/// Every layer's forward and backward (Layers/) against a naive Double reference of the
/// same op: the forward output directly, the backward against the reference's gradient by
/// central differences in Double (step 1e-5: truncation ~1e-10, rounding ~1e-11, both far
/// below float's 1e-7 relative, so the comparison measures the float code alone). Each
/// prints its max-diff. The loss is L = Σ g·y for a fixed random g, so dL/dy = g.
final class LayerTests: XCTestCase {
    var rng = SplitMix64(seed: 11)
    func randoms(_ n: Int, scale: Double = 1) -> [Double] { (0..<n).map { _ in rng.nextGaussian() * scale } }

    /// Central differences of f at x, in Double.
    func numericGradient(_ x: [Double], _ f: ([Double]) -> Double) -> [Double] {
        let h = 1e-5
        return (0..<x.count).map { i in
            var a = x, b = x
            a[i] += h
            b[i] -= h
            return (f(a) - f(b)) / (2 * h)
        }
    }

    func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map(*).reduce(0, +) }

    /// max |a − b| / max(1, max |b|), printed; fails above `tolerance`.
    func check(_ name: String, _ a: [Float], _ b: [Double], tolerance: Double = 1e-5,
               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, name, file: file, line: line)
        let scale = max(1, b.map(abs).max() ?? 0)
        let diff = zip(a, b).map { abs(Double($0) - $1) }.max() ?? 0
        print("\(name): max diff \(diff) (scale \(String(format: "%.3g", scale)))")
        XCTAssertLessThanOrEqual(diff / scale, tolerance, name, file: file, line: line)
    }

    func floats(_ x: [Double]) -> [Float] { x.map(Float.init) }

    // MARK: Norm

    func referenceNorm(_ kind: ModelConfig.Norm, _ x: [Double], w: [Double], b: [Double], rows: Int, d: Int) -> [Double] {
        var y = x
        for r in 0..<rows {
            let row = Array(x[(r * d)..<((r + 1) * d)])
            let mean = kind == .layernorm ? row.reduce(0, +) / Double(d) : 0
            let inv = 1 / (row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d) + 1e-5).squareRoot()
            for i in 0..<d { y[r * d + i] = (row[i] - mean) * inv * w[i] + (kind == .layernorm ? b[i] : 0) }
        }
        return y
    }

    func testNorm() {
        for kind in ModelConfig.Norm.allCases {
            let rows = 37, d = 20  // a tail past 16 lanes, and 2 gradient blocks
            let x = randoms(rows * d, scale: 2), w = randoms(d).map { 1 + 0.3 * $0 }, b = randoms(d), g = randoms(rows * d)
            var y = [Float](repeating: 0, count: rows * d), rstd = [Float](repeating: 0, count: rows), mean = rstd
            let xf = floats(x), wf = floats(w), bf = floats(b)
            NormLayer.forward(kind, x: xf, y: &y, rows: rows, d: d, weight: wf, bias: kind == .layernorm ? bf : nil, eps: 1e-5,
                              rstd: &rstd, mean: &mean, threads: 2)
            check("norm \(kind) forward", y, referenceNorm(kind, x, w: w, b: b, rows: rows, d: d))
            var dx = [Float](repeating: 0, count: rows * d), dw = [Float](repeating: 0, count: d), db = dw
            var scratch = [Float](repeating: 0, count: NormLayer.scratchFloats(rows: rows, d: d))
            db.withUnsafeMutableBufferPointer { dbp in
                NormLayer.backward(kind, dy: floats(g), x: xf, rstd: rstd, mean: mean, rows: rows, d: d, weight: wf, dWeight: &dw,
                                   dBias: kind == .layernorm ? dbp.baseAddress! : nil, dx: &dx, accumulate: false,
                                   scratch: &scratch, threads: 2)
            }
            check("norm \(kind) dx", dx, numericGradient(x) { dot(g, referenceNorm(kind, $0, w: w, b: b, rows: rows, d: d)) })
            check("norm \(kind) dweight", dw, numericGradient(w) { dot(g, referenceNorm(kind, x, w: $0, b: b, rows: rows, d: d)) })
            if kind == .layernorm {
                check("norm \(kind) dbias", db, numericGradient(b) { dot(g, referenceNorm(kind, x, w: w, b: $0, rows: rows, d: d)) })
            }
        }
    }

    // MARK: Rotary + attention scale

    func referenceRotary(_ qkv: [Double], rows: Int, L: Int, d: Int, heads: Int, scale: Double, theta: Double) -> [Double] {
        var out = qkv
        let dh = d / heads, half = dh / 2
        for r in 0..<rows {
            for part in 0..<2 {
                for h in 0..<heads {
                    let base = r * 3 * d + part * d + h * dh
                    for i in 0..<half {
                        let angle = Double(r % L) * pow(theta, -2 * Double(i) / Double(dh))
                        let a = qkv[base + i], b = qkv[base + i + half]
                        let f = part == 0 ? scale : 1
                        out[base + i] = (a * cos(angle) - b * sin(angle)) * f
                        out[base + i + half] = (b * cos(angle) + a * sin(angle)) * f
                    }
                }
            }
        }
        return out
    }

    func testRotary() {
        for dh in [8, 32] {  // the scalar path and the 16-lane path
            let heads = 2, d = heads * dh, L = 5, rows = 2 * L, scale = 1 / Double(dh).squareRoot()
            let rotary = RotaryLayer(length: L, headDim: dh, theta: 10_000)
            let x = randoms(rows * 3 * d), g = randoms(rows * 3 * d)
            var y = floats(x)
            RotaryLayer.forward(rotary, qkv: &y, rows: rows, length: L, headDim: dh, heads: heads, kvHeads: heads, scale: Float(scale), threads: 2)
            check("rotary dh=\(dh) forward", y, referenceRotary(x, rows: rows, L: L, d: d, heads: heads, scale: scale, theta: 10_000))
            var dq = floats(g)
            RotaryLayer.backward(rotary, dqkv: &dq, rows: rows, length: L, headDim: dh, heads: heads, kvHeads: heads, scale: Float(scale), threads: 2)
            let numeric = numericGradient(x) { dot(g, referenceRotary($0, rows: rows, L: L, d: d, heads: heads, scale: scale, theta: 10_000)) }
            // The values' third of each row passes through: backward leaves dqkv's values alone.
            check("rotary dh=\(dh) backward", dq, numeric)
        }
    }

    // MARK: Attention

    func referenceAttention(_ qkv: [Double], batch: Int, L: Int, d: Int, heads: Int, causal: Bool) -> [Double] {
        let dh = d / heads
        var out = [Double](repeating: 0, count: batch * L * d)
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<L {
                    let q = (b * L + i) * 3 * d + h * dh
                    let valid = causal ? i + 1 : L
                    let s = (0..<valid).map { j in (0..<dh).map { qkv[q + $0] * qkv[(b * L + j) * 3 * d + d + h * dh + $0] }.reduce(0, +) }
                    let m = s.max()!
                    let e = s.map { exp($0 - m) }, z = e.reduce(0, +)
                    for j in 0..<valid {
                        for c in 0..<dh { out[(b * L + i) * d + h * dh + c] += e[j] / z * qkv[(b * L + j) * 3 * d + 2 * d + h * dh + c] }
                    }
                }
            }
        }
        return out
    }

    func testAttention() {
        for causal in [false, true] {
            let batch = 2, L = 7, heads = 2, d = 8
            let x = randoms(batch * L * 3 * d), g = randoms(batch * L * d)
            var out = [Float](repeating: 0, count: batch * L * d), probs = [Float](repeating: 0, count: batch * heads * L * L)
            let xf = floats(x)
            AttentionLayer.forward(qkv: xf, out: &out, probs: &probs, probsPerUnit: true, batch: batch, length: L, headDim: d / heads,
                                   heads: heads, kvHeads: heads, pattern: causal ? .causal : .full, matmul: MatMul(threads: 2))
            check("attention causal=\(causal) forward", out, referenceAttention(x, batch: batch, L: L, d: d, heads: heads, causal: causal))
            var dqkv = [Float](repeating: .nan, count: x.count), scratch = [Float](repeating: 0, count: 2 * L * L)
            AttentionLayer.backward(dout: floats(g), qkv: xf, probs: probs, dqkv: &dqkv, scratch: &scratch, batch: batch, length: L,
                                    d: d, heads: heads, matmul: MatMul(threads: 2))
            check("attention causal=\(causal) backward", dqkv,
                  numericGradient(x) { dot(g, referenceAttention($0, batch: batch, L: L, d: d, heads: heads, causal: causal)) })
        }
    }

    // MARK: Activation, embedding, linear, loss

    func testActivation() {
        for kind in ModelConfig.Activation.allCases {
            let x = randoms(45, scale: 2), g = randoms(45)
            func reference(_ x: [Double]) -> [Double] {
                x.map { v in kind == .gelu ? 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))) : v / (1 + exp(-v)) }
            }
            var y = [Float](repeating: 0, count: x.count)
            let xf = floats(x)
            ActivationLayer.forward(kind, x: xf, y: &y, count: x.count, threads: 2)
            check("activation \(kind) forward", y, reference(x))
            var dy = floats(g)
            ActivationLayer.backward(kind, dy: &dy, x: xf, count: x.count, threads: 2)
            check("activation \(kind) backward", dy, numericGradient(x) { dot(g, reference($0)) })
        }
    }

    func testEmbedding() {
        let V = 6, d = 5, L = 3, ids = [1, 4, 1, 0, 5, 1]
        let table = randoms(V * d), positions = randoms(L * d), g = randoms(ids.count * d)
        func reference(_ t: [Double], _ p: [Double]) -> [Double] {
            ids.enumerated().flatMap { r, id in (0..<d).map { t[id * d + $0] + p[(r % L) * d + $0] } }
        }
        var x = [Float](repeating: 0, count: ids.count * d)
        floats(table).withUnsafeBufferPointer { t in
            EmbeddingLayer.forward(ids: ids, table: StoredMatrix(f32: t.baseAddress!, rows: V, cols: d), positions: floats(positions),
                                   x: &x, length: L, d: d, threads: 2)
        }
        check("embedding forward", x, reference(table, positions))
        var dt = [Float](repeating: 0, count: V * d), dp = [Float](repeating: 0, count: L * d)
        EmbeddingLayer.backward(ids: ids, dx: floats(g), dTable: &dt, dPositions: &dp, length: L, d: d)
        check("embedding dtable", dt, numericGradient(table) { dot(g, reference($0, positions)) })
        check("embedding dpositions", dp, numericGradient(positions) { dot(g, reference(table, $0)) })
    }

    func testLinear() {
        for transposed in [false, true] {
            let rows = 9, nIn = 7, nOut = 5
            let x = randoms(rows * nIn), w = randoms(nIn * nOut), g = randoms(rows * nOut)
            // W (in, out); stored (out, in) when transposed.
            func at(_ w: [Double], _ p: Int, _ j: Int) -> Double { transposed ? w[j * nIn + p] : w[p * nOut + j] }
            func reference(_ x: [Double], _ w: [Double]) -> [Double] {
                (0..<rows).flatMap { r in (0..<nOut).map { j in (0..<nIn).map { x[r * nIn + $0] * at(w, $0, j) }.reduce(0, +) } }
            }
            let wf = floats(w)
            wf.withUnsafeBufferPointer { wb in
                let weight = Weight(rows: nIn, cols: nOut, raw: wb.baseAddress!, transposed: transposed)
                for backend in [GEMMBackend.unmask, .openblas] {
                    let mm = MatMul(backend: backend, threads: 2)
                    var y = [Float](repeating: 0, count: rows * nOut)
                    mm.linear(m: rows, a: floats(x), lda: nIn, weight: weight, c: &y, ldc: nOut)
                    check("linear transposed=\(transposed) \(backend) forward", y, reference(x, w))
                    var dw = [Float](repeating: 0, count: nIn * nOut), dx = [Float](repeating: 0, count: rows * nIn)
                    LinearLayer.backward(matmul: mm, dy: floats(g), x: floats(x), rows: rows, weight: weight, dWeight: &dw, dx: &dx)
                    check("linear transposed=\(transposed) \(backend) dx", dx, numericGradient(x) { dot(g, reference($0, w)) })
                    check("linear transposed=\(transposed) \(backend) dweight", dw, numericGradient(w) { dot(g, reference(x, $0)) })
                }
            }
        }
    }

    func testLosses() throws {
        // Token cross-entropy, the mask (id 3) excluded from the softmax.
        let V = 6, positions = [0, 2, 3], targets = [1, 5, 0], weights: [Float] = [0.5, 1, 2]
        let z = randoms(positions.count * V, scale: 2)
        func tokenLoss(_ z: [Double]) -> Double {
            (0..<positions.count).map { j in
                let row = (0..<V).filter { $0 != 3 }.map { z[j * V + $0] }
                let m = row.max()!
                return Double(weights[j]) * (log(row.map { exp($0 - m) }.reduce(0, +)) + m - z[j * V + targets[j]])
            }.reduce(0, +)
        }
        var logits = floats(z)
        let loss = try Loss.apply(.tokens(positions: positions, targets: targets, weights: weights, excluded: 3),
                                  logits: &logits, outputSize: V, threads: 2)
        check("token cross-entropy loss", [Float(loss)], [tokenLoss(z)])
        check("token cross-entropy gradient", logits, numericGradient(z, tokenLoss))
        // Binary cross-entropy with logits.
        let labels: [Float] = [1, 0, 1, 0], bw: [Float] = [0.25, 1, 0, 3]
        let b = randoms(4, scale: 3)
        func binaryLoss(_ z: [Double]) -> Double {
            var total = 0.0
            for r in 0..<4 {
                let p: Double = 1 / (1 + exp(-z[r])), y = Double(labels[r])
                let nll: Double = -(y * log(p) + (1 - y) * log(1 - p))
                total += Double(bw[r]) * nll
            }
            return total
        }
        var bl = floats(b)
        let bloss = try Loss.apply(.binary(labels: labels, weights: bw), logits: &bl, outputSize: 1, threads: 2)
        check("binary cross-entropy loss", [Float(bloss)], [binaryLoss(b)])
        check("binary cross-entropy gradient", bl, numericGradient(b, binaryLoss))
    }
}

/// The whole forward on the int8 and bf16 paths: the same output on 1 and 2 threads, bit for
/// bit, a sequence alone giving the bits it gives in a batch, close to the fp32 forward, and
/// refused for training.
final class Int8ForwardTests: XCTestCase {
    func testBF16ForwardIsDeterministicAndClose() throws {
        if !BF16GEMM.available { print("no AVX512_BF16: the bf16 path runs its scalar reference here") }
        try checkReducedForward(.bf16)
    }

    func testInt8ForwardIsDeterministicAndClose() throws {
        try XCTSkipUnless(Int8GEMM.available, "no AVX-512 VNNI on this CPU")
        try checkReducedForward(.int8)
    }

    func checkReducedForward(_ compute: Compute) throws {
        let c = ModelConfig(vocabSize: 300, dModel: 64, nLayers: 2, nHeads: 4, dFF: 128, contextLength: 32, maskTokenId: 299)
        let p = ParameterBuffer.random(config: c, seed: 3)
        let ids = (0..<64).map { ($0 * 37) % 300 }
        func run(_ compute: Compute, threads: Int, batch: Int = 2) throws -> [Float] {
            try Transformer(config: c, source: p, matmul: MatMul(threads: threads, compute: compute))
                .forward(ids: Array(ids[0..<(batch * 32)]), batch: batch, length: 32)
        }
        let one = try run(compute, threads: 1), two = try run(compute, threads: 2), exact = try run(.fp32, threads: 1)
        XCTAssertEqual(one.map(\.bitPattern), two.map(\.bitPattern))
        XCTAssertEqual(try run(compute, threads: 2, batch: 1).map(\.bitPattern), Array(one[0..<(32 * 300)]).map(\.bitPattern))
        let scale = exact.map(abs).max()!, diff = zip(one, exact).map { abs($0 - $1) }.max()!
        print("\(compute.rawValue) forward vs fp32: max diff \(diff) (largest logit \(scale))")
        XCTAssertGreaterThan(diff, 0)  // really the reduced path
        XCTAssertLessThan(diff / scale, 0.05)
        // Training refuses it: int8 and bf16 are for inference.
        let training = try Transformer(config: c, source: p, matmul: MatMul(compute: compute))
        XCTAssertThrowsError(try training.forwardForTraining(ids: ids, batch: 2, length: 32, positions: [0],
                                                             arena: ActivationArena(config: c, training: true)))
    }
}
