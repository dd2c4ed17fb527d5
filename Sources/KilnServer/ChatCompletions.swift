import Foundation
import Hummingbird
import KilnEngine
import KilnSampling
import KilnTemplates
import KilnTokenizers

/// `POST /v1/chat/completions`: the messages rendered with the checkpoint's chat template, one engine sequence per
/// choice, tool calls parsed from the output when the request offers tools.
extension Handlers {
    func chatCompletions(_ request: Request) async -> Response {
        let arrived = ContinuousClock.now
        let route = GenerationRoute.chatCompletions
        let trace = RequestTrace(route: route, headers: request.headers)
        var counted: ServerState.Ready?
        var request = request
        do throws(OpenAIError) {
            let (ready, body, raw) = try await openAIBody(&request, as: ChatCompletionRequest.self)
            counted = ready
            ready.metrics.requestReceived()
            let plan = try ChatPlan(body, raw: raw, ready: ready, config: state.config)
            let requests = plan.parameters.map {
                GenerationRequest(promptTokens: plan.prompt, parameters: $0, constraint: plan.constraint)
            }
            let chunker = ChatChunker(
                id: OpenAIReply.id("chatcmpl-"), created: Int(Date().timeIntervalSince1970), model: servedModel,
                fingerprint: systemFingerprint, choices: requests.count, includeUsage: plan.includeUsage,
                logprobs: plan.logprobs, parseTools: plan.parseTools, toolNames: plan.toolNames,
                tokenizer: ready.tokenizer)
            return await runOpenAI(
                ready: ready, route: route, body: request.body, requests: requests, promptTokens: plan.prompt.count,
                stream: body.sampling.stream == true, includeUsage: plan.includeUsage, chunker: chunker,
                arrived: arrived, trace: trace
            ) { choices in
                chunker.reply(choices, usage: OpenAIReply.usage(
                    prompt: plan.prompt.count, completion: choices.reduce(0) { $0 + $1.tokens.count }))
            }
        } catch {
            return openAIFailure(error, ready: counted, route: route, trace: trace, validation: seconds(since: arrived))
        }
    }
}

/// A chat request checked and rendered: the prompt's tokens and one parameter set per choice.
struct ChatPlan {
    var prompt: [Int32]
    var parameters: [SamplingParameters]
    var parseTools: Bool
    /// The offered tools' names: a bare JSON call must name one of them.
    var toolNames: Set<String>
    var logprobs: Bool
    var includeUsage: Bool
    /// `response_format` json_object / json_schema, compiled; nil for text.
    var constraint: CompiledConstraint?

    init(_ body: ChatCompletionRequest, raw: Value, ready: ServerState.Ready, config: ServerConfig) throws(OpenAIError)
    {
        let object = raw.objectValue ?? OrderedObject()
        constraint = try OpenAIGate.responseFormat(
            try ResponseFormat(object["response_format"]), compiler: ready.validator.constraints)
        guard !body.messages.isEmpty else { throw .invalid("`messages` cannot be empty", param: "messages") }
        guard let template = ready.chatTemplate else {
            throw .invalid("this model has no chat template; use /v1/completions", param: "messages")
        }
        let (tools, parseTools) = try Self.tools(object)
        let sampling = OpenAISampling(
            fields: body.sampling, maxTokens: body.maxCompletionTokens ?? body.maxTokens,
            maxTokensName: body.maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens",
            topLogprobs: body.topLogprobs ?? 0, topLogprobsName: "top_logprobs")
        if body.topLogprobs != nil && body.logprobs != true {
            throw .invalid("`top_logprobs` requires `logprobs` to be true", param: "top_logprobs")
        }
        try sampling.check(config: config)
        var messages: [Value] = []
        for (i, m) in body.messages.enumerated() { messages.append(try Self.message(m, index: i)) }
        let text: String
        do {
            text = try template.render(messages: .array(messages), addGenerationPrompt: true, tools: tools)
        } catch {
            throw .invalid("the chat template could not render these messages: \(error)", param: "messages")
        }
        // The template writes the special tokens itself (transformers' apply_chat_template does the same).
        prompt = ready.tokenizer.encode(text, addSpecialTokens: false)
        parameters = try sampling.parameters(promptTokens: prompt.count, validator: ready.validator, input: "messages")
        self.parseTools = parseTools
        toolNames = Set(
            (tools?.arrayValue ?? []).compactMap { $0.objectValue?["function"]?.objectValue?["name"]?.stringValue })
        logprobs = body.logprobs == true
        includeUsage = body.sampling.streamOptions?.includeUsage == true
    }

