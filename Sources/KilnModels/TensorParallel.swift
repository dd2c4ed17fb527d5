import Foundation
import KilnFormats
import KilnKernels
import KilnTensors

/// How the ranks of a tensor-parallel model talk: KilnModels only needs these two collectives and knows nothing of
/// MPI (the executable adapts KilnParallel's communicator). Both throw once a peer is lost or too slow.
public protocol ShardTransport: AnyObject, Sendable {
    var rank: Int { get }
    var size: Int { get }
    /// x[i] = Σ over ranks of x[i], in place on every rank.
    func allReduceSum(_ x: UnsafeMutablePointer<Float>, count: Int) throws
    /// Rank 0's `words` to every rank. `idle`: a worker waiting for its next command, which may wait as long as
    /// rank 0's heartbeat keeps coming.
    func broadcast(_ words: inout [Int64], idle: Bool) throws
}

/// Which part of the model one rank holds, Megatron-style:
/// - column-parallel (a subset of output rows, no communication): Q, K, V (the heads of whole KV groups, so a query
///   head always finds its KV head on its own rank), gate and up (a run of FFN rows);
/// - row-parallel (a slice of the input dimension; the partial sums are all-reduced): the attention output (o_proj)
///   over the rank's heads, down over the rank's FFN rows;
/// - replicated: embeddings, norms, the output head (used by rank 0 only).
///
/// A row-parallel slice must start and end on the weight format's block boundaries (32 values for Q4_0/Q4_1/Q8_0,
/// 256 for K-quants). FFN rows are split on the down matrix's block boundaries (possibly unevenly). When the heads'
/// slice of o_proj is not block-aligned (Qwen2.5-0.5B: 7 heads · 64 = 448 values, not whole 256-value K-quant
/// blocks), that matrix stays whole on every rank: the ranks' attention outputs are gathered (an all-reduce over
/// zero-filled rows, which is exact) and each rank multiplies the full matrix.
public struct ShardLayout: Sendable, CustomStringConvertible {
    public let rank: Int
    public let size: Int
    /// This rank's KV heads; its query heads are the groups of these.
    public let kvHeads: Range<Int>
    /// This rank's FFN rows.
    public let ffn: Range<Int>
    /// o_proj is kept whole (its column slice would cut quantization blocks): attention outputs are gathered.
    public let gatherAttention: Bool
    /// down is kept whole: FFN activations are gathered.
    public let gatherFFN: Bool
    let group: Int
    let headDim: Int
    let fullQDim: Int
    let fullFFN: Int

    /// This rank's query rows (of Q) and input columns (of o_proj).
    public var qColumns: Range<Int> { kvHeads.lowerBound * group * headDim..<kvHeads.upperBound * group * headDim }
    /// This rank's key and value rows.
    public var kvRows: Range<Int> { kvHeads.lowerBound * headDim..<kvHeads.upperBound * headDim }

    /// The slice a `kiln build --tp` file records (`EngineShard`).
    public var engineShard: EngineShard {
        EngineShard(
            shard: rank, shards: size, kvHeads: kvHeads, ffn: ffn, wholeAttentionOutput: gatherAttention,
            wholeFFNDown: gatherFFN)
    }

    public var description: String {
        "rank \(rank)/\(size): kv heads \(kvHeads.lowerBound)..<\(kvHeads.upperBound) (q heads \(kvHeads.lowerBound * group)..<\(kvHeads.upperBound * group)), ffn rows \(ffn.lowerBound)..<\(ffn.upperBound)"
            + (gatherAttention ? ", o_proj whole (attention gathered)" : ", o_proj row-parallel")
            + (gatherFFN ? ", down whole (ffn gathered)" : ", down row-parallel")
    }

    /// Splits `count` units over `size` ranks, the first `count % size` ranks taking one more.
    static func split(_ count: Int, rank: Int, size: Int) -> Range<Int> {
        let base = count / size
        let extra = count % size
        let lower = rank * base + min(rank, extra)
        return lower..<(lower + base + (rank < extra ? 1 : 0))
    }

    init(config c: ModelConfig, weights w: ModelWeights, rank: Int, size: Int, keepWhole: Bool = false) throws {
        try self.init(
            config: c, rank: rank, size: size, downBlock: w.layers.map { $0.wDown.type.blockElements }.max() ?? 1,
            outputBlock: w.layers.map { $0.wo.type.blockElements }.max() ?? 1, keepWhole: keepWhole)
    }

