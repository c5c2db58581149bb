// swift-tools-version:6.0
// An outside package that steers Unmask's bundled denoiser with a reward of its own.
// CI builds and runs it against the checkout (`swift run --package-path Examples/CustomReward`).
import PackageDescription

let package = Package(
    name: "CustomReward",
    dependencies: [
        .package(name: "Unmask", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "CustomReward",
            dependencies: [.product(name: "Unmask", package: "Unmask")]
        ),
    ]
)
