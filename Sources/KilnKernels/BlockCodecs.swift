import KilnTensors

// Per-format SIMD16 block codecs that the generic drivers in QuantKernels.swift specialise over.
//
// `accumulate` adds dequant(block) ⊙ x into two accumulators (the drivers interleave two blocks into four), using
// fused multiply-adds: w = q * d + bias, then acc += w * x. `decode` writes the block's floats with the same
// operations as the scalar `Dequantize.row` (separate multiply and add where ggml has them, and the offset
// subtracted from q before scaling, which keeps the sign of zero), so it matches it bit for bit.
//
// The plain float formats are "blocks" of 32 values; the drivers finish a row whose length is not a multiple of
// 32 with scalar code.

protocol BlockCodec {
    /// Values per block.
    static var elements: Int { get }
    /// Bytes per block.
    static var bytes: Int { get }
    static func accumulate(
        _ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ a: inout SIMD16<Float>, _ b: inout SIMD16<Float>)
    static func decode(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>)
}

/// The plain float formats, 32 values per step so that two accumulators run.
protocol PlainCodec: BlockCodec {
    static func load(_ p: UnsafeRawPointer) -> SIMD16<Float>
}

extension PlainCodec {
    static var elements: Int { 32 }

    @inline(__always)
    static func accumulate(
        _ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ a: inout SIMD16<Float>, _ b: inout SIMD16<Float>
    ) {
        a = a.addingProduct(load(p), loadFloats16(x))
        b = b.addingProduct(load(p + bytes / 2), loadFloats16(x + 16))
    }

    @inline(__always)
    static func decode(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        storeFloats16(load(p), y)
        storeFloats16(load(p + bytes / 2), y + 16)
    }
}

enum F32Codec: PlainCodec {
    static var bytes: Int { 128 }
    @inline(__always) static func load(_ p: UnsafeRawPointer) -> SIMD16<Float> {
        p.loadUnaligned(as: SIMD16<Float>.self)
    }
}

enum F16Codec: PlainCodec {
    static var bytes: Int { 64 }
    @inline(__always) static func load(_ p: UnsafeRawPointer) -> SIMD16<Float> { halfFloats(p) }
}

enum BF16Codec: PlainCodec {
    static var bytes: Int { 64 }
    @inline(__always) static func load(_ p: UnsafeRawPointer) -> SIMD16<Float> { bfloatFloats(p) }
}

enum Q4_0Codec: BlockCodec {
    static var elements: Int { 32 }
    static var bytes: Int { 18 }

    /// Quants 0..<16 and 16..<32 as floats, and the per-block (scale, bias) with w = q * scale + bias.
    @inline(__always)
    static func unpack(_ p: UnsafeRawPointer) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        let d = Half.load(p, at: BlockQ4_0.d)
        let q = loadBytes16(p, BlockQ4_0.qs)
        return (floats(q & 0x0f), floats(q &>> 4), SIMD16(repeating: d), SIMD16(repeating: -8 * d))
    }

    @inline(__always)
    static func accumulate(
        _ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ a: inout SIMD16<Float>, _ b: inout SIMD16<Float>
    ) {
        let (lo, hi, d, bias) = unpack(p)
        a = a.addingProduct(bias.addingProduct(lo, d), loadFloats16(x))
        b = b.addingProduct(bias.addingProduct(hi, d), loadFloats16(x + 16))
    }

    @inline(__always)
    static func decode(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let (lo, hi, d, _) = unpack(p)
        storeFloats16(d * (lo - 8), y)
        storeFloats16(d * (hi - 8), y + 16)
    }
}

enum Q4_1Codec: BlockCodec {
    static var elements: Int { 32 }
    static var bytes: Int { 20 }

    @inline(__always)
    static func unpack(_ p: UnsafeRawPointer) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        let d = Half.load(p, at: BlockQ4_1.d)
        let m = Half.load(p, at: BlockQ4_1.m)
        let q = loadBytes16(p, BlockQ4_1.qs)
        return (floats(q & 0x0f), floats(q &>> 4), SIMD16(repeating: d), SIMD16(repeating: m))
    }

    @inline(__always)
    static func accumulate(
        _ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ a: inout SIMD16<Float>, _ b: inout SIMD16<Float>
    ) {
        let (lo, hi, d, m) = unpack(p)
        a = a.addingProduct(m.addingProduct(lo, d), loadFloats16(x))
        b = b.addingProduct(m.addingProduct(hi, d), loadFloats16(x + 16))
    }

    @inline(__always)
    static func decode(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let (lo, hi, d, m) = unpack(p)
        storeFloats16(d * lo + m, y)
        storeFloats16(d * hi + m, y + 16)
    }
}

