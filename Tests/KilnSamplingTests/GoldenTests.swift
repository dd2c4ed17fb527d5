import Foundation
import KilnSampling
import Testing

/// Each processor against transformers' own on fixed logits (scripts/reference/make_sampling_goldens.py).
@Suite struct GoldenTests {
    let golden = SamplingGolden.shared

    @Test func repetitionPenaltyMatchesTransformers() throws {
        for (n, c) in golden.repetition.enumerated() {
            var sampler = Sampler(
                parameters: try parameters(SamplingRequest(repetitionPenalty: c.penalty)), promptTokens: c.input_ids)
            let processed = try sampler.processed(golden.logits[c.logits])
            for (i, (got, want)) in zip(processed, c.processed).enumerated() {
                #expect(close(got, want, 1e-6), "case \(n) token \(i): \(got) vs \(want)")
            }
        }
    }

    @Test(arguments: 0..<28) func truncationMatchesTransformers(index: Int) throws {
        let c = golden.truncation[index]
        var sampler = Sampler(parameters: try parameters(c.request))
        let distribution = try sampler.distribution(golden.logits[c.logits])
        #expect(distribution.map(\.id) == c.survivors, "\(c.label)")
        guard distribution.count == c.survivors.count else { return }
        for (got, want) in zip(distribution, c.probs) {
            #expect(close(exp(got.logprob), want, 1e-4), "\(c.label) token \(got.id): \(exp(got.logprob)) vs \(want)")
        }
    }

    /// The reported logprob and alternatives are of the distribution after temperature, before truncation.
    @Test(arguments: 0..<28) func logprobsAreBeforeTruncation(index: Int) throws {
        let c = golden.truncation[index]
        var request = c.request
        request.topNTokens = 5
        var sampler = Sampler(parameters: try parameters(request))
        let token = try sampler.sample(golden.logits[c.logits])
        #expect(c.survivors.contains(token.id), "\(c.label): sampled \(token.id)")
        if !c.logprobs.isEmpty {
            #expect(close(token.logprob, c.logprobs[Int(token.id)]), "\(c.label): \(token.logprob)")
        }
        #expect(token.topAlternatives.map(\.id) == c.top.map { Int32($0[0]) }, "\(c.label)")
        for (got, want) in zip(token.topAlternatives, c.top) {
            #expect(close(got.logprob, want[1]), "\(c.label) token \(got.id): \(got.logprob) vs \(want[1])")
        }
    }

    @Test func promptLogprobsMatchLogSoftmax() throws {
        let p = golden.prompt
        let rows = p.rows.flatMap { golden.logits[$0] }
        let vocabulary = golden.logits[0].count
        let scored = try rows.withUnsafeBufferPointer {
            try Sampler.promptLogprobs(rows: $0, vocabularySize: vocabulary, tokens: p.tokens, topN: 3)
        }
        #expect(scored.map(\.id) == p.tokens)
        for (i, s) in scored.enumerated() {
            #expect(close(s.logprob, p.logprobs[i]), "row \(i): \(s.logprob) vs \(p.logprobs[i])")
            #expect(s.topAlternatives.map(\.id) == p.top[i].map { Int32($0[0]) })
            for (got, want) in zip(s.topAlternatives, p.top[i]) { #expect(close(got.logprob, want[1])) }
        }
    }

    @Test func promptLogprobsRejectAMisshapedBuffer() throws {
        let rows = [Float](repeating: 0, count: 10)
        #expect(throws: SamplingError.logitsShape(expected: 8, given: 10)) {
            try rows.withUnsafeBufferPointer {
                try Sampler.promptLogprobs(rows: $0, vocabularySize: 4, tokens: [1, 2])
            }
        }
        #expect(throws: SamplingError.tokenOutOfVocabulary(field: "inputs", token: 5, vocabularySize: 5)) {
            try rows.withUnsafeBufferPointer {
                try Sampler.promptLogprobs(rows: $0, vocabularySize: 5, tokens: [1, 5])
            }
        }
    }
}
