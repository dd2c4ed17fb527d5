import KilnKernels
import Testing

let vectorSizes = [1, 3, 15, 16, 17, 31, 33, 64, 129, 576, 1023]

/// |got - want| ≤ relative · |want| + absolute (+ slack[i] when given), per element.
func expectClose(
    _ got: [Float], _ want: [Double], relative: Double, absolute: Double = 1e-30, slack: [Double]? = nil,
    _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(got.count == want.count, sourceLocation: sourceLocation)
    var worst = 0
    var worstExcess = 0.0
    for i in 0..<min(got.count, want.count) {
        let excess = abs(Double(got[i]) - want[i]) - (relative * abs(want[i]) + absolute + (slack?[i] ?? 0))
        if excess > worstExcess {
            worstExcess = excess
            worst = i
        }
    }
    if worstExcess > 0 {
        Issue.record("\(what): at \(worst) got \(got[worst]), want \(want[worst])", sourceLocation: sourceLocation)
    }
}

@Suite("Float32 vector kernels against Double references")
struct VectorKernelTests {
    @Test("dot, axpy, scale, add", arguments: vectorSizes)
    func basics(_ n: Int) {
        var rng = SeededRandom(seed: UInt64(n))
        let a = rng.floats(n)
        let b = rng.floats(n)
        let d = VectorKernels.dot(a, b, count: n)
        let magnitude = zip(a, b).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
        #expect(abs(Double(d) - VectorReference.dot(a, b, count: n)) <= 1e-6 * magnitude, "dot n=\(n)")

        var y = b
        VectorKernels.axpy(0.75, a, &y, count: n)
        expectClose(y, (0..<n).map { Double(b[$0]) + 0.75 * Double(a[$0]) }, relative: 1e-6, absolute: 1e-7, "axpy")

        var s = a
        VectorKernels.scale(&s, by: -1.5, count: n)
        expectClose(s, a.map { -1.5 * Double($0) }, relative: 1e-7, "scale")

        var sum = a
        sum.withUnsafeMutableBufferPointer { out in
            VectorKernels.add(out.baseAddress!, b, into: out.baseAddress!, count: n)  // in place
        }
        expectClose(sum, (0..<n).map { Double(a[$0]) + Double(b[$0]) }, relative: 1e-7, absolute: 1e-7, "add")
    }

    @Test("rmsNorm, plain and Gemma's (1 + weight)", arguments: vectorSizes)
    func rmsNorm(_ n: Int) {
        var rng = SeededRandom(seed: 100 + UInt64(n))
        let x = rng.floats(n, in: -4...4)
        let w = rng.floats(n, in: -1...1)
        for offset: Float in [0, 1] {
            var out = [Float](repeating: 0, count: n)
            VectorKernels.rmsNorm(x, weight: w, eps: 1e-6, count: n, into: &out, weightOffset: offset)
            let want = VectorReference.rmsNorm(x, weight: w, eps: 1e-6, count: n, weightOffset: offset)
            expectClose(out, want, relative: 2e-6, absolute: 1e-7, "rmsNorm n=\(n) offset=\(offset)")
        }
    }

    @Test("SwiGLU and GeGLU", arguments: vectorSizes)
    func gatedActivations(_ n: Int) {
        var rng = SeededRandom(seed: 200 + UInt64(n))
        var gate = rng.floats(n, in: -12...12)
        if n > 3 { gate[0] = 0; gate[1] = -30; gate[2] = 30 }
        let up = rng.floats(n, in: -2...2)
        var out = [Float](repeating: 0, count: n)
        ActivationKernels.siluMul(gate: gate, up: up, into: &out, count: n)
        expectClose(
            out, (0..<n).map { VectorReference.silu(Double(gate[$0])) * Double(up[$0]) }, relative: 1e-6,
            absolute: 1e-35, "siluMul n=\(n)")
        // The reference is PyTorch's formula, 1 + tanh(u), which cancels for very negative gates even in Double;
        // allow float32 rounding of |gate · up| on top of the relative bound.
        ActivationKernels.geluTanhMul(gate: gate, up: up, into: &out, count: n)
        expectClose(
            out, (0..<n).map { VectorReference.geluTanh(Double(gate[$0])) * Double(up[$0]) }, relative: 1e-6,
            slack: (0..<n).map { 1e-7 * abs(Double(gate[$0]) * Double(up[$0])) }, "geluTanhMul n=\(n)")
    }

