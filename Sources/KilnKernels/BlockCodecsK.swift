import KilnTensors

// SIMD16 codecs for the 256-value K-quant super-blocks (see BlockCodecs.swift for the contract and
// KilnTensors/BlockLayouts.swift for the layouts). Each super-block is processed as 16-value groups whose
// sub-block scale is broadcast once; the two caller accumulators are joined by two local ones so four
// independent FMA chains run through a block.

/// Adds `w * x[0..<16]` and the next three groups into four accumulators.
@inline(__always)
func accumulate4(
    _ w0: SIMD16<Float>, _ w1: SIMD16<Float>, _ w2: SIMD16<Float>, _ w3: SIMD16<Float>, _ x: UnsafePointer<Float>,
    _ a: inout SIMD16<Float>, _ b: inout SIMD16<Float>, _ c: inout SIMD16<Float>, _ e: inout SIMD16<Float>
) {
    a = a.addingProduct(w0, loadFloats16(x))
    b = b.addingProduct(w1, loadFloats16(x + 16))
    c = c.addingProduct(w2, loadFloats16(x + 32))
    e = e.addingProduct(w3, loadFloats16(x + 48))
}

enum Q2_KCodec: BlockCodec {
    static var elements: Int { 256 }
    static var bytes: Int { 84 }

    /// Calls `body(offset, q, dl, ml)` for each 16-value group (value = dl * q - ml), 64 values per call.
    @inline(__always)
    static func groups(
        _ p: UnsafeRawPointer,
        _ body: (Int, (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>), SIMD4<Float>, SIMD4<Float>) ->
            Void
    ) {
        let sc = loadBytes16(p, BlockQ2_K.scales)
        let dl = Half.load(p, at: BlockQ2_K.d) * floats(sc & 0x0f)
        let ml = Half.load(p, at: BlockQ2_K.dmin) * floats(sc &>> 4)
        for h in 0..<2 {
            let q0 = loadBytes16(p, BlockQ2_K.qs &+ 32 &* h)
            let q1 = loadBytes16(p, BlockQ2_K.qs &+ 32 &* h &+ 16)
            for pair in 0..<2 {
                let l = 2 &* pair
                let s = 8 &* h &+ 2 &* l
                let lo = UInt8(truncatingIfNeeded: 2 &* l)
                let hi = lo &+ 2
                let q = (
                    floats((q0 &>> lo) & 3), floats((q1 &>> lo) & 3), floats((q0 &>> hi) & 3),
                    floats((q1 &>> hi) & 3)
                )
                body(
                    128 &* h &+ 32 &* l, q, SIMD4(dl[s], dl[s &+ 1], dl[s &+ 2], dl[s &+ 3]),
                    SIMD4(ml[s], ml[s &+ 1], ml[s &+ 2], ml[s &+ 3]))
            }
        }
    }

    @inline(__always)
    static func accumulate(
        _ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ a: inout SIMD16<Float>, _ b: inout SIMD16<Float>
    ) {
        var c = SIMD16<Float>(), e = SIMD16<Float>()
        groups(p) { offset, q, dl, ml in
            let w0 = SIMD16(repeating: -ml[0]).addingProduct(q.0, dl[0])
            let w1 = SIMD16(repeating: -ml[1]).addingProduct(q.1, dl[1])
            let w2 = SIMD16(repeating: -ml[2]).addingProduct(q.2, dl[2])
            let w3 = SIMD16(repeating: -ml[3]).addingProduct(q.3, dl[3])
            accumulate4(w0, w1, w2, w3, x + offset, &a, &b, &c, &e)
        }
        a += c
        b += e
    }

    @inline(__always)
    static func decode(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        groups(p) { offset, q, dl, ml in
            storeFloats16(dl[0] * q.0 - ml[0], y + offset)
            storeFloats16(dl[1] * q.1 - ml[1], y + (offset &+ 16))
            storeFloats16(dl[2] * q.2 - ml[2], y + (offset &+ 32))
            storeFloats16(dl[3] * q.3 - ml[3], y + (offset &+ 48))
        }
    }
}

enum Q3_KCodec: BlockCodec {
    static var elements: Int { 256 }
    static var bytes: Int { 110 }

