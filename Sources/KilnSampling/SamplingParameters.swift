/// The sampling and stopping knobs of one request as a client sent them: `nil` means "not given".
///
/// Field names follow TGI's `GenerateParameters`, plus vLLM/OpenAI's `min_p`, `presence_penalty`, `logit_bias`,
/// `stop_token_ids` and `ignore_eos`. `validate(limits:)` applies TGI's rules and fills every default, giving a
/// `SamplingParameters` (TGI's router does the same: wire type → validated type).
///
/// TGI rejects `temperature: 0`; OpenAI-style callers that mean "greedy" by it should pass `temperature: nil` and
/// `doSample: false` instead.
public struct SamplingRequest: Sendable, Equatable {
    /// Sample instead of taking the argmax. Also switched on by any of temperature, top_k, top_p, typical_p or min_p
    /// at a value that changes the distribution (TGI's rule).
    public var doSample: Bool
    public var temperature: Float?
    public var topK: Int?
    public var topP: Float?
    public var typicalP: Float?
    public var minP: Float?
    public var repetitionPenalty: Float?
    public var frequencyPenalty: Float?
    public var presencePenalty: Float?
    /// `nil`: a random seed is drawn, and reported back in `SamplingParameters.seed`.
    public var seed: UInt64?
    /// Added to the token's logit before anything else; each value in [-100, 100] (OpenAI's range).
    public var logitBias: [Int32: Float]
    /// Strings that end generation when they appear in the generated text; they are not part of the output.
    public var stop: [String]
    /// Tokens that end generation like end-of-sequence does, even with `ignoreEOS`.
    public var stopTokenIDs: [Int32]
    public var ignoreEOS: Bool
    public var maxNewTokens: Int?
    /// How many most-likely alternatives to report at each generated position.
    public var topNTokens: Int?

    public init(
        doSample: Bool = false, temperature: Float? = nil, topK: Int? = nil, topP: Float? = nil,
        typicalP: Float? = nil, minP: Float? = nil, repetitionPenalty: Float? = nil, frequencyPenalty: Float? = nil,
        presencePenalty: Float? = nil, seed: UInt64? = nil, logitBias: [Int32: Float] = [:], stop: [String] = [],
        stopTokenIDs: [Int32] = [], ignoreEOS: Bool = false, maxNewTokens: Int? = nil, topNTokens: Int? = nil
    ) {
        self.doSample = doSample
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.typicalP = typicalP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.frequencyPenalty = frequencyPenalty
        self.presencePenalty = presencePenalty
        self.seed = seed
        self.logitBias = logitBias
        self.stop = stop
        self.stopTokenIDs = stopTokenIDs
        self.ignoreEOS = ignoreEOS
        self.maxNewTokens = maxNewTokens
        self.topNTokens = topNTokens
    }

    /// Checks every given value (TGI's rules and messages where TGI has the field) and fills the defaults.
    public func validate(limits: SamplingLimits = SamplingLimits()) throws(SamplingError) -> SamplingParameters {
        let temperature = self.temperature ?? 1
        guard temperature > 0, temperature.isFinite else { throw .temperature }
        let repetitionPenalty = self.repetitionPenalty ?? 1
        guard repetitionPenalty > 0, repetitionPenalty.isFinite else { throw .repetitionPenalty }
        let frequencyPenalty = self.frequencyPenalty ?? 0
        guard (-2...2).contains(frequencyPenalty) else { throw .frequencyPenalty }
        let presencePenalty = self.presencePenalty ?? 0
        guard (-2...2).contains(presencePenalty) else { throw .presencePenalty }
        let topK = self.topK ?? 0
        if let k = self.topK, k <= 0 { throw .topK }
        let topP = self.topP ?? 1
        if let p = self.topP, !(p > 0 && p < 1) { throw .topP }
        let typicalP = self.typicalP ?? 1
        if let p = self.typicalP, !(p > 0 && p < 1) { throw .typicalP }
        let minP = self.minP ?? 0
        guard (0...1).contains(minP) else { throw .minP }
        let maxNewTokens = self.maxNewTokens ?? limits.defaultMaxNewTokens
        guard maxNewTokens > 0 else { throw .maxNewTokens }
        guard stop.count <= limits.maxStopSequences else {
            throw .tooManyStopSequences(max: limits.maxStopSequences, given: stop.count)
        }
        guard !stop.contains("") else { throw .emptyStopSequence }
        let topNTokens = self.topNTokens ?? 0
        guard (0...limits.maxTopNTokens).contains(topNTokens) else {
            throw .topNTokens(max: limits.maxTopNTokens, given: topNTokens)
        }
        for (token, bias) in logitBias.sorted(by: { $0.key < $1.key }) {
            try Self.check(token, field: "logit_bias", limits)
            guard (-100...100).contains(bias) else { throw .logitBias(token: token, bias: bias) }
        }
        for token in stopTokenIDs { try Self.check(token, field: "stop_token_ids", limits) }

        // TGI's shard samples when asked to or when any knob would change the distribution (`has_warpers`).
        let samples = doSample || temperature != 1 || topK != 0 || topP < 1 || typicalP < 1 || minP > 0
        return SamplingParameters(
            doSample: samples, temperature: temperature, topK: topK, topP: topP, typicalP: typicalP, minP: minP,
            repetitionPenalty: repetitionPenalty, frequencyPenalty: frequencyPenalty, presencePenalty: presencePenalty,
            seed: seed ?? UInt64.random(in: .min ... .max), logitBias: logitBias, stopSequences: stop,
            stopTokenIDs: stopTokenIDs, ignoreEOS: ignoreEOS, maxNewTokens: maxNewTokens, topNTokens: topNTokens)
    }

