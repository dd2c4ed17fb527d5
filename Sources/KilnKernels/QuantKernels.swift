import KilnTensors

// Dot products, matrix-vector and matrix-matrix products of weights in any GGUF format with float32 activations.
//
// Decode (one token): each weight row is streamed once and dequantized block by block into SIMD16 registers that
// are fused-multiply-added with x (BlockCodecs*.swift); four accumulators per row keep the FMA pipes busy.
// Prefill (many tokens): a few weight rows are dequantized once into a float32 scratch and reused for a tile of
// tokens by a 4-row x 4-token register-blocked micro-kernel (QuantKernels+Matmul.swift), so the dequantization
// cost is paid once per token tile instead of once per token.
//
// Each public entry point switches on the format once and calls a generic driver that the compiler specialises
// per codec (all in this module, so no generic code runs unspecialised). Scalar references are in
// QuantReference.swift.

public enum QuantKernels {
    /// Σ dequant(row)[i] · x[i] over `k` values. `k` must be a whole number of blocks of `type`.
    public static func dot(_ type: DType, row: UnsafeRawPointer, x: UnsafePointer<Float>, count k: Int) -> Float {
        switch type {
        case .f32: return dotRow(F32Codec.self, type, row, x, k)
        case .f16: return dotRow(F16Codec.self, type, row, x, k)
        case .bf16: return dotRow(BF16Codec.self, type, row, x, k)
        case .q4_0: return dotRow(Q4_0Codec.self, type, row, x, k)
        case .q4_1: return dotRow(Q4_1Codec.self, type, row, x, k)
        case .q5_0: return dotRow(Q5_0Codec.self, type, row, x, k)
        case .q5_1: return dotRow(Q5_1Codec.self, type, row, x, k)
        case .q8_0: return dotRow(Q8_0Codec.self, type, row, x, k)
        case .q8_1: return dotRow(Q8_1Codec.self, type, row, x, k)
        case .q2_K: return dotRow(Q2_KCodec.self, type, row, x, k)
        case .q3_K: return dotRow(Q3_KCodec.self, type, row, x, k)
        case .q4_K: return dotRow(Q4_KCodec.self, type, row, x, k)
        case .q5_K: return dotRow(Q5_KCodec.self, type, row, x, k)
        case .q6_K: return dotRow(Q6_KCodec.self, type, row, x, k)
        case .q8_K: return dotRow(Q8_KCodec.self, type, row, x, k)
        }
    }

    /// y[r] = dot(row r, x) for r in `rows`; row r starts `r * rowBytes` bytes past `weights`, and y is indexed by
    /// the absolute row number (so threads can split `rows` and share one y).
    public static func matvec(
        type: DType, weights: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>, x: UnsafePointer<Float>, k: Int,
        y: UnsafeMutablePointer<Float>
    ) {
        switch type {
        case .f32: matvecRows(F32Codec.self, type, weights, rowBytes, rows, x, k, y)
        case .f16: matvecRows(F16Codec.self, type, weights, rowBytes, rows, x, k, y)
        case .bf16: matvecRows(BF16Codec.self, type, weights, rowBytes, rows, x, k, y)
        case .q4_0: matvecRows(Q4_0Codec.self, type, weights, rowBytes, rows, x, k, y)
        case .q4_1: matvecRows(Q4_1Codec.self, type, weights, rowBytes, rows, x, k, y)
        case .q5_0: matvecRows(Q5_0Codec.self, type, weights, rowBytes, rows, x, k, y)
        case .q5_1: matvecRows(Q5_1Codec.self, type, weights, rowBytes, rows, x, k, y)
        case .q8_0: matvecRows(Q8_0Codec.self, type, weights, rowBytes, rows, x, k, y)
        case .q8_1: matvecRows(Q8_1Codec.self, type, weights, rowBytes, rows, x, k, y)
        case .q2_K: matvecRows(Q2_KCodec.self, type, weights, rowBytes, rows, x, k, y)
        case .q3_K: matvecRows(Q3_KCodec.self, type, weights, rowBytes, rows, x, k, y)
        case .q4_K: matvecRows(Q4_KCodec.self, type, weights, rowBytes, rows, x, k, y)
        case .q5_K: matvecRows(Q5_KCodec.self, type, weights, rowBytes, rows, x, k, y)
        case .q6_K: matvecRows(Q6_KCodec.self, type, weights, rowBytes, rows, x, k, y)
        case .q8_K: matvecRows(Q8_KCodec.self, type, weights, rowBytes, rows, x, k, y)
        }
    }

