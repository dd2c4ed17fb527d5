import HTTPTypes

/// Every way a request can fail, mapped once to an HTTP status (`status`) and once to TGI's error body
/// (`{"error": …, "error_type": …}`), which /generate answers with and /generate_stream sends as its last SSE event.
/// Messages and types follow TGI's router (`InferError`, `ValidationError`).
public enum ServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request's content is invalid (422 `validation`).
    case validation(String)
    /// The body is not JSON of the expected shape (400 for bad syntax, 422 for a wrong shape; both `validation`).
    case malformedJSON(String, syntax: Bool)
    /// The forward pass or sampling failed (424 `generation`).
    case generation(String)
    /// More requests in flight than --max-concurrent-requests (429 `overloaded`).
    case overloaded
    /// The body is larger than --payload-limit (413 `payload_too_large`).
    case payloadTooLarge(limit: Int)
    /// The model is still loading, the engine failed, or the server is shutting down (503 `unavailable`).
    case unavailable(String)
    /// The engine's stream ended without a finish (500 `incomplete_generation`).
    case incompleteGeneration
    /// --api-key is set and the request's bearer token differs (401, empty body as TGI).
    case unauthorized

    public var status: HTTPResponse.Status {
        switch self {
        case .validation: .unprocessableContent
        case .malformedJSON(_, let syntax): syntax ? .badRequest : .unprocessableContent
        case .generation: HTTPResponse.Status(code: 424, reasonPhrase: "Failed Dependency")
        case .overloaded: .tooManyRequests
        case .payloadTooLarge: .contentTooLarge
        case .unavailable: .serviceUnavailable
        case .incompleteGeneration: .internalServerError
        case .unauthorized: .unauthorized
        }
    }

    public var errorType: String {
        switch self {
        case .validation, .malformedJSON: "validation"
        case .generation: "generation"
        case .overloaded: "overloaded"
        case .payloadTooLarge: "payload_too_large"
        case .unavailable: "unavailable"
        case .incompleteGeneration: "incomplete_generation"
        case .unauthorized: "unauthorized"
        }
    }

    /// The `err` label of `tgi_request_failure`.
    public var metricLabel: String {
        switch self {
        case .validation, .malformedJSON, .payloadTooLarge: "validation"
        case .generation: "generation"
        case .overloaded: "overloaded"
        case .unavailable: "unavailable"
        case .incompleteGeneration: "incomplete"
        case .unauthorized: "unauthorized"
        }
    }

    public var description: String {
        switch self {
        case .validation(let m): "Input validation error: \(m)"
        case .malformedJSON(let m, _): "Failed to deserialize the JSON body into the target type: \(m)"
        case .generation(let m): "Request failed during generation: \(m)"
        case .overloaded: "Model is overloaded"
        case .payloadTooLarge(let limit): "Payload too large: the body must be at most \(limit) bytes"
        case .unavailable(let m): m
        case .incompleteGeneration: "Incomplete generation"
        case .unauthorized: "Unauthorized"
        }
    }

    var body: ErrorResponse { ErrorResponse(error: description, errorType: errorType) }
}

/// TGI's error body.
struct ErrorResponse: Codable, Sendable, Equatable {
    var error: String
    var errorType: String

    enum CodingKeys: String, CodingKey {
        case error
        case errorType = "error_type"
    }
}