    /// The sixteen signed 6-bit sub-block scales, times d.
    @inline(__always)
    static func scales(_ p: UnsafeRawPointer) -> SIMD16<Float> {
        let low = p.loadUnaligned(fromByteOffset: BlockQ3_K.scales, as: SIMD8<UInt8>.self)
        let high = p.loadUnaligned(fromByteOffset: BlockQ3_K.scales &+ 8, as: SIMD4<UInt8>.self)
        let lowBits = SIMD16(lowHalf: low & 0x0f, highHalf: low &>> 4)
        let highBits = SIMD16(
            lowHalf: SIMD8(lowHalf: high & 3, highHalf: (high &>> 2) & 3),
            highHalf: SIMD8(lowHalf: (high &>> 4) & 3, highHalf: high &>> 6))
        let scale = int32s(lowBits | (highBits &<< 4)) &- 32
        return Half.load(p, at: BlockQ3_K.d) * floats(scale)
    }

    /// Calls `body(offset, q + 4, dl)` for four 16-value groups at a time (value = dl * (q + 4) - 4 dl).
    @inline(__always)
    static func groups(
        _ p: UnsafeRawPointer,
        _ body: (Int, (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>), SIMD4<Float>) -> Void
    ) {
        let dl = scales(p)
        let m0 = loadBytes16(p, BlockQ3_K.hmask)
        let m1 = loadBytes16(p, BlockQ3_K.hmask &+ 16)
        for h in 0..<2 {
            let q0 = loadBytes16(p, BlockQ3_K.qs &+ 32 &* h)
            let q1 = loadBytes16(p, BlockQ3_K.qs &+ 32 &* h &+ 16)
            for pair in 0..<2 {
                let l = 2 &* pair
                let s = 8 &* h &+ 2 &* l
                let lo = UInt8(truncatingIfNeeded: 2 &* l)
                let bit = UInt8(truncatingIfNeeded: 4 &* h &+ l)
                @inline(__always) func quant(_ q: SIMD16<UInt8>, _ m: SIMD16<UInt8>, _ shift: UInt8, _ bit: UInt8)
                    -> SIMD16<Float>
                {
                    floats(((q &>> shift) & 3) | (((m &>> bit) & 1) &<< 2))
                }
                let q = (
                    quant(q0, m0, lo, bit), quant(q1, m1, lo, bit), quant(q0, m0, lo &+ 2, bit &+ 1),
                    quant(q1, m1, lo &+ 2, bit &+ 1)
                )
                body(128 &* h &+ 32 &* l, q, SIMD4(dl[s], dl[s &+ 1], dl[s &+ 2], dl[s &+ 3]))
            }
        }
    }

    @inline(__always)
    static func weights(_ q: SIMD16<Float>, _ dl: Float) -> SIMD16<Float> {
        SIMD16(repeating: -4 * dl).addingProduct(q, dl)
    }

    @inline(__always)
    static func accumulate(
        _ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ a: inout SIMD16<Float>, _ b: inout SIMD16<Float>
    ) {
        var c = SIMD16<Float>(), e = SIMD16<Float>()
        groups(p) { offset, q, dl in
            accumulate4(
                weights(q.0, dl[0]), weights(q.1, dl[1]), weights(q.2, dl[2]), weights(q.3, dl[3]), x + offset,
                &a, &b, &c, &e)
        }
        a += c
        b += e
    }

    @inline(__always)
    static func decode(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        groups(p) { offset, q, dl in
            storeFloats16(dl[0] * (q.0 - 4), y + offset)
            storeFloats16(dl[1] * (q.1 - 4), y + (offset &+ 16))
            storeFloats16(dl[2] * (q.2 - 4), y + (offset &+ 32))
            storeFloats16(dl[3] * (q.3 - 4), y + (offset &+ 48))
        }
    }
}

/// Q4_K and Q5_K: eight 32-value sub-blocks with 6-bit scales and mins; value = (d * scale) * q - dmin * min.
protocol KScaleMinCodec: BlockCodec {
    /// Calls `body(offset, q, ds, dm)` per 64 values: four 16-value groups, the first two in sub-block
    /// offset / 32 and the last two in the next.
    static func groups(
        _ p: UnsafeRawPointer,
        _ body: (Int, (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>), SIMD2<Float>, SIMD2<Float>) ->
            Void)
}

