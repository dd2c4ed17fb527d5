import KilnKernels
import Testing

@Suite("Thread pool loops")
struct ThreadPoolTests {
    /// parallelChunks hands out every index exactly once, in non-empty ranges that start on a multiple of the
    /// granularity, to valid thread indices: checked against a per-index count of the ranges each thread saw, for
    /// counts around the chunk boundaries.
    @Test(arguments: [1, 2, 3])
    func chunksCoverEveryIndexOnce(threads: Int) {
        let pool = ThreadPool(threads: threads)
        // One slot per thread (each thread appends only to its own) and one for out-of-range thread indices.
        let seen = UnsafeMutablePointer<[Range<Int>]>.allocate(capacity: threads + 1)
        seen.initialize(repeating: [], count: threads + 1)
        defer {
            seen.deinitialize(count: threads + 1)
            seen.deallocate()
        }
        for granularity in [1, 16] {
            for count in [1, 2, 15, 16, 17, 100, 960, 1536, 49152] {
                for i in 0...threads { seen[i] = [] }
                pool.parallelChunks(count, granularity: granularity) { range, thread in
                    seen[thread >= 0 && thread < threads ? thread : threads].append(range)
                }
                #expect(seen[threads].isEmpty, "a chunk ran on an invalid thread index")
                var hits = [Int](repeating: 0, count: count)
                for t in 0...threads {
                    for range in seen[t] {
                        #expect(!range.isEmpty && range.lowerBound % granularity == 0, "range \(range)")
                        for i in range where i >= 0 && i < count { hits[i] += 1 }
                    }
                }
                let wrong = (0..<count).filter { hits[$0] != 1 }
                #expect(wrong.isEmpty, "threads \(threads) count \(count) granularity \(granularity): \(wrong.prefix(5))")
            }
        }
    }
}
