import Testing

import KilnScheduling

/// SplitMix64: a small seedable generator, so a failing run can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What the KV cache would hold if the engine wrote every planned chunk: each slot remembers which token
/// prefix its KV was computed from, as a node id in a trie of token sequences. A sequence may only read
/// slots that hold exactly its own prefix, which is what makes prefix sharing and recompute correct.
struct KVOracle {
    private var nodes: [Int: [Int32: Int]] = [:]  // parent node → token → child node; node 0 is empty
    private var nodeCount = 1
    var slots: [Int?]  // [blockCount * blockSize]

    init(slotCount: Int) { slots = Array(repeating: nil, count: slotCount) }

    /// Node id of each prefix `tokens[0...p]`.
    mutating func prefixNodes(_ tokens: [Int32]) -> [Int] {
        var node = 0
        return tokens.map { token in
            if let child = nodes[node]?[token] {
                node = child
            } else {
                nodes[node, default: [:]][token] = nodeCount
                node = nodeCount
                nodeCount += 1
            }
            return node
        }
    }
}

@Suite("Scheduler: invariants under random operations")
struct SchedulerInvariantTests {
    struct Setup: Sendable, CustomTestStringConvertible {
        var policy: CapacityPolicy
        var prefixCaching: Bool
        var blockSize: Int
        var blockCount: Int
        var maxBatchSize: Int
        var maxBatchTokens: Int
        var seed: UInt64
        var maxPrefillTokensWithDecodes: Int? = nil
        var testDescription: String {
            "\(policy), prefix caching \(prefixCaching), \(blockCount)×\(blockSize), batch \(maxBatchSize)/"
                + "\(maxBatchTokens), seed \(seed)"
                + (maxPrefillTokensWithDecodes.map { ", \($0) prompt tokens beside decodes" } ?? "")
        }
    }

    static let setups: [Setup] = [
        Setup(
            policy: .maxUtilization, prefixCaching: true, blockSize: 4, blockCount: 24, maxBatchSize: 6,
            maxBatchTokens: 16, seed: 1),
        Setup(
            policy: .maxUtilization, prefixCaching: false, blockSize: 2, blockCount: 20, maxBatchSize: 8,
            maxBatchTokens: 7, seed: 2),
        Setup(
            policy: .maxUtilization, prefixCaching: true, blockSize: 1, blockCount: 40, maxBatchSize: 5,
            maxBatchTokens: 32, seed: 3),
        Setup(
            policy: .guaranteedNoEvict, prefixCaching: true, blockSize: 4, blockCount: 24, maxBatchSize: 6,
            maxBatchTokens: 16, seed: 4),
        Setup(
            policy: .guaranteedNoEvict, prefixCaching: false, blockSize: 3, blockCount: 16, maxBatchSize: 3,
            maxBatchTokens: 5, seed: 5),
        Setup(
            policy: .guaranteedNoEvict, prefixCaching: true, blockSize: 2, blockCount: 30, maxBatchSize: 8,
            maxBatchTokens: 9, seed: 6),
        Setup(
            policy: .maxUtilization, prefixCaching: true, blockSize: 4, blockCount: 24, maxBatchSize: 6,
            maxBatchTokens: 16, seed: 7, maxPrefillTokensWithDecodes: 3),
        Setup(
            policy: .guaranteedNoEvict, prefixCaching: false, blockSize: 2, blockCount: 30, maxBatchSize: 8,
            maxBatchTokens: 9, seed: 8, maxPrefillTokensWithDecodes: 1),
    ]

    @Test("thousands of random adds, steps, commits and cancellations keep every invariant", arguments: setups)
    func randomOperations(_ setup: Setup) throws {
        var random = SplitMix64(state: setup.seed)
        var scheduler = try makeScheduler(
            blockSize: setup.blockSize, blockCount: setup.blockCount, maxBatchSize: setup.maxBatchSize,
            maxBatchTokens: setup.maxBatchTokens, policy: setup.policy, prefixCaching: setup.prefixCaching,
            maxPrefillTokensWithDecodes: setup.maxPrefillTokensWithDecodes)
        var oracle = KVOracle(slotCount: scheduler.tokenCapacity)
        // A few shared beginnings so that prompts overlap, over a tiny vocabulary so that sampled text does too.
        let beginnings: [[Int32]] = (0..<3).map { _ in (0..<24).map { _ in Int32.random(in: 0..<3, using: &random) } }
        var nextID = 0
        var sampledTokens = 0

        for iteration in 0..<3000 {
            let adding = iteration < 2400 ? Int.random(in: 0...2, using: &random) : 0
            for _ in 0..<adding where Int.random(in: 0..<3, using: &random) == 0 {
                let beginning = beginnings.randomElement(using: &random)!
                let prompt =
                    Array(beginning.prefix(Int.random(in: 0...24, using: &random)))
                    + (0..<Int.random(in: 1...12, using: &random)).map { _ in Int32.random(in: 0..<3, using: &random) }
                let maxNewTokens = Int.random(in: 1...12, using: &random)
                if prompt.count + maxNewTokens > scheduler.tokenCapacity {
                    #expect(throws: SchedulerError.self) {
                        try scheduler.add(id: nextID, tokens: prompt, maxNewTokens: maxNewTokens)
                    }
                } else {
                    try scheduler.add(id: nextID, tokens: prompt, maxNewTokens: maxNewTokens)
                }
                nextID += 1
            }
            if Int.random(in: 0..<50, using: &random) == 0, let live = randomLive(scheduler, &random) {
                #expect(throws: SchedulerError.duplicateSequence(live)) {
                    try scheduler.add(id: live, tokens: [1], maxNewTokens: 1)
                }
            }

