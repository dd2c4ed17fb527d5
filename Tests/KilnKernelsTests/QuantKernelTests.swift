import KilnKernels
import KilnTensors
import Testing

/// Float32 accumulation against a Double reference: the error is bounded relative to Σ |w·x|.
let quantTolerance = 1e-5

@Suite("Quantized kernels against the scalar reference")
struct QuantKernelTests {
    @Test("dequantizeRow equals Dequantize.row bit for bit", arguments: allTypes)
    func fastDequantize(_ type: DType) {
        for k in testLengths(type) + (type.isQuantized ? [] : [1, 3, 17, 33, 129]) {
            let w = RandomWeights(type, rows: 2, k: k, seed: 11)
            var got = [Float](repeating: .nan, count: 2 * k)
            w.withPointer { src in
                got.withUnsafeMutableBufferPointer { dst in
                    for r in 0..<2 {
                        QuantKernels.dequantizeRow(
                            type, from: src + r * w.rowBytes, into: dst.baseAddress! + r * k, count: k)
                    }
                }
            }
            let differ = (0..<(2 * k)).filter { got[$0].bitPattern != w.values[$0].bitPattern }
            if let first = differ.first {
                Issue.record(
                    "\(type) k=\(k): \(differ.count) values differ, first \(got[first]) vs \(w.values[first]) (\(got[first].bitPattern) vs \(w.values[first].bitPattern))"
                )
            }
        }
    }

    @Test("dot", arguments: allTypes)
    func dot(_ type: DType) {
        var rng = SeededRandom(seed: 5)
        for k in testLengths(type) + (type.isQuantized ? [] : [1, 3, 17, 129, 1023]) {
            let w = RandomWeights(type, rows: 3, k: k, seed: 3)
            let x = rng.floats(k)
            x.withUnsafeBufferPointer { xp in
                w.withPointer { base in
                    for r in 0..<3 {
                        let got = QuantKernels.dot(type, row: base + r * w.rowBytes, x: xp.baseAddress!, count: k)
                        let (ref, magnitude) = w.reference(row: r, xp.baseAddress!)
                        #expect(abs(Double(got) - ref) <= quantTolerance * magnitude, "\(type) k=\(k) row \(r)")
                        let scalar = QuantReference.dot(type, row: base + r * w.rowBytes, x: xp.baseAddress!, count: k)
                        #expect(abs(scalar - ref) <= 1e-12 * max(magnitude, 1))
                    }
                }
            }
        }
    }

    @Test("matvec writes exactly the requested rows", arguments: allTypes)
    func matvec(_ type: DType) {
        var rng = SeededRandom(seed: 7)
        for k in testLengths(type) {
            for rows in [1, 3, 17] {
                let w = RandomWeights(type, rows: rows + 2, k: k, seed: 13)
                let x = rng.floats(k)
                let range = 1..<(1 + rows)  // leave the first and last rows out
                var y = [Float](repeating: -7, count: rows + 2)
                x.withUnsafeBufferPointer { xp in
                    w.withPointer { base in
                        y.withUnsafeMutableBufferPointer { yp in
                            QuantKernels.matvec(
                                type: type, weights: base, rowBytes: w.rowBytes, rows: range, x: xp.baseAddress!,
                                k: k, y: yp.baseAddress!)
                        }
                    }
                    #expect(y[0] == -7 && y[rows + 1] == -7, "\(type) k=\(k): wrote outside rows")
                    for r in range {
                        let (ref, magnitude) = w.reference(row: r, xp.baseAddress!)
                        #expect(abs(Double(y[r]) - ref) <= quantTolerance * magnitude, "\(type) k=\(k) row \(r)")
                    }
                }
            }
        }
    }

    @Test("matmul over token tiles", arguments: allTypes)
    func matmul(_ type: DType) {
        var rng = SeededRandom(seed: 9)
        let lengths = testLengths(type).filter { [32, 96, 256, 576, 2304].contains($0) }
        for k in lengths {
            for rows in [1, 3, 17] {
                let w = RandomWeights(type, rows: rows + 1, k: k, seed: 17)
                for tokens in [1, 2, 5, 17, 33] {
                    checkMatmul(w, rows: 1..<(1 + rows), tokens: tokens, rng: &rng, scratch: tokens % 2 == 0)
                }
            }
        }
    }

    @Test("matmul with many tokens and long rows spans several token tiles")
    func matmulSeveralTiles() {
        var rng = SeededRandom(seed: 21)
        for type in [DType.q4_1, .q4_K, .q8_0, .f32] {
            let w = RandomWeights(type, rows: 6, k: 4864, seed: 23)
            checkMatmul(w, rows: 0..<6, tokens: 90, rng: &rng, scratch: false)
        }
    }

    func checkMatmul(_ w: RandomWeights, rows: Range<Int>, tokens: Int, rng: inout SeededRandom, scratch: Bool) {
        let k = w.k
        let xStride = k + 5
        let yStride = w.rows + 3
        let x = rng.floats(tokens * xStride)
        var y = [Float](repeating: -7, count: tokens * yStride)
        var buffer = [Float](repeating: .nan, count: QuantKernels.matmulScratchCount(k: k))
        x.withUnsafeBufferPointer { xp in
            w.withPointer { base in
                y.withUnsafeMutableBufferPointer { yp in
                    buffer.withUnsafeMutableBufferPointer { sp in
                        QuantKernels.matmul(
                            type: w.type, weights: base, rowBytes: w.rowBytes, rows: rows, x: xp.baseAddress!,
                            tokens: tokens, k: k, xStride: xStride, y: yp.baseAddress!, yStride: yStride,
                            scratch: scratch ? sp.baseAddress! : nil)
                    }
                }
            }
            var worst = 0.0
            for t in 0..<tokens {
                for r in 0..<yStride {
                    let got = y[t * yStride + r]
                    if !rows.contains(r) {
                        #expect(got == -7, "\(w.type) wrote outside rows at t=\(t) r=\(r)")
                        continue
                    }
                    let (ref, magnitude) = w.reference(row: r, xp.baseAddress! + t * xStride)
                    worst = max(worst, abs(Double(got) - ref) / magnitude)
                }
            }
            #expect(worst <= quantTolerance, "\(w.type) k=\(k) rows=\(rows) tokens=\(tokens): error \(worst)")
        }
    }
}
