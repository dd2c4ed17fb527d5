import KilnTokenizers

/// JSON Schema → grammar.
///
/// Output is compact JSON: no whitespace anywhere (so a model cannot loop on spaces, and every state is small);
/// object properties appear in the schema's order. The grammar accepts a subset of what the schema accepts, never
/// more:
/// - objects with `properties` emit only those properties (required ones always, optional ones or not);
///   `additionalProperties` alone gives a map of that schema (or `{}` when false, any object when true);
/// - arrays: `items` with `minItems`/`maxItems`; strings: `minLength`/`maxLength` (in characters), `pattern`
///   (matched whole, which satisfies JSON Schema's search semantics), `format` date, time, date-time, uuid;
///   strings use raw UTF-8 and the escapes `\" \\ \n \t` only;
/// - integers: exactly the bounded range; numbers: integers in range, or a fraction between two integers that are
///   in range; no exponents; at most 15 integer digits and 9 fraction digits when unbounded;
/// - `enum`, `const`, `anyOf`, `oneOf` (as anyOf: branches should be disjoint), one-element `allOf`, `$ref` to
///   `#`, `#/$defs/…`, `#/definitions/…` (recursion allowed), type lists.
/// Anything else is rejected by keyword (`ConstraintError.unsupported`).
struct JSONSchemaCompiler {
    private var builder = GrammarBuilder()
    private let root: JSONValue
    private let limits: ConstraintLimits
    private var refRules: [String: Int] = [:]
    private var shared: [String: Int] = [:]
    private var nodes = 0

