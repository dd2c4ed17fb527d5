// Rotary position embedding (RoPE), applied in place to one or more heads of one token.
//
// Two pairings exist. "Interleaved" rotates (x[2i], x[2i+1]) by angle θ_i: ggml's default mode, used for GGUF
// llama-family models, whose converter permutes the Q/K weights so that this equals Hugging Face's rotate_half
// on the original weights. "Half-split" (NEOX mode; Hugging Face rotate_half) rotates (x[i], x[i + d/2]). Both
// compute x' = x cos θ - y sin θ, y' = x sin θ + y cos θ with θ_i = position · base^(-2i/d).
//
// Tables are [positions, rotaryDims / 2], row-major; only the first `rotaryDims` values of each head rotate
// (partial rotary), the rest are left as they are.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

public enum RotaryKernels {
    /// cos and sin tables [positions, dims / 2] for base `theta`, computed in Double and rounded once.
    public static func tables(positions: Int, dims: Int, theta: Double) -> (cos: [Float], sin: [Float]) {
        let half = dims / 2
        var cosTable = [Float](repeating: 0, count: positions * half)
        var sinTable = [Float](repeating: 0, count: positions * half)
        for i in 0..<half {
            let frequency = 1 / pow(theta, Double(2 * i) / Double(dims))
            for p in 0..<positions {
                let angle = Double(p) * frequency
                cosTable[p * half + i] = Float(cos(angle))
                sinTable[p * half + i] = Float(sin(angle))
            }
        }
        return (cosTable, sinTable)
    }

    /// Rotates pairs (2i, 2i+1) of each of `heads` heads (stride `headDim`) at `position`.
    public static func applyInterleaved(
        _ v: UnsafeMutablePointer<Float>, heads: Int = 1, headDim: Int, rotaryDims: Int? = nil, position: Int,
        cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
    ) {
        let dims = rotaryDims ?? headDim
        let half = dims / 2
        let c = cos + position &* half
        let s = sin + position &* half
        for h in 0..<heads {
            let x = v + h &* headDim
            var i = 0
            while i &+ 8 <= half {
                let pairs = loadFloats16(x + 2 &* i)
                let c8 = UnsafeRawPointer(c + i).loadUnaligned(as: SIMD8<Float>.self)
                let s8 = UnsafeRawPointer(s + i).loadUnaligned(as: SIMD8<Float>.self)
                var cc = SIMD16<Float>(), ss = SIMD16<Float>(), swapped = SIMD16<Float>()
                for j in 0..<8 {
                    cc[2 &* j] = c8[j]
                    cc[2 &* j &+ 1] = c8[j]
                    ss[2 &* j] = -s8[j]
                    ss[2 &* j &+ 1] = s8[j]
                    swapped[2 &* j] = pairs[2 &* j &+ 1]
                    swapped[2 &* j &+ 1] = pairs[2 &* j]
                }
                storeFloats16(pairs * cc + swapped * ss, x + 2 &* i)
                i &+= 8
            }
            while i < half {
                let (a, b) = (x[2 &* i], x[2 &* i &+ 1])
                x[2 &* i] = a * c[i] - b * s[i]
                x[2 &* i &+ 1] = a * s[i] + b * c[i]
                i &+= 1
            }
        }
    }

    /// Rotates pairs (i, i + rotaryDims/2) of each of `heads` heads (stride `headDim`) at `position`.
    public static func applyHalfSplit(
        _ v: UnsafeMutablePointer<Float>, heads: Int = 1, headDim: Int, rotaryDims: Int? = nil, position: Int,
        cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
    ) {
        let dims = rotaryDims ?? headDim
        let half = dims / 2
        let c = cos + position &* half
        let s = sin + position &* half
        for h in 0..<heads {
            let x = v + h &* headDim
            let y = x + half
            var i = 0
            while i &+ 16 <= half {
                let a = loadFloats16(x + i)
                let b = loadFloats16(y + i)
                let cv = loadFloats16(c + i)
                let sv = loadFloats16(s + i)
                storeFloats16(a * cv - b * sv, x + i)
                storeFloats16(a * sv + b * cv, y + i)
                i &+= 16
            }
            while i < half {
                let (a, b) = (x[i], y[i])
                x[i] = a * c[i] - b * s[i]
                y[i] = a * s[i] + b * c[i]
                i &+= 1
            }
        }
    }
}
