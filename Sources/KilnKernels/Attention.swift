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

    /// `attendPaged` over a cache stored as `dtype` (`stride` elements between rows, the pointers at this head's
    /// slice). Each element is widened to float32 as it is read; with `.f32` this is `attendPaged` itself.
    public static func attendPaged(
        query q: UnsafePointer<Float>, keys: UnsafeRawPointer, values: UnsafeRawPointer, dtype: KVCacheDType,
        stride: Int, blockTable: UnsafePointer<Int>, blockSize: Int, first: Int, count: Int, headDim: Int,
        scale: Float, scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>
    ) {
        switch dtype {
        case .f32:
            attendPaged(
                query: q, keys: keys.assumingMemoryBound(to: Float.self),
                values: values.assumingMemoryBound(to: Float.self), stride: stride, blockTable: blockTable,
                blockSize: blockSize, first: first, count: count, headDim: headDim, scale: scale, scores: scores,
                out: out)
        case .f16:
            attendPagedWidening(
                F16Element.self, query: q, keys: keys, values: values, stride: stride, blockTable: blockTable,
                blockSize: blockSize, first: first, count: count, headDim: headDim, scale: scale, scores: scores,
                out: out)
        case .bf16:
            attendPagedWidening(
                BF16Element.self, query: q, keys: keys, values: values, stride: stride, blockTable: blockTable,
                blockSize: blockSize, first: first, count: count, headDim: headDim, scale: scale, scores: scores,
                out: out)
        }
    }

    /// `attendPaged` with 16-bit rows: the same dot and axpy arithmetic as `VectorKernels.dot`/`axpy`, reading
    /// through `E`.
    @inline(__always)
    static func attendPagedWidening<E: KVElement>(
        _: E.Type, query q: UnsafePointer<Float>, keys: UnsafeRawPointer, values: UnsafeRawPointer, stride: Int,
        blockTable: UnsafePointer<Int>, blockSize: Int, first: Int, count: Int, headDim n: Int, scale: Float,
        scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>
    ) {
        @inline(__always) func row(_ p: Int) -> Int {
            blockTable[p / blockSize] &* blockSize &+ p % blockSize
        }
        for j in 0..<count {
            let k = keys + row(first &+ j) &* stride &* E.bytes
            var s0 = SIMD16<Float>(), s1 = SIMD16<Float>()
            var i = 0
            while i &+ 32 <= n {
                s0 = s0.addingProduct(loadFloats16(q + i), E.load16(k + i &* E.bytes))
                s1 = s1.addingProduct(loadFloats16(q + (i &+ 16)), E.load16(k + (i &+ 16) &* E.bytes))
                i &+= 32
            }
            if i &+ 16 <= n {
                s0 = s0.addingProduct(loadFloats16(q + i), E.load16(k + i &* E.bytes))
                i &+= 16
            }
            var sum = horizontalSum(s0 + s1)
            while i < n {
                sum += q[i] * E.load1(k + i &* E.bytes)
                i &+= 1
            }
            scores[j] = sum * scale
        }
        ActivationKernels.softmax(scores, count: count)
        out.update(repeating: 0, count: n)
        for j in 0..<count {
            let v = values + row(first &+ j) &* stride &* E.bytes
            let a = SIMD16<Float>(repeating: scores[j])
            var i = 0
            while i &+ 16 <= n {
                storeFloats16(loadFloats16(out + i).addingProduct(a, E.load16(v + i &* E.bytes)), out + i)
                i &+= 16
            }
            while i < n {
                out[i] = out[i].addingProduct(scores[j], E.load1(v + i &* E.bytes))
                i &+= 1
            }
        }
    }
}
