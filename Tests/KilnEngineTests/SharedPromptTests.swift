import Foundation
import KilnEngine
import KilnModels
import KilnSampling
import Testing

/// Requests that share a prompt (`n`, `best_of`) computed once and forked, and prompt log-probabilities, on the
/// real SmolLM2 checkpoint.
@Suite(.serialized) struct SharedPromptTests {
    typealias Run = (tokens: [Int32], prompt: PromptInfo?, reason: FinishReason?)

    static let story = "Once upon a time, in a land far away, there lived a"

    func sampled(seed: UInt64, _ maxNewTokens: Int, topN: Int? = nil) throws -> SamplingParameters {
        try SamplingRequest(
            doSample: true, temperature: 0.9, topP: 0.95, repetitionPenalty: 1.1, seed: seed, ignoreEOS: true,
            maxNewTokens: maxNewTokens, topNTokens: topN
        ).validate()
    }

    func collect(_ stream: AsyncThrowingStream<GenerationEvent, Error>, stopAfter: Int? = nil) async throws -> Run {
        var run: Run = ([], nil, nil)
        for try await event in stream {
            switch event {
            case .prompt(let info): run.prompt = info
            case .token(let t): run.tokens.append(t.id)
            case .finished(let c): run.reason = c.reason
            }
            if let stopAfter, run.tokens.count >= stopAfter { break }  // dropping the stream cancels
        }
        return run
    }

    func collectAll(_ streams: [AsyncThrowingStream<GenerationEvent, Error>]) async throws -> [Run] {
        try await withThrowingTaskGroup(of: (Int, Run).self) { group in
            for (i, s) in streams.enumerated() { group.addTask { (i, try await self.collect(s)) } }
            var out = [Run](repeating: ([], nil, nil), count: streams.count)
            for try await (i, r) in group { out[i] = r }
            return out
        }
    }

