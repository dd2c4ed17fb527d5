// Byte layouts of ggml's block formats, as stored in GGUF files.
//
// Each namespace below gives the byte offset of every field of one block (offsets are inlinable constants,
// so kernels in other modules fold them). Blocks are packed back to back with no padding and no alignment,
// so every multi-byte field may be unaligned: read it with `loadUnaligned`. All integers are little-endian.
// "fp16" is IEEE binary16; "element e" is the e-th of the block's dequantized values.
//
// `BlockLayout.fields(of:)` lists the same fields as data; a test checks that they tile each block exactly
// and add up to `DType.blockBytes`.

/// One field of a block: `size` bytes starting `offset` bytes into the block.
public struct BlockField: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let offset: Int
    public let size: Int

    public init(_ name: String, offset: Int, size: Int) {
        self.name = name
        self.offset = offset
        self.size = size
    }

    public var description: String { "\(name)@\(offset)+\(size)" }
}

public enum BlockLayout {
    /// The fields of one block (one element for the plain float formats), in memory order.
    public static func fields(of type: DType) -> [BlockField] {
        switch type {
        case .f32: return [BlockField("value", offset: 0, size: 4)]
        case .f16, .bf16: return [BlockField("value", offset: 0, size: 2)]
        case .q4_0: return [.init("d", offset: 0, size: 2), .init("qs", offset: 2, size: 16)]
        case .q4_1:
            return [.init("d", offset: 0, size: 2), .init("m", offset: 2, size: 2), .init("qs", offset: 4, size: 16)]
        case .q5_0:
            return [.init("d", offset: 0, size: 2), .init("qh", offset: 2, size: 4), .init("qs", offset: 6, size: 16)]
        case .q5_1:
            return [
                .init("d", offset: 0, size: 2), .init("m", offset: 2, size: 2), .init("qh", offset: 4, size: 4),
                .init("qs", offset: 8, size: 16),
            ]
        case .q8_0: return [.init("d", offset: 0, size: 2), .init("qs", offset: 2, size: 32)]
        case .q8_1:
            return [.init("d", offset: 0, size: 2), .init("s", offset: 2, size: 2), .init("qs", offset: 4, size: 32)]
        case .q2_K:
            return [
                .init("scales", offset: 0, size: 16), .init("qs", offset: 16, size: 64),
                .init("d", offset: 80, size: 2), .init("dmin", offset: 82, size: 2),
            ]
        case .q3_K:
            return [
                .init("hmask", offset: 0, size: 32), .init("qs", offset: 32, size: 64),
                .init("scales", offset: 96, size: 12), .init("d", offset: 108, size: 2),
            ]
        case .q4_K:
            return [
                .init("d", offset: 0, size: 2), .init("dmin", offset: 2, size: 2),
                .init("scales", offset: 4, size: 12), .init("qs", offset: 16, size: 128),
            ]
        case .q5_K:
            return [
                .init("d", offset: 0, size: 2), .init("dmin", offset: 2, size: 2),
                .init("scales", offset: 4, size: 12), .init("qh", offset: 16, size: 32),
                .init("qs", offset: 48, size: 128),
            ]
        case .q6_K:
            return [
                .init("ql", offset: 0, size: 128), .init("qh", offset: 128, size: 64),
                .init("scales", offset: 192, size: 16), .init("d", offset: 208, size: 2),
            ]
        case .q8_K:
            return [
                .init("d", offset: 0, size: 4), .init("qs", offset: 4, size: 256),
                .init("bsums", offset: 260, size: 32),
            ]
        }
    }
}

/// Q4_0, 18 bytes per 32 values: `d` fp16 @0, `qs` 16 bytes @2.
/// Element j < 16 is the low nibble of qs[j], element j + 16 its high nibble; value = d * (q - 8).
public enum BlockQ4_0 {
    @inlinable public static var d: Int { 0 }
    @inlinable public static var qs: Int { 2 }
}

/// Q4_1, 20 bytes per 32 values: `d` fp16 @0, `m` fp16 @2, `qs` 16 bytes @4.
/// Nibbles as Q4_0; value = d * q + m.
public enum BlockQ4_1 {
    @inlinable public static var d: Int { 0 }
    @inlinable public static var m: Int { 2 }
    @inlinable public static var qs: Int { 4 }
}

/// Q5_0, 22 bytes per 32 values: `d` fp16 @0, `qh` u32 @2, `qs` 16 bytes @6.
/// Low 4 bits as Q4_0; bit 4 of element j is bit j of qh; value = d * (q - 16).
public enum BlockQ5_0 {
    @inlinable public static var d: Int { 0 }
    @inlinable public static var qh: Int { 2 }
    @inlinable public static var qs: Int { 6 }
}

/// Q5_1, 24 bytes per 32 values: `d` fp16 @0, `m` fp16 @2, `qh` u32 @4, `qs` 16 bytes @8.
/// Bits as Q5_0; value = d * q + m.
public enum BlockQ5_1 {
    @inlinable public static var d: Int { 0 }
    @inlinable public static var m: Int { 2 }
    @inlinable public static var qh: Int { 4 }
    @inlinable public static var qs: Int { 8 }
}

/// Q8_0, 34 bytes per 32 values: `d` fp16 @0, `qs` 32 × i8 @2; value = d * qs[j].
public enum BlockQ8_0 {
    @inlinable public static var d: Int { 0 }
    @inlinable public static var qs: Int { 2 }
}

