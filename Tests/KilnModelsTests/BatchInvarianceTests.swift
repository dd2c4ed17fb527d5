import KilnKernels
import KilnModels
import KilnSampling
import Testing

/// The fast path is batch-invariant: a sequence's logits are bit-identical however its tokens reach the model —
/// one at a time (decode), in one prefill chunk, in chunks of 3 or 5, or in ragged batches beside other sequences
/// whose positions live in shuffled cache blocks — and whatever the thread count. The oracle is the same model
/// run token by token on one thread; any reduction whose order depends on the batch (a matvec and a tiled GEMM
/// summing in different orders, an attention kernel chosen by batch shape, work split across the reduction
/// dimension) shows up as a mismatch in the last bits.
@Suite(.serialized) struct BatchInvarianceTests {
    static let checkpoints = [
        "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "gemma3/gemma-3-270m-q4_k_m.gguf",
    ]
    static let length = 20

    /// Deterministic token ids spread over the vocabulary.
    static func tokens(_ count: Int, vocab: Int, seed: UInt64) -> [Int32] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in Int32(truncatingIfNeeded: rng.next() % UInt64(vocab)) }
    }

    /// Every checkpoint with the fast path's default (half-precision) KV cache, and SmolLM2 with the other formats.
    static let cases: [(String, KVCacheDType?)] =
        checkpoints.map { ($0, nil) } + [(checkpoints[0], .bf16), (checkpoints[0], .f32)]

    @Test(arguments: cases)
    func logitsDoNotDependOnBatchChunkingOrThreads(path relative: String, kv: KVCacheDType?) throws {
        guard let path = modelPath(relative) else { return }
        let file = try ModelLoader.open(path)
        let one = try ModelLoader.transformer(file, threads: 1)
        let two = try ModelLoader.transformer(file, threads: 2)
        for model in [one, two] {
            model.precision = .fast
            model.kvCacheDType = kv
        }
        let vocab = one.config.vocabularySize
        let prompt = Self.tokens(Self.length, vocab: vocab, seed: 7)

        // Oracle: token by token, one thread.
        let expected = try Self.chunked(one, prompt, sizes: [1])
        for (name, model) in [("1 thread", one), ("2 threads", two)] {
            for sizes in [[1], [Self.length], [3], [5]] where !(model === one && sizes == [1]) {
                let got = try Self.chunked(model, prompt, sizes: sizes)
                #expect(Self.firstMismatch(got, expected, vocab: vocab) == nil, "\(relative) \(kv?.rawValue ?? "default") KV, \(name), chunks \(sizes): row \(Self.firstMismatch(got, expected, vocab: vocab) ?? -1) differs")
            }
            let batched = try Self.ragged(model, prompt)
            #expect(Self.firstMismatch(batched, expected, vocab: vocab) == nil, "\(relative) \(kv?.rawValue ?? "default") KV, \(name), ragged batch: row \(Self.firstMismatch(batched, expected, vocab: vocab) ?? -1) differs")
        }
    }

    /// Logits of every position, feeding the prompt in chunks of `sizes` (cycled) through a one-sequence cache.
    static func chunked(_ model: Transformer, _ prompt: [Int32], sizes: [Int]) throws -> [Float] {
        let cache = model.makeCache(capacity: prompt.count)
        var out: [Float] = []
        var start = 0
        var i = 0
        while start < prompt.count {
            let end = min(prompt.count, start + sizes[i % sizes.count])
            out += try model.forward(Array(prompt[start..<end]), cache: cache, logits: .all)
            start = end
            i += 1
        }
        return out
    }

    /// The prompt's logits when it shares steps with three other sequences in a paged cache of 4-position blocks
    /// (block tables shuffled): each step mixes prefill chunks and single decode tokens (one step only decodes), with
    /// the sequence of interest at a different place in the batch each time.
    static func ragged(_ model: Transformer, _ prompt: [Int32]) throws -> [Float] {
        let vocab = model.config.vocabularySize
        let blockSize = 4
        let others = (1...3).map { tokens(Self.length + 6, vocab: vocab, seed: UInt64(100 + $0)) }
        let blocksPer = (Self.length + 6 + blockSize - 1) / blockSize
        var rng = SplitMix64(seed: 3)
        var free = Array(0..<(4 * blocksPer))
        for i in stride(from: free.count - 1, to: 0, by: -1) { free.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let tables = (0..<4).map { Array(free[($0 * blocksPer)..<(($0 + 1) * blocksPer)]) }
        let cache = model.makePagedCache(blockCount: free.count, blockSize: blockSize)
        let sequences = [prompt] + others
        var done = [0, 0, 0, 0]
        // (sequence, tokens) per step; sequence 0 is the one whose logits are kept.
        let steps: [[(Int, Int)]] = [
            [(1, 9), (0, 6), (2, 1)],
            [(0, 1), (1, 1), (2, 5), (3, 3)],
            [(3, 1), (2, 1), (1, 1), (0, 8)],
            [(1, 7), (0, 1)],
            // Only decodes, one row per sequence: a server's steady state.
            [(1, 1), (0, 1), (2, 1), (3, 1)],
            [(2, 1), (3, 12), (0, 3)],
        ]
        var out: [Float] = []
        for step in steps {
            var batch: [BatchChunk] = []
            for (s, n) in step {
                let chunk = Array(sequences[s][done[s]..<(done[s] + n)])
                batch.append(BatchChunk(start: done[s], tokens: chunk, blockTable: tables[s], logitRows: Array(0..<n)))
            }
            let logits = try model.forward(batch: batch, cache: cache)
            var row = 0
            for (s, n) in step {
                if s == 0 { out += logits[(row * vocab)..<((row + n) * vocab)] }
                row += n
                done[s] += n
            }
        }
        #expect(done[0] == prompt.count)
        return out
    }

    /// The first position whose logits differ in any bit, or nil.
    static func firstMismatch(_ a: [Float], _ b: [Float], vocab: Int) -> Int? {
        guard a.count == b.count else { return -2 }
        for i in 0..<a.count where a[i].bitPattern != b[i].bitPattern { return i / vocab }
        return nil
    }
}
