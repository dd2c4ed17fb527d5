import Foundation

/// Python's view of values: truthiness, `str()`, `repr()`, `==`, ordering, as Jinja2 templates observe them.
extension Value {
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .double(let d): d != 0
        case .string(let s): !s.isEmpty
        case .array(let a): !a.isEmpty
        case .object(let o): o.count > 0
        case .namespace, .callable: true
        }
    }

    /// The name Python gives the value's type, for error messages.
    var typeName: String {
        switch self {
        case .undefined: "Undefined"
        case .none: "NoneType"
        case .bool: "bool"
        case .int: "int"
        case .double: "float"
        case .string: "str"
        case .array: "list"
        case .object: "dict"
        case .namespace: "Namespace"
        case .callable: "function"
        }
    }

    /// `str(value)`: what `{{ value }}` prints.
    var pythonString: String {
        switch self {
        case .undefined: ""
        case .string(let s): s
        default: pythonRepr
        }
    }

    /// `repr(value)`, which is how lists and dicts print their items.
    var pythonRepr: String {
        switch self {
        case .undefined: ""
        case .none: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): String(i)
        case .double(let d): Value.pythonFloatRepr(d)
        case .string(let s): Value.pythonStringRepr(s)
        case .array(let items): "[" + items.map(\.pythonRepr).joined(separator: ", ") + "]"
        case .object(let o):
            "{" + o.pairs.map { Value.pythonStringRepr($0.key) + ": " + $0.value.pythonRepr }.joined(separator: ", ") + "}"
        case .namespace(let ns):
            "<Namespace " + ns.attributes.pairs.map { "\($0.key)=\($0.value.pythonRepr)" }.joined(separator: ", ") + ">"
        case .callable(.macro(let m)): "<Macro '\(m.name)'>"
        case .callable(.builtin(let name)): "<function \(name)>"
        case .callable(.method(let receiver, let name)): "<built-in method \(name) of \(receiver.typeName) object>"
        }
    }

    static func pythonFloatRepr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == d.rounded(), abs(d) < 1e16 {
            return String(format: "%.1f", d)
        }
        // Swift's description is the shortest round-tripping form, as Python's repr is; only the exponent differs.
        var text = d.description
        if let e = text.firstIndex(of: "e") {
            let mantissa = text[..<e]
            var exponent = String(text[text.index(after: e)...])
            var sign = "+"
            if exponent.hasPrefix("-") || exponent.hasPrefix("+") {
                sign = exponent.hasPrefix("-") ? "-" : "+"
                exponent.removeFirst()
            }
            if exponent.count < 2 { exponent = "0" + exponent }
            text = mantissa + "e" + sign + exponent
        }
        return text
    }

    static func pythonStringRepr(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote {
                    out += "\\" + String(quote)
                } else if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\x%02x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.append(quote)
        return out
    }

    /// The numeric value of ints, floats and bools (Python's bool is an int).
    var number: Double? {
        switch self {
        case .bool(let b): b ? 1 : 0
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    var integer: Int? {
        switch self {
        case .bool(let b): b ? 1 : 0
        case .int(let i): i
        default: nil
        }
    }

    func pythonEquals(_ other: Value) -> Bool {
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy { $0.pythonEquals($1) }
        case (.object(let a), .object(let b)): return a == b
        case (.namespace(let a), .namespace(let b)): return a === b
        default:
            if let a = integer, let b = other.integer { return a == b }
            if let a = number, let b = other.number { return a == b }
            return false
        }
    }

    static func codePointLess(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }

    /// Python's `<`; nil when the two cannot be ordered (a TypeError in Python).
    func pythonLess(_ other: Value) -> Bool? {
        switch (self, other) {
        case (.string(let a), .string(let b)): return Value.codePointLess(a, b)
        case (.array(let a), .array(let b)):
            for (x, y) in zip(a, b) where !x.pythonEquals(y) { return x.pythonLess(y) }
            return a.count < b.count
        default:
            if let a = integer, let b = other.integer { return a < b }
            if let a = number, let b = other.number { return a < b }
            return nil
        }
    }

    /// What `for x in value` walks: list items, string characters, dict keys.
    func iterationItems() -> [Value]? {
        switch self {
        case .undefined, .none: return self.isUndefined ? [] : nil
        case .array(let items): return items
        case .object(let o): return o.keys.map { .string($0) }
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .namespace(let ns): return ns.attributes.keys.map { .string($0) }
        default: return nil
        }
    }
}