    @Test("exp over its whole range")
    func exp() {
        var worst = 0.0
        var x: Float = -86
        while x < 88.7 {
            let got = ActivationKernels.exp(SIMD16(repeating: x))[0]
            let want = VectorReference.exp(Double(x))
            worst = max(worst, abs(Double(got) - want) / want)
            x += 0.0137
        }
        #expect(worst < 3e-7, "worst relative error \(worst)")
        let edges = ActivationKernels.exp(SIMD16(-.infinity, -200, 0, 200, .infinity, 1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        #expect(edges[0] == 0 && edges[1] == 0 && edges[2] == 1)
        #expect(edges[3] == .infinity && edges[4] == .infinity)
    }

    @Test("softmax, with masked entries", arguments: vectorSizes)
    func softmax(_ n: Int) {
        var rng = SeededRandom(seed: 300 + UInt64(n))
        var x = rng.floats(n, in: -20...20)
        if n > 2 { x[1] = -.infinity }
        let want = VectorReference.softmax(x)
        ActivationKernels.softmax(&x, count: n)
        expectClose(x, want, relative: 2e-6, absolute: 1e-12, "softmax n=\(n)")
        if n > 2 { #expect(x[1] == 0) }
    }

    @Test("RoPE in both pairings, full and partial", arguments: [(64, 64), (128, 128), (80, 80), (96, 48), (34, 34)])
    func rotary(_ dims: (headDim: Int, rotary: Int)) {
        var rng = SeededRandom(seed: UInt64(dims.headDim * 1000 + dims.rotary))
        let heads = 3
        let position = 37
        let (cosTable, sinTable) = RotaryKernels.tables(positions: 64, dims: dims.rotary, theta: 10_000)
        let v = rng.floats(heads * dims.headDim, in: -3...3)
        for interleaved in [true, false] {
            var got = v
            cosTable.withUnsafeBufferPointer { c in
                sinTable.withUnsafeBufferPointer { s in
                    if interleaved {
                        RotaryKernels.applyInterleaved(
                            &got, heads: heads, headDim: dims.headDim, rotaryDims: dims.rotary, position: position,
                            cos: c.baseAddress!, sin: s.baseAddress!)
                    } else {
                        RotaryKernels.applyHalfSplit(
                            &got, heads: heads, headDim: dims.headDim, rotaryDims: dims.rotary, position: position,
                            cos: c.baseAddress!, sin: s.baseAddress!)
                    }
                }
            }
            var want: [Double] = []
            for h in 0..<heads {
                let head = Array(v[(h * dims.headDim)..<((h + 1) * dims.headDim)])
                want += VectorReference.rotary(
                    head, rotaryDims: dims.rotary, position: position, theta: 10_000, interleaved: interleaved)
            }
            expectClose(got, want, relative: 1e-6, absolute: 2e-6, "rope \(dims) interleaved=\(interleaved)")
        }
    }

    @Test("interleaved RoPE on permuted weights equals half-split RoPE on the originals")
    func ropePermutationEquivalence() {
        // llama.cpp's converter reorders each head's rows so that pair (2i, 2i+1) holds HF dims (i, i + d/2).
        let d = 64
        var rng = SeededRandom(seed: 77)
        let hf = rng.floats(d)
        let permuted = (0..<d).map { j in hf[j % 2 == 0 ? j / 2 : j / 2 + d / 2] }
        let (c, s) = RotaryKernels.tables(positions: 10, dims: d, theta: 500_000)
        var a = hf
        var b = permuted
        RotaryKernels.applyHalfSplit(&a, headDim: d, position: 9, cos: c, sin: s)
        RotaryKernels.applyInterleaved(&b, headDim: d, position: 9, cos: c, sin: s)
        let back = (0..<d).map { i in i < d / 2 ? b[2 * i] : b[2 * (i - d / 2) + 1] }
        #expect(back == a)
    }
}
