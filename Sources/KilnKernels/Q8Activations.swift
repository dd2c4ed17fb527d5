import CKilnKernels

/// Activations quantized to 8 bits in blocks of 32 values (x ≈ q · d, d = max|x| / 127 per block), for the integer
/// dot-product kernels of CKilnKernels.
///
/// Quantizing once per token and sharing the result between every matrix that reads the same input (Q, K and V;
/// gate and up) keeps the cost off the hot loops, and 1 byte per value keeps a whole row of x in L1.
/// Buffers are sized once for `capacity` tokens of up to `maxK` values; nothing is allocated per step.
public final class Q8Activations: @unchecked Sendable {
    public let capacity: Int
    public let maxK: Int
    public private(set) var k = 0
    public private(set) var tokens = 0
    let qs: UnsafeMutablePointer<Int8>  // [capacity, maxK]
    let groups: UnsafeMutablePointer<Int8>  // [capacity, groupsStride(maxK)], per group: quants, d, s, Σ q (kiln_q8_act)
    let qs16: UnsafeMutablePointer<Int8>  // [capacity, maxK], interleaved for 16-value lanes
    let d: UnsafeMutablePointer<Float>  // [capacity, maxK / 32]
    let d16: UnsafeMutablePointer<Float>  // [capacity, maxK / 16]
    let s: UnsafeMutablePointer<Float>  // [capacity, maxK / 32]
    let sums: UnsafeMutablePointer<Int16>  // [capacity, maxK / 16]

    public init(capacity: Int, maxK: Int) {
        self.capacity = max(1, capacity)
        self.maxK = (max(32, maxK) + 31) / 32 * 32
        qs = .allocate(capacity: self.capacity * self.maxK)
        // Whole cache lines: a group's 64-byte quant vectors then never straddle two.
        groups = UnsafeMutableRawPointer.allocate(
            byteCount: self.capacity * Int(kiln_q8_groups_stride(Int64(self.maxK))), alignment: 64
        ).bindMemory(to: Int8.self, capacity: self.capacity * Int(kiln_q8_groups_stride(Int64(self.maxK))))
        qs16 = .allocate(capacity: self.capacity * self.maxK)
        d = .allocate(capacity: self.capacity * self.maxK / 32)
        d16 = .allocate(capacity: self.capacity * self.maxK / 16)
        s = .allocate(capacity: self.capacity * self.maxK / 32)
        sums = .allocate(capacity: self.capacity * self.maxK / 16)
    }

    deinit {
        qs.deallocate()
        groups.deallocate()
        qs16.deallocate()
        d.deallocate()
        d16.deallocate()
        s.deallocate()
        sums.deallocate()
    }

    /// Whether vectors of length `k` can be quantized (whole 32-value blocks that fit the buffers).
    public static func accepts(k: Int) -> Bool { k > 0 && k % 32 == 0 }

    /// Quantizes `tokens` rows of `k` floats, `stride` floats apart. With a `pool`, the tokens are split across its
    /// threads when there are at least two per thread (each token's blocks are independent, so the bytes are the
    /// same): a batch of decode steps otherwise quantizes on one thread while the others wait.
    public func quantize(
        _ x: UnsafePointer<Float>, tokens: Int, k: Int, stride: Int? = nil, isa: Int32 = -1, pool: ThreadPool? = nil
    ) {
        precondition(
            Self.accepts(k: k) && k <= maxK && tokens <= capacity, "Q8Activations: \(tokens)x\(k) does not fit")
        self.k = k
        self.tokens = tokens
        let stride = stride ?? k
        guard let pool, tokens >= 2 * pool.threadCount else {
            kiln_quantize_q8(isa, x, Int64(k), Int64(tokens), Int64(stride), raw)
            return
        }
        let act = raw
        pool.parallelFor(tokens) { range, _ in
            let t = range.lowerBound
            let part = Self.from(act, token: t, k: k)
            kiln_quantize_q8(isa, x + t &* stride, Int64(k), Int64(range.count), Int64(stride), part)
        }
    }

    var raw: kiln_q8_act {
        kiln_q8_act(qs: qs, groups: groups, qs16: qs16, d: d, d16: d16, s: s, sums: sums)
    }

    /// `act`'s arrays from token t on.
    private static func from(_ act: kiln_q8_act, token t: Int, k: Int) -> kiln_q8_act {
        let b = t &* (k / 32)
        return kiln_q8_act(
            qs: act.qs + t &* k, groups: act.groups + t &* Int(kiln_q8_groups_stride(Int64(k))), qs16: act.qs16 + t &* k,
            d: act.d + b, d16: act.d16 + 2 &* b, s: act.s + b, sums: act.sums + 2 &* b)
    }

    /// Token t's value i as the kernels see it: q · d.
    public func value(token t: Int, _ i: Int) -> Float {
        Float(qs[t &* k &+ i]) * d[t &* (k / 32) &+ i / 32]
    }

    /// Token t's block scale and the sums of its quants (each 16-value half, the whole block), for tests.
    public func block(token t: Int, _ b: Int) -> (d: Float, s: Float, sums: (Int16, Int16), sum: Int32) {
        let i = t &* (k / 32) &+ b
        return (d[i], s[i], (sums[2 &* i], sums[2 &* i &+ 1]), grouped(token: t, b).sum)
    }

    /// Token t's block b as the packed kernels read it from `groups`: its scale, offset and quant sum, and its 32
    /// quants in order (undoing the interleave), for tests.
    public func grouped(token t: Int, _ b: Int) -> (d: Float, s: Float, sum: Int32, quants: [Int8]) {
        let nb = k / 32, g = b / 16, lane = b % 16, n = min(16, nb - 16 &* g)
        let base = UnsafeRawPointer(groups + t &* Int(kiln_q8_groups_stride(Int64(k))) + Int(KILN_Q8_GROUP_BYTES) &* g)
        let quants = (0..<32).map { i in base.load(fromByteOffset: (i / 4) &* 4 &* n &+ 4 &* lane &+ i % 4, as: Int8.self) }
        return (
            base.loadUnaligned(fromByteOffset: Int(kiln_q8_group_d(Int32(n))) &+ 4 &* lane, as: Float.self),
            base.loadUnaligned(fromByteOffset: Int(kiln_q8_group_s(Int32(n))) &+ 4 &* lane, as: Float.self),
            base.loadUnaligned(fromByteOffset: Int(kiln_q8_group_sums(Int32(n))) &+ 4 &* lane, as: Int32.self), quants)
    }
}
