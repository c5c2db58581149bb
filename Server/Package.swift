// swift-tools-version:6.0
// `unmask-serve`: the HTTP server (OpenAI-compatible routes, the native streaming route,
// the live page), on Hummingbird 2. A package of its own so that `unmask` and the quick
// start never build SwiftNIO: everything the server decides without HTTP (requests, jobs,
// shared calls, committed text, the event streams) is the library's UnmaskServing module,
// tested with the main package; this package is only the HTTP around it.
//   swift build -c release --package-path Server   →  Server/.build/release/unmask-serve
import PackageDescription

let package = Package(
    name: "UnmaskServer",
    products: [.executable(name: "unmask-serve", targets: ["UnmaskServe"])],
    dependencies: [
        // A path dependency names the package, since its folder may be called anything.
        .package(name: "Unmask", path: ".."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .target(name: "UnmaskHTTP", dependencies: [
            .product(name: "Unmask", package: "Unmask"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "UnmaskServe", dependencies: [
            "UnmaskHTTP",
            .product(name: "Unmask", package: "Unmask"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "UnmaskHTTPTests", dependencies: ["UnmaskHTTP", .product(name: "Unmask", package: "Unmask")]),
    ],
    swiftLanguageModes: [.v5]
)
