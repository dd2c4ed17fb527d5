import KilnKernels
import Testing

@Suite("Attention against the Double reference")
struct AttentionTests {
    @Test("attendGroup: every head of a GQA group", arguments: [64, 128, 256])
    func group(headDim: Int) {
        var rng = SeededRandom(seed: UInt64(headDim))
        for heads in [1, 3, 4, 7] {
            for count in [1, 2, 3, 4, 5, 7, 33, 130] {
                let stride = headDim * 2 + 16  // two KV heads plus padding: rows are not contiguous
                let q = rng.floats(heads * headDim)
                let k = rng.floats(count * stride, in: -2...2)
                let v = rng.floats(count * stride)
                var out = [Float](repeating: .nan, count: heads * headDim)
                var scores = [Float](repeating: 0, count: 4 * (count + 3))
                let scale = 1 / Float(headDim).squareRoot()
                q.withUnsafeBufferPointer { qp in
                    k.withUnsafeBufferPointer { kp in
                        v.withUnsafeBufferPointer { vp in
                            out.withUnsafeMutableBufferPointer { op in
                                scores.withUnsafeMutableBufferPointer { sp in
                                    Attention.attendGroup(
                                        queries: qp.baseAddress!, heads: heads, keys: kp.baseAddress! + headDim,
                                        values: vp.baseAddress! + headDim, stride: stride, count: count,
                                        headDim: headDim, scale: scale, scores: sp.baseAddress!, out: op.baseAddress!)
                                }
                            }
                            for h in 0..<heads {
                                let ref = VectorReference.attention(
                                    query: qp.baseAddress! + h * headDim, keys: kp.baseAddress! + headDim,
                                    values: vp.baseAddress! + headDim, stride: stride, count: count,
                                    headDim: headDim, scale: scale)
                                let worst = (0..<headDim).map { abs(Double(out[h * headDim + $0]) - ref[$0]) }.max()!
                                #expect(worst <= 1e-5, "heads=\(heads) count=\(count) head \(h): error \(worst)")
                            }
                        }
                    }
                }
            }
        }
    }
}
