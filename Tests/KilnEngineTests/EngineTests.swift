import Foundation
import KilnEngine
import KilnModels
import KilnSampling
import Testing

/// The engine on the real SmolLM2 checkpoint: outputs do not depend on what shares the batch, seeds reproduce,
/// and cancellations never leak KV blocks or memory.
@Suite(.serialized) struct EngineTests {
    static let modelPath = packageRoot() + "/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

    static func loadModel() throws -> LoadedModel? {
        guard FileManager.default.fileExists(atPath: modelPath) else {
            #expect(ProcessInfo.processInfo.environment["KILN_REQUIRE_MODELS"] == nil, "missing \(modelPath)")
            return nil
        }
        return try LoadedModel.load(modelPath, threads: 2)
    }

    static let prompts = [
        "The capital of France is",
        "<|im_start|>user\nWrite a haiku about autumn.<|im_end|>\n<|im_start|>assistant\n",
        "def fibonacci(n):",
        "Once upon a time, in a land far away, there lived a",
        "1, 2, 3, 4,",
        "The quick brown fox",
        "<|im_start|>user\nWhat is 12 times 7?<|im_end|>\n<|im_start|>assistant\n",
        "Water boils at",
        "import numpy as np\n",
        "Les montagnes de la",
        "In 1969, the first humans",
        "A list of fruits: apple, banana,",
        "Dear Sir or Madam,",
        "The mitochondria is",
        "SELECT name FROM users WHERE",
        "Photosynthesis converts",
    ]

    func greedy(_ n: Int) throws -> SamplingParameters {
        try SamplingRequest(maxNewTokens: n).validate()
    }

    func run(_ engine: Engine, _ request: GenerationRequest) async throws -> (tokens: [Int32], text: String, reason: FinishReason?) {
        var tokens: [Int32] = []
        var text = ""
        var reason: FinishReason?
        for try await event in engine.submit(request) {
            switch event {
            case .prompt: break
            case .token(let t):
                tokens.append(t.id)
                text += t.text
            case .finished(let c):
                reason = c.reason
                text += c.trailingText
            }
        }
        return (tokens, text, reason)
    }

    @Test func concurrentGreedyRequestsMatchTheirSoloRuns() async throws {
        guard let model = try Self.loadModel() else { return }
        let engine = try Engine(model: model, config: EngineConfig(maxBatchSize: 16, maxBatchTokens: 96, blockSize: 16))
        let requests = try Self.prompts.enumerated().map { i, prompt in
            GenerationRequest(
                promptTokens: model.tokenizer.encode(prompt), parameters: try greedy(8 + (i * 5) % 24))
        }
        var solo: [[Int32]] = []
        for r in requests { solo.append(try await run(engine, r).tokens) }
        let together = try await withThrowingTaskGroup(of: (Int, [Int32]).self) { group in
            for (i, r) in requests.enumerated() { group.addTask { (i, try await self.run(engine, r).tokens) } }
            var out = [[Int32]](repeating: [], count: requests.count)
            for try await (i, tokens) in group { out[i] = tokens }
            return out
        }
        for i in requests.indices {
            #expect(together[i] == solo[i], "request \(i) differs under load")
        }
        try await waitUntilIdle(engine)
        #expect(engine.metrics.blocksInUse == 0)
        await engine.shutdown()
    }

    /// The engine runs the fast path by default, and what it serves under load is exactly what the model computes
    /// for each sequence alone through its one-block cache (`kiln generate`'s path: the prompt in one chunk, then
    /// one token at a time): concurrent requests, chunked prefills (a 40-token step budget splits the prompts) and
    /// paged blocks of 16 change no token. Also with prompts capped at 8 tokens in steps beside decodes
    /// (`maxPrefillTokensWithDecodes`), which cuts them into more, smaller chunks while others decode.
    @Test(arguments: [nil, 8] as [Int?])
    func concurrentFastPathMatchesTheSingleSequenceForward(prefillBesideDecodes: Int?) async throws {
        guard let model = try Self.loadModel() else { return }
        #expect(EngineConfig().precision == .fast)
        let transformer = model.transformer
        transformer.precision = .fast
        let prompts = Self.prompts.prefix(8).map { model.tokenizer.encode($0) }
        let lengths = prompts.indices.map { 6 + (3 * $0) % 11 }
        var direct: [[Int32]] = []
        for (prompt, n) in zip(prompts, lengths) {
            let cache = transformer.makeCache(capacity: prompt.count + n)
            var logits = try transformer.forward(prompt, cache: cache)
            var out: [Int32] = []
            while true {
                let next = logits.withUnsafeBufferPointer { Sampler.argmax($0) }
                out.append(next)
                if out.count == n || model.stopTokenIDs.contains(next) { break }
                logits = try transformer.forward([next], cache: cache)
            }
            direct.append(out)
        }
        let engine = try Engine(
            model: model,
            config: EngineConfig(
                maxBatchSize: 8, maxBatchTokens: 40, blockSize: 16, maxPrefillTokensWithDecodes: prefillBesideDecodes))
        #expect(engine.schedulerConfig.maxPrefillTokensWithDecodes == prefillBesideDecodes)
        let requests = try zip(prompts, lengths).map { GenerationRequest(promptTokens: $0, parameters: try greedy($1)) }
        let together = try await withThrowingTaskGroup(of: (Int, [Int32]).self) { group in
            for (i, r) in requests.enumerated() { group.addTask { (i, try await self.run(engine, r).tokens) } }
            var out = [[Int32]](repeating: [], count: requests.count)
            for try await (i, tokens) in group { out[i] = tokens }
            return out
        }
        for i in requests.indices {
            #expect(together[i] == direct[i], "request \(i): engine \(together[i]) vs forward \(direct[i])")
        }
        await engine.shutdown()
    }

