/// Steps 6–11 of `Sampler`: temperature, the truncations, and the draw, over a candidate list of the allowed
/// tokens. Top-p and typical-p order candidates only as far as their mass requires (`CandidateOrder`), so a step
/// never sorts the whole vocabulary unless the distribution is nearly flat.
extension Sampler {
    mutating func drawTruncated(
        _ logits: UnsafeMutableBufferPointer<Float>, max maxLogit: Float, invT: Float, logPartition: Float
    ) -> Int32 {
        let u = generator.nextDouble()
        return withTruncated(logits, max: maxLogit, invT: invT, logPartition: logPartition) { c, count, total in
            Self.draw(u, c, count: count, total: total)
        }
    }

    /// Calls `body` with the candidates that survive temperature and truncation in `c[0..<count]` (count ≥ 1), and
    /// their total weight Σ exp(logit) when already known.
    ///
    /// Candidates are gathered only where a cheap bound shows a token can survive: above a running top-k
    /// threshold; for top-p alone, above probability (1 − p) / vocabulary (the tokens below it together hold at
    /// most 1 − p, so each has at least p before it and top-p drops it); for min-p alone, above min_p.
    /// `logPartition` is log Σ exp((l − max) / T) over the whole vocabulary.
    mutating func withTruncated<R>(
        _ logits: UnsafeMutableBufferPointer<Float>, max maxLogit: Float, invT: Float, logPartition: Float,
        _ body: (UnsafeMutableBufferPointer<Candidate>, Int, Double?) -> R
    ) -> R {
        var list: [Candidate] = []
        swap(&list, &candidates)
        defer { swap(&list, &candidates) }
        if list.count < logits.count {
            list = [Candidate](repeating: Candidate(id: 0, logit: 0, key: 0), count: logits.count)
        }
        let p = parameters
        let k = p.topK > 0 && p.topK < logits.count ? p.topK : 0
        var floor = -Float.infinity  // in (l − max) / T units; tokens at or below it cannot survive
        if k == 0, p.topP < 1 {
            floor = Float(logDouble(Double(1 - p.topP) / Double(logits.count))) + logPartition
        } else if k == 0, p.typicalP == 1, p.minP > 0 {
            floor = Float(logDouble(Double(p.minP))) - 1e-3  // loose; keepAboveMinP makes the exact cut
        }
        return list.withUnsafeMutableBufferPointer { c in
            var count = 0
            var threshold = floor  // raised as top-k candidates pile up
            let capacity = k > 0 ? Swift.min(c.count, Swift.max(2 * k, k + 256)) : c.count
            for i in 0..<logits.count where logits[i] > -.infinity {
                let l = (logits[i] - maxLogit) * invT
                guard l > floor, l >= threshold else { continue }
                if count == capacity {
                    CandidateOrder.select(c, k, lo: 0, hi: count)
                    count = k
                    threshold = Self.minLogit(c, count: k)
                    guard l >= threshold else { continue }
                }
                c[count] = Candidate(id: Int32(i), logit: l, key: -l)
                count &+= 1
            }
            var total: Double? = floor == -.infinity ? Double(expFloat(logPartition)) : nil
            var sorted = 0  // c[0..<sorted] is in `key` order
            if k > 0, k < count {
                CandidateOrder.sortFirst(k, of: c, from: 0, to: count)
                count = k
                sorted = k
                total = nil
            }
            if p.topP < 1 {
                let mass = k == 0 ? Double(expFloat(logPartition)) : Self.mass(c, count: count)
                count = Self.keepLeadingMass(p.topP, c, count: count, sorted: sorted, total: mass)
                total = nil
            }
            if p.typicalP < 1 {
                Self.keyByTypicality(c, count: count)
                count = Self.keepLeadingMass(p.typicalP, c, count: count, sorted: 0, total: Self.mass(c, count: count))
                total = nil
            }
            if p.minP > 0 {
                count = Self.keepAboveMinP(p.minP, c, count: count)
                total = nil
            }
            return body(c, count, total)
        }
    }

    /// Keeps, in `key` order, each candidate whose preceding mass is below `fraction` of `total` (the mass of the
    /// distribution being truncated, which may include tokens not gathered); returns how many.
    /// Orders 64 candidates at first, then four times more each time the mass is not yet reached.
    static func keepLeadingMass(
        _ fraction: Float, _ c: UnsafeMutableBufferPointer<Candidate>, count: Int, sorted: Int, total: Double
    ) -> Int {
        let target = Double(fraction) * total
        var sorted = sorted
        var cumulative = 0.0
        var kept = 0
        while kept < count, cumulative < target {
            if kept == sorted {
                let more = Swift.min(count - sorted, Swift.max(64, sorted * 3))
                CandidateOrder.sortFirst(more, of: c, from: sorted, to: count)
                sorted += more
            }
            cumulative += Double(expFloat(c[kept].logit))
            kept += 1
        }
        return Swift.max(kept, 1)
    }

    /// Sets each key to |−log p − H|, the distance of the token's surprisal from the entropy H of the distribution.
    static func keyByTypicality(_ c: UnsafeMutableBufferPointer<Candidate>, count: Int) {
        let top = maxLogit(c, count: count)
        var total = 0.0
        var weighted = 0.0  // Σ exp(l − top) · (l − top)
        for i in 0..<count {
            let shifted = Double(c[i].logit - top)
            let e = Double(expFloat(Float(shifted)))
            total += e
            weighted += e * shifted
        }
        let logTotal = logDouble(total)
        let entropy = logTotal - weighted / total
        for i in 0..<count {
            let logp = Double(c[i].logit - top) - logTotal
            c[i].key = Float(Swift.abs(-logp - entropy))
        }
    }

    /// Compacts to the candidates with probability ≥ `minP` × the best one's (that is, exp(l − best) ≥ minP).
    static func keepAboveMinP(_ minP: Float, _ c: UnsafeMutableBufferPointer<Candidate>, count: Int) -> Int {
        let top = maxLogit(c, count: count)
        var kept = 0
        for i in 0..<count where expFloat(c[i].logit - top) >= minP {
            c[kept] = c[i]
            kept += 1
        }
        return kept
    }

    /// The candidate at which the running mass first exceeds `u` × the total.
    static func draw(_ u: Double, _ c: UnsafeMutableBufferPointer<Candidate>, count: Int, total: Double?) -> Int32 {
        var remaining = u * (total ?? mass(c, count: count))
        for i in 0..<count {
            remaining -= Double(expFloat(c[i].logit))
            if remaining < 0 { return c[i].id }
        }
        return c[count - 1].id
    }

    static func mass(_ c: UnsafeMutableBufferPointer<Candidate>, count: Int) -> Double {
        var total = 0.0
        for i in 0..<count { total += Double(expFloat(c[i].logit)) }
        return total
    }

    static func minLogit(_ c: UnsafeMutableBufferPointer<Candidate>, count: Int) -> Float {
        var bottom = Float.infinity
        for i in 0..<count { bottom = Swift.min(bottom, c[i].logit) }
        return bottom
    }

    static func maxLogit(_ c: UnsafeMutableBufferPointer<Candidate>, count: Int) -> Float {
        var top = -Float.infinity
        for i in 0..<count { top = Swift.max(top, c[i].logit) }
        return top
    }
}
