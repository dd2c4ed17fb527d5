import Foundation
import Synchronization
import KilnModels
import KilnSampling
import KilnScheduling
import KilnTokenizers

/// Runs many generations at once over one model: every step the scheduler picks which sequences advance (prefill
/// chunks and decodes mixed), the model runs them as one batch reading each weight once, and each sequence
/// samples its next token with its own sampler.
///
/// The loop lives on its own OS thread, never on Swift's cooperative pool (which has one thread per core: a step
/// there would stall every HTTP handler). Requests and cancellations reach it through a locked inbox; results
/// leave through each request's `AsyncThrowingStream`. `step()` reads as schedule → run → sample → deliver, after
/// nano-vllm's engine.
public final class Engine: @unchecked Sendable {
    public let model: LoadedModel
    public let config: EngineConfig
    public let schedulerConfig: SchedulerConfig

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var inbox: [Arrival] = []
    private var cancellations: [SequenceID] = []
    private var stopping = false
    private var nextID = 0
    private var snapshot = EngineMetrics()
    private var thread: Thread?
    private var stopped = false

    // Engine thread only:
    private var scheduler: Scheduler
    private let cache: PagedKVCache
    private var active: [SequenceID: ActiveSequence] = [:]
    /// Shared prompts still being computed, by their hidden sequence's id.
    private var groups: [SequenceID: ForkGroup] = [:]
    /// The group each not-yet-forked member waits in.
    private var pendingParent: [SequenceID: SequenceID] = [:]
    private var counters = EngineMetrics()
    private let constraintCompiler = Mutex<ConstraintCompiler?>(nil)

    struct Submission {
        let id: SequenceID
        let request: GenerationRequest
        let continuation: AsyncThrowingStream<GenerationEvent, Error>.Continuation
        let submitted: Double
    }

    /// What the inbox holds: one request, or requests sharing a prompt under a hidden sequence's id.
    enum Arrival {
        case single(Submission)
        case group(SequenceID, [Submission])
    }

    public init(model: LoadedModel, config: EngineConfig = EngineConfig()) throws {
        self.model = model
        self.config = config
        let dtype = config.kvCacheDType(for: model.transformer)
        let blocks = config.blockCount(for: model.transformer.config, dtype: dtype)
        do {
            schedulerConfig = try SchedulerConfig(
                blockSize: config.blockSize, blockCount: blocks, maxBatchSize: config.maxBatchSize,
                maxBatchTokens: config.maxBatchTokens, policy: config.policy, prefixCaching: config.prefixCaching,
                maxPrefillTokensWithDecodes: config.maxPrefillTokensWithDecodes)
        } catch {
            throw EngineError.invalidRequest(error.description)
        }
        scheduler = Scheduler(schedulerConfig)
        model.transformer.precision = config.precision
        cache = model.transformer.makePagedCache(blockCount: blocks, blockSize: config.blockSize, dtype: dtype)
        counters.blockCount = blocks
        counters.tokenCapacity = blocks * config.blockSize
        snapshot = counters
        // The thread holds the engine only while it works through one turn of its loop, so releasing the last
        // reference elsewhere ends the thread (within one idle wait) instead of leaving it with a dangling engine.
        let thread = Thread { [weak self] in
            while let engine = self, engine.turn() {}
        }
        thread.name = "kiln-engine"
        thread.stackSize = 8 << 20
        self.thread = thread
        thread.start()
    }

    /// Compiles structured-output constraints for this model's vocabulary (built on first use, then shared).
    public var constraints: ConstraintCompiler {
        constraintCompiler.withLock { compiler in
            if let compiler { return compiler }
            let made = ConstraintCompiler(
                vocabulary: TokenVocabulary(tokenizer: model.tokenizer, endOfSequence: model.stopTokenIDs.sorted()))
            compiler = made
            return made
        }
    }

    /// Tokens of KV cache the engine holds (TGI's max_batch_total_tokens).
    public var tokenCapacity: Int { schedulerConfig.tokenCapacity }

