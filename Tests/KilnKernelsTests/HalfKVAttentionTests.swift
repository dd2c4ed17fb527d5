import Foundation
import KilnKernels
import Testing

/// Attention over a 16-bit KV cache. Oracles: the storage formats' rounding computed here in Double (nearest
/// representable value, ties to the even significand) and a Double attention over the rounded values; and, for
/// batch invariance, the same kernel over the same positions copied contiguously (bit for bit).
@Suite struct HalfKVAttentionTests {
    /// The value of `x` in `dtype`, by brute force: the two neighbours on the format's grid around x, the nearer
    /// one (the even one on a tie). Finite, in-range x only.
    static func rounded(_ x: Float, _ dtype: KVCacheDType) -> Float {
        switch dtype {
        case .f32: return x
        case .bf16:
            let down = Float(bitPattern: x.bitPattern & 0xffff_0000)
            let up = Float(bitPattern: (x.bitPattern & 0xffff_0000) &+ 0x1_0000)
            return nearer(x, down, up, downIsEven: (x.bitPattern >> 16) & 1 == 0)
        case .f16:
            // binary16: 10 fraction bits, exponents -14...15 (subnormals below 2^-14).
            if x == 0 { return x }
            let e = max(Int(Foundation.floor(Foundation.log2(Double(abs(x))))), -14)
            let ulp = Foundation.pow(2.0, Double(e - 10))
            let steps = Double(x) / ulp
            let down = Foundation.floor(steps) * ulp
            let up = down + ulp
            let evenDown = Int(Foundation.floor(steps)) % 2 == 0
            let pick: Double
            if abs(Double(x) - down) < abs(up - Double(x)) { pick = down }
            else if abs(Double(x) - down) > abs(up - Double(x)) { pick = up }
            else { pick = evenDown ? down : up }
            return Float(min(max(pick, -65504), 65504))
        }
    }

    static func nearer(_ x: Float, _ down: Float, _ up: Float, downIsEven: Bool) -> Float {
        let a = abs(Double(x) - Double(down)), b = abs(Double(up) - Double(x))
        if a != b { return a < b ? down : up }
        return downIsEven ? down : up
    }

