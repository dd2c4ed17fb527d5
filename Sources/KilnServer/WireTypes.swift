/// TGI's request and response bodies as they travel (router/src/lib.rs), snake_case on the wire.
///
/// Requests decode leniently the way serde does (missing optional fields are defaults); `Validation.swift` turns a
/// `GenerateRequest` into a `ValidGenerateRequest`. Responses encode every optional that TGI serializes as null
/// explicitly, and omit the ones TGI skips when empty (`top_tokens`, `best_of_sequences`, `details`).

/// `POST /generate`, `/generate_stream`, `/tokenize`; `POST /` adds `stream`.
public struct GenerateRequest: Decodable, Sendable {
    public var inputs: String
    public var parameters: GenerateParameters
    /// Only `POST /` reads it.
    public var stream: Bool

    enum CodingKeys: String, CodingKey { case inputs, parameters, stream }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inputs = try c.decode(String.self, forKey: .inputs)
        // TGI: no `parameters` at all means its `default_parameters()`, which samples.
        parameters = try c.decodeIfPresent(GenerateParameters.self, forKey: .parameters) ?? GenerateParameters(doSample: true)
        stream = try c.decodeIfPresent(Bool.self, forKey: .stream) ?? false
    }
}

public struct GenerateParameters: Decodable, Sendable {
    public var bestOf: Int?
    public var temperature: Float?
    public var repetitionPenalty: Float?
    public var frequencyPenalty: Float?
    public var topK: Int?
    public var topP: Float?
    public var typicalP: Float?
    public var doSample = false
    public var maxNewTokens: Int?
    public var returnFullText: Bool?
    public var stop: [String] = []
    public var truncate: Int?
    public var watermark = false
    public var details = false
    public var decoderInputDetails = false
    public var seed: UInt64?
    public var topNTokens: Int?
    public var grammar: GrammarParameter?
    public var adapterID: String?

    init(doSample: Bool) { self.doSample = doSample }

    enum CodingKeys: String, CodingKey {
        case bestOf = "best_of", temperature, repetitionPenalty = "repetition_penalty"
        case frequencyPenalty = "frequency_penalty", topK = "top_k", topP = "top_p", typicalP = "typical_p"
        case doSample = "do_sample", maxNewTokens = "max_new_tokens", returnFullText = "return_full_text", stop
        case truncate, watermark, details, decoderInputDetails = "decoder_input_details", seed
        case topNTokens = "top_n_tokens", grammar, adapterID = "adapter_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        bestOf = try c.decodeIfPresent(Int.self, forKey: .bestOf)
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature)
        repetitionPenalty = try c.decodeIfPresent(Float.self, forKey: .repetitionPenalty)
        frequencyPenalty = try c.decodeIfPresent(Float.self, forKey: .frequencyPenalty)
        topK = try c.decodeIfPresent(Int.self, forKey: .topK)
        topP = try c.decodeIfPresent(Float.self, forKey: .topP)
        typicalP = try c.decodeIfPresent(Float.self, forKey: .typicalP)
        doSample = try c.decodeIfPresent(Bool.self, forKey: .doSample) ?? false
        maxNewTokens = try c.decodeIfPresent(Int.self, forKey: .maxNewTokens)
        returnFullText = try c.decodeIfPresent(Bool.self, forKey: .returnFullText)
        stop = try c.decodeIfPresent([String].self, forKey: .stop) ?? []
        truncate = try c.decodeIfPresent(Int.self, forKey: .truncate)
        watermark = try c.decodeIfPresent(Bool.self, forKey: .watermark) ?? false
        details = try c.decodeIfPresent(Bool.self, forKey: .details) ?? false
        decoderInputDetails = try c.decodeIfPresent(Bool.self, forKey: .decoderInputDetails) ?? false
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        topNTokens = try c.decodeIfPresent(Int.self, forKey: .topNTokens)
        grammar = try c.decodeIfPresent(GrammarParameter.self, forKey: .grammar)
        adapterID = try c.decodeIfPresent(String.self, forKey: .adapterID)
    }
}