extension KScaleMinCodec {
    @inline(__always)
    static func accumulate(
        _ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ a: inout SIMD16<Float>, _ b: inout SIMD16<Float>
    ) {
        var c = SIMD16<Float>(), e = SIMD16<Float>()
        groups(p) { offset, q, ds, dm in
            let bias0 = SIMD16<Float>(repeating: -dm[0])
            let bias1 = SIMD16<Float>(repeating: -dm[1])
            accumulate4(
                bias0.addingProduct(q.0, ds[0]), bias0.addingProduct(q.1, ds[0]), bias1.addingProduct(q.2, ds[1]),
                bias1.addingProduct(q.3, ds[1]), x + offset, &a, &b, &c, &e)
        }
        a += c
        b += e
    }

    @inline(__always)
    static func decode(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        groups(p) { offset, q, ds, dm in
            storeFloats16(ds[0] * q.0 - dm[0], y + offset)
            storeFloats16(ds[0] * q.1 - dm[0], y + (offset &+ 16))
            storeFloats16(ds[1] * q.2 - dm[1], y + (offset &+ 32))
            storeFloats16(ds[1] * q.3 - dm[1], y + (offset &+ 48))
        }
    }
}

/// d * scale and dmin * min for the eight sub-blocks of a Q4_K/Q5_K block.
@inline(__always)
func kScalesAndMins(_ p: UnsafeRawPointer, d: Int, dmin: Int, scales: Int) -> (SIMD8<Float>, SIMD8<Float>) {
    var sc = SIMD8<Float>()
    var mn = SIMD8<Float>()
    for j in 0..<8 {
        let (s, m) = kQuantScaleMin(p + scales, j)
        sc[j] = Float(s)
        mn[j] = Float(m)
    }
    return (Half.load(p, at: d) * sc, Half.load(p, at: dmin) * mn)
}

enum Q4_KCodec: KScaleMinCodec {
    static var elements: Int { 256 }
    static var bytes: Int { 144 }

    @inline(__always)
    static func groups(
        _ p: UnsafeRawPointer,
        _ body: (Int, (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>), SIMD2<Float>, SIMD2<Float>) ->
            Void
    ) {
        let (ds, dm) = kScalesAndMins(p, d: BlockQ4_K.d, dmin: BlockQ4_K.dmin, scales: BlockQ4_K.scales)
        for c in 0..<4 {
            let q0 = loadBytes16(p, BlockQ4_K.qs &+ 32 &* c)
            let q1 = loadBytes16(p, BlockQ4_K.qs &+ 32 &* c &+ 16)
            let q = (floats(q0 & 0x0f), floats(q1 & 0x0f), floats(q0 &>> 4), floats(q1 &>> 4))
            body(64 &* c, q, SIMD2(ds[2 &* c], ds[2 &* c &+ 1]), SIMD2(dm[2 &* c], dm[2 &* c &+ 1]))
        }
    }
}

enum Q5_KCodec: KScaleMinCodec {
    static var elements: Int { 256 }
    static var bytes: Int { 176 }

    @inline(__always)
    static func groups(
        _ p: UnsafeRawPointer,
        _ body: (Int, (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>), SIMD2<Float>, SIMD2<Float>) ->
            Void
    ) {
        let (ds, dm) = kScalesAndMins(p, d: BlockQ5_K.d, dmin: BlockQ5_K.dmin, scales: BlockQ5_K.scales)
        let h0 = loadBytes16(p, BlockQ5_K.qh)
        let h1 = loadBytes16(p, BlockQ5_K.qh &+ 16)
        for c in 0..<4 {
            let q0 = loadBytes16(p, BlockQ5_K.qs &+ 32 &* c)
            let q1 = loadBytes16(p, BlockQ5_K.qs &+ 32 &* c &+ 16)
            let bit = UInt8(truncatingIfNeeded: 2 &* c)
            let q = (
                floats((q0 & 0x0f) | (((h0 &>> bit) & 1) &<< 4)),
                floats((q1 & 0x0f) | (((h1 &>> bit) & 1) &<< 4)),
                floats((q0 &>> 4) | (((h0 &>> (bit &+ 1)) & 1) &<< 4)),
                floats((q1 &>> 4) | (((h1 &>> (bit &+ 1)) & 1) &<< 4))
            )
            body(64 &* c, q, SIMD2(ds[2 &* c], ds[2 &* c &+ 1]), SIMD2(dm[2 &* c], dm[2 &* c &+ 1]))
        }
    }
}

enum Q6_KCodec: BlockCodec {
    static var elements: Int { 256 }
    static var bytes: Int { 210 }

