extension Scheduler {
    /// Plans the next step and reserves its blocks.
    ///
    /// 1. Running sequences, oldest first, each take `min(pending tokens, budget left)`: a decode is one
    ///    token, a sequence still in its prompt may get a partial chunk. Under `maxUtilization`, when the
    ///    blocks for a chunk are not available even after evicting cached blocks, the newest running
    ///    sequence is preempted (repeatedly; possibly the sequence itself, if it is the newest).
    /// 2. If nothing was preempted, waiting sequences are admitted FIFO while fewer than `maxBatchSize` run,
    ///    budget remains and their blocks fit (see `admitWaiting`). The first that does not fit stops admission.
    ///    A step that preempted admits nobody, so freed blocks are not handed straight to a newcomer.
    ///    Preempted sequences wait at the front of the queue, the older ahead of the newer.
    ///
    /// With `maxPrefillTokensWithDecodes` set and at least one running sequence decoding (one token pending after
    /// its prompt), the step's prompt chunks (running ones, then admissions) share that smaller budget, and the
    /// budget of every decode still to be planned is held back from them, so prompts never crowd a decode out.
    ///
    /// O(running + admitted) apart from the block-table copies in the chunks.
    public mutating func schedule() -> StepPlan {
        var plan = StepPlan()
        stepCopies = []
        var budget = config.maxBatchTokens
        // Decodes not yet planned (only counted when prompts are capped beside them) and the prompts' budget.
        var decodes = Set<SequenceID>()
        var prefillBudget = Int.max
        if let cap = config.maxPrefillTokensWithDecodes {
            decodes = Set(running.filter { sequences[$0].map(Self.decodes) ?? false })
            if !decodes.isEmpty { prefillBudget = cap }
        }
        var index = 0
        while index < running.count, budget > 0 {
            let id = running[index]
            let decode = decodes.remove(id) != nil
            let limit = decode ? budget : min(budget - decodes.count, prefillBudget)
            let preemptedBefore = plan.preempted.count
            let planned = runningChunk(id, budget: limit, preempted: &plan.preempted)
            for victim in plan.preempted[preemptedBefore...] { decodes.remove(victim) }
            guard let chunk = planned else {
                // Preempted itself (it was the newest, so the loop is over) or had nothing to compute.
                index += 1
                continue
            }
            budget -= chunk.tokens.count
            if !decode { prefillBudget -= chunk.tokens.count }
            plan.chunks.append(chunk)
            index += 1
        }
        if plan.preempted.isEmpty {
            admitWaiting(budget: min(budget, prefillBudget), into: &plan)
        }
        plan.tokenCount = plan.chunks.reduce(0) { $0 + $1.tokens.count }
        plan.copies = stepCopies
        stepCopies = []
        return plan
    }

    /// Whether the sequence's next chunk is a decode: one token after its prompt (a sequence recomputing after
    /// preemption is not decoding until it has caught up).
    static func decodes(_ sequence: SequenceState) -> Bool {
        sequence.pendingCount == 1 && sequence.computedCount >= sequence.promptCount
    }

    /// The chunk for running sequence `id`, allocating its blocks; nil when it has nothing pending, when
    /// its blocks cannot be had, or when it was preempted itself.
    private mutating func runningChunk(_ id: SequenceID, budget: Int, preempted: inout [SequenceID]) -> StepPlan.Chunk?
    {
        guard let sequence = sequences[id] else { return nil }
        let count = min(sequence.pendingCount, budget)
        guard count > 0 else { return nil }
        let copy = sharedTail(sequence) != nil ? 1 : 0
        let missing = blocksFor(sequence.computedCount + count) - sequence.blockTable.count + copy
        while missing > blocks.availableCount {
            guard config.policy == .maxUtilization, let victim = running.last else { return nil }
            preempt(victim)
            preempted.append(victim)
            if victim == id { return nil }
        }
        return makeChunk(id, count: count, newBlocks: missing - copy)
    }

    /// The index in the block table of the partial block the sequence writes next, when another sequence
    /// (a fork) still references it; nil when the next write starts a block or the block is its own.
    func sharedTail(_ sequence: SequenceState) -> Int? {
        guard sequence.computedCount % config.blockSize != 0 else { return nil }
        let index = sequence.computedCount / config.blockSize
        guard index < sequence.blockTable.count, blocks.referenceCount(sequence.blockTable[index]) > 1 else {
            return nil
        }
        return index
    }

    /// Drops the KV of a running sequence and puts it back at the front of the queue; its registered
    /// full blocks stay in the prefix cache, so resuming it is cheap unless they are evicted meanwhile.
    mutating func preempt(_ id: SequenceID) {
        guard var sequence = sequences[id], sequence.status == .running else { return }
        running.removeAll { $0 == id }
        blocks.release(sequence.blockTable)
        sequence.blockTable = []
        sequence.blockContents = []
        sequence.computedCount = 0
        sequence.status = .waiting
        sequences[id] = sequence
        waiting.pushFront(id)
        counters.preemptions += 1
    }

