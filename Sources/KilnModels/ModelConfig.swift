import Foundation
import KilnFormats

/// The decoder-only architectures Kiln runs. They share one forward pass; the differences are data in
/// `ModelConfig` (biases, extra norms, activation, RoPE style and bases, sliding windows, embedding scale).
public enum Architecture: String, Sendable, CaseIterable {
    case llama  // Llama 2/3, SmolLM2, TinyLlama, Mistral
    case qwen2
    case gemma3
}

/// How RoPE pairs the dimensions of a head: `.interleaved` rotates (2i, 2i+1) (llama.cpp's "normal", used with the
/// Q/K rows that its GGUF converter permutes); `.halves` rotates (i, i + d/2) (Hugging Face's rotate_half, "NEOX").
public enum RoPEStyle: Sendable { case interleaved, halves }

public enum Activation: Sendable { case silu, geluTanh }

/// Llama 3's frequency-dependent RoPE scaling.
public struct Llama3RoPEScaling: Sendable, Equatable {
    public var factor: Double
    public var lowFrequencyFactor: Double
    public var highFrequencyFactor: Double
    public var originalContextLength: Double
}

public struct ModelConfig: Sendable {
    public var architecture: Architecture
    public var vocabularySize: Int
    public var hiddenSize: Int  // d
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var ffnSize: Int
    public var rmsEpsilon: Float
    public var contextLength: Int
    public var ropeStyle: RoPEStyle
    public var ropeTheta: Double
    /// RoPE base of sliding-window (local) layers, when they differ (Gemma 3: 10,000 local, 1,000,000 global).
    public var ropeLocalTheta: Double?
    public var ropeLinearFactor: Double = 1
    public var llama3Scaling: Llama3RoPEScaling?
    /// Tokens a sliding-window layer attends to (the query's own position included).
    public var slidingWindow: Int?
    /// `isSlidingLayer[l]`: layer l attends only within `slidingWindow`.
    public var isSlidingLayer: [Bool]
    public var activation: Activation = .silu
    public var hasQKVBias = false
    public var hasQKNorm = false
    public var hasPostNorms = false
    /// Norm weights are stored as w and applied as (1 + w) (Gemma checkpoints in Hugging Face form).
    public var normWeightOffset: Float = 0
    public var embeddingScale: Float = 1
    public var attentionScale: Float
    public var tiedEmbeddings: Bool

    public var qDim: Int { headCount * headDim }
    public var kvDim: Int { kvHeadCount * headDim }
}

/// A model that cannot be loaded: names the file or directory and what to change.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String
    public init(_ path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }
    public var description: String { "\(path): \(problem)" }
}

extension ModelConfig {
    static let supported = Architecture.allCases.map(\.rawValue).joined(separator: ", ")

