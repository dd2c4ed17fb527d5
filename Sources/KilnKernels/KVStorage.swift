/// The number format of a KV cache. Keys and values are written once per token and read by every later token's
/// attention, so a 16-bit cache halves the bytes attention reads per step (and doubles the pool's token capacity);
/// the kernels widen each element to float32 as they load it and compute in float32 as before.
public enum KVCacheDType: String, Sendable, CaseIterable {
    /// IEEE single precision: exactly what the model computed.
    case f32
    /// IEEE half precision (10-bit mantissa, round to nearest even); values beyond ±65504 are saturated.
    case f16
    /// bfloat16 (float32's exponent, 7-bit mantissa, round to nearest even).
    case bf16

    /// Bytes one element takes.
    public var bytes: Int { self == .f32 ? 4 : 2 }

    /// Writes `count` floats from `source` into `destination` in this format.
    @inlinable
    public func store(_ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer) {
        switch self {
        case .f32:
            destination.copyMemory(from: source, byteCount: count &* 4)
        case .f16:
            let out = destination.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { out[i] = Self.half(source[i]) }
        case .bf16:
            let out = destination.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { out[i] = Self.bfloat(source[i]) }
        }
    }

    /// Element `index` of a row stored in this format, as a float (exact: every 16-bit value is a float).
    @inlinable
    public func load(_ source: UnsafeRawPointer, index: Int) -> Float {
        switch self {
        case .f32: return source.loadUnaligned(fromByteOffset: index &* 4, as: Float.self)
        case .f16: return Float(Float16(bitPattern: source.loadUnaligned(fromByteOffset: index &* 2, as: UInt16.self)))
        case .bf16:
            let bits = UInt32(source.loadUnaligned(fromByteOffset: index &* 2, as: UInt16.self)) << 16
            return Float(bitPattern: bits)
        }
    }

    /// Float → binary16 bits, round to nearest even, saturating finite values at ±65504 (a key or value that large
    /// would otherwise become infinite and turn a whole softmax into NaN).
    @inlinable
    static func half(_ x: Float) -> UInt16 {
        Float16(Swift.min(Swift.max(x, -65504), 65504)).bitPattern  // NaN passes through min/max
    }

    /// Float → bfloat16 bits, round to nearest even; NaN stays a quiet NaN.
    @inlinable
    static func bfloat(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: b >> 16) | 0x40 }
        let rounded = b &+ 0x7fff &+ ((b >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }
}

/// How the attention kernels widen one KV element format to float32, 16 lanes or one element at a time.
protocol KVElement {
    static var bytes: Int { get }
    static func load16(_ p: UnsafeRawPointer) -> SIMD16<Float>
    static func load1(_ p: UnsafeRawPointer) -> Float
}

enum F32Element: KVElement {
    static var bytes: Int { 4 }
    @inline(__always) static func load16(_ p: UnsafeRawPointer) -> SIMD16<Float> {
        p.loadUnaligned(as: SIMD16<Float>.self)
    }
    @inline(__always) static func load1(_ p: UnsafeRawPointer) -> Float { p.loadUnaligned(as: Float.self) }
}

enum F16Element: KVElement {
    static var bytes: Int { 2 }
    @inline(__always) static func load16(_ p: UnsafeRawPointer) -> SIMD16<Float> { halfFloats(p) }
    @inline(__always) static func load1(_ p: UnsafeRawPointer) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(as: UInt16.self)))
    }
}

enum BF16Element: KVElement {
    static var bytes: Int { 2 }
    @inline(__always) static func load16(_ p: UnsafeRawPointer) -> SIMD16<Float> { bfloatFloats(p) }
    @inline(__always) static func load1(_ p: UnsafeRawPointer) -> Float {
        Float(bitPattern: UInt32(p.loadUnaligned(as: UInt16.self)) << 16)
    }
}
