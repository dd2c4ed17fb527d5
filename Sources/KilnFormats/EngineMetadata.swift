/// The metadata section of an engine file (JSON): where the engine came from, what was done to it at build time,
/// the serving limits it was built for, and where every tensor lies. The model's own configuration, tokenizer,
/// chat template and generation defaults travel beside it in the source's encoding (see `EngineFile.Section`), so
/// an engine is read by the same parsers as its checkpoint and cannot drift from it.
public struct EngineMetadata: Codable, Sendable, Equatable {
    public var formatVersion: Int
    public var kilnVersion: String
    public var source: EngineSource
    /// A readable summary of the model configuration (architecture, sizes), for `kiln inspect`.
    public var config: [String: String]
    public var limits: EngineLimits
    public var plan: EnginePlan
    public var tensors: [EngineTensor]
    /// Set in one rank's file of a pipeline-parallel build (`kiln build --pp M`): the stage it holds. Absent in a
    /// whole engine.
    public var stage: EngineStage?
    /// Set in one rank's file of a tensor-parallel build (`kiln build --tp N`): the slice of each layer it holds.
    /// Absent in a whole engine and in a `--pp`-only stage file.
    public var shard: EngineShard?

    public init(
        formatVersion: Int, kilnVersion: String, source: EngineSource, config: [String: String],
        limits: EngineLimits, plan: EnginePlan, tensors: [EngineTensor], stage: EngineStage? = nil,
        shard: EngineShard? = nil
    ) {
        self.formatVersion = formatVersion
        self.kilnVersion = kilnVersion
        self.source = source
        self.config = config
        self.limits = limits
        self.plan = plan
        self.tensors = tensors
        self.stage = stage
        self.shard = shard
    }

    /// Which rank of which job this file is for, in words (nil for a whole engine), e.g. "rank 3 of a 4-rank build
    /// (tensor shard 1 of 2, pipeline stage 1 of 2)".
    public var rankDescription: String? {
        guard stage != nil || shard != nil else { return nil }
        let shards = shard?.shards ?? 1
        let stages = stage?.stages ?? 1
        let rank = (stage?.stage ?? 0) * shards + (shard?.shard ?? 0)
        let parts = [
            shard.map { "tensor shard \($0.shard) of \($0.shards)" },
            stage.map { "pipeline stage \($0.stage) of \($0.stages), layers \($0.firstLayer)..<\($0.endLayer)" },
        ].compactMap { $0 }
        return "rank \(rank) of a \(shards * stages)-rank build (" + parts.joined(separator: ", ") + ")"
    }

    /// How to serve the set of rank files this one (at `path`) belongs to.
    public func servingHint(_ path: String) -> String? {
        guard stage != nil || shard != nil else { return nil }
        let shards = shard?.shards ?? 1
        let stages = stage?.stages ?? 1
        let flags = [shards > 1 ? "--tensor-parallel \(shards)" : nil, stages > 1 ? "--pipeline-parallel \(stages)" : nil]
            .compactMap { $0 }.joined(separator: " ")
        return "serve it with mpirun -np \(shards * stages) kiln serve \(flags) --model \(EngineStage.path(path, forRank: 0)) (each rank maps its own file)"
    }
}

/// One tensor-parallel rank's slice of every layer (`kiln build --tp N`), Megatron-style: the query rows of KV
/// heads `firstKVHead..<endKVHead` and their key and value rows, FFN rows `firstFFN..<endFFN` of gate and up, and
/// the matching input columns of the attention output and down matrices, unless `wholeAttentionOutput` /
/// `wholeFFNDown` (a column slice would cut quantization blocks: the matrix is stored whole and the ranks' inputs
/// are gathered). Norms and the embeddings are stored whole.
public struct EngineShard: Codable, Sendable, Equatable {
    public var shard: Int
    public var shards: Int
    public var firstKVHead: Int
    public var endKVHead: Int
    public var firstFFN: Int
    public var endFFN: Int
    public var wholeAttentionOutput: Bool
    public var wholeFFNDown: Bool

    public init(
        shard: Int, shards: Int, kvHeads: Range<Int>, ffn: Range<Int>, wholeAttentionOutput: Bool, wholeFFNDown: Bool
    ) {
        self.shard = shard
        self.shards = shards
        firstKVHead = kvHeads.lowerBound
        endKVHead = kvHeads.upperBound
        firstFFN = ffn.lowerBound
        endFFN = ffn.upperBound
        self.wholeAttentionOutput = wholeAttentionOutput
        self.wholeFFNDown = wholeFFNDown
    }

