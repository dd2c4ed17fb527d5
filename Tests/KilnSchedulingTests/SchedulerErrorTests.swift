import Testing

import KilnScheduling

@Suite("Scheduler: refusals a person can act on")
struct SchedulerErrorTests {
    @Test("a sequence that could never fit is refused with its sizes in the message")
    func exceedsCapacity() throws {
        var scheduler = try makeScheduler(blockSize: 16, blockCount: 512, policy: .maxUtilization)
        #expect(scheduler.tokenCapacity == 8192)
        let error = #expect(throws: SchedulerError.self) {
            try scheduler.add(id: 1, tokens: Array(repeating: 1, count: 9000), maxNewTokens: 100)
        }
        #expect(error == .exceedsCapacity(1, promptTokens: 9000, maxNewTokens: 100, capacityTokens: 8192))
        #expect(
            error?.description
                == "prompt of 9000 tokens plus max_new_tokens 100 exceeds the KV cache capacity of 8192 tokens; "
                + "shorten the prompt, lower max_new_tokens or give the KV cache more blocks")
        try scheduler.add(id: 1, tokens: Array(repeating: 1, count: 8092), maxNewTokens: 100)  // exactly fits
        #expect(scheduler.waitingCount == 1)
    }

    @Test("duplicate ids, empty prompts and non-positive max_new_tokens are refused and change nothing")
    func invalidSequences() throws {
        var scheduler = try makeScheduler(blockSize: 4, blockCount: 4, policy: .guaranteedNoEvict)
        try scheduler.add(id: 7, tokens: [1], maxNewTokens: 1)
        #expect(throws: SchedulerError.duplicateSequence(7)) { try scheduler.add(id: 7, tokens: [2], maxNewTokens: 1) }
        #expect(throws: SchedulerError.emptyPrompt(8)) { try scheduler.add(id: 8, tokens: [], maxNewTokens: 1) }
        #expect(throws: SchedulerError.invalidMaxNewTokens(9, maxNewTokens: 0)) {
            try scheduler.add(id: 9, tokens: [1], maxNewTokens: 0)
        }
        #expect(scheduler.waitingIDs == [7] && scheduler.sequence(7)?.tokens == [1])
        #expect(
            SchedulerError.duplicateSequence(7).description
                == "sequence 7 is already queued or running; finish it before reusing its id")
        scheduler.finish(7)
        try scheduler.add(id: 7, tokens: [3], maxNewTokens: 1)  // a finished id can be used again
        #expect(scheduler.sequence(7)?.tokens == [3])
    }

    @Test("a configuration with a zero or negative limit is refused by name")
    func invalidConfiguration() {
        let error = #expect(throws: SchedulerError.self) {
            try SchedulerConfig(blockSize: 16, blockCount: 0, maxBatchSize: 8, maxBatchTokens: 512)
        }
        #expect(error == .invalidConfiguration(setting: "block count", value: 0))
        #expect(error?.description == "scheduler block count must be at least 1, got 0")
        #expect(throws: SchedulerError.invalidConfiguration(setting: "max batch tokens", value: -1)) {
            try SchedulerConfig(blockSize: 16, blockCount: 4, maxBatchSize: 8, maxBatchTokens: -1)
        }
    }
}