/// Q8_1, 36 bytes per 32 values: `d` fp16 @0, `s` fp16 @2 (d * Σ qs, unused by dequantization),
/// `qs` 32 × i8 @4; value = d * qs[j].
public enum BlockQ8_1 {
    @inlinable public static var d: Int { 0 }
    @inlinable public static var s: Int { 2 }
    @inlinable public static var qs: Int { 4 }
}

/// Q2_K, 84 bytes per 256 values: `scales` 16 bytes @0, `qs` 64 bytes @16, `d` fp16 @80, `dmin` fp16 @82.
/// Element e = 128h + 32l + i (h < 2, l < 4, i < 32) is q = (qs[32h + i] >> 2l) & 3; with sc = scales[e / 16],
/// value = (d * (sc & 15)) * q - dmin * (sc >> 4).
public enum BlockQ2_K {
    @inlinable public static var scales: Int { 0 }
    @inlinable public static var qs: Int { 16 }
    @inlinable public static var d: Int { 80 }
    @inlinable public static var dmin: Int { 82 }
}

/// Q3_K, 110 bytes per 256 values: `hmask` 32 bytes @0, `qs` 64 bytes @32, `scales` 12 bytes @96, `d` fp16 @108.
/// Element e = 128h + 32l + i: low bits (qs[32h + i] >> 2l) & 3, minus 4 unless bit (4h + l) of hmask[i] is set.
/// Sixteen 6-bit scales: scale s < 8 has low nibble scales[s] & 15, s ≥ 8 has scales[s - 8] >> 4; its top two bits
/// are (scales[8 + s % 4] >> 2(s / 4)) & 3. value = (d * (scale - 32)) * q with scale = that of sub-block e / 16.
public enum BlockQ3_K {
    @inlinable public static var hmask: Int { 0 }
    @inlinable public static var qs: Int { 32 }
    @inlinable public static var scales: Int { 96 }
    @inlinable public static var d: Int { 108 }
}

/// Q4_K, 144 bytes per 256 values: `d` fp16 @0, `dmin` fp16 @2, `scales` 12 bytes @4, `qs` 128 bytes @16.
/// Eight sub-blocks of 32, each with a 6-bit scale and min (`kQuantScaleMin`). Element e = 64c + 32n + i
/// (c < 4, n < 2, i < 32) is nibble n of qs[32c + i] and belongs to sub-block 2c + n;
/// value = (d * scale) * q - dmin * min.
public enum BlockQ4_K {
    @inlinable public static var d: Int { 0 }
    @inlinable public static var dmin: Int { 2 }
    @inlinable public static var scales: Int { 4 }
    @inlinable public static var qs: Int { 16 }
}

/// Q5_K, 176 bytes per 256 values: `d` fp16 @0, `dmin` fp16 @2, `scales` 12 bytes @4, `qh` 32 bytes @16,
/// `qs` 128 bytes @48. As Q4_K, plus bit 4 of element e = 32b + i is bit b of qh[i].
public enum BlockQ5_K {
    @inlinable public static var d: Int { 0 }
    @inlinable public static var dmin: Int { 2 }
    @inlinable public static var scales: Int { 4 }
    @inlinable public static var qh: Int { 16 }
    @inlinable public static var qs: Int { 48 }
}

/// Q6_K, 210 bytes per 256 values: `ql` 128 bytes @0, `qh` 64 bytes @128, `scales` 16 × i8 @192, `d` fp16 @208.
/// In half h < 2: element 128h + 64n + i (n < 2, i < 64) has low 4 bits = nibble n of ql[64h + i];
/// element 128h + 32k + i (k < 4, i < 32) has high 2 bits = (qh[32h + i] >> 2k) & 3.
/// value = (d * scales[e / 16]) * (q - 32).
public enum BlockQ6_K {
    @inlinable public static var ql: Int { 0 }
    @inlinable public static var qh: Int { 128 }
    @inlinable public static var scales: Int { 192 }
    @inlinable public static var d: Int { 208 }
}

/// Q8_K, 292 bytes per 256 values: `d` f32 @0, `qs` 256 × i8 @4, `bsums` 16 × i16 @260 (sums of 16 qs each,
/// unused by dequantization); value = d * qs[e].
public enum BlockQ8_K {
    @inlinable public static var d: Int { 0 }
    @inlinable public static var qs: Int { 4 }
    @inlinable public static var bsums: Int { 260 }
}

/// Decodes sub-block `j` (< 8) of the 12-byte packed 6-bit (scale, min) pairs shared by Q4_K and Q5_K.
/// Bytes 0–3 hold scales 0–3 in their low 6 bits, bytes 4–7 mins 0–3; for j ≥ 4 the low 4 bits come from
/// byte 8 + (j - 4) (scale in the low nibble, min in the high) and the top 2 bits from the spare bits 6–7 of
/// bytes j - 4 (scale) and j (min).
@inlinable @inline(__always)
public func kQuantScaleMin(_ scales: UnsafeRawPointer, _ j: Int) -> (scale: UInt8, min: UInt8) {
    func byte(_ i: Int) -> UInt8 { scales.load(fromByteOffset: i, as: UInt8.self) }
    if j < 4 {
        return (byte(j) & 63, byte(j &+ 4) & 63)
    }
    let low = byte(j &+ 4)
    return ((low & 0x0f) | ((byte(j &- 4) >> 6) << 4), (low >> 4) | ((byte(j) >> 6) << 4))
}
