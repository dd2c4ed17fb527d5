/// Unreferenced cached blocks, least recently released first.
///
/// An intrusive doubly linked list over block ids (`previous`/`next` indexed by block), so that a block can
/// be taken out of the middle in O(1) when a prefix hit revives it, and the oldest popped in O(1) when a
/// new block is needed. Same idea as vLLM v1's free block queue, kept separate from the free list here.
struct EvictionQueue: Sendable {
    private static let none = -1
    private var previous: [Int]  // [blockCount]
    private var next: [Int]  // [blockCount]
    private var member: [Bool]  // [blockCount]
    private var head = EvictionQueue.none
    private var tail = EvictionQueue.none
    private(set) var count = 0

    init(blockCount: Int) {
        previous = Array(repeating: Self.none, count: blockCount)
        next = Array(repeating: Self.none, count: blockCount)
        member = Array(repeating: false, count: blockCount)
    }

    func contains(_ block: Int) -> Bool { member[block] }

    /// Blocks from least to most recently released.
    var blocks: [Int] {
        var result: [Int] = []
        result.reserveCapacity(count)
        var block = head
        while block != Self.none {
            result.append(block)
            block = next[block]
        }
        return result
    }

    /// Appends `block` as the most recently released.
    mutating func append(_ block: Int) {
        guard !member[block] else { return }
        member[block] = true
        previous[block] = tail
        next[block] = Self.none
        if tail == Self.none { head = block } else { next[tail] = block }
        tail = block
        count += 1
    }

    mutating func remove(_ block: Int) {
        guard member[block] else { return }
        member[block] = false
        let before = previous[block]
        let after = next[block]
        if before == Self.none { head = after } else { next[before] = after }
        if after == Self.none { tail = before } else { previous[after] = before }
        previous[block] = Self.none
        next[block] = Self.none
        count -= 1
    }

    /// Removes and returns the least recently released block.
    mutating func popOldest() -> Int? {
        guard head != Self.none else { return nil }
        let block = head
        remove(block)
        return block
    }
}
