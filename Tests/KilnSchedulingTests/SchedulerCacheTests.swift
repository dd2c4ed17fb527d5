import Testing

import KilnScheduling

@Suite("Scheduler: prefix caching, preemption, finishing")
struct SchedulerCacheTests {
    let prefix = tokenRun(0, 8)  // two full blocks of 4

    @Test("two sequences share a two-block prefix; a third reuses it from the cache after both finish")
    func sharedPrefix() throws {
        var scheduler = try makeScheduler(blockSize: 4, blockCount: 16, policy: .guaranteedNoEvict, prefixCaching: true)
        try scheduler.add(id: 1, tokens: prefix + [100, 101], maxNewTokens: 2)
        var plan = scheduler.schedule()
        #expect(plan.chunks == [chunk(1, 0, prefix + [100, 101], samples: true, [0, 1, 2])])
        scheduler.commit(plan, sampled: [1: 7])

        try scheduler.add(id: 2, tokens: prefix + [200], maxNewTokens: 2)
        plan = scheduler.schedule()
        #expect(
            plan.chunks == [
                chunk(1, 10, [7], samples: true, [0, 1, 2]),
                chunk(2, 8, [200], samples: true, [0, 1, 3]),
            ])
        #expect([0, 1, 2, 3].map(scheduler.blockManager.referenceCount) == [2, 2, 1, 1])
        #expect(scheduler.usedBlockCount == 4)
        #expect(scheduler.stats.prefixCacheHitTokens == 8 && scheduler.stats.prefixCacheQueryTokens == 19)
        scheduler.commit(plan, sampled: [1: 8, 2: 9])

        scheduler.finish(1)
        #expect([0, 1, 2].map(scheduler.blockManager.referenceCount) == [1, 1, 0])
        scheduler.finish(2)
        #expect(scheduler.usedBlockCount == 0 && scheduler.cachedBlockCount == 2 && scheduler.freeBlockCount == 14)
        #expect(scheduler.blockManager.evictionOrder == [1, 0])

