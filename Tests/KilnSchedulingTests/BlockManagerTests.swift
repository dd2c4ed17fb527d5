import Testing

import KilnScheduling

@Suite("BlockManager: ids, reference counts, prefix cache, eviction")
struct BlockManagerTests {
    /// Tokens `start ..< start + count`, as token ids.
    func run(_ start: Int, _ count: Int) -> [Int32] { (start..<start + count).map { Int32($0) } }

    @Test("a fresh manager hands out 0, 1, 2, … and reuses freed blocks most recently freed first")
    func allocationOrder() {
        var manager = BlockManager(blockSize: 4, blockCount: 4)
        #expect([manager.allocate(), manager.allocate(), manager.allocate()] == [0, 1, 2])
        #expect(manager.usedCount == 3 && manager.freeCount == 1 && manager.cachedCount == 0)
        #expect((0..<4).map(manager.referenceCount) == [1, 1, 1, 0])
        manager.release([0, 1])  // released last first: 1, then 0
        #expect((0..<4).map(manager.referenceCount) == [0, 0, 1, 0])
        #expect([manager.allocate(), manager.allocate(), manager.allocate(), manager.allocate()] == [0, 1, 3, nil])
        #expect(manager.usedCount == 4 && manager.availableCount == 0)
    }

    @Test("shared blocks count one reference per table and free only at the last release")
    func referenceCounts() {
        var manager = BlockManager(blockSize: 2, blockCount: 3)
        let block = manager.allocate()!
        manager.acquire([block])
        manager.acquire([block])
        #expect(manager.referenceCount(block) == 3)
        manager.release([block])
        manager.release([block])
        #expect(manager.referenceCount(block) == 1 && manager.usedCount == 1)
        manager.release([block])
        #expect(manager.referenceCount(block) == 0 && manager.usedCount == 0 && manager.freeCount == 3)
    }

    @Test("a prefix matches block by block, only through the same parent content")
    func prefixLookup() {
        var manager = BlockManager(blockSize: 4, blockCount: 8)
        let tokens = run(0, 10)
        let first = manager.allocate()!
        let second = manager.allocate()!
        let firstContent = manager.register(first, parent: BlockManager.rootContent, tokens: tokens[0..<4])
        let secondContent = manager.register(second, parent: firstContent, tokens: tokens[4..<8])
        #expect(firstContent != secondContent)

        #expect(manager.cachedPrefix(tokens, maxBlocks: 8).blocks == [first, second])
        #expect(manager.cachedPrefix(tokens, maxBlocks: 8).contents == [firstContent, secondContent])
        #expect(manager.cachedPrefix(tokens, maxBlocks: 1).blocks == [first])
        #expect(manager.cachedPrefix(Array(tokens[0..<7]), maxBlocks: 8).blocks == [first])  // second not full
        // Same second block after a different first block: no match past the difference.
        #expect(manager.cachedPrefix([9, 9, 9, 9] + tokens[4..<8], maxBlocks: 8).blocks == [])
        #expect(manager.cachedPrefix([0, 1, 2, 3, 4, 5, 6, 99], maxBlocks: 8).blocks == [first])
        // The second block's tokens registered at the root are a different content.
        #expect(manager.cachedPrefix(Array(tokens[4..<8]), maxBlocks: 8).blocks == [])
    }

    @Test("registering content that is already cached keeps the first copy")
    func duplicateRegistration() {
        var manager = BlockManager(blockSize: 2, blockCount: 4)
        let original = manager.allocate()!
        let duplicate = manager.allocate()!
        let content = manager.register(original, parent: BlockManager.rootContent, tokens: [5, 6])
        #expect(manager.register(duplicate, parent: BlockManager.rootContent, tokens: [5, 6]) == content)
        #expect(manager.isCached(original) && !manager.isCached(duplicate))
        manager.release([original, duplicate])
        #expect(manager.cachedCount == 1 && manager.freeCount == 3)
    }

    @Test("unreferenced cached blocks are evicted least recently released first, tails before prefixes")
    func evictionOrder() {
        var manager = BlockManager(blockSize: 2, blockCount: 5)
        let a = (0..<2).map { _ in manager.allocate()! }  // [0, 1]
        let b = (0..<2).map { _ in manager.allocate()! }  // [2, 3]
        var parent = BlockManager.rootContent
        for (index, block) in a.enumerated() {
            parent = manager.register(block, parent: parent, tokens: run(index * 2, 2)[...])
        }
        parent = BlockManager.rootContent
        for (index, block) in b.enumerated() {
            parent = manager.register(block, parent: parent, tokens: run(100 + index * 2, 2)[...])
        }
        manager.release(b)
        manager.release(a)
        #expect(manager.evictionOrder == [3, 2, 1, 0])
        #expect(manager.usedCount == 0 && manager.cachedCount == 4 && manager.freeCount == 1)

        // The free block goes first, then cached ones from the front of the queue.
        #expect(manager.allocate() == 4 && manager.evictions == 0)
        #expect(manager.allocate() == 3 && manager.evictions == 1)
        #expect(manager.allocate() == 2 && manager.evictions == 2)
        #expect(manager.evictionOrder == [1, 0])
        #expect(!manager.isCached(3) && !manager.isCached(2))
        #expect(manager.cachedPrefix(run(100, 4), maxBlocks: 2).blocks == [])
        #expect(manager.cachedPrefix(run(0, 4), maxBlocks: 2).blocks == [0, 1])

        // A hit revives blocks out of the queue; released again they go to its back.
        manager.acquire([0])
        #expect(manager.evictionOrder == [1] && manager.referenceCount(0) == 1)
        manager.release([0])
        #expect(manager.evictionOrder == [1, 0])
        #expect(manager.unreferencedCount([0, 1, 4]) == 2)
    }

    @Test("an evicted parent takes its cached children out of reach, never onto other content")
    func evictedParentIsExact() {
        var manager = BlockManager(blockSize: 2, blockCount: 2)
        let parentBlock = manager.allocate()!
        let childBlock = manager.allocate()!
        let parentContent = manager.register(parentBlock, parent: BlockManager.rootContent, tokens: [1, 2])
        _ = manager.register(childBlock, parent: parentContent, tokens: [3, 4])
        manager.release([parentBlock])
        #expect(manager.allocate() == parentBlock && manager.evictions == 1)
        // The reused block now holds [7, 8]; the old child must not match behind it.
        _ = manager.register(parentBlock, parent: BlockManager.rootContent, tokens: [7, 8])
        #expect(manager.cachedPrefix([7, 8, 3, 4], maxBlocks: 2).blocks == [parentBlock])
        #expect(manager.cachedPrefix([1, 2, 3, 4], maxBlocks: 2).blocks == [])
    }
}
