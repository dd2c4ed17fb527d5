import ArgumentParser
import Foundation
import KilnFormats
import KilnModels
import KilnParallel

/// `mpirun -np N kiln parallel-check`: checks a real MPI job from the inside, one JSON line per result on rank 0's
/// stdout (the tests read them).
/// - Without --model: the collectives against values every rank computes itself (all-reduce, broadcast, a ring of
///   sends), and with --fault the timeout: rank 1 stops answering (`hang`) or dies (`die`) and rank 0 must report
///   the lost peer within --rank-timeout.
/// - With --model and --golden: greedy decoding of every golden prompt by the whole model on rank 0 alone and by the
///   tensor-parallel shards of all ranks (with --pipeline-parallel N: the pipeline stages), with the single-process
///   top-2 margins, tokens/s of both and the bytes rank 0 exchanged per generated token.
struct ParallelCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parallel-check", abstract: "Check collectives and tensor-parallel decoding under mpirun.",
        shouldDisplay: false)

    @Option(help: "A GGUF file or Hugging Face directory.")
    var model: String?

    @Option(help: "A golden file (Tests/goldens/<model>.json) whose prompts' ids are decoded.")
    var golden: String?

    @Option(help: "Tokens to generate per prompt.")
    var tokens: Int = 32

    @Option(help: "Compute threads of each rank's shard.")
    var threads: Int = 1

    @Option(help: "Compute threads of the single-process run on rank 0.")
    var singleThreads: Int = 1

    @Option(help: "Seconds a collective may wait.")
    var rankTimeout: Double = 30

    @Option(help: "Activation precision: fast (8-bit activations) or reference (float32).")
    var precision: String = "fast"

    @Flag(help: "Keep o_proj and down whole on every rank (the gather fallback for slices that would cut blocks).")
    var whole = false

    @Option(
        help: """
            Split the layers into this many pipeline stages instead of tensor parallelism over all ranks; a job of \
            N × this many ranks splits each stage over N ranks (TP×PP).
            """)
    var pipelineParallel: Int = 1

    @Option(help: "Micro-batches per pipeline step (default: one per stage).")
    var microBatches: Int?

    @Option(
        help: """
            The ranks' files of a `kiln build --tp N --pp M` or the stages' files of a `kiln build --pp M` \
            (OUT.rank0-of-R.kiln; each rank loads its own) instead of parts cut from --model, which stays the \
            single-process reference.
            """)
    var rankModel: String?

    @Option(help: "Only the golden prompts of at most this many tokens.")
    var maxPromptTokens: Int?

    @Option(help: "hang or die: rank 1 stops answering after the checks.")
    var fault: String?

    func run() throws {
        guard Communicator.isAvailable else {
            print(#"{"mpi": false}"#)
            return
        }
        let world = try reportingErrors { try Communicator.world(timeout: rankTimeout) }
        if let model {
            try decode(world: world, path: model)
        } else {
            try collectives(world: world)
        }
    }

    func emit(_ object: [String: Any]) {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    func collectives(world: Communicator) throws {
        let (rank, size) = (world.rank, world.size)
        var results: [String: Bool] = [:]
        // All-reduce: every rank knows every other rank's contribution, so it can sum them itself.
        let n = 1000
        var x = (0..<n).map { i in Float(rank + 1) * Float(i % 7) + 0.25 }
        try x.withUnsafeMutableBufferPointer { try world.allReduceSum($0.baseAddress!, count: n) }
        var expected = [Float](repeating: 0, count: n)
        for i in 0..<n {
            for r in 0..<size { expected[i] += Float(r + 1) * Float(i % 7) + 0.25 }
        }
        results["allreduce"] = x == expected
        // Broadcast of a variable-length message.
        var words: [Int64] = rank == 0 ? (0..<37).map { Int64($0 * $0 - 5) } : [1]
        try world.broadcast(words: &words)
        results["broadcast"] = words == (0..<37).map { Int64($0 * $0 - 5) }
        // A ring: send to the next rank, receive from the previous (sends and receives of neighbours alternate so
        // neither waits on the other).
        if size > 1 {
            let next = (rank + 1) % size
            let previous = (rank + size - 1) % size
            var outgoing = (0..<64).map { Int32(rank * 1000 + $0) }
            var incoming = [Int32](repeating: -1, count: 64)
            func send() throws { try outgoing.withUnsafeMutableBytes { try world.send(UnsafeRawBufferPointer($0), to: next) } }
            func receive() throws { try incoming.withUnsafeMutableBytes { try world.receive($0, from: previous) } }
            if rank % 2 == 0 { try send(); try receive() } else { try receive(); try send() }
            results["ring"] = incoming == (0..<64).map { Int32(previous * 1000 + $0) }
            outgoing.removeAll()
        }
        try world.barrier()
        emit(["rank": rank, "size": size, "results": results])
        guard let fault, size > 1 else {
            world.finalize()
            return
        }
        if rank == 1 {
            if fault == "die" { kill(getpid(), SIGKILL) }
            Thread.sleep(forTimeInterval: rankTimeout * 3)
            return
        }
        if rank > 1 { return }
        let start = Date()
        var one: Float = 1
        var error = ""
        do { try world.allReduceSum(&one, count: 1) } catch let e { error = "\(e)" }
        emit(["rank": 0, "fault": fault, "error": error, "seconds": Date().timeIntervalSince(start)])
        Foundation.exit(0)
    }

    struct Run {
        var tokens: [Int32] = []
        var margins: [Float] = []
        var seconds = 0.0
        /// Bytes rank 0 exchanged while decoding (the prompt's step excluded).
        var decodeBytes = 0
        /// Seconds of the prompt's step.
        var prefillSeconds = 0.0
    }

    /// Greedy decoding of `ids` for `count` tokens (argmax, lowest id on ties), with each step's top-2 margin and
    /// the decode time (first token excluded: that step is the prompt's).
    static func greedy(_ t: Transformer, _ ids: [Int32], count: Int, bytes: () -> Int = { 0 }) throws -> Run {
        let cache = t.makeCache(capacity: ids.count + count)
        let prefillStart = Date()
        var logits = try t.forward(ids, cache: cache)
        var run = Run()
        run.prefillSeconds = Date().timeIntervalSince(prefillStart)
        var start = Date()
        var firstBytes = 0
        for i in 0..<count {
            var best = 0
            var second = -1
            for v in 1..<logits.count {
                if logits[v] > logits[best] {
                    second = best
                    best = v
                } else if second < 0 || logits[v] > logits[second] {
                    second = v
                }
            }
            if second < 0 { second = best == 0 ? 1 : 0 }
            run.tokens.append(Int32(best))
            run.margins.append(logits[best] - logits[second])
            if i == 0 {
                start = Date()
                firstBytes = bytes()
            }
            if i + 1 < count { logits = try t.forward([Int32(best)], cache: cache) }
        }
        run.seconds = Date().timeIntervalSince(start)
        run.decodeBytes = bytes() - firstBytes
        return run
    }

    func decode(world: Communicator, path: String) throws {
        struct Golden: Decodable {
            struct Prompt: Decodable {
                let name: String
                let ids: [Int32]
            }
            let prompts: [Prompt]
        }
        let full = try reportingErrors { try ModelLoader.transformer(ModelLoader.open(path), threads: singleThreads) }
        let transport = MPITransport(world)
        full.precision = Precision(rawValue: precision) ?? .fast
        // TP×PP: the group of this rank's stage, whose all-reduces count in the bytes exchanged too.
        var stageGroup: Communicator?
        let shard = try reportingErrors {
            if pipelineParallel > 1 {
                guard world.size % pipelineParallel == 0 else {
                    throw ValidationError("--pipeline-parallel \(pipelineParallel) needs a multiple of \(pipelineParallel) ranks")
                }
                let shards = world.size / pipelineParallel
                if shards > 1 { stageGroup = try world.split(color: world.rank / shards) }
                let tensor = stageGroup.map(MPITransport.init)
                if let rankModel {
                    let stage = try LoadedModel.loadStage(
                        LoadedModel.rankFile(rankModel, rank: world.rank, shards: shards, stages: pipelineParallel),
                        transport: transport, threads: threads, microBatches: microBatches, tensorParallel: tensor
                    ).transformer
                    stage.precision = full.precision
                    return stage
                }
                return try full.pipelineStage(
                    transport: transport, threads: threads, microBatches: microBatches, tensorParallel: tensor)
            }
            if let rankModel {
                let shard = try LoadedModel.loadShard(
                    LoadedModel.rankFile(rankModel, rank: world.rank, shards: world.size, stages: 1), transport: transport,
                    threads: threads, keepWhole: whole
                ).transformer
                shard.precision = full.precision
                return shard
            }
            return try full.tensorParallelShard(transport: transport, threads: threads, keepWhole: whole)
        }
        guard world.rank == 0 else {
            try world.barrier(timeout: ParallelGroup.loadTimeout)
            try shard.serveShard()
            world.finalize()
            return
        }
        emit([
            "rank": 0, "size": world.size,
            "layout": [shard.stageLayout.map { "\($0)" }, shard.shardLayout.map { "\($0)" }].compactMap { $0 }
                .joined(separator: "; "),
        ])
        guard let golden else { throw ValidationError("--golden is required with --model") }
        let prompts = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: golden))).prompts
            .filter { $0.ids.count <= maxPromptTokens ?? .max }
        // The whole model alone first (the workers wait at the barrier), then the shards together.
        var single: [Run] = []
        for p in prompts { single.append(try Self.greedy(full, p.ids, count: tokens)) }
        try world.barrier(timeout: ParallelGroup.loadTimeout)
        // Rank 0's exchanges: the job's collectives and messages plus its stage's all-reduces.
        func traffic() -> Communicator.Traffic {
            var t = world.traffic
            if let s = stageGroup?.traffic {
                t.allReduceBytes += s.allReduceBytes
                t.allReduces += s.allReduces
                t.seconds += s.seconds
            }
            return t
        }
        let before = traffic()
        var generated = 0
        var decodeSeconds = 0.0
        for (p, one) in zip(prompts, single) {
            let tp = try Self.greedy(shard, p.ids, count: tokens) { traffic().total }
            generated += tokens
            decodeSeconds += tp.seconds
            emit([
                "prompt": p.name, "single": one.tokens.map(Int.init), "tp": tp.tokens.map(Int.init),
                "margins": one.margins.map(Double.init), "single_seconds": one.seconds, "tp_seconds": tp.seconds,
                "prompt_tokens": p.ids.count, "decode_bytes": tp.decodeBytes,
                "single_prefill_seconds": one.prefillSeconds, "tp_prefill_seconds": tp.prefillSeconds,
            ])
        }
        let after = traffic()
        let singleSeconds = single.reduce(0) { $0 + $1.seconds }
        emit([
            "summary": true, "prompts": prompts.count, "decode_tokens": prompts.count * (tokens - 1),
            "single_seconds": singleSeconds, "allreduce_bytes": after.allReduceBytes - before.allReduceBytes,
            "allreduces": after.allReduces - before.allReduces, "mpi_seconds": after.seconds - before.seconds,
            "tp_seconds": decodeSeconds,
            "broadcast_bytes": after.broadcastBytes - before.broadcastBytes, "generated": generated,
        ])
        shard.stopShards()
        world.finalize()
    }
}
