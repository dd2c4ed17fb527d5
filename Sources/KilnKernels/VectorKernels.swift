// Float32 vector kernels for the model forward pass: SIMD16, two accumulators where there is a reduction,
// scalar tails. Scalar references are in VectorReference.swift.

public enum VectorKernels {
    /// Σ a[i] · b[i].
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
        var s0 = SIMD16<Float>(), s1 = SIMD16<Float>()
        var i = 0
        while i &+ 32 <= n {
            s0 = s0.addingProduct(loadFloats16(a + i), loadFloats16(b + i))
            s1 = s1.addingProduct(loadFloats16(a + (i &+ 16)), loadFloats16(b + (i &+ 16)))
            i &+= 32
        }
        if i &+ 16 <= n {
            s0 = s0.addingProduct(loadFloats16(a + i), loadFloats16(b + i))
            i &+= 16
        }
        var sum = horizontalSum(s0 + s1)
        while i < n {
            sum += a[i] * b[i]
            i &+= 1
        }
        return sum
    }

    /// y[i] += alpha · x[i].
    public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        let a = SIMD16<Float>(repeating: alpha)
        var i = 0
        while i &+ 16 <= n {
            storeFloats16(loadFloats16(y + i).addingProduct(a, loadFloats16(x + i)), y + i)
            i &+= 16
        }
        while i < n {
            y[i] = y[i].addingProduct(alpha, x[i])
            i &+= 1
        }
    }

    /// x[i] *= factor.
    public static func scale(_ x: UnsafeMutablePointer<Float>, by factor: Float, count n: Int) {
        var i = 0
        while i &+ 16 <= n {
            storeFloats16(loadFloats16(x + i) * factor, x + i)
            i &+= 16
        }
        while i < n {
            x[i] *= factor
            i &+= 1
        }
    }

    /// out[i] = a[i] + b[i]; `out` may be `a` or `b` (residual adds in place).
    public static func add(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count n: Int
    ) {
        var i = 0
        while i &+ 16 <= n {
            storeFloats16(loadFloats16(a + i) + loadFloats16(b + i), out + i)
            i &+= 16
        }
        while i < n {
            out[i] = a[i] + b[i]
            i &+= 1
        }
    }

    /// RMS normalisation: out[i] = (x[i] / sqrt(mean(x²) + eps)) · (weightOffset + weight[i]).
    /// Llama-style models use weightOffset 0; Gemma stores weight - 1 and uses 1. `out` may be `x`.
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float, count n: Int,
        into out: UnsafeMutablePointer<Float>, weightOffset: Float = 0
    ) {
        let inverse = 1 / (sumOfSquares(x, n) / Float(n) + eps).squareRoot()
        let offset = SIMD16<Float>(repeating: weightOffset)
        var i = 0
        while i &+ 16 <= n {
            storeFloats16((loadFloats16(x + i) * inverse) * (offset + loadFloats16(weight + i)), out + i)
            i &+= 16
        }
        while i < n {
            out[i] = (x[i] * inverse) * (weightOffset + weight[i])
            i &+= 1
        }
    }

    static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0 = SIMD16<Float>(), s1 = SIMD16<Float>()
        var i = 0
        while i &+ 32 <= n {
            let a = loadFloats16(x + i)
            let b = loadFloats16(x + (i &+ 16))
            s0 = s0.addingProduct(a, a)
            s1 = s1.addingProduct(b, b)
            i &+= 32
        }
        if i &+ 16 <= n {
            let a = loadFloats16(x + i)
            s0 = s0.addingProduct(a, a)
            i &+= 16
        }
        var sum = horizontalSum(s0 + s1)
        while i < n {
            sum += x[i] * x[i]
            i &+= 1
        }
        return sum
    }
}
