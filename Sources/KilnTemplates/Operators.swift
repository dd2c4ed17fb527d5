import Foundation

/// Python's arithmetic and comparison operators over `Value`.
enum Operators {
    private static func typeError(_ op: String, _ a: Value, _ b: Value) -> TemplateError {
        TemplateError(.runtime, line: nil, "unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'")
    }

    static func binary(_ op: String, _ a: Value, _ b: Value) throws -> Value {
        switch (op, a, b) {
        case ("+", .string(let x), .string(let y)): return .string(x + y)
        case ("+", .array(let x), .array(let y)): return .array(x + y)
        case ("*", .string(let s), _) where b.integer != nil: return .string(repeated(s, b.integer!))
        case ("*", _, .string(let s)) where a.integer != nil: return .string(repeated(s, a.integer!))
        case ("*", .array(let items), _) where b.integer != nil:
            return .array(Array([[Value]](repeating: items, count: max(0, b.integer!)).joined()))
        case ("%", .string(let format), _): return .string(try printf(format, a: b))
        default: break
        }
        if op == "+" && (a.stringValue != nil || b.stringValue != nil) {
            let other = a.stringValue != nil ? b : a
            throw TemplateError(.runtime, line: nil, "can only concatenate str (not \"\(other.typeName)\") to str")
        }
        if let x = a.integer, let y = b.integer {
            switch op {
            case "+": return .int(x &+ y)
            case "-": return .int(x &- y)
            case "*": return .int(x &* y)
            case "/":
                guard y != 0 else { throw TemplateError(.runtime, line: nil, "division by zero") }
                return .double(Double(x) / Double(y))
            case "//":
                guard y != 0 else { throw TemplateError(.runtime, line: nil, "integer division or modulo by zero") }
                let q = x / y
                return .int(x % y != 0 && (x < 0) != (y < 0) ? q - 1 : q)
            case "%":
                guard y != 0 else { throw TemplateError(.runtime, line: nil, "integer division or modulo by zero") }
                let r = x % y
                return .int(r != 0 && (r < 0) != (y < 0) ? r + y : r)
            case "**":
                if y >= 0 {
                    var result = 1
                    for _ in 0..<min(y, 64) { result = result &* x }
                    return .int(result)
                }
                return .double(pow(Double(x), Double(y)))
            default: break
            }
        }
        guard let x = a.number, let y = b.number else { throw typeError(op, a, b) }
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/":
            guard y != 0 else { throw TemplateError(.runtime, line: nil, "float division by zero") }
            return .double(x / y)
        case "//":
            guard y != 0 else { throw TemplateError(.runtime, line: nil, "float floor division by zero") }
            return .double((x / y).rounded(.down))
        case "%":
            guard y != 0 else { throw TemplateError(.runtime, line: nil, "float modulo") }
            let r = fmod(x, y)
            return .double(r != 0 && (r < 0) != (y < 0) ? r + y : r)
        case "**": return .double(pow(x, y))
        default: throw typeError(op, a, b)
        }
    }

    private static func repeated(_ s: String, _ n: Int) -> String { n > 0 ? String(repeating: s, count: n) : "" }

    static func compare(_ op: String, _ a: Value, _ b: Value) throws -> Bool {
        switch op {
        case "==": return a.pythonEquals(b)
        case "!=": return !a.pythonEquals(b)
        case "in": return try contains(b, a)
        case "not in": return !(try contains(b, a))
        default: break
        }
        let ordered: Bool?
        switch op {
        case "<": ordered = a.pythonLess(b)
        case ">": ordered = b.pythonLess(a)
        case "<=": ordered = b.pythonLess(a).map { !$0 }
        case ">=": ordered = a.pythonLess(b).map { !$0 }
        default: ordered = nil
        }
        guard let ordered else {
            throw TemplateError(.runtime, line: nil, "'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
        return ordered
    }

    /// Python's `needle in container`.
    static func contains(_ container: Value, _ needle: Value) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let n) = needle else {
                throw TemplateError(.runtime, line: nil, "'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            return n.isEmpty || s.contains(n)
        case .array(let items): return items.contains { $0.pythonEquals(needle) }
        case .object(let o):
            guard case .string(let key) = needle else { return false }
            return o[key] != nil
        case .namespace(let ns):
            guard case .string(let key) = needle else { return false }
            return ns.attributes[key] != nil
        case .undefined: return false
        default:
            throw TemplateError(.runtime, line: nil, "argument of type '\(container.typeName)' is not iterable")
        }
    }

    /// Python's `format % args` for the conversions templates use: %s %r %d %i %f %x %%.
    static func printf(_ format: String, a arguments: Value) throws -> String {
        let values: [Value] = if case .array(let items) = arguments { items } else { [arguments] }
        var out = ""
        var next = 0
        var chars = format.makeIterator()
        while let c = chars.next() {
            guard c == "%" else {
                out.append(c)
                continue
            }
            var spec = ""
            while let d = chars.next() {
                if d.isLetter || d == "%" {
                    spec.append(d)
                    break
                }
                spec.append(d)
            }
            guard let conversion = spec.last else { throw TemplateError(.runtime, line: nil, "incomplete format") }
            if conversion == "%" {
                out += "%"
                continue
            }
            guard next < values.count else {
                throw TemplateError(.runtime, line: nil, "not enough arguments for format string")
            }
            let value = values[next]
            next += 1
            let flags = String(spec.dropLast())
            switch conversion {
            case "s": out += value.pythonString
            case "r": out += value.pythonRepr
            case "d", "i":
                guard let n = value.number else { throw TemplateError(.runtime, line: nil, "%d format: a real number is required") }
                out += String(format: "%\(flags)ld", Int(n))
            case "f", "e", "g", "x", "X", "o":
                guard let n = value.number else { throw TemplateError(.runtime, line: nil, "a real number is required") }
                out += "fegEG".contains(conversion)
                    ? String(format: "%\(flags)\(conversion)", n) : String(format: "%\(flags)l\(conversion)", Int(n))
            default:
                throw TemplateError(.runtime, line: nil, "unsupported format character '\(conversion)'")
            }
        }
        return out
    }
}
