import XCTest
import UnmaskKernels
import UnmaskSupport

/// `--compute`, `bench forward`'s rows and the OpenBLAS core warning, as a user sees them.
final class ComputeCLITests: XCTestCase {
    func testComputeOption() throws {
        assertCleanFailure(try runUnmask(["generate", "--length", "8", "--compute", "int8", "--backend", "openblas"]),
                           mentioning: "our kernels only")
        guard Int8GEMM.available else {
            assertCleanFailure(try runUnmask(["generate", "--length", "8", "--compute", "int8"]), mentioning: "VNNI")
            return
        }
        // Same seed, same text on 1 and 2 threads, on the int8 path too.
        let one = try runUnmask(["generate", "--length", "24", "--seed", "5", "--compute", "int8", "--threads", "1", "--json"])
        let two = try runUnmask(["generate", "--length", "24", "--seed", "5", "--compute", "int8", "--threads", "2", "--json"])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertEqual(withoutSeconds(one.stdout), withoutSeconds(two.stdout))
        // bf16: run where measured faster than fp32, else refused with the measured rates. The
        // measurement is each CLI process's own, which load on the machine can tip, so the
        // run's own answer decides which is checked.
        let bf16 = try runUnmask(["generate", "--length", "24", "--seed", "5", "--compute", "bf16", "--threads", "1", "--json"])
        let bf16Two = bf16.status == 0
            ? try runUnmask(["generate", "--length", "24", "--seed", "5", "--compute", "bf16", "--threads", "2", "--json"]) : bf16
        if bf16.status == 0 && bf16Two.status == 0 {
            XCTAssertEqual(withoutSeconds(bf16.stdout), withoutSeconds(bf16Two.stdout))
        } else if bf16.status == 0 {
            assertCleanFailure(bf16Two, mentioning: "would be slower here")
        } else {
            assertCleanFailure(bf16, mentioning: BF16GEMM.available ? "would be slower here" : "AVX512_BF16")
        }
        assertCleanFailure(try runUnmask(["generate", "--length", "8", "--compute", "bf16", "--backend", "openblas"]),
                           mentioning: "our kernels only")
        // Training has no --compute: it runs fp32.
        XCTAssertNotEqual(try runUnmask(["train", "--compute", "int8"]).status, 0)
    }

    /// A model too large for this machine in the chosen precision is refused before any
    /// weight is read, with what it would need in every precision.
    func testTooLargeIsRefusedWithEveryPrecisionsFigure() throws {
        let dir = NSTemporaryDirectory() + "unmask-huge-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 256 layers at d 16 384, d_ff 65 536: about 0.8 T parameters, and no weights file.
        let config = #"{"architecture": "unmask-transformer", "vocab_size": 4096, "d_model": 16384, "n_layers": 256, "n_heads": 128, "d_ff": 65536, "context_length": 128, "norm": "rmsnorm", "norm_eps": 1e-05, "activation": "gelu", "positions": "rotary", "rope_theta": 10000.0, "tied_embeddings": true, "attention": "bidirectional", "head": "tokens", "mask_token_id": 4095, "weight_layout": "in_out"}"#
        try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let r = try runUnmask(["generate", "--model", dir, "--length", "8"])
        assertCleanFailure(r, mentioning: "GB for its fp32 weights")
        for figure in ["fp32 about", "int8 about", "bf16 about"] { XCTAssertTrue(r.stderr.contains(figure), r.stderr) }
    }

    func testBenchForwardRowsAndCoreWarning() throws {
        // The list options take commas and repetition alike.
        let listed = try runUnmask(["bench", "forward", "--batches", "1", "--threads", "1", "--rounds", "1",
                                    "--engines", "fp32", "--engines", "openblas,fp32", "--json"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        XCTAssertEqual(listed.stdout.split(separator: "\n").count, 3, listed.stdout)
        let r = try runUnmask(["bench", "forward", "--batches", "1", "--threads", "1", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = r.stdout.split(separator: "\n")
        XCTAssertEqual(rows.count, 2 + (Int8GEMM.available ? 1 : 0) + (BF16GEMM.available ? 1 : 0))
        for row in rows {
            for key in ["\"batch\":1", "\"threads\":1", "\"compute\":", "\"ms\":", "\"gflops\":", "\"gemm_share\":"] {
                XCTAssertTrue(row.contains(key), "\(row) lacks \(key)")
            }
        }
        XCTAssertEqual(rows.filter { $0.contains("\"compute\":\"int8\"") }.count, Int8GEMM.available ? 1 : 0)
        XCTAssertEqual(rows.filter { $0.contains("\"compute\":\"bf16\"") }.count, BF16GEMM.available ? 1 : 0)
        // Each fp32 row says what fraction of the measured FMA peak it reached: a share of
        // a rate measured in the same run, so above 0 and (the peak being the bound) at most 1.
        for row in rows where row.contains("\"compute\":\"fp32\"") && PeakRate.available {
            let value = try JSON.parse(Array(row.utf8))
            let fraction = try XCTUnwrap(value["peak_fraction"]?.doubleValue, String(row))
            XCTAssertGreaterThan(try XCTUnwrap(value["fma_peak_gflops"]?.doubleValue), 0)
            XCTAssertTrue(fraction > 0 && fraction <= 1, String(row))
        }
        // The machine header leads the first object, and only it.
        for key in ["\"cpu\":", "\"date\":", "\"commit\":", "\"openblas_core\":"] {
            XCTAssertTrue(rows.first?.hasPrefix("{\"cpu\":") == true && rows.first!.contains(key), "\(rows.first ?? "") lacks \(key)")
            XCTAssertFalse(rows.dropFirst().contains { $0.contains(key) }, "only the first row carries \(key)")
        }
        // A generic OpenBLAS core is named and warned about, with the variable that fixes it.
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_CORETYPE"] = "Prescott"
        let text = try runUnmask(["bench", "forward", "--batches", "1", "--threads", "1"], environment: env)
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("OpenBLAS core: Prescott"), text.stdout)
        XCTAssertTrue(text.stdout.hasPrefix("# cpu: "), text.stdout)
        XCTAssertTrue(text.stdout.split(separator: "\n").first!.contains(" · openblas core: Prescott"), text.stdout)
        #if arch(x86_64)
        XCTAssertTrue(text.stdout.contains("warning: OpenBLAS runs its generic Prescott kernels"), text.stdout)
        XCTAssertTrue(text.stdout.contains("OPENBLAS_CORETYPE="), text.stdout)
        #endif
    }
}
