import Foundation
import Testing

/// Real MPI jobs: `mpirun -np 2` of the real `kiln` binary on the real models. Skipped, with a line saying why, when
/// this kiln was built without the MPI trait or mpirun is missing (a failure instead when KILN_REQUIRE_MPI is set,
/// as in CI).
@Suite(.serialized) struct ParallelTests {
    static let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }

    struct Job {
        let status: Int32
        let lines: [[String: Any]]
        let stderr: String
        let seconds: Double
    }

    /// `mpirun -np ranks kiln arguments…` (as root when need be), its JSON stdout lines; killed after `limit` s.
    func job(_ ranks: Int, _ arguments: [String], recovery: Bool = false, limit: Double = 600) throws -> Job? {
        let required = ProcessInfo.processInfo.environment["KILN_REQUIRE_MPI"] != nil
        guard let mpirun = Self.mpirun else {
            #expect(!required, "mpirun is missing (apt-get install openmpi-bin)")
            print("ParallelTests: skipped: no mpirun on this machine")
            return nil
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mpirun)
        process.arguments =
            ["--oversubscribe", "-np", "\(ranks)"] + (recovery ? ["--enable-recovery"] : []) + [BadInputTests.binary]
            + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        process.environment = environment
        // Files, not pipes: a full pipe would block the job while nobody reads it.
        let outPath = scratchFile("mpi-\(UUID().uuidString).out")
        let errPath = scratchFile("mpi-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let start = Date()
        try process.run()
        while process.isRunning && Date().timeIntervalSince(start) < limit { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            Issue.record("mpirun \(arguments) did not finish within \(limit) s")
        }
        process.waitUntilExit()
        let stdout = try Data(contentsOf: URL(fileURLWithPath: outPath))
        let stderr = try Data(contentsOf: URL(fileURLWithPath: errPath))
        let lines = String(decoding: stdout, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        if lines.contains(where: { $0["mpi"] as? Bool == false }) {
            #expect(!required, "this kiln was built without MPI (swift build --traits MPI)")
            print("ParallelTests: skipped: this kiln was built without the MPI trait")
            return nil
        }
        return Job(
            status: process.terminationStatus, lines: lines, stderr: String(decoding: stderr, as: UTF8.self),
            seconds: Date().timeIntervalSince(start))
    }

    /// All-reduce, broadcast and a ring of sends on 2 and 3 ranks, each rank checking against sums it computes itself.
    @Test(arguments: [2, 3]) func collectives(ranks: Int) throws {
        guard let run = try job(ranks, ["parallel-check"], limit: 120) else { return }
        #expect(run.status == 0, "\(run.stderr)")
        let reports = run.lines.filter { $0["results"] != nil }
        #expect(reports.count == ranks, "\(run.lines) \(run.stderr)")
        for report in reports {
            let results = report["results"] as? [String: Bool] ?? [:]
            #expect(results.count == 3 && results.values.allSatisfy { $0 }, "rank \(report["rank"] ?? "?"): \(results)")
        }
    }

    /// A peer that hangs or dies: rank 0's next collective fails with a clear error within the timeout instead of
    /// blocking forever, and the whole job ends.
    @Test(arguments: ["hang", "die"]) func lostPeer(fault: String) throws {
        guard let run = try job(2, ["parallel-check", "--fault", fault, "--rank-timeout", "2"], recovery: true, limit: 60)
        else { return }
        let report = try #require(run.lines.first { $0["fault"] != nil }, "\(run.lines) \(run.stderr)")
        let error = report["error"] as? String ?? ""
        let seconds = report["seconds"] as? Double ?? 99
        #expect(error.contains("rank 0: all-reduce") && error.contains("did not complete within 2.0 s"), "\(error)")
        #expect(seconds >= 1.9 && seconds < 6, "reported after \(seconds) s")
        #expect(run.seconds < 30, "the job took \(run.seconds) s to end")
    }

    struct Decoding: Sendable, CustomStringConvertible {
        let golden: String
        let model: String
        let options: [String]
        /// The largest single-process top-2 margin at which a token may differ (0: every token must be equal).
        let nearTie: Double
        /// The job's size (TP=2 × PP=2: 4).
        var ranks = 2
        var description: String { "\(golden) -np \(ranks) \(options.joined(separator: " "))" }
    }

    /// With float32 activations the only difference from one process is the order in which the all-reduce adds
    /// the ranks' partial sums, which moves logits by ~1e-6: every token must be equal (SmolLM2's digits prompt has
    /// a step with a 0.0001 margin). With 8-bit activations (the serving default) that tiny difference can move a
    /// value across a rounding boundary of the activation quantization, and such flips compound over 30 layers and
    /// the earlier positions' cached keys: a token may then differ where the single process's top-2 margin is below
    /// 0.25 (the flips seen are at 0.014-0.104). A wrong split differs at once, with large margins.
    static let decodings = [
        Decoding(
            golden: "smollm2", model: "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            options: ["--precision", "reference", "--max-prompt-tokens", "200"], nearTie: 0),
        // The fallback for slices that would cut quantization blocks: o_proj and down whole, inputs gathered.
        Decoding(
            golden: "smollm2", model: "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            options: ["--precision", "reference", "--max-prompt-tokens", "200", "--whole"], nearTie: 0),
        Decoding(golden: "smollm2", model: "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", options: [], nearTie: 0.25),
        Decoding(
            golden: "qwen2.5", model: "qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            options: ["--max-prompt-tokens", "200"], nearTie: 0.25),
        // Pipeline stages change no arithmetic (each layer runs whole on one rank, and the fast path is
        // batch-invariant, so micro-batches change nothing either): every token equal with 8-bit activations too.
        Decoding(
            golden: "smollm2", model: "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            options: ["--pipeline-parallel", "2", "--max-prompt-tokens", "200"], nearTie: 0),
        Decoding(
            golden: "smollm2", model: "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            options: ["--pipeline-parallel", "2", "--micro-batches", "5", "--precision", "reference"], nearTie: 0),
        Decoding(
            golden: "qwen2.5", model: "qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            options: ["--pipeline-parallel", "2", "--max-prompt-tokens", "200"], nearTie: 0),
        // TP=2 × PP=2: each stage split over two ranks; float32 activations, so only the all-reduce's order differs.
        Decoding(
            golden: "smollm2", model: "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            options: ["--pipeline-parallel", "2", "--precision", "reference", "--max-prompt-tokens", "200"],
            nearTie: 0, ranks: 4),
    ]

    /// Greedy decoding of the golden prompts (32 tokens) by TP=2 against the whole model in one process: SmolLM2
    /// splits its 3 KV heads 2 + 1 (uneven), Qwen2.5 its 2 KV heads 1 + 1. With --pipeline-parallel 2: two stages
    /// of 15 (SmolLM2) or 12 (Qwen2.5) layers, the prompt's rows cut into micro-batches.
    @Test(arguments: decodings) func greedyMatchesSingleProcess(_ d: Decoding) throws {
        let path = packageRoot() + "/models/" + d.model
        guard FileManager.default.fileExists(atPath: path) else {
            #expect(ProcessInfo.processInfo.environment["KILN_REQUIRE_MODELS"] == nil, "missing \(path)")
            return
        }
        guard
            let run = try job(
                d.ranks, [
                    "parallel-check", "--model", path, "--golden", packageRoot() + "/Tests/goldens/\(d.golden).json",
                    "--tokens", "32",
                ] + d.options)
        else { return }
        #expect(run.status == 0, "\(run.stderr)")
        let prompts = run.lines.filter { $0["prompt"] != nil }
        #expect(prompts.count >= 6, "\(run.lines) \(run.stderr)")
        for p in prompts {
            let single = p["single"] as? [Int] ?? []
            let tp = p["tp"] as? [Int] ?? []
            let margins = p["margins"] as? [Double] ?? []
            #expect(single.count == 32 && tp.count == 32)
            if let i = single.indices.first(where: { $0 >= tp.count || single[$0] != tp[$0] }) {
                print("\(d) \(p["prompt"]!): first difference at token \(i), single-process top-2 margin \(margins[i])")
                #expect(margins[i] < d.nearTie, "\(d) \(p["prompt"]!): token \(i) differs with margin \(margins[i])")
            }
        }
        if let summary = run.lines.first(where: { $0["summary"] != nil }) { print("\(d): \(summary)") }
    }

    /// `kiln build --pp 2` writes one file per rank, each holding only its stage's tensors; two ranks loading one file
    /// each decode the golden prompts to the GGUF model's tokens in one process (the build keeps the weights' formats,
    /// so the arithmetic is the same). A stage file served whole is refused with a clear message.
    @Test func pipelineShardFilesDecodeLikeTheWholeModel() throws {
        let cli = BadInputTests()
        guard let real = cli.realSmolLM2() else { return }
        let output = scratchFile("pp-\(UUID().uuidString).kiln")
        let files = (0..<2).map { output.replacingOccurrences(of: ".kiln", with: ".rank\($0)-of-2.kiln") }
        defer { for f in files + [output] { try? FileManager.default.removeItem(atPath: f) } }
        let build = try cli.kiln(["build", "-m", real, "-o", output, "--pp", "2"])
        #expect(build.status == 0, "\(build.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
        for (rank, file) in files.enumerated() {
            let inspect = try cli.kiln(["inspect", file])
            #expect(inspect.status == 0, "\(inspect.stderr)")
            // 30 layers: 0..<15 on stage 0 (with the embeddings, which are the tied head, and the final norm: rank
            // 0 computes the logits from the last stage's hidden states), 15..<30 on stage 1.
            let mine = rank == 0 ? "blk.14." : "blk.15."
            let other = rank == 0 ? "blk.15." : "blk.14."
            #expect(inspect.stdout.contains(mine) && !inspect.stdout.contains(other), "\(file): \(inspect.stdout)")
            #expect(inspect.stdout.contains("token_embd.weight") == (rank == 0))
            #expect(inspect.stdout.contains("output_norm.weight") == (rank == 0))
            #expect(inspect.stdout.contains("stage: \(rank) of 2, layers \(rank * 15)..<\(rank * 15 + 15)"), "\(inspect.stdout)")
        }
        let whole = try cli.kiln(["generate", "--model", files[1], "--prompt", "Hi", "--max-new-tokens", "2"])
        #expect(
            whole.status != 0 && whole.stderr.contains("rank 1 of a 2-rank build (pipeline stage 1 of 2, layers 15..<30)")
                && whole.stderr.contains("mpirun -np 2 kiln serve --pipeline-parallel 2"), "\(whole.stderr)")
        guard
            let run = try job(
                2, [
                    "parallel-check", "--model", real, "--golden", packageRoot() + "/Tests/goldens/smollm2.json",
                    "--tokens", "16", "--max-prompt-tokens", "120", "--pipeline-parallel", "2", "--rank-model",
                    files[0],
                ])
        else { return }
        #expect(run.status == 0, "\(run.stderr)")
        let prompts = run.lines.filter { $0["prompt"] != nil }
        #expect(prompts.count >= 5, "\(run.lines) \(run.stderr)")
        for p in prompts {
            let single = p["single"] as? [Int] ?? []
            #expect(single.count == 16 && single == (p["tp"] as? [Int] ?? []), "\(p["prompt"]!): \(p)")
        }
    }

    /// `kiln build --tp 2` and `--tp 2 --pp 2` write one file per rank holding only its slice (ShardFileTests check
    /// the bytes); the ranks of a real MPI job, each mapping only its own file, decode the golden prompts to the
    /// GGUF model's tokens in one process. Float32 activations: only the all-reduce's order differs from one
    /// process (see `decodings`), so every token must be equal.
    @Test(arguments: [(2, 1), (2, 2)]) func tensorParallelRankFilesDecodeLikeTheWholeModel(tp: Int, pp: Int) throws {
        let cli = BadInputTests()
        guard let real = cli.realSmolLM2() else { return }
        let ranks = tp * pp
        let output = scratchFile("tp-\(UUID().uuidString).kiln")
        let files = (0..<ranks).map { output.replacingOccurrences(of: ".kiln", with: ".rank\($0)-of-\(ranks).kiln") }
        defer { for f in files + [output] { try? FileManager.default.removeItem(atPath: f) } }
        let build = try cli.kiln(["build", "-m", real, "-o", output, "--tp", "\(tp)", "--pp", "\(pp)"])
        #expect(build.status == 0, "\(build.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
        for (rank, file) in files.enumerated() {
            let inspect = try cli.kiln(["inspect", file])
            #expect(inspect.status == 0, "\(inspect.stderr)")
            // SmolLM2's 3 KV heads split 2 + 1; its 1,536 FFN rows 768 + 768.
            let heads = rank % tp == 0 ? "kv heads 0..<2" : "kv heads 2..<3"
            #expect(inspect.stdout.contains("shard: \(rank % tp) of \(tp), \(heads)"), "\(file): \(inspect.stdout)")
            #expect(inspect.stdout.contains("blk.\(rank / tp * 15).attn_qkv.weight = blk.\(rank / tp * 15).attn_q.weight[\(rank % tp == 0 ? 384 : 192)]"), "\(inspect.stdout)")
        }
        // Served by a job of another shape: refused with what to do.
        let wrong = try cli.kiln(["generate", "--model", files[0], "--prompt", "Hi", "--max-new-tokens", "2"])
        #expect(wrong.status != 0 && wrong.stderr.contains("not a whole model"), "\(wrong.stderr)")
        guard
            let run = try job(
                ranks, [
                    "parallel-check", "--model", real, "--golden", packageRoot() + "/Tests/goldens/smollm2.json",
                    "--tokens", "16", "--max-prompt-tokens", "120", "--precision", "reference", "--pipeline-parallel",
                    "\(pp)", "--rank-model", files[0],
                ])
        else { return }
        #expect(run.status == 0, "\(run.stderr)")
        let prompts = run.lines.filter { $0["prompt"] != nil }
        #expect(prompts.count >= 5, "\(run.lines) \(run.stderr)")
        for p in prompts {
            let single = p["single"] as? [Int] ?? []
            #expect(single.count == 16 && single == (p["tp"] as? [Int] ?? []), "\(p["prompt"]!): \(p)")
        }
    }
}
