import Foundation

/// Perplexity of a model over a token sequence, measured as llama.cpp's `llama-perplexity` measures it: the tokens
/// are cut into consecutive chunks of `context` tokens, each chunk is run from an empty cache, and only the
/// second half of each chunk is scored (every scored token then has at least context/2 tokens before it):
/// PPL = exp(mean over scored tokens of -log p(token | the chunk's tokens before it)).
public struct PerplexityResult: Sendable {
    public var chunks: Int
    public var scoredTokens: Int
    /// Σ -log p over scored tokens (nats).
    public var negativeLogLikelihood: Double
    /// Σ (-log p)² for the standard error.
    var squares: Double

    public var perplexity: Double { exp(negativeLogLikelihood / Double(max(scoredTokens, 1))) }

    /// Standard error of the perplexity (delta method on the mean negative log-likelihood).
    public var standardError: Double {
        let n = Double(scoredTokens)
        guard n > 1 else { return 0 }
        let mean = negativeLogLikelihood / n
        let variance = max(0, squares / n - mean * mean)
        return perplexity * (variance / (n - 1)).squareRoot()
    }
}

extension Transformer {
    /// Scores `tokens` in chunks of `context`; `progress` gets the result after each chunk.
    public func perplexity(
        _ tokens: [Int32], context: Int, progress: (PerplexityResult) -> Void = { _ in }
    ) throws -> PerplexityResult {
        guard context >= 2 else { throw ModelError("perplexity", "--context must be at least 2") }
        guard context <= config.contextLength else {
            throw ModelError("perplexity", "--context \(context) exceeds the model's context of \(config.contextLength)")
        }
        let chunks = tokens.count / context
        guard chunks > 0 else {
            throw ModelError("perplexity", "the text has \(tokens.count) tokens, fewer than one context of \(context)")
        }
        let vocab = config.vocabularySize
        let first = context / 2
        var result = PerplexityResult(chunks: 0, scoredTokens: 0, negativeLogLikelihood: 0, squares: 0)
        for c in 0..<chunks {
            let chunk = Array(tokens[(c * context)..<((c + 1) * context)])
            let cache = makeCache(capacity: context)
            // logits[i] predicts chunk[first + i + 1]
            let logits = try forward(chunk, cache: cache, logits: .positions(Array(first..<(context - 1))))
            logits.withUnsafeBufferPointer { l in
                for i in 0..<(context - 1 - first) {
                    let row = l.baseAddress! + i * vocab
                    var maxLogit = -Float.infinity
                    for v in 0..<vocab { maxLogit = max(maxLogit, row[v]) }
                    var sum = 0.0
                    for v in 0..<vocab { sum += Double(expf(row[v] - maxLogit)) }
                    let target = Int(chunk[first + i + 1])
                    let nll = log(sum) - Double(row[target] - maxLogit)
                    result.negativeLogLikelihood += nll
                    result.squares += nll * nll
                    result.scoredTokens += 1
                }
            }
            result.chunks += 1
            progress(result)
        }
        return result
    }
}
