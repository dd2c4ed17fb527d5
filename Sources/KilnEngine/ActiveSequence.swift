import KilnSampling
import KilnScheduling
import KilnTokenizers

/// Engine-thread state of one running request: its sampler, stop rules, and incremental text.
final class ActiveSequence {
    let id: SequenceID
    let continuation: AsyncThrowingStream<GenerationEvent, Error>.Continuation
    let submitted: Double
    let promptCount: Int
    var scheduledAt: Double?
    var promptReported = false
    var generated = 0
    var sampler: Sampler
    let maxNewTokens: Int
    /// Whether the request asked for prompt log-probabilities (delivered with `.prompt`).
    let wantsPromptLogprobs: Bool
    var scoring: PromptScoring
    /// Where the output stands in the request's constraint, if it has one.
    var matcher: ConstraintMatcher?
    private var stopping: StoppingCriteria
    private var detokenizer: StreamingDetokenizer
    private var stopMatcher: StopMatcher
    private let tokenizer: Tokenizer

    init(submission s: Engine.Submission, tokenizer: Tokenizer, stopTokens: Set<Int32>) {
        id = s.id
        continuation = s.continuation
        submitted = s.submitted
        promptCount = s.request.promptTokens.count
        self.tokenizer = tokenizer
        sampler = Sampler(parameters: s.request.parameters, promptTokens: s.request.promptTokens)
        maxNewTokens = s.request.parameters.maxNewTokens
        wantsPromptLogprobs = s.request.promptLogprobs
        scoring = PromptScoring(
            tokens: s.request.promptTokens, wanted: s.request.promptLogprobs,
            topN: s.request.parameters.topNTokens)
        stopping = StoppingCriteria(parameters: s.request.parameters, eosTokenIDs: stopTokens)
        detokenizer = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true)
        stopMatcher = StopMatcher(stopSequences: s.request.parameters.stopSequences)
        matcher = s.request.constraint?.makeMatcher()
    }

    /// The tokens the constraint allows next; nil without a constraint.
    func mask() -> TokenBitset? { matcher?.allowedTokens() }

    /// Turns a sampled token into its event, and says whether the sequence ends with it.
    func accept(_ token: SampledToken) -> (GeneratedToken, FinishReason?) {
        generated += 1
        matcher?.accept(token.id)
        var finish = stopping.check(token.id)
        let special = tokenizer.isSpecial(token.id)
        var text = ""
        if finish != .eosToken {
            let piece = detokenizer.next(token.id)
            let matched = stopMatcher.feed(piece)
            text = matched.text
            if let reason = matched.finishReason { finish = reason }
        }
        let event = GeneratedToken(
            id: token.id, text: text, logprob: token.logprob, special: special, topAlternatives: token.topAlternatives)
        return (event, finish)
    }

    /// Text still held back when the sequence ends (none when a stop sequence matched).
    func flush(_ reason: FinishReason) -> String {
        guard reason != .stopSequence else { return "" }
        let tail = detokenizer.finish()
        let matched = stopMatcher.feed(tail)
        return matched.finishReason == nil ? matched.text + stopMatcher.finish() : matched.text
    }
}

/// The prompt log-probabilities of a sequence that asked for them, gathered chunk by chunk as its prompt is
/// computed: the logits row of position p scores prompt token p + 1.
struct PromptScoring {
    let tokens: [Int32]
    let wanted: Bool
    /// Most likely alternatives to report at each prompt position.
    let topN: Int
    /// Index p holds the score of `tokens[p + 1]` once computed.
    private var scores: [PromptTokenLogprob?]
    private var missing: Int

    init(tokens: [Int32], wanted: Bool, topN: Int) {
        self.tokens = tokens
        self.wanted = wanted
        self.topN = topN
        scores = wanted ? Array(repeating: nil, count: max(0, tokens.count - 1)) : []
        missing = scores.count
    }

    /// Chunk-relative rows (from 0) whose logits score prompt tokens, for a chunk at `start` of `count` tokens:
    /// positions up to the prompt's second-to-last (the last one's logits choose the first generated token).
    func rows(start: Int, count: Int) -> Int {
        guard wanted, missing > 0 else { return 0 }
        return max(0, min(start + count, tokens.count - 1) - start)
    }

    mutating func record(_ scored: [PromptTokenLogprob], from position: Int) {
        for (i, score) in scored.enumerated() where scores[position + i] == nil {
            scores[position + i] = score
            missing -= 1
        }
    }

    /// One entry per prompt token after the first, when all are scored.
    var result: [PromptTokenLogprob]? {
        guard wanted, missing == 0 else { return nil }
        return scores.map { $0! }
    }
}

/// Requests that share one prompt (`n` choices, `best_of`): a hidden sequence computes the prompt once; when
/// its last prompt position's logits arrive, each member samples its first token from them with its own
/// sampler, and the scheduler forks one sequence per member over the prompt's blocks.
final class ForkGroup {
    let id: SequenceID
    var members: [ActiveSequence]
    var scoring: PromptScoring
    var scheduledAt: Double?

    init(id: SequenceID, members: [ActiveSequence], scoring: PromptScoring) {
        self.id = id
        self.members = members
        self.scoring = scoring
    }
}
