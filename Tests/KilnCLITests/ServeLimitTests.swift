import Foundation
import Testing

/// `kiln serve` limits that do not fit memory: the server refuses to start, naming the flag and the largest value
/// that fits, computed here from SmolLM2's config.json (30 layers, 3 KV heads of 64: 2·30·192·2 = 23,040 bytes of
/// the default half-precision KV cache per token, twice that in float32) and the engine's 16-token KV blocks.
extension BadInputTests {
    static let smolBytesPerToken = 2 * 30 * 3 * 64 * 2

    func serve(_ extra: [String], cache: String) throws -> Run {
        guard let real = realSmolLM2() else { throw CancellationError() }
        let port = 20_000 + Int(getpid() % 20_000)
        return try kiln(
            ["serve", "--model", real, "--hostname", "127.0.0.1", "--port", "\(port)"] + extra,
            environment: ["KILN_CACHE": cache])
    }

    @Test func serveMaxTotalTokensBeyondTheKVCache() throws {
        guard realSmolLM2() != nil else { return }
        let cache = scratchFile("serve-cache")
        defer { try? FileManager.default.removeItem(atPath: cache) }
        for (dtype, bytes) in [(nil, Self.smolBytesPerToken), ("f32", Self.smolBytesPerToken * 2)] {
            let run = try serve(
                ["--max-total-tokens", "4000", "--kv-cache-memory", "64MiB"] + (dtype.map { ["--kv-cache-dtype", $0] } ?? []),
                cache: cache)
            #expect(run.status != 0 && !run.crashed, "\(run.stderr)")
            let blocks = (64 << 20) / (bytes * 16)
            #expect(run.stderr.contains("--max-total-tokens (MAX_TOTAL_TOKENS) 4000 does not fit"), "\(run.stderr)")
            #expect(run.stderr.contains("the largest value that fits is \(blocks * 16)"), "\(dtype ?? "default"): \(run.stderr)")
        }
    }

    @Test func serveKVCacheBeyondMemory() throws {
        guard realSmolLM2() != nil else { return }
        let cache = scratchFile("serve-cache")
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let run = try serve(["--max-batch-total-tokens", "1000000000000"], cache: cache)
        #expect(run.status != 0 && !run.crashed, "\(run.stderr)")
        #expect(run.stderr.contains("--max-batch-total-tokens (MAX_BATCH_TOTAL_TOKENS) 1000000000000 needs"), "\(run.stderr)")
        // The largest value named must fit what /proc/meminfo reports available (read here, independently).
        let meminfo = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        let availableKiB = try #require(
            meminfo.split(separator: "\n").first { $0.hasPrefix("MemAvailable:") }.flatMap { Int($0.split(separator: " ")[1]) })
        let marker = "the largest value that fits is "
        let range = try #require(run.stderr.range(of: marker))
        let largest = try #require(Int(run.stderr[range.upperBound...].prefix { $0.isNumber }))
        #expect(largest * Self.smolBytesPerToken <= availableKiB * 1024 * 11 / 10, "\(largest) tokens")
        #expect(largest * Self.smolBytesPerToken >= availableKiB * 1024 / 2, "\(largest) tokens")
        let memoryRun = try serve(["--kv-cache-memory", "100000GiB"], cache: cache)
        #expect(memoryRun.status != 0 && !memoryRun.crashed)
        #expect(memoryRun.stderr.contains("--kv-cache-memory 102400000 MiB is more than"), "\(memoryRun.stderr)")
    }
}
