/// A fast 64-bit checksum for engine-file sections and tensors (not cryptographic: it catches corruption, not
/// tampering). Four independent multiply-rotate lanes over 8-byte words, so it runs at memory speed; the lanes are
/// mixed, the length and the tail bytes folded in, then the result is avalanched.
public enum Hash64 {
    static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let p3: UInt64 = 0x1656_67B1_9E37_79F9

    @inline(__always)
    static func round(_ acc: UInt64, _ word: UInt64) -> UInt64 {
        let a = acc &+ word &* p2
        return ((a << 31) | (a >> 33)) &* p1
    }

    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return avalanche(seed ^ p3) }
        let n = bytes.count
        var a = seed &+ p1 &+ p2
        var b = seed &+ p2
        var c = seed
        var d = seed &- p1
        var i = 0
        while i &+ 32 <= n {
            a = round(a, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            b = round(b, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i &+ 8, as: UInt64.self)))
            c = round(c, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i &+ 16, as: UInt64.self)))
            d = round(d, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i &+ 24, as: UInt64.self)))
            i &+= 32
        }
        var h = ((a << 1) | (a >> 63)) &+ ((b << 7) | (b >> 57)) &+ ((c << 12) | (c >> 52)) &+ ((d << 18) | (d >> 46))
        h = (h ^ round(0, a)) &* p1 &+ p3
        h = (h ^ round(0, b)) &* p1 &+ p3
        h = (h ^ round(0, c)) &* p1 &+ p3
        h = (h ^ round(0, d)) &* p1 &+ p3
        h &+= UInt64(n)
        while i &+ 8 <= n {
            h ^= round(0, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            h = ((h << 27) | (h >> 37)) &* p1 &+ p3
            i &+= 8
        }
        while i < n {
            h ^= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) &* p3
            h = ((h << 11) | (h >> 53)) &* p1
            i &+= 1
        }
        return avalanche(h)
    }

    @inline(__always)
    static func avalanche(_ x: UInt64) -> UInt64 {
        var h = x
        h ^= h >> 33
        h &*= p2
        h ^= h >> 29
        h &*= p3
        h ^= h >> 32
        return h
    }

    /// 16 hex digits, as engine files and `kiln inspect` write checksums.
    public static func hex(_ h: UInt64) -> String {
        let s = String(h, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