    /// The engine publishes its metrics after each step, just after the step's streams end.
    func waitUntilIdle(_ engine: Engine) async throws {
        for _ in 0..<200 where engine.metrics.blocksInUse > 0 || engine.metrics.running > 0 {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
    }

    @Test func seededSamplingIsReproducibleUnderLoad() async throws {
        guard let model = try Self.loadModel() else { return }
        let engine = try Engine(model: model, config: EngineConfig(maxBatchSize: 8, maxBatchTokens: 64))
        let prompt = model.tokenizer.encode("Once upon a time")
        let sampled = try SamplingRequest(doSample: true, temperature: 0.9, topP: 0.95, seed: 1234, maxNewTokens: 24)
            .validate()
        let request = GenerationRequest(promptTokens: prompt, parameters: sampled)
        let alone = try await run(engine, request)
        let loaded = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0..<6 {
                let other = GenerationRequest(
                    promptTokens: model.tokenizer.encode(Self.prompts[i]), parameters: try greedy(20))
                group.addTask { (i + 1, try await self.run(engine, other).text) }
            }
            group.addTask { (0, try await self.run(engine, request).text) }
            var mine = ""
            for try await (i, text) in group where i == 0 { mine = text }
            return mine
        }
        #expect(loaded == alone.text)
        let otherSeed = try SamplingRequest(doSample: true, temperature: 0.9, topP: 0.95, seed: 99, maxNewTokens: 24)
            .validate()
        let different = try await run(engine, GenerationRequest(promptTokens: prompt, parameters: otherSeed))
        #expect(different.tokens != alone.tokens)
        await engine.shutdown()
    }

    @Test func randomCancellationsLeaveNoBlocksAndNoMemoryGrowth() async throws {
        guard let model = try Self.loadModel() else { return }
        let engine = try Engine(
            model: model, config: EngineConfig(maxBatchSize: 16, maxBatchTokens: 128, blockSize: 16, kvCacheBytes: 64 << 20))
        var seeded = SplitMix64(seed: 42)
        func wave(_ count: Int) async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<count {
                    let prompt = model.tokenizer.encode(Self.prompts[i % Self.prompts.count] + String(repeating: " more", count: Int.random(in: 0..<40, using: &seeded)))
                    let request = GenerationRequest(promptTokens: prompt, parameters: try greedy(Int.random(in: 1...12, using: &seeded)))
                    let cancelAfter = Int.random(in: 0..<4, using: &seeded)  // 0: read to the end
                    group.addTask {
                        var seen = 0
                        for try await event in engine.submit(request) {
                            if case .token = event { seen += 1 }
                            if cancelAfter > 0 && seen >= cancelAfter { break }  // dropping the stream cancels
                        }
                    }
                    if i % 16 == 15 { try await group.waitForAll() }
                }
                try await group.waitForAll()
            }
        }
        try await wave(100)  // warm-up: buffers, caches and the allocator reach their steady size
        let before = residentBytes()
        try await wave(1000)
        // Cancellations are processed at the start of the next step; give the loop a moment to drain.
        try await waitUntilIdle(engine)
        let after = residentBytes()
        let metrics = engine.metrics
        #expect(metrics.blocksInUse == 0)
        #expect(metrics.running == 0 && metrics.waiting == 0)
        #expect(after - before < 16 << 20, "resident memory grew by \(after - before) bytes over 1,000 requests")
        await engine.shutdown()
    }

    /// An engine released with requests still running, and never shut down: its thread lets it go, and every
    /// stream ends with an error instead of waiting forever or crashing on a freed engine.
    @Test func releasingAnEngineWithoutShutdownEndsItsRequests() async throws {
        guard let model = try Self.loadModel() else { return }
        var engine: Engine? = try Engine(model: model, config: EngineConfig(kvCacheBytes: 32 << 20))
        weak let released = engine
        let long = GenerationRequest(
            promptTokens: model.tokenizer.encode("Once upon a time"),
            parameters: try SamplingRequest(ignoreEOS: true, maxNewTokens: 2000).validate())
        let streams = (0..<3).map { _ in engine!.submit(long) }
        engine = nil
        for stream in streams {
            var tokens = 0
            await #expect(throws: EngineError.self) {
                for try await event in stream { if case .token = event { tokens += 1 } }
            }
            #expect(tokens < 2000)
        }
        #expect(released == nil, "the engine outlived its last reference")
    }

    @Test func impossibleRequestsFailClearly() async throws {
        guard let model = try Self.loadModel() else { return }
        let engine = try Engine(model: model, config: EngineConfig(kvCacheBytes: 8 << 20))
        let tooLong = GenerationRequest(promptTokens: Array(repeating: 42, count: 9000), parameters: try greedy(10))
        await #expect(throws: EngineError.self) { _ = try await run(engine, tooLong) }
        let empty = GenerationRequest(promptTokens: [], parameters: try greedy(4))
        await #expect(throws: EngineError.self) { _ = try await run(engine, empty) }
        await engine.shutdown()
    }
}

func residentBytes() -> Int {
    guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = statm.split(separator: " ")
    return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * 4096
}

func packageRoot(_ file: String = #filePath) -> String {
    var url = URL(fileURLWithPath: file).deletingLastPathComponent()
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        url.deleteLastPathComponent()
    }
    return FileManager.default.currentDirectoryPath
}
