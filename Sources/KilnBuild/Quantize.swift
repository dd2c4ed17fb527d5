import KilnTensors

/// Quantization of float rows into the ggml block formats the kernels run: Q8_0 (symmetric 8-bit), Q4_0
/// (symmetric 4-bit, levels -8…7) and Q4_1 (asymmetric 4-bit: 16 levels from an offset). Every stored block holds
/// 32 values; scales and offsets are fp16, as ggml stores them.
///
/// - Q8_0 and Q4_1 per group of `groupSize` values (32, 64 or 128): round-to-nearest from the group's range
///   (Q8_0: scale = max|x| / 127; Q4_1: scale = (max - min) / 15, offset = min), then for Q4_1 the scale and
///   offset refitted by least squares to the chosen levels and the levels chosen again, kept only when the error
///   falls. A group of 64 or 128 values writes its one scale (and offset) into each of its 32-value blocks, since
///   the kernels read 32-value blocks: the file is as large as with groups of 32, the precision is that of the
///   larger group. A row's last group is shorter when the row is not a whole number of groups.
/// - Q4_0 per 32-value block, with the scale searched (`q4_0`): round-to-nearest from the largest magnitude wastes
///   half of the 16 levels on the sign the extreme value lacks, and a block whose values sit on an offset grid
///   (weights converted from an asymmetric format) loses most of its precision.
public enum Quantize {
    /// Bytes of one row of `count` values of `type`, written from `x`, with one scale per `groupSize` values
    /// (Q8_0 and Q4_1; Q4_0 is always per 32 values).
    public static func row(
        _ x: UnsafePointer<Float>, count: Int, as type: DType, into out: UnsafeMutableRawPointer, groupSize: Int = 32,
        importance: UnsafePointer<Float>? = nil
    ) {
        switch type {
        case .f32:
            out.copyMemory(from: x, byteCount: count * 4)
        case .bf16:
            for i in 0..<count { out.storeBytes(of: BFloat16.fromFloat(x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0:
            forEachGroup(count, groupSize) { start, n in q8_0(x + start, n, out + 34 * (start / 32)) }
        case .q4_0:
            for b in 0..<(count / 32) { q4_0(x + 32 * b, out + 18 * b, importance: importance.map { $0 + 32 * b }) }
        case .q4_1:
            forEachGroup(count, groupSize) { start, n in
                q4_1(x + start, n, out + 20 * (start / 32), importance: importance.map { $0 + start })
            }
        default:
            preconditionFailure("no quantizer for \(type)")
        }
    }

    public static let supported: Set<DType> = [.f32, .bf16, .q8_0, .q4_0, .q4_1]

    static func forEachGroup(_ count: Int, _ groupSize: Int, _ body: (Int, Int) -> Void) {
        var start = 0
        while start < count {
            let n = min(groupSize, count - start)
            body(start, n)
            start += n
        }
    }

    static func storeHalf(_ v: Float, _ p: UnsafeMutableRawPointer) {
        p.storeBytes(of: Half.fromFloat(v).littleEndian, as: UInt16.self)
    }

    static func half(_ v: Float) -> Float { Float(Float16(v)) }

    /// `n` values (a multiple of 32) as n/32 Q8_0 blocks sharing one scale.
    static func q8_0(_ x: UnsafePointer<Float>, _ n: Int, _ out: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for i in 0..<n { amax = max(amax, abs(x[i])) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        for b in 0..<(n / 32) {
            let o = out + 34 * b
            storeHalf(d, o)
            for i in 0..<32 {
                let q = Int8(max(-127, min(127, (x[32 * b + i] * id).rounded(.toNearestOrAwayFromZero))))
                o.storeBytes(of: q, toByteOffset: 2 + i, as: Int8.self)
            }
        }
    }

    /// Inverse scales tried for a Q4_0 block, as multiples of 1 / max|x|: the extreme value lands on level ±t.
    /// 8 is plain round-to-nearest (the extreme on -8), 7 puts it on +7; smaller t coarsens the grid, larger t clips
    /// the extreme to sharpen the rest.
    static let q4_0Candidates: [Float] = stride(from: Float(5), through: 10.01, by: 0.5).map { $0 }

    /// One Q4_0 block (32 values), with the scale of `q4_0Scale`.
    static func q4_0(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer, importance: UnsafePointer<Float>? = nil) {
        let d = q4_0Scale(x, importance: importance)
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, out)
        for j in 0..<16 {
            let lo = UInt8(Int(q4_0Level(x[j], id)) + 8)
            let hi = UInt8(Int(q4_0Level(x[j + 16], id)) + 8)
            out.storeBytes(of: lo | hi << 4, toByteOffset: 2 + j, as: UInt8.self)
        }
    }

    /// The level of x·id: round to nearest even, clamped to -8…7.
    @inline(__always) static func q4_0Level(_ v: Float, _ id: Float) -> Float {
        min(7, max(-8, (v * id).rounded(.toNearestOrEven)))
    }

    /// The scale (fp16-exact) of one Q4_0 block of 32 values: among round-to-nearest's and ±max|x| / t for the
    /// candidates t, each refitted by least squares to the levels it chose, the one that gives the least squared
    /// error, measured with the scale rounded to fp16 as stored. Never worse than round-to-nearest in that error: its
    /// scale is a candidate. (Weighting the error by x² or |x| measured worse on SmolLM2's perplexity than no
    /// weighting.) With `importance` (one weight per value, e.g. the mean squared input each weight multiplies),
    /// the squared errors and the refit are weighted by it. 0 for an all-zero block.
    static func q4_0Scale(_ x: UnsafePointer<Float>, importance: UnsafePointer<Float>? = nil) -> Float {
        @inline(__always) func weight(_ i: Int) -> Float { importance?[i] ?? 1 }
        var amax: Float = 0
        var extreme: Float = 0
        for i in 0..<32 where abs(x[i]) > amax {
            amax = abs(x[i])
            extreme = x[i]
        }
        var best: (error: Float, d: Float) = (.infinity, 0)
        // The squared error of scale d; with `refit`, first the least-squares scale for d's levels.
        @inline(__always) func consider(_ d0: Float, refit: Bool) {
            var d = d0
            if refit {
                let id = 1 / d
                var qq: Float = 0
                var qx: Float = 0
                for i in 0..<32 {
                    let q = q4_0Level(x[i], id)
                    qq += weight(i) * q * q
                    qx += weight(i) * q * x[i]
                }
                guard qq > 0 else { return }
                d = qx / qq
            }
            d = half(d)
            guard d != 0 else { return }
            let id = 1 / d
            var error: Float = 0
            for i in 0..<32 {
                let r = x[i] - q4_0Level(x[i], id) * d
                error += weight(i) * r * r
            }
            if error < best.error { best = (error, d) }
        }
        if amax > 0 {
            // Round-to-nearest's own scale first (the extreme value on -8), so ties keep it.
            consider(extreme / -8, refit: false)
            for t in q4_0Candidates {
                consider(amax / t, refit: true)
                consider(-amax / t, refit: true)
            }
        }
        return best.d
    }

    /// `n` values (a multiple of 32) as n/32 Q4_1 blocks sharing the scale and offset of `q4_1Parameters`.
    static func q4_1(
        _ x: UnsafePointer<Float>, _ n: Int, _ out: UnsafeMutableRawPointer, importance: UnsafePointer<Float>? = nil
    ) {
        let (d, m) = q4_1Parameters(x, n, importance: importance)
        for b in 0..<(n / 32) {
            let o = out + 20 * b
            storeHalf(d, o)
            storeHalf(m, o + 2)
            for j in 0..<16 {
                let lo = q4_1Level(x[32 * b + j], d, m)
                let hi = q4_1Level(x[32 * b + j + 16], d, m)
                o.storeBytes(of: lo | hi << 4, toByteOffset: 4 + j, as: UInt8.self)
            }
        }
    }

    /// The level 0…15 of x for scale d and offset m: round half up, clamped (0 when d is 0).
    @inline(__always) static func q4_1Level(_ x: Float, _ d: Float, _ m: Float) -> UInt8 {
        let id: Float = d != 0 ? 1 / d : 0
        return UInt8(max(0, min(15, Int(((x - m) * id + 0.5).rounded(.down)))))
    }

    /// The scale and offset (fp16-exact) of `n` values quantized as one Q4_1 group: round-to-nearest from the
    /// range (scale (max - min) / 15, offset min), then the least-squares scale and offset for the chosen levels and
    /// the levels chosen again, while the squared error falls. With `importance`, errors and the least squares
    /// are weighted by it.
    static func q4_1Parameters(
        _ x: UnsafePointer<Float>, _ n: Int, importance: UnsafePointer<Float>? = nil
    ) -> (d: Float, m: Float) {
        @inline(__always) func weight(_ i: Int) -> Float { importance?[i] ?? 1 }
        var lo = x[0]
        var hi = x[0]
        for i in 1..<n {
            lo = min(lo, x[i])
            hi = max(hi, x[i])
        }
        func levels(_ d: Float, _ m: Float, into q: UnsafeMutablePointer<UInt8>) -> Float {
            var error: Float = 0
            for i in 0..<n {
                let l = q4_1Level(x[i], d, m)
                q[i] = l
                let r = x[i] - (Float(l) * d + m)
                error += weight(i) * r * r
            }
            return error
        }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n) { buffer in
            let q = buffer.baseAddress!
            var d = half((hi - lo) / 15)
            var m = half(lo)
            var error = levels(d, m, into: q)
            // Least squares for (d, m) given the levels, then the levels again; stop when the error stops falling.
            for _ in 0..<2 where error > 0 {
                var s1: Float = 0, s2: Float = 0, sx: Float = 0, sqx: Float = 0
                var sw: Float = 0
                for i in 0..<n {
                    let l = Float(q[i])
                    let w = weight(i)
                    sw += w
                    s1 += w * l
                    s2 += w * l * l
                    sx += w * x[i]
                    sqx += w * l * x[i]
                }
                let det = sw * s2 - s1 * s1
                guard det > 0 else { break }
                let d2 = half((sw * sqx - s1 * sx) / det)
                let m2 = half((sx - d2 * s1) / sw)
                guard d2 > 0 else { break }
                var e2: Float = 0
                for i in 0..<n {
                    let r = x[i] - (Float(q4_1Level(x[i], d2, m2)) * d2 + m2)
                    e2 += weight(i) * r * r
                }
                guard e2 < error else { break }
                (d, m) = (d2, m2)
                error = levels(d, m, into: q)
            }
            return (d, m)
        }
    }
}
