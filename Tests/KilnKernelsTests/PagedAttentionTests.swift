import KilnKernels
import Testing

/// Paged attention against a Double reference over the same positions laid out contiguously: the block table
/// (shuffled, so blocks are out of order in memory) must change nothing but where rows are read.
@Suite struct PagedAttentionTests {
    @Test(arguments: [(64, 1, 0, 1), (64, 16, 0, 37), (128, 4, 5, 29), (256, 8, 17, 64)])
    func matchesContiguousReference(headDim: Int, blockSize: Int, first: Int, end: Int) {
        var rng = SeededRandom(seed: UInt64(headDim &* 31 &+ end))
        let blocks = (end + blockSize - 1) / blockSize
        let slots = blocks * blockSize
        let stride = headDim + 8  // rows wider than one head, as in a [slots, kvHeads · headDim] cache
        var table = Array(0..<blocks)
        table.shuffle(using: &rng)
        let keys = rng.floats(slots * stride)
        let values = rng.floats(slots * stride)
        let query = rng.floats(headDim)
        let scale = 1 / Float(headDim).squareRoot()
        var scores = [Float](repeating: 0, count: end)
        var out = [Float](repeating: 0, count: headDim)
        table.withUnsafeBufferPointer { t in
            Attention.attendPaged(
                query: query, keys: keys, values: values, stride: stride, blockTable: t.baseAddress!,
                blockSize: blockSize, first: first, count: end - first, headDim: headDim, scale: scale,
                scores: &scores, out: &out)
        }
        // Reference in Double over the positions in order, reading each through the table.
        let rows = (first..<end).map { p in table[p / blockSize] * blockSize + p % blockSize }
        let logits = rows.map { r in (0..<headDim).reduce(0.0) { $0 + Double(query[$1]) * Double(keys[r * stride + $1]) } * Double(scale) }
        let top = logits.max()!
        let weights = logits.map { Foundation.exp($0 - top) }
        let total = weights.reduce(0, +)
        for i in 0..<headDim {
            let expected = zip(weights, rows).reduce(0.0) { $0 + $1.0 / total * Double(values[$1.1 * stride + i]) }
            #expect(abs(Double(out[i]) - expected) <= 1e-5 * max(1, abs(expected)), "dim \(i)")
        }
    }
}

import Foundation