            let plan = scheduler.schedule()
            check(plan, of: scheduler, setup: setup, oracle: &oracle)
            var sampled: [SequenceID: Int32] = [:]
            for chunk in plan.chunks where chunk.samples {
                sampled[chunk.sequence] = Int32.random(in: 0..<3, using: &random)
            }
            sampledTokens += sampled.count
            if Int.random(in: 0..<20, using: &random) == 0, let victim = randomLive(scheduler, &random) {
                scheduler.finish(victim)  // cancelled while its chunk is in flight
            }
            scheduler.commit(plan, sampled: sampled)
            for id in scheduler.runningIDs {
                let sequence = scheduler.sequence(id)!
                // Reached max_new_tokens (finished a step late now and then, so that it can be preempted
                // first), or sampled a stop token.
                let limit = sequence.reachedLimit && Int.random(in: 0..<4, using: &random) != 0
                if limit || (sampled[id] != nil && Int.random(in: 0..<15, using: &random) == 0) {
                    scheduler.finish(id)
                }
            }
            if Int.random(in: 0..<10, using: &random) == 0, let victim = randomLive(scheduler, &random) {
                scheduler.finish(victim)  // cancelled, waiting or running
            }
            checkInvariants(scheduler, setup: setup)
        }

        // With no more arrivals, everything left runs to its limit: no sequence is stuck.
        var steps = 0
        while scheduler.runningCount + scheduler.waitingCount > 0, steps < 20_000 {
            let plan = scheduler.schedule()
            check(plan, of: scheduler, setup: setup, oracle: &oracle)
            scheduler.commit(
                plan, sampled: Dictionary(uniqueKeysWithValues: plan.chunks.filter(\.samples).map { ($0.sequence, 1) }))
            for id in scheduler.runningIDs where scheduler.sequence(id)!.reachedLimit { scheduler.finish(id) }
            checkInvariants(scheduler, setup: setup)
            steps += 1
        }
        #expect(scheduler.runningCount + scheduler.waitingCount == 0)
        #expect(scheduler.usedBlockCount == 0)
        #expect(scheduler.freeBlockCount + scheduler.cachedBlockCount == setup.blockCount)

        // The run exercised what it is meant to check.
        #expect(nextID > 500 && sampledTokens > 1000)
        let stats = scheduler.stats
        if setup.prefixCaching {
            #expect(stats.prefixCacheHitTokens > 0 && stats.evictions > 0)
            #expect(stats.prefixCacheHitTokens <= stats.prefixCacheQueryTokens)
        } else {
            #expect(stats.prefixCacheQueryTokens == 0 && stats.evictions == 0 && scheduler.cachedBlockCount == 0)
        }
        if setup.policy == .guaranteedNoEvict {
            #expect(stats.preemptions == 0)
        } else {
            #expect(stats.preemptions > 0)
        }
    }

    func randomLive(_ scheduler: Scheduler, _ random: inout SplitMix64) -> SequenceID? {
        (scheduler.waitingIDs + scheduler.runningIDs).randomElement(using: &random)
    }

    /// The plan against the scheduler's state right after `schedule()`, then the oracle's forward pass.
    func check(_ plan: StepPlan, of scheduler: Scheduler, setup: Setup, oracle: inout KVOracle) {
        let size = setup.blockSize
        #expect(plan.tokenCount == plan.chunks.reduce(0) { $0 + $1.tokens.count })
        #expect(plan.tokenCount <= setup.maxBatchTokens && plan.chunks.count <= setup.maxBatchSize)
        #expect(Set(plan.chunks.map(\.sequence)).count == plan.chunks.count)
        if setup.policy == .guaranteedNoEvict { #expect(plan.preempted.isEmpty) }
        if let cap = setup.maxPrefillTokensWithDecodes {
            // A decode: the one pending token, after the prompt. Beside one, the prompt chunks stay within the cap.
            let isDecode = { (c: StepPlan.Chunk) in
                c.samples && c.tokens.count == 1
                    && c.start >= (scheduler.sequence(c.sequence)?.promptCount ?? Int.max)
            }
            if plan.chunks.contains(where: isDecode) {
                #expect(plan.chunks.filter { !isDecode($0) }.reduce(0) { $0 + $1.tokens.count } <= cap)
            }
        }
        for id in plan.preempted {
            let sequence = scheduler.sequence(id)
            #expect(sequence?.status == .waiting && sequence?.blockTable == [] && sequence?.computedCount == 0)
            #expect(!plan.chunks.contains { $0.sequence == id })
        }
        for chunk in plan.chunks {
            guard let sequence = scheduler.sequence(chunk.sequence) else {
                Issue.record("chunk for unknown sequence \(chunk.sequence)")
                continue
            }
            let end = chunk.start + chunk.tokens.count
            #expect(sequence.status == .running && chunk.start == sequence.computedCount && !chunk.tokens.isEmpty)
            #expect(!sequence.reachedLimit, "sequence \(chunk.sequence) would sample past max_new_tokens")
            #expect(chunk.tokens == Array(sequence.tokens[chunk.start..<end]))
            #expect(chunk.samples == (end == sequence.tokens.count))
            #expect(chunk.blockTable.count == (end + size - 1) / size)
            #expect(chunk.blockTable == Array(sequence.blockTable.prefix(chunk.blockTable.count)))
            let prefixes = oracle.prefixNodes(sequence.tokens)
            for position in 0..<end {
                let slot = chunk.blockTable[position / size] * size + position % size
                if position < chunk.start {
                    #expect(oracle.slots[slot] == prefixes[position], "sequence \(chunk.sequence) reads stale KV")
                } else {
                    #expect(scheduler.blockManager.referenceCount(chunk.blockTable[position / size]) == 1)
                    oracle.slots[slot] = prefixes[position]
                }
            }
        }
    }

    func checkInvariants(_ scheduler: Scheduler, setup: Setup) {
        let manager = scheduler.blockManager
        let size = setup.blockSize
        var references = Array(repeating: 0, count: setup.blockCount)
        var holder: [Int: (sequence: SequenceID, index: Int)] = [:]
        for id in scheduler.runningIDs {
            let sequence = scheduler.sequence(id)!
            #expect(sequence.status == .running && sequence.computedCount <= sequence.tokens.count)
            #expect(sequence.blockTable.count >= (sequence.computedCount + size - 1) / size)
            #expect(sequence.blockTable.count <= scheduler.finalBlocks(sequence))
            #expect(Set(sequence.blockTable).count == sequence.blockTable.count)
            for (index, block) in sequence.blockTable.enumerated() {
                references[block] += 1
                if let other = holder[block] {
                    // Only a cached, full, computed prefix block is shared, at the same place in both tables.
                    #expect(manager.isCached(block) && other.index == index)
                    #expect((index + 1) * size <= sequence.computedCount)
                    #expect((index + 1) * size <= scheduler.sequence(other.sequence)!.computedCount)
                } else {
                    holder[block] = (id, index)
                }
            }
        }
        for id in scheduler.waitingIDs {
            let sequence = scheduler.sequence(id)!
            #expect(sequence.status == .waiting && sequence.blockTable.isEmpty && sequence.computedCount == 0)
        }
        #expect(Set(scheduler.waitingIDs).isDisjoint(with: scheduler.runningIDs))
        #expect(scheduler.waitingCount + scheduler.runningCount == scheduler.sequences.count)
        #expect(scheduler.runningCount <= setup.maxBatchSize)

        #expect((0..<setup.blockCount).map(manager.referenceCount) == references)
        let unreferenced = (0..<setup.blockCount).filter { references[$0] == 0 }
        #expect(scheduler.usedBlockCount == setup.blockCount - unreferenced.count)
        #expect(scheduler.cachedBlockCount == unreferenced.filter(manager.isCached).count)
        #expect(scheduler.freeBlockCount == unreferenced.filter { !manager.isCached($0) }.count)
        #expect(Set(manager.evictionOrder) == Set(unreferenced.filter(manager.isCached)))

        if setup.policy == .guaranteedNoEvict {
            let reserved = scheduler.runningIDs.reduce(0) {
                let sequence = scheduler.sequence($1)!
                return $0 + scheduler.finalBlocks(sequence) - sequence.blockTable.count
            }
            #expect(manager.availableCount >= reserved, "a running sequence could run out of blocks")
        }
    }
}