    /// Admits waiting sequences FIFO into the plan.
    ///
    /// A sequence starts after the longest cached run of its full blocks, but never with all its tokens
    /// cached: the last one is always computed, for its logits. It is admitted when
    /// - `maxUtilization`: the blocks for its first chunk are available;
    /// - `guaranteedNoEvict`: the blocks for its whole growth, `ceil((prompt + maxNewTokens) / blockSize)`
    ///   less its prefix hits, are available beyond the blocks every running sequence may still claim up to
    ///   its own limit. So a running sequence always finds its next block and none is ever preempted.
    /// Cached blocks count as available (they are evicted on demand), except the ones the hit itself revives.
    private mutating func admitWaiting(budget initialBudget: Int, into plan: inout StepPlan) {
        var budget = initialBudget
        var reserved = 0
        if config.policy == .guaranteedNoEvict {
            for id in running {
                guard let sequence = sequences[id] else { continue }
                // A fork still sharing the block it writes next will need a copy of it.
                let copy = sharedTail(sequence) != nil ? 1 : 0
                reserved += max(0, finalBlocks(sequence) - sequence.blockTable.count + copy)
            }
        }
        while budget > 0, running.count < config.maxBatchSize, let id = waiting.first,
            var sequence = sequences[id]
        {
            if sequence.reachedLimit {
                // Preempted after its last token, before the engine finished it: nothing is left to compute,
                // so it rejoins the batch without blocks or a chunk and waits there for `finish`.
                _ = waiting.popFront()
                sequence.status = .running
                sequences[id] = sequence
                running.append(id)
                continue
            }
            let match =
                config.prefixCaching && sequence.usesPrefixCache
                ? blocks.cachedPrefix(sequence.tokens, maxBlocks: (sequence.tokens.count - 1) / config.blockSize)
                : PrefixMatch()
            let hitTokens = match.blocks.count * config.blockSize
            let count = min(sequence.tokens.count - hitTokens, budget)
            let chunkBlocks = blocksFor(hitTokens + count) - match.blocks.count
            let needed: Int
            switch config.policy {
            case .maxUtilization: needed = chunkBlocks
            case .guaranteedNoEvict: needed = finalBlocks(sequence) - match.blocks.count + reserved
            }
            guard needed + blocks.unreferencedCount(match.blocks) <= blocks.availableCount else { break }

            _ = waiting.popFront()
            blocks.acquire(match.blocks)
            sequence.blockTable = match.blocks
            sequence.blockContents = match.contents
            sequence.computedCount = hitTokens
            sequence.status = .running
            sequences[id] = sequence
            running.append(id)
            if config.prefixCaching && sequence.usesPrefixCache {
                counters.prefixCacheQueryTokens += sequence.tokens.count
                counters.prefixCacheHitTokens += hitTokens
            }
            if config.policy == .guaranteedNoEvict {
                reserved += finalBlocks(sequence) - match.blocks.count - chunkBlocks
            }
            plan.chunks.append(makeChunk(id, count: count, newBlocks: chunkBlocks))
            budget -= count
        }
    }

    /// Allocates `newBlocks` blocks to `id`, plus the copy of a shared partial block it writes into (the
    /// caller checked they are available), and cuts its next chunk.
    private mutating func makeChunk(_ id: SequenceID, count: Int, newBlocks: Int) -> StepPlan.Chunk {
        var sequence = sequences.removeValue(forKey: id)!
        if let index = sharedTail(sequence) {
            let shared = sequence.blockTable[index]
            let copy = blocks.allocate()!
            blocks.release([shared])
            sequence.blockTable[index] = copy
            stepCopies.append(BlockCopy(from: shared, to: copy))
            counters.blockCopies += 1
        }
        for _ in 0..<max(0, newBlocks) {
            sequence.blockTable.append(blocks.allocate()!)
        }
        let start = sequence.computedCount
        let end = start + count
        let chunk = StepPlan.Chunk(
            sequence: id, start: start, tokens: Array(sequence.tokens[start..<end]),
            samples: end == sequence.tokens.count, blockTable: Array(sequence.blockTable.prefix(blocksFor(end))))
        sequences[id] = sequence
        return chunk
    }

    /// Blocks the sequence can ever hold: positions up to its prompt plus `maxNewTokens`. For a sequence with
    /// planned forks, the blocks of all its children: the prompt's full blocks once, and each child's own
    /// tail (its copy of the partial block, then its growth).
    public func finalBlocks(_ sequence: SequenceState) -> Int {
        let own = blocksFor(sequence.promptCount + sequence.maxNewTokens)
        guard sequence.plannedForks > 0 else { return own }
        let shared = sequence.promptCount / config.blockSize
        return shared + sequence.plannedForks * (own - shared)
    }
}