    /// The layout of rank `rank` of `size` for layers whose down matrices' largest block holds `downBlock` values
    /// and whose o_proj matrices' largest block holds `outputBlock` (block sizes 1, 32, 256 divide one another, so a
    /// slice on the largest block's boundaries cuts no matrix's blocks).
    public init(config c: ModelConfig, rank: Int, size: Int, downBlock: Int, outputBlock: Int, keepWhole: Bool = false) throws {
        guard size >= 1, rank >= 0, rank < size else { throw ModelError("tensor parallel", "rank \(rank) of \(size)") }
        guard c.kvHeadCount >= size else {
            throw ModelError(
                "tensor parallel",
                "\(size) ranks need at least \(size) KV heads; this model has \(c.kvHeadCount) (the heads of a KV group stay on one rank)")
        }
        self.rank = rank
        self.size = size
        group = c.headCount / c.kvHeadCount
        headDim = c.headDim
        fullQDim = c.qDim
        fullFFN = c.ffnSize
        kvHeads = Self.split(c.kvHeadCount, rank: rank, size: size)
        // FFN rows in units of the down matrices' largest block, so every rank's slice of down is whole blocks.
        let unit = max(1, downBlock)
        if !keepWhole, c.ffnSize % unit == 0, c.ffnSize / unit >= size {
            let units = Self.split(c.ffnSize / unit, rank: rank, size: size)
            ffn = units.lowerBound * unit..<units.upperBound * unit
            gatherFFN = false
        } else {
            ffn = Self.split(c.ffnSize, rank: rank, size: size)
            gatherFFN = true
        }
        let q = kvHeads.lowerBound * group * c.headDim..<kvHeads.upperBound * group * c.headDim
        let e = max(1, outputBlock)
        gatherAttention = keepWhole || q.lowerBound % e != 0 || q.upperBound % e != 0
    }

    /// The layout a `kiln build --tp` file records, checked against the model's shape.
    init(config c: ModelConfig, recorded s: EngineShard, path: String) throws {
        guard s.shards >= 1, s.shard >= 0, s.shard < s.shards, c.kvHeadCount >= s.shards,
            s.kvHeads.lowerBound >= 0, s.kvHeads.upperBound <= c.kvHeadCount, !s.kvHeads.isEmpty,
            s.ffn.lowerBound >= 0, s.ffn.upperBound <= c.ffnSize, !s.ffn.isEmpty
        else { throw ModelError(path, "file is corrupt: its tensor-parallel slice \(s) does not fit the model") }
        rank = s.shard
        size = s.shards
        kvHeads = s.kvHeads
        ffn = s.ffn
        gatherAttention = s.wholeAttentionOutput
        gatherFFN = s.wholeFFNDown
        group = c.headCount / c.kvHeadCount
        headDim = c.headDim
        fullQDim = c.qDim
        fullFFN = c.ffnSize
    }

    /// `w`'s layers cut to this rank's slices: row slices point into `w`'s mapping; column slices are copied into
    /// `storage`.
    func slice(_ w: ModelWeights, storage: ShardStorage) -> ModelWeights {
        let (qRows, kvRows) = (qColumns, self.kvRows)
        var w = w
        w.layers = w.layers.map { l in
            var s = l
            s.wq = l.wq.rows(qRows)
            s.wk = l.wk.rows(kvRows)
            s.wv = l.wv.rows(kvRows)
            s.bq = l.bq.map { Array($0[qRows]) }
            s.bk = l.bk.map { Array($0[kvRows]) }
            s.bv = l.bv.map { Array($0[kvRows]) }
            s.wo = gatherAttention ? l.wo : storage.columns(l.wo, qRows)
            s.wGate = l.wGate.rows(ffn)
            s.wUp = l.wUp.rows(ffn)
            s.wDown = gatherFFN ? l.wDown : storage.columns(l.wDown, ffn)
            return s
        }
        return w
    }
}

/// What every rank of a multi-process model shares, whether it holds a tensor-parallel shard or a pipeline stage:
/// the link to the others, the lock that keeps a forward pass and a heartbeat from interleaving their messages,
/// the step protocol (rank 0 broadcasts each step's batch, pings while idle, stops the workers) and the first
/// failure (after which every forward throws).
class StepLink: @unchecked Sendable {
    let transport: ShardTransport
    let lock = NSLock()
    /// The first failure; read and written with `lock` held (or by the thread running the step, which holds it).
    var failure: Error?
    var lastActivity = Date()

