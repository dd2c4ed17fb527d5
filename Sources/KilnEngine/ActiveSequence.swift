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
