import KilnFormats
import KilnTensors

/// What `kiln build` does to a checkpoint's weights.
public enum WeightsOption: String, Sendable, CaseIterable, Codable {
    /// The source's formats unchanged (GGUF blocks kept): outputs identical to running the source.
    case keep
    case f32
    /// bfloat16 matrices (vectors stay float32).
    case bf16
    /// ggml Q8_0: symmetric 8-bit per 32 values.
    case q8_0
    /// ggml Q4_0: symmetric 4-bit per 32 values, scale searched per block (`Quantize`); embeddings and output at Q8_0.
    case q4_0
    /// Symmetric 8-bit per group of 32, 64 or 128 (stored as Q8_0 blocks, each repeating its group's scale).
    case int8
    /// Asymmetric 4-bit per group of 32, 64 or 128 (stored as Q4_1 blocks, each repeating its group's scale and
    /// offset); embeddings and output at Q8_0.
    case int4

    /// Whether --group-size applies (the ggml formats q8_0 and q4_0 are defined per 32 values).
    public var takesGroupSize: Bool { self == .int8 || self == .int4 }
}

public struct BuildOptions: Sendable, Equatable {
    public var weights: WeightsOption
    public var groupSize: Int
    public var limits: EngineLimits
    /// Store Q, K, V (and gate, up) of each layer as one matrix when they share a format.
    public var fuse: Bool
    /// Fold constants into stored tensors where exact (`Folding`): the attention scale, Gemma's (1 + w) norms.
    public var fold: Bool
    /// Pipeline stages (`--pp`): above 1, one file per stage holding only its layers (`EngineStage`).
    public var pipelineStages = 1
    /// Tensor-parallel ranks per stage (`--tp`): above 1, one file per rank holding only its slice (`ShardCut`).
    public var tensorParallel = 1
    /// The text whose activations calibrate the rounding of 4-bit weights (`GPTQ`; q4_0 and int4); nil rounds each
    /// group on its own (`Quantize`). `kiln build` passes `CalibrationText.builtIn` unless told otherwise.
    public var calibration: CalibrationText?

    public init(
        weights: WeightsOption = .keep, groupSize: Int = 32, limits: EngineLimits = .init(), fuse: Bool = true,
        fold: Bool = true, calibration: CalibrationText? = nil
    ) {
        self.weights = weights
        self.groupSize = groupSize
        self.limits = limits
        self.fuse = fuse
        self.fold = fold
        self.calibration = calibration
    }

    /// Whether the build runs the calibration: a text was given and the weights are 4-bit.
    public var calibrates: Bool { calibration != nil && (weights == .q4_0 || weights == .int4) }

    /// int8 and int4 take 32, 64 or 128 values per group; the ggml formats (q8_0, q4_0) are defined per 32.
    public func validate() throws(BuildError) {
        guard [32, 64, 128].contains(groupSize) else {
            throw BuildError("--group-size \(groupSize) is not supported: use 32, 64 or 128")
        }
        guard groupSize == 32 || weights.takesGroupSize else {
            throw BuildError(
                "--group-size \(groupSize) applies to --weights int8 and int4 only (\(weights.rawValue) is per 32 values)")
        }
    }

    /// The format a tensor is stored in: `nil` keeps the source's. Matrices whose rows are not whole 32-value groups
    /// stay in float32 when quantized.
    func targetType(source: DType, shape: [Int], isEmbeddingOrOutput: Bool) -> DType? {
        let isMatrix = shape.count == 2
        switch weights {
        case .keep: return nil
        case .f32: return .f32
        default:
            guard isMatrix else { return source == .f32 ? nil : .f32 }
            guard shape[1] % 32 == 0 || weights == .bf16 else { return .f32 }
            switch weights {
            case .bf16: return .bf16
            case .q8_0, .int8: return .q8_0
            case .q4_0: return isEmbeddingOrOutput ? .q8_0 : .q4_0
            case .int4: return isEmbeddingOrOutput ? .q8_0 : .q4_1
            case .keep, .f32: return nil
            }
        }
    }

    /// Part of the build cache's key.
    public var cacheKey: String {
        var key = "\(weights.rawValue)-g\(groupSize)"
        if !fuse { key += "-nofuse" }
        if !fold { key += "-nofold" }
        if calibrates, let calibration { key += "-gptq" + calibration.checksum.prefix(8) }
        return key
    }
}

public struct BuildError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
