import KilnKernels
import KilnTensors


/// Which positions of a forward pass need logits.
public enum LogitsSelection: Sendable, Equatable {
    case last
    case all
    /// Only these positions of the call's tokens (0-based, ascending), e.g. to check a long prompt at a few places.
    case positions([Int])
}

/// A decoder-only transformer bound to mapped weights: the one forward pass that every supported architecture
/// runs, with their differences read from `ModelConfig`.
///
/// Shape of a step over `T` new tokens of one sequence starting at position `p0` (after llama2.c's `forward`):
///
///     x [T, d] = embed(tokens) · embeddingScale
///     for each layer:
///         h = rmsnorm(x) · attentionNorm
///         q [T, heads·hd] = h·Wqᵀ (+bq);  k, v [T, kvHeads·hd] = h·Wkᵀ (+bk), h·Wvᵀ (+bv)
///         q, k = rmsnorm per head (Gemma 3);  rope(q, k, positions p0..<p0+T)
///         cache[p0..<p0+T] = k, v
///         o [T, heads·hd] = causal attention of q over cache[window], heads of a group sharing a KV head
///         a [T, d] = o·Woᵀ;  a = rmsnorm(a) (Gemma 3);  x += a
///         h = rmsnorm(x) · ffnNorm
///         m [T, ffn] = act(h·Wgateᵀ) ⊙ (h·Wupᵀ);  f [T, d] = m·Wdownᵀ;  f = rmsnorm(f) (Gemma 3);  x += f
///     logits = rmsnorm(x) · outputNorm · Woutᵀ
public final class Transformer: @unchecked Sendable {
    public let config: ModelConfig
    public let weights: ModelWeights
    public let pool: ThreadPool
    /// Keeps the mapped checkpoint alive as long as the weights point into it.
    let owner: AnyObject
    var globalRoPE: RoPETable
    var localRoPE: RoPETable?
    /// Tokens per forward chunk: bounds scratch memory during long prompts.
    public let maxChunk = 128
    /// How this transformer computes, as one value: a transformer derived from it (a tensor-parallel shard, a
    /// pipeline stage) takes all of it at once, so a setting added here cannot be forgotten by one of them.
    public struct Settings: Sendable, Equatable {
        /// How matrices read their activations: `.fast` quantizes them to 8 bits for the integer kernels (the
        /// default); `.reference` keeps float32 activations, matching transformers within the reference tests' 1e-3
        /// tolerance.
        public var precision: Precision = .fast
        /// The KV cache format `makeCache`/`makePagedCache` use when none is given; nil follows `precision`: float32
        /// for `.reference` (everything float32, to match transformers), half precision for `.fast`.
        public var kvCacheDType: KVCacheDType?

        public init(precision: Precision = .fast, kvCacheDType: KVCacheDType? = nil) {
            self.precision = precision
            self.kvCacheDType = kvCacheDType
        }
    }
    public var settings = Settings()
    /// `settings.precision`.
    public var precision: Precision {
        get { settings.precision }
        set { settings.precision = newValue }
    }
    /// `settings.kvCacheDType`.
    public var kvCacheDType: KVCacheDType? {
        get { settings.kvCacheDType }
        set { settings.kvCacheDType = newValue }
    }
    public var defaultKVCacheDType: KVCacheDType { kvCacheDType ?? (precision == .reference ? .f32 : .f16) }
    var scratch: Scratch
    /// This rank's part of a tensor-parallel model (TensorParallel.swift); nil when the model runs whole.
    var shard: TensorShard?
    /// This rank's pipeline stage (PipelineParallel.swift); nil when the model runs whole.
    var stage: PipelineStage?
    /// Whichever of the two links this rank to the others (begin and end of a step, heartbeat, stop).
    var link: StepLink? {
        if let stage { return stage }
        return shard
    }
    /// Shown every layer's matrix inputs during a forward pass (`kiln build`'s calibration); nil otherwise. Called on
    /// the thread that runs `forward`, between the pool's jobs, so it may use `pool`. Not for tensor-parallel shards.
    public var inputObserver: MatrixInputObserver?

