// swift-tools-version:6.1
import PackageDescription

/// keyshard: a master key that lives only as Shamir shares in attested custodian VMs.
///
/// Every C library sits behind exactly one Swift wrapper module:
/// `COpenSSL` → `ShardCrypto`, `CTSS2` → `TPM2`, `CLibvirt` → `Hypervisor`.
let package = Package(
    name: "keyshard",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ShardCrypto", targets: ["ShardCrypto"]),
        .library(name: "TPM2", targets: ["TPM2"]),
        .library(name: "Hypervisor", targets: ["Hypervisor"]),
        .executable(name: "keyshard", targets: ["keyshard"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
    ],
    targets: [
        // C libraries: module maps and tiny static-inline shims only.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CTSS2",
            pkgConfig: "tss2-esys",
            providers: [.apt(["libtss2-dev"])]
        ),
        .systemLibrary(
            name: "CLibvirt",
            pkgConfig: "libvirt",
            providers: [.apt(["libvirt-dev"])]
        ),

        // Libraries.
        .target(
            name: "ShardCrypto",
            dependencies: [
                "COpenSSL",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "TPM2",
            dependencies: ["CTSS2"]
        ),
        .target(
            name: "Hypervisor",
            dependencies: [
                "CLibvirt",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // Thin executables.
        .executableTarget(
            name: "keyshard",
            dependencies: [
                "ShardCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Tests: one target per module.
        .testTarget(
            name: "ShardCryptoTests",
            dependencies: [
                "ShardCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Resources")]
        ),
        .testTarget(name: "TPM2Tests", dependencies: ["TPM2"]),
        .testTarget(
            name: "keyshardCLITests",
            dependencies: [
                "keyshard",
                "ShardCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "HypervisorTests",
            dependencies: [
                "Hypervisor",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
