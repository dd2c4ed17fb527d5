import Foundation

/// Serving limits that override an engine's defaults (flags or environment variables) checked against what the
/// machine and the model allow, before the server starts: each failure names the flag and the largest value that
/// fits.
public enum LimitChecks {
    /// Bytes of memory the kernel says a new allocation can get without swapping (MemAvailable), or nil.
    public static func availableMemory() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let kib = Int(fields[1]) else { return nil }
            return kib * 1024
        }
        return nil
    }

    /// The KV cache's size against available memory: `kvTokens` when --max-batch-total-tokens set it, else
    /// `kvCacheBytes` from --kv-cache-memory. The model's weights are memory-mapped and already counted in what is
    /// no longer available, so the cache alone must fit in `available`.
    public static func checkKVCache(
        kvCacheBytes: Int, kvTokens: Int?, bytesPerToken: Int, available: Int?
    ) throws(ServerError) {
        guard let available, kvCacheBytes > available else { return }
        let mib = { (b: Int) in "\(b >> 20) MiB" }
        if let kvTokens {
            throw .validation(
                "--max-batch-total-tokens (MAX_BATCH_TOTAL_TOKENS) \(kvTokens) needs a \(mib(kvCacheBytes)) KV cache "
                    + "(\(bytesPerToken) bytes per token) but only \(mib(available)) of memory is available: the largest "
                    + "value that fits is \(available / bytesPerToken)")
        }
        throw .validation(
            "--kv-cache-memory \(mib(kvCacheBytes)) is more than the \(mib(available)) of memory available: the largest "
                + "value that fits is \(mib(available)) (\(available / bytesPerToken) tokens)")
    }

    /// --max-total-tokens against the KV cache (a request longer than the cache could never finish) and the
    /// model's context.
    public static func checkTotalTokens(_ total: Int, contextLength: Int, tokenCapacity: Int) throws(ServerError) {
        let fits = min(contextLength, tokenCapacity)
        guard total > fits else { return }
        let why =
            total > tokenCapacity
            ? "the KV cache holds \(tokenCapacity) tokens (raise --kv-cache-memory or --max-batch-total-tokens for more)"
            : "the model's context is \(contextLength) tokens"
        throw .validation(
            "--max-total-tokens (MAX_TOTAL_TOKENS) \(total) does not fit: \(why); the largest value that fits is \(fits)")
    }
}
