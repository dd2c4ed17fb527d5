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
    let qs32: UnsafeMutablePointer<Int8>  // [capacity, maxK], interleaved for the packed kernels' 32-value lanes
    let qs16: UnsafeMutablePointer<Int8>  // [capacity, maxK], interleaved for 16-value lanes
    let d: UnsafeMutablePointer<Float>  // [capacity, maxK / 32]
    let d16: UnsafeMutablePointer<Float>  // [capacity, maxK / 16]
    let s: UnsafeMutablePointer<Float>  // [capacity, maxK / 32]
    let sums: UnsafeMutablePointer<Int16>  // [capacity, maxK / 16]
    let sums32: UnsafeMutablePointer<Int32>  // [capacity, maxK / 32]

    public init(capacity: Int, maxK: Int) {
        self.capacity = max(1, capacity)
        self.maxK = (max(32, maxK) + 31) / 32 * 32
        qs = .allocate(capacity: self.capacity * self.maxK)
        qs32 = .allocate(capacity: self.capacity * self.maxK)
        qs16 = .allocate(capacity: self.capacity * self.maxK)
        d = .allocate(capacity: self.capacity * self.maxK / 32)
        d16 = .allocate(capacity: self.capacity * self.maxK / 16)
        s = .allocate(capacity: self.capacity * self.maxK / 32)
        sums = .allocate(capacity: self.capacity * self.maxK / 16)
        sums32 = .allocate(capacity: self.capacity * self.maxK / 32)
    }

    deinit {
        qs.deallocate()
        qs32.deallocate()
        qs16.deallocate()
        d.deallocate()
        d16.deallocate()
        s.deallocate()
        sums.deallocate()
        sums32.deallocate()
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
        kiln_q8_act(qs: qs, qs32: qs32, qs16: qs16, d: d, d16: d16, s: s, sums: sums, sums32: sums32)
    }

    /// `act`'s arrays from token t on.
    private static func from(_ act: kiln_q8_act, token t: Int, k: Int) -> kiln_q8_act {
        let b = t &* (k / 32)
        return kiln_q8_act(
            qs: act.qs + t &* k, qs32: act.qs32 + t &* k, qs16: act.qs16 + t &* k, d: act.d + b, d16: act.d16 + 2 &* b,
            s: act.s + b, sums: act.sums + 2 &* b, sums32: act.sums32 + b)
    }

    /// Token t's value i as the kernels see it: q · d.
    public func value(token t: Int, _ i: Int) -> Float {
        Float(qs[t &* k &+ i]) * d[t &* (k / 32) &+ i / 32]
    }

    /// Token t's block scale and the sums of its quants (each 16-value half, the whole block), for tests.
    public func block(token t: Int, _ b: Int) -> (d: Float, s: Float, sums: (Int16, Int16), sum: Int32) {
        let i = t &* (k / 32) &+ b
        return (d[i], s[i], (sums[2 &* i], sums[2 &* i &+ 1]), sums32[i])
    }
}
