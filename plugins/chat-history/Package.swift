// swift-tools-version:6.2
import PackageDescription

// The same language settings as the relay itself (its Package.swift).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "chat-history",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ChatHistoryPlugin", targets: ["ChatHistoryPlugin"]),
        .executable(name: "chat-relay", targets: ["chat-relay"]),
    ],
    dependencies: [
        // The framework. A product team would write
        // `.package(url: "https://github.com/<org>/relay.git", from: "x.y.z")` instead.
        .package(name: "relay", path: "../.."),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // The plugin: the kernel's public API and nothing else.
        .target(
            name: "ChatHistoryPlugin",
            dependencies: [.product(name: "RelayKernel", package: "relay")],
            swiftSettings: swiftSettings
        ),
        // A relay binary serving the built-in plugins plus this one.
        .executableTarget(
            name: "chat-relay",
            dependencies: [
                "ChatHistoryPlugin",
                .product(name: "Plugins", package: "relay"),
                .product(name: "RelayCLI", package: "relay"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ChatHistoryPluginTests",
            dependencies: [
                "ChatHistoryPlugin",
                .product(name: "RelayKernel", package: "relay"),
                // Runs the plugin with simulated clients and a test clock (the relay's kernel only).
                .product(name: "RelayTesting", package: "relay"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
