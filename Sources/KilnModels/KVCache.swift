import KilnKernels

#if canImport(Glibc)
    import Glibc
#endif

/// Keys and values of many sequences in fixed-size blocks: `[layers, blockCount · blockSize, kvHeads · headDim]`
/// elements of `dtype` (float32, or 16-bit to halve what attention reads and double the tokens a memory budget
/// holds). A sequence's positions live in the blocks its block table names; position p sits in slot
/// `table[p / blockSize] · blockSize + p % blockSize`. The block tables themselves belong to the scheduler.
public final class PagedKVCache: @unchecked Sendable {
    public let layers: Int
    public let blockCount: Int
    public let blockSize: Int
    public let kvDim: Int
    public let dtype: KVCacheDType
    let keys: UnsafeMutableRawPointer  // [layers, slots, kvDim] of dtype
    let values: UnsafeMutableRawPointer  // [layers, slots, kvDim] of dtype
    /// Whether keys and values came from `HugePages.allocate` (released with free) rather than `allocate`.
    private let fromHugePages: Bool

    public var slotCount: Int { blockCount * blockSize }

    /// Bytes one token position takes across all layers (keys and values).
    public static func bytesPerToken(_ config: ModelConfig, dtype: KVCacheDType) -> Int {
        2 * config.layerCount * config.kvDim * dtype.bytes
    }

    public init(config: ModelConfig, blockCount: Int, blockSize: Int, dtype: KVCacheDType) {
        layers = config.layerCount
        self.blockCount = blockCount
        self.blockSize = blockSize
        self.dtype = dtype
        kvDim = config.kvDim
        let bytes = max(layers * blockCount * blockSize * kvDim * dtype.bytes, 64)
        // On huge pages where free ones exist: attention reads each sequence's rows kvDim elements apart, so on
        // 4 KiB pages nearly every few keys cost a TLB miss.
        let k = HugePages.allocate(bytes: bytes)
        let v = k == nil ? nil : HugePages.allocate(bytes: bytes)
        if let k, let v {
            keys = k
            values = v
            fromHugePages = true
        } else {
            free(k)
            keys = .allocate(byteCount: bytes, alignment: 64)
            values = .allocate(byteCount: bytes, alignment: 64)
            fromHugePages = false
        }
        // Touch every page now: the pool is reserved up front (resident memory says what the server holds, and a
        // step never stalls on first-touch page faults).
        keys.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        values.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    }

    deinit {
        if fromHugePages {
            free(keys)
            free(values)
        } else {
            keys.deallocate()
            values.deallocate()
        }
    }

    func keys(layer: Int) -> UnsafeMutableRawPointer { keys + layer &* slotCount &* kvDim &* dtype.bytes }
    func values(layer: Int) -> UnsafeMutableRawPointer { values + layer &* slotCount &* kvDim &* dtype.bytes }

    /// Key and value rows of `slot` in `layer` from float32 rows of kvDim elements.
    func write(layer: Int, slot: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        let offset = (layer &* slotCount &+ slot) &* kvDim &* dtype.bytes
        dtype.store(key, count: kvDim, into: keys + offset)
        dtype.store(value, count: kvDim, into: values + offset)
    }

    /// Element `index` of the key (or value) row of `slot` in `layer`, as a float (for tests and checks).
    public func element(layer: Int, slot: Int, index: Int, value: Bool = false) -> Float {
        precondition(layer >= 0 && layer < layers && slot >= 0 && slot < slotCount && index >= 0 && index < kvDim)
        let base = (value ? values : keys) + (layer &* slotCount &+ slot) &* kvDim &* dtype.bytes
        return dtype.load(base, index: index)
    }
}

/// The KV cache of one sequence (`kiln generate`, the reference tests): one block as long as the sequence may grow.
public final class KVCache: @unchecked Sendable {
    public let paged: PagedKVCache
    /// Positions already written (the next token goes here).
    public internal(set) var count = 0

    public var capacity: Int { paged.blockSize }

    public init(config: ModelConfig, capacity: Int, dtype: KVCacheDType) {
        paged = PagedKVCache(config: config, blockCount: 1, blockSize: max(capacity, 1), dtype: dtype)
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