    /// `packOutput`: whether this transformer computes logits (a pipeline stage other than the last does not, and
    /// leaves the output head unpacked and untouched).
    init(config: ModelConfig, weights: ModelWeights, owner: AnyObject, threads: Int, packOutput: Bool = true) {
        self.config = config
        self.owner = owner
        pool = ThreadPool(threads: threads)
        self.weights = weights.packed(pool: pool, output: packOutput)
        globalRoPE = RoPETable(
            headDim: config.headDim, theta: config.ropeTheta, linearFactor: config.ropeLinearFactor,
            llama3: config.llama3Scaling, frequencyFactors: weights.ropeFrequencyFactors)
        if let local = config.ropeLocalTheta {
            localRoPE = RoPETable(
                headDim: config.headDim, theta: local, linearFactor: 1, llama3: nil, frequencyFactors: nil)
        }
        scratch = Scratch(config: config, tokens: maxChunk, threads: pool.threadCount)
    }

    public func makeCache(capacity: Int, dtype: KVCacheDType? = nil) -> KVCache {
        KVCache(config: config, capacity: min(capacity, config.contextLength), dtype: dtype ?? defaultKVCacheDType)
    }

    public func makePagedCache(blockCount: Int, blockSize: Int, dtype: KVCacheDType? = nil) -> PagedKVCache {
        PagedKVCache(config: config, blockCount: blockCount, blockSize: blockSize, dtype: dtype ?? defaultKVCacheDType)
    }

    /// Runs `tokens` through the model after the positions already in `cache`, appends their keys and values, and
    /// returns logits `[n, vocab]` for the selected positions (n = 1 for `.last`, `tokens.count` for `.all`, one
    /// per listed position for `.positions`).
    public func forward(_ tokens: [Int32], cache: KVCache, logits selection: LogitsSelection = .last) throws -> [Float] {
        guard !tokens.isEmpty else { return [] }
        guard cache.count + tokens.count <= cache.capacity else {
            throw ModelError(
                "context", "\(cache.count + tokens.count) tokens exceed the cache capacity of \(cache.capacity)")
        }
        let rows: [Int]
        switch selection {
        case .last: rows = [tokens.count - 1]
        case .all: rows = Array(0..<tokens.count)
        case .positions(let p):
            guard p.allSatisfy({ $0 >= 0 && $0 < tokens.count }), p == p.sorted() else {
                throw ModelError("input", "logit positions must be ascending and within 0..<\(tokens.count)")
            }
            rows = p
        }
        let chunk = BatchChunk(start: cache.count, tokens: tokens, blockTable: [0], logitRows: rows)
        let logits = try forward(batch: [chunk], cache: cache.paged)
        cache.count += tokens.count
        return logits
    }

    /// One step over a ragged batch: each chunk is a run of one sequence's tokens at its own positions (a prefill
    /// chunk or a single decode token). Every weight matrix is read once per `maxChunk` rows of the whole batch.
    /// Returns logits `[Σ logitRows.count, vocab]`, chunk by chunk in order.
    public func forward(batch: [BatchChunk], cache: PagedKVCache) throws -> [Float] {
        var rows = 0
        var end = 0
        for chunk in batch {
            for t in chunk.tokens where t < 0 || Int(t) >= config.vocabularySize {
                throw ModelError("input", "token id \(t) is outside the vocabulary of \(config.vocabularySize)")
            }
            let last = chunk.start + chunk.tokens.count
            guard chunk.start >= 0, chunk.blockTable.count * cache.blockSize >= last,
                chunk.blockTable.allSatisfy({ $0 >= 0 && $0 < cache.blockCount })
            else {
                throw ModelError("batch", "a chunk's block table does not cover positions up to \(last)")
            }
            rows += chunk.tokens.count
            end = max(end, last)
        }
        guard end <= config.contextLength else {
            throw ModelError("input", "position \(end) is beyond the model's context of \(config.contextLength) tokens")
        }
        globalRoPE.reserve(end)
        localRoPE?.reserve(end)
        try link?.begin(batch: batch, cache: cache)
        let vocab = config.vocabularySize
        let logitCount = batch.reduce(0) { $0 + $1.logitRows.count }
        var logits = [Float](repeating: 0, count: logitCount * vocab)
        // Rows `maxChunk` at a time (a pipeline stage: micro-batches of them), in order, so a sequence's later rows
        // find its earlier rows' keys and values already in the cache.
        let pieces = rowPlans(batch, cache: cache, rows: stage?.microBatchRows(rows, maxChunk: maxChunk) ?? maxChunk)
        if let stage {
            runPipelined(pieces, batch: batch, cache: cache, stage: stage, logits: &logits)
        } else {
            for plan in pieces { run(plan, batch: batch, cache: cache, logits: &logits) }
        }
        try link?.end()
        return logits
    }

