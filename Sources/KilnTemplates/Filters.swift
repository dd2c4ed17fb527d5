import Foundation

/// Jinja2's built-in filters (the ones chat templates use), plus transformers' `tojson`.
enum Filters {
    static let names: Set<String> = [
        "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float", "format",
        "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
        "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum", "title",
        "tojson", "trim", "unique", "upper", "wordcount",
    ]

    static func fail(_ message: String) -> TemplateError { TemplateError(.runtime, line: nil, message) }

    static func apply(_ name: String, to value: Value, arguments a: CallArguments, interpreter: Interpreter) throws -> Value {
        switch name {
        case "abs":
            switch value {
            case .int(let i): return .int(abs(i))
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return .double(abs(d))
            default: throw fail("bad operand type for abs(): '\(value.typeName)'")
            }
        case "attr":
            // Only attributes, never dict keys (Jinja's attr filter uses getattr alone).
            let name = a[0, "name"]?.pythonString ?? ""
            if case .object = value, !Methods.dictionary.contains(name) { return .undefined }
            return interpreter.attribute(of: value, name)
        case "capitalize": return .string(Text.capitalize(value.pythonString))
        case "count", "length": return .int(try length(value))
        case "d", "default":
            let fallback = a[0, "default_value"] ?? .string("")
            let boolean = a[1, "boolean"]?.isTruthy ?? false
            return value.isUndefined || (boolean && !value.isTruthy) ? fallback : value
        case "dictsort": return try dictsort(value, a)
        case "e", "escape": return .string(escapeHTML(value.pythonString))
        case "first":
            return try sequence(value, name).first ?? .undefined
        case "last":
            return try sequence(value, name).last ?? .undefined
        case "float":
            return toFloat(value) ?? (a[0, "default"] ?? .double(0))
        case "format":
            return .string(try Operators.printf(value.pythonString, a: .array(a.positional)))
        case "indent": return .string(indent(value.pythonString, a))
        case "int": return toInt(value, base: a[1, "base"]?.integer ?? 10) ?? (a[0, "default"] ?? .int(0))
        case "items":
            switch value {
            case .object(let o): return .array(o.pairs.map { .array([.string($0.key), $0.value]) })
            case .undefined: return .array([])
            default: throw fail("Can only get item pairs from a mapping.")
            }
        case "join": return try join(value, a, interpreter: interpreter)
        case "list": return .array(try sequence(value, name))
        case "lower": return .string(value.pythonString.lowercased())
        case "upper": return .string(value.pythonString.uppercased())
        case "map": return try map(value, a, interpreter: interpreter)
        case "max", "min": return try extreme(value, a, largest: name == "max", interpreter: interpreter)
        case "reject", "select", "rejectattr", "selectattr":
            return try select(value, a, name: name, interpreter: interpreter)
        case "replace":
            let count = a[2, "count"]?.integer ?? -1
            return .string(
                Text.replace(value.pythonString, a[0, "old"]?.pythonString ?? "", a[1, "new"]?.pythonString ?? "", count: count))
        case "reverse":
            if case .string(let s) = value { return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed()))) }
            return .array(try sequence(value, name).reversed())
        case "round": return try round(value, a)
        case "safe", "string": return .string(value.pythonString)
        case "sort": return try sort(value, a, interpreter: interpreter)
        case "sum":
            var total = a[1, "start"] ?? .int(0)
            let attribute = a[0, "attribute"]
            for item in try sequence(value, name) {
                let term = try attribute.map { try lookupPath(item, $0, interpreter: interpreter) } ?? item
                total = try Operators.binary("+", total, term)
            }
            return total
        case "title": return .string(Text.jinjaTitle(value.pythonString))
        case "tojson": return .string(try toJSON(value, a))
        case "trim": return .string(Text.strip(value.pythonString, a[0, "chars"].flatMap { $0.isNone ? nil : $0.pythonString }))
        case "unique": return try unique(value, a, interpreter: interpreter)
        case "wordcount": return .int(Text.split(value.pythonString, nil).count)
        default: throw fail("No filter named '\(name)'.")
        }
    }

    static func length(_ value: Value) throws -> Int {
        switch value {
        case .undefined: 0
        case .string(let s): s.unicodeScalars.count
        case .array(let items): items.count
        case .object(let o): o.count
        case .namespace(let ns): ns.attributes.count
        default: throw fail("object of type '\(value.typeName)' has no len()")
        }
    }

    static func sequence(_ value: Value, _ filter: String) throws -> [Value] {
        guard let items = value.iterationItems() else { throw fail("'\(value.typeName)' object is not iterable") }
        return items
    }

    static func toInt(_ value: Value, base: Int) -> Value? {
        switch value {
        case .int, .bool: return .int(value.integer!)
        case .double(let d): return d.isFinite ? .int(Int(d)) : nil
        case .string(let s):
            let text = Text.strip(s, nil).replacingOccurrences(of: "_", with: "")
            if let i = Int(text, radix: base) { return .int(i) }
            if let d = Double(text), d.isFinite { return .int(Int(d)) }
            return nil
        default: return nil
        }
    }

    static func toFloat(_ value: Value) -> Value? {
        switch value {
        case .int, .bool, .double: return .double(value.number!)
        case .string(let s):
            let text = Text.strip(s, nil).lowercased()
            switch text {
            case "inf", "+inf", "infinity", "+infinity": return .double(.infinity)
            case "-inf", "-infinity": return .double(-.infinity)
            case "nan", "+nan", "-nan": return .double(.nan)
            default: return Double(text).map { .double($0) }
            }
        default: return nil
        }
    }

    static func escapeHTML(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func indent(_ s: String, _ a: CallArguments) -> String {
        let width = a[0, "width"] ?? .int(4)
        let indention = width.stringValue ?? String(repeating: " ", count: max(0, width.integer ?? 4))
        let first = a[1, "first"]?.isTruthy ?? false
        let blank = a[2, "blank"]?.isTruthy ?? false
        var lines = Text.splitLines(s + "\n")
        var out: String
        if blank {
            out = lines.joined(separator: "\n" + indention)
        } else {
            out = lines.isEmpty ? "" : lines.removeFirst()
            if !lines.isEmpty {
                out += "\n" + lines.map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n")
            }
        }
        return first ? indention + out : out
    }

    static func round(_ value: Value, _ a: CallArguments) throws -> Value {
        let precision = a[0, "precision"]?.integer ?? 0
        let method = a[1, "method"]?.pythonString ?? "common"
        guard let x = value.number else { throw fail("must be real number, not \(value.typeName)") }
        let scale = pow(10.0, Double(precision))
        let rule: FloatingPointRoundingRule =
            switch method {
            case "ceil": .up
            case "floor": .down
            default: .toNearestOrEven
            }
        if method == "common", value.integer != nil { return .int(value.integer!) }
        return .double((x * scale).rounded(rule) / scale)
    }

    static func toJSON(_ value: Value, _ a: CallArguments) throws -> String {
        let indentArgument = a[0, "indent"]
        var indent: String? = nil
        if let indentArgument, !indentArgument.isNone {
            indent = indentArgument.stringValue ?? String(repeating: " ", count: max(0, indentArgument.integer ?? 0))
        }
        var separators: (String, String)? = nil
        if let s = a[1, "separators"]?.arrayValue, s.count == 2 { separators = (s[0].pythonString, s[1].pythonString) }
        let writer = JSONWriter(indent: indent, separators: separators, sortKeys: a[2, "sort_keys"]?.isTruthy ?? false)
        var text = try writer.write(value)
        if a[3, "ensure_ascii"]?.isTruthy ?? false {
            var ascii = ""
            for c in text.unicodeScalars {
                if c.isASCII {
                    ascii.unicodeScalars.append(c)
                } else if c.value > 0xFFFF {
                    let v = c.value - 0x10000
                    ascii += String(format: "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
                } else {
                    ascii += String(format: "\\u%04x", c.value)
                }
            }
            text = ascii
        }
        return text
    }
}