    enum Command: Int64 {
        case run = 1
        case ping = 2
        case stop = 3
    }

    init(transport: ShardTransport) { self.transport = transport }

    /// Whether the workers need each chunk's logit rows (a pipeline's last stage computes the logits; tensor-parallel
    /// workers leave them to rank 0).
    var sendsLogitRows: Bool { false }

    var failed: Error? {
        lock.lock()
        defer { lock.unlock() }
        return failure
    }

    /// Before a forward pass: takes the lock; rank 0 sends the step's batch to the others.
    func begin(batch: [BatchChunk], cache: PagedKVCache) throws {
        lock.lock()
        if let failure {
            lock.unlock()
            throw failure
        }
        guard transport.rank == 0 else { return }
        var words: [Int64] = [
            Command.run.rawValue, Int64(ObjectIdentifier(cache).hashValue), Int64(cache.blockCount),
            Int64(cache.blockSize), Int64(batch.count), Int64(KVCacheDType.allCases.firstIndex(of: cache.dtype)!),
        ]
        for chunk in batch {
            words.append(contentsOf: [Int64(chunk.start), Int64(chunk.tokens.count), Int64(chunk.blockTable.count)])
            words.append(contentsOf: chunk.tokens.map { Int64($0) })
            words.append(contentsOf: chunk.blockTable.map { Int64($0) })
            if sendsLogitRows {
                words.append(Int64(chunk.logitRows.count))
                words.append(contentsOf: chunk.logitRows.map { Int64($0) })
            }
        }
        do {
            try transport.broadcast(&words, idle: false)
        } catch {
            failure = error
            lock.unlock()
            throw error
        }
    }

    /// After a forward pass: releases the lock; throws the failure of any exchange during the pass.
    func end() throws {
        lastActivity = Date()
        let failure = self.failure
        lock.unlock()
        if let failure { throw failure }
    }

    /// Rank 0, between steps: checks that every rank still answers (a broadcast and a one-value all-reduce).
    func heartbeat() throws {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        do {
            var words = [Command.ping.rawValue]
            try transport.broadcast(&words, idle: false)
            var one: Float = 1
            try transport.allReduceSum(&one, count: 1)
            guard Int(one) == transport.size else {
                throw ModelError("parallel", "heartbeat summed to \(one)")
            }
            lastActivity = Date()
        } catch {
            failure = error
            throw error
        }
    }

    /// Rank 0: tells the workers to leave their loop.
    func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard failure == nil else { return }
        var words = [Command.stop.rawValue]
        do { try transport.broadcast(&words, idle: false) } catch { failure = error }
        failure = ModelError("parallel", "the workers were stopped")
    }
}

/// A tensor-parallel rank's state: its layout and the buffer that gathers a whole matrix's inputs.
final class TensorShard: StepLink, @unchecked Sendable {
    let layout: ShardLayout
    /// [maxChunk, max(full qDim, full ffn)]: gathered inputs of a whole (not sliced) row-parallel matrix.
    private let gathered: UnsafeMutablePointer<Float>
    private let gatheredCount: Int

    init(layout: ShardLayout, transport: ShardTransport, maxTokens: Int) {
        self.layout = layout
        gatheredCount = maxTokens * max(layout.fullQDim, layout.fullFFN)
        gathered = .allocate(capacity: gatheredCount)
        super.init(transport: transport)
    }

    deinit { gathered.deallocate() }

    /// Sums a row-parallel product's partial results across ranks (a no-op after a failure: the pass is lost).
    func reduce(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard failure == nil else { return }
        do { try transport.allReduceSum(x, count: count) } catch { failure = error }
    }

    /// The full [T, width] input of a whole row-parallel matrix from each rank's columns `mine` of `local`
    /// [T, mine.count]: zero-filled rows with this rank's columns in place, summed across ranks (exact: every
    /// value is added to zeros only).
    func gather(_ local: UnsafePointer<Float>, tokens: Int, columns mine: Range<Int>, width: Int) -> UnsafePointer<Float> {
        precondition(tokens * width <= gatheredCount)
        gathered.update(repeating: 0, count: tokens * width)
        for t in 0..<tokens {
            (gathered + t * width + mine.lowerBound).update(from: local + t * mine.count, count: mine.count)
        }
        reduce(gathered, count: tokens * width)
        return UnsafePointer(gathered)
    }
}

