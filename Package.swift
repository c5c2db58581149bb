// swift-tools-version:6.0
//
// Unmask: masked (absorbing-state) discrete diffusion language models in Swift.
//
// The targets read bottom-up, and every dependency points down this list:
//
//   UnmaskSupport    JSON, atomic file writes, errors, signals, terminal (C helpers only)
//   UnmaskTokenizer  byte-level BPE, utf8proc NFC, tokenizer.json
//   UnmaskKernels    GEMM (ours + OpenBLAS, fp32; int8 via CInt8GEMM; bf16 via CBF16GEMM), worker
//                    pool, vector math, the measured peak rates (CPeakRate)
//   UnmaskModel      config.json, safetensors (mmap), Hugging Face folders, the one forward
//                    pass and its backward, each layer's forward and backward (Layers/)
//   UnmaskDiffusion  schedules, corruption kernels, Philox, categorical draws, samplers
//   UnmaskEvaluation held-out ELBO, evaluator perplexity, generative perplexity, entropy;
//                    the model set (each role's model opened with its tokenizer)
//   UnmaskTraining   the training step, AdamW, objectives, the trainer
//   UnmaskSteering   guidance, tilts and constraints on the first-hitting kernel: particles,
//                    path weights, resampling, rewards (CFG, annealing, SMC/FK, SVDD, best-of-n),
//                    the which-novel classifier, steered comparisons
//   UnmaskGeneration one generation setup for every front end: the settings a user gives
//                    (sampler, overrides, steering, class, window, cache, canvas), checked
//                    once, and prepared into what a run needs; errors name settings
//   UnmaskServing    what `unmask-serve` (Server/) runs, without any HTTP: requests decoded
//                    and checked, jobs and their queue, network calls shared by concurrent
//                    requests, the committed-text tracker, the response and event streams
//   Unmask           umbrella module re-exporting the library modules
//   UnmaskBenchmarks `unmask bench`'s measurements: GEMM, forward (and the published-shape
//                    presets), samplers, training step, the machine header of every result
//   UnmaskCLI        the `unmask` command-line tool
//
// UnmaskBenchmarks is not part of the umbrella: a library user's build does not compile it.
//
// System libraries come through pkg-config:
//   libutf8proc-dev  -> CUtf8proc
//   libopenblas-dev  -> COpenBLAS  (the reference GEMM backend)
import PackageDescription

// The GEMM micro-kernels need FMA (and AVX-512 for the wide one). On x86_64 the kernel
// modules are compiled for a CPU that has them; without it SIMD FMA becomes a libm call
// per lane. Unmask therefore needs an x86_64 CPU with AVX2 + FMA (Haswell, 2013, or
// newer; any Zen); the AVX-512 kernel is only called after a runtime check. On arm64
// no flags are needed (NEON has FMA).
//
// The kernel modules are also optimised (-O) in debug builds: an unoptimised GEMM is
// hundreds of times slower, which would make `swift test` crawl and teach nothing.
#if arch(x86_64)
let portableKernelFlags: [SwiftSetting] = [.unsafeFlags(["-O", "-target-cpu", "haswell"])]
let avx512KernelFlags: [SwiftSetting] = [.unsafeFlags(["-O", "-target-cpu", "skylake-avx512"])]
#else
let portableKernelFlags: [SwiftSetting] = [.unsafeFlags(["-O"])]
let avx512KernelFlags: [SwiftSetting] = [.unsafeFlags(["-O"])]
#endif

