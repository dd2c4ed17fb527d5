import KilnKernels
import KilnTensors

/// The forward pass's building blocks over [tokens, dim] row-major activations, each a thin call into KilnKernels
/// so `Transformer` reads as the model's math.
enum Ops {
    /// y [T, rows] = x [T, columns] · Wᵀ (+ bias), rows split across the pool's threads.
    static func linear(
        _ w: WeightMatrix, _ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>,
        bias: [Float]?, pool: ThreadPool, scratch: Scratch
    ) {
        pool.parallelFor(w.rows, granularity: 16) { rows, thread in
            QuantKernels.matmul(
                type: w.type, weights: w.data, rowBytes: w.rowBytes, rows: rows, x: x, tokens: tokens, k: w.columns,
                xStride: w.columns, y: y, yStride: w.rows, scratch: scratch.matmulScratch(thread: thread))
        }
        if let bias {
            bias.withUnsafeBufferPointer { b in
                for t in 0..<tokens {
                    VectorKernels.add(y + t * w.rows, b.baseAddress!, into: y + t * w.rows, count: w.rows)
                }
            }
        }
    }

    /// out[t] = x[t] / rms(x[t]) · weight, for each of `tokens` rows of `dim` (in place when out == x).
    static func rmsNorm(
        _ x: UnsafePointer<Float>, _ weight: [Float], into out: UnsafeMutablePointer<Float>, tokens: Int, dim: Int,
        eps: Float
    ) {
        weight.withUnsafeBufferPointer { w in
            for t in 0..<tokens {
                VectorKernels.rmsNorm(x + t * dim, weight: w.baseAddress!, eps: eps, count: dim, into: out + t * dim)
            }
        }
    }

    static func scale(_ x: UnsafeMutablePointer<Float>, _ a: Float, _ n: Int) {
        VectorKernels.scale(x, by: a, count: n)
    }

    static func add(_ a: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        VectorKernels.add(y, a, into: y, count: n)
    }

    /// gate = act(gate) ⊙ up
    static func gatedActivation(
        _ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int, _ activation: Activation
    ) {
        switch activation {
        case .silu: ActivationKernels.siluMul(gate: gate, up: up, into: gate, count: n)
        case .geluTanh: ActivationKernels.geluTanhMul(gate: gate, up: up, into: gate, count: n)
        }
    }

    /// Rotates each head of each row by its own position's angles.
    static func rope(
        _ x: UnsafeMutablePointer<Float>, positions: [Int], heads: Int, headDim: Int, table: RoPETable,
        style: RoPEStyle
    ) {
        table.cos.withUnsafeBufferPointer { cosTable in
            table.sin.withUnsafeBufferPointer { sinTable in
                for (t, position) in positions.enumerated() {
                    let v = x + t * heads * headDim
                    switch style {
                    case .interleaved:
                        RotaryKernels.applyInterleaved(
                            v, heads: heads, headDim: headDim, position: position, cos: cosTable.baseAddress!,
                            sin: sinTable.baseAddress!)
                    case .halves:
                        RotaryKernels.applyHalfSplit(
                            v, heads: heads, headDim: headDim, position: position, cos: cosTable.baseAddress!,
                            sin: sinTable.baseAddress!)
                    }
                }
            }
        }
    }
}