    /// Calls `body(offset, q, ds)` for 64 values at a time: value = ds * (q - 32), one scale per 16 values.
    @inline(__always)
    static func groups(
        _ p: UnsafeRawPointer,
        _ body: (Int, (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>), SIMD4<Float>) -> Void
    ) {
        let ds = Half.load(p, at: BlockQ6_K.d) * floats(signedBytes16(p, BlockQ6_K.scales))
        for h in 0..<2 {
            let ql = BlockQ6_K.ql &+ 64 &* h
            let l0 = loadBytes16(p, ql)
            let l1 = loadBytes16(p, ql &+ 16)
            let l2 = loadBytes16(p, ql &+ 32)
            let l3 = loadBytes16(p, ql &+ 48)
            let h0 = loadBytes16(p, BlockQ6_K.qh &+ 32 &* h)
            let h1 = loadBytes16(p, BlockQ6_K.qh &+ 32 &* h &+ 16)
            @inline(__always) func quant(_ low: SIMD16<UInt8>, _ high: SIMD16<UInt8>, _ shift: UInt8) -> SIMD16<Float> {
                floats(low | (((high &>> shift) & 3) &<< 4))
            }
            // Values 128h + 0..<64: low nibbles of ql, qh bits 0-1 then 2-3.
            let s = 8 &* h
            body(
                128 &* h,
                (quant(l0 & 0x0f, h0, 0), quant(l1 & 0x0f, h1, 0), quant(l2 & 0x0f, h0, 2), quant(l3 & 0x0f, h1, 2)),
                SIMD4(ds[s], ds[s &+ 1], ds[s &+ 2], ds[s &+ 3]))
            // Values 128h + 64..<128: high nibbles of ql, qh bits 4-5 then 6-7.
            body(
                128 &* h &+ 64,
                (quant(l0 &>> 4, h0, 4), quant(l1 &>> 4, h1, 4), quant(l2 &>> 4, h0, 6), quant(l3 &>> 4, h1, 6)),
                SIMD4(ds[s &+ 4], ds[s &+ 5], ds[s &+ 6], ds[s &+ 7]))
        }
    }

    @inline(__always)
    static func weights(_ q: SIMD16<Float>, _ ds: Float) -> SIMD16<Float> {
        SIMD16(repeating: -32 * ds).addingProduct(q, ds)
    }

    @inline(__always)
    static func accumulate(
        _ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ a: inout SIMD16<Float>, _ b: inout SIMD16<Float>
    ) {
        var c = SIMD16<Float>(), e = SIMD16<Float>()
        groups(p) { offset, q, ds in
            accumulate4(
                weights(q.0, ds[0]), weights(q.1, ds[1]), weights(q.2, ds[2]), weights(q.3, ds[3]), x + offset,
                &a, &b, &c, &e)
        }
        a += c
        b += e
    }

    @inline(__always)
    static func decode(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        groups(p) { offset, q, ds in
            storeFloats16(ds[0] * (q.0 - 32), y + offset)
            storeFloats16(ds[1] * (q.1 - 32), y + (offset &+ 16))
            storeFloats16(ds[2] * (q.2 - 32), y + (offset &+ 32))
            storeFloats16(ds[3] * (q.3 - 32), y + (offset &+ 48))
        }
    }
}

enum Q8_KCodec: BlockCodec {
    static var elements: Int { 256 }
    static var bytes: Int { 292 }

    @inline(__always)
    static func accumulate(
        _ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ a: inout SIMD16<Float>, _ b: inout SIMD16<Float>
    ) {
        let d = SIMD16<Float>(
            repeating: Float(bitPattern: p.loadUnaligned(fromByteOffset: BlockQ8_K.d, as: UInt32.self)))
        var c = SIMD16<Float>(), e = SIMD16<Float>()
        for g in stride(from: 0, to: 256, by: 64) {
            let q = p + (BlockQ8_K.qs &+ g)
            accumulate4(
                d * floats(signedBytes16(q, 0)), d * floats(signedBytes16(q, 16)), d * floats(signedBytes16(q, 32)),
                d * floats(signedBytes16(q, 48)), x + g, &a, &b, &c, &e)
        }
        a += c
        b += e
    }

    @inline(__always)
    static func decode(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = SIMD16<Float>(
            repeating: Float(bitPattern: p.loadUnaligned(fromByteOffset: BlockQ8_K.d, as: UInt32.self)))
        for g in stride(from: 0, to: 256, by: 16) {
            storeFloats16(d * floats(signedBytes16(p, BlockQ8_K.qs &+ g)), y + g)
        }
    }
}
