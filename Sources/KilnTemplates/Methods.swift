/// The Python methods templates call on strings and dicts (`s.strip()`, `d.items()`, …).
/// Methods that would change a value (`list.append`, `dict.update`) are refused, as transformers' immutable
/// sandbox refuses them.
enum Methods {
    static let string: Set<String> = [
        "strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith", "upper", "lower", "title",
        "capitalize", "replace", "format", "join", "find", "count", "splitlines", "isdigit", "isalpha", "isspace",
        "isalnum", "islower", "isupper",
    ]
    static let dictionary: Set<String> = ["get", "items", "keys", "values"]
    static let list: Set<String> = ["index", "count"]

    private static func fail(_ message: String) -> TemplateError { TemplateError(.runtime, line: nil, message) }

    static func call(_ name: String, on receiver: Value, _ a: CallArguments, interpreter: Interpreter) throws -> Value {
        switch receiver {
        case .string(let s): return try callString(name, s, a)
        case .object(let o):
            switch name {
            case "get": return o[a[0, "key"]?.pythonString ?? ""] ?? (a[1, "default"] ?? Value.none)
            case "items": return .array(o.pairs.map { .array([.string($0.key), $0.value]) })
            case "keys": return .array(o.keys.map { .string($0) })
            case "values": return .array(o.values)
            default: break
            }
        case .array(let items):
            let needle = a[0, "value"] ?? .undefined
            switch name {
            case "count": return .int(items.filter { $0.pythonEquals(needle) }.count)
            case "index":
                guard let i = items.firstIndex(where: { $0.pythonEquals(needle) }) else {
                    throw fail("\(needle.pythonRepr) is not in list")
                }
                return .int(i)
            default: break
            }
        default: break
        }
        throw fail("'\(receiver.typeName)' object has no attribute '\(name)'")
    }

    private static func optionalString(_ v: Value?) -> String? {
        guard let v, !v.isNone else { return nil }
        return v.pythonString
    }

    /// `prefix` may be a string or a list of strings (Python takes a tuple).
    private static func affixes(_ v: Value?) -> [String] {
        if case .array(let items)? = v { return items.map(\.pythonString) }
        return [v?.pythonString ?? ""]
    }

    private static func callString(_ name: String, _ s: String, _ a: CallArguments) throws -> Value {
        switch name {
        case "strip": return .string(Text.strip(s, optionalString(a[0, "chars"])))
        case "lstrip": return .string(Text.strip(s, optionalString(a[0, "chars"]), trailing: false))
        case "rstrip": return .string(Text.strip(s, optionalString(a[0, "chars"]), leading: false))
        case "split":
            return .array(
                Text.split(s, optionalString(a[0, "sep"]), maxSplit: a[1, "maxsplit"]?.integer ?? -1).map { .string($0) })
        case "rsplit":
            let maxSplit = a[1, "maxsplit"]?.integer ?? -1
            guard maxSplit >= 0 else { return .array(Text.split(s, optionalString(a[0, "sep"])).map { .string($0) }) }
            let reversed = String(String.UnicodeScalarView(s.unicodeScalars.reversed()))
            let sep = optionalString(a[0, "sep"]).map { String(String.UnicodeScalarView($0.unicodeScalars.reversed())) }
            return .array(
                Text.split(reversed, sep, maxSplit: maxSplit).reversed().map {
                    .string(String(String.UnicodeScalarView($0.unicodeScalars.reversed())))
                })
        case "startswith": return .bool(affixes(a[0, "prefix"]).contains { Text.startsWith(s, $0) })
        case "endswith": return .bool(affixes(a[0, "suffix"]).contains { Text.endsWith(s, $0) })
        case "upper": return .string(s.uppercased())
        case "lower": return .string(s.lowercased())
        case "title": return .string(Text.pythonTitle(s))
        case "capitalize": return .string(Text.capitalize(s))
        case "replace":
            return .string(
                Text.replace(s, a[0, "old"]?.pythonString ?? "", a[1, "new"]?.pythonString ?? "", count: a[2, "count"]?.integer ?? -1))
        case "format": return .string(try format(s, a))
        case "join":
            guard let items = a[0, "iterable"]?.iterationItems() else { throw fail("can only join an iterable") }
            return .string(items.map(\.pythonString).joined(separator: s))
        case "find":
            let needle = a[0, "sub"]?.pythonString ?? ""
            guard let range = s.range(of: needle) else { return .int(-1) }
            return .int(s.unicodeScalars.distance(from: s.startIndex, to: range.lowerBound))
        case "count":
            let needle = a[0, "sub"]?.pythonString ?? ""
            return .int(needle.isEmpty ? s.unicodeScalars.count + 1 : Text.split(s, needle).count - 1)
        case "splitlines": return .array(Text.splitLines(s).map { .string($0) })
        case "isdigit": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType == .decimal })
        case "isalpha": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic })
        case "isspace": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(Text.isSpace))
        case "isalnum":
            return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil })
        case "islower": return .bool(s == s.lowercased() && s.contains { $0.isCased })
        case "isupper": return .bool(s == s.uppercased() && s.contains { $0.isCased })
        default: throw fail("'str' object has no attribute '\(name)'")
        }
    }

    /// `str.format` with `{}`, `{0}`, `{name}` and `{{`/`}}` (no format specs beyond plain `{…}`).
    private static func format(_ s: String, _ a: CallArguments) throws -> String {
        var out = ""
        var auto = 0
        var chars = Array(s)[...]
        while let c = chars.popFirst() {
            if c == "{" {
                if chars.first == "{" {
                    chars.removeFirst()
                    out.append("{")
                    continue
                }
                var field = ""
                while let d = chars.popFirst(), d != "}" { field.append(d) }
                let value: Value?
                if field.isEmpty {
                    value = auto < a.positional.count ? a.positional[auto] : nil
                    auto += 1
                } else if let i = Int(field) {
                    value = i < a.positional.count ? a.positional[i] : nil
                } else {
                    value = a.keyword.first { $0.0 == field }?.1
                }
                guard let value else { throw fail("format: no argument for field '{\(field)}'") }
                out += value.pythonString
            } else if c == "}" {
                if chars.first == "}" { chars.removeFirst() }
                out.append("}")
            } else {
                out.append(c)
            }
        }
        return out
    }
}
