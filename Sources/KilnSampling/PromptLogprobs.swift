/// The log-probability the model gave one prompt token, with the most likely tokens at its position.
public struct PromptTokenLogprob: Sendable, Equatable {
    public var id: Int32
    public var logprob: Float
    public var topAlternatives: [TokenLogprob]
}

extension Sampler {
    /// Scores prompt tokens: row i of `rows` ([tokens.count, vocabularySize], row-major) holds the logits of the
    /// position before `tokens[i]`, so for a whole prompt pass its logits rows 0..<n−1 and `prompt[1...]` (the first
    /// prompt token has no logprob; TGI reports it as null). Rows may come a chunk at a time.
    ///
    /// These are the model's own log-probabilities (natural log of the softmax of the raw logits): prompt tokens
    /// were not sampled, so no bias, penalty, mask or temperature applies. NaN logits count as -inf.
    public static func promptLogprobs(
        rows: UnsafeBufferPointer<Float>, vocabularySize: Int, tokens: some Collection<Int32>, topN: Int = 0
    ) throws(SamplingError) -> [PromptTokenLogprob] {
        let expected = tokens.count * vocabularySize
        guard vocabularySize > 0, rows.count == expected else {
            throw .logitsShape(expected: expected, given: rows.count)
        }
        var row = [Float](repeating: 0, count: vocabularySize)
        var result: [PromptTokenLogprob] = []
        result.reserveCapacity(tokens.count)
        for (i, token) in tokens.enumerated() {
            guard token >= 0, Int(token) < vocabularySize else {
                throw .tokenOutOfVocabulary(field: "inputs", token: token, vocabularySize: vocabularySize)
            }
            let scored = row.withUnsafeMutableBufferPointer { r in
                var top = -Float.infinity
                for v in 0..<vocabularySize {
                    let l = rows[i * vocabularySize + v]
                    r[v] = l.isNaN ? -.infinity : l
                    top = Swift.max(top, r[v])
                }
                let logZ = logPartition(r, max: top, invT: 1)
                let logprob = { (l: Float) in l > -.infinity ? l - top - logZ : -.infinity }
                let alternatives = topTokens(r, count: topN).map {
                    TokenLogprob(id: $0.id, logprob: logprob($0.logprob))
                }
                return PromptTokenLogprob(id: token, logprob: logprob(r[Int(token)]), topAlternatives: alternatives)
            }
            result.append(scored)
        }
        return result
    }
}
