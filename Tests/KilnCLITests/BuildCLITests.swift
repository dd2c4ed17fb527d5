import Foundation
import Testing

/// `kiln build` and `kiln inspect` as a user runs them: limits recorded in the plan, --verify passing on a fresh
/// engine and failing (exit 1, naming the damaged tensor) on a flipped byte, unsupported options refused.
extension BadInputTests {
    @Test func buildInspectVerify() throws {
        guard let real = realSmolLM2() else { return }
        let output = scratchFile("cli.kiln")
        defer { try? FileManager.default.removeItem(atPath: output) }
        let build = try kiln([
            "build", "-m", real, "-o", output, "--max-input-tokens", "100", "--max-batch-size", "4", "--kv-cache-dtype", "f32",
        ])
        #expect(build.status == 0, "\(build.stderr)")
        #expect(build.stderr.contains("built \(output)") && build.stderr.contains("fused"), "\(build.stderr)")
        let inspect = try kiln(["inspect", output, "--verify"])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.contains("max-batch-size=4 max-input-tokens=100"), "\(inspect.stdout)")
        #expect(inspect.stdout.contains("blk.0.attn_qkv.weight = blk.0.attn_q.weight[576] + blk.0.attn_k.weight[192]"))
        #expect(inspect.stdout.contains("verify: OK"))
        #expect(inspect.stdout.contains("kv-cache-dtype=f32"), "\(inspect.stdout)")

        // The recorded KV format is serve's default (not the fast path's f16): 64 MiB holds as many tokens as 4 bytes
        // per element allow.
        let port = 20_000 + Int(getpid() % 20_000)
        let served = try kiln(
            ["serve", "--model", output, "--hostname", "127.0.0.1", "--port", "\(port)", "--max-total-tokens", "4000",
             "--kv-cache-memory", "64MiB"])
        let blocks = (64 << 20) / (2 * Self.smolBytesPerToken * 16)  // smolBytesPerToken counts 16-bit elements
        #expect(served.status != 0 && served.stderr.contains("the largest value that fits is \(blocks * 16)"), "\(served.stderr)")

        // The engine carries its source's chat template: the same prompt renders from either.
        let messages = scratchFile("messages.json")
        defer { try? FileManager.default.removeItem(atPath: messages) }
        try Data(#"[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]"#.utf8)
            .write(to: URL(fileURLWithPath: messages))
        let fromSource = try kiln(["chat-template", "--model", real, "--messages", messages, "--add-generation-prompt"])
        let fromEngine = try kiln(["chat-template", "--model", output, "--messages", messages, "--add-generation-prompt"])
        #expect(fromSource.status == 0 && fromEngine.status == 0, "\(fromEngine.stderr)")
        #expect(fromSource.stdout.contains("<|im_start|>user\nHi<|im_end|>"), "\(fromSource.stdout)")
        #expect(fromEngine.stdout == fromSource.stdout)

        // Flip one byte in the middle of the file (tensor data) and verify again.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: output))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size / 2)
        let byte = try #require(try handle.read(upToCount: 1)).first!
        try handle.seek(toOffset: size / 2)
        try handle.write(contentsOf: Data([byte ^ 0x10]))
        try handle.close()
        let damaged = try kiln(["inspect", output, "--verify"])
        #expect(damaged.status == 1 && !damaged.crashed)
        #expect(damaged.stderr.contains("checksum mismatches: the file is corrupt"), "\(damaged.stderr)")
        #expect(damaged.stderr.contains("verify: tensor '"), "\(damaged.stderr)")
    }

    @Test func buildRefusesWhatItCannotDo() throws {
        let output = scratchFile("never.kiln")
        for (arguments, needle) in [
            (["--weights", "q3_x"], "--weights must be one of"),
            (["--weights", "int4", "--group-size", "256"], "--group-size 256 is not supported: use 32, 64 or 128"),
            (["--weights", "q4_0", "--group-size", "64"], "applies to --weights int8 and int4 only"),
            (["--kv-cache-dtype", "fp8"], "--kv-cache-dtype fp8 is not supported"),
            (["--weights", "q8_0", "--calibration", "README.md"], "--calibration applies to --weights q4_0 and int4 only"),
            (["--weights", "q4_0", "--calibration", "/nonexistent/text.txt"], "cannot read the file"),
            (["--tp", "0"], "--tp must be ≥ 1"),
            // SmolLM2 has 3 KV heads; the heads of a KV group stay on one rank.
            (["--tp", "4"], "--tp 4: tensor parallel: 4 ranks need at least 4 KV heads; this model has 3"),
            (["--pp", "0"], "--pp must be ≥ 1"),
        ] {
            let run = try kiln(["build", "-m", realSmolLM2() ?? "x.gguf", "-o", output] + arguments)
            #expect(run.status != 0 && !run.crashed)
            #expect(run.stderr.contains(needle), "\(arguments): \(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: output))
        }
    }
}
