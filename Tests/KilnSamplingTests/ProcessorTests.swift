import Foundation
import KilnSampling
import Testing

/// Logit bias, OpenAI penalties, the mask and greedy decoding against hand-computed values.
@Suite struct ProcessorTests {
    @Test func logitBiasAddsToTheLogit() throws {
        var sampler = Sampler(parameters: try parameters(SamplingRequest(logitBias: [0: -1.5, 2: 100])))
        #expect(try sampler.processed([1, 2, 3, 4]) == [-0.5, 2, 103, 4])
    }

    /// Frequency and presence penalties count generated tokens only: `logit -= count·f + (count > 0)·p`.
    @Test func frequencyAndPresencePenaltiesCountGeneratedTokens() throws {
        let request = SamplingRequest(frequencyPenalty: 0.5, presencePenalty: 0.25)
        var sampler = Sampler(parameters: try parameters(request), promptTokens: [0, 1, 2, 3])
        for token: Int32 in [1, 1, 2] { sampler.append(token) }
        // token 1: −(2·0.5 + 0.25) = −1.25; token 2: −(0.5 + 0.25) = −0.75; prompt-only tokens 0 and 3 unchanged.
        #expect(try sampler.processed([1, 1, 1, 1]) == [1, -0.25, 0.25, 1])
        #expect(sampler.generatedCount == 3)
    }

    /// HF's rule over prompt and output: positive logits divided, negative multiplied, each distinct token once.
    @Test func repetitionPenaltyCoversPromptAndOutput() throws {
        var sampler = Sampler(
            parameters: try parameters(SamplingRequest(repetitionPenalty: 2)), promptTokens: [0, 0, 1])
        sampler.append(3)
        sampler.append(3)
        #expect(try sampler.processed([4, -4, 4, -4, 0]) == [2, -8, 4, -8, 0])
    }

    /// Bias first, then the repetition penalty: 4 − 2 = 2, then 2 / 2 = 1 (the other order would give 0).
    @Test func biasComesBeforePenalties() throws {
        let request = SamplingRequest(repetitionPenalty: 2, logitBias: [0: -2])
        var sampler = Sampler(parameters: try parameters(request), promptTokens: [0])
        #expect(try sampler.processed([4, 0]) == [1, 0])
    }

    @Test func maskRemovesDisallowedTokensBeforeGreedy() throws {
        var mask = TokenBitset(count: 6)
        for id: Int32 in [1, 4] { mask.allow(id) }
        var sampler = Sampler(parameters: .greedy())
        let token = try sampler.sample([9, 1, 8, 7, 2, 9], mask: mask)
        #expect(token.id == 4)
        // Log-probabilities are over allowed tokens only: log(e²/(e + e²)).
        #expect(close(token.logprob, Float(2 - log(exp(1.0) + exp(2.0)))))
    }

    @Test func bitsetAppliesAcrossWordsAndBeyondItsCount() throws {
        var mask = TokenBitset(count: 130, allowingAll: true)
        mask.disallow(64)
        mask.disallow(129)
        var logits = [Float](repeating: 0, count: 140)
        logits.withUnsafeMutableBufferPointer { mask.apply(to: $0) }
        let disallowed = logits.indices.filter { logits[$0] == -.infinity }
        #expect(disallowed == [64] + Array(129..<140))
        #expect(mask.allows(63) && !mask.allows(64) && !mask.allows(130) && !mask.allows(-1))
    }

    @Test func greedyTakesTheLowestIdOnTiesAndIgnoresNaN() throws {
        var sampler = Sampler(parameters: .greedy())
        #expect(try sampler.sample([.nan, 1, 3, 3, -1]).id == 2)
        // do_sample false with no sampling knob is greedy, whatever the seed.
        var seeded = Sampler(parameters: try parameters(SamplingRequest(seed: 99)))
        #expect(seeded.parameters.isGreedy)
        #expect(try seeded.sample([0, 5, 5]).id == 1)
    }

    @Test func penaltiesApplyBeforeGreedy() throws {
        var sampler = Sampler(parameters: try parameters(SamplingRequest(presencePenalty: 2)))
        #expect(try sampler.sample([1, 2, 0]).id == 1)
        #expect(try sampler.sample([1, 2, 0]).id == 0)  // 2 − 2 = 0 < 1
    }

    @Test func topAlternativesAreBestFirstLowestIdOnTies() throws {
        var sampler = Sampler(parameters: try parameters(SamplingRequest(topNTokens: 3)))
        let token = try sampler.sample([0, 2, 1, 2, -.infinity])
        #expect(token.topAlternatives.map(\.id) == [1, 3, 2])
        #expect(token.id == 1)
    }

    @Test func nothingToSampleIsATypedError() throws {
        var sampler = Sampler(parameters: try parameters(SamplingRequest(temperature: 0.5)))
        #expect(throws: SamplingError.noAllowedToken) { try sampler.sample([-.infinity, .nan]) }
        #expect(throws: SamplingError.noAllowedToken) { try sampler.sample([1, 2], mask: TokenBitset(count: 2)) }
        #expect(throws: SamplingError.noAllowedToken) { try sampler.sample([]) }
    }

    /// Top-k on a vocabulary large enough for quickselect, against a full sort by (logit desc, id asc).
    @Test(arguments: [1, 3, 17, 129, 1023]) func topKKeepsExactlyTheKBest(k: Int) throws {
        var generator = TestGenerator(seed: UInt64(k))
        // Values on a coarse grid so that ties are common, including at the boundary.
        let logits = (0..<2000).map { _ in Float(generator.next() % 200) / 16 }
        var sampler = Sampler(parameters: try parameters(SamplingRequest(topK: k, seed: 1)))
        let kept = try sampler.distribution(logits).map(\.id)
        let expected = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            .prefix(k).map { Int32($0) }.sorted()
        #expect(kept == expected)
    }
}

/// A generator for test data, independent of the sampler's.
struct TestGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x2545_F491_4F6C_DD1D | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
