import KilnFormats
import KilnKernels
import KilnTensors

/// A weight matrix read in place from a mapped checkpoint: `rows` output features, each a contiguous run of
/// `columns` input features in `type`'s block layout (ggml's [columns, rows] = PyTorch's [rows, columns]).
public struct WeightMatrix: @unchecked Sendable {
    public let name: String
    public let type: DType
    public let data: UnsafeRawPointer
    public let rows: Int
    public let columns: Int
    public let rowBytes: Int
    /// The same matrix in the AVX-512 kernels' layout, when this CPU and format have one (`packed()`).
    public var packed: PackedMatrix?

    public func row(_ r: Int) -> UnsafeRawPointer { data + r &* rowBytes }

    /// This matrix with a packed copy for the 8-bit activation kernels (unchanged where none applies).
    public func packed(pool: ThreadPool) -> WeightMatrix {
        if packed != nil { return self }
        var m = self
        m.packed = PackedMatrix(type: type, weights: data, rowBytes: rowBytes, rows: rows, k: columns, pool: pool)
        return m
    }
}

/// Where an absent matrix points: never read (it has no rows).
nonisolated(unsafe) private let absentStorage = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)

extension WeightMatrix {
    /// A matrix a pipeline stage's file leaves out (the embeddings of a later stage): no rows, never read.
    static func absent(_ name: String, columns: Int) -> WeightMatrix {
        WeightMatrix(name: name, type: .f32, data: UnsafeRawPointer(absentStorage), rows: 0, columns: columns, rowBytes: 0, packed: nil)
    }
}

public struct LayerWeights: Sendable {
    public var attentionNorm: [Float]  // [d]
    public var wq: WeightMatrix  // [heads * headDim, d]
    public var wk: WeightMatrix  // [kvHeads * headDim, d]
    public var wv: WeightMatrix  // [kvHeads * headDim, d]
    public var bq: [Float]?  // [heads * headDim]
    public var bk: [Float]?  // [kvHeads * headDim]
    public var bv: [Float]?  // [kvHeads * headDim]
    public var qNorm: [Float]?  // [headDim]
    public var kNorm: [Float]?  // [headDim]
    public var wo: WeightMatrix  // [d, heads * headDim]
    public var postAttentionNorm: [Float]?  // [d]
    public var ffnNorm: [Float]  // [d]
    public var wGate: WeightMatrix  // [ffn, d]
    public var wUp: WeightMatrix  // [ffn, d]
    public var wDown: WeightMatrix  // [d, ffn]
    public var postFFNNorm: [Float]?  // [d]
}

public struct ModelWeights: Sendable {
    public var embedding: WeightMatrix  // [vocab, d]
    public var layers: [LayerWeights]
    public var outputNorm: [Float]  // [d]
    public var output: WeightMatrix  // [vocab, d] (the embedding itself when tied)
    /// Per-frequency divisors from a GGUF's rope_freqs.weight (Llama 3 scaling as llama.cpp stores it).
    public var ropeFrequencyFactors: [Float]?
}

/// Looks tensors up by name in one checkpoint and checks their shapes against the config, so a mismatched file
/// fails at load with the tensor's name instead of producing garbage.
struct WeightSource {
    let path: String
    /// name → (type, pointer, shape as [rows, columns] or [n])
    let lookup: (String) -> (type: DType, data: UnsafeRawPointer, shape: [Int])?
    /// name → a packed copy stored beside the data (engine files) and its bytes per row.
    var packedLookup: (String) -> (data: UnsafeRawPointer, rowBytes: Int)? = { _ in nil }

    func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
        guard let t = lookup(name) else { throw ModelError(path, "missing tensor '\(name)'") }
        let shape = t.shape.count == 1 ? [1, t.shape[0]] : t.shape
        guard shape.count == 2, shape[0] == rows, shape[1] == columns else {
            throw ModelError(path, "tensor '\(name)' has shape \(t.shape), expected [\(rows), \(columns)]")
        }
        guard let rowBytes = t.type.byteCount(elements: columns) else {
            throw ModelError(path, "tensor '\(name)' rows of \(columns) are not whole \(t.type) blocks")
        }
        let packed = packedLookup(name).flatMap { p in
            PackedMatrix(
                type: t.type, packed: p.data, rowBytes: p.rowBytes, rows: rows, k: columns, ggml: t.data,
                ggmlRowBytes: rowBytes)
        }
        return WeightMatrix(
            name: name, type: t.type, data: t.data, rows: rows, columns: columns, rowBytes: rowBytes, packed: packed)
    }

    /// A vector converted to Float, plus `offset` (Gemma's (1 + w) norms).
    func vector(_ name: String, count: Int, offset: Float = 0) throws -> [Float] {
        guard let t = lookup(name) else { throw ModelError(path, "missing tensor '\(name)'") }
        guard t.shape.reduce(1, *) == count else {
            throw ModelError(path, "tensor '\(name)' has shape \(t.shape), expected [\(count)]")
        }
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { Dequantize.row(t.type, from: t.data, into: $0.baseAddress!, count: count) }
        if offset != 0 { for i in 0..<count { out[i] += offset } }
        return out
    }

    func optionalVector(_ name: String, count: Int, offset: Float = 0) throws -> [Float]? {
        lookup(name) == nil ? nil : try vector(name, count: count, offset: offset)
    }

    func has(_ name: String) -> Bool { lookup(name) != nil }
}

