// swift-tools-version:6.0
// An outside package that opens a Hugging Face folder (LLaDA, Dream, MDLM) through Unmask
// and generates from it. CI builds and runs it against the checkout
// (`swift run --package-path Examples/HuggingFaceFolder`); give another folder as the
// first argument (`swift run --package-path Examples/HuggingFaceFolder HuggingFaceFolderExample DIR`).
import PackageDescription

let package = Package(
    name: "HuggingFaceFolder",
    dependencies: [
        // A path dependency names the package, since its folder may be called anything.
        .package(name: "Unmask", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "HuggingFaceFolderExample",
            dependencies: [.product(name: "Unmask", package: "Unmask")]
        ),
    ]
)
