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
    private var inbox: [Submission] = []
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
    private var counters = EngineMetrics()
    private let constraintCompiler = Mutex<ConstraintCompiler?>(nil)

    struct Submission {
        let id: SequenceID
        let request: GenerationRequest
        let continuation: AsyncThrowingStream<GenerationEvent, Error>.Continuation
        let submitted: Double
    }

    public init(model: LoadedModel, config: EngineConfig = EngineConfig()) throws {
        self.model = model
        self.config = config
        let blocks = config.blockCount(for: model.transformer.config)
        do {
            schedulerConfig = try SchedulerConfig(
                blockSize: config.blockSize, blockCount: blocks, maxBatchSize: config.maxBatchSize,
                maxBatchTokens: config.maxBatchTokens, policy: config.policy, prefixCaching: config.prefixCaching)
        } catch {
            throw EngineError.invalidRequest(error.description)
        }
        scheduler = Scheduler(schedulerConfig)
        model.transformer.precision = config.precision
        cache = model.transformer.makePagedCache(blockCount: blocks, blockSize: config.blockSize)
        counters.blockCount = blocks
        counters.tokenCapacity = blocks * config.blockSize
        snapshot = counters
        let thread = Thread { [unowned self] in self.run() }
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
        inbox.append(Submission(id: id, request: request, continuation: continuation, submitted: now()))
        condition.signal()
        condition.unlock()
        continuation.onTermination = { [weak self] termination in
            if case .cancelled = termination { self?.cancel(id) }
        }
        return stream
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

    private func run() {
        while true {
            condition.lock()
            while inbox.isEmpty && cancellations.isEmpty && active.isEmpty && !stopping {
                condition.wait()
            }
            let submissions = inbox
            let cancelled = cancellations
            inbox.removeAll()
            cancellations.removeAll()
            let shuttingDown = stopping
            condition.unlock()

            for submission in submissions { admit(submission) }
            for id in cancelled { end(id, error: EngineError.unavailable("the request was cancelled")) }
            if active.isEmpty {
                publish()
                if shuttingDown { break }
                continue
            }
            step()
            publish()
        }
        condition.lock()
        stopped = true
        condition.unlock()
    }

    private func admit(_ s: Submission) {
        let transformer = model.transformer
        let p = s.request.parameters
        let prompt = s.request.promptTokens
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
        if problem == nil {
            do {
                try scheduler.add(id: s.id, tokens: prompt, maxNewTokens: p.maxNewTokens)
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

    /// schedule → run → sample → deliver.
    private func step() {
        let started = now()
        let plan = scheduler.schedule()
        guard !plan.chunks.isEmpty else {
            // Nothing fits yet (blocks held by sequences being cancelled); wait for the inbox.
            Thread.sleep(forTimeInterval: 0.001)
            return
        }
        let batch = plan.chunks.map { chunk in
            BatchChunk(
                start: chunk.start, tokens: chunk.tokens, blockTable: chunk.blockTable,
                logitRows: chunk.samples ? [chunk.tokens.count - 1] : [])
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
        let vocab = model.transformer.config.vocabularySize
        var sampled: [SequenceID: Int32] = [:]
        var outputs: [(SequenceID, SampledToken)] = []
        var row = 0
        for chunk in plan.chunks {
            guard let sequence = active[chunk.sequence] else { continue }
            if sequence.scheduledAt == nil { sequence.scheduledAt = started }
            guard chunk.samples else { continue }
            let result = logits.withUnsafeBufferPointer { all in
                Result { () throws(SamplingError) -> SampledToken in
                    try sequence.sampler.sample(
                        logits: UnsafeBufferPointer(rebasing: all[row * vocab..<(row + 1) * vocab]),
                        mask: sequence.mask())
                }
            }
            row += 1
            switch result {
            case .success(let token):
                sampled[chunk.sequence] = token.id
                outputs.append((chunk.sequence, token))
            case .failure(let error):
                end(chunk.sequence, error: EngineError.generation("\(error)"))
            }
        }
        scheduler.commit(plan, sampled: sampled)
        for (id, token) in outputs { deliver(token, to: id) }
        counters.steps += 1
        counters.lastStepTokens = plan.tokenCount
        counters.stepSecondsTotal += now() - started
    }

    private func deliver(_ token: SampledToken, to id: SequenceID) {
        guard let sequence = active[id] else { return }
        if !sequence.promptReported {
            sequence.promptReported = true
            sequence.continuation.yield(
                .prompt(
                    PromptInfo(
                        tokenCount: sequence.promptCount,
                        queueSeconds: (sequence.scheduledAt ?? now()) - sequence.submitted, logprobs: nil)))
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

    private func end(_ id: SequenceID, error: EngineError) {
        guard let sequence = active.removeValue(forKey: id) else { return }
        scheduler.finish(id)
        sequence.continuation.finish(throwing: error)
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
        condition.lock()
        snapshot = counters
        condition.unlock()
    }
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
