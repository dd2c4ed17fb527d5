import Foundation
import HTTPTypes

#if OTel
import Tracing

/// The spans of one generation request, as TGI traces its router: a root span named after the route, continuing
/// the caller's trace when the request has a W3C `traceparent` header, with one child per phase: validation,
/// queue (submission until the engine first schedules the sequence), prefill (until the first token) and decode
/// (until the last). The engine runs on its own thread and knows nothing of tracing; the phases come from the
/// times its events carry and are recorded afterwards with explicit start and end times.
struct RequestTrace: Sendable {
    private let root: any Span
    /// Wall-clock time of the request's arrival, nanoseconds since the Unix epoch.
    private let arrival: UInt64

    struct Instant: TracerInstant {
        let nanosecondsSinceEpoch: UInt64
        static func < (a: Self, b: Self) -> Bool { a.nanosecondsSinceEpoch < b.nanosecondsSinceEpoch }
    }

    struct HeaderExtractor: Extractor {
        func extract(key: String, from carrier: HTTPFields) -> String? {
            HTTPField.Name(key).flatMap { carrier[$0] }
        }
    }

    init(route: GenerationRoute, headers: HTTPFields) {
        arrival = DefaultTracerClock.now.nanosecondsSinceEpoch
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(headers, into: &context, using: HeaderExtractor())
        root = startSpan(route.spanName, context: context, ofKind: .server, at: Instant(nanosecondsSinceEpoch: arrival))
        root.attributes["http.request.method"] = "POST"
        root.attributes["http.route"] = route.rawValue
    }

    private func at(_ seconds: Double) -> Instant {
        Instant(nanosecondsSinceEpoch: arrival &+ UInt64(max(0, seconds) * 1e9))
    }

    private func child(_ name: String, from start: Double, to end: Double) {
        let span = startSpan(name, context: root.context, ofKind: .internal, at: at(start))
        span.end(at: at(max(start, end)))
    }

    /// Records the phases of a request; times are seconds after its arrival. Phases the request did not reach
    /// are left out.
    func phases(
        validation: Double, queue: Double? = nil, firstToken: Double? = nil, inference: Double? = nil,
        promptTokens: Int? = nil, generatedTokens: Int? = nil
    ) {
        child("validation", from: 0, to: validation)
        if let queue {
            child("queue", from: validation, to: validation + queue)
            if let firstToken {
                child("prefill", from: validation + queue, to: firstToken)
                if let inference { child("decode", from: firstToken, to: validation + queue + inference) }
            }
        }
        if let promptTokens { root.attributes["kiln.prompt_tokens"] = promptTokens }
        if let generatedTokens { root.attributes["kiln.generated_tokens"] = generatedTokens }
    }

    /// Ends the root span now, marked as failed when `error` is set.
    func end(error: ServerError? = nil) {
        if let error {
            root.attributes["error.type"] = error.errorType
            root.setStatus(SpanStatus(code: .error, message: error.body.error))
        }
        root.end()
    }
}

extension GenerationRoute {
    var spanName: String {
        switch self {
        case .generate: return "generate"
        case .generateStream: return "generate_stream"
        case .compat: return "compat_generate"
        case .chatCompletions: return "chat_completions"
        case .completions: return "completions"
        }
    }
}
#else
/// Without the `OTel` trait, requests are not traced and this does nothing.
struct RequestTrace: Sendable {
    @inline(__always) init(route: GenerationRoute, headers: HTTPFields) {}
    @inline(__always) func phases(
        validation: Double, queue: Double? = nil, firstToken: Double? = nil, inference: Double? = nil,
        promptTokens: Int? = nil, generatedTokens: Int? = nil
    ) {}
    @inline(__always) func end(error: ServerError? = nil) {}
}
#endif
