// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "presence-counter",
    platforms: [.macOS(.v15)],
    dependencies: [
        // This repository (examples/presence-counter); your package would use
        // .package(url: "https://github.com/<org>/relay.git", from: "x.y.z")
        .package(name: "relay", path: "../.."),
    ],
    targets: [
        // The plugin: the kernel's public API and nothing else.
        .target(name: "PresenceCounter", dependencies: [.product(name: "RelayKernel", package: "relay")], swiftSettings: swiftSettings),
        // A relay binary: the built-in plugins plus this one.
        .executableTarget(
            name: "presence-relay",
            dependencies: ["PresenceCounter", .product(name: "Plugins", package: "relay"), .product(name: "RelayCLI", package: "relay")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PresenceCounterTests",
            dependencies: ["PresenceCounter", .product(name: "RelayKernel", package: "relay"), .product(name: "RelayTesting", package: "relay")],
            swiftSettings: swiftSettings
        ),
    ]
)
