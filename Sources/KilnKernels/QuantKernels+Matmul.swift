import KilnTensors

// Prefill: Y[t, r] = dot(weight row r, X[t]) for a batch of tokens.
//
// Tokens are taken in tiles whose activations fit comfortably in L2 (~192 KiB); for each tile, weight rows are
// dequantized four at a time into a float32 scratch ([4, k]) and multiplied against every token of the tile by
// a 4-row x 4-token micro-kernel (16 SIMD16 accumulators, 8 loads per 16 FMAs). Weights are thus read and
// dequantized once per token tile, and the inner loop is a plain float32 GEMM.

extension QuantKernels {
    /// Floats of scratch that `matmul` needs for reduction length `k`.
    public static func matmulScratchCount(k: Int) -> Int { 4 &* k }

    /// Y[t * yStride + r] = dot(row r, X[t * xStride ..< t * xStride + k]) for t < `tokens` and r in `rows`.
    /// `scratch`, when given, must hold `matmulScratchCount(k:)` floats; otherwise a temporary one is used
    /// (on the stack when it fits).
    public static func matmul(
        type: DType, weights: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>, x: UnsafePointer<Float>,
        tokens: Int, k: Int, xStride: Int, y: UnsafeMutablePointer<Float>, yStride: Int,
        scratch: UnsafeMutablePointer<Float>? = nil
    ) {
        guard tokens > 0, !rows.isEmpty else { return }
        if tokens == 1 {
            matvec(type: type, weights: weights, rowBytes: rowBytes, rows: rows, x: x, k: k, y: y)
            return
        }
        let problem = MatmulProblem(
            type: type, weights: weights, rowBytes: rowBytes, rows: rows, x: x, tokens: tokens, k: k,
            xStride: xStride, y: y, yStride: yStride)
        if let scratch {
            problem.run(scratch: scratch)
        } else {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: matmulScratchCount(k: k)) {
                problem.run(scratch: $0.baseAddress!)
            }
        }
    }
}

struct MatmulProblem {
    let type: DType
    let weights: UnsafeRawPointer
    let rowBytes: Int
    let rows: Range<Int>
    let x: UnsafePointer<Float>
    let tokens: Int
    let k: Int
    let xStride: Int
    let y: UnsafeMutablePointer<Float>
    let yStride: Int

    /// Tokens per tile: activations of one tile stay within ~192 KiB, at least 4 and a multiple of 4.
    var tokenTile: Int {
        let fit = (192 &* 1024) / max(4 &* k, 1)
        return max(4, min(256, fit) & ~3)
    }

    func run(scratch w: UnsafeMutablePointer<Float>) {
        var t0 = 0
        while t0 < tokens {
            let t1 = min(tokens, t0 &+ tokenTile)
            var r = rows.lowerBound
            while r < rows.upperBound {
                let n = min(4, rows.upperBound &- r)
                for i in 0..<n {
                    QuantKernels.dequantizeRow(type, from: weights + (r &+ i) &* rowBytes, into: w + i &* k, count: k)
                }
                if n < 4 {
                    (w + n &* k).update(repeating: 0, count: (4 &- n) &* k)
                }
                var t = t0
                while t &+ 4 <= t1 {
                    tile4x4(w, rowBase: r, rowCount: n, token: t)
                    t &+= 4
                }
                while t < t1 {
                    tile4x1(w, rowBase: r, rowCount: n, token: t)
                    t &+= 1
                }
                r &+= n
            }
            t0 = t1
        }
    }