/// Tensor names of one checkpoint family.
struct TensorNames: Sendable {
    var embedding: String
    var outputNorm: String
    var output: String
    var layer: @Sendable (Int, LayerTensor) -> String

    enum LayerTensor {
        case attentionNorm, q, k, v, qBias, kBias, vBias, qNorm, kNorm, o, postAttentionNorm
        case ffnNorm, gate, up, down, postFFNNorm
    }

    static let gguf = TensorNames(
        embedding: "token_embd.weight", outputNorm: "output_norm.weight", output: "output.weight",
        layer: { i, t in
            let name: String
            switch t {
            case .attentionNorm: name = "attn_norm.weight"
            case .q: name = "attn_q.weight"
            case .k: name = "attn_k.weight"
            case .v: name = "attn_v.weight"
            case .qBias: name = "attn_q.bias"
            case .kBias: name = "attn_k.bias"
            case .vBias: name = "attn_v.bias"
            case .qNorm: name = "attn_q_norm.weight"
            case .kNorm: name = "attn_k_norm.weight"
            case .o: name = "attn_output.weight"
            case .postAttentionNorm: name = "post_attention_norm.weight"
            case .ffnNorm: name = "ffn_norm.weight"
            case .gate: name = "ffn_gate.weight"
            case .up: name = "ffn_up.weight"
            case .down: name = "ffn_down.weight"
            case .postFFNNorm: name = "post_ffw_norm.weight"
            }
            return "blk.\(i).\(name)"
        })

    /// Hugging Face names. Llama's `post_attention_layernorm` is its pre-FFN norm; Gemma 3 has a separate
    /// `pre_feedforward_layernorm` and uses `post_attention_layernorm` after attention.
    static func hf(prefix: String, gemma: Bool) -> TensorNames {
        TensorNames(
            embedding: prefix + "embed_tokens.weight", outputNorm: prefix + "norm.weight", output: "lm_head.weight",
            layer: { i, t in
                let name: String
                switch t {
                case .attentionNorm: name = "input_layernorm.weight"
                case .q: name = "self_attn.q_proj.weight"
                case .k: name = "self_attn.k_proj.weight"
                case .v: name = "self_attn.v_proj.weight"
                case .qBias: name = "self_attn.q_proj.bias"
                case .kBias: name = "self_attn.k_proj.bias"
                case .vBias: name = "self_attn.v_proj.bias"
                case .qNorm: name = "self_attn.q_norm.weight"
                case .kNorm: name = "self_attn.k_norm.weight"
                case .o: name = "self_attn.o_proj.weight"
                case .postAttentionNorm: name = "post_attention_layernorm.weight"
                case .ffnNorm: name = gemma ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight"
                case .gate: name = "mlp.gate_proj.weight"
                case .up: name = "mlp.up_proj.weight"
                case .down: name = "mlp.down_proj.weight"
                case .postFFNNorm: name = "post_feedforward_layernorm.weight"
                }
                return "\(prefix)layers.\(i).\(name)"
            })
    }
}

extension ModelWeights {
    /// Every matrix the forward pass multiplies by, with its packed copy (the embedding table stays as it is:
    /// it is only read a row at a time).
    func packed(pool: ThreadPool, output packOutput: Bool = true) -> ModelWeights {
        var w = self
        if packOutput { w.output = output.packed(pool: pool) }
        w.layers = layers.map { l in
            var l = l
            l.wq = l.wq.packed(pool: pool)
            l.wk = l.wk.packed(pool: pool)
            l.wv = l.wv.packed(pool: pool)
            l.wo = l.wo.packed(pool: pool)
            l.wGate = l.wGate.packed(pool: pool)
            l.wUp = l.wUp.packed(pool: pool)
            l.wDown = l.wDown.packed(pool: pool)
            return l
        }
        return w
    }

