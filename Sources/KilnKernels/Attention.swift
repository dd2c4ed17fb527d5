/// Causal attention kernels: out = softmax(scale · q·Kᵀ) · V over a sequence's visible positions, as two passes
/// over the keys (scores, then a weighted sum of values) with a max-subtracted softmax. The caller passes the
/// window (the first visible position), so sliding windows cost nothing extra.
public enum Attention {}

extension Attention {
    /// One query head over positions `first ..< first + count` of one sequence whose positions live in blocks:
    /// position p is row `blockTable[p / blockSize] · blockSize + p % blockSize` of `keys`/`values` (rows `stride`
    /// floats apart, this head's KV slice starting at the pointers given). Scores and the weighted sum visit the
    /// positions in order, so the result does not depend on where the blocks are.
    public static func attendPaged(
        query q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int,
        blockTable: UnsafePointer<Int>, blockSize: Int, first: Int, count: Int, headDim: Int, scale: Float,
        scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>
    ) {
        @inline(__always) func row(_ p: Int) -> Int {
            blockTable[p / blockSize] &* blockSize &+ p % blockSize
        }
        for j in 0..<count {
            scores[j] = VectorKernels.dot(q, keys + row(first &+ j) &* stride, count: headDim) * scale
        }
        ActivationKernels.softmax(scores, count: count)
        out.update(repeating: 0, count: headDim)
        for j in 0..<count {
            VectorKernels.axpy(scores[j], values + row(first &+ j) &* stride, out, count: headDim)
        }
    }
}