/// TGI's `grammar` parameter: a type tag and its value (see `Validator.compile`).
public struct GrammarParameter: Decodable, Sendable {
    public var type: String
    public var value: WireJSON?
}

/// Any JSON value as it arrived (object keys are unordered once decoded: `jsonText` writes them sorted).
public enum WireJSON: Decodable, Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([WireJSON])
    case object([String: WireJSON])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([WireJSON].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: WireJSON].self))
        }
    }

    /// Compact JSON text, keys sorted.
    public var jsonText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : "\(d)"
        case .string(let s):
            var out = "\""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                default:
                    if scalar.value < 0x20 {
                        let hex = String(scalar.value, radix: 16)
                        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
            return out + "\""
        case .array(let items): return "[" + items.map(\.jsonText).joined(separator: ",") + "]"
        case .object(let members):
            return "{"
                + members.keys.sorted().map { WireJSON.string($0).jsonText + ":" + members[$0]!.jsonText }.joined(
                    separator: ",") + "}"
        }
    }
}

// MARK: - Responses

struct TokenBody: Encodable, Sendable, Equatable {
    var id: Int32
    var text: String
    var logprob: Float?
    var special: Bool

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(text, forKey: .text)
        try c.encode(logprob.flatMap { $0.isFinite ? $0 : nil }, forKey: .logprob)
        try c.encode(special, forKey: .special)
    }
    enum CodingKeys: String, CodingKey { case id, text, logprob, special }
}

/// A prompt token in `details.prefill`: no `special`; the first token's logprob is null.
struct PrefillTokenBody: Encodable, Sendable, Equatable {
    var id: Int32
    var text: String
    var logprob: Float?

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(text, forKey: .text)
        try c.encode(logprob.flatMap { $0.isFinite ? $0 : nil }, forKey: .logprob)
    }
    enum CodingKeys: String, CodingKey { case id, text, logprob }
}

struct BestOfSequence: Encodable, Sendable {
    var generatedText: String
    var finishReason: String
    var generatedTokens: Int
    var seed: UInt64?
    var prefill: [PrefillTokenBody]
    var tokens: [TokenBody]
    var topTokens: [[TokenBody]]

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Details.CodingKeys.self)
        try c.encode(generatedText, forKey: .generatedText)
        try c.encode(finishReason, forKey: .finishReason)
        try c.encode(generatedTokens, forKey: .generatedTokens)
        try c.encode(seed, forKey: .seed)
        try c.encode(prefill, forKey: .prefill)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(topTokens, forKey: .topTokens)
    }
}

struct Details: Encodable, Sendable {
    var finishReason: String
    var generatedTokens: Int
    var seed: UInt64?
    var prefill: [PrefillTokenBody]
    var tokens: [TokenBody]
    var topTokens: [[TokenBody]]
    var bestOfSequences: [BestOfSequence]?

    enum CodingKeys: String, CodingKey {
        case generatedText = "generated_text", finishReason = "finish_reason", generatedTokens = "generated_tokens"
        case seed, prefill, tokens, topTokens = "top_tokens", bestOfSequences = "best_of_sequences"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(finishReason, forKey: .finishReason)
        try c.encode(generatedTokens, forKey: .generatedTokens)
        try c.encode(seed, forKey: .seed)
        try c.encode(prefill, forKey: .prefill)
        try c.encode(tokens, forKey: .tokens)
        if !topTokens.isEmpty { try c.encode(topTokens, forKey: .topTokens) }
        if let bestOfSequences { try c.encode(bestOfSequences, forKey: .bestOfSequences) }
    }
}

struct GenerateResponse: Encodable, Sendable {
    var generatedText: String
    var details: Details?

    enum CodingKeys: String, CodingKey { case generatedText = "generated_text", details }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(generatedText, forKey: .generatedText)
        if let details { try c.encode(details, forKey: .details) }
    }
}

struct StreamDetails: Encodable, Sendable {
    var finishReason: String
    var generatedTokens: Int
    var seed: UInt64?
    var inputLength: Int