        try scheduler.add(id: 3, tokens: prefix + tokenRun(300, 5), maxNewTokens: 1)
        plan = scheduler.schedule()
        #expect(plan.chunks == [chunk(3, 8, tokenRun(300, 5), samples: true, [0, 1, 3, 2])])
        #expect(scheduler.cachedBlockCount == 0 && scheduler.usedBlockCount == 4)
        #expect(scheduler.stats.prefixCacheHitTokens == 16 && scheduler.stats.prefixCacheQueryTokens == 32)
        #expect(scheduler.stats.evictions == 0)
    }

    @Test("a fully cached prompt still computes its last block, for the logits")
    func lastTokenIsComputed() throws {
        var scheduler = try makeScheduler(blockSize: 4, blockCount: 8, policy: .guaranteedNoEvict, prefixCaching: true)
        try scheduler.add(id: 1, tokens: prefix, maxNewTokens: 1)
        let plan = scheduler.schedule()
        scheduler.commit(plan, sampled: [1: 5])
        scheduler.finish(1)
        #expect(scheduler.cachedBlockCount == 2)

        try scheduler.add(id: 2, tokens: prefix, maxNewTokens: 1)
        #expect(scheduler.schedule().chunks == [chunk(2, 4, tokenRun(4, 4), samples: true, [0, 2])])
        #expect(scheduler.stats.prefixCacheHitTokens == 4)
    }

    @Test("cached blocks are evicted least recently used first when the free list runs dry")
    func evictionUnderPressure() throws {
        var scheduler = try makeScheduler(blockSize: 2, blockCount: 4, policy: .maxUtilization, prefixCaching: true)
        try scheduler.add(id: 1, tokens: [1, 2, 3, 4, 5], maxNewTokens: 1)  // caches blocks 0, 1
        scheduler.commit(scheduler.schedule(), sampled: [1: 6])
        scheduler.finish(1)  // queue: 2 (free), then 1, 0 (cached, tail first)
        #expect(scheduler.blockManager.evictionOrder == [1, 0] && scheduler.freeBlockCount == 2)

        try scheduler.add(id: 2, tokens: [9, 9, 9, 9, 9], maxNewTokens: 1)  // 3 blocks: 2, 3, then evicts 1
        #expect(scheduler.schedule().chunks == [chunk(2, 0, [9, 9, 9, 9, 9], samples: true, [2, 3, 1])])
        #expect(scheduler.stats.evictions == 1 && scheduler.blockManager.evictionOrder == [0])

        scheduler.finish(2)
        try scheduler.add(id: 3, tokens: [1, 2, 3, 4, 5], maxNewTokens: 1)  // block 0 still holds [1, 2]
        #expect(scheduler.schedule().chunks == [chunk(3, 2, [3, 4, 5], samples: true, [0, 2, 3])])
        #expect(scheduler.stats.prefixCacheHitTokens == 2)
    }

    @Test("maxUtilization preempts the newest running sequence and resumes it by recompute")
    func preemptNewest() throws {
        var scheduler = try makeScheduler(blockSize: 2, blockCount: 4, policy: .maxUtilization)
        try scheduler.add(id: 1, tokens: [10, 11, 12], maxNewTokens: 4)
        try scheduler.add(id: 2, tokens: [20, 21, 22], maxNewTokens: 4)
        var plan = scheduler.schedule()
        #expect(
            plan.chunks == [
                chunk(1, 0, [10, 11, 12], samples: true, [0, 1]),
                chunk(2, 0, [20, 21, 22], samples: true, [2, 3]),
            ])
        scheduler.commit(plan, sampled: [1: 13, 2: 23])

        plan = scheduler.schedule()
        #expect(plan.chunks == [chunk(1, 3, [13], samples: true, [0, 1]), chunk(2, 3, [23], samples: true, [2, 3])])
        scheduler.commit(plan, sampled: [1: 14, 2: 24])

        plan = scheduler.schedule()  // 1 needs a third block; none free: 2 goes
        #expect(plan == StepPlan(chunks: [chunk(1, 4, [14], samples: true, [0, 1, 2])], preempted: [2]))
        #expect(scheduler.waitingIDs == [2] && scheduler.blockTable(2) == [])
        #expect(scheduler.sequence(2)?.computedCount == 0 && scheduler.sequence(2)?.tokens == [20, 21, 22, 23, 24])
        scheduler.commit(plan, sampled: [1: 15])

        plan = scheduler.schedule()  // 2 needs 3 blocks, 1 is left
        #expect(plan == StepPlan(chunks: [chunk(1, 5, [15], samples: true, [0, 1, 2])]))
        scheduler.commit(plan, sampled: [1: 16])
        #expect(scheduler.sequence(1)?.reachedLimit == true)
        #expect(scheduler.schedule() == StepPlan())

        scheduler.finish(1)
        plan = scheduler.schedule()
        #expect(plan == StepPlan(chunks: [chunk(2, 0, [20, 21, 22, 23, 24], samples: true, [0, 1, 2])]))
        scheduler.commit(plan, sampled: [2: 25])
        #expect(scheduler.sequence(2)?.tokens == [20, 21, 22, 23, 24, 25])
        #expect(scheduler.stats.preemptions == 1)
    }

    @Test("the newest sequence preempts itself when it is the one short of a block")
    func preemptSelf() throws {
        var scheduler = try makeScheduler(blockSize: 2, blockCount: 3, policy: .maxUtilization)
        try scheduler.add(id: 1, tokens: [1, 2, 3], maxNewTokens: 3)
        try scheduler.add(id: 2, tokens: [4, 5], maxNewTokens: 2)
        var plan = scheduler.schedule()
        #expect(plan.chunks.map(\.blockTable) == [[0, 1], [2]])
        scheduler.commit(plan, sampled: [1: 6, 2: 7])

        plan = scheduler.schedule()
        #expect(plan == StepPlan(chunks: [chunk(1, 3, [6], samples: true, [0, 1])], preempted: [2]))
        #expect(scheduler.waitingIDs == [2] && scheduler.runningIDs == [1] && scheduler.usedBlockCount == 2)
    }

    @Test("a sequence preempted after its last token rejoins without recomputing anything")
    func preemptFinishedSequence() throws {
        var scheduler = try makeScheduler(blockSize: 2, blockCount: 3, policy: .maxUtilization)
        try scheduler.add(id: 1, tokens: [1, 2, 3], maxNewTokens: 3)
        try scheduler.add(id: 2, tokens: [4, 5], maxNewTokens: 1)
        scheduler.commit(scheduler.schedule(), sampled: [1: 6, 2: 7])  // 2 reached its limit; not finished yet
        var plan = scheduler.schedule()
        #expect(plan == StepPlan(chunks: [chunk(1, 3, [6], samples: true, [0, 1])]))
        scheduler.commit(plan, sampled: [1: 8])

        plan = scheduler.schedule()
        #expect(plan == StepPlan(chunks: [chunk(1, 4, [8], samples: true, [0, 1, 2])], preempted: [2]))
        scheduler.commit(plan, sampled: [1: 9])  // 1 reached its limit too
        #expect(scheduler.schedule() == StepPlan())  // 2 is back in the batch, with no chunk and no blocks
        #expect(scheduler.runningIDs == [1, 2] && scheduler.blockTable(2) == [])
        #expect(scheduler.sequence(2)?.tokens == [4, 5, 7])
        scheduler.finish(2)
        scheduler.finish(1)
        #expect(scheduler.usedBlockCount == 0)
    }

    @Test("a preempted sequence resumes from its cached blocks and recomputes only its last token")
    func resumeFromCache() throws {
        var scheduler = try makeScheduler(blockSize: 2, blockCount: 5, policy: .maxUtilization, prefixCaching: true)
        try scheduler.add(id: 1, tokens: [1, 2, 3], maxNewTokens: 6)
        try scheduler.add(id: 2, tokens: [4, 5, 6], maxNewTokens: 3)
        var plan = scheduler.schedule()
        #expect(plan.chunks.map(\.blockTable) == [[0, 1], [2, 3]])
        scheduler.commit(plan, sampled: [1: 7, 2: 8])
        plan = scheduler.schedule()
        #expect(plan.chunks == [chunk(1, 3, [7], samples: true, [0, 1]), chunk(2, 3, [8], samples: true, [2, 3])])
        scheduler.commit(plan, sampled: [1: 9, 2: 19])  // 2's blocks [4, 5] and [6, 8] are full and cached

        plan = scheduler.schedule()  // 1 takes the spare block 4; 2, the newest, is short of one: it goes
        #expect(plan == StepPlan(chunks: [chunk(1, 4, [9], samples: true, [0, 1, 4])], preempted: [2]))
        #expect(scheduler.blockManager.evictionOrder == [3, 2] && scheduler.freeBlockCount == 0)
        scheduler.commit(plan, sampled: [1: 10])

        plan = scheduler.schedule()  // reviving 2's two cached blocks and adding one does not fit in 2
        #expect(plan == StepPlan(chunks: [chunk(1, 5, [10], samples: true, [0, 1, 4])]))
        scheduler.commit(plan, sampled: [1: 11])
        scheduler.finish(1)  // 1's blocks 4, 1, 0 are cached behind 3, 2
        #expect(scheduler.blockManager.evictionOrder == [3, 2, 4, 1, 0])

        plan = scheduler.schedule()  // 2 revives 2 and 3, and its new block evicts the oldest of the rest
        #expect(plan == StepPlan(chunks: [chunk(2, 4, [19], samples: true, [2, 3, 4])]))
        #expect(scheduler.stats.evictions == 1 && scheduler.blockManager.evictionOrder == [1, 0])
        #expect(scheduler.stats.prefixCacheHitTokens == 4 && scheduler.stats.prefixCacheQueryTokens == 11)
        #expect(scheduler.stats.preemptions == 1)
    }

    @Test("guaranteedNoEvict makes the second sequence wait rather than preempt anything")
    func noEvictWaits() throws {
        var scheduler = try makeScheduler(blockSize: 2, blockCount: 4, policy: .guaranteedNoEvict)
        try scheduler.add(id: 1, tokens: [10, 11, 12], maxNewTokens: 4)
        try scheduler.add(id: 2, tokens: [20, 21, 22], maxNewTokens: 4)
        for (step, token) in [Int32](13...16).enumerated() {
            let plan = scheduler.schedule()
            let start = step == 0 ? 0 : 2 + step
            #expect(plan.preempted.isEmpty && plan.chunks.map(\.sequence) == [1] && plan.chunks[0].start == start)
            #expect(scheduler.waitingIDs == [2])
            scheduler.commit(plan, sampled: [1: token])
        }
        #expect(scheduler.blockTable(1) == [0, 1, 2])
        scheduler.finish(1)
        #expect(scheduler.schedule().chunks == [chunk(2, 0, [20, 21, 22], samples: true, [0, 1])])
        #expect(scheduler.stats.preemptions == 0)
    }

    @Test("finishing waiting and running sequences returns every block")
    func finishReturnsBlocks() throws {
        var scheduler = try makeScheduler(
            blockSize: 4, blockCount: 8, maxBatchTokens: 6, policy: .maxUtilization, prefixCaching: true)
        try scheduler.add(id: 1, tokens: tokenRun(0, 10), maxNewTokens: 4)
        try scheduler.add(id: 2, tokens: tokenRun(0, 9), maxNewTokens: 4)
        try scheduler.add(id: 3, tokens: tokenRun(50, 3), maxNewTokens: 4)
        var plan = scheduler.schedule()
        #expect(plan.chunks == [chunk(1, 0, tokenRun(0, 6), samples: false, [0, 1])])
        scheduler.commit(plan, sampled: [:])
        plan = scheduler.schedule()
        #expect(
            plan.chunks == [
                chunk(1, 6, tokenRun(6, 4), samples: true, [0, 1, 2]),
                chunk(2, 4, tokenRun(4, 2), samples: false, [0, 3]),  // 1's first block is already cached
            ])
        scheduler.finish(2)  // mid-prefill, before its chunk is committed: the chunk is ignored
        scheduler.commit(plan, sampled: [1: 77])
        #expect(scheduler.sequence(2) == nil && scheduler.waitingIDs == [3] && scheduler.usedBlockCount == 3)
        scheduler.finish(3)  // waiting
        scheduler.finish(3)  // again: harmless
        scheduler.finish(1)
        #expect(scheduler.usedBlockCount == 0 && scheduler.waitingCount == 0 && scheduler.runningCount == 0)
        #expect(scheduler.cachedBlockCount == 2 && scheduler.freeBlockCount == 6)
        #expect(scheduler.schedule() == StepPlan())
    }
}
