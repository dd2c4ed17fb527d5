import KilnKernels
import KilnTensors
import Testing

/// The formats with 8-bit activation kernels.
let q8Types: [DType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]

/// Every instruction set level this CPU can run (the portable one always).
let q8Levels: [QuantKernels.ISA] = QuantKernels.ISA.allCases.filter { $0.rawValue <= QuantKernels.ISA.available.rawValue }

@Suite("8-bit activation kernels against the scalar reference")
struct Q8KernelTests {
    /// Random activations with the awkward cases: an all-zero block, exact ties at .5, one huge value per block.
    static func activations(tokens: Int, k: Int, seed: UInt64) -> [Float] {
        var rng = SeededRandom(seed: seed)
        var x = rng.floats(tokens * k, in: -2...2)
        if k >= 64 {
            for i in 0..<32 { x[i] = 0 }  // token 0, block 0
            for i in 32..<64 { x[i] = Float(i - 48) / 2 }  // ties: max 7.5 → d = 7.5/127, not exact, but halves
        }
        if tokens > 1 { x[k + 5] = 300 }
        return x
    }

    @Test("quantization: every level equals the scalar rule bit for bit")
    func quantize() {
        for k in [32, 64, 96, 576, 608, 4864] {
            let tokens = 3
            let x = Self.activations(tokens: tokens, k: k, seed: UInt64(k))
            for level in q8Levels {
                let q = Q8Activations(capacity: tokens, maxK: k)
                x.withUnsafeBufferPointer { q.quantize($0.baseAddress!, tokens: tokens, k: k, isa: level.rawValue) }
                x.withUnsafeBufferPointer { xp in
                    for t in 0..<tokens {
                        for b in 0..<(k / 32) {
                            let (d, ref) = QuantReference.quantizeBlockQ8(xp.baseAddress! + t * k + b * 32)
                            let got = q.block(token: t, b)
                            #expect(got.d.bitPattern == d.bitPattern, "\(level) k=\(k) t=\(t) b=\(b): d")
                            let values = (0..<32).map { q.value(token: t, b * 32 + $0) }
                            let expected = ref.map { Float($0) * d }
                            #expect(values == expected, "\(level) k=\(k) t=\(t) b=\(b): quants")
                            let lo = ref[0..<16].reduce(0) { $0 + Int($1) }
                            let hi = ref[16..<32].reduce(0) { $0 + Int($1) }
                            #expect(Int(got.sums.0) == lo && Int(got.sums.1) == hi, "\(level) k=\(k): block sums")
                            #expect(Int(got.sum) == lo + hi, "\(level) k=\(k): whole-block sum")
                            #expect(got.s == d * Float(lo + hi), "\(level) k=\(k): d·Σq")
                            // The packed kernels' copy: the same block, found through its group.
                            let grouped = q.grouped(token: t, b)
                            #expect(grouped.quants == ref, "\(level) k=\(k) t=\(t) b=\(b): grouped quants")
                            #expect(grouped.d.bitPattern == d.bitPattern && grouped.s == got.s, "\(level) k=\(k): grouped d, s")
                            #expect(Int(grouped.sum) == lo + hi, "\(level) k=\(k): grouped Σq")
                        }
                    }
                }
            }
        }
    }

    @Test("matmulQ8 against Σ dequant(w)·x̂ in Double", arguments: q8Types)
    func matmul(_ type: DType) {
        for k in testLengths(type) {
            for rows in [1, 3, 17] {
                for tokens in type.blockElements == 32 ? [1, 2, 3, 4, 5, 6, 7, 8, 9, 17] : [1, 2, 3, 4, 5, 9] {
                    check(type, k: k, rows: rows, tokens: tokens)
                }
            }
        }
    }

