// swift-tools-version:6.0
// An outside package that uses Unmask as a library: its own denoiser and its own planner
// run through Unmask's samplers. CI builds and runs it against the checkout
// (`swift run --package-path Examples/CustomSampler`).
import PackageDescription

let package = Package(
    name: "CustomSampler",
    dependencies: [
        // A path dependency names the package, since its folder may be called anything.
        // From GitHub instead: .package(url: "https://github.com/<you>/unmask", branch: "main")
        .package(name: "Unmask", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "CustomSampler",
            dependencies: [.product(name: "Unmask", package: "Unmask")]
        ),
    ]
)
