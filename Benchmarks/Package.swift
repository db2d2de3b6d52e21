// swift-tools-version:6.1
import Foundation
import PackageDescription

/// SwiftPM names a path dependency after its directory, and a clone's directory can have any name.
let root = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent()
let rootIdentity = root.lastPathComponent

/// `make bench`: keyshard's threshold operations next to OpenSSL's single-key ones,
/// measured in one run by ordo-one/benchmark. A separate package so that the main
/// build and CI never compile the benchmark harness.
let package = Package(
    name: "keyshard-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: root.path),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.1.4"),
    ],
    targets: [
        .executableTarget(
            name: "ThresholdCosts",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ShardCrypto", package: rootIdentity),
            ],
            path: "ThresholdCosts",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // End to end through keyshardd (client → socket → daemon → agents), next to single-key baselines.
        .executableTarget(
            name: "EndToEnd",
            dependencies: [
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "KeyshardAPI", package: rootIdentity),
                .product(name: "KeyshardClient", package: rootIdentity),
                .product(name: "ShardCrypto", package: rootIdentity),
            ],
            path: "EndToEnd"
        ),
    ],
    swiftLanguageModes: [.v6]
)
