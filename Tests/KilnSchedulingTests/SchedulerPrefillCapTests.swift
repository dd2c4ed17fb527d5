import Testing

import KilnScheduling

/// `maxPrefillTokensWithDecodes`: prompt chunks beside running decodes share a smaller budget. Each expected plan
/// follows from the rule by hand: decodes first within the step budget, then prompt chunks up to the cap.
@Suite("Scheduler: prompt tokens beside decodes")
struct SchedulerPrefillCapTests {
    @Test("beside a decode, a new prompt is cut into chunks of the cap, one per step")
    func promptSpreadBesideDecode() throws {
        var scheduler = try makeScheduler(
            blockSize: 4, blockCount: 16, maxBatchTokens: 8, policy: .guaranteedNoEvict, maxPrefillTokensWithDecodes: 3)
        try scheduler.add(id: 1, tokens: [7, 8, 9], maxNewTokens: 8)
        var plan = scheduler.schedule()
        #expect(plan.chunks == [chunk(1, 0, [7, 8, 9], samples: true, [0])])
        scheduler.commit(plan, sampled: [1: 50])

        // Without the cap this step would take 7 of the prompt's 10 tokens (SchedulerPlanTests.mixedStep).
        try scheduler.add(id: 2, tokens: tokenRun(100, 10), maxNewTokens: 2)
        plan = scheduler.schedule()
        #expect(
            plan.chunks == [
                chunk(1, 3, [50], samples: true, [0]),
                chunk(2, 0, tokenRun(100, 3), samples: false, [1]),
            ])
        #expect(plan.tokenCount == 4)
        scheduler.commit(plan, sampled: [1: 51])

        // A running prompt is capped as an admission is.
        plan = scheduler.schedule()
        #expect(
            plan.chunks == [
                chunk(1, 4, [51], samples: true, [0, 2]),
                chunk(2, 3, tokenRun(103, 3), samples: false, [1, 3]),
            ])
        scheduler.commit(plan, sampled: [1: 52])

        plan = scheduler.schedule()
        #expect(
            plan.chunks == [
                chunk(1, 5, [52], samples: true, [0, 2]),
                chunk(2, 6, tokenRun(106, 3), samples: false, [1, 3, 4]),
            ])
        scheduler.commit(plan, sampled: [1: 53])

        plan = scheduler.schedule()
        #expect(
            plan.chunks == [
                chunk(1, 6, [53], samples: true, [0, 2]),
                chunk(2, 9, [109], samples: true, [1, 3, 4]),
            ])
        scheduler.commit(plan, sampled: [1: 54, 2: 60])
        #expect(scheduler.sequence(2)?.tokens == tokenRun(100, 10) + [60])
    }

    @Test("with no sequence decoding the whole step budget goes to prompts; decodes then cap the next admission")
    func noDecodesNoCap() throws {
        var scheduler = try makeScheduler(
            blockSize: 4, blockCount: 16, maxBatchTokens: 8, policy: .maxUtilization, maxPrefillTokensWithDecodes: 3)
        try scheduler.add(id: 1, tokens: tokenRun(0, 5), maxNewTokens: 4)
        try scheduler.add(id: 2, tokens: tokenRun(10, 3), maxNewTokens: 4)
        var plan = scheduler.schedule()
        #expect(
            plan.chunks == [
                chunk(1, 0, tokenRun(0, 5), samples: true, [0, 1]),
                chunk(2, 0, tokenRun(10, 3), samples: true, [2]),
            ])
        #expect(plan.tokenCount == 8)
        scheduler.commit(plan, sampled: [1: 40, 2: 41])

        try scheduler.add(id: 3, tokens: tokenRun(20, 6), maxNewTokens: 4)
        plan = scheduler.schedule()
        #expect(
            plan.chunks == [
                chunk(1, 5, [40], samples: true, [0, 1]),
                chunk(2, 3, [41], samples: true, [2]),
                chunk(3, 0, tokenRun(20, 3), samples: false, [3]),
            ])
    }

    @Test("a decode behind an older, unfinished prompt keeps its token: the prompt takes what decodes leave")
    func decodeBehindOlderPrompt() throws {
        // Parent 1's prompt is computed once and forked as 3 (the engine's shared-prompt pattern), while the older
        // sequence 2 is still in its prompt. A step budget of 4 with the cap at 4: only holding back the decode's
        // token keeps sequence 2 from taking all four.
        func run(cap: Int?) throws -> StepPlan {
            var scheduler = try makeScheduler(
                blockSize: 4, blockCount: 16, maxBatchTokens: 4, policy: .maxUtilization,
                maxPrefillTokensWithDecodes: cap)
            try scheduler.add(id: 1, tokens: [1, 2], maxNewTokens: 4)
            try scheduler.add(id: 2, tokens: tokenRun(100, 10), maxNewTokens: 4)
            let first = scheduler.schedule()
            #expect(
                first.chunks == [
                    chunk(1, 0, [1, 2], samples: true, [0]),
                    chunk(2, 0, tokenRun(100, 2), samples: false, [1]),
                ])
            scheduler.commit(first, sampled: [:])
            try scheduler.fork(1, as: 3, token: 50, maxNewTokens: 4)
            scheduler.finish(1)
            #expect(scheduler.runningIDs == [2, 3])
            return scheduler.schedule()
        }
        #expect(
            try run(cap: 4).chunks == [
                chunk(2, 2, tokenRun(102, 3), samples: false, [1, 2]),
                chunk(3, 2, [50], samples: true, [0]),
            ])
        // Without the cap the older prompt takes the whole budget and the decode waits a step.
        #expect(try run(cap: nil).chunks == [chunk(2, 2, tokenRun(102, 4), samples: false, [1, 2])])
    }

    @Test("a cap below one token is refused")
    func invalidCap() {
        #expect(throws: SchedulerError.invalidConfiguration(setting: "max prefill tokens with decodes", value: 0)) {
            try SchedulerConfig(
                blockSize: 4, blockCount: 8, maxBatchSize: 2, maxBatchTokens: 8, maxPrefillTokensWithDecodes: 0)
        }
    }
}
