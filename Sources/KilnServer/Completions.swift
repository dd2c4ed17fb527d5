import Foundation
import Hummingbird
import KilnEngine
import KilnSampling
import KilnTemplates
import KilnTokenizers

/// `POST /v1/completions`: raw prompts (strings or token ids), `n` choices each; choice `p * n + i` is prompt p's
/// i-th, as OpenAI numbers them.
extension Handlers {
    func completions(_ request: Request) async -> Response {
        let arrived = ContinuousClock.now
        let route = GenerationRoute.completions
        let trace = RequestTrace(route: route, headers: request.headers)
        var counted: ServerState.Ready?
        var request = request
        do throws(OpenAIError) {
            let (ready, body, _) = try await openAIBody(&request, as: CompletionRequest.self)
            counted = ready
            ready.metrics.requestReceived()
            let plan = try CompletionPlan(body, ready: ready, config: state.config)
            let chunker = CompletionChunker(
                id: OpenAIReply.id("cmpl-"), created: Int(Date().timeIntervalSince1970), model: servedModel,
                fingerprint: systemFingerprint, includeUsage: plan.includeUsage, logprobs: body.logprobs,
                echo: body.echo ? plan.returnedEchoTexts : nil, prompts: plan.requests.map(\.promptTokens),
                tokenizer: ready.tokenizer)
            return await runOpenAI(
                ready: ready, route: route, body: request.body, requests: plan.requests, promptTokens: plan.promptTokens,
                stream: body.sampling.stream == true, includeUsage: plan.includeUsage, chunker: chunker,
                arrived: arrived, trace: trace
            ) { candidates in
                // Usage counts every candidate generated, as OpenAI bills best_of.
                let picked = plan.pick(candidates)
                return chunker.reply(
                    picked.map { candidates[$0] }, prompts: picked.map { plan.requests[$0].promptTokens },
                    usage: OpenAIReply.usage(
                        prompt: plan.promptTokens, completion: candidates.reduce(0) { $0 + $1.tokens.count }))
            }
        } catch {
            return openAIFailure(error, ready: counted, route: route, trace: trace, validation: seconds(since: arrived))
        }
    }
}

struct CompletionPlan {
    /// One per candidate, prompt-major: `bestOf` per prompt (`n` without best_of).
    var requests: [GenerationRequest] = []
    /// The text echoed for each returned choice (`n` per prompt).
    var returnedEchoTexts: [String] = []
    /// Choices returned per prompt, and candidates generated per prompt (≥ n).
    var n = 1
    var bestOf = 1
    var promptTokens = 0
    var includeUsage: Bool

    static let maxPrompts = 4

    init(_ body: CompletionRequest, ready: ServerState.Ready, config: ServerConfig) throws(OpenAIError) {
        if let suffix = body.suffix, !suffix.isEmpty {
            throw .unsupported("`suffix` is not supported: Kiln does not fill in the middle", param: "suffix")
        }

        guard !body.prompts.isEmpty else { throw .invalid("`prompt` cannot be empty", param: "prompt") }
        guard body.prompts.count <= Self.maxPrompts else {
            throw .invalid("`prompt` may hold at most \(Self.maxPrompts) prompts. Given: \(body.prompts.count)", param: "prompt")
        }
        n = body.sampling.n ?? 1
        bestOf = body.bestOf ?? n
        // OpenAI's best_of: candidates generated server-side, the best n returned; never streamed.
        if body.bestOf != nil {
            guard (1...OpenAISampling.maxChoices).contains(n) else {
                throw .invalid("`n` must be between 1 and \(OpenAISampling.maxChoices). Given: \(n)", param: "n")
            }
            guard (1...OpenAISampling.maxChoices).contains(bestOf) else {
                throw .invalid(
                    "`best_of` must be between 1 and \(OpenAISampling.maxChoices). Given: \(bestOf)", param: "best_of")
            }
            guard bestOf >= n else {
                throw .invalid("`best_of` must be greater than or equal to `n`. Given: \(bestOf) < \(n)", param: "best_of")
            }
            if bestOf > 1 && body.sampling.stream == true {
                throw .invalid("`best_of` cannot be used when streaming", param: "best_of")
            }
        }
        let logprobs = body.logprobs ?? 0
        var fields = body.sampling
        fields.n = bestOf  // candidate i of a prompt is seeded seed + i
        let sampling = OpenAISampling(
            fields: fields, maxTokens: body.maxTokens ?? 16, maxTokensName: "max_tokens",
            topLogprobs: logprobs, topLogprobsName: "logprobs")
        try sampling.check(config: config)
        let tokenizer = ready.tokenizer
        for prompt in body.prompts {
            let tokens: [Int32]
            let text: String
            switch prompt {
            case .text(let s):
                tokens = tokenizer.encode(s)
                text = s
            case .tokens(let ids):
                if let bad = ids.first(where: { $0 < 0 || Int($0) >= tokenizer.vocabularySize }) {
                    throw .invalid("`prompt` token \(bad) is outside the vocabulary", param: "prompt")
                }
                tokens = ids
                text = tokenizer.decode(ids)
            }
            promptTokens += tokens.count
            for p in try sampling.parameters(promptTokens: tokens.count, validator: ready.validator, input: "prompt") {
                requests.append(
                    GenerationRequest(promptTokens: tokens, parameters: p, promptLogprobs: body.echo && body.logprobs != nil))
            }
            returnedEchoTexts += Array(repeating: text, count: n)
        }
        includeUsage = body.sampling.streamOptions?.includeUsage == true
    }
}

