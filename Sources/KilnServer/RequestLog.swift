import Foundation
import Logging

/// One log line per finished request, with its timings as metadata (TGI logs the same fields as span attributes).
enum RequestLog {
    static func finished(_ logger: Logger, route: GenerationRoute, timings t: RequestTimings, reason: String?) {
        logger.info(
            "request finished",
            metadata: [
                "route": "\(route.rawValue)", "finish_reason": "\(reason ?? "")",
                "total_time_ms": "\(ms(t.total))", "validation_time_ms": "\(ms(t.validation))",
                "queue_time_ms": "\(ms(t.queue))", "inference_time_ms": "\(ms(t.inference))",
                "time_per_token_ms": "\(ms(t.timePerToken))",
                "time_to_first_token_ms": "\(t.timeToFirstToken.map(ms) ?? -1)",
                "prompt_tokens": "\(t.promptTokens)", "generated_tokens": "\(t.generatedTokens)",
            ])
    }

    static func failed(_ logger: Logger, route: GenerationRoute, error: ServerError) {
        logger.warning(
            "request failed",
            metadata: ["route": "\(route.rawValue)", "error_type": "\(error.errorType)", "error": "\(error.description)"])
    }

    static func dropped(_ logger: Logger, route: GenerationRoute, generated: Int) {
        logger.info("client disconnected", metadata: ["route": "\(route.rawValue)", "generated_tokens": "\(generated)"])
    }

    private static func ms(_ seconds: Double) -> Double { (seconds * 10_000).rounded() / 10 }
}

/// `--json-output`: one JSON object per line on standard error, with the metadata as `fields`.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private static let lock = NSLock()

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (k, v) in metadata { fields[k] = "\(v)" }
        for (k, v) in event.metadata ?? [:] { fields[k] = "\(v)" }
        let line: [String: AnyEncodable] = [
            "timestamp": AnyEncodable(ISO8601DateFormatter().string(from: Date())),
            "level": AnyEncodable(event.level.rawValue.uppercased()),
            "message": AnyEncodable(event.message.description), "target": AnyEncodable(label),
            "fields": AnyEncodable(fields),
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var data = try? encoder.encode(line) else { return }
        data.append(0x0A)
        Self.lock.lock()
        FileHandle.standardError.write(data)
        Self.lock.unlock()
    }
}

struct AnyEncodable: Encodable {
    let encodeValue: (any Encoder) throws -> Void
    init(_ value: some Encodable) { encodeValue = value.encode(to:) }
    func encode(to encoder: any Encoder) throws { try encodeValue(encoder) }
}
