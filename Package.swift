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
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
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
        // Layer 3
        .target(
            name: "KilnEngine",
            dependencies: ["KilnModels", "KilnScheduling", "KilnSampling", "KilnTokenizers"]),
        // Layer 5
        .executableTarget(
            name: "kiln",
            dependencies: [
                "KilnTensors", "KilnFormats", "KilnKernels", "KilnModels", "KilnTokenizers", "KilnSampling", "KilnEngine",
                "KilnTemplates",
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
        .testTarget(name: "KilnSamplingTests", dependencies: ["KilnSampling", "KilnTokenizers"]),
    ],
    swiftLanguageModes: [.v6]
)
