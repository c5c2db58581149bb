// swift-tools-version:6.0
// Three programs outside the main package that use Unmask as a library, the way your own
// package would (a path dependency here; from GitHub, `.package(url: …, branch: "main")`).
// CI builds them once and runs each against the checkout:
//
//   swift run --package-path Examples CustomSampler      a denoiser and a planner of its own
//                                                        through Unmask's samplers
//   swift run --package-path Examples CustomReward       a reward of its own steering the
//                                                        bundled denoiser (best-of-n, FK)
//   swift run --package-path Examples HuggingFaceFolder [DIR]
//                                                        a Hugging Face folder (LLaDA, Dream,
//                                                        MDLM) opened and generated from
import PackageDescription

let package = Package(
    name: "UnmaskExamples",
    dependencies: [
        // A path dependency names the package, since its folder may be called anything.
        .package(name: "Unmask", path: ".."),
    ],
    targets: [
        .executableTarget(name: "CustomSampler", dependencies: [.product(name: "Unmask", package: "Unmask")]),
        .executableTarget(name: "CustomReward", dependencies: [.product(name: "Unmask", package: "Unmask")]),
        .executableTarget(name: "HuggingFaceFolder", dependencies: [.product(name: "Unmask", package: "Unmask")]),
    ]
)
