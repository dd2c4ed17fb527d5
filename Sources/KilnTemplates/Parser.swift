/// Turns the lexer's segments into a tree of statements, one `{% tag %}` at a time.
struct Parser {
    private let segments: [Lexer.Segment]
    private var index = 0
    private var lastLine = 1
    private let endLine: Int

    static func parse(_ source: String) throws -> [Node] {
        var lexer = Lexer(source: source)
        var parser = Parser(segments: try lexer.segments(), endLine: lexer.lastLine)
        let (nodes, end) = try parser.parseBody(until: [])
        if let end { throw TemplateError(.syntax, line: end.line, "Encountered unknown tag '\(end.keyword)'.") }
        return nodes
    }

    private init(segments: [Lexer.Segment], endLine: Int) {
        self.segments = segments
        self.endLine = endLine
    }

    private struct BlockEnd {
        let keyword: String
        var tokens: TokenStream
        var line: Int { tokens.line }
    }

    /// Parses nodes until a statement whose keyword is in `ends` (returned with its remaining tokens), or the end
    /// of the template (an error when `ends` is not empty).
    private mutating func parseBody(until ends: Set<String>) throws -> ([Node], BlockEnd?) {
        var nodes: [Node] = []
        while index < segments.count {
            let segment = segments[index]
            index += 1
            switch segment {
            case .text(let text):
                nodes.append(.text(text))
            case .output(let tokens, let line):
                lastLine = line
                var stream = TokenStream(tokens)
                let expression = try stream.parseTuple()
                try stream.expectEnd()
                nodes.append(.output(expression))
            case .statement(let tokens, let line):
                lastLine = line
                var stream = TokenStream(tokens)
                guard case .name(let keyword) = stream.peek.kind else {
                    throw TemplateError(.syntax, line: line, "expected a statement name after '{%'")
                }
                stream.advance()
                if ends.contains(keyword) { return (nodes, BlockEnd(keyword: keyword, tokens: stream)) }
                if keyword.hasPrefix("end") || keyword == "elif" || keyword == "else" {
                    let expected = ends.sorted().map { "'\($0)'" }.joined(separator: " or ")
                    let hint = ends.isEmpty ? "" : " Jinja was looking for the following tags: \(expected)."
                    throw TemplateError(.syntax, line: line, "Encountered unknown tag '\(keyword)'.\(hint)")
                }
                nodes.append(contentsOf: try parseStatement(keyword, &stream, line: line))
            }
        }
        if !ends.isEmpty {
            let expected = ends.sorted().map { "'\($0)'" }.joined(separator: " or ")
            throw TemplateError(
                .syntax, line: endLine,
                "Unexpected end of template. Jinja was looking for the following tags: \(expected).")
        }
        return (nodes, nil)
    }

    private mutating func parseStatement(_ keyword: String, _ stream: inout TokenStream, line: Int) throws -> [Node] {
        switch keyword {
        case "if":
            var branches: [(condition: Expression, body: [Node])] = []
            var condition = try stream.parseExpression()
            try stream.expectEnd()
            while true {
                let (body, end) = try parseBody(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                guard var end else { break }
                switch end.keyword {
                case "elif":
                    condition = try end.tokens.parseExpression()
                    try end.tokens.expectEnd()
                case "else":
                    try end.tokens.expectEnd()
                    let (otherwise, _) = try parseBody(until: ["endif"])
                    return [.ifChain(branches: branches, otherwise: otherwise)]
                default:
                    try end.tokens.expectEnd()
                    return [.ifChain(branches: branches, otherwise: [])]
                }
            }
            return [.ifChain(branches: branches, otherwise: [])]
        case "for":
            return [.forLoop(try parseFor(&stream, line: line))]
        case "set":
            return [try parseSet(&stream, line: line)]
        case "macro":
            let name = try stream.expectName()
            let parameters = try stream.parseParameters()
            try stream.expectEnd()
            let (body, _) = try parseBody(until: ["endmacro"])
            return [.macro(Macro(name: name, parameters: parameters, body: body))]
        case "call":
            let parameters = stream.peek.kind == .op("(") ? try stream.parseParameters() : []
            let call = try stream.parseExpression()
            guard case .call = call else { throw TemplateError(.syntax, line: line, "expected a macro call after 'call'") }
            try stream.expectEnd()
            let (body, _) = try parseBody(until: ["endcall"])
            return [.callBlock(call: call, caller: Macro(name: "caller", parameters: parameters, body: body), line: line)]
        case "filter":
            var filters: [FilterCall] = []
            repeat {
                filters.append(try stream.parseFilterCall(line: line))
            } while stream.skip(.op("|"))
            try stream.expectEnd()
            let (body, _) = try parseBody(until: ["endfilter"])
            return [.filterBlock(body: body, filters: filters)]
        case "generation":
            // transformers' assistant-mask extension: the body renders as is.
            try stream.expectEnd()
            let (body, _) = try parseBody(until: ["endgeneration"])
            return body
        case "break":
            try stream.expectEnd()
            return [.breakLoop(line: line)]
        case "continue":
            try stream.expectEnd()
            return [.continueLoop(line: line)]
        default:
            throw TemplateError(.syntax, line: line, "Encountered unknown tag '\(keyword)'.")
        }
    }

    private mutating func parseFor(_ stream: inout TokenStream, line: Int) throws -> ForLoop {
        var targets: [String] = []
        let parenthesized = stream.skip(.op("("))
        repeat {
            targets.append(try stream.expectName())
        } while stream.skip(.op(","))
        if parenthesized { try stream.expect(.op(")")) }
        guard stream.skip(.name("in")) else { throw TemplateError(.syntax, line: line, "expected 'in' in for loop") }
        let iterable = try stream.parseTuple(allowConditional: false)
        var condition: Expression? = nil
        if stream.skip(.name("if")) { condition = try stream.parseExpression() }
        if stream.skip(.name("recursive")) {
            throw TemplateError(.syntax, line: line, "recursive for loops are not supported")
        }
        try stream.expectEnd()
        let (body, end) = try parseBody(until: ["else", "endfor"])
        var otherwise: [Node] = []
        if var end, end.keyword == "else" {
            try end.tokens.expectEnd()
            otherwise = try parseBody(until: ["endfor"]).0
        } else if var end {
            try end.tokens.expectEnd()
        }
        return ForLoop(targets: targets, iterable: iterable, condition: condition, body: body, otherwise: otherwise, line: line)
    }

    private mutating func parseSet(_ stream: inout TokenStream, line: Int) throws -> Node {
        let first = try stream.expectName()
        if stream.skip(.op(".")) {
            let attribute = try stream.expectName()
            try stream.expect(.op("="))
            let value = try stream.parseTuple()
            try stream.expectEnd()
            return .setAttribute(object: first, attribute: attribute, value: value, line: line)
        }
        var names = [first]
        while stream.skip(.op(",")) { names.append(try stream.expectName()) }
        if stream.skip(.op("=")) {
            let value = try stream.parseTuple()
            try stream.expectEnd()
            return .set(names: names, value: value, line: line)
        }
        guard names.count == 1 else { throw TemplateError(.syntax, line: line, "expected '=' in set statement") }
        var filters: [FilterCall] = []
        while stream.skip(.op("|")) { filters.append(try stream.parseFilterCall(line: line)) }
        try stream.expectEnd()
        let (body, _) = try parseBody(until: ["endset"])
        return .setBlock(name: first, body: body, filters: filters)
    }
}