extension CompletionPlan {
    /// The candidates returned, as indices into `requests`, prompt-major: all of them, in order, without best_of;
    /// with best_of > n, each prompt's n candidates with the highest mean token log-probability (OpenAI's "highest
    /// log probability per token"), best first, ties to the lower seed.
    func pick(_ candidates: [Collected]) -> [Int] {
        guard bestOf > n else { return Array(candidates.indices) }
        return stride(from: 0, to: candidates.count, by: bestOf).flatMap { start in
            let group = Array(start..<min(start + bestOf, candidates.count))
            let mean = { (i: Int) -> Double in
                let tokens = candidates[i].tokens
                return tokens.isEmpty ? -.infinity : candidates[i].logprobSum / Double(tokens.count)
            }
            return group.sorted { mean($0) > mean($1) || (mean($0) == mean($1) && $0 < $1) }.prefix(n)
        }
    }
}

/// OpenAI's legacy `logprobs` object: parallel lists of tokens, their logprobs, the top alternatives as
/// `{token: logprob}` and each token's character offset in the choice's text.
struct LegacyLogprobs {
    var tokens: [Value] = []
    var tokenLogprobs: [Value] = []
    var top: [Value] = []
    var offsets: [Value] = []
    var offset = 0

    mutating func add(_ text: String, logprob: Float?, top alternatives: [(String, Float)]) {
        tokens.append(.string(text))
        if let logprob { tokenLogprobs.append(.double(LogprobEntries.finite(logprob))) } else { tokenLogprobs.append(nil) }
        // The first echoed prompt token has no logprob and, as in OpenAI's replies, no alternatives either.
        top.append(
            logprob == nil && alternatives.isEmpty
                ? nil : .object(OrderedObject(alternatives.map { ($0.0, Value.double(LogprobEntries.finite($0.1))) })))
        offsets.append(.int(offset))
        offset += text.unicodeScalars.count
    }

    mutating func take(withTop: Bool) -> Value {
        defer { (tokens, tokenLogprobs, top, offsets) = ([], [], [], []) }
        let topValue: Value = withTop ? Value.array(top) : Value.none
        return [
            "tokens": .array(tokens), "token_logprobs": .array(tokenLogprobs), "top_logprobs": topValue,
            "text_offset": .array(offsets),
        ]
    }
}

struct CompletionChunker: OpenAIChunker {
    let id: String
    let created: Int
    let model: String
    let fingerprint: String
    let includeUsage: Bool
    let logprobs: Int?
    let echo: [String]?
    /// Each streamed choice's prompt tokens (streams never use best_of, so choices are requests).
    let prompts: [[Int32]]
    let entries: LogprobEntries
    private var pending: [LegacyLogprobs]

    init(
        id: String, created: Int, model: String, fingerprint: String, includeUsage: Bool, logprobs: Int?,
        echo: [String]?, prompts: [[Int32]] = [], tokenizer: Tokenizer
    ) {
        self.prompts = prompts
        self.id = id
        self.created = created
        self.model = model
        self.fingerprint = fingerprint
        self.includeUsage = includeUsage
        self.logprobs = logprobs
        self.echo = echo
        entries = LogprobEntries(tokenizer: tokenizer)
        pending = []
    }

