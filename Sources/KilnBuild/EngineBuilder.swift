import Foundation
import KilnFormats
import KilnKernels
import KilnModels
import KilnTensors

/// Compiles a checkpoint (GGUF file or Hugging Face directory) into an engine file.
///
/// The work done once here instead of at every load: tensors renamed to one scheme, each layer's Q, K, V and its
/// gate and up matrices stored as one matrix where they share a format (their rows in order, so the kernels see
/// the same rows), weights converted to the requested format (round-to-nearest per 32-value group, `Quantize`),
/// and every matrix with a VNNI kernel stored a second time in that kernel's packed layout (CKilnKernels/pack.c),
/// so loading maps the file and copies nothing. The ggml-layout copy stays too: it serves CPUs without AVX-512
/// VNNI and the float32-activation reference path, and the pages of whichever copy is unused are never read.
public enum EngineBuilder {
    public static let kilnVersion = "0.1.0"
    /// Name of pack.c's layout. Loading also checks each matrix's first packed row against a fresh packing.
    public static let packedLayout = "vnni-interleaved-16x32/2"

    public struct Report: Sendable {
        public let output: String
        public let bytes: Int
        public let metadata: EngineMetadata
    }

    /// One step of a build for a progress display: bytes of tensor data written so far of `total`.
    public struct Progress: Sendable {
        public let done: Int
        public let total: Int
        public let tensor: String
    }

    /// Builds the engine file `output`, or with `options.pipelineStages` M or `options.tensorParallel` N above 1 one
    /// file per rank (`EngineStage.path`: OUT.rank0-of-R.kiln … for R = N×M ranks, stage-major), each holding only
    /// its stage's tensors, cut to its tensor-parallel slice (`ShardCut`); returns the first.
    public static func build(
        source path: String, output: String, options: BuildOptions, threads: Int = 2,
        progress: (Progress) -> Void = { _ in }
    ) throws -> Report {
        try buildAll(source: path, output: output, options: options, threads: threads, progress: progress)[0]
    }

    /// `build`, returning every file written (one per rank).
    public static func buildAll(
        source path: String, output: String, options: BuildOptions, threads: Int = 2,
        progress: (Progress) -> Void = { _ in }
    ) throws -> [Report] {
        try options.validate()
        let source = try ModelLoader.open(path)
        if case .engine = source { throw BuildError("\(path) is already an engine file; build from its checkpoint") }
        // The canonical tensors point into the source's mappings: keep them mapped until the build ends.
        defer { withExtendedLifetime(source) {} }
        let (config, tensors) = try ModelLoader.canonicalTensors(source)
        let checksum = try sourceChecksum(source)
        let pool = ThreadPool(threads: threads)
        var folds = FoldPlan(config: config, tensors: tensors, options: options)
        let allUnits = plan(tensors, config: config, options: options, floatVectors: folds.floatVectors)
        // Calibration: the source model runs over the text first (its own threads; this pool waits meanwhile).
        var calibration: CalibrationFactors?
        if options.calibrates, let text = options.calibration {
            progress(Progress(done: 0, total: 1, tensor: "calibrating on \(text.name)"))
            calibration = CalibrationFactors(try CalibrationStatistics.collect(source: path, text: text, threads: threads))
        }
        func materialize(_ unit: BuildUnit) throws -> UnitBytes {
            try unit.materialize(pool: pool, factor: try calibration?.factor(for: unit, pool: pool))
        }
        try folds.resolve(allUnits, materialize: materialize)
        let hasOutput = tensors.contains { $0.name == "output.weight" }
        let stages = options.pipelineStages
        let shards = options.tensorParallel
        guard stages >= 1, stages <= config.layerCount else {
            throw BuildError("--pp \(stages): the model has \(config.layerCount) layers (each stage needs at least one)")
        }
        guard shards >= 1 else { throw BuildError("--tp must be ≥ 1") }
        let sections = try sourceSections(source)
        // Every rank's file planned first, so that a refused split writes nothing.
        var plans: [(units: [BuildUnit], files: [RankFile])] = []
        for s in 0..<stages {
            // Layers split as the serving ranks split them (StageLayout): the first `layerCount % stages` take one more.
            let (base, extra) = (config.layerCount / stages, config.layerCount % stages)
            let first = s * base + min(s, extra)
            let stage =
                stages == 1
                ? nil
                : EngineStage(
                    stage: s, stages: stages, firstLayer: first, endLayer: first + base + (s < extra ? 1 : 0),
                    layerCount: config.layerCount)
            let units = allUnits.filter { stage?.holds($0.name) ?? true }
            // Ranks are stage-major (rank = stage × N + shard), as the serving ranks number them.
            let files = try (0..<shards).map { shard -> RankFile in
                let rank = s * shards + shard
                let path = stages * shards == 1 ? output : EngineStage.path(output, stage: rank, stages: stages * shards)
                guard shards > 1 else { return RankFile(path: path, stage: stage, cut: nil, holds: { _ in true }) }
                let layout = try shardLayout(config: config, units: units, shard: shard, shards: shards)
                // Only rank 0 computes logits: the other shards need no output head or final norm.
                let noHead = shard > 0
                return RankFile(
                    path: path, stage: stage, cut: ShardCut(layout: layout),
                    holds: { noHead ? $0 != "output.weight" && $0 != "output_norm.weight" : true })
            }
            plans.append((units, files))
        }
        var reports: [Report] = []
        for (units, files) in plans {
            reports += try write(
                units, to: files, source: source, path: path, config: config, options: options, folds: folds,
                calibration: calibration, checksum: checksum, sections: sections, hasOutput: hasOutput, pool: pool,
                materialize: materialize, progress: progress)
        }
        return reports
    }

