import KilnKernels
import KilnModels
import KilnScheduling

/// Batching limits and KV-cache size of an engine.
public struct EngineConfig: Sendable {
    public var maxBatchSize: Int
    /// Token budget of one step (TGI's max_batch_prefill_tokens caps prefill; here it caps the whole step).
    public var maxBatchTokens: Int
    /// Most prompt tokens in a step in which some sequence decodes (`SchedulerConfig.maxPrefillTokensWithDecodes`);
    /// nil: only `maxBatchTokens` bounds them.
    public var maxPrefillTokensWithDecodes: Int?
    public var blockSize: Int
    /// KV memory in bytes; the block count follows from the model's bytes per token.
    public var kvCacheBytes: Int
    public var policy: CapacityPolicy
    public var prefixCaching: Bool
    /// Activation precision of the batched forward: `.fast` (8-bit activations, integer kernels) by default,
    /// `.reference` (float32 activations, several times slower) to match transformers more closely. The fast path
    /// is batch-invariant: a request's logits do not depend on what shares its steps or how its prompt was chunked.
    public var precision: Precision
    /// The KV cache's number format; nil takes the model's (`Transformer.defaultKVCacheDType`: half precision for
    /// `.fast`, float32 for `.reference`, unless the model says otherwise).
    public var kvCacheDType: KVCacheDType?

    public init(
        maxBatchSize: Int = 32, maxBatchTokens: Int = 512, blockSize: Int = 16, kvCacheBytes: Int = 512 << 20,
        policy: CapacityPolicy = .maxUtilization, prefixCaching: Bool = true, precision: Precision = .fast,
        kvCacheDType: KVCacheDType? = nil, maxPrefillTokensWithDecodes: Int? = nil
    ) {
        self.maxPrefillTokensWithDecodes = maxPrefillTokensWithDecodes
        self.precision = precision
        self.kvCacheDType = kvCacheDType
        self.maxBatchSize = maxBatchSize
        self.maxBatchTokens = maxBatchTokens
        self.blockSize = blockSize
        self.kvCacheBytes = kvCacheBytes
        self.policy = policy
        self.prefixCaching = prefixCaching
    }

    /// Blocks that `kvCacheBytes` holds for `model` with a cache stored as `dtype`.
    public func blockCount(for model: ModelConfig, dtype: KVCacheDType) -> Int {
        max(1, kvCacheBytes / (PagedKVCache.bytesPerToken(model, dtype: dtype) * blockSize))
    }

    /// The cache format this configuration gives `transformer`.
    public func kvCacheDType(for transformer: Transformer) -> KVCacheDType {
        if let kvCacheDType { return kvCacheDType }
        if let own = transformer.kvCacheDType { return own }
        return precision == .reference ? .f32 : .f16
    }
}

/// A snapshot of the engine's state for metrics and /info.
public struct EngineMetrics: Sendable, Equatable {
    public var waiting = 0
    public var running = 0
    public var blocksInUse = 0
    public var blocksCached = 0
    public var blockCount = 0
    public var tokenCapacity = 0
    public var prefixCacheHitTokens = 0
    public var prefixCacheQueryTokens = 0
    public var preemptions = 0
    public var steps = 0
    public var stepSecondsTotal = 0.0
    public var lastStepTokens = 0
    public var generatedTokensTotal = 0
    public var promptTokensTotal = 0
    /// Token positions run through the forward pass (prompt chunks and decodes; a prefix hit or a shared, forked
    /// prompt is not computed again, a preempted sequence's recompute is).
    public var forwardTokensTotal = 0
    /// Sequences forked from a shared prompt (`n`, `best_of`) and shared partial blocks copied on write.
    public var forks = 0
    public var blockCopies = 0
    public var finishedRequests = 0
    /// Steps whose forward pass failed (every sequence in them ended with a generation error).
    public var failedSteps = 0
    /// Whether the latest step failed; /health reports the engine unhealthy until a step succeeds again.
    public var lastStepFailed = false
}
