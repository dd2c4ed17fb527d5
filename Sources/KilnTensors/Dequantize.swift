// Scalar reference dequantization of every supported GGUF format.
//
// Written for obviousness, one element at a time, following the layouts in BlockLayouts.swift. The float
// operations and their order match ggml's `dequantize_row_*` and gguf-py's `dequantize` (separate multiply and
// add, no fused multiply-add), so results agree bit for bit; the tests check that against gguf-py goldens.
// Fast kernels live in KilnKernels and are tested against this.

public enum Dequantize {
    /// Dequantizes `count` values of `type` from `src` (any alignment) into `dst`.
    /// `count` must be a whole number of blocks (`type.blockElements`).
    public static func row(_ type: DType, from src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int)
    {
        precondition(count >= 0 && count % type.blockElements == 0, "\(count) values are not whole \(type) blocks")
        let blocks = count / type.blockElements
        for b in 0..<blocks {
            block(type, src + b &* type.blockBytes, dst + b &* type.blockElements)
        }
    }

    /// Dequantizes one block (one value for the plain float formats).
    public static func block(_ type: DType, _ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        switch type {
        case .f32: y[0] = Float(bitPattern: p.loadUnaligned(as: UInt32.self))
        case .f16: y[0] = Half.toFloat(p.loadUnaligned(as: UInt16.self))
        case .bf16: y[0] = BFloat16.toFloat(p.loadUnaligned(as: UInt16.self))
        case .q4_0: q4_0(p, y)
        case .q4_1: q4_1(p, y)
        case .q5_0: q5_0(p, y)
        case .q5_1: q5_1(p, y)
        case .q8_0: q8(p, d: Half.load(p, at: BlockQ8_0.d), qs: BlockQ8_0.qs, count: 32, y)
        case .q8_1: q8(p, d: Half.load(p, at: BlockQ8_1.d), qs: BlockQ8_1.qs, count: 32, y)
        case .q8_K:
            let d = Float(bitPattern: p.loadUnaligned(fromByteOffset: BlockQ8_K.d, as: UInt32.self))
            q8(p, d: d, qs: BlockQ8_K.qs, count: 256, y)
        case .q2_K: q2_K(p, y)
        case .q3_K: q3_K(p, y)
        case .q4_K: q4_K(p, y)
        case .q5_K: q5_K(p, y)
        case .q6_K: q6_K(p, y)
        }
    }