let package = Package(
    name: "Unmask",
    products: [
        .executable(name: "unmask", targets: ["UnmaskCLI"]),
        .library(name: "Unmask", targets: ["Unmask"]),
        .library(name: "UnmaskTokenizer", targets: ["UnmaskTokenizer"]),
        .library(name: "UnmaskKernels", targets: ["UnmaskKernels"]),
        .library(name: "UnmaskModel", targets: ["UnmaskModel"]),
        .library(name: "UnmaskDiffusion", targets: ["UnmaskDiffusion"]),
        .library(name: "UnmaskEvaluation", targets: ["UnmaskEvaluation"]),
        .library(name: "UnmaskSteering", targets: ["UnmaskSteering"]),
        .library(name: "UnmaskTraining", targets: ["UnmaskTraining"]),
        .library(name: "UnmaskGeneration", targets: ["UnmaskGeneration"]),
        .library(name: "UnmaskServing", targets: ["UnmaskServing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CUtf8proc",
            pkgConfig: "libutf8proc",
            providers: [.apt(["libutf8proc-dev"])]
        ),
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(name: "UnmaskSupport", dependencies: ["CCPUFeatures"]),
        .target(name: "UnmaskTokenizer", dependencies: ["UnmaskSupport", "CUtf8proc", .product(name: "HeapModule", package: "swift-collections")]),
        .target(name: "CCPUFeatures"),
        .target(name: "UnmaskKernelsAVX512", swiftSettings: avx512KernelFlags),
        // The int8 micro-kernels: Swift cannot emit VNNI, so they are C with intrinsics in
        // functions marked for the AVX-512 target (no global -m flags; a runtime check picks
        // them). Optimised in debug builds too: unoptimised they run ~40x slower.
        .target(name: "CInt8GEMM", cSettings: [.unsafeFlags(["-O2"])]),
        // The BF16 micro-kernels (vdpbf16ps), likewise C with target attributes, -O2 always.
        .target(name: "CBF16GEMM", cSettings: [.unsafeFlags(["-O2"])]),
        // The register-resident loop that measures a core's FMA peak, for `bench`: -O2
        // always, or its accumulators live on the stack and it measures memory instead.
        .target(name: "CPeakRate", cSettings: [.unsafeFlags(["-O2"])]),
        .target(
            name: "UnmaskKernels",
            dependencies: ["UnmaskSupport", "CCPUFeatures", "UnmaskKernelsAVX512", "CInt8GEMM", "CBF16GEMM", "CPeakRate", "COpenBLAS"],
            swiftSettings: portableKernelFlags
        ),
        // The layers' row loops are vector code too: compiled like the kernels.
        .target(name: "UnmaskModel", dependencies: ["UnmaskSupport", "UnmaskKernels"], swiftSettings: portableKernelFlags),
        .target(
            name: "UnmaskDiffusion",
            dependencies: ["UnmaskSupport", "UnmaskModel"],
            swiftSettings: [.unsafeFlags(["-O"])]  // the sampling loops are hot, in tests too
        ),
        .target(
            name: "UnmaskSteering",
            dependencies: ["UnmaskSupport", "UnmaskTokenizer", "UnmaskModel", "UnmaskDiffusion", "UnmaskEvaluation"],
            swiftSettings: [.unsafeFlags(["-O"])]  // per-token proposals over the vocabulary, every step
        ),
        .target(
            name: "UnmaskTraining",
            dependencies: ["UnmaskSupport", "UnmaskTokenizer", "UnmaskKernels", "UnmaskModel", "UnmaskDiffusion"],
            swiftSettings: [.unsafeFlags(["-O"])]  // the elementwise backward loops are hot
        ),
        .target(name: "UnmaskGeneration",
                dependencies: ["UnmaskSupport", "UnmaskTokenizer", "UnmaskModel", "UnmaskDiffusion", "UnmaskEvaluation", "UnmaskSteering"]),
        .target(name: "UnmaskServing",
                dependencies: ["UnmaskSupport", "UnmaskTokenizer", "UnmaskModel", "UnmaskDiffusion", "UnmaskEvaluation", "UnmaskSteering", "UnmaskGeneration"]),
        .target(name: "UnmaskEvaluation", dependencies: ["UnmaskSupport", "UnmaskTokenizer", "UnmaskKernels", "UnmaskModel", "UnmaskDiffusion"]),
        .target(
            name: "Unmask",
            dependencies: ["UnmaskSupport", "UnmaskTokenizer", "UnmaskKernels", "UnmaskModel", "UnmaskDiffusion",
                           "UnmaskEvaluation", "UnmaskSteering", "UnmaskGeneration", "UnmaskTraining", "UnmaskServing"]
        ),
        .target(
            name: "UnmaskBenchmarks",
            dependencies: ["UnmaskSupport", "UnmaskKernels", "UnmaskModel", "UnmaskTokenizer", "UnmaskDiffusion", "UnmaskTraining"]
        ),
        .executableTarget(
            name: "UnmaskCLI",
            dependencies: [
                "Unmask",
                "UnmaskBenchmarks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "UnmaskSupportTests", dependencies: ["UnmaskSupport"]),
        .testTarget(name: "UnmaskCLITests", dependencies: ["UnmaskCLI", "UnmaskKernels"]),
        .testTarget(name: "UnmaskKernelsTests", dependencies: ["UnmaskKernels", "UnmaskSupport"]),
        .testTarget(name: "UnmaskModelTests", dependencies: ["UnmaskSupport", "UnmaskKernels", "UnmaskModel"], exclude: ["Fixtures"]),
        // The chi-square harness the statistical tests share (goodness of fit, power, quantiles).
        .target(name: "UnmaskTestSupport", path: "Tests/UnmaskTestSupport", swiftSettings: [.unsafeFlags(["-O"])]),
        // Statistical tests draw 10^5+ samples: optimised, or they would take minutes.
        .testTarget(name: "UnmaskDiffusionTests",
                    dependencies: ["UnmaskSupport", "UnmaskTokenizer", "UnmaskModel", "UnmaskDiffusion", "UnmaskTestSupport"],
                    swiftSettings: [.unsafeFlags(["-O"])]),
        // The steering engine against enumerated laws, its rewards, and steering a Hugging Face folder.
        .testTarget(name: "UnmaskSteeringTests",
                    dependencies: ["UnmaskSupport", "UnmaskTokenizer", "UnmaskKernels", "UnmaskModel", "UnmaskDiffusion", "UnmaskSteering",
                                   "UnmaskTestSupport"],
                    swiftSettings: [.unsafeFlags(["-O"])]),
        .testTarget(name: "UnmaskGenerationTests",
                    dependencies: ["UnmaskSupport", "UnmaskTokenizer", "UnmaskModel", "UnmaskDiffusion", "UnmaskSteering", "UnmaskGeneration"]),
        .testTarget(name: "UnmaskTrainingTests",
                    dependencies: ["UnmaskSupport", "UnmaskTokenizer", "UnmaskKernels", "UnmaskModel", "UnmaskDiffusion", "UnmaskTraining"]),
        .testTarget(
            name: "UnmaskEvaluationTests",
            dependencies: ["UnmaskSupport", "UnmaskTokenizer", "UnmaskKernels", "UnmaskModel", "UnmaskDiffusion", "UnmaskEvaluation"]
        ),
        .testTarget(name: "UnmaskServingTests",
                    dependencies: ["UnmaskSupport", "UnmaskTokenizer", "UnmaskModel", "UnmaskDiffusion", "UnmaskEvaluation", "UnmaskSteering", "UnmaskServing"]),
        .testTarget(
            name: "UnmaskTokenizerTests",
            dependencies: ["UnmaskSupport", "UnmaskTokenizer"],
            exclude: ["Fixtures"]
        ),
    ],
    swiftLanguageModes: [.v5]
)
