// swift-tools-version:6.0
// Coverage-guided fuzz targets (libFuzzer) for every input Unmask reads from strangers.
// Each target is an executable whose entry point is LLVMFuzzerTestOneInput; build and run
// them with scripts/ci/fuzz.sh (`swift build --sanitize=fuzzer --sanitize=address`), which
// also explains the flags. docs/fuzzing.md lists the targets and what each one checks.
import PackageDescription

let fuzzTargets = ["FuzzJSON", "FuzzSafetensors", "FuzzTokenizerFile", "FuzzEncode",
                   "FuzzHuggingFaceConfig", "FuzzSpecs", "FuzzSampleFile", "FuzzServerRequest"]

let package = Package(
    name: "UnmaskFuzz",
    dependencies: [.package(name: "Unmask", path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "Unmask", package: "Unmask")]),
    ] + fuzzTargets.map { name in
        .executableTarget(
            name: name,
            dependencies: ["FuzzSupport", .product(name: "Unmask", package: "Unmask")],
            // libFuzzer supplies main(); the target only defines LLVMFuzzerTestOneInput.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    }
)
