import KilnScheduling

func makeScheduler(
    blockSize: Int, blockCount: Int, maxBatchSize: Int = 8, maxBatchTokens: Int = 64,
    policy: CapacityPolicy, prefixCaching: Bool = false, maxPrefillTokensWithDecodes: Int? = nil
) throws -> Scheduler {
    Scheduler(
        try SchedulerConfig(
            blockSize: blockSize, blockCount: blockCount, maxBatchSize: maxBatchSize,
            maxBatchTokens: maxBatchTokens, policy: policy, prefixCaching: prefixCaching,
            maxPrefillTokensWithDecodes: maxPrefillTokensWithDecodes))
}

/// Token ids `start ..< start + count`.
func tokenRun(_ start: Int, _ count: Int) -> [Int32] { (start..<start + count).map { Int32($0) } }

typealias Chunk = StepPlan.Chunk

func chunk(_ id: SequenceID, _ start: Int, _ tokens: [Int32], samples: Bool, _ blockTable: [Int]) -> Chunk {
    Chunk(sequence: id, start: start, tokens: tokens, samples: samples, blockTable: blockTable)
}
