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

    /// The grouped kernel through a shuffled block table gives exactly (bit for bit) what `attendGroup` gives over
    /// the same positions copied contiguously — the property that lets a sequence's attention ignore where its
    /// blocks are and what shares its batch — and stays within float rounding of the Double reference.
    @Test(arguments: [(64, 3, 1, 0, 1), (64, 5, 16, 0, 37), (128, 2, 4, 5, 29), (256, 4, 8, 17, 64), (64, 4, 3, 2, 40)])
    func groupedMatchesContiguousGroupExactly(headDim: Int, heads: Int, blockSize: Int, first: Int, end: Int) {
        var rng = SeededRandom(seed: UInt64(headDim &* 17 &+ end &+ heads))
        let blocks = (end + blockSize - 1) / blockSize
        let slots = blocks * blockSize
        let stride = headDim + 8
        var table = Array(0..<blocks)
        table.shuffle(using: &rng)
        let keys = rng.floats(slots * stride)
        let values = rng.floats(slots * stride)
        let queries = rng.floats(heads * headDim)
        let scale = 1 / Float(headDim).squareRoot()
        let count = end - first
        var scores = [Float](repeating: 0, count: 4 * (count + 4))
        var paged = [Float](repeating: 0, count: heads * headDim)
        table.withUnsafeBufferPointer { t in
            Attention.attendGroupPaged(
                queries: queries, heads: heads, keys: keys, values: values, stride: stride, blockTable: t.baseAddress!,
                blockSize: blockSize, first: first, count: count, headDim: headDim, scale: scale, scores: &scores,
                out: &paged)
        }
        let rows = (first..<end).map { p in table[p / blockSize] * blockSize + p % blockSize }
        var contiguousKeys = [Float](repeating: 0, count: count * stride)
        var contiguousValues = [Float](repeating: 0, count: count * stride)
        for (j, r) in rows.enumerated() {
            for i in 0..<stride {
                contiguousKeys[j * stride + i] = keys[r * stride + i]
                contiguousValues[j * stride + i] = values[r * stride + i]
            }
        }
        var contiguous = [Float](repeating: 0, count: heads * headDim)
        Attention.attendGroup(
            queries: queries, heads: heads, keys: contiguousKeys, values: contiguousValues, stride: stride, count: count,
            headDim: headDim, scale: scale, scores: &scores, out: &contiguous)
        #expect(paged.map(\.bitPattern) == contiguous.map(\.bitPattern))
        for h in 0..<heads {
            let q = Array(queries[(h * headDim)..<((h + 1) * headDim)])
            let logits = rows.map { r in (0..<headDim).reduce(0.0) { $0 + Double(q[$1]) * Double(keys[r * stride + $1]) } * Double(scale) }
            let top = logits.max()!
            let weights = logits.map { Foundation.exp($0 - top) }
            let total = weights.reduce(0, +)
            for i in 0..<headDim {
                let expected = zip(weights, rows).reduce(0.0) { $0 + $1.0 / total * Double(values[$1.1 * stride + i]) }
                #expect(abs(Double(paged[h * headDim + i]) - expected) <= 1e-5 * max(1, abs(expected)), "head \(h) dim \(i)")
            }
        }
    }
}

import Foundation