    public var kvHeads: Range<Int> { firstKVHead..<endKVHead }
    public var ffn: Range<Int> { firstFFN..<endFFN }
}

/// One pipeline stage's share of a model: layers `firstLayer..<endLayer` of `layerCount`, plus on stage 0 the
/// embeddings, the final norm and the output head (rank 0 computes the logits from the last stage's hidden states).
public struct EngineStage: Codable, Sendable, Equatable {
    public var stage: Int
    public var stages: Int
    public var firstLayer: Int
    public var endLayer: Int
    public var layerCount: Int

    public init(stage: Int, stages: Int, firstLayer: Int, endLayer: Int, layerCount: Int) {
        self.stage = stage
        self.stages = stages
        self.firstLayer = firstLayer
        self.endLayer = endLayer
        self.layerCount = layerCount
    }

    public var layers: Range<Int> { firstLayer..<endLayer }

    /// Whether tensor `name` (the engine's ggml names) belongs to this stage.
    public func holds(_ name: String) -> Bool {
        if name.hasPrefix("blk.") {
            guard let layer = Int(name.dropFirst(4).prefix { $0.isNumber }) else { return true }
            return layers.contains(layer)
        }
        switch name {
        case "token_embd.weight", "output_norm.weight", "output.weight": return stage == 0
        default: return true
        }
    }

    /// The file of rank `stage` of `stages` beside `output` (OUT.kiln → OUT.rank0-of-2.kiln).
    public static func path(_ output: String, stage: Int, stages: Int) -> String {
        let base = output.hasSuffix(".kiln") ? String(output.dropLast(5)) : output
        return base + ".rank\(stage)-of-\(stages).kiln"
    }

    /// R of a path ending in `.rankK-of-R.kiln` (nil for any other path).
    public static func rankCount(_ path: String) -> Int? {
        guard path.hasSuffix(".kiln"), let dot = path.range(of: ".rank", options: .backwards) else { return nil }
        let parts = path[dot.upperBound...].dropLast(5).split(separator: "-of-", omittingEmptySubsequences: false)
        guard parts.count == 2, Int(parts[0]) != nil, let n = Int(parts[1]) else { return nil }
        return n
    }

    /// `path` with its `.rankK-of-N.kiln` ending naming `rank` instead (unchanged when it has no such ending).
    public static func path(_ path: String, forRank rank: Int) -> String {
        guard path.hasSuffix(".kiln"), let dot = path.range(of: ".rank", options: .backwards) else { return path }
        let tail = path[dot.upperBound...].dropLast(5)
        let parts = tail.split(separator: "-of-", omittingEmptySubsequences: false)
        guard parts.count == 2, Int(parts[0]) != nil, let n = Int(parts[1]) else { return path }
        return String(path[..<dot.lowerBound]) + ".rank\(rank)-of-\(n).kiln"
    }
}

public struct EngineSource: Codable, Sendable, Equatable {
    /// "gguf" or "huggingface"
    public var kind: String
    public var path: String
    public var bytes: Int
    /// Hash64 of the source's bytes (every weight file of a Hugging Face directory, in name order), hex.
    public var checksum: String

    public init(kind: String, path: String, bytes: Int, checksum: String) {
        self.kind = kind
        self.path = path
        self.bytes = bytes
        self.checksum = checksum
    }
}

/// Serving limits chosen at build time: defaults for `kiln serve`, which may override them (nothing in the file
/// depends on them).
public struct EngineLimits: Codable, Sendable, Equatable {
    public var maxBatchSize: Int?
    public var maxInputTokens: Int?
    public var maxTotalTokens: Int?
    public var maxNumTokens: Int?
    public var kvCacheDType: String?

    public init(
        maxBatchSize: Int? = nil, maxInputTokens: Int? = nil, maxTotalTokens: Int? = nil, maxNumTokens: Int? = nil,
        kvCacheDType: String? = nil
    ) {
        self.maxBatchSize = maxBatchSize
        self.maxInputTokens = maxInputTokens
        self.maxTotalTokens = maxTotalTokens
        self.maxNumTokens = maxNumTokens
        self.kvCacheDType = kvCacheDType
    }
}