    /// Reads the `<arch>.*` hyperparameters of a GGUF file.
    init(gguf: GGUFFile) throws {
        let path = gguf.path
        guard let archName = gguf.architecture else { throw ModelError(path, "GGUF has no general.architecture") }
        guard let arch = Architecture(rawValue: archName) else {
            throw ModelError(path, "unsupported architecture '\(archName)' (supported: \(Self.supported))")
        }
        func int(_ key: String) throws -> Int {
            guard let v = gguf["\(archName).\(key)"]?.int else {
                throw ModelError(path, "GGUF is missing the integer '\(archName).\(key)'")
            }
            return v
        }
        func optInt(_ key: String) -> Int? { gguf["\(archName).\(key)"]?.int }
        func optDouble(_ key: String) -> Double? { gguf["\(archName).\(key)"]?.double }

        let d = try int("embedding_length")
        let heads = try int("attention.head_count")
        guard heads > 0, d > 0 else { throw ModelError(path, "GGUF has zero heads or zero embedding length") }
        let kvHeads = optInt("attention.head_count_kv") ?? heads
        let headDim = optInt("attention.key_length") ?? d / heads
        let layers = try int("block_count")
        guard let embd = gguf.tensorInfo("token_embd.weight") else {
            throw ModelError(path, "GGUF has no token_embd.weight tensor")
        }
        let vocab = optInt("vocab_size") ?? gguf["tokenizer.ggml.tokens"]?.array?.count ?? embd.rowCount

        var config = ModelConfig(
            architecture: arch, vocabularySize: vocab, hiddenSize: d, layerCount: layers, headCount: heads,
            kvHeadCount: kvHeads, headDim: headDim, ffnSize: try int("feed_forward_length"),
            rmsEpsilon: Float(optDouble("attention.layer_norm_rms_epsilon") ?? 1e-5),
            contextLength: optInt("context_length") ?? 2048,
            ropeStyle: arch == .llama ? .interleaved : .halves,
            ropeTheta: optDouble("rope.freq_base") ?? 10_000,
            isSlidingLayer: Array(repeating: false, count: layers),
            attentionScale: 1 / Float(headDim).squareRoot(),
            tiedEmbeddings: gguf.tensorInfo("output.weight") == nil)
        if let window = optInt("attention.sliding_window"), arch != .qwen2 {
            config.slidingWindow = window
        }
        if gguf["\(archName).rope.scaling.type"]?.string == "linear", let f = optDouble("rope.scaling.factor") {
            config.ropeLinearFactor = f
        }
        switch arch {
        case .llama:
            if config.slidingWindow != nil { config.isSlidingLayer = Array(repeating: true, count: layers) }
        case .qwen2:
            config.hasQKVBias = true
        case .gemma3:
            // llama.cpp's Gemma 3 layout: every sixth layer is global, the rest local with RoPE base 10,000;
            // its converter stores norm weights with the +1 already added.
            config.hasQKNorm = true
            config.hasPostNorms = true
            config.activation = .geluTanh
            config.embeddingScale = Float(d).squareRoot()
            config.ropeLocalTheta = 10_000
            config.isSlidingLayer = (0..<layers).map { ($0 + 1) % 6 != 0 }
            config.rmsEpsilon = Float(optDouble("attention.layer_norm_rms_epsilon") ?? 1e-6)
        }
        try config.validate(path)
        self = config
    }

