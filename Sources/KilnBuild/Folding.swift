import KilnFormats
import KilnKernels
import KilnModels
import KilnTensors

/// Constants folded into stored tensors at build time, only where the result is exact:
///
/// - The attention's score scale (1/sqrt(head_dim), or Gemma's query_pre_attn_scalar⁻½) when it is a power of
///   two: multiplied into the query projection's rows (and bias), or, for models that RMS-normalize queries, into
///   the query norm's weights (a scale before that norm would be normalized away). Scaling by a power of two
///   changes only exponents: every product and partial sum of q·k, and of the query's matrix product and RoPE,
///   is the unfolded one times the same power of two, so scores are bit-identical. The one exception, an fp16
///   scale (or float value) pushed into the subnormal range, loses bits: every stored scale is checked, and one
///   such value anywhere leaves the fold out.
/// - Gemma's RMSNorm weights, stored as w and applied as (1 + w) in Hugging Face checkpoints: stored as the
///   float32 (1 + w) the loader would compute, so the norms are bit-identical.
enum Folding {
    /// The fp16 scale fields (byte offsets within a block) of each block format, for scaling a block's values.
    static func scaleFields(_ type: DType) -> [Int]? {
        switch type {
        case .q4_0, .q5_0, .q8_0: return [0]
        case .q4_1, .q5_1, .q4_K, .q5_K: return [0, 2]
        case .q2_K: return [80, 82]
        case .q3_K: return [108]
        case .q6_K: return [208]
        default: return nil
        }
    }

    /// Multiplies `rows` of a matrix (`rowBytes` each) by `factor`, a power of two, or with `apply` false only
    /// checks that it can; false when some value would not be exact (or the format is not known here).
    static func scale(
        _ p: UnsafeMutableRawPointer, type: DType, rowBytes: Int, rows: Range<Int>, factor: Float, apply: Bool
    ) -> Bool {
        let bytes = p + rows.lowerBound * rowBytes
        let total = rows.count * rowBytes
        func half(_ at: Int) -> Bool {
            let v = Half.load(bytes, at: at) * factor
            let bits = Half.fromFloat(v)
            guard Half.toFloat(bits) == v else { return false }
            if apply { (bytes + at).storeBytes(of: bits.littleEndian, as: UInt16.self) }
            return true
        }
        switch type {
        case .f32:
            for i in stride(from: 0, to: total, by: 4) {
                let old = bytes.loadUnaligned(fromByteOffset: i, as: Float.self)
                let v = old * factor
                guard v == 0 || v.isNormal || old == 0, v / factor == old else { return false }
                if apply { (bytes + i).storeBytes(of: v, as: Float.self) }
            }
            return true
        case .bf16:
            for i in stride(from: 0, to: total, by: 2) {
                let v = BFloat16.toFloat(bytes.loadUnaligned(fromByteOffset: i, as: UInt16.self)) * factor
                let bits = BFloat16.fromFloat(v)
                guard BFloat16.toFloat(bits) == v, v == 0 || v.isNormal else { return false }
                if apply { (bytes + i).storeBytes(of: bits.littleEndian, as: UInt16.self) }
            }
            return true
        case .f16:
            for i in stride(from: 0, to: total, by: 2) where !half(i) { return false }
            return true
        default:
            guard let fields = scaleFields(type) else { return false }
            for block in stride(from: 0, to: total, by: type.blockBytes) {
                for f in fields where !half(block + f) { return false }
            }
            return true
        }
    }

    /// The power of two `scale` is, if it is one.
    static func isPowerOfTwo(_ scale: Float) -> Bool {
        scale > 0 && scale.isNormal && scale.significandBitPattern == 0
    }
}

/// The folds of one build: decided from the model's configuration, checked against the stored bytes before
/// anything is written, then applied to each unit as it is written.
struct FoldPlan {
    /// The attention scale when it folds (a power of two other than 1).
    var attentionFactor: Float?
    /// Units with query rows to scale: unit name → rows.
    var matrixRows: [String: Range<Int>] = [:]
    /// Vectors multiplied by the attention scale (query bias, or query norm weights).
    var scaledVectors: Set<String> = []
    /// Added to every norm weight (Gemma's 1 in (1 + w)); 0 when nothing folds.
    var normOffset: Float = 0
    var offsetVectors: Set<String> = []
    /// Why the attention scale was not folded, when it could have been considered.
    var skipped: String?

