/// Keys and values of many sequences in fixed-size blocks: `[layers, blockCount · blockSize, kvHeads · headDim]`
/// in Float32. A sequence's positions live in the blocks its block table names; position p sits in slot
/// `table[p / blockSize] · blockSize + p % blockSize`. The block tables themselves belong to the scheduler.
public final class PagedKVCache: @unchecked Sendable {
    public let layers: Int
    public let blockCount: Int
    public let blockSize: Int
    public let kvDim: Int
    let keys: UnsafeMutablePointer<Float>  // [layers, slots, kvDim]
    let values: UnsafeMutablePointer<Float>  // [layers, slots, kvDim]

    public var slotCount: Int { blockCount * blockSize }

    /// Bytes one token position takes across all layers (keys and values).
    public static func bytesPerToken(_ config: ModelConfig) -> Int { 2 * config.layerCount * config.kvDim * 4 }

    public init(config: ModelConfig, blockCount: Int, blockSize: Int) {
        layers = config.layerCount
        self.blockCount = blockCount
        self.blockSize = blockSize
        kvDim = config.kvDim
        let n = layers * blockCount * blockSize * kvDim
        keys = .allocate(capacity: max(n, 1))
        values = .allocate(capacity: max(n, 1))
        // Touch every page now: the pool is reserved up front (resident memory says what the server holds, and a
        // step never stalls on first-touch page faults).
        keys.initialize(repeating: 0, count: max(n, 1))
        values.initialize(repeating: 0, count: max(n, 1))
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    func keys(layer: Int) -> UnsafeMutablePointer<Float> { keys + layer &* slotCount &* kvDim }
    func values(layer: Int) -> UnsafeMutablePointer<Float> { values + layer &* slotCount &* kvDim }
}

/// The KV cache of one sequence (`kiln generate`, the reference tests): one block as long as the sequence may grow.
public final class KVCache: @unchecked Sendable {
    public let paged: PagedKVCache
    /// Positions already written (the next token goes here).
    public internal(set) var count = 0

    public var capacity: Int { paged.blockSize }

    public init(config: ModelConfig, capacity: Int) {
        paged = PagedKVCache(config: config, blockCount: 1, blockSize: max(capacity, 1))
    }

    /// Forgets every position (the memory is reused).
    public func reset() { count = 0 }
}

/// One sequence's share of a batched step: `tokens` at positions `start ..< start + tokens.count`, written into
/// the blocks of `blockTable`; logits are returned for the chunk-relative rows in `logitRows`.
public struct BatchChunk: Sendable {
    public var start: Int
    public var tokens: [Int32]
    public var blockTable: [Int]
    public var logitRows: [Int]

    public init(start: Int, tokens: [Int32], blockTable: [Int], logitRows: [Int]) {
        self.start = start
        self.tokens = tokens
        self.blockTable = blockTable
        self.logitRows = logitRows
    }
}
