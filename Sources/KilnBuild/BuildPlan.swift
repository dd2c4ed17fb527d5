import KilnKernels
import KilnModels
import KilnTensors

/// One tensor of the engine: a source tensor, or several matrices fused row-wise (Q·K·V, gate·up).
struct BuildUnit {
    let name: String
    let parts: [CanonicalTensor]
    /// The stored format.
    let type: DType
    let shape: [Int]
    /// Whether any part changes format (else its rows are copied).
    let convert: Bool
    /// Values per quantization group (Q8_0 and Q4_1; see `Quantize`).
    var groupSize = 32

    var estimatedBytes: Int { type.byteCount(elements: shape.reduce(1, *)) ?? 0 }

    /// The unit's bytes in `type`'s ggml layout: the source's own bytes when nothing changes, else a new buffer.
    /// With a GPTQ `factor` (4-bit formats), the rows are rounded with its error feedback.
    func materialize(pool: ThreadPool, factor: GPTQ.Factor? = nil) throws -> UnitBytes {
        let count = shape.reduce(1, *)
        guard let total = type.byteCount(elements: count) else {
            throw BuildError("\(name): \(shape) is not whole \(type) blocks")
        }
        if let factor { return try calibrated(factor, pool: pool, total: total) }
        if parts.count == 1, !convert, groupSize == 32 { return UnitBytes(UnsafeRawBufferPointer(start: parts[0].data, count: total), owned: false) }
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 64)
        let columns = shape.last!
        let rowBytes = type.byteCount(elements: columns)!
        var row0 = 0
        for part in parts {
            let rows = part.shape.count == 1 ? 1 : part.shape[0]
            let sourceRowBytes = part.type.byteCount(elements: columns)!
            let dst = out.baseAddress! + row0 * rowBytes
            if part.type == type, groupSize == 32 {
                dst.copyMemory(from: part.data, byteCount: rows * rowBytes)
            } else {
                pool.parallelFor(rows, granularity: 8) { range, _ in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: columns) { scratch in
                        for r in range {
                            Dequantize.row(part.type, from: part.data + r * sourceRowBytes, into: scratch.baseAddress!, count: columns)
                            Quantize.row(
                                scratch.baseAddress!, count: columns, as: type, into: dst + r * rowBytes, groupSize: groupSize)
                        }
                    }
                }
            }
            row0 += rows
        }
        return UnitBytes(UnsafeRawBufferPointer(out), owned: true)
    }

    /// Every part's rows in float32, then `GPTQ.quantize` over all of them (they read the same input).
    private func calibrated(_ factor: GPTQ.Factor, pool: ThreadPool, total: Int) throws -> UnitBytes {
        let rows = shape[0]
        let columns = shape[1]
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: rows * columns)  // [rows, columns]
        defer { floats.deallocate() }
        var row0 = 0
        for part in parts {
            let partRows = part.shape[0]
            let sourceRowBytes = part.type.byteCount(elements: columns)!
            pool.parallelFor(partRows, granularity: 8) { range, _ in
                for r in range {
                    Dequantize.row(
                        part.type, from: part.data + r * sourceRowBytes, into: floats + (row0 + r) * columns, count: columns)
                }
            }
            row0 += partRows
        }
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 64)
        GPTQ.quantize(
            floats, rows: rows, columns: columns, factor: factor, as: type, groupSize: groupSize, into: out.baseAddress!,
            pool: pool)
        return UnitBytes(UnsafeRawBufferPointer(out), owned: true)
    }
}

final class UnitBytes {
    let bytes: UnsafeRawBufferPointer
    let owned: Bool
    init(_ bytes: UnsafeRawBufferPointer, owned: Bool) {
        self.bytes = bytes
        self.owned = owned
    }
    func release() { if owned { bytes.deallocate() } }

    /// These bytes in a buffer of their own (a copy when they point into the source), to change in place.
    func ownedCopy() -> UnitBytes {
        if owned { return self }
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 64)
        copy.copyMemory(from: bytes)
        return UnitBytes(UnsafeRawBufferPointer(copy), owned: true)
    }

    var mutableBase: UnsafeMutableRawPointer {
        precondition(owned, "only owned bytes change")
        return UnsafeMutableRawPointer(mutating: bytes.baseAddress!)
    }
}

extension EngineBuilder {
    /// The engine's tensors in order, with fusions and formats decided.
    /// `floatVectors` are stored as float32 whatever the options (vectors a fold changes).
    static func plan(
        _ tensors: [CanonicalTensor], config: ModelConfig, options: BuildOptions, floatVectors: Set<String> = []
    ) -> [BuildUnit] {
        func isEdge(_ t: CanonicalTensor) -> Bool { t.name == "token_embd.weight" || t.name == "output.weight" }
        // The body's matrices take --group-size; embeddings and output stay at Q8_0's own 32.
        func group(_ type: DType, edge: Bool) -> Int {
            options.weights.takesGroupSize && !edge && (type == .q8_0 || type == .q4_1) ? options.groupSize : 32
        }
        func target(_ t: CanonicalTensor) -> DType {
            if floatVectors.contains(t.name) { return .f32 }
            let wanted = options.targetType(source: t.type, shape: t.shape, isEmbeddingOrOutput: isEdge(t)) ?? t.type
            return Quantize.supported.contains(wanted) || wanted == t.type ? wanted : .f32
        }
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var fusedInto: [String: String] = [:]
        var fusions: [String: [CanonicalTensor]] = [:]
        if options.fuse {
            for i in 0..<config.layerCount {
                for (name, members) in [
                    ("blk.\(i).attn_qkv.weight", ["attn_q", "attn_k", "attn_v"]),
                    ("blk.\(i).ffn_gate_up.weight", ["ffn_gate", "ffn_up"]),
                ] {
                    let parts = members.compactMap { byName["blk.\(i).\($0).weight"] }
                    guard parts.count == members.count, parts.allSatisfy({ $0.shape.count == 2 }),
                        Set(parts.map { $0.shape[1] }).count == 1, Set(parts.map(target)).count == 1
                    else { continue }
                    fusions[name] = parts
                    for p in parts { fusedInto[p.name] = name }
                }
            }
        }
        var units: [BuildUnit] = []
        var emitted: Set<String> = []
        for t in tensors {
            if let fused = fusedInto[t.name] {
                guard emitted.insert(fused).inserted, let parts = fusions[fused] else { continue }
                let type = target(parts[0])
                var unit = BuildUnit(
                    name: fused, parts: parts, type: type, shape: [parts.reduce(0) { $0 + $1.shape[0] }, parts[0].shape[1]],
                    convert: parts.contains { $0.type != type })
                unit.groupSize = group(type, edge: false)
                units.append(unit)
            } else {
                let type = target(t)
                var unit = BuildUnit(name: t.name, parts: [t], type: type, shape: t.shape, convert: t.type != type)
                unit.groupSize = group(type, edge: isEdge(t))
                units.append(unit)
            }
        }
        return units
    }
}
