import Foundation
import KilnFormats
import KilnKernels
import KilnModels
import KilnTensors

/// The files of one build: each rank's (or the whole engine's) tensors written in one pass over the stage's units.
extension EngineBuilder {
    /// One file of a build: the whole engine, one pipeline stage's, or one tensor-parallel rank's.
    struct RankFile {
        let path: String
        let stage: EngineStage?
        /// This rank's tensor-parallel slice (nil: the layers whole).
        let cut: ShardCut?
        /// Whether the file holds a tensor of the stage.
        let holds: (String) -> Bool
    }

    /// Shard `shard` of `shards` of the layers in `units`, as the serving ranks would slice them at load
    /// (`ShardLayout`: the largest block of the down and o_proj matrices decides where they may be cut).
    static func shardLayout(config: ModelConfig, units: [BuildUnit], shard: Int, shards: Int) throws -> ShardLayout {
        func block(_ suffix: String) -> Int {
            units.filter { $0.name.hasPrefix("blk.") && $0.name.hasSuffix(suffix) }.map(\.type.blockElements).max() ?? 1
        }
        do {
            return try ShardLayout(
                config: config, rank: shard, size: shards, downBlock: block(".ffn_down.weight"),
                outputBlock: block(".attn_output.weight"))
        } catch {
            throw BuildError("--tp \(shards): \(error)")
        }
    }

    /// Writes `files` (the ranks of one stage) in one pass over `units`: each unit is materialized once and each
    /// file stores its rank's cut of it.
    static func write(
        _ units: [BuildUnit], to files: [RankFile], source: ModelLoader.Source, path: String,
        config: ModelConfig, options: BuildOptions, folds: FoldPlan, calibration: CalibrationFactors?,
        checksum: (hash: UInt64, bytes: Int), sections: [(name: String, data: Data)], hasOutput: Bool, pool: ThreadPool,
        materialize: (BuildUnit) throws -> UnitBytes, progress: (Progress) -> Void
    ) throws -> [Report] {
        let total = units.reduce(0) { $0 + $1.estimatedBytes }
        var writers: [EngineFileWriter] = []
        do {
            for file in files { writers.append(try EngineFileWriter(path: file.path, sourceSections: sections)) }
            var entries = [[EngineTensor]](repeating: [], count: files.count)
            var fused = [[EngineFusion]](repeating: [], count: files.count)
            var written = [[BuildUnit]](repeating: [], count: files.count)
            var done = 0
            for unit in units {
                progress(Progress(done: done, total: total, tensor: unit.name))
                let data = folds.apply(unit, try materialize(unit))
                defer { data.release() }
                for (i, file) in files.enumerated() where file.holds(unit.name) {
                    let (shape, partRows, bytes) = try file.cut?.cut(unit, data) ?? (unit.shape, unit.parts.map { $0.shape[0] }, data)
                    defer { if bytes !== data { bytes.release() } }
                    let writer = writers[i]
                    let (offset, hash) = try writer.appendTensor(bytes.bytes)
                    var packed: EnginePackedCopy?
                    let packRow = shape.count == 2 ? PackedMatrix.packedRowBytes(type: unit.type, k: shape[1]) : 0
                    if packRow > 0, unit.name != "token_embd.weight" || !hasOutput {
                        let rows = shape[0]
                        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: rows * packRow, alignment: 64)
                        defer { buffer.deallocate() }
                        PackedMatrix.pack(
                            type: unit.type, weights: bytes.bytes.baseAddress!, rowBytes: bytes.bytes.count / rows,
                            rows: rows, k: shape[1], into: buffer.baseAddress!, pool: pool)
                        let (pOffset, pHash) = try writer.appendTensor(UnsafeRawBufferPointer(buffer))
                        packed = EnginePackedCopy(offset: pOffset, bytes: buffer.count, rowBytes: packRow, checksum: pHash)
                    }
                    entries[i].append(
                        EngineTensor(
                            name: unit.name, type: unit.type.rawValue, shape: shape, offset: offset,
                            bytes: bytes.bytes.count, checksum: hash,
                            sourceType: Set(unit.parts.map { $0.type.description }).sorted().joined(separator: "+"),
                            packed: packed))
                    if unit.parts.count > 1 {
                        fused[i].append(EngineFusion(name: unit.name, parts: unit.parts.map(\.name), rows: partRows))
                    }
                    written[i].append(unit)
                }
                done += unit.estimatedBytes
            }
            progress(Progress(done: total, total: total, tensor: ""))
            var reports: [Report] = []
            for (i, file) in files.enumerated() {
                let metadata = EngineMetadata(
                    formatVersion: Int(EngineFile.formatVersion), kilnVersion: kilnVersion,
                    source: EngineSource(
                        kind: source.kind, path: path, bytes: checksum.bytes, checksum: Hash64.hex(checksum.hash)),
                    config: summary(config), limits: options.limits,
                    plan: EnginePlan(
                        weights: options.weights.rawValue, groupSize: options.weights == .keep ? nil : options.groupSize,
                        fused: fused[i], requiredCPUFeatures: [],
                        optionalCPUFeatures: ["avx512f", "avx512bw", "avx512vnni"], packedLayout: packedLayout,
                        notes: (quantizationNotes(options, units: written[i]) ?? []) + (folds.skipped.map { [$0] } ?? []),
                        folds: folds.records, calibration: calibration.map { $0.statistics.record(damping: $0.damping) }),
                    tensors: entries[i], stage: file.stage, shard: file.cut?.layout.engineShard)
                try writers[i].finish(metadata: metadata)
                let bytes = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
                reports.append(Report(output: file.path, bytes: bytes, metadata: metadata))
            }
            return reports
        } catch {
            for writer in writers { writer.discard() }
            throw error
        }
    }
}