    static let annotations: Set<String> = [
        "title", "description", "$schema", "$id", "$comment", "default", "examples", "deprecated", "readOnly",
        "writeOnly", "$defs", "definitions", "name", "strict",
    ]
    static let keywords: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
        "anyOf", "oneOf", "allOf", "$ref", "pattern", "minLength", "maxLength", "format", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum",
    ]

    static func compile(_ schema: JSONValue, limits: ConstraintLimits) throws(ConstraintError) -> GrammarBuilder {
        var compiler = JSONSchemaCompiler(root: schema, limits: limits)
        let start = compiler.builder.declare("root")
        compiler.builder.define(start, try compiler.value(schema, path: "#"))
        return compiler.builder
    }

    private init(root: JSONValue, limits: ConstraintLimits) {
        self.root = root
        self.limits = limits
    }

    // MARK: - Schemas

    private mutating func value(_ schema: JSONValue, path: String) throws(ConstraintError) -> GrammarExpression {
        nodes += 1
        guard nodes <= limits.maxSchemaNodes else {
            throw .tooLarge("the schema has over \(limits.maxSchemaNodes) nodes")
        }
        if case .bool(let b) = schema {
            guard b else { throw .invalidSchema("schema `false` at \(path) matches nothing") }
            return .rule(anyValue())
        }
        guard let members = schema.members else { throw .invalidSchema("the schema at \(path) is not an object") }
        for (key, _) in members where !Self.keywords.contains(key) && !Self.annotations.contains(key) {
            throw .unsupported("JSON Schema keyword '\(key)' at \(path)")
        }
        if let ref = schema["$ref"] {
            guard let target = ref.string else { throw .invalidSchema("$ref at \(path) is not a string") }
            return .rule(try reference(target))
        }
        if let c = schema["const"] { return .literal(Self.serialize(c)) }
        if let e = schema["enum"] {
            guard let options = e.array, !options.isEmpty else {
                throw .invalidSchema("enum at \(path) is not a non-empty array")
            }
            return .choice(options.map { .literal(Self.serialize($0)) })
        }
        for key in ["anyOf", "oneOf"] {
            if let list = schema[key] {
                guard let options = list.array, !options.isEmpty else {
                    throw .invalidSchema("\(key) at \(path) is not a non-empty array")
                }
                var out: [GrammarExpression] = []
                for (i, option) in options.enumerated() { out.append(try value(option, path: "\(path)/\(key)/\(i)")) }
                return .choice(out)
            }
        }
        if let all = schema["allOf"] {
            guard let options = all.array, options.count == 1 else {
                throw .unsupported("allOf with more than one schema at \(path)")
            }
            return try value(options[0], path: "\(path)/allOf/0")
        }
        var types: [String]
        switch schema["type"] {
        case .string(let t)?: types = [t]
        case .array(let list)?: types = list.compactMap(\.string)
        case nil:
            if schema["properties"] != nil || schema["additionalProperties"] != nil {
                types = ["object"]
            } else if schema["items"] != nil {
                types = ["array"]
            } else if schema["pattern"] != nil || schema["format"] != nil || schema["minLength"] != nil
                || schema["maxLength"] != nil
            {
                types = ["string"]
            } else if schema["minimum"] != nil || schema["maximum"] != nil {
                types = ["number"]
            } else {
                return .rule(anyValue())
            }
        default: throw .invalidSchema("type at \(path) is not a string or an array of strings")
        }
        var out: [GrammarExpression] = []
        for type in types { out.append(try typed(type, schema, path: path)) }
        return out.count == 1 ? out[0] : .choice(out)
    }

    private mutating func typed(_ type: String, _ schema: JSONValue, path: String) throws(ConstraintError)
        -> GrammarExpression
    {
        switch type {
        case "object": return try object(schema, path: path)
        case "array": return try array(schema, path: path)
        case "string": return try string(schema, path: path)
        case "integer": return try integer(schema, path: path)
        case "number": return try number(schema, path: path)
        case "boolean": return .choice([.literal("true"), .literal("false")])
        case "null": return .literal("null")
        default: throw .invalidSchema("unknown type '\(type)' at \(path)")
        }
    }

    private mutating func reference(_ target: String) throws(ConstraintError) -> Int {
        if let id = refRules[target] { return id }
        guard target == "#" || target.hasPrefix("#/") else {
            throw .unsupported("$ref '\(target)' (only local references '#/…' are supported)")
        }
        var node = root
        for raw in target.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) where target != "#" {
            let key = Self.unescapePointer(String(raw))
            if let next = node[key] {
                node = next
            } else if let list = node.array, let i = Int(key), list.indices.contains(i) {
                node = list[i]
            } else {
                throw .invalidSchema("$ref '\(target)' does not resolve")
            }
        }
        let id = builder.declare(target)
        refRules[target] = id
        builder.define(id, try value(node, path: target))
        return id
    }

    /// A JSON-pointer token: `~1` is `/`, `~0` is `~`.
    private static func unescapePointer(_ token: String) -> String {
        var out = ""
        var tilde = false
        for c in token {
            if tilde {
                out.append(c == "1" ? "/" : c == "0" ? "~" : c)
                tilde = false
            } else if c == "~" {
                tilde = true
            } else {
                out.append(c)
            }
        }
        return out
    }

    private mutating func object(_ schema: JSONValue, path: String) throws(ConstraintError) -> GrammarExpression {
        let properties = schema["properties"]?.members ?? []
        let required = Set((schema["required"]?.array ?? []).compactMap(\.string))
        for name in required where !properties.contains(where: { $0.key == name }) {
            throw .unsupported("required property '\(name)' not listed in properties at \(path)")
        }
        if properties.isEmpty {
            switch schema["additionalProperties"] {
            case .bool(false)?: return .literal("{}")
            case nil, .bool(true)?: return .rule(anyObject())
            case let additional?:
                let member = GrammarExpression.sequence([
                    .rule(stringRule()), .literal(":"), try value(additional, path: "\(path)/additionalProperties"),
                ])
                let m = builder.add("\(path)/member", member)
                return .sequence([
                    .literal("{"), .optional(.sequence([.rule(m), .star(.sequence([.literal(","), .rule(m)]))])),
                    .literal("}"),
                ])
            }
        }
        // p_i: `"name":value`; t_i: the rest from i on after something was written; f_i: from i on, nothing yet.
        var pieces: [Int] = []
        for (name, sub) in properties {
            let body = GrammarExpression.sequence([
                .literal(Self.serialize(.string(name)) + ":"), try value(sub, path: "\(path)/properties/\(name)"),
            ])
            pieces.append(builder.add("\(path)/properties/\(name)", body))
        }
        var tail: GrammarExpression = .empty
        var first: GrammarExpression = .empty
        for (i, (name, _)) in properties.enumerated().reversed() {
            let withThis = GrammarExpression.sequence([.literal(","), .rule(pieces[i]), tail])
            let startHere = GrammarExpression.sequence([.rule(pieces[i]), tail])
            let t = required.contains(name) ? withThis : .choice([withThis, tail])
            let f = required.contains(name) ? startHere : .choice([startHere, first])
            tail = .rule(builder.add("\(path)/rest\(i)", t))
            first = .rule(builder.add("\(path)/first\(i)", f))
        }
        return .sequence([.literal("{"), first, .literal("}")])
    }

    private mutating func array(_ schema: JSONValue, path: String) throws(ConstraintError) -> GrammarExpression {
        let minItems = try count(schema, "minItems", path) ?? 0
        let maxItems = try count(schema, "maxItems", path)
        if let maxItems, maxItems < minItems { throw .invalidSchema("maxItems < minItems at \(path)") }
        if maxItems == 0 { return .literal("[]") }
        let item: Int
        if let items = schema["items"] {
            item = builder.add("\(path)/items", try value(items, path: "\(path)/items"))
        } else {
            item = anyValue()
        }
        let more = GrammarExpression.repeated(
            .sequence([.literal(","), .rule(item)]), min: max(0, minItems - 1), max: maxItems.map { $0 - 1 })
        let list = GrammarExpression.sequence([.rule(item), more])
        return .sequence([.literal("["), minItems == 0 ? .optional(list) : list, .literal("]")])
    }

    private mutating func string(_ schema: JSONValue, path: String) throws(ConstraintError) -> GrammarExpression {
        let minLength = try count(schema, "minLength", path)
        let maxLength = try count(schema, "maxLength", path)
        if let format = schema["format"]?.string {
            guard let pattern = Self.formats[format] else { throw .unsupported("string format '\(format)' at \(path)") }
            return .sequence([.literal("\""), try RegexParser.parse(pattern, jsonString: true), .literal("\"")])
        }
        if let pattern = schema["pattern"] {
            guard let text = pattern.string else { throw .invalidSchema("pattern at \(path) is not a string") }
            if minLength != nil || maxLength != nil {
                throw .unsupported("minLength/maxLength together with pattern at \(path)")
            }
            return .sequence([.literal("\""), try RegexParser.parse(text, jsonString: true), .literal("\"")])
        }
        if minLength == nil && maxLength == nil { return .rule(stringRule()) }
        return .sequence([
            .literal("\""), .repeated(.rule(characterRule()), min: minLength ?? 0, max: maxLength), .literal("\""),
        ])
    }

    private func count(_ schema: JSONValue, _ key: String, _ path: String) throws(ConstraintError) -> Int? {
        guard let v = schema[key] else { return nil }
        guard let n = v.int, n >= 0 else { throw .invalidSchema("\(key) at \(path) is not a non-negative integer") }
        guard n <= limits.maxRepetition else {
            throw .tooLarge("\(key) \(n) at \(path) is over the limit of \(limits.maxRepetition)")
        }
        return n
    }

    static let formats: [String: String] = {
        let date =
            "[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
        let time = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
        return [
            "date": date, "time": time, "date-time": date + "T" + time,
            "uuid": "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        ]
    }()

    // MARK: - Shared rules

    private mutating func sharedRule(_ name: String, _ make: (inout JSONSchemaCompiler) -> GrammarExpression) -> Int {
        if let id = shared[name] { return id }
        let id = builder.declare(name)
        shared[name] = id
        builder.define(id, make(&self))
        return id
    }

    /// One character inside a JSON string.
    private mutating func characterRule() -> Int {
        sharedRule("char") { _ in
            .choice([
                .scalars([0x20...0x21, 0x23...0x5B, 0x5D...0x10FFFF]), .literal("\\\""), .literal("\\\\"),
                .literal("\\n"), .literal("\\t"),
            ])
        }
    }

    private mutating func stringRule() -> Int {
        let char = characterRule()
        return sharedRule("string") { _ in .sequence([.literal("\""), .star(.rule(char)), .literal("\"")]) }
    }

    private mutating func anyValue() -> Int {
        if let id = shared["value"] { return id }
        let value = builder.declare("value")
        shared["value"] = value
        let string = stringRule()
        let object = anyObject()
        let array = sharedRule("array") { _ in
            .sequence([
                .literal("["), .optional(.sequence([.rule(value), .star(.sequence([.literal(","), .rule(value)]))])),
                .literal("]"),
            ])
        }
        let number = sharedRule("number") { _ in
            let digit = GrammarExpression.bytes(ByteSet(0x30...0x39))
            return .sequence([
                .optional(.literal("-")),
                .choice([.literal("0"), .sequence([.bytes(ByteSet(0x31...0x39)), .repeated(digit, min: 0, max: 14)])]),
                .optional(.sequence([.literal("."), .repeated(digit, min: 1, max: 9)])),
            ])
        }
        builder.define(
            value,
            .choice([
                .rule(object), .rule(array), .rule(string), .rule(number), .literal("true"), .literal("false"),
                .literal("null"),
            ]))
        return value
    }

    private mutating func anyObject() -> Int {
        if let id = shared["object"] { return id }
        let object = builder.declare("object")
        shared["object"] = object
        let member = GrammarExpression.sequence([.rule(stringRule()), .literal(":"), .rule(anyValue())])
        builder.define(
            object,
            .sequence([
                .literal("{"), .optional(.sequence([member, .star(.sequence([.literal(","), member]))])), .literal("}"),
            ]))
        return object
    }

    // MARK: - Literals

    /// Compact JSON text of a value (for const and enum).
    static func serialize(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d):
            if d == d.rounded(), abs(d) < 1e15 { return String(Int(d)) }
            return "\(d)"
        case .string(let s):
            var out = "\""
            for scalar in s.unicodeScalars {
                if scalar.value < 0x20 || scalar == "\"" || scalar == "\\" {
                    out += RegexParser.jsonEscape(scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        case .array(let items): return "[" + items.map(serialize).joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.map { serialize(.string($0.key)) + ":" + serialize($0.value) }.joined(separator: ",")
                + "}"
        }
    }
}
