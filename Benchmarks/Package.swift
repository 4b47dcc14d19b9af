// swift-tools-version:6.2
import PackageDescription

// The benchmark suite for Relay (issue 9). A separate package, so the relay's own graph stays
// unchanged; it does not depend on the relay: both executables talk to servers over sockets.
let package = Package(
    name: "relay-benchmarks",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "relay-bench", targets: ["relay-bench"]),
        .executable(name: "baseline-relay", targets: ["baseline-relay"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // Byte-level helpers both executables share: the top-level JSON field scanner, the
        // binary frame header, a monotonic clock.
        .target(
            name: "BenchWire",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "relay-bench",
            dependencies: [
                "BenchWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .executableTarget(
            name: "baseline-relay",
            dependencies: [
                "BenchWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
    ]
)
