import Foundation
import KilnModels
import Testing

/// The pipeline-parallel forward pass without MPI: stages as threads of this process, joined by an in-process
/// transport, against the whole model. A stage split changes no arithmetic (every layer runs whole, on the same
/// rows, and the fast path is batch-invariant, so cutting a step into micro-batches changes nothing either): logits
/// must be bit-identical, not merely close. The MPI jobs themselves are in KilnCLITests.
@Suite(.serialized) struct PipelineParallelTests {
    /// TensorParallelTests' collectives plus mailboxes for point-to-point messages (a send never waits).
    final class LocalStages: StageTransport, @unchecked Sendable {
        final class Mail: @unchecked Sendable {
            let condition = NSCondition()
            var boxes: [Int: [Data]] = [:]
        }
        let group: TensorParallelTests.LocalGroup
        let mail: Mail
        let rank: Int
        var size: Int { group.size }
        /// Bytes this rank sent.
        var sent = 0

        init(_ group: TensorParallelTests.LocalGroup, _ mail: Mail, rank: Int) {
            self.group = group
            self.mail = mail
            self.rank = rank
        }
        func allReduceSum(_ x: UnsafeMutablePointer<Float>, count: Int) throws { group.allReduce(rank: rank, x, count: count) }
        func broadcast(_ words: inout [Int64], idle: Bool) throws { group.broadcast(rank: rank, &words) }
        func send(_ bytes: UnsafeRawBufferPointer, to peer: Int) throws {
            sent += bytes.count
            mail.condition.lock()
            mail.boxes[rank * 1000 + peer, default: []].append(Data(bytes))
            mail.condition.broadcast()
            mail.condition.unlock()
        }
        func receive(_ bytes: UnsafeMutableRawBufferPointer, from peer: Int) throws {
            mail.condition.lock()
            defer { mail.condition.unlock() }
            let key = peer * 1000 + rank
            while mail.boxes[key, default: []].isEmpty { mail.condition.wait() }
            let data = mail.boxes[key]!.removeFirst()
            guard data.count == bytes.count else { throw ModelError("test", "expected \(bytes.count) bytes, got \(data.count)") }
            data.copyBytes(to: bytes)
        }
    }

    /// `stages` stages of `whole`, the workers serving on their own threads; `body` runs on stage 0.
    static func withStages(
        _ whole: Transformer, stages: Int, microBatches: Int?, _ body: (Transformer, [LocalStages]) throws -> Void
    ) throws {
        let group = TensorParallelTests.LocalGroup(size: stages)
        let mail = LocalStages.Mail()
        let transports = (0..<stages).map { LocalStages(group, mail, rank: $0) }
        let parts = try transports.map { try whole.pipelineStage(transport: $0, threads: 1, microBatches: microBatches) }
        for part in parts.dropFirst() { Thread { try? part.serveShard() }.start() }
        defer { parts[0].stopShards() }
        try body(parts[0], transports)
    }

    /// Every layer on exactly one stage, contiguous and in order; embeddings first, output head last.
    @Test func layoutCoversEveryLayerOnce() throws {
        for (layers, stages) in [(30, 2), (30, 4), (24, 3), (5, 5), (7, 3)] {
            let parts = try (0..<stages).map { try StageLayout(stage: $0, stages: stages, layerCount: layers) }
            #expect(parts.map(\.layers.lowerBound) == [0] + parts.dropLast().map(\.layers.upperBound))
            #expect(parts.last!.layers.upperBound == layers)
            #expect(parts.allSatisfy { $0.layers.count >= layers / stages && $0.layers.count <= layers / stages + 1 })
            #expect(parts.filter(\.isFirst).count == 1 && parts[0].isFirst && parts.last!.isLast)
        }
        #expect(throws: ModelError.self) { _ = try StageLayout(stage: 0, stages: 4, layerCount: 3) }
    }