    /// SIMD dequantization of `count` values (a whole number of blocks); equal bit for bit to `Dequantize.row`.
    public static func dequantizeRow(
        _ type: DType, from src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int
    ) {
        switch type {
        case .f32: decodeRow(F32Codec.self, type, src, dst, count)
        case .f16: decodeRow(F16Codec.self, type, src, dst, count)
        case .bf16: decodeRow(BF16Codec.self, type, src, dst, count)
        case .q4_0: decodeRow(Q4_0Codec.self, type, src, dst, count)
        case .q4_1: decodeRow(Q4_1Codec.self, type, src, dst, count)
        case .q5_0: decodeRow(Q5_0Codec.self, type, src, dst, count)
        case .q5_1: decodeRow(Q5_1Codec.self, type, src, dst, count)
        case .q8_0: decodeRow(Q8_0Codec.self, type, src, dst, count)
        case .q8_1: decodeRow(Q8_1Codec.self, type, src, dst, count)
        case .q2_K: decodeRow(Q2_KCodec.self, type, src, dst, count)
        case .q3_K: decodeRow(Q3_KCodec.self, type, src, dst, count)
        case .q4_K: decodeRow(Q4_KCodec.self, type, src, dst, count)
        case .q5_K: decodeRow(Q5_KCodec.self, type, src, dst, count)
        case .q6_K: decodeRow(Q6_KCodec.self, type, src, dst, count)
        case .q8_K: decodeRow(Q8_KCodec.self, type, src, dst, count)
        }
    }

    // MARK: Generic drivers, specialised per codec

    @inline(__always)
    static func dotRow<C: BlockCodec>(
        _: C.Type, _ type: DType, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ k: Int
    ) -> Float {
        let blocks = k / C.elements
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var p = row
        var xp = x
        var b = 0
        while b &+ 2 <= blocks {
            C.accumulate(p, xp, &a0, &a1)
            C.accumulate(p + C.bytes, xp + C.elements, &a2, &a3)
            p += 2 &* C.bytes
            xp += 2 &* C.elements
            b &+= 2
        }
        if b < blocks {
            C.accumulate(p, xp, &a0, &a1)
        }
        var sum = horizontalSum((a0 + a1) + (a2 + a3))
        let done = blocks &* C.elements
        if done < k {
            sum += tailDot(type, row, x, from: done, to: k)
        }
        return sum
    }

    /// The last values of a plain-float row that do not fill a 32-value step.
    static func tailDot(_ type: DType, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, from: Int, to: Int)
        -> Float
    {
        precondition(!type.isQuantized, "\(to) values are not whole \(type) blocks")
        var sum: Float = 0
        var w: Float = 0
        for i in from..<to {
            Dequantize.block(type, row + i &* type.blockBytes, &w)
            sum += w * x[i]
        }
        return sum
    }

    static func matvecRows<C: BlockCodec>(
        _ codec: C.Type, _ type: DType, _ weights: UnsafeRawPointer, _ rowBytes: Int, _ rows: Range<Int>,
        _ x: UnsafePointer<Float>, _ k: Int, _ y: UnsafeMutablePointer<Float>
    ) {
        for r in rows {
            y[r] = dotRow(codec, type, weights + r &* rowBytes, x, k)
        }
    }

    static func decodeRow<C: BlockCodec>(
        _: C.Type, _ type: DType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ count: Int
    ) {
        let blocks = count / C.elements
        for b in 0..<blocks {
            C.decode(src + b &* C.bytes, dst + b &* C.elements)
        }
        let done = blocks &* C.elements
        if done < count {
            precondition(!type.isQuantized, "\(count) values are not whole \(type) blocks")
            Dequantize.row(type, from: src + done &* type.blockBytes, into: dst + done, count: count &- done)
        }
    }
}