    /// The quantization in words, for the plan (`kiln inspect`).
    static func quantizationNotes(_ options: BuildOptions, units: [BuildUnit]) -> [String]? {
        let types = Set(units.map(\.type))
        var notes: [String] = []
        switch options.weights {
        case .keep, .f32, .bf16: return nil
        case .q8_0: notes.append("q8_0: Q8_0, round-to-nearest per 32 values (scale max|x|/127)")
        case .q4_0:
            notes.append(
                "q4_0: Q4_0 per 32 values, scale searched per block for the least squared error "
                    + "(round-to-nearest's scale among the candidates)")
        case .int8, .int4:
            let format = options.weights == .int8 ? "Q8_0" : "Q4_1"
            let method =
                options.weights == .int8
                ? "symmetric, round-to-nearest (scale max|x|/127)"
                : "asymmetric, round-to-nearest from min/max, scale and offset refitted by least squares"
            var line = "\(options.weights.rawValue): \(format) blocks, one scale per \(options.groupSize) values, \(method)"
            if options.groupSize > 32 {
                line +=
                    "; each group's scale\(options.weights == .int4 ? " and offset" : "") repeated in its "
                    + "\(options.groupSize / 32) 32-value blocks (the kernels read 32-value blocks): the size of group 32, "
                    + "the precision of group \(options.groupSize); a row's last group is shorter when the row is not whole groups"
            }
            notes.append(line)
        }
        if options.calibrates {
            notes.append(
                "4-bit matrices of the layers rounded by GPTQ (column by column, the rounding error fed forward through "
                    + "the calibration text's input statistics); each group's scale\(options.weights == .int4 ? " and offset" : "") "
                    + "chosen as above from its updated weights, each squared error weighted by the mean squared input "
                    + "its weight multiplies")
        }
        if options.weights != .q8_0, options.weights != .int8, types.contains(.q8_0) {
            notes.append("embeddings and output: Q8_0 per 32 values")
        }
        if types.contains(.f32) {
            let floats = units.filter { $0.type == .f32 && $0.shape.count == 2 }.map(\.name)
            if !floats.isEmpty { notes.append("kept float32 (rows not whole 32-value blocks): " + floats.joined(separator: ", ")) }
        }
        return notes
    }

    /// Hash64 of the checkpoint's bytes and their count: the whole GGUF file, or every file of a Hugging Face
    /// directory that the engine uses (weights and JSON files, in name order).
    public static func sourceChecksum(_ source: ModelLoader.Source) throws -> (hash: UInt64, bytes: Int) {
        switch source {
        case .gguf(let gguf):
            return (Hash64.hash(UnsafeRawBufferPointer(start: gguf.file.base, count: gguf.file.count)), gguf.file.count)
        case .huggingFace(let hf):
            var hashes: [UInt64] = []
            var bytes = 0
            for f in hf.files.sorted(by: { $0.path < $1.path }) {
                hashes.append(Hash64.hash(UnsafeRawBufferPointer(start: f.file.base, count: f.file.count)))
                bytes += f.file.count
            }
            for name in EngineSectionNames.hfFiles {
                guard let data = FileManager.default.contents(atPath: hf.directory + "/" + name) else { continue }
                hashes.append(data.withUnsafeBytes { Hash64.hash($0) })
                bytes += data.count
            }
            return (hashes.withUnsafeBytes { Hash64.hash($0) }, bytes)
        case .engine(let engine):
            return (Hash64.hash(UnsafeRawBufferPointer(start: engine.file.base, count: engine.file.count)), engine.file.count)
        }
    }

    static func sourceSections(_ source: ModelLoader.Source) throws -> [(name: String, data: Data)] {
        switch source {
        case .gguf(let gguf):
            return [(EngineSectionNames.ggufMetadata, Data(UnsafeRawBufferPointer(start: gguf.file.base, count: gguf.dataOffset)))]
        case .huggingFace(let hf):
            return EngineSectionNames.hfFiles.compactMap { name in
                FileManager.default.contents(atPath: hf.directory + "/" + name).map { (EngineSectionNames.hf(name), $0) }
            }
        case .engine:
            return []
        }
    }

    static func summary(_ c: ModelConfig) -> [String: String] {
        [
            "architecture": c.architecture.rawValue, "vocabulary": "\(c.vocabularySize)", "hidden": "\(c.hiddenSize)",
            "layers": "\(c.layerCount)", "heads": "\(c.headCount)", "kvHeads": "\(c.kvHeadCount)",
            "headDim": "\(c.headDim)", "ffn": "\(c.ffnSize)", "context": "\(c.contextLength)",
            "ropeTheta": "\(c.ropeTheta)", "tiedEmbeddings": "\(c.tiedEmbeddings)",
        ]
    }
}

extension ModelLoader.Source {
    var kind: String {
        switch self {
        case .gguf: return "gguf"
        case .huggingFace: return "huggingface"
        case .engine: return "engine"
        }
    }
}