extension Transformer {
    /// This rank's shard of the model (see `ShardLayout`): a transformer over the rank's heads and FFN rows whose
    /// forward pass exchanges partial sums with the other ranks through `transport`. Rank 0 runs it like any
    /// transformer (each `forward(batch:cache:)` first sends the batch to the workers); the other ranks call
    /// `serveShard()`. Weights that are row slices point into this transformer's mapping; column slices are copied.
    /// `keepWhole` keeps o_proj and down whole on every rank even where they could be sliced (the fallback for
    /// slices that would cut quantization blocks, forced: for tests).
    public func tensorParallelShard(transport: ShardTransport, threads: Int, keepWhole: Bool = false) throws -> Transformer {
        let layout = try ShardLayout(
            config: config, weights: weights, rank: transport.rank, size: transport.size, keepWhole: keepWhole)
        let storage = ShardStorage(parent: self)
        let shard = Self.makeShard(
            config: config, layout: layout, weights: layout.slice(weights, storage: storage), owner: storage,
            transport: transport, threads: threads, packOutput: weights.output.packed != nil)
        shard.settings = settings
        return shard
    }

    /// A shard transformer over `weights`, already cut to `layout`'s slices (by `ShardLayout.slice`, or by
    /// `kiln build --tp`); `config` is the unsplit model's (or stage's).
    static func makeShard(
        config: ModelConfig, layout: ShardLayout, weights w: ModelWeights, owner: AnyObject, transport: ShardTransport,
        threads: Int, packOutput: Bool = true
    ) -> Transformer {
        var c = config
        c.kvHeadCount = layout.kvHeads.count
        c.headCount = layout.kvHeads.count * layout.group
        c.ffnSize = layout.ffn.count
        let shard = Transformer(config: c, weights: w, owner: owner, threads: threads, packOutput: packOutput)
        if layout.gatherAttention || layout.gatherFFN {
            // A whole matrix reads the full input width: size the buffers for it.
            var wide = c
            if layout.gatherAttention { wide.headCount = config.headCount }
            if layout.gatherFFN { wide.ffnSize = config.ffnSize }
            shard.scratch = Scratch(config: wide, tokens: shard.maxChunk, threads: shard.pool.threadCount)
        }
        shard.shard = TensorShard(layout: layout, transport: transport, maxTokens: shard.maxChunk)
        return shard
    }

    /// This rank's part of the model, when it is a tensor-parallel shard.
    public var shardLayout: ShardLayout? { shard?.layout }

    /// The first failed or timed-out exchange of this shard or stage, if any (then every forward pass throws it).
    public var shardFailure: Error? { link?.failed }

    /// Rank 0, while no step has run for `idle` seconds: checks that every rank still answers; throws (and stays
    /// failed) when one does not.
    public func shardHeartbeat(idle: Double) throws {
        guard let link, link.transport.rank == 0 else { return }
        if Date().timeIntervalSince(link.lastActivity) < idle { return }
        try link.heartbeat()
    }

    /// Rank 0: releases the workers from `serveShard()`.
    public func stopShards() { link?.stop() }

    /// A worker rank's loop: receives each step's batch from rank 0 and runs this rank's part of it (the KV caches
    /// mirror rank 0's block geometry; a tensor-parallel worker leaves the logits to rank 0, a pipeline's last stage
    /// computes them and sends them to rank 0). Returns when rank 0 stops the workers; throws when rank 0 is lost.
    public func serveShard() throws {
        guard let shard = link, shard.transport.rank != 0 else { throw ModelError("parallel", "serveShard runs on ranks 1…") }
        var caches: [Int64: PagedKVCache] = [:]
        var order: [Int64] = []
        while true {
            var words: [Int64] = []
            try shard.transport.broadcast(&words, idle: true)
            guard let command = words.first.flatMap(StepLink.Command.init(rawValue:)) else {
                throw ModelError("parallel", "rank \(shard.transport.rank): unknown command \(words.first ?? -1)")
            }
            switch command {
            case .stop:
                return
            case .ping:
                var one: Float = 1
                try shard.transport.allReduceSum(&one, count: 1)
            case .run:
                let (key, blockCount, blockSize) = (words[1], Int(words[2]), Int(words[3]))
                let dtype = KVCacheDType.allCases[Int(words[5])]
                var cache = caches[key]
                if cache == nil || cache!.blockCount != blockCount || cache!.blockSize != blockSize
                    || cache!.dtype != dtype
                {
                    cache = makePagedCache(blockCount: blockCount, blockSize: blockSize, dtype: dtype)
                    caches[key] = cache
                    order.removeAll { $0 == key }
                    order.append(key)
                    if order.count > 4 { caches[order.removeFirst()] = nil }
                }
                var batch: [BatchChunk] = []
                var i = 6
                for _ in 0..<Int(words[4]) {
                    let (start, n, blocks) = (Int(words[i]), Int(words[i + 1]), Int(words[i + 2]))
                    i += 3
                    let tokens = words[i..<i + n].map { Int32($0) }
                    i += n
                    let table = words[i..<i + blocks].map { Int($0) }
                    i += blocks
                    var rows: [Int] = []
                    if shard.sendsLogitRows {
                        let count = Int(words[i])
                        rows = words[i + 1..<i + 1 + count].map { Int($0) }
                        i += 1 + count
                    }
                    batch.append(BatchChunk(start: start, tokens: tokens, blockTable: table, logitRows: rows))
                }
                _ = try forward(batch: batch, cache: cache!)
            }
        }
    }

