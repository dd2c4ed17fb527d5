/// Filters that walk sequences: map, select/reject(attr), join, sort, dictsort, unique, min/max.
/// Jinja2 returns generators from several of these; here they return lists, which print and iterate the same
/// wherever a template can observe them through `list`, `join`, `length` or a loop.
extension Filters {
    /// Jinja's attribute getter: `"a.b.0"` walks items then attributes, digits as indices.
    static func lookupPath(_ item: Value, _ path: Value, interpreter: Interpreter) throws -> Value {
        if let i = path.integer { return try interpreter.item(of: item, .int(i), line: 0) }
        var current = item
        for part in path.pythonString.split(separator: ".", omittingEmptySubsequences: false) {
            let key: Value = Int(part).map { .int($0) } ?? .string(String(part))
            current = try interpreter.item(of: current, key, line: 0)
        }
        return current
    }

    private static func foldCase(_ value: Value, _ caseSensitive: Bool) -> Value {
        if !caseSensitive, case .string(let s) = value { return .string(s.lowercased()) }
        return value
    }

    private static func less(_ a: Value, _ b: Value) throws -> Bool {
        guard let result = a.pythonLess(b) else {
            throw fail("'<' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
        return result
    }

    /// A stable sort that reports incomparable items as an error instead of trapping.
    private static func stableSort(_ items: [Value], keys: [Value], reverse: Bool) throws -> [Value] {
        var order = Array(items.indices)
        var failure: TemplateError? = nil
        order.sort { i, j in
            do {
                if reverse { return try less(keys[j], keys[i]) || (!(try less(keys[i], keys[j])) && i < j) }
                return try less(keys[i], keys[j]) || (!(try less(keys[j], keys[i])) && i < j)
            } catch {
                failure = error as? TemplateError
                return i < j
            }
        }
        if let failure { throw failure }
        return order.map { items[$0] }
    }

    static func dictsort(_ value: Value, _ a: CallArguments) throws -> Value {
        guard case .object(let object) = value else { throw fail("dictsort filter needs a mapping, got \(value.typeName)") }
        let caseSensitive = a[0, "case_sensitive"]?.isTruthy ?? false
        let byValue = a[1, "by"]?.pythonString == "value"
        let reverse = a[2, "reverse"]?.isTruthy ?? false
        let pairs = object.pairs.map { Value.array([.string($0.key), $0.value]) }
        let keys = object.pairs.map { foldCase(byValue ? $0.value : .string($0.key), caseSensitive) }
        return .array(try stableSort(pairs, keys: keys, reverse: reverse))
    }

    static func sort(_ value: Value, _ a: CallArguments, interpreter: Interpreter) throws -> Value {
        let items = try sequence(value, "sort")
        let reverse = a[0, "reverse"]?.isTruthy ?? false
        let caseSensitive = a[1, "case_sensitive"]?.isTruthy ?? false
        let attribute = a[2, "attribute"]
        let keys = try items.map { item in
            foldCase(try attribute.map { try lookupPath(item, $0, interpreter: interpreter) } ?? item, caseSensitive)
        }
        return .array(try stableSort(items, keys: keys, reverse: reverse))
    }

    static func unique(_ value: Value, _ a: CallArguments, interpreter: Interpreter) throws -> Value {
        let caseSensitive = a[0, "case_sensitive"]?.isTruthy ?? false
        let attribute = a[1, "attribute"]
        var seen: [Value] = []
        var out: [Value] = []
        for item in try sequence(value, "unique") {
            let key = foldCase(try attribute.map { try lookupPath(item, $0, interpreter: interpreter) } ?? item, caseSensitive)
            if !seen.contains(where: { $0.pythonEquals(key) }) {
                seen.append(key)
                out.append(item)
            }
        }
        return .array(out)
    }

    static func extreme(_ value: Value, _ a: CallArguments, largest: Bool, interpreter: Interpreter) throws -> Value {
        let caseSensitive = a[0, "case_sensitive"]?.isTruthy ?? false
        let attribute = a[1, "attribute"]
        var best: (item: Value, key: Value)? = nil
        for item in try sequence(value, largest ? "max" : "min") {
            let key = foldCase(try attribute.map { try lookupPath(item, $0, interpreter: interpreter) } ?? item, caseSensitive)
            if let current = best {
                if largest ? try less(current.key, key) : try less(key, current.key) { best = (item, key) }
            } else {
                best = (item, key)
            }
        }
        return best?.item ?? .undefined
    }

    static func join(_ value: Value, _ a: CallArguments, interpreter: Interpreter) throws -> Value {
        let separator = a[0, "d"]?.pythonString ?? ""
        let attribute = a[1, "attribute"]
        let items = try sequence(value, "join").map { item in
            try attribute.map { try lookupPath(item, $0, interpreter: interpreter) } ?? item
        }
        return .string(items.map(\.pythonString).joined(separator: separator))
    }

    static func map(_ value: Value, _ a: CallArguments, interpreter: Interpreter) throws -> Value {
        let items = try sequence(value, "map")
        if let attribute = a.keyword.first(where: { $0.0 == "attribute" })?.1 {
            let fallback = a.keyword.first { $0.0 == "default" }?.1
            return .array(
                try items.map { item in
                    let v = try lookupPath(item, attribute, interpreter: interpreter)
                    return v.isUndefined ? (fallback ?? v) : v
                })
        }
        guard let filter = a.positional.first?.stringValue else { throw fail("map requires a filter argument") }
        guard names.contains(filter) else { throw fail("No filter named '\(filter)'.") }
        let rest = CallArguments((Array(a.positional.dropFirst()), a.keyword))
        return .array(try items.map { try apply(filter, to: $0, arguments: rest, interpreter: interpreter) })
    }

    static func select(_ value: Value, _ a: CallArguments, name: String, interpreter: Interpreter) throws -> Value {
        let items = try sequence(value, name)
        let byAttribute = name.hasSuffix("attr")
        let keep = name.hasPrefix("select")
        var positional = a.positional
        var attribute: Value? = nil
        if byAttribute {
            guard !positional.isEmpty else { throw fail("\(name) requires an attribute name") }
            attribute = positional.removeFirst()
        }
        let test = positional.first?.stringValue
        let testArguments = Array(positional.dropFirst())
        if let test, !Predicates.names.contains(test) { throw fail("No test named '\(test)'.") }
        return .array(
            try items.filter { item in
                let subject = try attribute.map { try lookupPath(item, $0, interpreter: interpreter) } ?? item
                let passed =
                    if let test { try Predicates.apply(test, to: subject, arguments: testArguments) } else { subject.isTruthy }
                return passed == keep
            })
    }
}
