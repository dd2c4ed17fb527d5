/// Fixed-size KV blocks: a free list, reference counts and a prefix cache keyed by content.
///
/// Every block is in exactly one of three states:
/// - *referenced*: `referenceCount > 0`, in one or more block tables (more than one only for a shared,
///   cached prefix block);
/// - *cached*: unreferenced but holding a registered full block's KV, waiting in the eviction queue for a
///   prefix hit to revive it, least recently released evicted first;
/// - *free*: unreferenced and holding nothing worth keeping.
///
/// Prefix caching follows vLLM v1's automatic prefix caching (a full block is identified by its parent's
/// identity plus its own token ids) but is exact: the key holds the token ids themselves and the parent is
/// named by a content id that is never reused, so two different prefixes can never collide. A block id
/// would not do as the parent's name, since the id is reused after eviction.
///
/// Ids are handed out deterministically so tests can name them: a fresh manager gives 0, 1, 2, …; freed
/// blocks are reused most recently freed first.
public struct BlockManager: Sendable {
    /// Content id standing for "no parent": the key of a sequence's first block.
    public static let rootContent = -1

    struct ContentKey: Hashable, Sendable {
        var parent: Int
        var tokens: [Int32]  // [blockSize]
    }

    public let blockSize: Int
    public let blockCount: Int
    private var referenceCounts: [Int]  // [blockCount]
    private var freeBlocks: [Int]  // stack; the last element is handed out next
    private var evictable: EvictionQueue
    private var cachedBlockByKey: [ContentKey: Int] = [:]
    private var keyOfBlock: [ContentKey?]  // [blockCount]
    private var contentOfBlock: [Int]  // [blockCount], rootContent when not registered
    private var nextContent = 0
    /// Cached blocks whose KV was dropped to make room for a new block.
    public private(set) var evictions = 0

    public init(blockSize: Int, blockCount: Int) {
        self.blockSize = blockSize
        self.blockCount = blockCount
        referenceCounts = Array(repeating: 0, count: blockCount)
        freeBlocks = Array((0..<blockCount).reversed())
        evictable = EvictionQueue(blockCount: blockCount)
        keyOfBlock = Array(repeating: nil, count: blockCount)
        contentOfBlock = Array(repeating: Self.rootContent, count: blockCount)
    }

    /// Blocks referenced by at least one block table.
    public var usedCount: Int { blockCount - freeBlocks.count - evictable.count }
    /// Blocks holding nothing.
    public var freeCount: Int { freeBlocks.count }
    /// Unreferenced blocks whose KV is kept for prefix hits until evicted.
    public var cachedCount: Int { evictable.count }
    /// Blocks a new allocation can take: free ones, then cached ones by eviction.
    public var availableCount: Int { freeBlocks.count + evictable.count }
    /// Unreferenced cached blocks, in the order they would be evicted.
    public var evictionOrder: [Int] { evictable.blocks }

    public func referenceCount(_ block: Int) -> Int { referenceCounts[block] }

    /// Whether `block` holds a registered full block (referenced or not).
    public func isCached(_ block: Int) -> Bool { keyOfBlock[block] != nil }

    /// Takes a free block, or evicts the least recently released cached one; nil when every block is
    /// referenced. The block comes back with reference count 1.
    public mutating func allocate() -> Int? {
        let block: Int
        if let free = freeBlocks.popLast() {
            block = free
        } else if let oldest = evictable.popOldest() {
            forget(oldest)
            evictions += 1
            block = oldest
        } else {
            return nil
        }
        referenceCounts[block] = 1
        return block
    }

    /// Drops one reference to each block, last block first, so that a sequence's tail becomes evictable
    /// before its prefix (a prefix is worth more: every longer match goes through it).
    public mutating func release(_ blocks: [Int]) {
        for block in blocks.reversed() {
            referenceCounts[block] -= 1
            guard referenceCounts[block] == 0 else { continue }
            if keyOfBlock[block] != nil {
                evictable.append(block)
            } else {
                freeBlocks.append(block)
            }
        }
    }

    /// Adds one reference to each block of a prefix hit, taking it out of the eviction queue if needed.
    public mutating func acquire(_ blocks: [Int]) {
        for block in blocks {
            if referenceCounts[block] == 0 { evictable.remove(block) }
            referenceCounts[block] += 1
        }
    }

    /// How many of `blocks` are unreferenced, i.e. would leave the available pool if acquired.
    public func unreferencedCount(_ blocks: [Int]) -> Int {
        blocks.reduce(0) { $0 + (referenceCounts[$1] == 0 ? 1 : 0) }
    }

    /// The longest run of cached full blocks matching `tokens` from position 0, at most `maxBlocks` long.
    public func cachedPrefix(_ tokens: [Int32], maxBlocks: Int) -> PrefixMatch {
        var match = PrefixMatch()
        var parent = Self.rootContent
        let limit = min(maxBlocks, tokens.count / blockSize)
        while match.blocks.count < limit {
            let start = match.blocks.count * blockSize
            let key = ContentKey(parent: parent, tokens: Array(tokens[start..<start + blockSize]))
            guard let block = cachedBlockByKey[key] else { break }
            parent = contentOfBlock[block]
            match.blocks.append(block)
            match.contents.append(parent)
        }
        return match
    }

    /// Registers a full, computed block whose parent has content id `parent` and returns the content id
    /// its child's key must use. When the same content is already cached in another block (two sequences
    /// computed it at once), that block stays the cached copy and `block` is freed plainly when released.
    public mutating func register(_ block: Int, parent: Int, tokens: ArraySlice<Int32>) -> Int {
        let key = ContentKey(parent: parent, tokens: Array(tokens))
        if let existing = cachedBlockByKey[key] { return contentOfBlock[existing] }
        if keyOfBlock[block] != nil { return contentOfBlock[block] }
        cachedBlockByKey[key] = block
        keyOfBlock[block] = key
        contentOfBlock[block] = nextContent
        nextContent += 1
        return contentOfBlock[block]
    }

    private mutating func forget(_ block: Int) {
        if let key = keyOfBlock[block] { cachedBlockByKey[key] = nil }
        keyOfBlock[block] = nil
        contentOfBlock[block] = Self.rootContent
    }
}

/// Cached blocks that match the start of a sequence, with the content id of each (for its child's key).
public struct PrefixMatch: Sendable, Equatable {
    public var blocks: [Int] = []
    public var contents: [Int] = []

    public init() {}
}
