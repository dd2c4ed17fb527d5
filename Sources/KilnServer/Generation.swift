import Foundation
import KilnEngine
import KilnSampling
import KilnTokenizers

/// One engine sequence run to its end for a non-streaming reply.
struct Collected: Sendable {
    var tokens: [GeneratedToken] = []
    var prompt: PromptInfo?
    var completion: Completion?
    /// Seconds after the request's arrival when the first token came.
    var firstToken: Double?

    /// The generated text: every token's final text plus what the stop matcher still held at the end.
    var text: String { tokens.map(\.text).joined() + (completion?.trailingText ?? "") }

    /// Summed log-probability of the generated tokens: how best_of picks its winner, as TGI does.
    var logprobSum: Double { tokens.reduce(0.0) { $0 + Double($1.logprob) } }
}

extension ServerError {
    init(engine error: any Error) {
        switch error {
        case EngineError.invalidRequest(let m): self = .validation(m)
        case EngineError.unavailable(let m): self = .unavailable(m)
        case EngineError.generation(let m): self = .generation(m)
        case let e as ServerError: self = e
        default: self = .generation("\(error)")
        }
    }
}

enum Generation {
    static func collect(
        _ engine: Engine, prompt: [Int32], parameters: SamplingParameters, promptLogprobs: Bool,
        constraint: CompiledConstraint? = nil, arrived: ContinuousClock.Instant
    ) async throws(ServerError) -> Collected {
        var result = Collected()
        let stream = engine.submit(
            GenerationRequest(
                promptTokens: prompt, parameters: parameters, promptLogprobs: promptLogprobs, constraint: constraint))
        do {
            for try await event in stream {
                switch event {
                case .prompt(let info): result.prompt = info
                case .token(let token):
                    if result.firstToken == nil { result.firstToken = seconds(since: arrived) }
                    result.tokens.append(token)
                case .finished(let completion): result.completion = completion
                }
            }
        } catch {
            throw ServerError(engine: error)
        }
        guard result.completion != nil else { throw .incompleteGeneration }
        return result
    }

    /// Runs a validated request to the end. best_of > 1 runs that many sequences over one computed prompt (the
    /// engine forks them, sharing the prompt's KV blocks), each with its own random seed, and keeps the one whose
    /// generated tokens have the highest summed log-probability, as TGI does; the others come back in order.
    static func run(_ request: ValidGenerateRequest, engine: Engine, arrived: ContinuousClock.Instant)
        async throws(ServerError) -> (best: Collected, others: [Collected])
    {
        guard request.bestOf > 1 else {
            let one = try await collect(
                engine, prompt: request.promptTokens, parameters: request.parameters,
                promptLogprobs: request.decoderInputDetails, constraint: request.constraint, arrived: arrived)
            return (one, [])
        }
        var parameters = [request.parameters]
        for _ in 1..<request.bestOf {
            do throws(SamplingError) {
                parameters.append(try request.sampling.validate(limits: request.limits))
            } catch {
                throw .validation(error.description)
            }
        }
        let requests = parameters.map {
            GenerationRequest(
                promptTokens: request.promptTokens, parameters: $0, promptLogprobs: request.decoderInputDetails,
                constraint: request.constraint)
        }
        var collected = try await collectAll(engine, requests, arrived: arrived)
        let bestIndex = collected.indices.max { collected[$0].logprobSum < collected[$1].logprobSum } ?? 0
        let best = collected.remove(at: bestIndex)
        return (best, collected)
    }
}

/// Turns engine values into TGI's wire shapes.
struct ResponseBuilder: Sendable {
    let tokenizer: Tokenizer

    /// Special tokens show their own text (the engine's text for them is empty, as they never reach the output).
    func token(_ t: GeneratedToken, extraText: String = "") -> TokenBody {
        TokenBody(
            id: t.id, text: t.special ? tokenizer.decode([t.id]) : t.text + extraText, logprob: t.logprob,
            special: t.special)
    }

    func alternatives(_ t: GeneratedToken) -> [TokenBody] {
        t.topAlternatives.map {
            TokenBody(
                id: $0.id, text: tokenizer.decode([$0.id]), logprob: $0.logprob, special: tokenizer.isSpecial($0.id))
        }
    }

    func prefill(_ prompt: [Int32], _ info: PromptInfo?, requested: Bool) -> [PrefillTokenBody] {
        guard requested else { return [] }
        let logprobs = info?.logprobs ?? []
        let offset = prompt.count - logprobs.count
        return prompt.enumerated().map { i, id in
            PrefillTokenBody(
                id: id, text: tokenizer.decode([id]), logprob: i >= offset && i > 0 ? logprobs[i - offset].logprob : nil)
        }
    }

    /// Token bodies of a finished sequence; the last one carries the text held back until the end, so that the
    /// tokens' texts join to `generated_text`.
    func tokens(_ c: Collected) -> [TokenBody] {
        c.tokens.enumerated().map { i, t in
            token(t, extraText: i == c.tokens.count - 1 ? c.completion?.trailingText ?? "" : "")
        }
    }

    func response(_ request: ValidGenerateRequest, best: Collected, others: [Collected]) -> GenerateResponse {
        let prefix = request.returnFullText ? request.inputs : ""
        guard request.details, let completion = best.completion else {
            return GenerateResponse(generatedText: prefix + best.text, details: nil)
        }
        let prefill = self.prefill(request.promptTokens, best.prompt, requested: request.decoderInputDetails)
        let topTokens = request.parameters.topNTokens > 0 ? best.tokens.map(alternatives) : []
        let sequences: [BestOfSequence]? =
            others.isEmpty
            ? nil
            : others.map { o in
                BestOfSequence(
                    generatedText: prefix + o.text, finishReason: o.completion?.reason.rawValue ?? "length",
                    generatedTokens: o.tokens.count, seed: o.completion?.seed,
                    prefill: self.prefill(request.promptTokens, o.prompt, requested: request.decoderInputDetails),
                    tokens: tokens(o), topTokens: request.parameters.topNTokens > 0 ? o.tokens.map(alternatives) : [])
            }
        let seed: UInt64? = request.parameters.isGreedy ? nil : completion.seed
        return GenerateResponse(
            generatedText: prefix + best.text,
            details: Details(
                finishReason: completion.reason.rawValue, generatedTokens: best.tokens.count, seed: seed,
                prefill: prefill, tokens: tokens(best), topTokens: topTokens, bestOfSequences: sequences))
    }
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
