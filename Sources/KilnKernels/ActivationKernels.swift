// Gated activations and softmax over float32 vectors, SIMD16 with a polynomial exp.
//
// SiLU and the tanh-approximated GELU are both written through the logistic function, which is exact algebra
// and avoids cancellation for large negative inputs: silu(g) = g · σ(g) and
// gelu_tanh(g) = ½ g (1 + tanh(u)) = g · σ(2u) with u = √(2/π) (g + 0.044715 g³)  (PyTorch approximate="tanh").

public enum ActivationKernels {
    // The gated activations run whole vectors in a loop of their own and the tail apart: with one loop body for
    // both (forEachChunk), LLVM split the exp polynomial into scalar and 128-bit pieces (3-4x slower).

    /// out[i] = silu(gate[i]) · up[i] (SwiGLU). `out` may alias either input.
    public static func siluMul(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count n: Int
    ) {
        @inline(__always) func f(_ g: SIMD16<Float>, _ u: SIMD16<Float>) -> SIMD16<Float> { g / (1 + exp(-g)) * u }
        var i = 0
        while i &+ 16 <= n {
            storeFloats16(f(loadFloats16(gate + i), loadFloats16(up + i)), out + i)
            i &+= 16
        }
        if i < n {
            storePartial(f(loadPartial(gate + i, n &- i, fill: 0), loadPartial(up + i, n &- i, fill: 0)), out + i, n &- i)
        }
    }

    /// out[i] = gelu_tanh(gate[i]) · up[i] (GeGLU, as Gemma). `out` may alias either input.
    public static func geluTanhMul(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count n: Int
    ) {
        // 2u = 2√(2/π) · g · (1 + 0.044715 g²)
        let twoRootTwoOverPi: Float = 1.5957691216057308
        @inline(__always) func f(_ g: SIMD16<Float>, _ u: SIMD16<Float>) -> SIMD16<Float> {
            let twoU = (twoRootTwoOverPi * g) * SIMD16<Float>(repeating: 1).addingProduct(0.044715 * g, g)
            return g / (1 + exp(-twoU)) * u
        }
        var i = 0
        while i &+ 16 <= n {
            storeFloats16(f(loadFloats16(gate + i), loadFloats16(up + i)), out + i)
            i &+= 16
        }
        if i < n {
            storePartial(f(loadPartial(gate + i, n &- i, fill: 0), loadPartial(up + i, n &- i, fill: 0)), out + i, n &- i)
        }
    }

    /// In-place softmax: x[i] = exp(x[i] - max) / Σ exp(x[j] - max). -infinity entries (masked) become 0.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        guard n > 0 else { return }
        var peak = SIMD16<Float>(repeating: -.infinity)
        forEachChunk(n) { i, lanes in
            let v = loadPartial(x + i, lanes, fill: -.infinity)
            peak = peak.replacing(with: v, where: peak .< v)
        }
        let top = peak.max()
        let shift = SIMD16<Float>(repeating: top)
        var total = SIMD16<Float>()
        forEachChunk(n) { i, lanes in
            let e = exp(loadPartial(x + i, lanes, fill: -.infinity) - shift)
            total += e
            storePartial(e, x + i, lanes)
        }
        let inverse = 1 / horizontalSum(total)
        VectorKernels.scale(x, by: inverse, count: n)
    }

    /// e^x for 16 lanes, within 2 ulp of the correctly rounded result for x in [-86, 88.7]; +inf above
    /// ~88.72, 0 below -86.6 (including -inf).
    ///
    /// Cody-Waite reduction x = n ln2 + r with |r| ≤ ln2/2, a degree-7 Taylor polynomial for e^r
    /// (truncation error < 6e-9), and 2^n assembled in the exponent bits as 2^(n-1) · 2 so n = 128 still works.
    @inline(__always)
    public static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        // Compare-and-blend: the stdlib's pointwiseMin/Max stay out-of-line calls in this generic form.
        let low = SIMD16<Float>(repeating: -86.6), high = SIMD16<Float>(repeating: 88.72)
        let clamped = x.replacing(with: low, where: x .< low).replacing(with: high, where: x .> high)
        // Round x·log2(e) to an integer by adding 1.5·2^23: the integer lands in the low mantissa bits.
        let magic = SIMD16<Float>(repeating: 12_582_912)
        let shifted = magic.addingProduct(clamped, 1.4426950408889634)
        let n = shifted - magic
        var r = clamped.addingProduct(n, -0.693145751953125)
        r = r.addingProduct(n, -1.428606820309417232e-6)
        var p = SIMD16<Float>(repeating: 1.0 / 5040)
        p = SIMD16(repeating: 1.0 / 720).addingProduct(p, r)
        p = SIMD16(repeating: 1.0 / 120).addingProduct(p, r)
        p = SIMD16(repeating: 1.0 / 24).addingProduct(p, r)
        p = SIMD16(repeating: 1.0 / 6).addingProduct(p, r)
        p = SIMD16(repeating: 0.5).addingProduct(p, r)
        p = SIMD16(repeating: 1).addingProduct(p, r)
        p = SIMD16(repeating: 1).addingProduct(p, r)
        let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
        let halfScale = unsafeBitCast((integer &+ 126) &<< 23, to: SIMD16<Float>.self)
        var result = (p * halfScale) * 2
        result.replace(with: .infinity, where: x .> 88.72283)
        result.replace(with: 0, where: x .< -86.6)
        return result
    }
}

/// Calls `body(start, lanes)` for 16-value chunks of 0..<n; the last chunk may have fewer lanes.
@inline(__always)
func forEachChunk(_ n: Int, _ body: (Int, Int) -> Void) {
    var i = 0
    while i &+ 16 <= n {
        body(i, 16)
        i &+= 16
    }
    if i < n {
        body(i, n &- i)
    }
}

@inline(__always)
func loadPartial(_ p: UnsafePointer<Float>, _ lanes: Int, fill: Float) -> SIMD16<Float> {
    if lanes == 16 { return loadFloats16(p) }
    var v = SIMD16<Float>(repeating: fill)
    for i in 0..<lanes { v[i] = p[i] }
    return v
}

@inline(__always)
func storePartial(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
    if lanes == 16 {
        storeFloats16(v, p)
        return
    }
    for i in 0..<lanes { p[i] = v[i] }
}
