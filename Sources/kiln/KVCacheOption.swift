import ArgumentParser
import KilnKernels

/// `--kv-cache-dtype` on generate, serve, bench and build: f32, f16, bf16, or auto (the engine file's choice if it
/// made one, else half precision for the fast path and float32 for the reference path).
enum KVCacheOption {
    static let help = "KV cache format: f32, f16, bf16 or auto (default: the engine file's, else f16; f32 with --precision reference)."

    /// nil for auto (or no flag).
    static func parse(_ text: String?) throws -> KVCacheDType? {
        guard let text, text != "auto" else { return nil }
        guard let dtype = KVCacheDType(rawValue: text) else {
            throw ValidationError("--kv-cache-dtype \(text) is not supported: use f32, f16, bf16 or auto")
        }
        return dtype
    }
}
