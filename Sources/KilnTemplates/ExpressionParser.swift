/// A recursive-descent parser for Jinja2 expressions, with Jinja2's precedence (loosest first):
/// inline `if`/`else` → `or` → `and` → `not` → comparisons and `in` → `+ -` → `~` → `* / // %` → `**` →
/// unary `- +` → primary with `.attr`, `[index]`, `(call)`, then `|filter` and `is test`.
struct TokenStream {
    private let tokens: [Token]
    private var index = 0

    init(_ tokens: [Token]) { self.tokens = tokens }

    var peek: Token { tokens[index] }
    var line: Int { tokens[index].line }

    private func peek(_ offset: Int) -> Token { tokens[min(index + offset, tokens.count - 1)] }

    mutating func advance() { if index < tokens.count - 1 { index += 1 } }

    mutating func skip(_ kind: Token.Kind) -> Bool {
        guard peek.kind == kind else { return false }
        advance()
        return true
    }

    private func describe(_ kind: Token.Kind) -> String {
        switch kind {
        case .name(let n): "'\(n)'"
        case .string(let s): "string '\(s)'"
        case .int(let i): "integer \(i)"
        case .double(let d): "float \(d)"
        case .op(let o): "'\(o)'"
        case .end: "end of statement"
        }
    }

    func error(_ message: String) -> TemplateError { TemplateError(.syntax, line: line, message) }

    mutating func expect(_ kind: Token.Kind) throws {
        guard skip(kind) else { throw error("expected \(describe(kind)), got \(describe(peek.kind))") }
    }

    mutating func expectEnd() throws {
        guard peek.kind == .end else { throw error("expected end of statement, got \(describe(peek.kind))") }
    }

    mutating func expectName() throws -> String {
        guard case .name(let name) = peek.kind else { throw error("expected a name, got \(describe(peek.kind))") }
        advance()
        return name
    }

    /// An expression, or several separated by commas (a tuple), as `{{ }}` and `set` accept.
    mutating func parseTuple(allowConditional: Bool = true) throws -> Expression {
        let first = allowConditional ? try parseExpression() : try parseOr()
        guard peek.kind == .op(",") else { return first }
        var items = [first]
        while skip(.op(",")) {
            if case .end = peek.kind { break }
            if case .name(let n) = peek.kind, n == "if" || n == "recursive" { break }
            items.append(allowConditional ? try parseExpression() : try parseOr())
        }
        return .tuple(items)
    }

    mutating func parseExpression() throws -> Expression {
        let value = try parseOr()
        guard skip(.name("if")) else { return value }
        let condition = try parseOr()
        let otherwise = skip(.name("else")) ? try parseExpression() : nil
        return .conditional(then: value, condition: condition, otherwise: otherwise)
    }

    private mutating func parseOr() throws -> Expression {
        var left = try parseAnd()
        while skip(.name("or")) { left = .or(left, try parseAnd()) }
        return left
    }

    private mutating func parseAnd() throws -> Expression {
        var left = try parseNot()
        while skip(.name("and")) { left = .and(left, try parseNot()) }
        return left
    }

    private mutating func parseNot() throws -> Expression {
        if skip(.name("not")) { return .not(try parseNot()) }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expression {
        let line = self.line
        let left = try parseMath1()
        var chain: [(op: String, operand: Expression)] = []
        while true {
            if case .op(let o) = peek.kind, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                advance()
                chain.append((o, try parseMath1()))
            } else if skip(.name("in")) {
                chain.append(("in", try parseMath1()))
            } else if peek.kind == .name("not"), peek(1).kind == .name("in") {
                advance()
                advance()
                chain.append(("not in", try parseMath1()))
            } else {
                break
            }
        }
        return chain.isEmpty ? left : .compare(left, chain, line: line)
    }

    private mutating func parseBinary(_ ops: [String], next: (inout TokenStream) throws -> Expression) throws -> Expression {
        var left = try next(&self)
        while case .op(let o) = peek.kind, ops.contains(o) {
            let line = self.line
            advance()
            left = .binary(o, left, try next(&self), line: line)
        }
        return left
    }

    private mutating func parseMath1() throws -> Expression { try parseBinary(["+", "-"]) { try $0.parseConcat() } }
    private mutating func parseConcat() throws -> Expression { try parseBinary(["~"]) { try $0.parseMath2() } }
    private mutating func parseMath2() throws -> Expression {
        try parseBinary(["*", "/", "//", "%"]) { try $0.parsePow() }
    }
    private mutating func parsePow() throws -> Expression { try parseBinary(["**"]) { try $0.parseUnary(withFilters: true) } }

    private mutating func parseUnary(withFilters: Bool) throws -> Expression {
        let line = self.line
        var node: Expression
        if skip(.op("-")) {
            node = .negate(try parseUnary(withFilters: false), line: line)
        } else if skip(.op("+")) {
            node = try parseUnary(withFilters: false)
        } else {
            node = try parsePostfix(try parsePrimary())
        }
        return withFilters ? try parseFiltersAndTests(node) : node
    }

