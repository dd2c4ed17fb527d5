/// In-flight batching over a paged KV cache: decides, step by step, which tokens of which sequences the
/// next forward pass computes.
///
/// The engine's loop is `schedule()` → forward over the plan → `commit(plan, sampled:)` → `finish` the
/// sequences that stopped. The scheduler does no I/O and knows nothing of models: it hands out block ids
/// and positions, and the engine maps them to KV memory (slot = block * blockSize + offset).
///
/// Shape follows nano-vllm (sequence state, block manager and scheduler are separate) and vLLM v1 (no
/// prefill/decode phase; chunked prefill always on; running sequences are served before new ones). The two
/// capacity policies are TensorRT-LLM's `GUARANTEED_NO_EVICT` and `MAX_UTILIZATION`.
///
/// Queue order is strict FIFO: when the sequence at the front of the queue does not fit (blocks, batch
/// size or token budget), nothing behind it is admitted either. This keeps a long prompt from being starved
/// by a stream of short ones, at the cost of some idle capacity while it waits.
public struct Scheduler: Sendable {
    public let config: SchedulerConfig
    var blocks: BlockManager
    public internal(set) var sequences: [SequenceID: SequenceState] = [:]
    var waiting = SequenceQueue()
    /// Running sequences in admission order, oldest first; a resumed sequence counts as newly admitted.
    var running: [SequenceID] = []
    var counters = SchedulerStats()
    /// Copy-on-write copies of the step being planned.
    var stepCopies: [BlockCopy] = []

    public init(_ config: SchedulerConfig) {
        self.config = config
        self.blocks = BlockManager(blockSize: config.blockSize, blockCount: config.blockCount)
    }

    /// Queues a sequence; `tokens` is its prompt, `maxNewTokens` bounds its growth. Fails when the id is in
    /// use or when the sequence could never fit in the KV cache, even alone. With `usePrefixCache` false it
    /// computes every position even when cached blocks match (its own full blocks are still cached for others).
    /// `forks` > 0 says the engine will fork that many children from it after its prompt (see `fork`), so that
    /// `guaranteedNoEvict` admits it only when the children's growth fits too.
    public mutating func add(
        id: SequenceID, tokens: [Int32], maxNewTokens: Int, usePrefixCache: Bool = true, forks: Int = 0
    ) throws(SchedulerError) {
        guard sequences[id] == nil else { throw .duplicateSequence(id) }
        guard !tokens.isEmpty else { throw .emptyPrompt(id) }
        guard maxNewTokens >= 1 else { throw .invalidMaxNewTokens(id, maxNewTokens: maxNewTokens) }
        guard tokens.count + maxNewTokens <= config.tokenCapacity else {
            throw .exceedsCapacity(
                id, promptTokens: tokens.count, maxNewTokens: maxNewTokens, capacityTokens: config.tokenCapacity)
        }
        let sequence = SequenceState(
            id: id, prompt: tokens, maxNewTokens: maxNewTokens, usesPrefixCache: usePrefixCache, plannedForks: forks)
        // Under maxUtilization children run (or are preempted) one by one, so each fitting alone is enough.
        if config.policy == .guaranteedNoEvict, finalBlocks(sequence) > config.blockCount {
            throw .forksExceedCapacity(
                id, forks: forks, blocksNeeded: finalBlocks(sequence), blockCount: config.blockCount)
        }
        sequences[id] = sequence
        waiting.pushBack(id)
    }

    /// Starts sequence `child` from running sequence `parent`'s computed positions followed by `token`, as
    /// vLLM forks the sequences of one request: the child's block table names the parent's blocks, each
    /// gaining a reference, so the prompt's KV is computed once for all of them. Full blocks are never
    /// written again; the last, partial block is copied the first time a sequence writes into it while
    /// another still references it (copy-on-write: see `StepPlan.copies`), so the last holder writes in
    /// place. The child runs at once, as the newest running sequence, with its own `maxNewTokens` counted
    /// from the parent's prompt.
    ///
    /// The parent must have nothing pending: every one of its tokens computed (a sampling chunk committed
    /// without a token). Typically the engine forks n children after the prompt and then finishes the parent.
    /// Under `guaranteedNoEvict` the children's growth is reserved when the parent is added with `forks`; a
    /// child forked beyond that may find no block and wait, holding its place, until one is released.
    public mutating func fork(_ parent: SequenceID, as child: SequenceID, token: Int32, maxNewTokens: Int)
        throws(SchedulerError)
    {
        guard sequences[child] == nil else { throw .duplicateSequence(child) }
        guard let source = sequences[parent], source.status == .running, source.computedCount == source.tokens.count
        else { throw .notForkable(parent) }
        guard maxNewTokens > source.generatedCount else {
            throw .invalidMaxNewTokens(child, maxNewTokens: maxNewTokens)
        }
        guard source.promptCount + maxNewTokens <= config.tokenCapacity else {
            throw .exceedsCapacity(
                child, promptTokens: source.promptCount, maxNewTokens: maxNewTokens,
                capacityTokens: config.tokenCapacity)
        }
        let sequence = SequenceState(fork: child, of: source, token: token, maxNewTokens: maxNewTokens)
        blocks.acquire(sequence.blockTable)
        sequences[child] = sequence
        running.append(child)
        counters.forks += 1
    }

    /// Ends a sequence, finished or cancelled, waiting or running: its blocks are released now (full ones
    /// stay in the prefix cache until evicted). Unknown ids are ignored, so cancelling twice is harmless.
    public mutating func finish(_ id: SequenceID) {
        guard let sequence = sequences.removeValue(forKey: id) else { return }
        switch sequence.status {
        case .waiting: waiting.remove(id)
        case .running: running.removeAll { $0 == id }
        }
        blocks.release(sequence.blockTable)
    }

    public func sequence(_ id: SequenceID) -> SequenceState? { sequences[id] }

    /// The sequence's block ids; empty while it waits or when it is unknown.
    public func blockTable(_ id: SequenceID) -> [Int] { sequences[id]?.blockTable ?? [] }

    /// Waiting sequences, front of the queue first.
    public var waitingIDs: [SequenceID] { waiting.elements }
    /// Running sequences, oldest first.
    public var runningIDs: [SequenceID] { running }

    public var waitingCount: Int { waiting.count }
    public var runningCount: Int { running.count }
    /// Blocks referenced by at least one sequence.
    public var usedBlockCount: Int { blocks.usedCount }
    /// Blocks holding nothing.
    public var freeBlockCount: Int { blocks.freeCount }
    /// Unreferenced blocks kept for prefix hits; `used + free + cached == blockCount`.
    public var cachedBlockCount: Int { blocks.cachedCount }
    public var tokenCapacity: Int { config.tokenCapacity }
    /// The block manager, for inspection (reference counts, eviction order).
    public var blockManager: BlockManager { blocks }

    public var stats: SchedulerStats {
        var stats = counters
        stats.evictions = blocks.evictions
        return stats
    }

    /// Blocks needed to hold `positions` KV positions.
    func blocksFor(_ positions: Int) -> Int { (positions + config.blockSize - 1) / config.blockSize }
}
