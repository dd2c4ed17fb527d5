import KilnKernels
import KilnTensors

/// The forward pass's building blocks over [tokens, dim] row-major activations, each a thin call into KilnKernels
/// so `Transformer` reads as the model's math.
enum Ops {
    /// y [T, rows] = x [T, columns] · Wᵀ (+ bias), rows split across the pool's threads. With `quantized` (x already
    /// quantized to 8 bits), formats that have an integer kernel use it; others read the float x.
    static func linear(
        _ w: WeightMatrix, _ x: UnsafePointer<Float>, quantized: Q8Activations? = nil, tokens: Int,
        into y: UnsafeMutablePointer<Float>, bias: [Float]?, pool: ThreadPool, scratch: Scratch
    ) {
        project(Projection(w, y, bias), x: x, quantized: quantized, tokens: tokens, pool: pool, scratch: scratch)
    }

    /// One matrix of a fused projection: y [T, w.rows] = x · wᵀ (+ bias).
    struct Projection {
        let w: WeightMatrix
        let y: UnsafeMutablePointer<Float>
        let bias: [Float]?
        init(_ w: WeightMatrix, _ y: UnsafeMutablePointer<Float>, _ bias: [Float]?) {
            self.w = w
            self.y = y
            self.bias = bias
        }
    }

    /// Up to three projections of the same input (Q, K, V) in one fork of the pool: the threads split the rows of
    /// all three as one range, so a layer waits for its threads once instead of once per matrix.
    static func project(
        _ a: Projection, _ b: Projection? = nil, _ c: Projection? = nil, x: UnsafePointer<Float>,
        quantized: Q8Activations?, tokens: Int, pool: ThreadPool, scratch: Scratch
    ) {
        let aRows = a.w.rows
        let bRows = b?.w.rows ?? 0
        let total = aRows + bRows + (c?.w.rows ?? 0)
        pool.parallelChunks(total, granularity: 16) { range, thread in
            func part(_ p: Projection, offset: Int) {
                let lo = max(range.lowerBound, offset) - offset
                let hi = min(range.upperBound, offset + p.w.rows) - offset
                if lo < hi {
                    rows(p, lo..<hi, x: x, quantized: quantized, tokens: tokens, scratch: scratch, thread: thread)
                }
            }
            part(a, offset: 0)
            if let b { part(b, offset: aRows) }
            if let c { part(c, offset: aRows + bRows) }
        }
    }

    /// Rows `rows` of one projection for every token, bias included.
    @inline(__always)
    static func rows(
        _ p: Projection, _ rows: Range<Int>, x: UnsafePointer<Float>, quantized: Q8Activations?, tokens: Int,
        scratch: Scratch, thread: Int
    ) {
        let w = p.w
        if let q = quantized, q.k == w.columns, let packed = w.packed {
            packed.matmul(rows: rows, x: q, y: p.y, yStride: w.rows)
        } else if let q = quantized, q.k == w.columns, QuantKernels.hasQ8Kernel(w.type) {
            QuantKernels.matmulQ8(
                type: w.type, weights: w.data, rowBytes: w.rowBytes, rows: rows, x: q, y: p.y, yStride: w.rows)
        } else {
            QuantKernels.matmul(
                type: w.type, weights: w.data, rowBytes: w.rowBytes, rows: rows, x: x, tokens: tokens, k: w.columns,
                xStride: w.columns, y: p.y, yStride: w.rows, scratch: scratch.matmulScratch(thread: thread))
        }
        if let bias = p.bias {
            bias.withUnsafeBufferPointer { b in
                for t in 0..<tokens {
                    let y = p.y + t * w.rows + rows.lowerBound
                    VectorKernels.add(y, b.baseAddress! + rows.lowerBound, into: y, count: rows.count)
                }
            }
        }
    }

    /// gate [T, ffn] = act(x·Wgateᵀ) ⊙ (x·Wupᵀ) in one fork: each thread computes the same rows of gate and up and
    /// applies the activation to them while they are still in its cache. `up` is scratch.
    static func gatedFFN(
        gate wGate: WeightMatrix, up wUp: WeightMatrix, _ x: UnsafePointer<Float>, quantized: Q8Activations?,
        tokens: Int, gate: UnsafeMutablePointer<Float>, up: UnsafeMutablePointer<Float>, activation: Activation,
        pool: ThreadPool, scratch: Scratch
    ) {
        let n = wGate.rows
        pool.parallelChunks(n, granularity: 16) { range, thread in
            rows(Projection(wGate, gate, nil), range, x: x, quantized: quantized, tokens: tokens, scratch: scratch,
                thread: thread)
            rows(Projection(wUp, up, nil), range, x: x, quantized: quantized, tokens: tokens, scratch: scratch,
                thread: thread)
            for t in 0..<tokens {
                gatedActivation(gate + t * n + range.lowerBound, up + t * n + range.lowerBound, range.count, activation)
            }
        }
    }

    /// x [T, k] quantized into `buffer` (tokens split across `pool`'s threads), or nil when the fast path is off or k
    /// is not whole 32-value blocks.
    static func quantize(
        _ x: UnsafePointer<Float>, tokens: Int, k: Int, into buffer: Q8Activations?, pool: ThreadPool
    ) -> Q8Activations? {
        guard let buffer, Q8Activations.accepts(k: k), k <= buffer.maxK, tokens <= buffer.capacity else { return nil }
        buffer.quantize(x, tokens: tokens, k: k, pool: pool)
        return buffer
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