    private mutating func parsePrimary() throws -> Expression {
        let token = peek
        switch token.kind {
        case .name(let name):
            advance()
            switch name {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(name, line: token.line)
            }
        case .string(var text):
            advance()
            while case .string(let more) = peek.kind {
                text += more
                advance()
            }
            return .literal(.string(text))
        case .int(let i):
            advance()
            return .literal(.int(i))
        case .double(let d):
            advance()
            return .literal(.double(d))
        case .op("("):
            advance()
            if skip(.op(")")) { return .tuple([]) }
            let inner = try parseTuple()
            try expect(.op(")"))
            return inner
        case .op("["):
            advance()
            var items: [Expression] = []
            while peek.kind != .op("]") {
                items.append(try parseExpression())
                if !skip(.op(",")) { break }
            }
            try expect(.op("]"))
            return .list(items)
        case .op("{"):
            advance()
            var pairs: [(key: Expression, value: Expression)] = []
            while peek.kind != .op("}") {
                let key = try parseExpression()
                try expect(.op(":"))
                pairs.append((key, try parseExpression()))
                if !skip(.op(",")) { break }
            }
            try expect(.op("}"))
            return .dict(pairs)
        default:
            throw error("unexpected \(describe(token.kind))")
        }
    }

    private mutating func parsePostfix(_ base: Expression) throws -> Expression {
        var node = base
        while true {
            let line = self.line
            if skip(.op(".")) {
                switch peek.kind {
                case .name(let name):
                    advance()
                    node = .attribute(node, name, line: line)
                case .int(let i):
                    advance()
                    node = .subscript(node, .literal(.int(i)), line: line)
                default: throw error("expected an attribute name after '.'")
                }
            } else if skip(.op("[")) {
                node = try parseSubscript(node, line: line)
            } else if peek.kind == .op("(") {
                node = .call(node, try parseArguments(), line: line)
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ base: Expression, line: Int) throws -> Expression {
        var parts: [Expression?] = []
        var current: Expression? = nil
        var sawColon = false
        while peek.kind != .op("]") {
            if skip(.op(":")) {
                parts.append(current)
                current = nil
                sawColon = true
            } else {
                guard current == nil else { throw error("expected ']' or ':'") }
                current = try parseExpression()
            }
        }
        advance()
        if !sawColon {
            guard let current else { throw error("expected an index inside '[]'") }
            return .subscript(base, current, line: line)
        }
        parts.append(current)
        guard parts.count <= 3 else { throw error("a slice takes at most three parts") }
        return .slice(
            base, start: parts[0], stop: parts.count > 1 ? parts[1] : nil, step: parts.count > 2 ? parts[2] : nil,
            line: line)
    }

    mutating func parseArguments() throws -> Arguments {
        try expect(.op("("))
        var arguments = Arguments()
        while peek.kind != .op(")") {
            if case .name(let name) = peek.kind, peek(1).kind == .op("=") {
                advance()
                advance()
                arguments.keyword.append((name, try parseExpression()))
            } else {
                guard arguments.keyword.isEmpty else { throw error("positional argument after keyword argument") }
                arguments.positional.append(try parseExpression())
            }
            if !skip(.op(",")) { break }
        }
        try expect(.op(")"))
        return arguments
    }

    /// `(a, b='x')` of a macro or call block.
    mutating func parseParameters() throws -> [(name: String, defaultValue: Expression?)] {
        try expect(.op("("))
        var parameters: [(name: String, defaultValue: Expression?)] = []
        while peek.kind != .op(")") {
            let name = try expectName()
            parameters.append((name, skip(.op("=")) ? try parseExpression() : nil))
            if !skip(.op(",")) { break }
        }
        try expect(.op(")"))
        return parameters
    }

    mutating func parseFilterCall(line: Int) throws -> FilterCall {
        var name = try expectName()
        while skip(.op(".")) { name += "." + (try expectName()) }
        guard Filters.names.contains(name) else { throw error("No filter named '\(name)'.") }
        let arguments = peek.kind == .op("(") ? try parseArguments() : Arguments()
        return FilterCall(name: name, arguments: arguments, line: line)
    }

    private mutating func parseFiltersAndTests(_ base: Expression) throws -> Expression {
        var node = base
        while true {
            let line = self.line
            if skip(.op("|")) {
                node = .filter(node, try parseFilterCall(line: line))
            } else if skip(.name("is")) {
                let negated = skip(.name("not"))
                var name: String
                switch peek.kind {
                case .name(let n): name = n
                case .op("=="): name = "=="
                default: throw error("expected a test name after 'is'")
                }
                advance()
                if name == "none" || name == "true" || name == "false" { name = name.lowercased() }
                guard Predicates.names.contains(name) else { throw error("No test named '\(name)'.") }
                var arguments = Arguments()
                if peek.kind == .op("(") {
                    arguments = try parseArguments()
                } else if startsPrimary(peek.kind) {
                    arguments.positional = [try parsePostfix(try parsePrimary())]
                }
                node = .test(node, name: name, arguments: arguments, negated: negated, line: line)
            } else if peek.kind == .op("(") {
                node = .call(node, try parseArguments(), line: line)
            } else {
                return node
            }
        }
    }

    /// Whether a test may take this token as its single bare argument (`x is divisibleby 3`, `x is sameas none`).
    private func startsPrimary(_ kind: Token.Kind) -> Bool {
        switch kind {
        case .string, .int, .double, .op("["), .op("{"): return true
        case .name(let n): return !["and", "or", "else", "if", "in", "is", "not", "recursive"].contains(n)
        default: return false
        }
    }
}
