import Foundation
import KilnTemplates

/// OpenAI's request bodies for /v1/chat/completions and /v1/completions, snake_case on the wire.
///
/// Requests decode leniently (unknown fields are ignored, as most OpenAI-compatible servers do); `OpenAI.swift`
/// checks the values. Replies are built as ordered JSON values (`KilnTemplates.Value`) and written by `OpenAIJSON`,
/// so that every null OpenAI's clients expect (`"finish_reason": null`, `"logprobs": null`, …) is written
/// explicitly and keys keep OpenAI's order.

/// `stop`: a string, a list of strings, or null.
struct StopField: Decodable, Sendable {
    var values: [String]

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            values = []
        } else if let one = try? c.decode(String.self) {
            values = [one]
        } else {
            values = try c.decode([String].self)
        }
    }
}

struct StreamOptions: Decodable, Sendable {
    var includeUsage: Bool?
    enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
}

/// The sampling fields both routes share.
struct OpenAISamplingFields: Decodable, Sendable {
    var temperature: Double?
    var topP: Double?
    var n: Int?
    var stop: StopField?
    var seed: Int64?
    var presencePenalty: Double?
    var frequencyPenalty: Double?
    var logitBias: [String: Double]?
    var stream: Bool?
    var streamOptions: StreamOptions?

    enum CodingKeys: String, CodingKey {
        case temperature, topP = "top_p", n, stop, seed, presencePenalty = "presence_penalty"
        case frequencyPenalty = "frequency_penalty", logitBias = "logit_bias", stream, streamOptions = "stream_options"
    }
}

/// A message's `content`: a string, a list of parts, or null (an assistant message that only calls tools).
enum MessageContent: Decodable, Sendable {
    case text(String)
    case parts([ContentPart])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let text = try? c.decode(String.self) {
            self = .text(text)
        } else {
            self = .parts(try c.decode([ContentPart].self))
        }
    }
}

struct ContentPart: Decodable, Sendable {
    var type: String
    var text: String?
}

struct ToolCallWire: Decodable, Sendable {
    struct Function: Decodable, Sendable {
        var name: String
        var arguments: String
    }
    var id: String?
    var type: String?
    var function: Function
}

struct ChatMessage: Decodable, Sendable {
    var role: String
    var content: MessageContent?
    var name: String?
    var toolCalls: [ToolCallWire]?
    var toolCallID: String?

    enum CodingKeys: String, CodingKey {
        case role, content, name, toolCalls = "tool_calls", toolCallID = "tool_call_id"
    }
}

/// `POST /v1/chat/completions`. `tools`, `tool_choice` and `response_format` are read from the body's JSON value
/// instead (see `ChatCompletionBody`), so that schemas keep their key order.
struct ChatCompletionRequest: Decodable, Sendable {
    var model: String?
    var messages: [ChatMessage]
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var logprobs: Bool?
    var topLogprobs: Int?
    var sampling: OpenAISamplingFields

    enum CodingKeys: String, CodingKey {
        case model, messages, maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens", logprobs
        case topLogprobs = "top_logprobs"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        messages = try c.decode([ChatMessage].self, forKey: .messages)
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
        maxCompletionTokens = try c.decodeIfPresent(Int.self, forKey: .maxCompletionTokens)
        logprobs = try c.decodeIfPresent(Bool.self, forKey: .logprobs)
        topLogprobs = try c.decodeIfPresent(Int.self, forKey: .topLogprobs)
        sampling = try OpenAISamplingFields(from: decoder)
    }
}

/// `prompt`: a string, a list of strings, a list of token ids, or a list of such lists.
enum PromptField: Decodable, Sendable {
    case text(String)
    case tokens([Int32])

    static func list(from decoder: any Decoder) throws -> [PromptField] {
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(String.self) { return [.text(one)] }
        if let many = try? c.decode([String].self) { return many.map { .text($0) } }
        if let ids = try? c.decode([Int32].self) { return [.tokens(ids)] }
        return try c.decode([[Int32]].self).map { .tokens($0) }
    }
}

/// `POST /v1/completions`.
struct CompletionRequest: Decodable, Sendable {
    var model: String?
    var prompts: [PromptField]
    var maxTokens: Int?
    var echo: Bool
    var logprobs: Int?
    var suffix: String?
    var bestOf: Int?
    var sampling: OpenAISamplingFields

    enum CodingKeys: String, CodingKey {
        case model, prompt, maxTokens = "max_tokens", echo, logprobs, suffix, bestOf = "best_of"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        prompts = try PromptField.list(from: c.superDecoder(forKey: .prompt))
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
        echo = try c.decodeIfPresent(Bool.self, forKey: .echo) ?? false
        logprobs = try c.decodeIfPresent(Int.self, forKey: .logprobs)
        suffix = try c.decodeIfPresent(String.self, forKey: .suffix)
        bestOf = try c.decodeIfPresent(Int.self, forKey: .bestOf)
        sampling = try OpenAISamplingFields(from: decoder)
    }
}

/// `response_format`, typed; `OpenAIGate.responseFormat` compiles the JSON forms into a constraint.
enum ResponseFormat: Sendable, Equatable {
    case text
    case jsonObject
    case jsonSchema(name: String, schema: Value?, strict: Bool?)

    /// nil and `{"type": "text"}` are plain text.
    init(_ value: Value?) throws(OpenAIError) {
        guard let value, !value.isNone else {
            self = .text
            return
        }
        guard case .object(let object) = value, let type = object["type"]?.stringValue else {
            throw .invalid("`response_format` must be an object with a `type`", param: "response_format")
        }
        switch type {
        case "text": self = .text
        case "json_object": self = .jsonObject
        case "json_schema":
            guard case .object(let spec)? = object["json_schema"], let name = spec["name"]?.stringValue else {
                throw .invalid(
                    "`response_format.json_schema` must be an object with a `name`", param: "response_format")
            }
            var strict: Bool? = nil
            if case .bool(let b)? = spec["strict"] { strict = b }
            self = .jsonSchema(name: name, schema: spec["schema"], strict: strict)
        default:
            throw .invalid(
                "`response_format.type` must be text, json_object or json_schema. Given: \(type)",
                param: "response_format")
        }
    }
}

extension Value {
    /// A string, or null.
    static func orNull(_ s: String?) -> Value { s.map { Value.string($0) } ?? Value.none }
}

/// Compact JSON text of a value, keys in their order, every null written.
enum OpenAIJSON {
    static func text(_ value: Value) -> String {
        var out = ""
        write(value, into: &out)
        return out
    }

    static func data(_ value: Value) -> Data { Data(text(value).utf8) }

    static func write(_ value: Value, into out: inout String) {
        switch value {
        case .undefined, .none, .namespace, .callable: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if !d.isFinite {
                out += "null"
            } else if d == d.rounded(), abs(d) < 1e15 {
                out += String(Int64(d)) + ".0"
            } else {
                out += "\(d)"
            }
        case .string(let s): appendJSONString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                write(item, into: &out)
            }
            out += "]"
        case .object(let object):
            out += "{"
            for (i, pair) in object.pairs.enumerated() {
                if i > 0 { out += "," }
                appendJSONString(pair.key, to: &out)
                out += ":"
                write(pair.value, into: &out)
            }
            out += "}"
        }
    }
}
