// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

// Fuzzing (Fuzz/README.md): with RELAY_FUZZ=1 the kernel and the built-in plugins are compiled
// for libFuzzer and AddressSanitizer, and the fuzz targets in Fuzz/Sources are added. Only those
// targets change, so a build reuses every dependency already built.
let fuzzing = Context.environment["RELAY_FUZZ"] == "1"
let fuzzedSettings: [SwiftSetting] = fuzzing ? [.unsafeFlags(["-sanitize=fuzzer,address"])] : []
let fuzzTargets: [Target] =
    fuzzing
    ? [
        .target(name: "CFuzzDriver", path: "Fuzz/Sources/CFuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver"], path: "Fuzz/Sources/FuzzSupport", swiftSettings: swiftSettings),
    ]
        + ["FuzzJSONParser", "FuzzSocketIOPacket", "FuzzBinaryFrame", "FuzzRouteFile", "FuzzTokenVerifier"].map { name in
            .executableTarget(
                name: name,
                dependencies: ["RelayKernel", "Plugins", "FuzzSupport", .product(name: "NIOCore", package: "swift-nio")],
                path: "Fuzz/Sources/\(name)",
                swiftSettings: swiftSettings + fuzzedSettings,
                linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]
            )
        } : []

let package = Package(
    name: "relay",
    platforms: [.macOS(.v15), .iOS(.v16)],
    products: [
        .library(name: "RelayKernel", targets: ["RelayKernel"]),
        .library(name: "Plugins", targets: ["Plugins"]),
        .library(name: "RelayCLI", targets: ["RelayCLI"]),
        .library(name: "RelaySQLite", targets: ["RelaySQLite"]),
        .library(name: "RelayPostgres", targets: ["RelayPostgres"]),
        .executable(name: "relay", targets: ["relay"]),
        .library(name: "RelayClient", targets: ["RelayClient"]),
        .library(name: "RelayTesting", targets: ["RelayTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/swift-extras/swift-extras-base64.git", from: "1.2.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/websocket-kit.git", from: "2.16.2"),
    ],
    targets: [
        .target(
            name: "RelayKernel",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings + fuzzedSettings
        ),
        // libqrencode (Debian: libqrencode-dev) for the qr-code plugin's SVG QR codes.
        .systemLibrary(
            name: "CQRencode",
            pkgConfig: "libqrencode",
            providers: [.apt(["libqrencode-dev"])]
        ),
        .target(
            name: "Plugins",
            dependencies: [
                "RelayKernel",
                "CQRencode",
                // Types the kernel's public API exposes; plugins use nothing else.
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings + fuzzedSettings
        ),
        .target(
            name: "RelaySQLite",
            dependencies: [
                "RelayKernel",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RelayPostgres",
            dependencies: [
                "RelayKernel",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Stamps the git commit into RelayCLI before every build (`relay --version`).
        .plugin(name: "BuildInfoPlugin", capability: .buildTool(), path: "BuildTools/BuildInfoPlugin"),
        .target(
            name: "RelayCLI",
            dependencies: [
                "RelayKernel",
                "RelaySQLite",
                "RelayPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["BuildInfoPlugin"]
        ),
        .executableTarget(
            name: "relay",
            dependencies: ["RelayCLI", "Plugins"],
            swiftSettings: swiftSettings
        ),
        // Runs plugins in the test process with simulated clients and a manual clock, or live
        // against a real relay over sockets; the kernel's public API only.
        .target(
            name: "RelayTesting",
            dependencies: [
                "RelayKernel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "WebSocketKit", package: "websocket-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        // The client library for apps (iOS, macOS, Linux): no kernel, no plugins, no server.
        .target(
            name: "RelayClient",
            dependencies: [
                .product(name: "WebSocketKit", package: "websocket-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RelayClientTests",
            dependencies: [
                "RelayClient",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The built-in plugins tested through RelayTesting (public API only, no @testable).
        .testTarget(
            name: "PluginTests",
            dependencies: ["Plugins", "RelayTesting", "RelayKernel"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RelayKernelTests",
            dependencies: [
                "RelayKernel", "RelayCLI", "RelaySQLite", "RelayPostgres", "Plugins",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
    ] + fuzzTargets
)