    /// Rows of `floats` stored in `dtype` with `KVCacheDType.store`.
    static func stored(_ floats: [Float], _ dtype: KVCacheDType) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: floats.count * dtype.bytes)
        floats.withUnsafeBufferPointer { f in
            bytes.withUnsafeMutableBytes { b in dtype.store(f.baseAddress!, count: floats.count, into: b.baseAddress!) }
        }
        return bytes
    }

    @Test(arguments: [KVCacheDType.f16, .bf16])
    func storeRoundsToNearestEven(dtype: KVCacheDType) {
        var rng = SeededRandom(seed: 7)
        // Ordinary values, tiny ones (f16 subnormals), exact ties between two grid points, and large ones.
        var xs = rng.floats(4000, in: -8...8) + rng.floats(200, in: -1e-5...1e-5) + rng.floats(200, in: -60000...60000)
        xs += [0, -0, 1, -1, 65504, 1 + 1.0 / 2048, 1 + 3.0 / 2048, 1 + 1.0 / 256, 1 + 3.0 / 256, 2.5e-8]
        let bytes = Self.stored(xs, dtype)
        bytes.withUnsafeBytes { b in
            for (i, x) in xs.enumerated() {
                let got = dtype.load(b.baseAddress!, index: i)
                #expect(got == Self.rounded(x, dtype), "\(dtype) \(x): \(got)")
            }
        }
        if dtype == .f16 {
            let big = Self.stored([1e6, -1e6, .infinity, .nan], .f16)
            big.withUnsafeBytes { b in
                #expect(KVCacheDType.f16.load(b.baseAddress!, index: 0) == 65504)
                #expect(KVCacheDType.f16.load(b.baseAddress!, index: 1) == -65504)
                #expect(KVCacheDType.f16.load(b.baseAddress!, index: 2) == 65504)
                #expect(KVCacheDType.f16.load(b.baseAddress!, index: 3).isNaN)
            }
        } else {
            let special = Self.stored([.infinity, .nan, 3e38], .bf16)
            special.withUnsafeBytes { b in
                #expect(KVCacheDType.bf16.load(b.baseAddress!, index: 0) == .infinity)
                #expect(KVCacheDType.bf16.load(b.baseAddress!, index: 1).isNaN)
                #expect(KVCacheDType.bf16.load(b.baseAddress!, index: 2) == Self.rounded(3e38, .bf16))
            }
        }
    }

    /// The grouped kernel on a 16-bit cache through a shuffled block table: within float rounding of the Double
    /// reference over the rounded keys and values, and bit-identical to the same kernel over the positions copied
    /// contiguously (in order, one block).
    @Test(arguments: [
        (KVCacheDType.f16, 64, 3, 1, 0, 1), (.f16, 64, 5, 16, 0, 37), (.bf16, 128, 2, 3, 5, 29), (.f16, 256, 4, 8, 17, 64),
        (.bf16, 64, 7, 16, 2, 131), (.f16, 128, 1, 5, 0, 6),
    ])
    func grouped(dtype: KVCacheDType, headDim: Int, heads: Int, blockSize: Int, first: Int, end: Int) {
        var rng = SeededRandom(seed: UInt64(headDim &* 13 &+ end &+ heads))
        let blocks = (end + blockSize - 1) / blockSize
        let slots = blocks * blockSize
        let stride = 2 * headDim + 8  // two KV heads plus padding; the kernel reads the second
        var table = Array(0..<blocks)
        table.shuffle(using: &rng)
        let keys = rng.floats(slots * stride, in: -3...3)
        let values = rng.floats(slots * stride)
        let queries = rng.floats(heads * headDim)
        let scale = 1 / Float(headDim).squareRoot()
        let count = end - first
        let (k16, v16) = (Self.stored(keys, dtype), Self.stored(values, dtype))
        var scores = [Float](repeating: 0, count: 4 * (count + 4))
        var paged = [Float](repeating: .nan, count: heads * headDim)
        let offset = headDim * dtype.bytes
        k16.withUnsafeBytes { k in
            v16.withUnsafeBytes { v in
                table.withUnsafeBufferPointer { t in
                    Attention.attendGroupPaged(
                        queries: queries, heads: heads, keys: k.baseAddress! + offset, values: v.baseAddress! + offset,
                        dtype: dtype, stride: stride, blockTable: t.baseAddress!, blockSize: blockSize, first: first,
                        count: count, headDim: headDim, scale: scale, scores: &scores, out: &paged)
                }
            }
        }
        let rows = (first..<end).map { p in table[p / blockSize] * blockSize + p % blockSize }
        // The same rows, contiguous, through a one-block table.
        var ck = [UInt8](), cv = [UInt8]()
        for r in rows {
            ck += k16[(r * stride * dtype.bytes)..<((r + 1) * stride * dtype.bytes)]
            cv += v16[(r * stride * dtype.bytes)..<((r + 1) * stride * dtype.bytes)]
        }
        var contiguous = [Float](repeating: .nan, count: heads * headDim)
        ck.withUnsafeBytes { k in
            cv.withUnsafeBytes { v in
                [0].withUnsafeBufferPointer { t in
                    Attention.attendGroupPaged(
                        queries: queries, heads: heads, keys: k.baseAddress! + offset, values: v.baseAddress! + offset,
                        dtype: dtype, stride: stride, blockTable: t.baseAddress!, blockSize: count, first: 0,
                        count: count, headDim: headDim, scale: scale, scores: &scores, out: &contiguous)
                }
            }
        }
        #expect(paged.map(\.bitPattern) == contiguous.map(\.bitPattern))
        let rk = keys.map { Self.rounded($0, dtype) }, rv = values.map { Self.rounded($0, dtype) }
        for h in 0..<heads {
            let ref = Self.reference(
                query: Array(queries[(h * headDim)..<((h + 1) * headDim)]), keys: rk, values: rv, rows: rows,
                base: headDim, stride: stride, headDim: headDim, scale: scale)
            let worst = (0..<headDim).map { abs(Double(paged[h * headDim + $0]) - ref[$0]) / max(1, abs(ref[$0])) }.max()!
            #expect(worst <= 1e-5, "\(dtype) head \(h): \(worst)")
        }
    }

    /// The per-head kernel (head sizes that are not multiples of 64) on a 16-bit cache, at sizes with 16- and
    /// 1-element tails, against the Double reference; and with `.f32` bit-identical to the float32 entry point.
    @Test(arguments: [(KVCacheDType.f16, 40, 3, 0, 11), (.bf16, 56, 4, 2, 23), (.f16, 17, 1, 0, 5), (.bf16, 80, 16, 0, 33)])
    func perHead(dtype: KVCacheDType, headDim: Int, blockSize: Int, first: Int, end: Int) {
        var rng = SeededRandom(seed: UInt64(headDim &* 5 &+ end))
        let blocks = (end + blockSize - 1) / blockSize
        let slots = blocks * blockSize
        let stride = headDim + 3
        var table = Array(0..<blocks)
        table.shuffle(using: &rng)
        let keys = rng.floats(slots * stride, in: -3...3)
        let values = rng.floats(slots * stride)
        let query = rng.floats(headDim)
        let scale = 1 / Float(headDim).squareRoot()
        var scores = [Float](repeating: 0, count: end)
        var out = [Float](repeating: .nan, count: headDim)
        let (k16, v16) = (Self.stored(keys, dtype), Self.stored(values, dtype))
        k16.withUnsafeBytes { k in
            v16.withUnsafeBytes { v in
                table.withUnsafeBufferPointer { t in
                    Attention.attendPaged(
                        query: query, keys: k.baseAddress!, values: v.baseAddress!, dtype: dtype, stride: stride,
                        blockTable: t.baseAddress!, blockSize: blockSize, first: first, count: end - first,
                        headDim: headDim, scale: scale, scores: &scores, out: &out)
                }
            }
        }
        let rows = (first..<end).map { p in table[p / blockSize] * blockSize + p % blockSize }
        let ref = Self.reference(
            query: query, keys: keys.map { Self.rounded($0, dtype) }, values: values.map { Self.rounded($0, dtype) },
            rows: rows, base: 0, stride: stride, headDim: headDim, scale: scale)
        let worst = (0..<headDim).map { abs(Double(out[$0]) - ref[$0]) / max(1, abs(ref[$0])) }.max()!
        #expect(worst <= 1e-5, "\(dtype) headDim \(headDim): \(worst)")

        var viaRaw = [Float](repeating: .nan, count: headDim)
        var viaFloat = [Float](repeating: .nan, count: headDim)
        keys.withUnsafeBytes { k in
            values.withUnsafeBytes { v in
                table.withUnsafeBufferPointer { t in
                    Attention.attendPaged(
                        query: query, keys: k.baseAddress!, values: v.baseAddress!, dtype: .f32, stride: stride,
                        blockTable: t.baseAddress!, blockSize: blockSize, first: first, count: end - first,
                        headDim: headDim, scale: scale, scores: &scores, out: &viaRaw)
                    Attention.attendPaged(
                        query: query, keys: keys, values: values, stride: stride, blockTable: t.baseAddress!,
                        blockSize: blockSize, first: first, count: end - first, headDim: headDim, scale: scale,
                        scores: &scores, out: &viaFloat)
                }
            }
        }
        #expect(viaRaw.map(\.bitPattern) == viaFloat.map(\.bitPattern))
    }

    static func reference(
        query: [Float], keys: [Float], values: [Float], rows: [Int], base: Int, stride: Int, headDim: Int, scale: Float
    ) -> [Double] {
        let logits = rows.map { r in
            (0..<headDim).reduce(0.0) { $0 + Double(query[$1]) * Double(keys[r * stride + base + $1]) } * Double(scale)
        }
        let top = logits.max()!
        let weights = logits.map { Foundation.exp($0 - top) }
        let total = weights.reduce(0, +)
        return (0..<headDim).map { i in
            zip(weights, rows).reduce(0.0) { $0 + $1.0 / total * Double(values[$1.1 * stride + base + i]) }
        }
    }
}
