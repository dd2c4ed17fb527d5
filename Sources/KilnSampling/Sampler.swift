/// A token id with its log-probability.
public struct TokenLogprob: Sendable, Equatable {
    public var id: Int32
    public var logprob: Float

    public init(id: Int32, logprob: Float) {
        self.id = id
        self.logprob = logprob
    }
}

/// One chosen token, its log-probability and the most likely tokens at its position (best first, lower id first
/// on ties; `parameters.topNTokens` of them).
public struct SampledToken: Sendable, Equatable {
    public var id: Int32
    public var logprob: Float
    public var topAlternatives: [TokenLogprob]
}

/// Chooses the tokens of one sequence. It owns everything that makes the choice depend on this sequence alone:
/// a generator seeded from the request, the prompt's tokens and the counts of generated ones for the penalties.
///
/// Each step, on the logits of the sequence's last position (natural-log units):
///
/// 1. logit bias: `logit += bias[id]`;
/// 2. repetition penalty (transformers' `RepetitionPenaltyLogitsProcessor`): each distinct token of prompt and
///    output has a positive logit divided by, a negative one multiplied by, the penalty;
/// 3. frequency and presence penalties (OpenAI's definition, over generated tokens only):
///    `logit -= count * frequency + (count > 0 ? presence : 0)`;
/// 4. the token mask, if any (disallowed → -inf);
/// 5. greedy: argmax, lowest id on ties, and stop here; otherwise
/// 6. temperature: `logit / T`;
/// 7. top-k: the k best (exactly k: ties at the boundary go to the lower id, where transformers keeps them all);
/// 8. top-p: best first, keep a token while the mass before it is below p;
/// 9. typical-p (Meister et al.; transformers' `TypicalLogitsWarper`): order by |−log p − entropy| and keep a
///    token while the mass before it is below typical_p;
/// 10. min-p: keep tokens with probability ≥ min_p × the best one's;
/// 11. draw from what survives, renormalised, with one uniform number from the sequence's generator.
///
/// Each truncation sees the distribution left by the one before it, renormalised, as chained transformers warpers
/// do. Steps 1–4 change the logits buffer in place; NaN logits count as -inf.
///
/// Log-probabilities (reported logprob and top alternatives) are of the distribution after steps 1–4 and 6 — the
/// one the sampler draws from before truncation renormalises it (vLLM's "processed" logprobs; TGI reports them
/// after truncation). So every allowed token has a finite logprob, the sampled one included, and with no
/// bias, penalty, mask or temperature they are the model's own. Greedy decoding reports them at temperature 1.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    /// Tokens chosen so far (by `sample` or given to `append`).
    public private(set) var generatedCount = 0

    var generator: SplitMix64
    private let bias: [(id: Int32, value: Float)]  // sorted by id
    private var penalizedTokens: [Int32] = []  // distinct tokens of prompt and output, for the repetition penalty
    private var penalizedSet: Set<Int32> = []
    private var outputCounts: [Int32: Int] = [:]  // generated token → times, for frequency and presence penalties
    private var scratch: [Float] = []  // [vocabulary]: a copy of the logits, made once per vocabulary size
    var candidates: [Candidate] = []  // [vocabulary]: capacity for every token, reused each step

    /// `sequenceIndex` separates the generators of sequences that share a request and so a seed (`n > 1`).
    public init(parameters: SamplingParameters, promptTokens: some Sequence<Int32> = [Int32](), sequenceIndex: Int = 0)
    {
        self.parameters = parameters
        var seedMixer = SplitMix64(seed: parameters.seed)
        generator = SplitMix64(seed: sequenceIndex == 0 ? parameters.seed : seedMixer.next() &+ UInt64(sequenceIndex))
        bias = parameters.logitBias.map { (id: $0.key, value: $0.value) }.sorted { $0.id < $1.id }
        if parameters.repetitionPenalty != 1 {
            for token in promptTokens where penalizedSet.insert(token).inserted { penalizedTokens.append(token) }
        }
    }

    /// Processes a copy of `logits` (kept in a buffer the sampler reuses) and chooses the next token.
    public mutating func sample(logits: UnsafeBufferPointer<Float>, mask: (any TokenMask)? = nil) throws(SamplingError)
        -> SampledToken
    {
        var buffer: [Float] = []
        swap(&buffer, &scratch)
        defer { swap(&buffer, &scratch) }
        if buffer.count != logits.count { buffer = [Float](repeating: 0, count: logits.count) }
        return try buffer.withUnsafeMutableBufferPointer { copy throws(SamplingError) in
            if let source = logits.baseAddress { copy.baseAddress!.update(from: source, count: logits.count) }
            return try sample(processingInPlace: copy, mask: mask)
        }
    }

    /// Chooses the next token, overwriting `logits` with the processed logits of steps 1–4.
    public mutating func sample(
        processingInPlace logits: UnsafeMutableBufferPointer<Float>, mask: (any TokenMask)? = nil
    )
        throws(SamplingError) -> SampledToken
    {
        applyBiasAndPenalties(logits)
        mask?.apply(to: logits)
        let (best, maxLogit) = Self.sanitizedArgmax(logits)
        guard maxLogit > -.infinity else { throw .noAllowedToken }
        let invT: Float = parameters.isGreedy ? 1 : 1 / parameters.temperature
        let logZ = Self.logPartition(logits, max: maxLogit, invT: invT)
        let id = parameters.isGreedy ? best : drawTruncated(logits, max: maxLogit, invT: invT, logPartition: logZ)
        let logprob = { (l: Float) in (l - maxLogit) * invT - logZ }
        let top = Self.topTokens(logits, count: parameters.topNTokens).map {
            TokenLogprob(id: $0.id, logprob: logprob($0.logprob))
        }
        append(id)
        return SampledToken(id: id, logprob: logprob(logits[Int(id)]), topAlternatives: top)
    }

    /// The distribution `sample` would draw from now (after truncation, renormalised), as the natural log of each
    /// surviving token's probability, by id; greedy decoding gives the argmax with logprob 0. Draws nothing and
    /// records nothing, so the sequence's next `sample` is unaffected; overwrites `logits` as `sample` does.
    public mutating func distribution(
        processingInPlace logits: UnsafeMutableBufferPointer<Float>, mask: (any TokenMask)? = nil
    )
        throws(SamplingError) -> [TokenLogprob]
    {
        applyBiasAndPenalties(logits)
        mask?.apply(to: logits)
        let (best, maxLogit) = Self.sanitizedArgmax(logits)
        guard maxLogit > -.infinity else { throw .noAllowedToken }
        if parameters.isGreedy { return [TokenLogprob(id: best, logprob: 0)] }
        let invT = 1 / parameters.temperature
        let logZ = Self.logPartition(logits, max: maxLogit, invT: invT)
        return withTruncated(logits, max: maxLogit, invT: invT, logPartition: logZ) { c, count, _ in
            let logTotal = Float(logDouble(Self.mass(c, count: count)))
            return (0..<count).map { TokenLogprob(id: c[$0].id, logprob: c[$0].logit - logTotal) }.sorted {
                $0.id < $1.id
            }
        }
    }

    /// Records a token chosen outside `sample` (a forced or speculative one) for the penalties.
    public mutating func append(_ token: Int32) {
        generatedCount += 1
        if parameters.frequencyPenalty != 0 || parameters.presencePenalty != 0 { outputCounts[token, default: 0] += 1 }
        if parameters.repetitionPenalty != 1, penalizedSet.insert(token).inserted { penalizedTokens.append(token) }
    }

    /// The first index of the largest value (NaN never wins).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        var bestValue = -Float.infinity
        for (i, l) in logits.enumerated() where l > bestValue {
            best = i
            bestValue = l
        }
        return Int32(best)
    }

    private func applyBiasAndPenalties(_ logits: UnsafeMutableBufferPointer<Float>) {
        for (id, value) in bias where id >= 0 && Int(id) < logits.count { logits[Int(id)] += value }
        let penalty = parameters.repetitionPenalty
        if penalty != 1 {
            for id in penalizedTokens where id >= 0 && Int(id) < logits.count {
                let l = logits[Int(id)]
                logits[Int(id)] = l < 0 ? l * penalty : l / penalty
            }
        }
        let frequency = parameters.frequencyPenalty
        let presence = parameters.presencePenalty
        for (id, count) in outputCounts where id >= 0 && Int(id) < logits.count {
            logits[Int(id)] -= Float(count) * frequency + presence
        }
    }

    /// Turns NaN into -inf and +inf into the largest finite value (so differences stay defined), and returns the
    /// first index of the maximum.
    private static func sanitizedArgmax(_ logits: UnsafeMutableBufferPointer<Float>) -> (Int32, Float) {
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<logits.count {
            var l = logits[i]
            if !(l < .infinity) {
                l = l.isNaN ? -.infinity : .greatestFiniteMagnitude
                logits[i] = l
            }
            if l > bestValue {
                best = i
                bestValue = l
            }
        }
        return (Int32(best), bestValue)
    }

    /// log Σ exp((l − max) / T) over the vocabulary.
    static func logPartition(_ logits: UnsafeMutableBufferPointer<Float>, max: Float, invT: Float) -> Float {
        guard let base = logits.baseAddress else { return -.infinity }
        let shift = SIMD16<Float>(repeating: max)
        let scale = SIMD16<Float>(repeating: invT)
        var sums = (SIMD16<Float>(), SIMD16<Float>())
        var i = 0
        while i &+ 32 <= logits.count {
            let a = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<Float>.self)
            let b = UnsafeRawPointer(base + (i &+ 16)).loadUnaligned(as: SIMD16<Float>.self)
            sums.0 += exp16((a - shift) * scale)
            sums.1 += exp16((b - shift) * scale)
            i &+= 32
        }
        var total = Double((sums.0 + sums.1).sum())
        while i < logits.count {
            total += Double(expFloat((logits[i] - max) * invT))
            i &+= 1
        }
        return Float(logDouble(total))
    }

    /// The `count` largest logits, best first, lower id first on ties; -inf ones never appear.
    static func topTokens(_ logits: UnsafeMutableBufferPointer<Float>, count: Int) -> [TokenLogprob] {
        guard count > 0 else { return [] }
        var top: [TokenLogprob] = []
        top.reserveCapacity(count + 1)
        for i in 0..<logits.count {
            let l = logits[i]
            guard l > -.infinity, top.count < count || l > top[top.count - 1].logprob else { continue }
            var j = top.count
            while j > 0, l > top[j - 1].logprob { j -= 1 }
            top.insert(TokenLogprob(id: Int32(i), logprob: l), at: j)
            if top.count > count { top.removeLast() }
        }
        return top
    }
}