    /// `stage`: only these layers (one pipeline stage's file, `EngineStage`); the embeddings, final norm and output
    /// head may then be absent, and stand as empty placeholders that the stage never reads. `shard`: one
    /// tensor-parallel rank's file (`EngineShard`), whose layers hold only that rank's slices.
    init(
        config c: ModelConfig, source s: WeightSource, names n: TensorNames, stage: Range<Int>? = nil,
        shard: EngineShard? = nil
    ) throws {
        let d = c.hiddenSize
        let off = c.normWeightOffset
        let partial = stage != nil || shard != nil
        // A shard's widths: its heads' query rows, their KV rows, its FFN rows, and the input columns of o_proj and
        // down (the full width where the file keeps them whole).
        let group = c.headCount / c.kvHeadCount
        let qDim = shard.map { $0.kvHeads.count * group * c.headDim } ?? c.qDim
        let kvDim = shard.map { $0.kvHeads.count * c.headDim } ?? c.kvDim
        let ffnSize = shard?.ffn.count ?? c.ffnSize
        let oColumns = shard?.wholeAttentionOutput == true ? c.qDim : qDim
        let downColumns = shard?.wholeFFNDown == true ? c.ffnSize : ffnSize
        func edge(_ name: String) throws -> WeightMatrix {
            if partial, !s.has(name) { return .absent(name, columns: d) }
            return try s.matrix(name, rows: c.vocabularySize, columns: d)
        }
        embedding = try edge(n.embedding)
        outputNorm =
            partial && !s.has(n.outputNorm)
            ? [Float](repeating: 0, count: d) : try s.vector(n.outputNorm, count: d, offset: off)
        output = s.has(n.output) ? try s.matrix(n.output, rows: c.vocabularySize, columns: d) : embedding
        layers = try (stage ?? 0..<c.layerCount).map { i in
            func name(_ t: TensorNames.LayerTensor) -> String { n.layer(i, t) }
            let gemma = c.hasPostNorms
            return LayerWeights(
                attentionNorm: try s.vector(name(.attentionNorm), count: d, offset: off),
                wq: try s.matrix(name(.q), rows: qDim, columns: d),
                wk: try s.matrix(name(.k), rows: kvDim, columns: d),
                wv: try s.matrix(name(.v), rows: kvDim, columns: d),
                bq: try s.optionalVector(name(.qBias), count: qDim),
                bk: try s.optionalVector(name(.kBias), count: kvDim),
                bv: try s.optionalVector(name(.vBias), count: kvDim),
                qNorm: c.hasQKNorm ? try s.vector(name(.qNorm), count: c.headDim, offset: off) : nil,
                kNorm: c.hasQKNorm ? try s.vector(name(.kNorm), count: c.headDim, offset: off) : nil,
                wo: try s.matrix(name(.o), rows: d, columns: oColumns),
                postAttentionNorm: gemma ? try s.vector(name(.postAttentionNorm), count: d, offset: off) : nil,
                ffnNorm: try s.vector(name(.ffnNorm), count: d, offset: off),
                wGate: try s.matrix(name(.gate), rows: ffnSize, columns: d),
                wUp: try s.matrix(name(.up), rows: ffnSize, columns: d),
                wDown: try s.matrix(name(.down), rows: d, columns: downColumns),
                postFFNNorm: gemma ? try s.vector(name(.postFFNNorm), count: d, offset: off) : nil)
        }
        ropeFrequencyFactors = try s.optionalVector("rope_freqs.weight", count: c.headDim / 2)
    }
}

extension WeightSource {
    init(gguf: GGUFFile) {
        path = gguf.path
        lookup = { name in
            guard let info = gguf.tensorInfo(name) else { return nil }
            // ggml lists dimensions innermost first; report them outermost first like PyTorch.
            return (info.type, gguf.data(of: info), info.dimensions.reversed())
        }
    }

    init(engine: EngineFile) {
        path = engine.path
        lookup = { name in
            guard let t = engine.tensor(name) else { return nil }
            return (t.type, t.data, t.shape)
        }
        packedLookup = { name in
            guard let t = engine.tensor(name), let p = t.packed else { return nil }
            return (p, t.packedRowBytes)
        }
    }

    init(hf: HFCheckpoint) {
        path = hf.directory
        lookup = { name in
            guard let (file, info) = hf.tensorInfo(name) else { return nil }
            return (info.type, file.data(of: info), info.shape)
        }
    }
}
