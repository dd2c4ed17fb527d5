// swift-tools-version: 6.1
import PackageDescription

// Layering follows DESIGN.md: layer-0 targets import nothing of Kiln's; no target reaches upward.
let package = Package(
    name: "Kiln",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kiln", targets: ["kiln"])
    ],
    // `swift build --traits OTel` adds OpenTelemetry tracing (swift-otel, OTLP/HTTP exporter only) to `kiln serve`.
    // Off by default: without it no tracing code or dependency is built.
    traits: [
        .trait(name: "OTel", description: "OpenTelemetry tracing of requests, exported over OTLP/HTTP."),
        // `--traits MPI` links Open MPI (libopenmpi-dev) for tensor parallelism across processes and hosts
        // (`mpirun -np N kiln serve --tensor-parallel N`). Without it KilnParallel builds as a stub that says so.
        .trait(name: "MPI", description: "Tensor parallelism across processes and hosts over Open MPI."),
        .default(enabledTraits: []),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.0.0"),
    ],
    targets: [
        // Layer 0
        .target(name: "KilnTensors"),
        .target(name: "KilnTokenizers"),
        .target(name: "KilnScheduling"),
        .target(name: "KilnTemplates"),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "KilnParallel", dependencies: [.target(name: "CMPI", condition: .when(traits: ["MPI"]))]),
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
            dependencies: ["KilnModels", "KilnKernels", "KilnScheduling", "KilnSampling", "KilnTokenizers"]),
        // Layer 4
        .target(
            name: "KilnServer",
            dependencies: [
                "KilnEngine", "KilnModels", "KilnKernels", "KilnSampling", "KilnTokenizers", "KilnTemplates", "KilnFormats",
                "KilnTensors",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing", condition: .when(traits: ["OTel"])),
            ]),
        // Layer 5: the serving benchmark's client (HTTP load generator, metrics, charts); no engine inside.
        .target(
            name: "KilnBench",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        // Layer 5
        .executableTarget(
            name: "kiln",
            dependencies: [
                "KilnTensors", "KilnFormats", "KilnKernels", "KilnModels", "KilnTokenizers", "KilnSampling", "KilnEngine",
                "KilnTemplates", "KilnServer", "KilnBuild", "KilnBench", "KilnParallel",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "OTel", package: "swift-otel", condition: .when(traits: ["OTel"])),
            ]
        ),
        .testTarget(name: "KilnTensorsTests", dependencies: ["KilnTensors"]),
        .testTarget(name: "KilnTokenizersTests", dependencies: ["KilnTokenizers", "KilnFormats", "KilnModels"]),
        .testTarget(name: "KilnFormatsTests", dependencies: ["KilnFormats", "KilnTensors"]),
        .testTarget(name: "KilnKernelsTests", dependencies: ["KilnKernels", "KilnTensors"]),
        .testTarget(
            name: "KilnModelsTests", dependencies: ["KilnModels", "KilnKernels", "KilnFormats", "KilnTokenizers", "KilnSampling"]),
        .testTarget(name: "KilnTemplatesTests", dependencies: ["KilnTemplates"]),
        .testTarget(name: "KilnCLITests", dependencies: ["kiln"]),
        .testTarget(name: "KilnSchedulingTests", dependencies: ["KilnScheduling"]),
        .testTarget(name: "KilnEngineTests", dependencies: ["KilnEngine", "KilnModels", "KilnKernels", "KilnSampling"]),
        .testTarget(
            name: "KilnServerTests",
            dependencies: [
                "KilnServer", "KilnEngine", "KilnModels", "KilnTemplates",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]),
        .testTarget(name: "KilnSamplingTests", dependencies: ["KilnSampling", "KilnTokenizers"]),
        .testTarget(name: "KilnBuildTests", dependencies: ["KilnBuild", "KilnModels", "KilnFormats", "KilnTensors"]),
        .testTarget(name: "KilnBenchTests", dependencies: ["KilnBench"]),
    ],
    swiftLanguageModes: [.v6]
)
