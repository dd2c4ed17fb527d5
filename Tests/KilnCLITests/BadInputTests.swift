import Foundation
import Testing

/// Runs the real `kiln` binary on broken inputs: each must exit non-zero with one clear line naming the file and
/// the problem, never crash (a signal) or hang.
@Suite struct BadInputTests {
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
        let crashed: Bool
    }

    static var binary: String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // The test bundle sits beside the products (…/release/KilnPackageTests.xctest).
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("kiln").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return packageRoot() + "/.build/release/kiln"
    }

    func kiln(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            Issue.record("kiln \(arguments) did not finish within 60 s")
        }
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus,
            stdout: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            stderr: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            crashed: process.terminationReason == .uncaughtSignal)
    }

    func expectClearError(_ arguments: [String], mentions needles: [String]) throws {
        let run = try kiln(arguments)
        #expect(!run.crashed, "kiln crashed: \(run.stderr)")
        #expect(run.status != 0)
        #expect(run.stdout.isEmpty, "nothing may reach stdout on failure: \(run.stdout)")
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 1, "one error line expected, got: \(run.stderr)")
        for needle in needles {
            #expect(run.stderr.contains(needle), "stderr lacks '\(needle)': \(run.stderr)")
        }
    }

    func generate(_ model: String) -> [String] { ["generate", "--model", model, "--prompt", "Hi", "-n", "2"] }

    @Test func missingPath() throws {
        try expectClearError(generate("/nonexistent/model.gguf"), mentions: ["/nonexistent/model.gguf", "no such file"])
    }

    @Test func truncatedGGUF() throws {
        guard let real = realSmolLM2() else { return }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: real))
        let path = scratchFile("truncated.gguf")
        for cut in [3, 100, 5_000, 2_000_000, bytes.count - 1_000] {
            try bytes.prefix(cut).write(to: URL(fileURLWithPath: path))
            try expectClearError(generate(path), mentions: [path, "truncated"])
        }
    }

    @Test func wrongMagic() throws {
        let path = scratchFile("magic.gguf")
        try Data("GGML and then some bytes that are not a model at all".utf8).write(to: URL(fileURLWithPath: path))
        try expectClearError(generate(path), mentions: [path, "not a GGUF file", "bad magic"])
    }

    @Test func unknownTensorType() throws {
        guard let real = realSmolLM2() else { return }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: real))
        // Find the first tensor info ("token_embd.weight" is the first tensor in this file) and corrupt its type.
        let name = Data("output_norm.weight".utf8)
        let at = try #require(bytes.range(of: name, options: [], in: 0..<4_000_000))
        let dimsCount = Int(bytes[at.upperBound])  // u32 little-endian
        let typeOffset = at.upperBound + 4 + 8 * dimsCount
        bytes.replaceSubrange(typeOffset..<typeOffset + 4, with: [77, 0, 0, 0])
        let path = scratchFile("type.gguf")
        try bytes.write(to: URL(fileURLWithPath: path))
        try expectClearError(generate(path), mentions: [path, "output_norm.weight", "unknown or unsupported tensor type 77"])
    }

    @Test func safetensorsOffsetsThatLie() throws {
        let dir = scratchFile("lying-hf")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(#"{"model_type": "llama"}"#.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        let header = #"{"model.embed_tokens.weight": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 99999]}}"#
        var file = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Data($0) }
        file.append(Data(header.utf8))
        file.append(Data(count: 64))
        try file.write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        try expectClearError(
            generate(dir), mentions: [dir + "/model.safetensors", "model.embed_tokens.weight", "lie outside"])
    }

    @Test func unsupportedArchitecture() throws {
        let dir = scratchFile("bert-hf")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(#"{"model_type": "bert", "hidden_size": 8}"#.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        try Data([8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8)).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        try expectClearError(generate(dir), mentions: [dir, "unsupported model_type 'bert'"])

        var gguf = Data("GGUF".utf8)
        gguf.append(contentsOf: [3, 0, 0, 0] + [0, 0, 0, 0, 0, 0, 0, 0] + [1, 0, 0, 0, 0, 0, 0, 0])
        let key = "general.architecture"
        let value = "mamba"
        gguf.append(contentsOf: withUnsafeBytes(of: UInt64(key.utf8.count).littleEndian) { Array($0) } + Array(key.utf8))
        gguf.append(contentsOf: [8, 0, 0, 0])
        gguf.append(contentsOf: withUnsafeBytes(of: UInt64(value.utf8.count).littleEndian) { Array($0) } + Array(value.utf8))
        let path = scratchFile("mamba.gguf")
        try gguf.write(to: URL(fileURLWithPath: path))
        try expectClearError(generate(path), mentions: [path, "unsupported architecture 'mamba'"])
    }

    @Test func impossibleOptions() throws {
        let run = try kiln(["generate", "--model", "x.gguf", "--prompt", "Hi", "--temperature", "-1"])
        #expect(run.status != 0 && !run.crashed)
        #expect(run.stderr.contains("temperature"))
    }

    @Test func generatesFromTheRealModel() throws {
        guard let real = realSmolLM2() else { return }
        let run = try kiln(["generate", "--model", real, "--prompt", "The capital of France is", "-n", "8"])
        #expect(run.status == 0, "\(run.stderr)")
        // Greedy output of SmolLM2-135M-Instruct for this prompt, as transformers computes it (Tests/goldens).
        #expect(run.stdout.hasPrefix(" Paris"), "\(run.stdout)")
        #expect(run.stderr.contains("tokens/s"))
    }

    func realSmolLM2() -> String? {
        let path = packageRoot() + "/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
        if FileManager.default.fileExists(atPath: path) { return path }
        #expect(ProcessInfo.processInfo.environment["KILN_REQUIRE_MODELS"] == nil, "missing \(path)")
        return nil
    }
}

func scratchFile(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-cli-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

func packageRoot(_ file: String = #filePath) -> String {
    var url = URL(fileURLWithPath: file).deletingLastPathComponent()
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        url.deleteLastPathComponent()
    }
    return FileManager.default.currentDirectoryPath
}