    /// `tools` for the template, and whether to look for calls in the output (`tool_choice` "none" turns both off;
    /// a named function offers only that one). Calls are not forced: "required" offers the tools like "auto".
    static func tools(_ object: OrderedObject) throws(OpenAIError) -> (Value?, Bool) {
        guard let value = object["tools"], !value.isNone else { return (nil, false) }
        guard case .array(let list) = value else { throw .invalid("`tools` must be a list", param: "tools") }
        var named: [String: Value] = [:]
        for tool in list {
            guard let name = tool.objectValue?["function"]?.objectValue?["name"]?.stringValue,
                (tool.objectValue?["type"]?.stringValue ?? "function") == "function"
            else {
                throw .invalid("each tool must be {\"type\": \"function\", \"function\": {\"name\": …}}", param: "tools")
            }
            named[name] = tool
        }
        if list.isEmpty { return (nil, false) }
        switch object["tool_choice"] ?? Value.none {
        case .none, .string("auto"), .string("required"): return (value, true)
        case .string("none"): return (nil, false)
        case .object(let choice):
            guard let name = choice["function"]?.objectValue?["name"]?.stringValue else {
                throw .invalid("`tool_choice` must name a function", param: "tool_choice")
            }
            guard let tool = named[name] else {
                throw .invalid("`tool_choice` names `\(name)`, which is not in `tools`", param: "tool_choice")
            }
            return (.array([tool]), true)
        default:
            throw .invalid("`tool_choice` must be none, auto, required or a named function", param: "tool_choice")
        }
    }

    /// One message as templates read it: string content, and tool calls with their arguments as objects
    /// (transformers' form, which Qwen2.5's template writes with `tojson`).
    static func message(_ m: ChatMessage, index: Int) throws(OpenAIError) -> Value {
        let param = "messages[\(index)]"
        let role = m.role == "developer" ? "system" : m.role
        guard ["system", "user", "assistant", "tool"].contains(role) else {
            throw .invalid("`role` must be system, developer, user, assistant or tool. Given: \(m.role)", param: param)
        }
        var object = OrderedObject()
        object["role"] = .string(role)
        switch m.content {
        case nil: object["content"] = Value.none
        case .text(let s)?: object["content"] = .string(s)
        case .parts(let parts)?:
            var texts: [String] = []
            for part in parts {
                guard part.type == "text", let text = part.text else {
                    throw .unsupported("content parts of type `\(part.type)` are not supported: Kiln reads text only", param: param)
                }
                texts.append(text)
            }
            object["content"] = .string(texts.joined(separator: "\n"))
        }
        if role != "assistant" && m.content == nil {
            throw .invalid("`content` is required for \(role) messages", param: param)
        }
        if let name = m.name { object["name"] = .string(name) }
        if let calls = m.toolCalls, !calls.isEmpty {
            object["tool_calls"] = .array(
                calls.map { call -> Value in
                    let arguments = (try? Value(json: Data(call.function.arguments.utf8))) ?? .string(call.function.arguments)
                    return [
                        "id": .orNull(call.id), "type": "function",
                        "function": ["name": .string(call.function.name), "arguments": arguments],
                    ]
                })
        }
        if let id = m.toolCallID { object["tool_call_id"] = .string(id) }
        return .object(object)
    }
}

/// OpenAI's `logprobs` entries for chat.
struct LogprobEntries: Sendable {
    let tokenizer: Tokenizer

    func text(_ id: Int32) -> String { tokenizer.decode([id]) }

    func entry(_ t: GeneratedToken) -> Value {
        let s = text(t.id)
        return [
            "token": .string(s), "logprob": .double(Self.finite(t.logprob)), "bytes": Self.bytes(s),
            "top_logprobs": .array(
                t.topAlternatives.map { alt -> Value in
                    let a = text(alt.id)
                    return ["token": .string(a), "logprob": .double(Self.finite(alt.logprob)), "bytes": Self.bytes(a)]
                }),
        ]
    }

    static func bytes(_ s: String) -> Value { .array(s.utf8.map { .int(Int($0)) }) }

    /// OpenAI never sends -inf; vLLM's stand-in for it is -9999.
    static func finite(_ x: Float) -> Double { x.isFinite ? Double(x) : -9999 }
}

struct ChatChunker: OpenAIChunker {
    let id: String
    let created: Int
    let model: String
    let fingerprint: String
    let includeUsage: Bool
    let logprobs: Bool
    let parseTools: Bool
    let toolNames: Set<String>
    let entries: LogprobEntries
    private var parsers: [ToolCallParser]
    private var pending: [[Value]]
    private var calls: [Int]