    /// The batch flattened into rows, cut into pieces of at most `rows` rows.
    func rowPlans(_ batch: [BatchChunk], cache: PagedKVCache, rows: Int) -> [RowPlan] {
        var pieces: [RowPlan] = []
        var plan = RowPlan()
        var logitIndex = 0
        for (c, chunk) in batch.enumerated() {
            var wanted = Set(chunk.logitRows)
            for (i, token) in chunk.tokens.enumerated() {
                let position = chunk.start + i
                let slot = chunk.blockTable[position / cache.blockSize] * cache.blockSize + position % cache.blockSize
                let output = wanted.remove(i) != nil ? logitIndex : -1
                if output >= 0 { logitIndex += 1 }
                plan.append(token: token, position: position, slot: slot, chunk: c, logitIndex: output)
                if plan.count == rows {
                    pieces.append(plan)
                    plan = RowPlan()
                }
            }
        }
        if plan.count > 0 { pieces.append(plan) }
        return pieces
    }

    private func run(_ plan: RowPlan, batch: [BatchChunk], cache: PagedKVCache, logits: inout [Float]) {
        forwardRows(plan, batch: batch, cache: cache)
        outputLogits(plan, logits: &logits)
    }

    /// The logits of the rows of `plan` that want them, from the final hidden states in `scratch.x`.
    func outputLogits(_ plan: RowPlan, logits: inout [Float]) {
        let vocab = config.vocabularySize
        // Consecutive rows that need logits share one output matmul.
        var i = 0
        while i < plan.count {
            guard plan.logitIndex[i] >= 0 else {
                i += 1
                continue
            }
            var j = i + 1
            while j < plan.count, plan.logitIndex[j] == plan.logitIndex[j - 1] + 1 { j += 1 }
            logits.withUnsafeMutableBufferPointer { out in
                computeLogits(rows: i..<j, into: out.baseAddress! + plan.logitIndex[i] * vocab)
            }
            i = j
        }
    }

    /// `embed`: x starts as the tokens' embeddings; false (a later pipeline stage): x is already in `scratch.x`.
    func forwardRows(_ plan: RowPlan, batch: [BatchChunk], cache: PagedKVCache, embed: Bool = true) {
        let c = config
        let T = plan.count
        let d = c.hiddenSize
        let s = scratch
        // x [T, d]
        for (t, id) in plan.tokens.enumerated() where embed {
            let row = weights.embedding.row(Int(id))
            Dequantize.row(weights.embedding.type, from: row, into: s.x + t * d, count: d)
            if c.embeddingScale != 1 { Ops.scale(s.x + t * d, c.embeddingScale, d) }
        }
        // 8-bit activations (the fast path): each input is quantized once and shared by every matrix reading it.
        let q8 = precision == .fast ? s.q8 : nil
        for (l, w) in weights.layers.enumerated() {
            Ops.rmsNorm(s.x, w.attentionNorm, into: s.h, tokens: T, dim: d, eps: c.rmsEpsilon)
            inputObserver?(l, .attention, s.h, T, d)
            Ops.project(
                .init(w.wq, s.q, w.bq), .init(w.wk, s.k, w.bk), .init(w.wv, s.v, w.bv), x: s.h,
                quantized: Ops.quantize(s.h, tokens: T, k: d, into: q8, pool: pool), tokens: T, pool: pool, scratch: s)
            if let qn = w.qNorm, let kn = w.kNorm {
                Ops.rmsNorm(s.q, qn, into: s.q, tokens: T * c.headCount, dim: c.headDim, eps: c.rmsEpsilon)
                Ops.rmsNorm(s.k, kn, into: s.k, tokens: T * c.kvHeadCount, dim: c.headDim, eps: c.rmsEpsilon)
            }
            let sliding = c.isSlidingLayer[l]
            let rope = sliding ? (localRoPE ?? globalRoPE) : globalRoPE
            Ops.rope(s.q, positions: plan.positions, heads: c.headCount, headDim: c.headDim, table: rope, style: c.ropeStyle)
            Ops.rope(s.k, positions: plan.positions, heads: c.kvHeadCount, headDim: c.headDim, table: rope, style: c.ropeStyle)
            // cache[slot of each row] = k, v
            for (t, slot) in plan.slots.enumerated() {
                cache.write(layer: l, slot: slot, key: s.k + t * c.kvDim, value: s.v + t * c.kvDim)
            }
            attention(
                plan, batch: batch, cache: cache, keys: cache.keys(layer: l), values: cache.values(layer: l),
                window: sliding ? c.slidingWindow : nil)
            inputObserver?(l, .attentionOutput, s.attn, T, c.qDim)
            rowParallelLinear(w.wo, s.attn, k: c.qDim, tokens: T, into: s.proj, q8: q8, attention: true)
            if let post = w.postAttentionNorm {
                Ops.rmsNorm(s.proj, post, into: s.proj, tokens: T, dim: d, eps: c.rmsEpsilon)
            }
            Ops.add(s.proj, into: s.x, T * d)
            Ops.rmsNorm(s.x, w.ffnNorm, into: s.h, tokens: T, dim: d, eps: c.rmsEpsilon)
            inputObserver?(l, .ffn, s.h, T, d)
            Ops.gatedFFN(
                gate: w.wGate, up: w.wUp, s.h, quantized: Ops.quantize(s.h, tokens: T, k: d, into: q8, pool: pool),
                tokens: T,
                gate: s.gate, up: s.up, activation: c.activation, pool: pool, scratch: s)
            inputObserver?(l, .ffnDown, s.gate, T, c.ffnSize)
            rowParallelLinear(w.wDown, s.gate, k: c.ffnSize, tokens: T, into: s.proj, q8: q8, attention: false)
            if let post = w.postFFNNorm {
                Ops.rmsNorm(s.proj, post, into: s.proj, tokens: T, dim: d, eps: c.rmsEpsilon)
            }
            Ops.add(s.proj, into: s.x, T * d)
        }
    }