    private static func check(_ token: Int32, field: String, _ limits: SamplingLimits) throws(SamplingError) {
        let size = limits.vocabularySize ?? Int(Int32.max)
        guard token >= 0, Int(token) < size else {
            throw .tokenOutOfVocabulary(field: field, token: token, vocabularySize: size)
        }
    }
}

/// Server-wide bounds that validation checks against (TGI's launcher flags of the same names).
public struct SamplingLimits: Sendable, Equatable {
    /// TGI's `--max-stop-sequences`.
    public var maxStopSequences: Int
    /// TGI's `--max-top-n-tokens`.
    public var maxTopNTokens: Int
    /// Used when a request gives no `max_new_tokens`; TGI uses `max_total_tokens - input_length`.
    public var defaultMaxNewTokens: Int
    /// Token ids in `logit_bias` and `stop_token_ids` must be below this; `nil` skips the check.
    public var vocabularySize: Int?

    public init(
        maxStopSequences: Int = 4, maxTopNTokens: Int = 5, defaultMaxNewTokens: Int = 100, vocabularySize: Int? = nil
    ) {
        self.maxStopSequences = maxStopSequences
        self.maxTopNTokens = maxTopNTokens
        self.defaultMaxNewTokens = defaultMaxNewTokens
        self.vocabularySize = vocabularySize
    }
}

/// Validated sampling and stopping parameters with every default filled in; made only by
/// `SamplingRequest.validate(limits:)`. Each "off" value leaves the logits untouched.
public struct SamplingParameters: Sendable, Equatable {
    /// Sampling was asked for (explicitly or by giving a sampling knob); see `isGreedy`.
    public let doSample: Bool
    public let temperature: Float  // 1: off
    public let topK: Int  // 0: off
    public let topP: Float  // 1: off
    public let typicalP: Float  // 1: off
    public let minP: Float  // 0: off
    public let repetitionPenalty: Float  // 1: off
    public let frequencyPenalty: Float  // 0: off
    public let presencePenalty: Float  // 0: off
    public let seed: UInt64
    public let logitBias: [Int32: Float]
    public let stopSequences: [String]
    public let stopTokenIDs: [Int32]
    public let ignoreEOS: Bool
    public let maxNewTokens: Int
    public let topNTokens: Int

    /// Argmax decoding (lowest id on ties) after bias, penalties and mask: no sampling was asked for.
    public var isGreedy: Bool { !doSample }

    /// Greedy decoding with no penalties or stop rules beyond `maxNewTokens`.
    public static func greedy(maxNewTokens: Int = 100) -> SamplingParameters {
        SamplingParameters(
            doSample: false, temperature: 1, topK: 0, topP: 1, typicalP: 1, minP: 0, repetitionPenalty: 1,
            frequencyPenalty: 0, presencePenalty: 0, seed: 0, logitBias: [:], stopSequences: [], stopTokenIDs: [],
            ignoreEOS: false, maxNewTokens: max(1, maxNewTokens), topNTokens: 0)
    }
}
