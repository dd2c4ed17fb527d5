/// Identifies one sequence (one generation stream) for the scheduler; the engine chooses the values.
public typealias SequenceID = Int

/// How the scheduler trades KV-cache capacity against the risk of preempting running sequences.
public enum CapacityPolicy: Sendable, Equatable {
    /// Admit a sequence only when the blocks for its whole growth (prompt + `maxNewTokens`) are available
    /// beyond what running sequences have reserved; a running sequence is never preempted.
    case guaranteedNoEvict
    /// Admit a sequence as soon as its current chunk fits; when a running sequence needs a block and none
    /// is left, the newest running sequence is preempted (its KV dropped, recomputed when it resumes).
    case maxUtilization
}

/// Limits of the KV cache and of one step. Validated once, when it is made.
public struct SchedulerConfig: Sendable, Equatable {
    /// KV positions per block.
    public let blockSize: Int
    /// Blocks in the KV cache; the cache holds `blockCount * blockSize` positions.
    public let blockCount: Int
    /// Most sequences running at once, and so most chunks in one step.
    public let maxBatchSize: Int
    /// Most tokens computed in one step, summed over all chunks.
    public let maxBatchTokens: Int
    /// Most prompt tokens (prefill and recompute chunks) in a step in which at least one sequence decodes; nil: only
    /// `maxBatchTokens` bounds them. A decode waits for the whole step it shares, so this caps how long a running
    /// stream's next token waits behind others' prompts, at the cost of spreading a new prompt over more steps
    /// (vLLM's chunked prefill under max_num_batched_tokens, TGI's max_batch_prefill_tokens against
    /// waiting_served_ratio). Decodes are planned within the budget before any prompt chunk when it is set.
    public let maxPrefillTokensWithDecodes: Int?
    public let policy: CapacityPolicy
    /// Reuse the KV of full blocks whose content (and everything before it) matches an earlier sequence.
    public let prefixCaching: Bool

    public init(
        blockSize: Int,
        blockCount: Int,
        maxBatchSize: Int,
        maxBatchTokens: Int,
        policy: CapacityPolicy = .guaranteedNoEvict,
        prefixCaching: Bool = true,
        maxPrefillTokensWithDecodes: Int? = nil
    ) throws(SchedulerError) {
        for (name, value) in [
            ("block size", blockSize), ("block count", blockCount),
            ("max batch size", maxBatchSize), ("max batch tokens", maxBatchTokens),
            ("max prefill tokens with decodes", maxPrefillTokensWithDecodes ?? 1),
        ] where value < 1 {
            throw .invalidConfiguration(setting: name, value: value)
        }
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.maxBatchSize = maxBatchSize
        self.maxBatchTokens = maxBatchTokens
        self.policy = policy
        self.prefixCaching = prefixCaching
        self.maxPrefillTokensWithDecodes = maxPrefillTokensWithDecodes
    }

    /// KV positions the cache can hold.
    public var tokenCapacity: Int { blockCount * blockSize }
}

/// Why the scheduler refused a configuration or a sequence.
public enum SchedulerError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidConfiguration(setting: String, value: Int)
    case duplicateSequence(SequenceID)
    case emptyPrompt(SequenceID)
    case invalidMaxNewTokens(SequenceID, maxNewTokens: Int)
    /// The sequence could not fit even with the whole KV cache to itself.
    case exceedsCapacity(SequenceID, promptTokens: Int, maxNewTokens: Int, capacityTokens: Int)
    /// `fork` needs a running sequence with every token computed.
    case notForkable(SequenceID)
    /// Under `guaranteedNoEvict`, the sequence and the children to be forked from it could never fit together.
    case forksExceedCapacity(SequenceID, forks: Int, blocksNeeded: Int, blockCount: Int)

    public var description: String {
        switch self {
        case .invalidConfiguration(let setting, let value):
            "scheduler \(setting) must be at least 1, got \(value)"
        case .duplicateSequence(let id):
            "sequence \(id) is already queued or running; finish it before reusing its id"
        case .emptyPrompt(let id):
            "sequence \(id) has an empty prompt; at least one token is needed to produce logits"
        case .invalidMaxNewTokens(let id, let maxNewTokens):
            "sequence \(id) asks for max_new_tokens \(maxNewTokens); it must be at least 1"
        case .forksExceedCapacity(_, let forks, let blocksNeeded, let blockCount):
            "\(forks) sequences sharing this prompt need \(blocksNeeded) KV blocks to reach max_new_tokens, more than "
                + "the \(blockCount) the KV cache holds under guaranteed-no-evict; ask for fewer sequences or tokens"
        case .notForkable(let id):
            "sequence \(id) cannot be forked: it is not running with all its tokens computed"
        case .exceedsCapacity(_, let promptTokens, let maxNewTokens, let capacityTokens):
            "prompt of \(promptTokens) tokens plus max_new_tokens \(maxNewTokens) exceeds the KV cache capacity "
                + "of \(capacityTokens) tokens; shorten the prompt, lower max_new_tokens or give the KV cache "
                + "more blocks"
        }
    }
}
