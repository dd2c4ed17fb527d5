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