    init(
        id: String, created: Int, model: String, fingerprint: String, choices: Int, includeUsage: Bool,
        logprobs: Bool, parseTools: Bool, toolNames: Set<String>, tokenizer: Tokenizer
    ) {
        self.id = id
        self.created = created
        self.model = model
        self.fingerprint = fingerprint
        self.includeUsage = includeUsage
        self.logprobs = logprobs
        self.parseTools = parseTools
        self.toolNames = toolNames
        entries = LogprobEntries(tokenizer: tokenizer)
        parsers = Array(repeating: ToolCallParser(bareNames: toolNames), count: choices)
        pending = Array(repeating: [], count: choices)
        calls = Array(repeating: 0, count: choices)
    }

    private func chunk(_ choices: [Value], usage: Value? = nil) -> Value {
        OpenAIReply.chunk(
            object: "chat.completion.chunk", id: id, created: created, model: model, fingerprint: fingerprint, choices: choices,
            usage: includeUsage ? .some(usage ?? Value.none) : Optional<Value>.none)
    }

    private mutating func choice(_ index: Int, delta: Value, finish: String? = nil) -> Value {
        var lp: Value = nil
        if logprobs && !pending[index].isEmpty {
            lp = ["content": .array(pending[index]), "refusal": nil]
            pending[index] = []
        }
        return [
            "index": .int(index), "delta": delta, "logprobs": lp, "finish_reason": .orNull(finish),
        ]
    }

    private mutating func chunks(_ pieces: [ToolCallParser.Piece], choice index: Int) -> [Value] {
        var out: [Value] = []
        for piece in pieces {
            switch piece {
            case .text(let s):
                out.append(chunk([choice(index, delta: ["content": .string(s)])]))
            case .call(let name, let arguments):
                let k = calls[index]
                calls[index] += 1
                let head: Value = [
                    "index": .int(k), "id": .string(OpenAIReply.id("call_")), "type": "function",
                    "function": ["name": .string(name), "arguments": ""],
                ]
                out.append(chunk([choice(index, delta: ["tool_calls": [head]])]))
                let body: Value = ["index": .int(k), "function": ["arguments": .string(arguments)]]
                out.append(chunk([choice(index, delta: ["tool_calls": [body]])]))
            }
        }
        return out
    }

    mutating func start() -> [Value] {
        (0..<parsers.count).map { i in chunk([choice(i, delta: ["role": "assistant", "content": ""])]) }
    }

    mutating func token(_ token: GeneratedToken, choice index: Int) -> [Value] {
        if logprobs { pending[index].append(entries.entry(token)) }
        if parseTools { return chunks(parsers[index].feed(token.text), choice: index) }
        return token.text.isEmpty ? [] : chunks([.text(token.text)], choice: index)
    }

    mutating func finish(_ completion: Completion, choice index: Int) -> [Value] {
        var pieces: [ToolCallParser.Piece] = []
        if parseTools {
            pieces = parsers[index].feed(completion.trailingText) + parsers[index].finish()
        } else if !completion.trailingText.isEmpty {
            pieces = [.text(completion.trailingText)]
        }
        var out = chunks(pieces, choice: index)
        let reason = Self.finishReason(completion.reason, calls: calls[index])
        out.append(chunk([choice(index, delta: [:], finish: reason)]))
        return out
    }

    static func finishReason(_ reason: FinishReason?, calls: Int) -> String {
        calls > 0 && reason != .length ? "tool_calls" : OpenAIReply.finishReason(reason)
    }

    func usage(_ usage: Value) -> Value { chunk([], usage: usage) }

    /// The non-streamed reply: the same parser over the whole text.
    func reply(_ choices: [Collected], usage: Value) -> Value {
        let list: [Value] = choices.enumerated().map { index, c -> Value in
            var content = c.text
            var toolCalls: [Value] = []
            if parseTools {
                var parser = ToolCallParser(bareNames: toolNames)
                content = ""
                for piece in parser.feed(c.text) + parser.finish() {
                    switch piece {
                    case .text(let s): content += s
                    case .call(let name, let arguments):
                        toolCalls.append([
                            "id": .string(OpenAIReply.id("call_")), "type": "function",
                            "function": ["name": .string(name), "arguments": .string(arguments)],
                        ])
                    }
                }
            }
            let text: Value = content.isEmpty && !toolCalls.isEmpty ? Value.none : Value.string(content)
            let base: Value = ["role": "assistant", "content": text, "refusal": nil]
            var message = base.objectValue!
            if !toolCalls.isEmpty { message["tool_calls"] = .array(toolCalls) }
            var lp: Value = nil
            if logprobs { lp = ["content": .array(c.tokens.map(entries.entry)), "refusal": nil] }
            return [
                "index": .int(index), "message": .object(message), "logprobs": lp,
                "finish_reason": .string(Self.finishReason(c.completion?.reason, calls: toolCalls.count)),
            ]
        }
        return [
            "id": .string(id), "object": "chat.completion", "created": .int(created), "model": .string(model),
            "system_fingerprint": .string(fingerprint), "choices": .array(list), "usage": usage,
        ]
    }
}