    /// y [T, w.rows] = x · wᵀ for a row-parallel matrix (o_proj, down): `x` holds this rank's `k` input columns.
    /// Sliced: the partial products are summed across ranks. Whole: the ranks' inputs are gathered first and every
    /// rank multiplies the full matrix. Without a shard: the plain product.
    func rowParallelLinear(
        _ w: WeightMatrix, _ x: UnsafeMutablePointer<Float>, k: Int, tokens T: Int, into y: UnsafeMutablePointer<Float>,
        q8: Q8Activations?, attention: Bool
    ) {
        var input = UnsafePointer(x)
        var k = k
        let whole = shard != nil && w.columns != k
        if let shard, whole {
            let l = shard.layout
            input = shard.gather(
                x, tokens: T, columns: attention ? l.qColumns : l.ffn, width: attention ? l.fullQDim : l.fullFFN)
            k = w.columns
        }
        Ops.linear(
            w, input, quantized: Ops.quantize(input, tokens: T, k: k, into: q8, pool: pool), tokens: T, into: y,
            bias: nil, pool: pool, scratch: scratch)
        if let shard, !whole { shard.reduce(y, count: T * w.rows) }
    }
}

extension LoadedModel {
    /// The same model with this rank's tensor-parallel shard as its transformer.
    public func tensorParallelShard(transport: ShardTransport, threads: Int) throws -> LoadedModel {
        LoadedModel(
            transformer: try transformer.tensorParallelShard(transport: transport, threads: threads),
            tokenizer: tokenizer, stopTokenIDs: stopTokenIDs)
    }
}

/// Keeps a shard's sources alive: the parent transformer (whose mapping the row slices point into, and whose packed
/// copies the whole matrices keep using) and the copied column slices.
final class ShardStorage: @unchecked Sendable {
    let parent: Transformer
    private var buffers: [UnsafeMutableRawPointer] = []

    init(parent: Transformer) { self.parent = parent }

    deinit { for b in buffers { b.deallocate() } }

    /// Columns `range` (whole blocks of `m.type`) of every row of `m`, copied into a matrix of their own.
    func columns(_ m: WeightMatrix, _ range: Range<Int>) -> WeightMatrix {
        let e = m.type.blockElements
        precondition(range.lowerBound % e == 0 && range.upperBound % e == 0, "\(m.name): \(range) cuts \(m.type) blocks")
        let offset = range.lowerBound / e * m.type.blockBytes
        let bytes = range.count / e * m.type.blockBytes
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes * m.rows), alignment: 64)
        buffers.append(buffer)
        for r in 0..<m.rows { (buffer + r * bytes).copyMemory(from: m.row(r) + offset, byteCount: bytes) }
        return WeightMatrix(
            name: m.name, type: m.type, data: UnsafeRawPointer(buffer), rows: m.rows, columns: range.count,
            rowBytes: bytes, packed: nil)
    }
}

extension WeightMatrix {
    /// Rows `range` in place (the shard packs its own copy of the slice).
    func rows(_ range: Range<Int>) -> WeightMatrix {
        WeightMatrix(
            name: name, type: type, data: data + range.lowerBound * rowBytes, rows: range.count, columns: columns,
            rowBytes: rowBytes, packed: nil)
    }
}
