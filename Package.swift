// swift-tools-version: 6.1
import PackageDescription

// Layering follows DESIGN.md: layer-0 targets import nothing of Kiln's; no target reaches upward.
let package = Package(
    name: "Kiln",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kiln", targets: ["kiln"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        // Layer 0
        .target(name: "KilnTensors"),
        .target(name: "KilnTokenizers"),
        .target(name: "KilnScheduling"),
        .target(name: "KilnTemplates"),
        // Layer 1
        .target(name: "CKilnKernels"),
        .target(name: "KilnKernels", dependencies: ["KilnTensors", "CKilnKernels"]),
        .target(name: "KilnFormats", dependencies: ["KilnTensors"]),
        .target(name: "KilnSampling", dependencies: ["KilnTokenizers"]),
        // Layer 2
        .target(name: "KilnModels", dependencies: ["KilnTensors", "KilnKernels", "KilnFormats", "KilnTokenizers"]),
        .target(
            name: "KilnBuild",
            dependencies: ["KilnTensors", "KilnKernels", "KilnFormats", "KilnTokenizers", "KilnModels"]),
        // Layer 3
        .target(
            name: "KilnEngine",
            dependencies: ["KilnModels", "KilnScheduling", "KilnSampling", "KilnTokenizers"]),
        // Layer 4
        .target(
            name: "KilnServer",
            dependencies: [
                "KilnEngine", "KilnModels", "KilnSampling", "KilnTokenizers", "KilnTemplates", "KilnFormats", "KilnTensors",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Layer 5
        .executableTarget(
            name: "kiln",
            dependencies: [
                "KilnTensors", "KilnFormats", "KilnKernels", "KilnModels", "KilnTokenizers", "KilnSampling", "KilnEngine",
                "KilnTemplates", "KilnServer", "KilnBuild",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "KilnTensorsTests", dependencies: ["KilnTensors"]),
        .testTarget(name: "KilnTokenizersTests", dependencies: ["KilnTokenizers", "KilnFormats", "KilnModels"]),
        .testTarget(name: "KilnFormatsTests", dependencies: ["KilnFormats", "KilnTensors"]),
        .testTarget(name: "KilnKernelsTests", dependencies: ["KilnKernels", "KilnTensors"]),
        .testTarget(name: "KilnModelsTests", dependencies: ["KilnModels", "KilnFormats", "KilnTokenizers", "KilnSampling"]),
        .testTarget(name: "KilnTemplatesTests", dependencies: ["KilnTemplates"]),
        .testTarget(name: "KilnCLITests", dependencies: ["kiln"]),
        .testTarget(name: "KilnSchedulingTests", dependencies: ["KilnScheduling"]),
        .testTarget(name: "KilnEngineTests", dependencies: ["KilnEngine", "KilnModels", "KilnSampling"]),
        .testTarget(
            name: "KilnServerTests",
            dependencies: [
                "KilnServer", "KilnEngine", "KilnModels", "KilnTemplates",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]),
        .testTarget(name: "KilnSamplingTests", dependencies: ["KilnSampling", "KilnTokenizers"]),
        .testTarget(name: "KilnBuildTests", dependencies: ["KilnBuild", "KilnModels", "KilnFormats", "KilnTensors"]),
    ],
    swiftLanguageModes: [.v6]
)