    /// o [T, heads·hd]: each (row, head) pair attends over its sequence's visible window through the block table;
    /// pairs are split across threads.
    private func attention(
        _ plan: RowPlan, batch: [BatchChunk], cache: PagedKVCache, keys: UnsafeMutableRawPointer,
        values: UnsafeMutableRawPointer, window: Int?
    ) {
        let dtype = cache.dtype
        let c = config
        let s = scratch
        let group = c.headCount / c.kvHeadCount
        let T = plan.count
        if c.headDim % 64 == 0 {
            // One (token, KV head) pair at a time lets the heads of a group share each key and value load. The
            // kernel depends only on the config, never on the batch: a sequence's attention is the same whether it
            // runs alone, with others, in one block or many.
            pool.parallelChunks(T * c.kvHeadCount) { range, thread in
                let scores = s.scores(thread: thread)
                for pair in range {
                    let t = pair / c.kvHeadCount
                    let kv = pair % c.kvHeadCount
                    let pos = plan.positions[t]
                    let first = window.map { max(0, pos - $0 + 1) } ?? 0
                    let kvOffset = kv * c.headDim * dtype.bytes
                    let head = t * c.qDim + kv * group * c.headDim
                    batch[plan.chunks[t]].blockTable.withUnsafeBufferPointer { table in
                        Attention.attendGroupPaged(
                            queries: s.q + head, heads: group, keys: keys + kvOffset, values: values + kvOffset,
                            dtype: dtype, stride: c.kvDim, blockTable: table.baseAddress!, blockSize: cache.blockSize, first: first,
                            count: pos + 1 - first, headDim: c.headDim, scale: c.attentionScale, scores: scores,
                            out: s.attn + head)
                    }
                }
            }
            return
        }
        pool.parallelChunks(T * c.headCount) { range, thread in
            let scores = s.scores(thread: thread)
            for pair in range {
                let t = pair / c.headCount
                let h = pair % c.headCount
                let pos = plan.positions[t]
                let first = window.map { max(0, pos - $0 + 1) } ?? 0
                let kvOffset = (h / group) * c.headDim * dtype.bytes
                batch[plan.chunks[t]].blockTable.withUnsafeBufferPointer { table in
                    Attention.attendPaged(
                        query: s.q + t * c.qDim + h * c.headDim, keys: keys + kvOffset, values: values + kvOffset,
                        dtype: dtype, stride: c.kvDim, blockTable: table.baseAddress!, blockSize: cache.blockSize, first: first,
                        count: pos + 1 - first, headDim: c.headDim, scale: c.attentionScale, scores: scores,
                        out: s.attn + t * c.qDim + h * c.headDim)
                }
            }
        }
    }