    /// Reads a Hugging Face config.json.
    init(hf json: [String: Any], path: String) throws {
        // Gemma 3 multimodal configs nest the language model's settings.
        var json = json
        if let text = json["text_config"] as? [String: Any], json["hidden_size"] == nil {
            json = text.merging(json) { inner, _ in inner }
        }
        let modelType = (json["model_type"] as? String) ?? ""
        let arch: Architecture
        switch modelType {
        case "llama", "mistral": arch = .llama
        case "qwen2": arch = .qwen2
        case "gemma3", "gemma3_text": arch = .gemma3
        default:
            let given = modelType.isEmpty ? "none given" : "'\(modelType)'"
            throw ModelError(path, "unsupported model_type \(given) in config.json (supported: llama, mistral, qwen2, gemma3)")
        }
        func int(_ key: String) throws -> Int {
            guard let v = json[key] as? Int else { throw ModelError(path, "config.json is missing the integer '\(key)'") }
            return v
        }
        func double(_ key: String) -> Double? { (json[key] as? NSNumber)?.doubleValue }

        let d = try int("hidden_size")
        let heads = try int("num_attention_heads")
        guard heads > 0, d > 0 else { throw ModelError(path, "config.json has zero heads or zero hidden size") }
        let layers = try int("num_hidden_layers")
        let headDim = (json["head_dim"] as? Int) ?? d / heads
        var config = ModelConfig(
            architecture: arch, vocabularySize: try int("vocab_size"), hiddenSize: d, layerCount: layers,
            headCount: heads, kvHeadCount: (json["num_key_value_heads"] as? Int) ?? heads, headDim: headDim,
            ffnSize: try int("intermediate_size"),
            rmsEpsilon: Float(double("rms_norm_eps") ?? 1e-6),
            contextLength: (json["max_position_embeddings"] as? Int) ?? 2048,
            ropeStyle: .halves, ropeTheta: double("rope_theta") ?? 10_000,
            isSlidingLayer: Array(repeating: false, count: layers),
            attentionScale: 1 / Float(headDim).squareRoot(),
            tiedEmbeddings: (json["tie_word_embeddings"] as? Bool) ?? (arch != .llama))
        // transformers 4 writes rope_theta + rope_scaling; transformers 5 writes rope_parameters, either one dict or
        // one per layer type (Gemma 3: full_attention and sliding_attention).
        var global = json["rope_scaling"] as? [String: Any] ?? [:]
        var local: [String: Any]?
        if let parameters = json["rope_parameters"] as? [String: Any] {
            if let full = parameters["full_attention"] as? [String: Any] {
                global = full
                local = parameters["sliding_attention"] as? [String: Any]
            } else {
                global = parameters
            }
        }
        if let theta = (global["rope_theta"] as? NSNumber)?.doubleValue { config.ropeTheta = theta }
        try config.applyRoPEScaling(global, path: path)
        if let theta = (local?["rope_theta"] as? NSNumber)?.doubleValue { config.ropeLocalTheta = theta }
        let window = json["sliding_window"] as? Int
        switch arch {
        case .llama:
            if let window, modelType == "mistral" {
                config.slidingWindow = window
                config.isSlidingLayer = Array(repeating: true, count: layers)
            }
        case .qwen2:
            config.hasQKVBias = true
            if let window, (json["use_sliding_window"] as? Bool) == true {
                let maxWindowLayers = (json["max_window_layers"] as? Int) ?? layers
                config.slidingWindow = window
                config.isSlidingLayer = (0..<layers).map { $0 >= maxWindowLayers }
            }
        case .gemma3:
            config.hasQKNorm = true
            config.hasPostNorms = true
            config.activation = .geluTanh
            config.normWeightOffset = 1
            config.embeddingScale = Float(d).squareRoot()
            config.ropeLocalTheta = config.ropeLocalTheta ?? double("rope_local_base_freq") ?? 10_000
            config.slidingWindow = window
            if let types = json["layer_types"] as? [String], types.count == layers {
                config.isSlidingLayer = types.map { $0 == "sliding_attention" }
            } else {
                let pattern = (json["sliding_window_pattern"] as? Int) ?? 6
                config.isSlidingLayer = (0..<layers).map { ($0 + 1) % pattern != 0 }
            }
            if let scalar = double("query_pre_attn_scalar") {
                config.attentionScale = Float(1 / scalar.squareRoot())
            }
        }
        try config.validate(path)
        self = config
    }

    mutating func applyRoPEScaling(_ scaling: [String: Any], path: String) throws {
        let kind = (scaling["rope_type"] as? String) ?? (scaling["type"] as? String) ?? "default"
        let factor = (scaling["factor"] as? NSNumber)?.doubleValue ?? 1
        func number(_ key: String, _ fallback: Double) -> Double { (scaling[key] as? NSNumber)?.doubleValue ?? fallback }
        switch kind {
        case "default": break
        case "linear": ropeLinearFactor = factor
        case "llama3":
            llama3Scaling = Llama3RoPEScaling(
                factor: factor, lowFrequencyFactor: number("low_freq_factor", 1),
                highFrequencyFactor: number("high_freq_factor", 4),
                originalContextLength: number("original_max_position_embeddings", 8192))
        default:
            throw ModelError(path, "unsupported rope scaling type '\(kind)' (supported: default, linear, llama3)")
        }
    }

    func validate(_ path: String) throws {
        guard layerCount > 0, headDim > 0, headDim % 2 == 0, kvHeadCount > 0, headCount % kvHeadCount == 0,
            ffnSize > 0, vocabularySize > 0
        else {
            throw ModelError(
                path,
                "inconsistent model shape: \(layerCount) layers, \(headCount) heads, \(kvHeadCount) KV heads, head dim \(headDim)"
            )
        }
    }
}
