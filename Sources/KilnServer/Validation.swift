import KilnSampling
import KilnTokenizers

/// A request that passed TGI's validation (router/src/validation.rs) with every default filled in: the prompt is
/// tokenized and truncated, and `sampling` is ready for the engine. `sampling` is the unvalidated sampling request
/// kept for best_of, whose sequences each need a fresh random seed.
struct ValidGenerateRequest: Sendable {
    var inputs: String
    var promptTokens: [Int32]
    var parameters: SamplingParameters
    var sampling: SamplingRequest
    var limits: SamplingLimits
    var bestOf: Int
    var details: Bool
    var decoderInputDetails: Bool
    var returnFullText: Bool
    /// The compiled `grammar`, if any.
    var constraint: CompiledConstraint?
}

struct Validator: Sendable {
    let tokenizer: Tokenizer
    let config: ServerConfig
    let tokens: TokenLimits
    let constraints: ConstraintCompiler

    /// TGI's checks, in TGI's order, with its messages.
    func validate(_ request: GenerateRequest, streaming: Bool) throws(ServerError) -> ValidGenerateRequest {
        let p = request.parameters
        let bestOf = p.bestOf ?? 1
        if bestOf != 1 {
            guard !streaming else { throw .validation("`best_of` != 1 is not supported when streaming tokens") }
            guard config.maxBestOf > 1 else { throw .validation("`best_of` != 1 is not allowed for this endpoint") }
            guard bestOf > 0, bestOf <= config.maxBestOf else {
                throw .validation("`best_of` must be > 0 and <= \(config.maxBestOf). Given: \(bestOf)")
            }
            let samples = p.doSample || p.temperature != nil || p.topK != nil || p.topP != nil || p.typicalP != nil
            guard samples else { throw .validation("you must use sampling when `best_of` is > 1") }
            guard p.seed == nil else { throw .validation("`seed` must not be set when `best_of` > 1") }
        }
        if p.decoderInputDetails && streaming {
            throw .validation("`decoder_input_details` == true is not supported when streaming tokens")
        }
        if p.watermark { throw .validation("`watermark` is not supported") }
        if p.adapterID != nil { throw .validation("`adapter_id` is not supported: no LoRA adapters are loaded") }
        if let n = p.maxNewTokens, n <= 0 { throw .validation(SamplingError.maxNewTokens.description) }
        guard !request.inputs.isEmpty else { throw .validation("`inputs` cannot be empty") }
        if let t = p.truncate, t <= 0 || t > tokens.maxInputTokens {
            throw .validation(
                "`truncate` must be strictly positive and less than \(tokens.maxInputTokens). Given: \(t)")
        }

        let constraint = try p.grammar.map { grammar throws(ServerError) in try compile(grammar) }

        var prompt = tokenizer.encode(request.inputs)
        if let t = p.truncate, prompt.count > t { prompt = Array(prompt.suffix(t)) }
        let maxNewTokens = try budget(promptTokens: prompt.count, maxNewTokens: p.maxNewTokens)

        let sampling = SamplingRequest(
            doSample: p.doSample, temperature: p.temperature, topK: p.topK, topP: p.topP, typicalP: p.typicalP,
            repetitionPenalty: p.repetitionPenalty, frequencyPenalty: p.frequencyPenalty, seed: p.seed,
            stop: p.stop, maxNewTokens: maxNewTokens, topNTokens: p.topNTokens)
        let limits = samplingLimits(maxNewTokens: maxNewTokens)
        let parameters: SamplingParameters
        do throws(SamplingError) {
            parameters = try sampling.validate(limits: limits)
        } catch {
            throw .validation(error.description)
        }
        return ValidGenerateRequest(
            inputs: request.inputs, promptTokens: prompt, parameters: parameters, sampling: sampling, limits: limits,
            bestOf: bestOf, details: p.details, decoderInputDetails: p.decoderInputDetails,
            returnFullText: p.returnFullText ?? false, constraint: constraint)
    }

    /// TGI's `grammar`: `{"type": "json" | "json_object", "value": schema object or its JSON text}`,
    /// `{"type": "json_schema", "value": {"name": …, "schema": {…}}}`, `{"type": "regex", "value": "…"}`;
    /// Kiln adds `{"type": "gbnf", "value": "…"}` and `{"type": "choice", "value": ["a", "b"]}`.
    func compile(_ grammar: GrammarParameter) throws(ServerError) -> CompiledConstraint {
        let spec: ConstraintSpec
        switch (grammar.type, grammar.value) {
        case ("json", .string(let text)?), ("json_object", .string(let text)?): spec = .jsonSchema(text)
        case ("json", let schema?), ("json_object", let schema?): spec = .jsonSchema(schema.jsonText)
        case ("json", nil), ("json_object", nil): spec = .jsonObject
        case ("json_schema", .object(let members)?):
            guard let schema = members["schema"] else {
                throw .validation("grammar is not valid: json_schema needs `schema`")
            }
            spec = .jsonSchema(schema.jsonText)
        case ("regex", .string(let pattern)?): spec = .regex(pattern)
        case ("gbnf", .string(let text)?): spec = .grammar(text)
        case ("choice", .array(let items)?):
            var options: [String] = []
            for item in items {
                guard case .string(let s) = item else {
                    throw .validation("grammar is not valid: choices must be strings")
                }
                options.append(s)
            }
            spec = .choice(options)
        default:
            throw .validation(
                "grammar is not valid: type must be json, json_object, json_schema, regex, gbnf or choice "
                    + "with a matching value")
        }
        do throws(ConstraintError) {
            return try constraints.compile(spec)
        } catch {
            throw .validation("grammar is not valid: \(error.description)")
        }
    }

    /// The prompt-length and total-token checks (TGI's messages, naming the routes' own fields); returns the
    /// request's max new tokens with its default filled in: what is left of --max-total-tokens.
    func budget(
        promptTokens count: Int, maxNewTokens: Int?, input: String = "inputs", output: String = "max_new_tokens"
    ) throws(ServerError) -> Int {
        guard count > 0 else { throw .validation("`\(input)` cannot be empty") }
        guard count <= tokens.maxInputTokens else {
            throw .validation("`\(input)` must have less than \(tokens.maxInputTokens) tokens. Given: \(count)")
        }
        let maxNewTokens = maxNewTokens ?? (tokens.maxTotalTokens - count)
        guard count + maxNewTokens <= tokens.maxTotalTokens else {
            throw .validation(
                "`\(input)` tokens + `\(output)` must be <= \(tokens.maxTotalTokens). "
                    + "Given: \(count) `\(input)` tokens and \(maxNewTokens) `\(output)`")
        }
        return maxNewTokens
    }

    func samplingLimits(maxNewTokens: Int) -> SamplingLimits {
        SamplingLimits(
            maxStopSequences: config.maxStopSequences, maxTopNTokens: config.maxTopNTokens,
            defaultMaxNewTokens: maxNewTokens, vocabularySize: tokenizer.vocabularySize)
    }
}
