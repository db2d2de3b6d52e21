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
        .library(name: "Attestation", targets: ["Attestation"]),
        .library(name: "Hypervisor", targets: ["Hypervisor"]),
        .library(name: "AgentProtocol", targets: ["AgentProtocol"]),
        // For the benchmark package (Benchmarks/), which drives keyshardd as a client would.
        .library(name: "KeyshardAPI", targets: ["KeyshardAPI"]),
        .library(name: "KeyshardClient", targets: ["KeyshardClient"]),
        .executable(name: "keyshard", targets: ["keyshard"]),
        .executable(name: "keyshard-demo", targets: ["keyshard-demo"]),
        .executable(name: "keyshard-agent", targets: ["keyshard-agent"]),
        .executable(name: "keyshardd", targets: ["keyshardd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        // Already in the graph through hummingbird and async-http-client; named here because
        // KeyshardServer reads the TLS client certificate from NIOSSL's handler and puts a
        // handler of its own among Hummingbird's HTTP parts (NIOHTTPTypes).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
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
            dependencies: [
                "CTSS2",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // What one party checks about a TPM-attested peer without a policy file: EK chains to
        // pinned roots, restricted-AK quotes bound to a transport key, MakeCredential wrapping.
        // The agent links it, so it imports FoundationEssentials only.
        .target(
            name: "PeerAttestation",
            dependencies: [
                "TPM2",
                "ShardCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]
        ),
        .target(
            name: "Attestation",
            dependencies: [
                "PeerAttestation",
                "TPM2",
                "ShardCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]
        ),
        .target(
            name: "Hypervisor",
            dependencies: [
                "CLibvirt",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        .target(
            name: "AgentProtocol",
            dependencies: [
                "ShardCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The custodian agent's logic; `keyshard-agent` only parses options and runs it.
        .target(name: "CAgentHardening"),
        .target(
            name: "CustodianAgent",
            dependencies: [
                "CAgentHardening",
                "AgentProtocol",
                "PeerAttestation",
                "ShardCrypto",
                "TPM2",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The coordinator's engine: launching, admitting and attesting custodians.
        .target(
            name: "Coordinator",
            dependencies: [
                "AgentProtocol",
                "Attestation",
                "Hypervisor",
                "ShardCrypto",
                "TPM2",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),


        // ---- The daemon (keyshardd) and what it is made of. ----

        // The API's Swift face: the service the engine implements and the server calls, its
        // domain types and errors, and the Vault-transit wire bodies client and server share.
        .target(
            name: "KeyshardAPI",
            dependencies: ["ShardCrypto"]
        ),
        // Where custodians run: the protocol both backends implement.
        .target(
            name: "CustodianBackend",
            dependencies: ["AgentProtocol", "Attestation", "Coordinator"]
        ),
        // Custodians as transient libvirt domains (the isolation keyshard is designed for).
        .target(
            name: "LibvirtBackend",
            dependencies: [
                "AgentProtocol", "Attestation", "Coordinator", "CustodianBackend", "Hypervisor",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // Custodians as local agent + swtpm processes (development and tests; isolates nothing).
        .target(
            name: "ProcessBackend",
            dependencies: [
                "CustodianBackend",
                "Coordinator",
                "Attestation",
                "AgentProtocol",
                "TPM2",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The daemon's durable state: rings, keys, versions, commitments, custodians, epochs (SQLite).
        .target(
            name: "KeyStore",
            dependencies: [.product(name: "GRDB", package: "GRDB.swift")]
        ),
        // Hash-chained JSON-lines audit log and its verifier.
        .target(
            name: "AuditLog",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // keyshard.yaml: parsing, validation with line numbers, defaults, dev mode.
        .target(
            name: "KeyshardConfig",
            dependencies: ["KeyshardAPI", .product(name: "Yams", package: "Yams")]
        ),
        // The engine: fleet of custodians, threshold operations, epochs, heartbeats.
        .target(
            name: "Engine",
            dependencies: [
                "KeyshardAPI",
                "CustodianBackend",
                "KeyStore",
                "AuditLog",
                "Coordinator",
                "AgentProtocol",
                "Attestation",
                "ShardCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // HTTP/1.1 on a Unix socket (and optional mutual-TLS TCP): Vault's transit API over the service.
        .target(
            name: "KeyshardServer",
            dependencies: [
                "KeyshardAPI",
                "ShardCrypto",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The CLI's side of the socket.
        .target(
            name: "KeyshardClient",
            dependencies: [
                "KeyshardAPI",
                "ShardCrypto",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "keyshardd",
            dependencies: [
                "Engine",
                "KeyshardServer",
                "KeyshardConfig",
                "KeyStore",
                "AuditLog",
                "ProcessBackend",
                "LibvirtBackend",
                "CustodianBackend",
                "Attestation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Thin executables.
        .executableTarget(
            name: "keyshard-agent",
            dependencies: ["CustodianAgent"]
        ),
        .executableTarget(
            name: "keyshard",
            dependencies: [
                "ShardCrypto",
                "Attestation",
                "KeyshardAPI",
                "KeyshardClient",
                "AuditLog",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // `make demo`: the protocols end to end with simulated custodians.
        .executableTarget(
            name: "keyshard-demo",
            dependencies: ["ShardCrypto"]
        ),

        .executableTarget(
            name: "attestation-benchmark",
            dependencies: [
                "Attestation",
                "TPM2",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        .executableTarget(
            name: "custodian-benchmark",
            dependencies: ["Coordinator", "AgentProtocol", "Attestation", "Hypervisor"]
        ),

        // Software-TPM custodians for load benchmarks; keyshard-agent never links it.
        .target(
            name: "LoadAgent",
            dependencies: [
                "CustodianAgent",
                "AgentProtocol",
                "PeerAttestation",
                "TPM2",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "fleet-benchmark",
            dependencies: [
                "LoadAgent",
                "Engine",
                "KeyStore",
                "AuditLog",
                "CustodianBackend",
                "Coordinator",
                "Attestation",
                "AgentProtocol",
                "CustodianAgent",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),

        .executableTarget(
            name: "attestation-fuzz",
            dependencies: ["Attestation", "TPM2", "FuzzDriver"]
        ),

        // Tests: one target per module.
        .testTarget(
            name: "ShardCryptoTests",
            dependencies: [
                "ShardCrypto",
                "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Resources")]
        ),
        .testTarget(name: "TPM2Tests", dependencies: ["TPM2", "TestSupport"]),
        .testTarget(
            name: "CustodianAgentTests",
            dependencies: [
                "CustodianAgent",
                "Coordinator",
                "TestSupport",
                "AgentProtocol",
                "Attestation",
                "TPM2",
                "ShardCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "LoadAgentTests",
            dependencies: [
                "LoadAgent",
                "CustodianAgent",
                "Coordinator",
                "AgentProtocol",
                "Attestation",
                "PeerAttestation",
                "TPM2",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A real TPM (swtpm) for tests, shared by every test target that needs one.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "AttestationTests",
            dependencies: [
                "TestSupport",
                "Attestation",
                "TPM2",
                "ShardCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "keyshardCLITests",
            dependencies: [
                // Not imported: the tests run the built executable, and this makes SwiftPM build it.
                "keyshard",
                "TestSupport",
                "ServerTestSupport",
                "KeyshardAPI",
                "ShardCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "HypervisorTests",
            dependencies: [
                "Hypervisor",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources")]
        ),
        .testTarget(
            name: "AgentProtocolTests",
            dependencies: [
                "AgentProtocol",
                "ShardCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),

        .testTarget(
            name: "KeyStoreTests",
            dependencies: ["KeyStore", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "AuditLogTests",
            dependencies: ["AuditLog", "TestSupport"]
        ),
        .testTarget(
            name: "KeyshardConfigTests",
            dependencies: ["KeyshardConfig", "KeyshardAPI"]
        ),
        .testTarget(
            name: "ProcessBackendTests",
            dependencies: [
                "ProcessBackend", "CustodianBackend", "Coordinator", "AgentProtocol",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "EngineTests",
            dependencies: [
                "Engine", "ProcessBackend", "CustodianBackend", "KeyStore", "AuditLog", "KeyshardAPI",
                "AgentProtocol", "Attestation", "Coordinator", "ShardCrypto", "TestSupport",
            ]
        ),
        // The HTTP layer on a real Unix socket, driven by KeyshardClient and curl.
        .testTarget(
            name: "KeyshardServerTests",
            dependencies: [
                "KeyshardServer", "KeyshardAPI", "KeyshardClient", "ShardCrypto", "TestSupport",
                "ServerTestSupport",
            ]
        ),
        // A real KeyshardServer on a temporary socket in front of an in-memory service, shared by
        // the server's and the CLI's tests.
        .target(
            name: "ServerTestSupport",
            dependencies: [
                "KeyshardServer", "KeyshardAPI", "ShardCrypto", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/ServerTestSupport"
        ),
        // The libvirt backend's placement, transport, discovery and staging on libvirt's test driver.
        .testTarget(
            name: "LibvirtBackendTests",
            dependencies: [
                "LibvirtBackend", "CustodianBackend", "Coordinator", "Hypervisor", "AgentProtocol",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // keyshardd and the keyshard CLI, started for real, driven over the socket.
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "ShardCrypto", "TestSupport", "KeyshardAPI", "KeyshardClient",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Runs vm-images/test/ (image builder, PCR 4/9 prediction, a real OVMF boot).
        .testTarget(name: "VMImageTests", dependencies: ["TestSupport"]),
        .testTarget(
            name: "CoordinatorTests",
            dependencies: [
                "Coordinator",
                "TestSupport",
                "AgentProtocol",
                "Attestation",
                "Hypervisor",
                "ShardCrypto",
                "TPM2",
            ]
        ),

        // libFuzzer target for the frame and message decoders: fuzzes when built with
        // `-Xswiftc -sanitize=fuzzer,address`, replays files otherwise. CFuzzerDriver
        // reaches libFuzzer's driver through a weak symbol so both builds link.
        .target(name: "CFuzzerDriver"),
        // The main the three fuzz targets share: seeds, libFuzzer, or replay of files.
        .target(name: "FuzzDriver", dependencies: ["CFuzzerDriver"]),
        .executableTarget(name: "AgentProtocolFuzz", dependencies: ["AgentProtocol", "FuzzDriver"]),
        // libFuzzer target over what keyshardd decodes from an API caller: ciphertext and
        // signature armour, the Vault-wire request bodies, threshold decryption's parsing of a
        // ciphertext, and connection bytes through keyshardd's HTTP/1 pipeline (scripts/fuzz).
        .executableTarget(
            name: "api-fuzz",
            dependencies: [
                "KeyshardServer", "KeyshardAPI", "ShardCrypto", "FuzzDriver",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
