/// A parsed Jinja2 template. Parsing happens once; each render is independent, so one `Template` can serve
/// many threads.
public struct Template: Sendable {
    let nodes: [Node]

    /// Parses `source`; throws `TemplateError` (kind `.syntax`, with the line) when it is not valid.
    public init(source: String) throws {
        nodes = try Parser.parse(source)
    }

    /// Renders with the given variables; throws `TemplateError` naming the line that failed.
    public func render(_ variables: [String: Value]) throws -> String {
        try Interpreter(variables: variables).render(nodes)
    }
}

/// A model's chat template, rendered the way transformers' `apply_chat_template` renders it: Jinja2 with
/// trim_blocks and lstrip_blocks, `messages`, `tools`, `documents`, `add_generation_prompt`, the special tokens,
/// and any extra variables.
public struct ChatTemplate: Sendable {
    public let source: String
    public let bosToken: String
    public let eosToken: String
    private let template: Template

    public init(source: String, bosToken: String = "", eosToken: String = "") throws {
        self.source = source
        self.bosToken = bosToken
        self.eosToken = eosToken
        template = try Template(source: source)
    }

    /// - Parameters:
    ///   - messages: a list of message objects (`role`, `content`, and whatever else the template reads).
    ///   - tools: JSON schemas of the tools, or nil (the template then sees `tools` as none, as transformers passes it).
    ///   - extra: further variables (`date_string`, `enable_thinking`, …); they cannot replace the ones above.
    public func render(
        messages: Value, addGenerationPrompt: Bool = false, tools: Value? = nil, documents: Value? = nil,
        extra: [String: Value] = [:]
    ) throws -> String {
        guard case .array(let list) = messages else {
            throw TemplateError(.invalidInput, line: nil, "messages must be a list, got \(messages.typeName)")
        }
        var variables = extra
        variables["bos_token"] = variables["bos_token"] ?? .string(bosToken)
        variables["eos_token"] = variables["eos_token"] ?? .string(eosToken)
        variables["messages"] = .array(try list.enumerated().map { try ChatTemplate.prepare($1, index: $0) })
        variables["tools"] = tools ?? Value.none
        variables["documents"] = documents ?? Value.none
        variables["add_generation_prompt"] = .bool(addGenerationPrompt)
        return try template.render(variables)
    }

    public func render(
        messages: [[String: Value]], addGenerationPrompt: Bool = false, tools: [Value]? = nil,
        extra: [String: Value] = [:]
    ) throws -> String {
        let values = messages.map { message in
            Value.object(OrderedObject(message.keys.sorted().map { ($0, message[$0]!) }))
        }
        return try render(
            messages: .array(values), addGenerationPrompt: addGenerationPrompt, tools: tools.map { .array($0) },
            extra: extra)
    }

    /// transformers copies a message's reasoning (`reasoning_content`, `thinking` or `reasoning`) to both
    /// `thinking` and `reasoning_content`, so templates reading either name find it.
    private static func prepare(_ message: Value, index: Int) throws -> Value {
        guard case .object(let object) = message else {
            throw TemplateError(.invalidInput, line: nil, "message \(index) must be an object, got \(message.typeName)")
        }
        let fields = ["reasoning_content", "thinking", "reasoning"]
        guard let reasoning = fields.lazy.compactMap({ object[$0] }).first(where: { !$0.isNone }) else { return message }
        var aliased = OrderedObject()
        aliased["thinking"] = reasoning
        for (key, value) in object.pairs { aliased[key] = value }
        aliased["reasoning_content"] = reasoning
        return .object(aliased)
    }
}
