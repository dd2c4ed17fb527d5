/// IEEE binary16 (fp16) stored as raw bits, as in GGUF and safetensors.
///
/// Widening goes through Swift's `Float16`, which is exact (every fp16 value is a float) and compiles to
/// `vcvtph2ps` when the target CPU has F16C. Narrowing rounds to nearest even, as ggml's `GGML_FP32_TO_FP16`.
public enum Half {
    @inlinable @inline(__always)
    public static func toFloat(_ bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    @inlinable @inline(__always)
    public static func fromFloat(_ value: Float) -> UInt16 {
        Float16(value).bitPattern
    }

    /// Reads the fp16 at `offset` bytes past `p`, which may be unaligned.
    @inlinable @inline(__always)
    public static func load(_ p: UnsafeRawPointer, at offset: Int) -> Float {
        toFloat(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
}

/// bfloat16 stored as raw bits: the upper 16 bits of a float32.
public enum BFloat16 {
    @inlinable @inline(__always)
    public static func toFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) &<< 16)
    }

    /// Rounds to nearest even and keeps NaNs quiet, as ggml's `ggml_compute_fp32_to_bf16`.
    @inlinable
    public static func fromFloat(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if bits & 0x7fff_ffff > 0x7f80_0000 {
            return UInt16(truncatingIfNeeded: (bits >> 16) | 64)
        }
        let rounded = UInt64(bits) &+ 0x7fff &+ UInt64((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }
}
