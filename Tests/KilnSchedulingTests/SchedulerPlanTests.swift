import Testing

import KilnScheduling

@Suite("Scheduler: plans for scripted arrivals")
struct SchedulerPlanTests {
    @Test("a long prompt is chunked under the token budget, then decodes one token a step")
    func chunkedPrompt() throws {
        var scheduler = try makeScheduler(blockSize: 4, blockCount: 16, maxBatchTokens: 8, policy: .guaranteedNoEvict)
        try scheduler.add(id: 1, tokens: tokenRun(0, 20), maxNewTokens: 4)

        var plan = scheduler.schedule()
        #expect(plan == StepPlan(chunks: [chunk(1, 0, tokenRun(0, 8), samples: false, [0, 1])]))
        #expect(plan.tokenCount == 8)
        scheduler.commit(plan, sampled: [:])

        plan = scheduler.schedule()
        #expect(plan.chunks == [chunk(1, 8, tokenRun(8, 8), samples: false, [0, 1, 2, 3])])
        scheduler.commit(plan, sampled: [:])

        plan = scheduler.schedule()
        #expect(plan.chunks == [chunk(1, 16, tokenRun(16, 4), samples: true, [0, 1, 2, 3, 4])])
        #expect(plan.tokenCount == 4)
        scheduler.commit(plan, sampled: [1: 100])
        #expect(scheduler.sequence(1)?.tokens == tokenRun(0, 20) + [100])
        #expect(scheduler.sequence(1)?.computedCount == 20)

        plan = scheduler.schedule()
        #expect(plan.chunks == [chunk(1, 20, [100], samples: true, [0, 1, 2, 3, 4, 5])])
        scheduler.commit(plan, sampled: [1: 101])
        #expect(scheduler.blockTable(1) == [0, 1, 2, 3, 4, 5])
        #expect(scheduler.usedBlockCount == 6)
    }

    @Test("decodes and a new prompt's chunks share one step, decodes first")
    func mixedStep() throws {
        var scheduler = try makeScheduler(blockSize: 4, blockCount: 16, maxBatchTokens: 8, policy: .guaranteedNoEvict)
        try scheduler.add(id: 1, tokens: [7, 8, 9], maxNewTokens: 8)
        var plan = scheduler.schedule()
        #expect(plan.chunks == [chunk(1, 0, [7, 8, 9], samples: true, [0])])
        scheduler.commit(plan, sampled: [1: 50])

        try scheduler.add(id: 2, tokens: tokenRun(100, 10), maxNewTokens: 2)
        plan = scheduler.schedule()
        #expect(
            plan.chunks == [
                chunk(1, 3, [50], samples: true, [0]),
                chunk(2, 0, tokenRun(100, 7), samples: false, [1, 2]),
            ])
        #expect(plan.tokenCount == 8)
        scheduler.commit(plan, sampled: [1: 51])

        plan = scheduler.schedule()
        #expect(
            plan.chunks == [
                chunk(1, 4, [51], samples: true, [0, 3]),
                chunk(2, 7, tokenRun(107, 3), samples: true, [1, 2, 4]),
            ])
        scheduler.commit(plan, sampled: [1: 52, 2: 60])
        #expect(scheduler.sequence(2)?.tokens.last == 60)
        #expect(scheduler.sequence(1)?.tokens == [7, 8, 9, 50, 51, 52])
    }

    @Test("no more than maxBatchSize sequences run; the next is admitted when one finishes")
    func batchSizeLimit() throws {
        var scheduler = try makeScheduler(blockSize: 4, blockCount: 16, maxBatchSize: 2, policy: .guaranteedNoEvict)
        for id in 1...3 { try scheduler.add(id: id, tokens: [Int32(id), 0], maxNewTokens: 4) }
        var plan = scheduler.schedule()
        #expect(
            plan.chunks == [
                chunk(1, 0, [1, 0], samples: true, [0]),
                chunk(2, 0, [2, 0], samples: true, [1]),
            ])
        #expect(scheduler.runningIDs == [1, 2] && scheduler.waitingIDs == [3])
        scheduler.commit(plan, sampled: [1: 10, 2: 20])

        scheduler.finish(1)
        plan = scheduler.schedule()
        #expect(
            plan.chunks == [
                chunk(2, 2, [20], samples: true, [1]),
                chunk(3, 0, [3, 0], samples: true, [0]),
            ])
        #expect(scheduler.runningIDs == [2, 3] && scheduler.waitingCount == 0)
    }

    @Test("the front of the queue blocks the sequences behind it, even ones that would fit")
    func fifoBlocking() throws {
        var scheduler = try makeScheduler(blockSize: 4, blockCount: 4, policy: .maxUtilization)
        try scheduler.add(id: 1, tokens: tokenRun(0, 8), maxNewTokens: 4)
        try scheduler.add(id: 2, tokens: tokenRun(20, 12), maxNewTokens: 4)  // 3 blocks, 2 left
        try scheduler.add(id: 3, tokens: [5], maxNewTokens: 1)  // 1 block would fit
        var plan = scheduler.schedule()
        #expect(plan.chunks == [chunk(1, 0, tokenRun(0, 8), samples: true, [0, 1])])
        #expect(scheduler.waitingIDs == [2, 3])
        scheduler.commit(plan, sampled: [1: 9])

        plan = scheduler.schedule()
        #expect(plan.chunks == [chunk(1, 8, [9], samples: true, [0, 1, 2])])
        #expect(scheduler.waitingIDs == [2, 3])
        scheduler.commit(plan, sampled: [1: 10])

        scheduler.finish(1)
        plan = scheduler.schedule()
        #expect(
            plan.chunks == [
                chunk(2, 0, tokenRun(20, 12), samples: true, [0, 1, 2]),
                chunk(3, 0, [5], samples: true, [3]),
            ])
    }

    @Test("a sequence that reached maxNewTokens is not scheduled again")
    func stopsAtLimit() throws {
        var scheduler = try makeScheduler(blockSize: 4, blockCount: 4, policy: .guaranteedNoEvict)
        try scheduler.add(id: 1, tokens: [1, 2], maxNewTokens: 2)
        var plan = scheduler.schedule()
        scheduler.commit(plan, sampled: [1: 3])
        plan = scheduler.schedule()
        #expect(plan.chunks == [chunk(1, 2, [3], samples: true, [0])])
        scheduler.commit(plan, sampled: [1: 4])
        #expect(scheduler.sequence(1)?.reachedLimit == true)
        #expect(scheduler.schedule() == StepPlan())
        scheduler.finish(1)
        #expect(scheduler.usedBlockCount == 0 && scheduler.runningCount == 0)
    }
}
