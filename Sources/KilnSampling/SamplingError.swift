/// Everything that can go wrong in KilnSampling, with a message a person can act on.
///
/// The validation cases carry the wording of TGI's router (`router/src/validation.rs`) where TGI has the same rule,
/// so a server can pass `description` through unchanged as the text of a 422 `validation` error.
public enum SamplingError: Error, Equatable, Sendable, CustomStringConvertible {
    // Request validation.
    case temperature
    case repetitionPenalty
    case frequencyPenalty
    case presencePenalty
    case topK
    case topP
    case typicalP
    case minP
    case maxNewTokens
    case tooManyStopSequences(max: Int, given: Int)
    case emptyStopSequence
    case topNTokens(max: Int, given: Int)
    case logitBias(token: Int32, bias: Float)
    case tokenOutOfVocabulary(field: String, token: Int32, vocabularySize: Int)
    // Sampling time.
    /// Every logit is -inf or NaN, or the token mask allows nothing: there is no distribution to draw from.
    case noAllowedToken
    /// Prompt log-probabilities were asked for with a logits buffer that is not one row per scored token.
    case logitsShape(expected: Int, given: Int)

    /// True for the cases that reject a request's parameters (a client error), false for run-time failures.
    public var isValidation: Bool {
        switch self {
        case .noAllowedToken, .logitsShape: false
        default: true
        }
    }

    public var description: String {
        switch self {
        case .temperature: "`temperature` must be strictly positive"
        case .repetitionPenalty: "`repetition_penalty` must be strictly positive"
        case .frequencyPenalty: "`frequency_penalty` must be >= -2.0 and <= 2.0"
        case .presencePenalty: "`presence_penalty` must be >= -2.0 and <= 2.0"
        case .topK: "`top_k` must be strictly positive"
        case .topP: "`top_p` must be > 0.0 and < 1.0"
        case .typicalP: "`typical_p` must be > 0.0 and < 1.0"
        case .minP: "`min_p` must be >= 0.0 and <= 1.0"
        case .maxNewTokens: "`max_new_tokens` must be strictly positive"
        case .tooManyStopSequences(let max, let given):
            "`stop` supports up to \(max) stop sequences. Given: \(given)"
        case .emptyStopSequence: "`stop` sequences must not be empty strings"
        case .topNTokens(let max, let given): "`top_n_tokens` must be >= 0 and <= \(max). Given: \(given)"
        case .logitBias(let token, let bias):
            "`logit_bias` values must be >= -100.0 and <= 100.0. Given: \(bias) for token \(token)"
        case .tokenOutOfVocabulary(let field, let token, let size):
            "`\(field)` holds token id \(token), outside the vocabulary of \(size) tokens"
        case .noAllowedToken:
            "no token can be sampled: every logit is -inf or NaN, or the token mask allows none"
        case .logitsShape(let expected, let given):
            "prompt logits hold \(given) values; expected \(expected) (one vocabulary-sized row per scored token)"
        }
    }
}