    public var metrics: EngineMetrics {
        condition.lock()
        defer { condition.unlock() }
        return snapshot
    }

    /// Queues a request. The stream ends after `.finished`, or with an `EngineError`; dropping or cancelling the
    /// consumer cancels the sequence, whose blocks are freed within one step.
    public func submit(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, Error> {
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, Error>.makeStream()
        condition.lock()
        if stopping {
            condition.unlock()
            continuation.finish(throwing: EngineError.unavailable("the engine is shutting down"))
            return stream
        }
        let id = nextID
        nextID += 1
        inbox.append(.single(Submission(id: id, request: request, continuation: continuation, submitted: now())))
        condition.signal()
        condition.unlock()
        continuation.onTermination = { [weak self] termination in
            if case .cancelled = termination { self?.cancel(id) }
        }
        return stream
    }

    /// Queues requests that share one prompt (OpenAI's `n` choices, TGI's `best_of`), one stream each, in order.
    /// The prompt is computed once, by a hidden sequence; each request then samples its first token from that
    /// sequence's last logits with its own sampler and continues as a fork sharing the prompt's KV blocks (the
    /// last, partial block is copied when a fork first writes into it). So every request's tokens are the ones it
    /// would get submitted alone, the prompt costs one prefill, and its KV is held once. Cancelling one stream
    /// ends that request only. Requests whose prompts differ are queued one by one.
    public func submit(_ requests: [GenerationRequest]) -> [AsyncThrowingStream<GenerationEvent, Error>] {
        guard requests.count > 1, requests.dropFirst().allSatisfy({ $0.promptTokens == requests[0].promptTokens })
        else { return requests.map { submit($0) } }
        let made = requests.map { _ in AsyncThrowingStream<GenerationEvent, Error>.makeStream() }
        condition.lock()
        if stopping {
            condition.unlock()
            for m in made { m.continuation.finish(throwing: EngineError.unavailable("the engine is shutting down")) }
            return made.map(\.stream)
        }
        let parent = nextID
        let ids = requests.indices.map { parent + 1 + $0 }
        nextID += requests.count + 1
        let submitted = now()
        let members = requests.indices.map {
            Submission(id: ids[$0], request: requests[$0], continuation: made[$0].continuation, submitted: submitted)
        }
        inbox.append(.group(parent, members))
        condition.signal()
        condition.unlock()
        for (id, m) in zip(ids, made) {
            m.continuation.onTermination = { [weak self] termination in
                if case .cancelled = termination { self?.cancel(id) }
            }
        }
        return made.map(\.stream)
    }

    /// Stops taking requests; with `drain`, running and queued requests finish first, otherwise they end with an
    /// error. Returns when the engine thread has stopped.
    public func shutdown(drain: Bool = true) async {
        beginShutdown(drain: drain)
        while !isStopped { try? await Task.sleep(nanoseconds: 2_000_000) }
    }

    private func beginShutdown(drain: Bool) {
        condition.lock()
        stopping = true
        if !drain { cancellations.append(contentsOf: Array(0..<nextID)) }
        condition.signal()
        condition.unlock()
    }

    /// True once the engine thread has exited.
    public var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    private func cancel(_ id: SequenceID) {
        condition.lock()
        cancellations.append(id)
        condition.signal()
        condition.unlock()
    }

    // MARK: - Engine thread

    /// How long an idle engine thread waits before it checks whether the engine is still referenced.
    private static let idleWait: TimeInterval = 0.05

    /// One turn of the engine loop: take what arrived, then run a step if anything is active. Returns false once
    /// the engine has stopped.
    private func turn() -> Bool {
        condition.lock()
        if inbox.isEmpty && cancellations.isEmpty && active.isEmpty && groups.isEmpty && !stopping {
            _ = condition.wait(until: Date(timeIntervalSinceNow: Self.idleWait))
        }
        let submissions = inbox
        let cancelled = cancellations
        inbox.removeAll()
        cancellations.removeAll()
        let shuttingDown = stopping
        condition.unlock()

        for arrival in submissions {
            switch arrival {
            case .single(let submission): admit(submission)
            case .group(let parent, let members): admit(group: parent, members)
            }
        }
        for id in cancelled { end(id, error: EngineError.unavailable("the request was cancelled")) }
        if active.isEmpty && groups.isEmpty {
            publish()
            if shuttingDown {
                condition.lock()
                stopped = true
                condition.unlock()
                return false
            }
            return true
        }
        step()
        publish()
        return true
    }

    /// Released without a shutdown (the thread lets go between turns): whatever is still queued or running ends
    /// with an error rather than leaving its consumer waiting.
    deinit {
        let error = EngineError.unavailable("the engine was shut down")
        for arrival in inbox {
            switch arrival {
            case .single(let s): s.continuation.finish(throwing: error)
            case .group(_, let members): for m in members { m.continuation.finish(throwing: error) }
            }
        }
        for sequence in active.values { sequence.continuation.finish(throwing: error) }
        for group in groups.values { for m in group.members { m.continuation.finish(throwing: error) } }
    }

    /// Why the engine cannot serve `request`, if it cannot.
    private func problem(_ request: GenerationRequest) -> String? {
        let transformer = model.transformer
        let p = request.parameters
        let prompt = request.promptTokens
        let limit = transformer.config.contextLength
        var problem: String?
        if prompt.isEmpty {
            problem = "the prompt is empty"
        } else if let bad = prompt.first(where: { $0 < 0 || Int($0) >= transformer.config.vocabularySize }) {
            problem = "token id \(bad) is outside the vocabulary of \(transformer.config.vocabularySize)"
        } else if prompt.count + p.maxNewTokens > limit {
            problem =
                "`inputs` tokens + `max_new_tokens` must be <= \(limit). Given: \(prompt.count) `inputs` tokens and \(p.maxNewTokens) `max_new_tokens`"
        }
        return problem
    }

    private func admit(_ s: Submission) {
        let prompt = s.request.promptTokens
        var problem = self.problem(s.request)
        if problem == nil {
            do {
                try scheduler.add(
                    id: s.id, tokens: prompt, maxNewTokens: s.request.parameters.maxNewTokens,
                    usePrefixCache: !s.request.promptLogprobs)
            } catch {
                problem = error.description
            }
        }
        if let problem {
            s.continuation.finish(throwing: EngineError.invalidRequest(problem))
            return
        }
        active[s.id] = ActiveSequence(
            submission: s, tokenizer: model.tokenizer, stopTokens: model.stopTokenIDs)
        counters.promptTokensTotal += prompt.count
    }

    /// Queues the hidden sequence that computes a shared prompt, growing as far as its longest member may.
    private func admit(group parent: SequenceID, _ submissions: [Submission]) {
        var members: [ActiveSequence] = []
        for s in submissions {
            if let problem = problem(s.request) {
                s.continuation.finish(throwing: EngineError.invalidRequest(problem))
            } else {
                members.append(ActiveSequence(submission: s, tokenizer: model.tokenizer, stopTokens: model.stopTokenIDs))
            }
        }
        guard let first = members.first else { return }
        let prompt = first.scoring.tokens
        let wanted = members.contains { $0.wantsPromptLogprobs }
        do {
            try scheduler.add(
                id: parent, tokens: prompt, maxNewTokens: members.map(\.maxNewTokens).max()!, usePrefixCache: !wanted,
                forks: members.count)
        } catch {
            for m in members { m.continuation.finish(throwing: EngineError.invalidRequest(error.description)) }
            return
        }
        let topN = members.filter(\.wantsPromptLogprobs).map(\.sampler.parameters.topNTokens).max() ?? 0
        groups[parent] = ForkGroup(
            id: parent, members: members, scoring: PromptScoring(tokens: prompt, wanted: wanted, topN: topN))
        for m in members { pendingParent[m.id] = parent }
        counters.promptTokensTotal += prompt.count
    }

    /// schedule → run → sample → deliver.
    private func step() {
        let started = now()
        let plan = scheduler.schedule()
        guard !plan.chunks.isEmpty else {
            // Nothing fits yet (blocks held by sequences being cancelled); wait for the inbox.
            Thread.sleep(forTimeInterval: 0.001)
            return
        }
        for copy in plan.copies { cache.copyBlock(from: copy.from, to: copy.to) }
        // Rows that need logits: prompt positions being scored, then the sampling row.
        var scored: [Int] = []
        let batch = plan.chunks.map { chunk in
            let scoring = groups[chunk.sequence]?.scoring ?? active[chunk.sequence]?.scoring
            let rows = scoring?.rows(start: chunk.start, count: chunk.tokens.count) ?? 0
            scored.append(rows)
            return BatchChunk(
                start: chunk.start, tokens: chunk.tokens, blockTable: chunk.blockTable,
                logitRows: Array(0..<rows) + (chunk.samples ? [chunk.tokens.count - 1] : []))
        }
        let logits: [Float]
        do {
            logits = try model.transformer.forward(batch: batch, cache: cache)
        } catch {
            counters.failedSteps += 1
            counters.lastStepFailed = true
            for chunk in plan.chunks { end(chunk.sequence, error: EngineError.generation("\(error)")) }
            return
        }
        counters.lastStepFailed = false
        counters.forwardTokensTotal += plan.tokenCount
        let vocab = model.transformer.config.vocabularySize
        var sampled: [SequenceID: Int32] = [:]
        var outputs: [(SequenceID, SampledToken)] = []
        var failures: [(SequenceID, SamplingError)] = []
        var forks: [(ForkGroup, [(ActiveSequence, Result<SampledToken, SamplingError>)])] = []
        var row = 0
        logits.withUnsafeBufferPointer { all in
            func rows(_ first: Int, _ count: Int) -> UnsafeBufferPointer<Float> {
                UnsafeBufferPointer(rebasing: all[first * vocab..<(first + count) * vocab])
            }
            for (c, chunk) in plan.chunks.enumerated() {
                let first = row
                row += batch[c].logitRows.count
                let scoredRows = rows(first, scored[c])
                if let group = groups[chunk.sequence] {
                    if group.scheduledAt == nil { group.scheduledAt = started }
                    if scored[c] > 0 { Self.score(&group.scoring, start: chunk.start, rows: scoredRows, vocab: vocab) }
                    guard chunk.samples else { continue }
                    let last = rows(first + scored[c], 1)
                    var results: [(ActiveSequence, Result<SampledToken, SamplingError>)] = []
                    for member in group.members {
                        do throws(SamplingError) {
                            results.append((member, .success(try member.sampler.sample(logits: last, mask: member.mask()))))
                        } catch {
                            results.append((member, .failure(error)))
                        }
                    }
                    forks.append((group, results))
                    continue
                }
                guard let sequence = active[chunk.sequence] else { continue }
                if sequence.scheduledAt == nil { sequence.scheduledAt = started }
                if scored[c] > 0 { Self.score(&sequence.scoring, start: chunk.start, rows: scoredRows, vocab: vocab) }
                guard chunk.samples else { continue }
                let last = rows(first + scored[c], 1)
                do throws(SamplingError) {
                    let token = try sequence.sampler.sample(logits: last, mask: sequence.mask())
                    sampled[chunk.sequence] = token.id
                    outputs.append((chunk.sequence, token))
                } catch {
                    failures.append((chunk.sequence, error))
                }
            }
        }
        for (id, error) in failures { end(id, error: EngineError.generation("\(error)")) }
        scheduler.commit(plan, sampled: sampled)
        for (group, results) in forks { fork(group, results) }
        for (id, token) in outputs { deliver(token, to: id) }
        counters.steps += 1
        counters.lastStepTokens = plan.tokenCount
        counters.stepSecondsTotal += now() - started
    }

    /// Scores the prompt tokens after the positions of `rows` (row i is position `start + i`).
    private static func score(_ scoring: inout PromptScoring, start: Int, rows: UnsafeBufferPointer<Float>, vocab: Int) {
        let count = rows.count / vocab
        guard count > 0,
            let scored = try? Sampler.promptLogprobs(
                rows: rows, vocabularySize: vocab, tokens: scoring.tokens[(start + 1)...(start + count)],
                topN: scoring.topN)
        else { return }
        scoring.record(scored, from: start)
    }

    /// Forks each member whose first token was sampled from the shared prompt's logits, delivers that token, and
    /// ends the hidden sequence (its references to the prompt's blocks go; the members' remain).
    private func fork(_ group: ForkGroup, _ results: [(ActiveSequence, Result<SampledToken, SamplingError>)]) {
        guard groups[group.id] === group else { return }
        groups[group.id] = nil
        for (member, result) in results {
            pendingParent[member.id] = nil
            let token: SampledToken
            switch result {
            case .success(let t): token = t
            case .failure(let error):
                member.continuation.finish(throwing: EngineError.generation("\(error)"))
                continue
            }
            do {
                try scheduler.fork(group.id, as: member.id, token: token.id, maxNewTokens: member.maxNewTokens)
            } catch {
                member.continuation.finish(throwing: EngineError.generation(error.description))
                continue
            }
            member.scheduledAt = group.scheduledAt
            member.scoring = group.scoring
            active[member.id] = member
            deliver(token, to: member.id)
        }
        scheduler.finish(group.id)
    }

    private func deliver(_ token: SampledToken, to id: SequenceID) {
        guard let sequence = active[id] else { return }
        if !sequence.promptReported {
            sequence.promptReported = true
            sequence.continuation.yield(
                .prompt(
                    PromptInfo(
                        tokenCount: sequence.promptCount,
                        queueSeconds: (sequence.scheduledAt ?? now()) - sequence.submitted,
                        logprobs: sequence.wantsPromptLogprobs ? sequence.scoring.result : nil)))
        }
        let (event, finish) = sequence.accept(token)
        counters.generatedTokensTotal += 1
        sequence.continuation.yield(.token(event))
        if let finish {
            let completion = Completion(
                reason: finish, promptTokens: sequence.promptCount, generatedTokens: sequence.generated,
                trailingText: sequence.flush(finish), seed: sequence.sampler.parameters.doSample ? sequence.sampler.parameters.seed : nil,
                queueSeconds: (sequence.scheduledAt ?? now()) - sequence.submitted,
                inferenceSeconds: now() - (sequence.scheduledAt ?? now()))
            sequence.continuation.yield(.finished(completion))
            sequence.continuation.finish()
            scheduler.finish(id)
            active[id] = nil
            counters.finishedRequests += 1
        }
    }

    /// Ends a request with an error: a running sequence, a group's hidden sequence (every member still waiting
    /// in it fails), or one member still waiting (the group goes on for the others, or ends with the last).
    private func end(_ id: SequenceID, error: EngineError) {
        if let sequence = active.removeValue(forKey: id) {
            scheduler.finish(id)
            sequence.continuation.finish(throwing: error)
        } else if let group = groups.removeValue(forKey: id) {
            scheduler.finish(id)
            for member in group.members {
                pendingParent[member.id] = nil
                member.continuation.finish(throwing: error)
            }
        } else if let parent = pendingParent.removeValue(forKey: id), let group = groups[parent] {
            if let index = group.members.firstIndex(where: { $0.id == id }) {
                group.members.remove(at: index).continuation.finish(throwing: error)
            }
            if group.members.isEmpty {
                groups[parent] = nil
                scheduler.finish(parent)
            }
        }
    }

    private func publish() {
        let stats = scheduler.stats
        counters.waiting = scheduler.waitingCount
        counters.running = scheduler.runningCount
        counters.blocksInUse = scheduler.usedBlockCount
        counters.blocksCached = scheduler.cachedBlockCount
        counters.prefixCacheHitTokens = stats.prefixCacheHitTokens
        counters.prefixCacheQueryTokens = stats.prefixCacheQueryTokens
        counters.preemptions = stats.preemptions
        counters.forks = stats.forks
        counters.blockCopies = stats.blockCopies
        condition.lock()
        snapshot = counters
        condition.unlock()
    }
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