    /// Four rows of scratch (stride k) against tokens t..<t+4.
    @inline(__always)
    func tile4x4(_ w: UnsafePointer<Float>, rowBase: Int, rowCount: Int, token t: Int) {
        let x0 = x + t &* xStride
        let x1 = x0 + xStride
        let x2 = x1 + xStride
        let x3 = x2 + xStride
        var c0 = FourRows(), c1 = FourRows(), c2 = FourRows(), c3 = FourRows()
        var i = 0
        while i &+ 16 <= k {
            let w0 = loadFloats16(w + i)
            let w1 = loadFloats16(w + (k &+ i))
            let w2 = loadFloats16(w + (2 &* k &+ i))
            let w3 = loadFloats16(w + (3 &* k &+ i))
            c0.add(w0, w1, w2, w3, loadFloats16(x0 + i))
            c1.add(w0, w1, w2, w3, loadFloats16(x1 + i))
            c2.add(w0, w1, w2, w3, loadFloats16(x2 + i))
            c3.add(w0, w1, w2, w3, loadFloats16(x3 + i))
            i &+= 16
        }
        store(c0.sums(w, k, x0, from: i), rowBase, rowCount, t)
        store(c1.sums(w, k, x1, from: i), rowBase, rowCount, t &+ 1)
        store(c2.sums(w, k, x2, from: i), rowBase, rowCount, t &+ 2)
        store(c3.sums(w, k, x3, from: i), rowBase, rowCount, t &+ 3)
    }

    @inline(__always)
    func tile4x1(_ w: UnsafePointer<Float>, rowBase: Int, rowCount: Int, token t: Int) {
        let x0 = x + t &* xStride
        var c0 = FourRows(), c1 = FourRows()
        var i = 0
        while i &+ 32 <= k {
            c0.add(
                loadFloats16(w + i), loadFloats16(w + (k &+ i)), loadFloats16(w + (2 &* k &+ i)),
                loadFloats16(w + (3 &* k &+ i)), loadFloats16(x0 + i))
            let j = i &+ 16
            c1.add(
                loadFloats16(w + j), loadFloats16(w + (k &+ j)), loadFloats16(w + (2 &* k &+ j)),
                loadFloats16(w + (3 &* k &+ j)), loadFloats16(x0 + j))
            i &+= 32
        }
        if i &+ 16 <= k {
            c0.add(
                loadFloats16(w + i), loadFloats16(w + (k &+ i)), loadFloats16(w + (2 &* k &+ i)),
                loadFloats16(w + (3 &* k &+ i)), loadFloats16(x0 + i))
            i &+= 16
        }
        c0.merge(c1)
        store(c0.sums(w, k, x0, from: i), rowBase, rowCount, t)
    }

    @inline(__always)
    func store(_ sums: SIMD4<Float>, _ rowBase: Int, _ rowCount: Int, _ t: Int) {
        let out = y + (t &* yStride &+ rowBase)
        for r in 0..<rowCount {
            out[r] = sums[r]
        }
    }
}

/// Accumulators of one token against four weight rows.
struct FourRows {
    var r0 = SIMD16<Float>(), r1 = SIMD16<Float>(), r2 = SIMD16<Float>(), r3 = SIMD16<Float>()

    @inline(__always)
    mutating func add(
        _ w0: SIMD16<Float>, _ w1: SIMD16<Float>, _ w2: SIMD16<Float>, _ w3: SIMD16<Float>, _ x: SIMD16<Float>
    ) {
        r0 = r0.addingProduct(w0, x)
        r1 = r1.addingProduct(w1, x)
        r2 = r2.addingProduct(w2, x)
        r3 = r3.addingProduct(w3, x)
    }

    @inline(__always)
    mutating func merge(_ other: FourRows) {
        r0 += other.r0
        r1 += other.r1
        r2 += other.r2
        r3 += other.r3
    }

    /// The four dot products, finishing values from..<k (fewer than 16) with scalar code.
    @inline(__always)
    func sums(_ w: UnsafePointer<Float>, _ k: Int, _ x: UnsafePointer<Float>, from start: Int) -> SIMD4<Float> {
        var s = SIMD4(horizontalSum(r0), horizontalSum(r1), horizontalSum(r2), horizontalSum(r3))
        var i = start
        while i < k {
            s += SIMD4(w[i], w[k &+ i], w[2 &* k &+ i], w[3 &* k &+ i]) * x[i]
            i &+= 1
        }
        return s
    }
}
