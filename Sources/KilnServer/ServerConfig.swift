/// Settings of one `kiln serve`: TGI's launcher flags where they mean the same.
public struct ServerConfig: Sendable {
    public var modelID: String
    /// The model's name on the OpenAI routes (`model` in replies, /v1/models); nil: `modelID`.
    public var servedModelName: String?
    public var maxConcurrentRequests = 128
    public var maxBestOf = 2
    public var maxStopSequences = 4
    public var maxTopNTokens = 5
    /// nil: one less than `maxTotalTokens`.
    public var maxInputTokens: Int?
    /// nil: the smaller of the model's context length and the KV cache's token capacity.
    public var maxTotalTokens: Int?
    public var waitingServedRatio = 0.3
    public var maxWaitingTokens = 20
    public var maxBatchSize: Int?
    /// `Authorization: Bearer <key>` required on generation routes when set.
    public var apiKey: String?
    public var corsAllowOrigins: [String] = []
    /// Largest accepted request body, bytes.
    public var payloadLimit = 2_000_000
    /// TGI's `COMPUTE_TYPE` environment variable, sent as `x-compute-type`.
    public var computeType = "cpu"
    public var version = "0.1.0"

    public init(modelID: String) { self.modelID = modelID }
}

/// Token limits resolved against the loaded model and engine.
struct TokenLimits: Sendable {
    var maxInputTokens: Int
    var maxTotalTokens: Int

    init(config: ServerConfig, contextLength: Int, tokenCapacity: Int) throws(ServerError) {
        let total = config.maxTotalTokens ?? min(contextLength, tokenCapacity)
        try LimitChecks.checkTotalTokens(total, contextLength: contextLength, tokenCapacity: tokenCapacity)
        let input = config.maxInputTokens ?? (total - 1)
        guard total >= 2, input >= 1, input < total else {
            throw .validation(
                "--max-input-tokens (\(input)) must be at least 1 and less than --max-total-tokens (\(total))")
        }
        maxInputTokens = input
        maxTotalTokens = total
    }
}
