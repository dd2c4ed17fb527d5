import KilnFormats
import KilnTensors

/// One tensor of a checkpoint under its GGUF name, the name engine files store it by (so a Hugging Face
/// checkpoint's `model.layers.0.self_attn.q_proj.weight` is `blk.0.attn_q.weight`).
public struct CanonicalTensor: @unchecked Sendable {
    public let name: String
    public let sourceName: String
    public let type: DType
    /// Outermost first: [rows, columns] for matrices, [n] for vectors.
    public let shape: [Int]
    public let data: UnsafeRawPointer
}

extension ModelLoader {
    /// Every tensor the model binds, in a fixed order (embedding, output norm, output, then layer by layer), under
    /// GGUF names, with the model's configuration. Tensors stay in the mapped checkpoint.
    /// The pointers are valid while `source` lives.
    public static func canonicalTensors(_ source: Source) throws -> (config: ModelConfig, tensors: [CanonicalTensor]) {
        let config = try ModelLoader.config(of: source)
        let weights: WeightSource
        let names: TensorNames
        switch source {
        case .gguf(let gguf):
            weights = WeightSource(gguf: gguf)
            names = .gguf
        case .huggingFace(let hf):
            weights = WeightSource(hf: hf)
            let prefix = weights.has("model.embed_tokens.weight") ? "model." : "language_model.model."
            names = TensorNames.hf(prefix: prefix, gemma: config.architecture == .gemma3)
        case .engine(let engine):
            weights = WeightSource(engine: engine)
            names = .gguf
        }
        var out: [CanonicalTensor] = []
        func add(_ sourceName: String, as name: String) {
            guard let t = weights.lookup(sourceName) else { return }
            let shape = t.shape.count == 1 ? t.shape : [t.shape.dropLast().reduce(1, *), t.shape.last!]
            out.append(CanonicalTensor(name: name, sourceName: sourceName, type: t.type, shape: shape, data: t.data))
        }
        let g = TensorNames.gguf
        add(names.embedding, as: g.embedding)
        add(names.outputNorm, as: g.outputNorm)
        add(names.output, as: g.output)
        add("rope_freqs.weight", as: "rope_freqs.weight")
        let kinds: [TensorNames.LayerTensor] = [
            .attentionNorm, .q, .k, .v, .qBias, .kBias, .vBias, .qNorm, .kNorm, .o, .postAttentionNorm, .ffnNorm,
            .gate, .up, .down, .postFFNNorm,
        ]
        for i in 0..<config.layerCount {
            for kind in kinds {
                // Hugging Face Llama's post_attention_layernorm is its FFN norm: only Gemma 3 has post-norms.
                if !config.hasPostNorms, kind == .postAttentionNorm || kind == .postFFNNorm { continue }
                if !config.hasQKNorm, kind == .qNorm || kind == .kNorm { continue }
                add(names.layer(i, kind), as: g.layer(i, kind))
            }
        }
        return (config, out)
    }
}
