import KilnSampling
import Testing

/// TGI's rules and messages (router/src/validation.rs), plus the OpenAI/vLLM fields.
@Suite struct ValidationTests {
    static let rejected: [(SamplingRequest, SamplingError, String)] = [
        (SamplingRequest(temperature: 0), .temperature, "`temperature` must be strictly positive"),
        (SamplingRequest(temperature: -1), .temperature, "`temperature` must be strictly positive"),
        (SamplingRequest(temperature: .nan), .temperature, "`temperature` must be strictly positive"),
        (SamplingRequest(repetitionPenalty: 0), .repetitionPenalty, "`repetition_penalty` must be strictly positive"),
        (SamplingRequest(frequencyPenalty: 2.5), .frequencyPenalty, "`frequency_penalty` must be >= -2.0 and <= 2.0"),
        (SamplingRequest(presencePenalty: -3), .presencePenalty, "`presence_penalty` must be >= -2.0 and <= 2.0"),
        (SamplingRequest(topK: 0), .topK, "`top_k` must be strictly positive"),
        (SamplingRequest(topP: 1), .topP, "`top_p` must be > 0.0 and < 1.0"),
        (SamplingRequest(topP: 0), .topP, "`top_p` must be > 0.0 and < 1.0"),
        (SamplingRequest(typicalP: 1), .typicalP, "`typical_p` must be > 0.0 and < 1.0"),
        (SamplingRequest(minP: 1.5), .minP, "`min_p` must be >= 0.0 and <= 1.0"),
        (SamplingRequest(maxNewTokens: 0), .maxNewTokens, "`max_new_tokens` must be strictly positive"),
        (
            SamplingRequest(stop: ["a", "b", "c", "d", "e"]), .tooManyStopSequences(max: 4, given: 5),
            "`stop` supports up to 4 stop sequences. Given: 5"
        ),
        (SamplingRequest(stop: [""]), .emptyStopSequence, "`stop` sequences must not be empty strings"),
        (
            SamplingRequest(topNTokens: 6), .topNTokens(max: 5, given: 6),
            "`top_n_tokens` must be >= 0 and <= 5. Given: 6"
        ),
        (
            SamplingRequest(logitBias: [3: 101]), .logitBias(token: 3, bias: 101),
            "`logit_bias` values must be >= -100.0 and <= 100.0. Given: 101.0 for token 3"
        ),
        (
            SamplingRequest(logitBias: [-1: 1]),
            .tokenOutOfVocabulary(field: "logit_bias", token: -1, vocabularySize: 1000),
            "`logit_bias` holds token id -1, outside the vocabulary of 1000 tokens"
        ),
        (
            SamplingRequest(stopTokenIDs: [1000]),
            .tokenOutOfVocabulary(field: "stop_token_ids", token: 1000, vocabularySize: 1000),
            "`stop_token_ids` holds token id 1000, outside the vocabulary of 1000 tokens"
        ),
    ]

    @Test(arguments: rejected.indices) func rejectsWithTGIMessage(index: Int) {
        let (request, error, message) = Self.rejected[index]
        #expect(error.description == message)
        #expect(error.isValidation)
        #expect(throws: error) { try request.validate(limits: SamplingLimits(vocabularySize: 1000)) }
    }

    @Test func fillsDefaults() throws {
        let p = try SamplingRequest(seed: 3).validate(limits: SamplingLimits(defaultMaxNewTokens: 77))
        #expect(p.isGreedy && !p.doSample)
        #expect(p.temperature == 1 && p.topK == 0 && p.topP == 1 && p.typicalP == 1 && p.minP == 0)
        #expect(p.repetitionPenalty == 1 && p.frequencyPenalty == 0 && p.presencePenalty == 0)
        #expect(p.seed == 3 && p.maxNewTokens == 77 && p.topNTokens == 0 && !p.ignoreEOS)
        #expect(p.stopSequences.isEmpty && p.stopTokenIDs.isEmpty && p.logitBias.isEmpty)
    }

    /// TGI's shard samples when asked or when a knob changes the distribution; temperature 1 alone does not.
    @Test func samplingIsOnWhenAKnobChangesTheDistribution() throws {
        #expect(try SamplingRequest(doSample: true).validate().doSample)
        #expect(try SamplingRequest(temperature: 0.5).validate().doSample)
        #expect(try SamplingRequest(topK: 10).validate().doSample)
        #expect(try SamplingRequest(minP: 0.1).validate().doSample)
        #expect(try SamplingRequest(temperature: 1).validate().isGreedy)
        #expect(try SamplingRequest(repetitionPenalty: 1.2).validate().isGreedy)
    }

    @Test func acceptsTheEdgesOfEachRange() throws {
        let request = SamplingRequest(
            temperature: 0.01, topK: 1, topP: 0.999, typicalP: 0.001, minP: 1, repetitionPenalty: 0.01,
            frequencyPenalty: -2, presencePenalty: 2, logitBias: [999: -100], stop: ["a", "b", "c", "d"],
            stopTokenIDs: [0], maxNewTokens: 1, topNTokens: 5)
        let p = try request.validate(limits: SamplingLimits(vocabularySize: 1000))
        #expect(p.logitBias == [999: -100] && p.stopSequences.count == 4 && p.topNTokens == 5)
    }

    @Test func aMissingSeedIsDrawnAndReported() throws {
        let seeds = try (0..<4).map { _ in try SamplingRequest(doSample: true).validate().seed }
        #expect(Set(seeds).count > 1)
    }
}