    private static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }

    /// Quant j (< 32) of a Q4_0/Q4_1 style nibble array at `qs`.
    private static func nibble(_ p: UnsafeRawPointer, qs: Int, _ j: Int) -> UInt8 {
        j < 16 ? byte(p, qs + j) & 0x0f : byte(p, qs + j - 16) >> 4
    }

    private static func q4_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = Half.load(p, at: BlockQ4_0.d)
        for j in 0..<32 {
            y[j] = d * Float(Int(nibble(p, qs: BlockQ4_0.qs, j)) - 8)
        }
    }

    private static func q4_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = Half.load(p, at: BlockQ4_1.d)
        let m = Half.load(p, at: BlockQ4_1.m)
        for j in 0..<32 {
            y[j] = d * Float(nibble(p, qs: BlockQ4_1.qs, j)) + m
        }
    }

    private static func q5_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = Half.load(p, at: BlockQ5_0.d)
        let qh = p.loadUnaligned(fromByteOffset: BlockQ5_0.qh, as: UInt32.self)
        for j in 0..<32 {
            let q = Int(nibble(p, qs: BlockQ5_0.qs, j)) | Int((qh >> UInt32(j)) & 1) << 4
            y[j] = d * Float(q - 16)
        }
    }

    private static func q5_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = Half.load(p, at: BlockQ5_1.d)
        let m = Half.load(p, at: BlockQ5_1.m)
        let qh = p.loadUnaligned(fromByteOffset: BlockQ5_1.qh, as: UInt32.self)
        for j in 0..<32 {
            let q = Int(nibble(p, qs: BlockQ5_1.qs, j)) | Int((qh >> UInt32(j)) & 1) << 4
            y[j] = d * Float(q) + m
        }
    }

    private static func q8(_ p: UnsafeRawPointer, d: Float, qs: Int, count: Int, _ y: UnsafeMutablePointer<Float>) {
        for j in 0..<count {
            y[j] = d * Float(p.load(fromByteOffset: qs + j, as: Int8.self))
        }
    }

    private static func q2_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = Half.load(p, at: BlockQ2_K.d)
        let dmin = Half.load(p, at: BlockQ2_K.dmin)
        for e in 0..<256 {
            let (h, l, i) = (e / 128, (e % 128) / 32, e % 32)
            let q = (byte(p, BlockQ2_K.qs + 32 * h + i) >> (2 * l)) & 3
            let sc = byte(p, BlockQ2_K.scales + e / 16)
            y[e] = (d * Float(sc & 15)) * Float(q) - dmin * Float(sc >> 4)
        }
    }

    private static func q3_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = Half.load(p, at: BlockQ3_K.d)
        for e in 0..<256 {
            let (h, l, i) = (e / 128, (e % 128) / 32, e % 32)
            let low = Int((byte(p, BlockQ3_K.qs + 32 * h + i) >> (2 * l)) & 3)
            let high = (byte(p, BlockQ3_K.hmask + i) >> (4 * h + l)) & 1
            let q = low - (high == 1 ? 0 : 4)
            let s = e / 16
            let scaleLow = s < 8 ? byte(p, BlockQ3_K.scales + s) & 15 : byte(p, BlockQ3_K.scales + s - 8) >> 4
            let scaleHigh = (byte(p, BlockQ3_K.scales + 8 + s % 4) >> (2 * (s / 4))) & 3
            let scale = Int(scaleLow | scaleHigh << 4) - 32
            y[e] = (d * Float(scale)) * Float(q)
        }
    }

    private static func q4_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = Half.load(p, at: BlockQ4_K.d)
        let dmin = Half.load(p, at: BlockQ4_K.dmin)
        for e in 0..<256 {
            let (c, n, i) = (e / 64, (e % 64) / 32, e % 32)
            let q = (byte(p, BlockQ4_K.qs + 32 * c + i) >> (4 * n)) & 15
            let (scale, min) = kQuantScaleMin(p + BlockQ4_K.scales, e / 32)
            y[e] = (d * Float(scale)) * Float(q) - dmin * Float(min)
        }
    }

    private static func q5_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = Half.load(p, at: BlockQ5_K.d)
        let dmin = Half.load(p, at: BlockQ5_K.dmin)
        for e in 0..<256 {
            let (c, n, i) = (e / 64, (e % 64) / 32, e % 32)
            let low = (byte(p, BlockQ5_K.qs + 32 * c + i) >> (4 * n)) & 15
            let high = (byte(p, BlockQ5_K.qh + i) >> (e / 32)) & 1
            let (scale, min) = kQuantScaleMin(p + BlockQ5_K.scales, e / 32)
            y[e] = (d * Float(scale)) * Float(low | high << 4) - dmin * Float(min)
        }
    }

    private static func q6_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = Half.load(p, at: BlockQ6_K.d)
        for e in 0..<256 {
            let h = e / 128
            let (n, i64) = ((e % 128) / 64, e % 64)
            let (k, i32) = ((e % 128) / 32, e % 32)
            let low = (byte(p, BlockQ6_K.ql + 64 * h + i64) >> (4 * n)) & 15
            let high = (byte(p, BlockQ6_K.qh + 32 * h + i32) >> (2 * k)) & 3
            let scale = p.load(fromByteOffset: BlockQ6_K.scales + e / 16, as: Int8.self)
            y[e] = (d * Float(scale)) * Float(Int(low | high << 4) - 32)
        }
    }
}
