// Scalar Double-precision references for VectorKernels, ActivationKernels and RotaryKernels, used by the tests.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

public enum VectorReference {
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Double {
        var sum = 0.0
        for i in 0..<n { sum += Double(a[i]) * Double(b[i]) }
        return sum
    }

    public static func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float, count n: Int, weightOffset: Float = 0
    ) -> [Double] {
        var squares = 0.0
        for i in 0..<n { squares += Double(x[i]) * Double(x[i]) }
        let inverse = 1 / (squares / Double(n) + Double(eps)).squareRoot()
        return (0..<n).map { Double(x[$0]) * inverse * (Double(weightOffset) + Double(weight[$0])) }
    }

    public static func silu(_ g: Double) -> Double { g / (1 + exp(-g)) }

    /// PyTorch's gelu(approximate="tanh"): 0.5 g (1 + tanh(√(2/π) (g + 0.044715 g³))).
    public static func geluTanh(_ g: Double) -> Double {
        0.5 * g * (1 + tanh((2 / Double.pi).squareRoot() * (g + 0.044715 * g * g * g)))
    }

    public static func softmax(_ x: [Float]) -> [Double] {
        let top = Double(x.max() ?? 0)
        let e = x.map { exp(Double($0) - top) }
        let total = e.reduce(0, +)
        return e.map { $0 / total }
    }

    public static func exp(_ x: Double) -> Double {
        #if canImport(Glibc)
            Glibc.exp(x)
        #else
            Darwin.exp(x)
        #endif
    }

    /// One head, rotated in Double: `interleaved` pairs (2i, 2i+1), otherwise (i, i + dims/2).
    public static func rotary(
        _ v: [Float], rotaryDims dims: Int, position: Int, theta: Double, interleaved: Bool
    ) -> [Double] {
        var out = v.map(Double.init)
        let half = dims / 2
        for i in 0..<half {
            let angle = Double(position) / pow(theta, Double(2 * i) / Double(dims))
            let (a, b) = interleaved ? (2 * i, 2 * i + 1) : (i, i + half)
            out[a] = Double(v[a]) * cos(angle) - Double(v[b]) * sin(angle)
            out[b] = Double(v[a]) * sin(angle) + Double(v[b]) * cos(angle)
        }
        return out
    }
}

extension VectorReference {
    /// softmax(scale · q·Kᵀ) · V for one head in Double: the reference for `Attention.attend` and `attendGroup`.
    public static func attention(
        query q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int,
        count: Int, headDim: Int, scale: Float
    ) -> [Double] {
        var scores = (0..<count).map { j in
            (0..<headDim).reduce(0.0) { $0 + Double(q[$1]) * Double(keys[j * stride + $1]) } * Double(scale)
        }
        let top = scores.max() ?? 0
        scores = scores.map { exp($0 - top) }
        let total = scores.reduce(0, +)
        return (0..<headDim).map { i in
            (0..<count).reduce(0.0) { $0 + scores[$1] / total * Double(values[$1 * stride + i]) }
        }
    }
}
