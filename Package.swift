// swift-tools-version:6.0
//
// Unmask: masked (absorbing-state) discrete diffusion language models in Swift.
//
// The targets read bottom-up, and every dependency points down this list:
//
//   UnmaskSupport    JSON, atomic file writes, errors          (no deps)
//   UnmaskTokenizer  byte-level BPE, utf8proc NFC, tokenizer.json
//   UnmaskCLI        the `unmask` command-line tool
//   Unmask           umbrella module re-exporting the library modules
//
// System libraries come through pkg-config:
//   libutf8proc-dev  -> CUtf8proc
//   libopenblas-dev  -> COpenBLAS  (the reference GEMM backend)
import PackageDescription

let package = Package(
    name: "Unmask",
    products: [
        .executable(name: "unmask", targets: ["UnmaskCLI"]),
        .library(name: "Unmask", targets: ["Unmask"]),
        .library(name: "UnmaskTokenizer", targets: ["UnmaskTokenizer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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
        .target(name: "UnmaskSupport"),
        .target(name: "UnmaskTokenizer", dependencies: ["UnmaskSupport", "CUtf8proc"]),
        .target(name: "Unmask", dependencies: ["UnmaskSupport", "UnmaskTokenizer"]),
        .executableTarget(
            name: "UnmaskCLI",
            dependencies: [
                "Unmask",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "UnmaskSupportTests", dependencies: ["UnmaskSupport"]),
        .testTarget(name: "UnmaskCLITests", dependencies: ["UnmaskCLI"]),
        .testTarget(
            name: "UnmaskTokenizerTests",
            dependencies: ["UnmaskTokenizer"],
            exclude: ["Fixtures"]
        ),
    ],
    swiftLanguageModes: [.v5]
)
