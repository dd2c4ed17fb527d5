/// Which tokens may come next; structured output (JSON schema, regex, grammar) plugs in here.
///
/// The sampler applies the mask after logit bias and penalties and before temperature, so greedy decoding and
/// every truncation only ever see allowed tokens, and reported log-probabilities are over allowed tokens.
public protocol TokenMask {
    /// Sets the logit of every disallowed token to -infinity. `logits.count` is the model's vocabulary, which may
    /// be larger than the tokenizer's (padded embedding rows).
    func apply(to logits: UnsafeMutableBufferPointer<Float>)
}

/// A mask stored as one bit per token id; ids at or past `count` are disallowed.
public struct TokenBitset: TokenMask, Sendable, Equatable {
    public let count: Int
    private var words: [UInt64]  // [ceil(count / 64)], bit i % 64 of word i / 64 set = token i allowed

    public init(count: Int, allowingAll: Bool = false) {
        self.count = max(0, count)
        words = [UInt64](repeating: allowingAll ? ~0 : 0, count: (self.count + 63) / 64)
        if allowingAll, self.count % 64 != 0 { words[words.count - 1] = (1 << UInt64(self.count % 64)) &- 1 }
    }

    public func allows(_ id: Int32) -> Bool {
        guard id >= 0, Int(id) < count else { return false }
        return words[Int(id) >> 6] & (1 << UInt64(id & 63)) != 0
    }

    /// Ids outside `0..<count` are ignored.
    public mutating func allow(_ id: Int32) {
        guard id >= 0, Int(id) < count else { return }
        words[Int(id) >> 6] |= 1 << UInt64(id & 63)
    }

    /// Ids outside `0..<count` are ignored.
    public mutating func disallow(_ id: Int32) {
        guard id >= 0, Int(id) < count else { return }
        words[Int(id) >> 6] &= ~(1 << UInt64(id & 63))
    }

    public func apply(to logits: UnsafeMutableBufferPointer<Float>) {
        let covered = min(logits.count, count)
        var start = 0
        for word in words where start < covered {
            if word != ~0 {
                for bit in 0..<min(64, covered - start) where word & (1 << UInt64(bit)) == 0 {
                    logits[start + bit] = -.infinity
                }
            }
            start += 64
        }
        for i in covered..<logits.count { logits[i] = -.infinity }
    }
}
