import KilnTensors

/// Round-to-nearest quantization of float rows into ggml block formats, per 32-value group, the formats the
/// kernels already run: Q8_0 (symmetric 8-bit, scale = max|x| / 127), Q4_0 (symmetric 4-bit: scale = the
/// largest-magnitude value / -8, so that value maps exactly to -8) and Q4_1 (asymmetric 4-bit: scale =
/// (max - min) / 15 and offset min). Scales are stored as fp16, as ggml stores them; the quants are computed from
/// the float scale as llama.cpp's reference quantizers do.
public enum Quantize {
    /// Bytes of one row of `count` values of `type`, written from `x`.
    public static func row(_ x: UnsafePointer<Float>, count: Int, as type: DType, into out: UnsafeMutableRawPointer) {
        switch type {
        case .f32:
            out.copyMemory(from: x, byteCount: count * 4)
        case .bf16:
            for i in 0..<count { out.storeBytes(of: BFloat16.fromFloat(x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0:
            for b in 0..<(count / 32) { q8_0(x + 32 * b, out + 34 * b) }
        case .q4_0:
            for b in 0..<(count / 32) { q4_0(x + 32 * b, out + 18 * b) }
        case .q4_1:
            for b in 0..<(count / 32) { q4_1(x + 32 * b, out + 20 * b) }
        default:
            preconditionFailure("no quantizer for \(type)")
        }
    }

    public static let supported: Set<DType> = [.f32, .bf16, .q8_0, .q4_0, .q4_1]

    static func storeHalf(_ v: Float, _ p: UnsafeMutableRawPointer) {
        p.storeBytes(of: Half.fromFloat(v).littleEndian, as: UInt16.self)
    }

    static func q8_0(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for i in 0..<32 { amax = max(amax, abs(x[i])) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, out)
        for i in 0..<32 {
            let q = Int8(max(-127, min(127, (x[i] * id).rounded(.toNearestOrAwayFromZero))))
            out.storeBytes(of: q, toByteOffset: 2 + i, as: Int8.self)
        }
    }

    static func q4_0(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var amax: Float = 0
        var extreme: Float = 0
        for i in 0..<32 where abs(x[i]) > amax {
            amax = abs(x[i])
            extreme = x[i]
        }
        let d = extreme / -8
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, out)
        func quant(_ v: Float) -> UInt8 { UInt8(max(0, min(15, Int((v * id + 8.5).rounded(.down))))) }
        for j in 0..<16 {
            out.storeBytes(of: quant(x[j]) | quant(x[j + 16]) << 4, toByteOffset: 2 + j, as: UInt8.self)
        }
    }

    static func q4_1(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var lo = x[0]
        var hi = x[0]
        for i in 1..<32 {
            lo = min(lo, x[i])
            hi = max(hi, x[i])
        }
        let d = (hi - lo) / 15
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, out)
        storeHalf(lo, out + 2)
        func quant(_ v: Float) -> UInt8 { UInt8(max(0, min(15, Int(((v - lo) * id + 0.5).rounded(.down))))) }
        for j in 0..<16 {
            out.storeBytes(of: quant(x[j]) | quant(x[j + 16]) << 4, toByteOffset: 4 + j, as: UInt8.self)
        }
    }
}
