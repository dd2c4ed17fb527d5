import Testing

import KilnScheduling

/// `n` / `best_of`: sequences forked from one computed prompt share its blocks; the shared partial block is copied
/// the first time a sequence writes into it while another still holds it.
@Suite("Scheduler: forked sequences share the prompt's blocks")
struct SchedulerForkTests {
    /// Runs `prompt` through sequence 0 with no sampled token, as the engine does for a shared prompt.
    func prefilledParent(_ scheduler: inout Scheduler, prompt: [Int32], maxNewTokens: Int) throws -> StepPlan {
        try scheduler.add(id: 0, tokens: prompt, maxNewTokens: maxNewTokens)
        let plan = scheduler.schedule()
        scheduler.commit(plan, sampled: [:])
        return plan
    }

    @Test("a partial last block is copied for every writer but the last; finishing all frees every block")
    func partialBlockCopyOnWrite() throws {
        var scheduler = try makeScheduler(blockSize: 4, blockCount: 16, policy: .maxUtilization)
        let prefill = try prefilledParent(&scheduler, prompt: tokenRun(0, 6), maxNewTokens: 4)
        #expect(prefill.chunks == [chunk(0, 0, tokenRun(0, 6), samples: true, [0, 1])])
        #expect(scheduler.sequence(0)?.computedCount == 6 && scheduler.sequence(0)?.tokens == tokenRun(0, 6))

        for (child, token) in [(1, 100), (2, 101), (3, 102)] {
            try scheduler.fork(0, as: child, token: Int32(token), maxNewTokens: 4)
        }
        let manager = { scheduler.blockManager }
        #expect(manager().referenceCount(0) == 4 && manager().referenceCount(1) == 4)
        #expect(scheduler.blockTable(2) == [0, 1])
        #expect(scheduler.sequence(2)?.tokens == tokenRun(0, 6) + [101])
        #expect(scheduler.sequence(2)?.computedCount == 6 && scheduler.sequence(2)?.generatedCount == 1)
        scheduler.finish(0)
        #expect(manager().referenceCount(0) == 3 && manager().referenceCount(1) == 3)
        #expect(scheduler.usedBlockCount == 2 && scheduler.runningIDs == [1, 2, 3])

        // Position 6 is in block 1, shared three ways: 1 and 2 write into copies, 3 (the last holder) in place.
        var plan = scheduler.schedule()
        #expect(
            plan.chunks == [
                chunk(1, 6, [100], samples: true, [0, 2]),
                chunk(2, 6, [101], samples: true, [0, 3]),
                chunk(3, 6, [102], samples: true, [0, 1]),
            ])
        #expect(plan.copies == [BlockCopy(from: 1, to: 2), BlockCopy(from: 1, to: 3)])
        #expect((0..<5).map(manager().referenceCount) == [3, 1, 1, 1, 0])
        #expect(scheduler.usedBlockCount == 4)
        #expect(scheduler.stats.forks == 3 && scheduler.stats.blockCopies == 2)
        scheduler.commit(plan, sampled: [1: 110, 2: 111, 3: 112])

