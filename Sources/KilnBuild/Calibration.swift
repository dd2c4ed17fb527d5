import Foundation
import KilnFormats
import KilnKernels
import KilnModels
import KilnTensors

/// A text whose activations calibrate 4-bit rounding (`GPTQ`). Never the text a quantization is measured on.
public struct CalibrationText: Sendable, Equatable {
    /// How the plan names it: a file's name, or the built-in text's description.
    public var name: String
    public var text: String

    public init(name: String, text: String) {
        self.name = name
        self.text = text
    }

    /// Hash64 of the text's UTF-8 bytes, in hex.
    public var checksum: String { Array(text.utf8).withUnsafeBytes { Hash64.hex(Hash64.hash($0)) } }
}

/// The statistics GPTQ needs, collected by running the source model (float32 activations) over a calibration text:
/// for every layer and each matrix input (`MatrixInput`), H = Σ x xᵀ over the text's tokens.
///
/// The text is cut into chunks of `context` tokens, each run from an empty cache as `kiln perplexity` runs its
/// chunks, so the positions seen are those the model meets in use. Every token is counted (the first ones of a
/// chunk too: each matrix still reads them). H is accumulated in float32, 128 tokens at a time through the float
/// matrix kernel (Xᵀ X of a chunk), then added: [dim, dim] per (layer, input), 400 MB for SmolLM2's 30 layers.
final class CalibrationStatistics {
    static let context = 512

    let layers: Int
    let dims: [Int]  // by MatrixInput.rawValue
    /// [layer][input] → H [dim, dim]
    private(set) var sums: [[UnsafeMutablePointer<Float>]]
    private(set) var tokens = 0
    let text: CalibrationText

    init(config: ModelConfig, text: CalibrationText) {
        layers = config.layerCount
        dims = MatrixInput.allCases.map { input in
            switch input {
            case .attention, .ffn: return config.hiddenSize
            case .attentionOutput: return config.qDim
            case .ffnDown: return config.ffnSize
            }
        }
        let dims = self.dims
        sums = (0..<config.layerCount).map { _ in
            dims.map { d in
                let p = UnsafeMutablePointer<Float>.allocate(capacity: d * d)
                p.initialize(repeating: 0, count: d * d)
                return p
            }
        }
        self.text = text
    }

    deinit { for layer in sums { for p in layer { p.deallocate() } } }

    /// H [dim, dim] of one layer's input.
    func hessian(layer: Int, input: MatrixInput) -> UnsafePointer<Float> { UnsafePointer(sums[layer][input.rawValue]) }

    func dim(_ input: MatrixInput) -> Int { dims[input.rawValue] }

    /// Runs the checkpoint at `path` over `text` and collects its statistics.
    static func collect(source path: String, text: CalibrationText, threads: Int) throws -> CalibrationStatistics {
        let loaded = try LoadedModel.load(path, threads: threads)
        let model = loaded.transformer
        model.precision = .reference
        let ids = loaded.tokenizer.encode(text.text, addSpecialTokens: false, parseSpecial: false)
        guard ids.count >= 32 else {
            throw BuildError("the calibration text \(text.name) has \(ids.count) tokens; give at least a few hundred")
        }
        let stats = CalibrationStatistics(config: model.config, text: text)
        let maxDim = stats.dims.max()!
        let transposed = UnsafeMutablePointer<Float>.allocate(capacity: maxDim * model.maxChunk)  // [dim, T]
        let product = UnsafeMutablePointer<Float>.allocate(capacity: maxDim * maxDim)  // [dim, dim]
        defer {
            transposed.deallocate()
            product.deallocate()
            model.inputObserver = nil
        }
        let pool = model.pool
        model.inputObserver = { layer, input, x, count, dim in
            for t in 0..<count {
                for i in 0..<dim { transposed[i * count + t] = x[t * dim + i] }
            }
            // product[a, b] = Σ_t x[t, a]·x[t, b]: the float matrix kernel with Xᵀ as both weights and input.
            pool.parallelChunks(dim, granularity: 16) { rows, _ in
                QuantKernels.matmul(
                    type: .f32, weights: UnsafeRawPointer(transposed), rowBytes: 4 * count, rows: rows, x: transposed,
                    tokens: dim, k: count, xStride: count, y: product, yStride: dim)
            }
            let h = stats.sums[layer][input.rawValue]
            pool.parallelChunks(dim, granularity: 16) { rows, _ in
                let start = rows.lowerBound * dim
                VectorKernels.add(h + start, product + start, into: h + start, count: rows.count * dim)
            }
        }
        let context = min(Self.context, model.config.contextLength)
        var start = 0
        while start < ids.count {
            let chunk = Array(ids[start..<min(start + context, ids.count)])
            let cache = model.makeCache(capacity: context)
            _ = try model.forward(chunk, cache: cache, logits: .positions([]))
            stats.tokens += chunk.count
            start += context
        }
        return stats
    }

    /// Which layer and input a build unit's matrix reads, from its canonical name (`blk.N.attn_qkv.weight`, ...).
    static func site(of unitName: String) -> (layer: Int, input: MatrixInput)? {
        let parts = unitName.split(separator: ".")
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), parts[3] == "weight" else { return nil }
        switch parts[2] {
        case "attn_qkv", "attn_q", "attn_k", "attn_v": return (layer, .attention)
        case "attn_output": return (layer, .attentionOutput)
        case "ffn_gate_up", "ffn_gate", "ffn_up": return (layer, .ffn)
        case "ffn_down": return (layer, .ffnDown)
        default: return nil
        }
    }

    /// What the plan records.
    func record(damping: Double) -> EngineCalibration {
        EngineCalibration(
            method: "gptq", text: text.name, checksum: text.checksum, tokens: tokens, context: Self.context,
            damping: damping)
    }
}

/// GPTQ factors computed on demand from the statistics, the last one kept (a layer's units that share an input come
/// one after another).
final class CalibrationFactors {
    let statistics: CalibrationStatistics
    let damping: Double
    private var last: (layer: Int, input: MatrixInput, factor: GPTQ.Factor)?

    init(_ statistics: CalibrationStatistics, damping: Double = GPTQ.defaultDamping) {
        self.statistics = statistics
        self.damping = damping
    }

    /// The factor for a unit quantized to a 4-bit format, or nil when calibration does not apply to it.
    func factor(for unit: BuildUnit, pool: ThreadPool) throws -> GPTQ.Factor? {
        guard unit.type == .q4_0 || unit.type == .q4_1, unit.shape.count == 2,
            let site = CalibrationStatistics.site(of: unit.name), site.layer < statistics.layers
        else { return nil }
        let (layer, input) = site
        let n = statistics.dim(input)
        guard unit.shape[1] == n else {
            throw BuildError("\(unit.name): \(unit.shape[1]) columns, but its calibrated input has \(n) values")
        }
        if let last, last.layer == layer, last.input == input { return last.factor }
        let factor = try GPTQ.factor(
            hessian: statistics.hessian(layer: layer, input: input), n: n, damping: damping, pool: pool)
        last = (layer, input, factor)
        return factor
    }
}
