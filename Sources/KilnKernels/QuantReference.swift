import KilnTensors

/// Scalar references for `QuantKernels`: dequantize with `Dequantize.row`, accumulate in Double.
public enum QuantReference {
    public static func dot(_ type: DType, row: UnsafeRawPointer, x: UnsafePointer<Float>, count k: Int) -> Double {
        var w = [Float](repeating: 0, count: k)
        w.withUnsafeMutableBufferPointer { Dequantize.row(type, from: row, into: $0.baseAddress!, count: k) }
        var sum = 0.0
        for i in 0..<k {
            sum += Double(w[i]) * Double(x[i])
        }
        return sum
    }

    public static func matvec(
        type: DType, weights: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>, x: UnsafePointer<Float>, k: Int,
        y: UnsafeMutablePointer<Double>
    ) {
        for r in rows {
            y[r] = dot(type, row: weights + r * rowBytes, x: x, count: k)
        }
    }

    public static func matmul(
        type: DType, weights: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>, x: UnsafePointer<Float>,
        tokens: Int, k: Int, xStride: Int, y: UnsafeMutablePointer<Double>, yStride: Int
    ) {
        for t in 0..<tokens {
            for r in rows {
                y[t * yStride + r] = dot(type, row: weights + r * rowBytes, x: x + t * xStride, count: k)
            }
        }
    }
}

extension QuantReference {
    /// Σ dequant(row)[i] · x̂[i] in Double, with x̂ token t of `x` as the 8-bit kernels see it (q · d): the
    /// reference for `QuantKernels.matmulQ8`. Also returns Σ |w · x̂|, the scale of float rounding errors.
    public static func dotQ8(_ type: DType, row: UnsafeRawPointer, x: Q8Activations, token t: Int) -> (
        value: Double, magnitude: Double
    ) {
        let k = x.k
        var w = [Float](repeating: 0, count: k)
        w.withUnsafeMutableBufferPointer { Dequantize.row(type, from: row, into: $0.baseAddress!, count: k) }
        var sum = 0.0
        var magnitude = 0.0
        for i in 0..<k {
            let p = Double(w[i]) * Double(x.value(token: t, i))
            sum += p
            magnitude += abs(p)
        }
        return (sum, magnitude)
    }

    /// Scalar 8-bit quantization of one block of 32 values, as `Q8Activations.quantize` must do it:
    /// d = max|x| / 127, q = x / d rounded to nearest, ties to even.
    public static func quantizeBlockQ8(_ x: UnsafePointer<Float>) -> (d: Float, q: [Int8]) {
        var amax: Float = 0
        for i in 0..<32 { amax = max(amax, abs(x[i])) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        return (d, (0..<32).map { Int8((x[$0] * id).rounded(.toNearestOrEven)) })
    }
}