    /// Greedy tokens of PP=2 and PP=3 (uneven: 30 layers as 10 + 10 + 10 and 15 + 15; micro-batches of the
    /// prompt's rows) equal the whole model's, and every stage's logits are those of the whole model bit for bit.
    @Test(arguments: [(2, nil), (3, nil), (2, 5)] as [(Int, Int?)])
    func greedyEqualsWholeModel(stages: Int, microBatches: Int?) throws {
        guard let path = modelPath("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else { return }
        let golden = try ModelGolden.load("smollm2")
        let prompts = golden.prompts.filter { $0.ids.count <= 120 }
        let whole = try ModelLoader.transformer(ModelLoader.open(path), threads: 1)
        let expected = try prompts.map { try TensorParallelTests.greedy(whole, $0.ids, count: 12) }
        let prefill = try whole.forward(prompts[0].ids, cache: whole.makeCache(capacity: 256), logits: .all)
        try Self.withStages(whole, stages: stages, microBatches: microBatches) { first, transports in
            #expect(first.config.layerCount == whole.config.layerCount / stages + (whole.config.layerCount % stages > 0 ? 1 : 0))
            for (prompt, want) in zip(prompts, expected) {
                let got = try TensorParallelTests.greedy(first, prompt.ids, count: 12)
                #expect(got == want, "\(prompt.name): PP=\(stages) \(got) vs whole \(want)")
            }
            // Logits of every prefill row: bit-identical.
            let pp = try first.forward(prompts[0].ids, cache: first.makeCache(capacity: 256), logits: .all)
            #expect(pp == prefill, "PP=\(stages): prefill logits differ from the whole model's")
            #expect(transports[0].sent > 0, "stage 0 sent no activations")
            // A decode step: the last stage returns the one row's final hidden state (hidden size floats), not its
            // logits; rank 0 applies the head.
            let cache = first.makeCache(capacity: 16)
            _ = try first.forward([1, 2, 3], cache: cache)
            let before = transports.last!.sent
            _ = try first.forward([4], cache: cache)
            #expect(transports.last!.sent - before == whole.config.hiddenSize * 4)
        }
    }

    /// TP=2 × PP=2 on four threads: each stage's layers split over two shards (SmolLM2's 3 KV heads 2 + 1), shard s
    /// of stage 0 passing its activations to shard s of stage 1. With float32 activations only the all-reduce's order
    /// differs from one process (as for TP alone): greedy tokens equal.
    @Test func tensorTimesPipelineEqualsWholeModel() throws {
        guard let path = modelPath("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else { return }
        let prompts = try ModelGolden.load("smollm2").prompts.filter { $0.ids.count <= 60 }
        let whole = try ModelLoader.transformer(ModelLoader.open(path), threads: 1)
        whole.precision = .reference
        let expected = try prompts.map { try TensorParallelTests.greedy(whole, $0.ids, count: 8) }
        let world = TensorParallelTests.LocalGroup(size: 4)
        let mail = LocalStages.Mail()
        let stageGroups = (0..<2).map { _ in TensorParallelTests.LocalGroup(size: 2) }
        let parts = try (0..<4).map { rank in
            try whole.pipelineStage(
                transport: LocalStages(world, mail, rank: rank), threads: 1,
                tensorParallel: TensorParallelTests.LocalTransport(stageGroups[rank / 2], rank: rank % 2))
        }
        #expect(parts.map { $0.stageLayout?.stage } == [0, 0, 1, 1])
        #expect(parts.map { $0.shardLayout?.kvHeads.count } == [2, 1, 2, 1])
        // Every derived part (a stage, then a shard of it) computes as the whole model was set to.
        #expect(parts.allSatisfy { $0.settings == whole.settings && $0.precision == .reference })
        for part in parts.dropFirst() { Thread { try? part.serveShard() }.start() }
        defer { parts[0].stopShards() }
        for (prompt, want) in zip(prompts, expected) {
            let got = try TensorParallelTests.greedy(parts[0], prompt.ids, count: 8)
            #expect(got == want, "\(prompt.name): TP=2×PP=2 \(got) vs whole \(want)")
        }
    }

    /// A ragged step (two prefill chunks beside a decode row, in scattered cache blocks), cut into micro-batches:
    /// logits equal to the whole model's on the same step, bit for bit.
    @Test func raggedBatchEqualsWholeModel() throws {
        guard let path = modelPath("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else { return }
        let whole = try ModelLoader.transformer(ModelLoader.open(path), threads: 1)
        let vocab = Int32(whole.config.vocabularySize)
        let a: [Int32] = (0..<37).map { ($0 * 7919 + 11) % vocab }
        let b: [Int32] = (0..<21).map { ($0 * 104_729 + 5) % vocab }
        func steps(_ t: Transformer) throws -> [[Float]] {
            let cache = t.makePagedCache(blockCount: 16, blockSize: 16)
            let first = try t.forward(
                batch: [
                    BatchChunk(start: 0, tokens: Array(a[..<30]), blockTable: [5, 2], logitRows: [29]),
                    BatchChunk(start: 0, tokens: b, blockTable: [9, 0], logitRows: [0, 20]),
                ], cache: cache)
            let second = try t.forward(
                batch: [
                    BatchChunk(start: 30, tokens: Array(a[30...]), blockTable: [5, 2, 7], logitRows: [0, 6]),
                    BatchChunk(start: 21, tokens: [42], blockTable: [9, 0], logitRows: [0]),
                ], cache: cache)
            return [first, second]
        }
        let want = try steps(whole)
        for stages in [2, 3] {
            try Self.withStages(whole, stages: stages, microBatches: 4) { first, _ in
                let got = try steps(first)
                #expect(got == want, "PP=\(stages): ragged batch logits differ from the whole model's")
            }
        }
    }
}