    var floatVectors: Set<String> { scaledVectors.union(offsetVectors) }

    init(config: ModelConfig, tensors: [CanonicalTensor], options: BuildOptions) {
        guard options.fold else { return }
        let names = Set(tensors.map(\.name))
        if config.normWeightOffset != 0 {
            normOffset = config.normWeightOffset
            offsetVectors = Set(tensors.filter { $0.shape.count == 1 && $0.name.hasSuffix("norm.weight") }.map(\.name))
        }
        let scale = config.attentionScale
        guard scale != 1 else { return }
        guard Folding.isPowerOfTwo(scale) else {
            skipped = "attention scale \(scale) is not a power of two"
            return
        }
        attentionFactor = scale
        for i in 0..<config.layerCount {
            if config.hasQKNorm {
                scaledVectors.insert("blk.\(i).attn_q_norm.weight")
            } else {
                matrixRows["blk.\(i).attn_q.weight"] = 0..<config.qDim
                if names.contains("blk.\(i).attn_q.bias") { scaledVectors.insert("blk.\(i).attn_q.bias") }
            }
        }
    }

    /// Re-keys the query matrices by the unit that holds them (a fused QKV holds Q's rows first), then checks
    /// every value the attention fold would scale, as `materialize` will write it; one that would not be exact
    /// leaves the fold out.
    mutating func resolve(_ units: [BuildUnit], materialize: (BuildUnit) throws -> UnitBytes) throws {
        guard let factor = attentionFactor else { return }
        var byUnit: [String: Range<Int>] = [:]
        for unit in units {
            if let rows = matrixRows[unit.parts[0].name] { byUnit[unit.name] = rows }
        }
        guard byUnit.count == matrixRows.count else {
            drop("a query matrix is not the first part of its unit")
            return
        }
        matrixRows = byUnit
        for unit in units where matrixRows[unit.name] != nil || scaledVectors.contains(unit.name) {
            let data = try materialize(unit)
            defer { data.release() }
            let ok: Bool
            if let rows = matrixRows[unit.name] {
                ok = Folding.scale(
                    UnsafeMutableRawPointer(mutating: data.bytes.baseAddress!), type: unit.type,
                    rowBytes: data.bytes.count / unit.shape[0], rows: rows, factor: factor, apply: false)
            } else {
                let offset = offsetVectors.contains(unit.name) ? normOffset : 0
                ok = data.bytes.bindMemory(to: Float.self).allSatisfy { x in
                    let v = (x + offset) * factor
                    return (v == 0 || v.isNormal) && v / factor == x + offset
                }
            }
            if !ok {
                drop("\(unit.name) has a value that scaling by \(factor) would round (fp16 underflow)")
                return
            }
        }
    }

    mutating func drop(_ reason: String) {
        skipped = "attention scale \(attentionFactor ?? 1) not folded: \(reason)"
        attentionFactor = nil
        matrixRows = [:]
        scaledVectors = []
    }

    /// `data` with the folds applied (a copy when it pointed into the source).
    func apply(_ unit: BuildUnit, _ data: UnitBytes) -> UnitBytes {
        let rows = matrixRows[unit.name]
        let scaled = scaledVectors.contains(unit.name)
        let offset = offsetVectors.contains(unit.name)
        guard rows != nil || scaled || offset else { return data }
        let out = data.ownedCopy()
        if out !== data { data.release() }
        if let rows, let factor = attentionFactor {
            let ok = Folding.scale(
                out.mutableBase, type: unit.type, rowBytes: out.bytes.count / unit.shape[0], rows: rows, factor: factor,
                apply: true)
            precondition(ok, "\(unit.name): checked before writing")
        } else {
            let values = out.mutableBase.assumingMemoryBound(to: Float.self)
            for i in 0..<(out.bytes.count / 4) {
                if offset { values[i] += normOffset }
                if scaled, let factor = attentionFactor { values[i] *= factor }
            }
        }
        return out
    }

    var records: [EngineFold] {
        var folds: [EngineFold] = []
        if let factor = attentionFactor {
            folds.append(
                EngineFold(kind: EngineFold.attentionScale, value: factor, tensors: (matrixRows.keys.sorted() + scaledVectors.sorted())))
        }
        if !offsetVectors.isEmpty {
            folds.append(EngineFold(kind: EngineFold.normOffset, value: normOffset, tensors: offsetVectors.sorted()))
        }
        return folds
    }
}