public struct EnginePlan: Codable, Sendable, Equatable {
    /// The --weights option: "keep", "f32", "q8_0", "q4_0", "int8", "int4".
    public var weights: String
    public var groupSize: Int?
    /// Matrices stored as one: a fused tensor's rows are its parts' rows in order.
    public var fused: [EngineFusion]
    /// Features without which this engine cannot run at all (none so far: every format has a portable kernel).
    public var requiredCPUFeatures: [String]
    /// Features used when present: the packed copies serve the AVX-512 VNNI kernels; other CPUs read the ggml layout.
    public var optionalCPUFeatures: [String]
    /// The packed layout's name and version (CKilnKernels/pack.c), checked at load.
    public var packedLayout: String
    /// How the weights were quantized (method, group storage) and any fold left out, in words; absent in older
    /// files.
    public var notes: [String]?
    /// Constants multiplied into stored tensors at build time, which the loader then leaves out.
    public var folds: [EngineFold]?
    /// The calibration text whose statistics rounded the 4-bit weights; absent when they were rounded without one
    /// (and in older files).
    public var calibration: EngineCalibration?

    public init(
        weights: String, groupSize: Int?, fused: [EngineFusion], requiredCPUFeatures: [String],
        optionalCPUFeatures: [String], packedLayout: String, notes: [String]? = nil, folds: [EngineFold]? = nil,
        calibration: EngineCalibration? = nil
    ) {
        self.weights = weights
        self.groupSize = groupSize
        self.fused = fused
        self.requiredCPUFeatures = requiredCPUFeatures
        self.optionalCPUFeatures = optionalCPUFeatures
        self.packedLayout = packedLayout
        self.notes = notes
        self.folds = folds
        self.calibration = calibration
    }
}

/// Calibration-based rounding (`method` "gptq"): the text run through the source model (its name, the Hash64 of its
/// UTF-8 bytes in hex, the tokens counted, in chunks of `context`) and the damping added to the statistics.
public struct EngineCalibration: Codable, Sendable, Equatable {
    public var method: String
    public var text: String
    public var checksum: String
    public var tokens: Int
    public var context: Int
    public var damping: Double

    public init(method: String, text: String, checksum: String, tokens: Int, context: Int, damping: Double) {
        self.method = method
        self.text = text
        self.checksum = checksum
        self.tokens = tokens
        self.context = context
        self.damping = damping
    }
}

/// A constant folded into stored tensors: `attention-scale` (the attention's 1/sqrt(head_dim) or Gemma's
/// query_pre_attn_scalar⁻½, a power of two, multiplied into the query projection's rows and bias, or into the
/// query norm when the model normalizes queries), or `norm-offset` (Gemma's RMSNorm weights stored as w and applied
/// as (1 + w), stored as 1 + w).
public struct EngineFold: Codable, Sendable, Equatable {
    public static let attentionScale = "attention-scale"
    public static let normOffset = "norm-offset"

    public var kind: String
    /// The factor multiplied in (attention-scale) or the offset added (norm-offset).
    public var value: Float
    public var tensors: [String]

    public init(kind: String, value: Float, tensors: [String]) {
        self.kind = kind
        self.value = value
        self.tensors = tensors
    }
}

public struct EngineFusion: Codable, Sendable, Equatable {
    public var name: String
    public var parts: [String]
    public var rows: [Int]

    public init(name: String, parts: [String], rows: [Int]) {
        self.name = name
        self.parts = parts
        self.rows = rows
    }
}

/// One tensor: `shape` outermost first ([rows, columns] for matrices), data in `type`'s ggml block layout at
/// `offset` (relative to the tensors section), and for matrices with a packed kernel a second copy in the packed
/// layout.
public struct EngineTensor: Codable, Sendable, Equatable {
    public var name: String
    /// ggml type id (`DType.rawValue`).
    public var type: UInt32
    public var shape: [Int]
    public var offset: Int
    public var bytes: Int
    public var checksum: String
    /// The source tensor's format ("Q4_1", "BF16", …) before any requantization.
    public var sourceType: String
    public var packed: EnginePackedCopy?

    public init(
        name: String, type: UInt32, shape: [Int], offset: Int, bytes: Int, checksum: String, sourceType: String,
        packed: EnginePackedCopy?
    ) {
        self.name = name
        self.type = type
        self.shape = shape
        self.offset = offset
        self.bytes = bytes
        self.checksum = checksum
        self.sourceType = sourceType
        self.packed = packed
    }
}

public struct EnginePackedCopy: Codable, Sendable, Equatable {
    public var offset: Int
    public var bytes: Int
    public var rowBytes: Int
    public var checksum: String

    public init(offset: Int, bytes: Int, rowBytes: Int, checksum: String) {
        self.offset = offset
        self.bytes = bytes
        self.rowBytes = rowBytes
        self.checksum = checksum
    }
}