    /// Metrics are published after each step, just after the step's streams end.
    func idle(_ engine: Engine) async throws -> EngineMetrics {
        for _ in 0..<300 {
            let m = engine.metrics
            if m.blocksInUse == 0 && m.running == 0 && m.waiting == 0 { return m }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        return engine.metrics
    }

    @Test func forkedChoicesMatchSeparateRequestsAndComputeThePromptOnce() async throws {
        guard let model = try EngineTests.loadModel() else { return }
        let blockSize = 8
        let engine = try Engine(
            model: model,
            config: EngineConfig(maxBatchSize: 8, maxBatchTokens: 64, blockSize: blockSize, prefixCaching: false))
        let prompt = model.tokenizer.encode(Self.story)
        let n = 12
        let requests = try (0..<3).map {
            GenerationRequest(promptTokens: prompt, parameters: try sampled(seed: 1234 + UInt64($0), n))
        }
        var separate: [[Int32]] = []
        for request in requests {
            let before = try await idle(engine).forwardTokensTotal
            separate.append(try await collect(engine.submit(request)).tokens)
            // Alone, a request computes its prompt and every generated token but the last.
            #expect(try await idle(engine).forwardTokensTotal - before == prompt.count + n - 1)
        }
        #expect(Set(separate).count == 3, "three seeds gave the same text: the check below would prove little")

        let before = try await idle(engine)
        let forked = try await collectAll(engine.submit(requests))
        let after = try await idle(engine)
        #expect(forked.map(\.tokens) == separate)
        #expect(forked.allSatisfy { $0.reason == .length && $0.prompt?.tokenCount == prompt.count })
        // The prompt once, then each fork's own tokens.
        #expect(after.forwardTokensTotal - before.forwardTokensTotal == prompt.count + 3 * (n - 1))
        #expect(after.forks - before.forks == 3)
        #expect(after.blockCopies - before.blockCopies == (prompt.count % blockSize == 0 ? 0 : 2))
        #expect(after.blocksInUse == 0)
        await engine.shutdown()
    }

    @Test func cancellingSomeForksLeavesTheOthersUnchangedAndNoBlocks() async throws {
        guard let model = try EngineTests.loadModel() else { return }
        let engine = try Engine(
            model: model, config: EngineConfig(maxBatchSize: 8, maxBatchTokens: 64, blockSize: 16, prefixCaching: false))
        let prompt = model.tokenizer.encode(Self.story + " dragon who")
        let requests = try (0..<3).map {
            GenerationRequest(promptTokens: prompt, parameters: try sampled(seed: 77 + UInt64($0), 40))
        }
        let alone = try await collect(engine.submit(requests[2])).tokens
        let streams = engine.submit(requests)
        let results = try await withThrowingTaskGroup(of: (Int, Run).self) { group in
            group.addTask { (0, try await self.collect(streams[0], stopAfter: 2)) }
            group.addTask { (1, try await self.collect(streams[1], stopAfter: 1)) }
            group.addTask { (2, try await self.collect(streams[2])) }
            var out = [Run](repeating: ([], nil, nil), count: 3)
            for try await (i, r) in group { out[i] = r }
            return out
        }
        #expect(results[2].tokens == alone && results[2].reason == .length)
        #expect(results[0].tokens.count == 2 && results[1].tokens.count == 1)
        // A whole group dropped before its prompt is computed.
        _ = engine.submit(requests)
        let metrics = try await idle(engine)
        #expect(metrics.blocksInUse == 0 && metrics.running == 0 && metrics.waiting == 0)
        await engine.shutdown()
    }

    struct Golden {
        var name: String
        var ids: [Int32]
        var logprobs: [Double?]
        var top: [[(id: Int32, logprob: Double)]?]
    }

    static func goldens() throws -> (tolerance: Double, prompts: [Golden]) {
        let url = URL(fileURLWithPath: packageRoot() + "/Tests/goldens/prompt_logprobs_smollm2.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let tolerance = (json["meta"] as! [String: Any])["tolerance_nats"] as! Double
        let prompts = (json["prompts"] as! [[String: Any]]).map { p in
            Golden(
                name: p["name"] as! String, ids: (p["ids"] as! [Int]).map(Int32.init),
                logprobs: (p["logprobs"] as! [Any]).map { $0 as? Double },
                top: (p["top"] as! [Any]).map { entry in
                    (entry as? [[Double]])?.map { (id: Int32($0[0]), logprob: $0[1]) }
                })
        }
        return (tolerance, prompts)
    }

    /// The largest difference from transformers over every prompt token and top alternative.
    func worstError(_ engine: Engine, _ golden: Golden, tolerance: Double) async throws -> Double {
        let request = GenerationRequest(
            promptTokens: golden.ids, parameters: try SamplingRequest(maxNewTokens: 1, topNTokens: 3).validate(),
            promptLogprobs: true)
        let run = try await collect(engine.submit(request))
        guard let scored = run.prompt?.logprobs else {
            Issue.record("\(golden.name): no prompt logprobs")
            return .infinity
        }
        #expect(scored.map(\.id) == Array(golden.ids.dropFirst()), "\(golden.name)")
        guard scored.count == golden.ids.count - 1 else { return .infinity }
        var worst = 0.0
        for (i, s) in scored.enumerated() {
            worst = max(worst, abs(Double(s.logprob) - golden.logprobs[i + 1]!))
            let expected = golden.top[i + 1]!
            #expect(s.topAlternatives.count == expected.count)
            for (got, want) in zip(s.topAlternatives, expected) {
                worst = max(worst, abs(Double(got.logprob) - want.logprob))
                // The same token, unless two candidates sit within the tolerance of each other.
                if got.id != want.id {
                    let tied = expected.contains { $0.id == got.id && abs($0.logprob - want.logprob) < tolerance }
                    #expect(tied, "\(golden.name) position \(i + 1): top token \(got.id), expected \(want.id)")
                }
            }
        }
        return worst
    }

    @Test func promptLogprobsMatchTransformersOnTheReferencePath() async throws {
        guard let model = try EngineTests.loadModel() else { return }
        let (tolerance, goldens) = try Self.goldens()
        // Chunks of 16 tokens: a 78-token prompt is scored across five steps.
        let engine = try Engine(
            model: model, config: EngineConfig(maxBatchSize: 4, maxBatchTokens: 16, precision: .reference))
        var worst = 0.0
        for golden in goldens {
            let error = try await worstError(engine, golden, tolerance: tolerance)
            #expect(error <= tolerance, "\(golden.name): max |Δlogprob| \(error) > \(tolerance)")
            worst = max(worst, error)
        }
        print("prompt logprobs, reference path vs transformers: max |Δ| = \(worst) nats")
        await engine.shutdown()
    }

    @Test func promptLogprobsIgnoreCachedBlocksAndReachEveryFork() async throws {
        guard let model = try EngineTests.loadModel() else { return }
        let (tolerance, goldens) = try Self.goldens()
        let golden = goldens.first { $0.name == "digits_whitespace" }!
        let params = try SamplingRequest(maxNewTokens: 2, topNTokens: 2).validate()
        let plain = GenerationRequest(promptTokens: golden.ids, parameters: params)
        let scored = GenerationRequest(promptTokens: golden.ids, parameters: params, promptLogprobs: true)

        let fresh = try Engine(model: model, config: EngineConfig(maxBatchTokens: 32, prefixCaching: false))
        let reference = try await collect(fresh.submit(scored)).prompt?.logprobs
        await fresh.shutdown()
        #expect(reference?.count == golden.ids.count - 1)

        // The prompt's full blocks are cached by the first request; the scored one must still compute them all.
        let engine = try Engine(model: model, config: EngineConfig(maxBatchTokens: 32, blockSize: 16))
        _ = try await collect(engine.submit(plain))
        let cachedRun = try await collect(engine.submit(scored))
        #expect(cachedRun.prompt?.logprobs == reference)
        #expect(try await collect(engine.submit(plain)).prompt?.logprobs == nil)
        // Fast path, batch-invariant: bit-identical however the prompt was chunked or shared.
        let forks = try await collectAll(engine.submit([scored, plain, scored]))
        #expect(forks[0].prompt?.logprobs == reference && forks[2].prompt?.logprobs == reference)
        #expect(forks[1].prompt?.logprobs == nil)
        #expect(try await idle(engine).blocksInUse == 0)
        await engine.shutdown()

        // The 8-bit fast path against transformers, for the record (not its bound: the reference path has that).
        var worst = 0.0
        for (i, s) in (reference ?? []).enumerated() {
            worst = max(worst, abs(Double(s.logprob) - golden.logprobs[i + 1]!))
        }
        print("prompt logprobs, fast path vs transformers (\(golden.name)): max |Δ| = \(worst) nats, bound \(tolerance)")
    }
}
