import Foundation
import KilnModels
import Testing

/// The tensor-parallel forward pass without MPI: two ranks as two threads of this process, joined by an in-process
/// transport, against the whole model. Runs in every build (the MPI jobs themselves are in KilnCLITests).
@Suite(.serialized) struct TensorParallelTests {
    /// Ranks meeting at each collective in turn: the last to arrive combines the deposited buffers.
    final class LocalGroup: @unchecked Sendable {
        let size: Int
        private let condition = NSCondition()
        private var arrived = 0
        private var generation = 0
        private var floats: [UnsafeMutablePointer<Float>?]
        private var words: [Int64] = []

        init(size: Int) {
            self.size = size
            floats = Array(repeating: nil, count: size)
        }

        func allReduce(rank: Int, _ x: UnsafeMutablePointer<Float>, count: Int) {
            condition.lock()
            defer { condition.unlock() }
            floats[rank] = x
            meet({
                var sum = [Float](repeating: 0, count: count)
                for r in 0..<size { for i in 0..<count { sum[i] += floats[r]![i] } }
                for r in 0..<size { floats[r]!.update(from: sum, count: count) }
            }, read: {})
        }

        func broadcast(rank: Int, _ w: inout [Int64]) {
            condition.lock()
            defer { condition.unlock() }
            if rank == 0 { words = w }
            var received: [Int64] = []
            meet({}, read: { received = words })
            if rank != 0 { w = received }
        }

        /// Called with the lock held: the last rank runs `combine` and wakes the others; each rank then runs `read`,
        /// and none leaves before all have read.
        private func meet(_ combine: () -> Void, read: () -> Void) {
            let mine = generation
            arrived += 1
            if arrived == size {
                combine()
                arrived = 0
                generation += 1
                condition.broadcast()
            } else {
                while generation == mine { condition.wait() }
            }
            read()
            // Everyone must have read the result before the next collective overwrites it.
            let after = generation
            arrived += 1
            if arrived == size {
                arrived = 0
                generation += 1
                condition.broadcast()
            } else {
                while generation == after { condition.wait() }
            }
        }
    }

    final class LocalTransport: ShardTransport, @unchecked Sendable {
        let group: LocalGroup
        let rank: Int
        var size: Int { group.size }
        init(_ group: LocalGroup, rank: Int) {
            self.group = group
            self.rank = rank
        }
        func allReduceSum(_ x: UnsafeMutablePointer<Float>, count: Int) throws { group.allReduce(rank: rank, x, count: count) }
        func broadcast(_ words: inout [Int64], idle: Bool) throws { group.broadcast(rank: rank, &words) }
    }

    static func greedy(_ t: Transformer, _ ids: [Int32], count: Int) throws -> [Int32] {
        let cache = t.makeCache(capacity: ids.count + count)
        var logits = try t.forward(ids, cache: cache)
        var out: [Int32] = []
        for _ in 0..<count {
            let best = Int32(logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!)
            out.append(best)
            logits = try t.forward([best], cache: cache)
        }
        return out
    }

    /// With float32 activations the shards differ from the whole model only in the order the partial sums are
    /// added: greedy tokens must be identical. SmolLM2's 3 KV heads split 2 + 1 (uneven); `keepWhole` runs the
    /// gather fallback for slices that would cut quantization blocks.
    @Test(arguments: [false, true]) func greedyEqualsWholeModel(keepWhole: Bool) throws {
        guard let path = modelPath("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else { return }
        let golden = try ModelGolden.load("smollm2")
        let prompts = golden.prompts.filter { $0.ids.count <= 120 }
        let whole = try ModelLoader.transformer(ModelLoader.open(path), threads: 1)
        whole.precision = .reference
        let expected = try prompts.map { try Self.greedy(whole, $0.ids, count: 12) }

        let group = LocalGroup(size: 2)
        let shards = try (0..<2).map {
            try whole.tensorParallelShard(transport: LocalTransport(group, rank: $0), threads: 1, keepWhole: keepWhole)
        }
        #expect(shards[0].config.kvHeadCount == 2 && shards[1].config.kvHeadCount == 1)
        #expect(shards[0].config.ffnSize + shards[1].config.ffnSize == whole.config.ffnSize)
        let worker = Thread { try? shards[1].serveShard() }
        worker.start()
        defer { shards[0].stopShards() }
        for (prompt, want) in zip(prompts, expected) {
            let got = try Self.greedy(shards[0], prompt.ids, count: 12)
            #expect(got == want, "\(prompt.name): TP=2 \(got) vs whole \(want)")
        }
    }
}