    private func chunk(_ choices: [Value], usage: Value? = nil) -> Value {
        OpenAIReply.chunk(
            object: "text_completion", id: id, created: created, model: model, fingerprint: fingerprint, choices: choices,
            usage: includeUsage ? .some(usage ?? Value.none) : Optional<Value>.none)
    }

    private mutating func choice(_ index: Int, text: String, finish: String? = nil) -> Value {
        var lp: Value = nil
        if logprobs != nil, index < pending.count {
            lp = pending[index].take(withTop: (logprobs ?? 0) > 0)
        }
        return [
            "index": .int(index), "text": .string(text), "logprobs": lp,
            "finish_reason": .orNull(finish),
        ]
    }

    private mutating func ensure(_ index: Int) {
        while pending.count <= index { pending.append(LegacyLogprobs()) }
    }

    private func add(_ t: GeneratedToken, to l: inout LegacyLogprobs) {
        l.add(entries.text(t.id), logprob: t.logprob, top: t.topAlternatives.map { (entries.text($0.id), $0.logprob) })
    }

    /// With echo and logprobs the echo waits for each choice's prompt log-probabilities (see `prompt`).
    mutating func start() -> [Value] {
        guard let echo, logprobs == nil else { return [] }
        return echo.indices.map { i in
            ensure(i)
            pending[i].offset = echo[i].unicodeScalars.count
            return chunk([choice(i, text: echo[i])])
        }
    }

    /// The echo of one choice's prompt with its tokens' log-probabilities, when both were asked for.
    mutating func prompt(_ info: PromptInfo, choice index: Int) -> [Value] {
        guard let echo, logprobs != nil, index < echo.count, index < prompts.count else { return [] }
        ensure(index)
        addPrompt(prompts[index], info, echoed: echo[index], to: &pending[index])
        return [chunk([choice(index, text: echo[index])])]
    }

    /// Prompt tokens as legacy logprob entries (the first without a logprob); later offsets start after `echoed`.
    private func addPrompt(_ prompt: [Int32], _ info: PromptInfo?, echoed: String, to l: inout LegacyLogprobs) {
        let given = info?.logprobs ?? []
        let offset = prompt.count - given.count
        for (i, id) in prompt.enumerated() {
            let scored = i >= offset && i > 0 ? given[i - offset] : nil
            l.add(
                entries.text(id), logprob: scored?.logprob,
                top: (scored?.topAlternatives ?? []).map { (entries.text($0.id), $0.logprob) })
        }
        l.offset = echoed.unicodeScalars.count
    }

    mutating func token(_ token: GeneratedToken, choice index: Int) -> [Value] {
        ensure(index)
        if logprobs != nil { add(token, to: &pending[index]) }
        return token.text.isEmpty ? [] : [chunk([choice(index, text: token.text)])]
    }

    mutating func finish(_ completion: Completion, choice index: Int) -> [Value] {
        ensure(index)
        return [chunk([choice(index, text: completion.trailingText, finish: OpenAIReply.finishReason(completion.reason))])]
    }

    func usage(_ usage: Value) -> Value { chunk([], usage: usage) }

    func reply(_ choices: [Collected], prompts: [[Int32]], usage: Value) -> Value {
        let list: [Value] = choices.enumerated().map { index, c -> Value in
            let echoed = echo?[index] ?? ""
            var lp: Value = nil
            if let logprobs {
                var l = LegacyLogprobs()
                if echo != nil { addPrompt(prompts[index], c.prompt, echoed: echoed, to: &l) }
                for t in c.tokens { add(t, to: &l) }
                lp = l.take(withTop: logprobs > 0)
            }
            return [
                "index": .int(index), "text": .string(echoed + c.text), "logprobs": lp,
                "finish_reason": .string(OpenAIReply.finishReason(c.completion?.reason)),
            ]
        }
        return [
            "id": .string(id), "object": "text_completion", "created": .int(created), "model": .string(model),
            "system_fingerprint": .string(fingerprint), "choices": .array(list), "usage": usage,
        ]
    }
}