    enum CodingKeys: String, CodingKey {
        case finishReason = "finish_reason", generatedTokens = "generated_tokens", seed, inputLength = "input_length"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(finishReason, forKey: .finishReason)
        try c.encode(generatedTokens, forKey: .generatedTokens)
        try c.encode(seed, forKey: .seed)
        try c.encode(inputLength, forKey: .inputLength)
    }
}

/// One `/generate_stream` event: `generated_text` and `details` are null except on the last one.
struct StreamResponse: Encodable, Sendable {
    var index: Int
    var token: TokenBody
    var topTokens: [TokenBody]
    var generatedText: String?
    var details: StreamDetails?

    enum CodingKeys: String, CodingKey {
        case index, token, topTokens = "top_tokens", generatedText = "generated_text", details
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode(token, forKey: .token)
        if !topTokens.isEmpty { try c.encode(topTokens, forKey: .topTokens) }
        try c.encode(generatedText, forKey: .generatedText)
        try c.encode(details, forKey: .details)
    }
}

/// `POST /tokenize`: one entry per token with character offsets into `inputs`.
struct TokenizeEntry: Encodable, Sendable {
    var id: Int32
    var text: String
    var start: Int
    var stop: Int
}

/// `GET /info`: TGI's current fields plus the legacy ones some clients still read.
struct InfoResponse: Encodable, Sendable {
    var modelID: String
    var modelPipelineTag: String
    var maxConcurrentRequests: Int
    var maxBestOf: Int
    var maxStopSequences: Int
    var maxInputTokens: Int
    var maxTotalTokens: Int
    var validationWorkers: Int
    var maxClientBatchSize: Int
    var version: String
    var modelDType: String
    var waitingServedRatio: Double
    var maxBatchTotalTokens: Int
    var maxWaitingTokens: Int
    var maxBatchSize: Int?

    enum CodingKeys: String, CodingKey {
        case modelID = "model_id", modelSHA = "model_sha", modelPipelineTag = "model_pipeline_tag"
        case maxConcurrentRequests = "max_concurrent_requests", maxBestOf = "max_best_of"
        case maxStopSequences = "max_stop_sequences", maxInputTokens = "max_input_tokens"
        case maxTotalTokens = "max_total_tokens", validationWorkers = "validation_workers"
        case maxClientBatchSize = "max_client_batch_size", router, version, sha, dockerLabel = "docker_label"
        case modelDType = "model_dtype", modelDeviceType = "model_device_type"
        case waitingServedRatio = "waiting_served_ratio", maxBatchTotalTokens = "max_batch_total_tokens"
        case maxWaitingTokens = "max_waiting_tokens", maxBatchSize = "max_batch_size"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelID, forKey: .modelID)
        try c.encodeNil(forKey: .modelSHA)
        try c.encode(modelPipelineTag, forKey: .modelPipelineTag)
        try c.encode(maxConcurrentRequests, forKey: .maxConcurrentRequests)
        try c.encode(maxBestOf, forKey: .maxBestOf)
        try c.encode(maxStopSequences, forKey: .maxStopSequences)
        try c.encode(maxInputTokens, forKey: .maxInputTokens)
        try c.encode(maxTotalTokens, forKey: .maxTotalTokens)
        try c.encode(validationWorkers, forKey: .validationWorkers)
        try c.encode(maxClientBatchSize, forKey: .maxClientBatchSize)
        try c.encode("text-generation-router", forKey: .router)
        try c.encode(version, forKey: .version)
        try c.encodeNil(forKey: .sha)
        try c.encodeNil(forKey: .dockerLabel)
        try c.encode(modelDType, forKey: .modelDType)
        try c.encode("cpu", forKey: .modelDeviceType)
        try c.encode(waitingServedRatio, forKey: .waitingServedRatio)
        try c.encode(maxBatchTotalTokens, forKey: .maxBatchTotalTokens)
        try c.encode(maxWaitingTokens, forKey: .maxWaitingTokens)
        try c.encode(maxBatchSize, forKey: .maxBatchSize)
    }
}