    func check(_ type: DType, k: Int, rows: Int, tokens: Int) {
        let w = RandomWeights(type, rows: rows + 2, k: k, seed: 17)
        let x = Self.activations(tokens: tokens, k: k, seed: UInt64(k * 7 + tokens))
        let q = Q8Activations(capacity: tokens, maxK: k)
        x.withUnsafeBufferPointer { q.quantize($0.baseAddress!, tokens: tokens, k: k) }
        let range = 1..<(1 + rows)  // leave the first and last rows out
        let stride = rows + 2
        for level in q8Levels {
            var y = [Float](repeating: -7, count: tokens * stride)
            w.withPointer { base in
                y.withUnsafeMutableBufferPointer { yp in
                    QuantKernels.matmulQ8(
                        type: type, weights: base, rowBytes: w.rowBytes, rows: range, x: q, y: yp.baseAddress!,
                        yStride: stride, isa: level.rawValue)
                }
                for t in 0..<tokens {
                    #expect(y[t * stride] == -7 && y[t * stride + rows + 1] == -7, "\(type) \(level): wrote outside rows")
                    for r in range {
                        let (ref, magnitude) = QuantReference.dotQ8(type, row: base + r * w.rowBytes, x: q, token: t)
                        let got = Double(y[t * stride + r])
                        #expect(
                            abs(got - ref) <= quantTolerance * magnitude + 1e-30,
                            "\(type) \(level) k=\(k) rows=\(rows) tokens=\(tokens) t=\(t) r=\(r): \(got) vs \(ref)")
                    }
                }
            }
        }
    }

    @Test("packed weights (AVX-512 layout) against Σ dequant(w)·x̂ in Double", arguments: q8Types)
    func packed(_ type: DType) throws {
        guard PackedMatrix.runs(type) else { return }  // packing is the AVX-512 path only
        let pool = ThreadPool(threads: 2)
        // 32-value formats: every size of a short last group (k = 32n: n = 1, 2, 3; 224: 7; 544, 2080: 1; 640: 4;
        // 2304: 8) as well as whole groups of 16 blocks.
        for k in testLengths(type) + (type.blockElements == 32 ? [224, 544, 640, 2080] : [2816]) {
            for rows in [1, 3, 17] {
                try checkPacked(type, k: k, rows: rows, tokens: type.blockElements == 32 ? [1, 2, 3, 4, 5, 6, 7, 8, 9, 17] : [1, 2, 3, 4, 5, 9],
                    pool: pool)
            }
        }
    }

    /// Prefill's shapes: row pairs and four-token tiles with a remainder on both sides, and (129 tokens of 2816
    /// values) more tokens than one L1 tile, so that the same (row, token) lands in differently shaped calls.
    @Test("packed weights: many rows and tokens, against the reference and each (row, token) alone", arguments: q8Types)
    func packedTiles(_ type: DType) throws {
        guard PackedMatrix.runs(type) else { return }
        let pool = ThreadPool(threads: 2)
        for k in type.blockElements == 32 ? [96, 2080] : [256, 2816] {
            for rows in [2, 4, 33] {
                try checkPacked(type, k: k, rows: rows, tokens: [6, 17, 129], pool: pool)
            }
        }
    }

    /// Rows 1...rows of a packed random matrix of rows + 2 against each token count: every result within the
    /// format's tolerance of the Double reference, bit-identical to the same row and token computed alone, and
    /// nothing written outside the rows.
    func checkPacked(_ type: DType, k: Int, rows: Int, tokens counts: [Int], pool: ThreadPool) throws {
        let w = RandomWeights(type, rows: rows + 2, k: k, seed: 29)
        let packed = try #require(
            w.withPointer {
                PackedMatrix(type: type, weights: $0, rowBytes: w.rowBytes, rows: rows + 2, k: k, pool: pool)
            })
        for tokens in counts {
            let x = Self.activations(tokens: tokens, k: k, seed: UInt64(k * 3 + tokens))
            // The batch is quantized with its tokens split across the pool; each token alone below on one thread.
            let q = Q8Activations(capacity: tokens, maxK: k)
            x.withUnsafeBufferPointer { q.quantize($0.baseAddress!, tokens: tokens, k: k, pool: pool) }
            let stride = rows + 2
            var y = [Float](repeating: -7, count: tokens * stride)
            y.withUnsafeMutableBufferPointer { packed.matmul(rows: 1..<(1 + rows), x: q, y: $0.baseAddress!, yStride: stride) }
            // Batch invariance: each (row, token) alone — one row, one token — gives the same bits.
            let alone = Q8Activations(capacity: 1, maxK: k)
            for t in 0..<tokens {
                x.withUnsafeBufferPointer { alone.quantize($0.baseAddress! + t * k, tokens: 1, k: k) }
                for r in 1..<(1 + rows) {
                    var single = [Float](repeating: 0, count: stride)  // y[r] for row r
                    single.withUnsafeMutableBufferPointer {
                        packed.matmul(rows: r..<(r + 1), x: alone, y: $0.baseAddress!, yStride: stride)
                    }
                    let one = single[r]
                    #expect(one.bitPattern == y[t * stride + r].bitPattern, "\(type) k=\(k) tokens=\(tokens) t=\(t) r=\(r): alone \(one) vs \(y[t * stride + r])")
                }
            }
            w.withPointer { base in
                for t in 0..<tokens {
                    #expect(y[t * stride] == -7 && y[t * stride + rows + 1] == -7, "\(type): wrote outside rows")
                    for r in 1..<(1 + rows) {
                        let (ref, magnitude) = QuantReference.dotQ8(type, row: base + r * w.rowBytes, x: q, token: t)
                        let got = Double(y[t * stride + r])
                        #expect(
                            abs(got - ref) <= quantTolerance * magnitude + 1e-30,
                            "\(type) packed k=\(k) rows=\(rows) tokens=\(tokens) t=\(t) r=\(r): \(got) vs \(ref)")
                    }
                }
            }
        }
    }

    /// The 8-bit activations' own error: |Σ w·x̂ - Σ w·x| ≤ Σ |w_i| · d_b / 2 (each x̂ within half a step of x).
    @Test("activation quantization error stays within half a step per value", arguments: q8Types)
    func activationError(_ type: DType) {
        let k = type.blockElements == 256 ? 1536 : 576
        let w = RandomWeights(type, rows: 4, k: k, seed: 23)
        let x = Self.activations(tokens: 2, k: k, seed: 5)
        let q = Q8Activations(capacity: 2, maxK: k)
        x.withUnsafeBufferPointer { q.quantize($0.baseAddress!, tokens: 2, k: k) }
        var y = [Float](repeating: 0, count: 2 * 4)
        w.withPointer { base in
            y.withUnsafeMutableBufferPointer { yp in
                QuantKernels.matmulQ8(
                    type: type, weights: base, rowBytes: w.rowBytes, rows: 0..<4, x: q, y: yp.baseAddress!, yStride: 4)
            }
        }
        x.withUnsafeBufferPointer { xp in
            for t in 0..<2 {
                for r in 0..<4 {
                    let (exact, magnitude) = w.reference(row: r, xp.baseAddress! + t * k)
                    var bound = 0.0
                    for i in 0..<k {
                        bound += Double(abs(w.values[r * k + i])) * Double(q.block(token: t, i / 32).d) / 2
                    }
                    let error = abs(Double(y[t * 4 + r]) - exact)
                    #expect(error <= bound + quantTolerance * magnitude, "\(type) t=\(t) r=\(r): \(error) > \(bound)")
                }
            }
        }
    }
}
