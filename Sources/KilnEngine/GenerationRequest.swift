import KilnSampling

/// A request as the engine takes it: prompt already tokenized, every parameter validated and defaulted.
public struct GenerationRequest: Sendable {
    public var promptTokens: [Int32]
    public var parameters: SamplingParameters
    /// Log-probabilities of the prompt's tokens (TGI's `decoder_input_details`).
    public var promptLogprobs: Bool
    /// Structured output: each generated token must keep the text a prefix of a match (compile it with the
    /// engine's `constraints`, which knows the model's vocabulary and end-of-sequence tokens).
    public var constraint: CompiledConstraint?

    public init(
        promptTokens: [Int32], parameters: SamplingParameters, promptLogprobs: Bool = false,
        constraint: CompiledConstraint? = nil
    ) {
        self.promptTokens = promptTokens
        self.parameters = parameters
        self.promptLogprobs = promptLogprobs
        self.constraint = constraint
    }
}

/// One generated token as a stream delivers it.
public struct GeneratedToken: Sendable, Equatable {
    public var id: Int32
    /// Text that became final with this token (may be empty: a partial UTF-8 character, or text held back
    /// because it could start a stop sequence).
    public var text: String
    public var logprob: Float
    public var special: Bool
    public var topAlternatives: [TokenLogprob]
}

/// What a request's stream yields, in order: `.prompt` once when its prompt is processed, `.token` for each
/// generated token, then `.finished`. Failures end the stream with an `EngineError`.
public enum GenerationEvent: Sendable {
    case prompt(PromptInfo)
    case token(GeneratedToken)
    case finished(Completion)
}

public struct PromptInfo: Sendable, Equatable {
    public var tokenCount: Int
    /// Seconds from submission until the prompt's first chunk was scheduled.
    public var queueSeconds: Double
    /// Prompt log-probabilities when requested: one per prompt token after the first (which has none), each the
    /// model's own log-probability of that token given the ones before it, with the request's `topNTokens`
    /// most likely alternatives at that position.
    public var logprobs: [PromptTokenLogprob]?
}

public struct Completion: Sendable, Equatable {
    public var reason: FinishReason
    public var promptTokens: Int
    public var generatedTokens: Int
    /// Text still held back by the stop matcher when the sequence ended (already excluded from token texts).
    public var trailingText: String
    public var seed: UInt64?
    public var queueSeconds: Double
    public var inferenceSeconds: Double
}

public enum EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request cannot be served with this engine's limits (422-like: the request is at fault).
    case invalidRequest(String)
    /// The engine is shutting down and takes no new work (503-like).
    case unavailable(String)
    /// The forward pass or sampling failed (424-like: a generation error).
    case generation(String)

    public var description: String {
        switch self {
        case .invalidRequest(let m), .unavailable(let m), .generation(let m): return m
        }
    }
}