        // Each now owns its tail: no more copies; block 2 of each fills at position 8.
        plan = scheduler.schedule()
        #expect(plan.copies == [])
        #expect(
            plan.chunks == [
                chunk(1, 7, [110], samples: true, [0, 2]),
                chunk(2, 7, [111], samples: true, [0, 3]),
                chunk(3, 7, [112], samples: true, [0, 1]),
            ])
        scheduler.commit(plan, sampled: [1: 120, 2: 121, 3: 122])
        #expect(scheduler.sequence(1)?.tokens == tokenRun(0, 6) + [100, 110, 120])

        scheduler.finish(2)  // cancelled
        #expect((0..<5).map(manager().referenceCount) == [2, 1, 1, 0, 0])
        #expect(scheduler.usedBlockCount == 3 && scheduler.freeBlockCount == 13)
        scheduler.finish(1)
        scheduler.finish(3)
        #expect(scheduler.usedBlockCount == 0 && scheduler.freeBlockCount == 16 && scheduler.cachedBlockCount == 0)
    }

    @Test("a prompt that fills its blocks is shared with no copy; its blocks stay cached after the last fork")
    func fullBlocksNeedNoCopy() throws {
        var scheduler = try makeScheduler(blockSize: 4, blockCount: 16, policy: .maxUtilization, prefixCaching: true)
        _ = try prefilledParent(&scheduler, prompt: tokenRun(0, 8), maxNewTokens: 3)
        try scheduler.fork(0, as: 1, token: 100, maxNewTokens: 3)
        try scheduler.fork(0, as: 2, token: 101, maxNewTokens: 2)
        scheduler.finish(0)
        let plan = scheduler.schedule()
        #expect(plan.copies == [])
        #expect(
            plan.chunks == [
                chunk(1, 8, [100], samples: true, [0, 1, 2]),
                chunk(2, 8, [101], samples: true, [0, 1, 3]),
            ])
        #expect((0..<4).map(scheduler.blockManager.referenceCount) == [2, 2, 1, 1])
        scheduler.commit(plan, sampled: [1: 110, 2: 111])
        #expect(scheduler.sequence(2)?.reachedLimit == true && scheduler.sequence(1)?.reachedLimit == false)
        scheduler.finish(1)
        scheduler.finish(2)
        #expect(scheduler.usedBlockCount == 0)
        #expect(scheduler.cachedBlockCount == 2 && scheduler.freeBlockCount == 14)
        #expect(scheduler.blockManager.isCached(0) && scheduler.blockManager.isCached(1))
    }

    @Test("only a running sequence with nothing pending can be forked, into an unused id and within its limits")
    func forkPreconditions() throws {
        var scheduler = try makeScheduler(blockSize: 4, blockCount: 16, policy: .maxUtilization)
        try scheduler.add(id: 0, tokens: tokenRun(0, 5), maxNewTokens: 4)
        #expect(throws: SchedulerError.notForkable(0)) { try scheduler.fork(0, as: 1, token: 9, maxNewTokens: 4) }
        let plan = scheduler.schedule()
        scheduler.commit(plan, sampled: [0: 50])  // sampled: its token is pending
        #expect(throws: SchedulerError.notForkable(0)) { try scheduler.fork(0, as: 1, token: 9, maxNewTokens: 4) }
        #expect(throws: SchedulerError.notForkable(7)) { try scheduler.fork(7, as: 1, token: 9, maxNewTokens: 4) }

        var other = try makeScheduler(blockSize: 4, blockCount: 4, policy: .maxUtilization)
        _ = try prefilledParent(&other, prompt: tokenRun(0, 5), maxNewTokens: 4)
        #expect(throws: SchedulerError.duplicateSequence(0)) { try other.fork(0, as: 0, token: 9, maxNewTokens: 4) }
        #expect(throws: SchedulerError.invalidMaxNewTokens(1, maxNewTokens: 0)) {
            try other.fork(0, as: 1, token: 9, maxNewTokens: 0)
        }
        #expect(throws: SchedulerError.exceedsCapacity(1, promptTokens: 5, maxNewTokens: 12, capacityTokens: 16)) {
            try other.fork(0, as: 1, token: 9, maxNewTokens: 12)
        }
        #expect(other.usedBlockCount == 2 && other.runningIDs == [0])
    }

    @Test("guaranteedNoEvict reserves the children's growth when the parent is admitted, so no child ever waits")
    func guaranteedNoEvictReservesForForks() throws {
        // 8 blocks of 4. Prompt 6 (one full block shared, one partial), up to 6 new tokens: a child ends at 12
        // positions, 3 blocks, 2 of them its own. Three children: 1 + 3 × 2 = 7 blocks.
        var scheduler = try makeScheduler(blockSize: 4, blockCount: 8, policy: .guaranteedNoEvict)
        try scheduler.add(id: 0, tokens: tokenRun(0, 6), maxNewTokens: 6, forks: 3)
        #expect(scheduler.finalBlocks(scheduler.sequence(0)!) == 7)
        try scheduler.add(id: 9, tokens: tokenRun(50, 4), maxNewTokens: 4)  // 2 blocks: only after the group
        var plan = scheduler.schedule()
        #expect(plan.chunks.map(\.sequence) == [0])
        scheduler.commit(plan, sampled: [:])
        for child in 1...3 { try scheduler.fork(0, as: child, token: Int32(100 + child), maxNewTokens: 6) }
        scheduler.finish(0)
        // Every child advances every step until its limit; 9 waits until the blocks are back.
        for step in 0..<5 {
            plan = scheduler.schedule()
            #expect(plan.chunks.map(\.sequence) == [1, 2, 3], "step \(step)")
            scheduler.commit(plan, sampled: Dictionary(uniqueKeysWithValues: plan.chunks.map { ($0.sequence, 7) }))
        }
        #expect([1, 2, 3].allSatisfy { scheduler.sequence($0)!.reachedLimit })
        #expect(scheduler.usedBlockCount == 7 && scheduler.stats.blockCopies == 2)
        for child in 1...3 { scheduler.finish(child) }
        #expect(scheduler.schedule().chunks.map(\.sequence) == [9])

        // A group that could never fit together is refused at once rather than left waiting.
        #expect(throws: SchedulerError.forksExceedCapacity(5, forks: 4, blocksNeeded: 9, blockCount: 8)) {
            try scheduler.add(id: 5, tokens: tokenRun(0, 6), maxNewTokens: 6, forks: 4)
        }
    }

    @Test(
        "random forks, steps and cancellations: reads see their own prefix, writes go to unshared blocks, none leak",
        arguments: [(UInt64(11), false), (12, true), (13, true)])
    func randomForks(seed: UInt64, prefixCaching: Bool) throws {
        let size = 3
        let blockCount = 14  // tight, so that forks are preempted and resumed too
        var random = SplitMix64(state: seed)
        var scheduler = try makeScheduler(
            blockSize: size, blockCount: blockCount, maxBatchSize: 6, maxBatchTokens: 12, policy: .maxUtilization,
            prefixCaching: prefixCaching)
        var oracle = KVOracle(slotCount: scheduler.tokenCapacity)
        var nextID = 0
        var arrivals = 0
        for iteration in 0..<2500 {
            if iteration < 2000, Int.random(in: 0..<4, using: &random) == 0 {
                let prompt = (0..<Int.random(in: 1...10, using: &random)).map { _ in Int32.random(in: 0..<3, using: &random) }
                try scheduler.add(id: nextID, tokens: prompt, maxNewTokens: Int.random(in: 1...8, using: &random))
                nextID += 1
                arrivals += 1
            }
            let plan = scheduler.schedule()
            // The engine copies before the forward pass; then each chunk reads and writes.
            for copy in plan.copies {
                #expect(copy.from != copy.to)
                for offset in 0..<size { oracle.slots[copy.to * size + offset] = oracle.slots[copy.from * size + offset] }
            }
            for chunk in plan.chunks {
                let sequence = scheduler.sequence(chunk.sequence)!
                let prefixes = oracle.prefixNodes(sequence.tokens)
                for position in 0..<chunk.start + chunk.tokens.count {
                    let block = chunk.blockTable[position / size]
                    let slot = block * size + position % size
                    if position < chunk.start {
                        #expect(oracle.slots[slot] == prefixes[position], "sequence \(chunk.sequence) reads stale KV")
                    } else {
                        #expect(scheduler.blockManager.referenceCount(block) == 1, "a write into a shared block")
                        oracle.slots[slot] = prefixes[position]
                    }
                }
            }
            // A sequence that sampled its first token is forked a quarter of the time: 1–3 children, each with its
            // own first token, and the parent ends (the engine's shared prompt).
            var sampled: [SequenceID: Int32] = [:]
            var parents: [SequenceID] = []
            for chunk in plan.chunks where chunk.samples {
                if scheduler.sequence(chunk.sequence)!.generatedCount == 0, Int.random(in: 0..<4, using: &random) == 0 {
                    parents.append(chunk.sequence)
                } else {
                    sampled[chunk.sequence] = Int32.random(in: 0..<3, using: &random)
                }
            }
            scheduler.commit(plan, sampled: sampled)
            for parent in parents {
                let limit = scheduler.sequence(parent)!.maxNewTokens
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    try scheduler.fork(parent, as: nextID, token: Int32.random(in: 0..<3, using: &random), maxNewTokens: limit)
                    nextID += 1
                }
                scheduler.finish(parent)
            }
            for id in scheduler.runningIDs where scheduler.sequence(id)!.reachedLimit { scheduler.finish(id) }
            if Int.random(in: 0..<8, using: &random) == 0,
                let victim = (scheduler.waitingIDs + scheduler.runningIDs).randomElement(using: &random)
            {
                scheduler.finish(victim)
            }
            // Reference counts are exactly the number of block tables naming each block.
            var references = Array(repeating: 0, count: blockCount)
            for id in scheduler.runningIDs {
                for block in scheduler.blockTable(id) { references[block] += 1 }
            }
            #expect((0..<blockCount).map(scheduler.blockManager.referenceCount) == references)
        }
        var steps = 0
        while scheduler.runningCount + scheduler.waitingCount > 0, steps < 10_000 {
            let plan = scheduler.schedule()
            scheduler.commit(
                plan, sampled: Dictionary(uniqueKeysWithValues: plan.chunks.filter(\.samples).map { ($0.sequence, 1) }))
            for id in scheduler.runningIDs where scheduler.sequence(id)!.reachedLimit { scheduler.finish(id) }
            steps += 1
        }
        #expect(scheduler.runningCount + scheduler.waitingCount == 0)
        #expect(scheduler.usedBlockCount == 0)
        #expect(scheduler.freeBlockCount + scheduler.cachedBlockCount == blockCount)
        let stats = scheduler.stats
        #expect(arrivals > 300 && stats.forks > 100 && stats.blockCopies > 50 && stats.preemptions > 0)
    }
}
