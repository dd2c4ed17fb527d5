import KilnKernels
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct HugePagesTests {
    /// /proc/buddyinfo lists, per zone, the free blocks of 2^order 4 KiB pages for orders 0 through 10; only
    /// orders 9 (2 MiB) and 10 (4 MiB) can back a huge page without compaction.
    @Test func countsOnlyBlocksOfTwoMebibytesOrMore() {
        let text = """
            Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 
            Node 0, zone    DMA32     39     32     28     28     23     17     17      9      5      3    748 
            Node 0, zone   Normal  14865  17878   8503   6684   3644   3012   3363   2083    847    502   1174 

            """
        let mib = 1 << 20
        let expected = (1 + 3 + 502) * 2 * mib + (3 + 748 + 1174) * 4 * mib
        #expect(HugePages.freeHugeBlockBytes(buddyinfo: text) == expected)
        #expect(HugePages.freeHugeBlockBytes(buddyinfo: "") == 0)
        #expect(HugePages.freeHugeBlockBytes(buddyinfo: "Node 0, zone Normal 5 4 3") == 0)
    }

    @Test func asksOnlyForWhatFreeBlocksCanBack() throws {
        #expect(!HugePages.worthAsking(bytes: HugePages.size - 1), "a matrix under 2 MiB cannot fill a huge page")
        let available = try #require(HugePages.freeHugeBlockBytes())
        #expect(!HugePages.worthAsking(bytes: available + 1), "more than the free 2 MiB blocks would need compaction")
        let memory = try #require(HugePages.allocate(bytes: 3 * HugePages.size))
        memory.initializeMemory(as: UInt8.self, repeating: 7, count: 3 * HugePages.size)
        #expect(memory.load(fromByteOffset: 3 * HugePages.size - 1, as: UInt8.self) == 7)
        free(memory)
    }

    /// Matrices under half a 32 MiB region are carved from a shared huge-page region, one after another; larger
    /// ones get memory of their own.
    @Test(.enabled(if: HugePages.worthAsking(bytes: 64 << 20)))
    func smallMatricesShareARegion() throws {
        let a = try #require(HugePages.allocateShared(bytes: 1000))
        let b = try #require(HugePages.allocateShared(bytes: 5000))
        #expect(a.region != nil && b.region != nil)
        #expect(Int(bitPattern: a.memory) % 64 == 0 && Int(bitPattern: b.memory) % 64 == 0)
        // Adjacent, 1000 rounded up to 64 bytes, unless a filled its region to the end.
        #expect(a.region !== b.region || b.memory == a.memory + 1024)
        a.memory.initializeMemory(as: UInt8.self, repeating: 1, count: 1000)
        b.memory.initializeMemory(as: UInt8.self, repeating: 2, count: 5000)
        #expect(a.memory.load(fromByteOffset: 999, as: UInt8.self) == 1)
        #expect(b.memory.load(fromByteOffset: 4999, as: UInt8.self) == 2)
        let big = try #require(HugePages.allocateShared(bytes: (16 << 20) + 1))
        #expect(big.region == nil, "a matrix over half a region has memory of its own")
        free(big.memory)
    }
}
