/// Jinja2's tests (`x is defined`, `x is string`, `x is equalto y`, …).
enum Predicates {
    static let names: Set<String> = [
        "defined", "undefined", "none", "string", "mapping", "iterable", "sequence", "number", "integer", "float",
        "boolean", "true", "false", "equalto", "eq", "==", "ne", "!=", "sameas", "odd", "even", "divisibleby", "in",
        "lt", "le", "gt", "ge", "<", "<=", ">", ">=", "greaterthan", "lessthan", "lower", "upper", "callable", "escaped",
    ]

    static func apply(_ name: String, to value: Value, arguments: [Value]) throws -> Bool {
        func argument() throws -> Value {
            guard let first = arguments.first else {
                throw TemplateError(.runtime, line: nil, "test '\(name)' needs an argument")
            }
            return first
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value.isNone
        case "string": if case .string = value { return true } else { return false }
        case "mapping": if case .object = value { return true } else { return false }
        case "iterable", "sequence":
            switch value {
            case .undefined, .string, .array, .object: return true
            default: return false
            }
        case "number":
            switch value {
            case .int, .double, .bool: return true
            default: return false
            }
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": if case .bool(true) = value { return true } else { return false }
        case "false": if case .bool(false) = value { return true } else { return false }
        case "equalto", "eq", "==": return value.pythonEquals(try argument())
        case "ne", "!=": return !value.pythonEquals(try argument())
        case "sameas":
            let other = try argument()
            switch (value, other) {
            case (.none, .none), (.undefined, .undefined): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.int(let a), .int(let b)): return a == b && (-5...256).contains(a)
            case (.namespace(let a), .namespace(let b)): return a === b
            default: return false
            }
        case "odd", "even":
            guard let i = value.integer else {
                throw TemplateError(.runtime, line: nil, "test '\(name)' needs an integer, got \(value.typeName)")
            }
            return (i % 2 != 0) == (name == "odd")
        case "divisibleby":
            guard let i = value.integer, let d = try argument().integer, d != 0 else {
                throw TemplateError(.runtime, line: nil, "divisibleby needs non-zero integers")
            }
            return i % d == 0
        case "in": return try Operators.contains(try argument(), value)
        case "lt", "<", "lessthan": return try Operators.compare("<", value, try argument())
        case "le", "<=": return try Operators.compare("<=", value, try argument())
        case "gt", ">", "greaterthan": return try Operators.compare(">", value, try argument())
        case "ge", ">=": return try Operators.compare(">=", value, try argument())
        case "lower":
            guard case .string(let s) = value else { return false }
            return s == s.lowercased() && s.contains { $0.isCased }
        case "upper":
            guard case .string(let s) = value else { return false }
            return s == s.uppercased() && s.contains { $0.isCased }
        case "callable": if case .callable = value { return true } else { return false }
        case "escaped": return false
        default: throw TemplateError(.runtime, line: nil, "No test named '\(name)'.")
        }
    }
}