    /// logits for the chunk's rows `rows` (already in `scratch.x`) into `out` [rows.count, vocab].
    func computeLogits(rows: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let d = config.hiddenSize
        let s = scratch
        Ops.rmsNorm(
            s.x + rows.lowerBound * d, weights.outputNorm, into: s.h, tokens: rows.count, dim: d, eps: config.rmsEpsilon)
        let q8 = precision == .fast ? s.q8 : nil
        Ops.linear(
            weights.output, s.h, quantized: Ops.quantize(s.h, tokens: rows.count, k: d, into: q8, pool: pool),
            tokens: rows.count, into: out, bias: nil, pool: pool, scratch: s)
    }
}

/// The rows of one forward piece: which token, at which position and slot, from which chunk, and where its
/// logits go (-1: none).
struct RowPlan {
    var tokens: [Int32] = []
    var positions: [Int] = []
    var slots: [Int] = []
    var chunks: [Int] = []
    var logitIndex: [Int] = []

    var count: Int { tokens.count }

    mutating func append(token: Int32, position: Int, slot: Int, chunk: Int, logitIndex index: Int) {
        tokens.append(token)
        positions.append(position)
        slots.append(slot)
        chunks.append(chunk)
        logitIndex.append(index)
    }

    mutating func removeAll() {
        tokens.removeAll(keepingCapacity: true)
        positions.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        chunks.removeAll(keepingCapacity: true)
        logitIndex.removeAll(keepingCapacity: true)
    }
}

/// The input a layer's matrices read: the normalized hidden state for Q, K and V (`attention`) and for gate and up
/// (`ffn`), the attention's output for its output matrix, the gated activation for the down matrix.
public enum MatrixInput: Int, Sendable, CaseIterable {
    case attention, attentionOutput, ffn, ffnDown
}

/// (layer, input, x [tokens, dim], tokens, dim)
public typealias MatrixInputObserver = (Int, MatrixInput, UnsafePointer<Float>, Int, Int) -> Void

/// Activation precision of the matrix products.
public enum Precision: String, Sendable, CaseIterable {
    /// Float32 activations: every matrix product dequantizes weights against float inputs.
    case reference
    /// Activations quantized to 8 bits per 32-value block, with integer (VNNI) dot products.
    case fast
}

/// Activation buffers sized once per model for `tokens` positions; no allocation happens inside a step.
final class Scratch: @unchecked Sendable {
    let threads: Int
    let x, h, q, k, v, attn, proj, gate, up: UnsafeMutablePointer<Float>
    let scoresBase: UnsafeMutablePointer<Float>  // [threads, 4 heads, contextLength]
    let scoresStride: Int
    let matmulScratchBase: UnsafeMutablePointer<Float>  // [threads, matmulScratchCount(maxColumns)]
    let matmulScratchStride: Int
    /// The 8-bit copy of whichever input the next matrices read: [T, max(d, qDim, ffn)].
    let q8: Q8Activations

    init(config c: ModelConfig, tokens T: Int, threads: Int) {
        self.threads = threads
        x = .allocate(capacity: T * c.hiddenSize)
        h = .allocate(capacity: T * c.hiddenSize)
        q = .allocate(capacity: T * c.qDim)
        k = .allocate(capacity: T * c.kvDim)
        v = .allocate(capacity: T * c.kvDim)
        attn = .allocate(capacity: T * c.qDim)
        proj = .allocate(capacity: T * max(c.hiddenSize, c.qDim))
        gate = .allocate(capacity: T * c.ffnSize)
        up = .allocate(capacity: T * c.ffnSize)
        scoresStride = 4 * (c.contextLength + 4)
        scoresBase = .allocate(capacity: threads * scoresStride)
        matmulScratchStride = QuantKernels.matmulScratchCount(k: max(c.hiddenSize, c.ffnSize, c.qDim))
        matmulScratchBase = .allocate(capacity: threads * matmulScratchStride)
        q8 = Q8Activations(capacity: T, maxK: max(c.hiddenSize, c.ffnSize, c.qDim))
    }

    func scores(thread: Int) -> UnsafeMutablePointer<Float> { scoresBase + thread * scoresStride }
    func matmulScratch(thread: Int) -> UnsafeMutablePointer<Float> { matmulScratchBase + thread * matmulScratchStride }

    deinit {
        for p in [x, h, q, k, v, attn, proj, gate, up, scoresBase, matmulScratchBase] { p.deallocate() }
    }
}