/// The 5-bit quants of a Q5_0/Q5_1 block as floats: low nibbles from `qs`, bit 4 from the u32 at `qh`.
@inline(__always)
func unpackFiveBit(_ p: UnsafeRawPointer, qh: Int, qs: Int) -> (SIMD16<Float>, SIMD16<Float>) {
    let high = p.loadUnaligned(fromByteOffset: qh, as: UInt32.self)
    let q = loadBytes16(p, qs)
    let lo = int32s(q & 0x0f) | fifthBits(high, first: 0)
    let hi = int32s(q &>> 4) | fifthBits(high, first: 16)
    return (floats(lo), floats(hi))
}

enum Q5_0Codec: BlockCodec {
    static var elements: Int { 32 }
    static var bytes: Int { 22 }

    @inline(__always)
    static func unpack(_ p: UnsafeRawPointer) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        let d = Half.load(p, at: BlockQ5_0.d)
        let (lo, hi) = unpackFiveBit(p, qh: BlockQ5_0.qh, qs: BlockQ5_0.qs)
        return (lo, hi, SIMD16(repeating: d), SIMD16(repeating: -16 * d))
    }

    @inline(__always)
    static func accumulate(
        _ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ a: inout SIMD16<Float>, _ b: inout SIMD16<Float>
    ) {
        let (lo, hi, d, bias) = unpack(p)
        a = a.addingProduct(bias.addingProduct(lo, d), loadFloats16(x))
        b = b.addingProduct(bias.addingProduct(hi, d), loadFloats16(x + 16))
    }

    @inline(__always)
    static func decode(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let (lo, hi, d, _) = unpack(p)
        storeFloats16(d * (lo - 16), y)
        storeFloats16(d * (hi - 16), y + 16)
    }
}

enum Q5_1Codec: BlockCodec {
    static var elements: Int { 32 }
    static var bytes: Int { 24 }

    @inline(__always)
    static func unpack(_ p: UnsafeRawPointer) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        let d = Half.load(p, at: BlockQ5_1.d)
        let m = Half.load(p, at: BlockQ5_1.m)
        let (lo, hi) = unpackFiveBit(p, qh: BlockQ5_1.qh, qs: BlockQ5_1.qs)
        return (lo, hi, SIMD16(repeating: d), SIMD16(repeating: m))
    }

    @inline(__always)
    static func accumulate(
        _ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ a: inout SIMD16<Float>, _ b: inout SIMD16<Float>
    ) {
        let (lo, hi, d, m) = unpack(p)
        a = a.addingProduct(m.addingProduct(lo, d), loadFloats16(x))
        b = b.addingProduct(m.addingProduct(hi, d), loadFloats16(x + 16))
    }

    @inline(__always)
    static func decode(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let (lo, hi, d, m) = unpack(p)
        storeFloats16(d * lo + m, y)
        storeFloats16(d * hi + m, y + 16)
    }
}

/// Q8_0 and Q8_1: an fp16 scale at offset 0 and 32 signed bytes at `qs`.
protocol EightBitCodec: BlockCodec {
    static var qs: Int { get }
}

extension EightBitCodec {
    @inline(__always)
    static func accumulate(
        _ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ a: inout SIMD16<Float>, _ b: inout SIMD16<Float>
    ) {
        let d = SIMD16<Float>(repeating: Half.load(p, at: 0))
        a = a.addingProduct(floats(signedBytes16(p, qs)) * d, loadFloats16(x))
        b = b.addingProduct(floats(signedBytes16(p, qs &+ 16)) * d, loadFloats16(x + 16))
    }

    @inline(__always)
    static func decode(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = SIMD16<Float>(repeating: Half.load(p, at: 0))
        storeFloats16(d * floats(signedBytes16(p, qs)), y)
        storeFloats16(d * floats(signedBytes16(p, qs &+ 16)), y + 16)
    }
}

enum Q8_0Codec: EightBitCodec {
    static var elements: Int { 32 }
    static var bytes: Int { 34 }
    static var qs: Int { BlockQ8_0.qs }
}

enum Q8_1Codec: EightBitCodec {
    static var elements: Int { 32 }
    static var bytes: Int { 36 }
    static var qs: Int { BlockQ8_1.qs }
}
