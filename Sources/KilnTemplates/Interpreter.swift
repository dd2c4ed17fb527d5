/// Executes statements. Scoping follows Jinja2: `for` bodies and macros get their own scope (so a plain `set`
/// inside a loop is gone after it, which is why templates use `namespace()`), `if` blocks do not.
final class Interpreter {
    enum Flow {
        case normal
        case breakLoop
        case continueLoop
    }

    /// Innermost scope last; scopes[0] holds the render's variables and top-level `set`s.
    var scopes: [[String: Value]]
    /// Guards against runaway recursion (a macro calling itself without end).
    private var depth = 0

    init(variables: [String: Value]) { scopes = [variables] }

    func lookup(_ name: String) -> Value? {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        return nil
    }

    func assign(_ name: String, _ value: Value) { scopes[scopes.count - 1][name] = value }

    func render(_ nodes: [Node]) throws -> String {
        var out = ""
        _ = try execute(nodes, into: &out)
        return out
    }

    func execute(_ nodes: [Node], into out: inout String) throws -> Flow {
        for node in nodes {
            let flow = try execute(node, into: &out)
            if case .normal = flow { continue }
            return flow
        }
        return .normal
    }

    private func execute(_ node: Node, into out: inout String) throws -> Flow {
        switch node {
        case .text(let text):
            out += text
        case .output(let expression):
            out += try evaluate(expression).pythonString
        case .ifChain(let branches, let otherwise):
            for branch in branches where try evaluate(branch.condition).isTruthy {
                return try execute(branch.body, into: &out)
            }
            return try execute(otherwise, into: &out)
        case .forLoop(let loop):
            return try executeFor(loop, into: &out)
        case .set(let names, let expression, let line):
            let value = try evaluate(expression)
            if names.count == 1 {
                assign(names[0], value)
            } else {
                guard let items = value.iterationItems(), items.count == names.count else {
                    throw TemplateError(.runtime, line: line, "cannot unpack \(value.typeName) into \(names.count) names")
                }
                for (name, item) in zip(names, items) { assign(name, item) }
            }
        case .setAttribute(let object, let attribute, let expression, let line):
            guard case .namespace(let ns) = lookup(object) ?? .undefined else {
                throw TemplateError(.runtime, line: line, "cannot assign attribute on non-namespace object '\(object)'")
            }
            if attribute.hasPrefix("_") {
                throw TemplateError(.runtime, line: line, "cannot store underscore-prefixed attribute '\(attribute)' on a namespace")
            }
            ns.attributes[attribute] = try evaluate(expression)
        case .setBlock(let name, let body, let filters):
            var value = Value.string(try capture(body))
            for filter in filters { value = try applyFilter(filter, to: value) }
            assign(name, value)
        case .macro(let macro):
            assign(macro.name, .callable(.macro(macro)))
        case .callBlock(let call, let caller, let line):
            guard case .call(let callee, let arguments, _) = call, case .callable(.macro(let macro)) = try evaluate(callee)
            else { throw TemplateError(.runtime, line: line, "a call block must call a macro") }
            out += try callMacro(macro.with(caller: caller.capturing(scopes)), arguments: try evaluate(arguments), line: line).pythonString
        case .filterBlock(let body, let filters):
            var value = Value.string(try capture(body))
            for filter in filters { value = try applyFilter(filter, to: value) }
            out += value.pythonString
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        }
        return .normal
    }

    private func capture(_ body: [Node]) throws -> String {
        var text = ""
        _ = try execute(body, into: &text)
        return text
    }

    private func executeFor(_ loop: ForLoop, into out: inout String) throws -> Flow {
        let iterable = try evaluate(loop.iterable)
        guard var items = iterable.iterationItems() else {
            throw TemplateError(.runtime, line: loop.line, "'\(iterable.typeName)' object is not iterable")
        }
        scopes.append([:])
        defer { scopes.removeLast() }
        if let condition = loop.condition {
            items = try items.filter { item in
                try bind(loop.targets, to: item, line: loop.line)
                return try evaluate(condition).isTruthy
            }
        }
        if items.isEmpty {
            _ = try execute(loop.otherwise, into: &out)
            return .normal
        }
        let count = items.count
        for (i, item) in items.enumerated() {
            // Each iteration starts from a fresh scope: a `set` in the body does not carry over to the next one.
            scopes[scopes.count - 1] = [:]
            try bind(loop.targets, to: item, line: loop.line)
            var info = OrderedObject()
            info["index"] = .int(i + 1)
            info["index0"] = .int(i)
            info["revindex"] = .int(count - i)
            info["revindex0"] = .int(count - i - 1)
            info["first"] = .bool(i == 0)
            info["last"] = .bool(i == count - 1)
            info["length"] = .int(count)
            info["previtem"] = i > 0 ? items[i - 1] : .undefined
            info["nextitem"] = i + 1 < count ? items[i + 1] : .undefined
            info["depth"] = .int(1)
            info["depth0"] = .int(0)
            assign("loop", .object(info))
            if case .breakLoop = try execute(loop.body, into: &out) { break }
        }
        return .normal
    }

    private func bind(_ targets: [String], to item: Value, line: Int) throws {
        if targets.count == 1 {
            assign(targets[0], item)
            return
        }
        guard let parts = item.iterationItems(), parts.count == targets.count else {
            throw TemplateError(.runtime, line: line, "cannot unpack \(item.typeName) into \(targets.count) loop variables")
        }
        for (name, part) in zip(targets, parts) { assign(name, part) }
    }

    func callMacro(_ macro: Macro, arguments: (positional: [Value], keyword: [(String, Value)]), line: Int) throws -> Value {
        guard depth < 200 else { throw TemplateError(.runtime, line: line, "macro recursion too deep") }
        var frame: [String: Value] = [:]
        var extraPositional: [Value] = []
        for (i, value) in arguments.positional.enumerated() {
            if i < macro.parameters.count { frame[macro.parameters[i].name] = value } else { extraPositional.append(value) }
        }
        var extraKeyword = OrderedObject()
        for (name, value) in arguments.keyword {
            if macro.parameters.contains(where: { $0.name == name }) { frame[name] = value } else { extraKeyword[name] = value }
        }
        if !extraPositional.isEmpty {
            throw TemplateError(.runtime, line: line, "macro '\(macro.name)' takes not more than \(macro.parameters.count) argument(s)")
        }
        if extraKeyword.count > 0 {
            throw TemplateError(.runtime, line: line, "macro '\(macro.name)' takes no keyword argument '\(extraKeyword.keys[0])'")
        }
        let saved = scopes
        scopes = (macro.capturedScopes ?? [scopes[0]]) + [frame]
        depth += 1
        defer {
            scopes = saved
            depth -= 1
        }
        let top = scopes.count - 1
        for parameter in macro.parameters where scopes[top][parameter.name] == nil {
            scopes[top][parameter.name] = try parameter.defaultValue.map { try evaluate($0) } ?? .undefined
        }
        if let caller = macro.caller { scopes[top]["caller"] = .callable(.macro(caller)) }
        return .string(try render(macro.body))
    }
}
