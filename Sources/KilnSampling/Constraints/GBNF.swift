/// GBNF, the grammar notation of llama.cpp (grammars/README.md there), parsed into a `GrammarBuilder`.
///
/// `name ::= alternatives` defines a rule; `root` is where matching starts. Items: `"literal"` (escapes `\n \t \r
/// \\ \" \xHH \uHHHH \UHHHHHHHH`), character classes `[a-z]` `[^"\\]`, `.` (any character), rule names, groups
/// `( … )`, and the postfix operators `* + ? {m} {m,} {m,n}`. `#` starts a comment. Kiln is a little more lenient
/// than llama.cpp about line breaks: a rule ends where the next `name ::=` begins. Left recursion is rejected.
struct GBNFParser {
    private let scalars: [Unicode.Scalar]
    private var position = 0
    private var builder = GrammarBuilder()
    private var ruleIDs: [String: Int] = [:]
    private var defined: Set<String> = []

    static func parse(_ text: String) throws(ConstraintError) -> GrammarBuilder {
        var parser = GBNFParser(scalars: Array(text.unicodeScalars))
        _ = parser.rule("root")
        parser.skipSpace()
        while parser.position < parser.scalars.count {
            let name = parser.name()
            guard !name.isEmpty else { throw parser.failure("expected a rule name") }
            parser.skipSpace()
            guard parser.consume("::=") else { throw parser.failure("expected '::=' after '\(name)'") }
            guard parser.defined.insert(name).inserted else { throw .invalidGrammar("rule '\(name)' is defined twice") }
            let body = try parser.alternatives()
            parser.builder.define(parser.rule(name), body)
            parser.skipSpace()
        }
        for (name, _) in parser.ruleIDs where !parser.defined.contains(name) {
            throw .invalidGrammar(name == "root" ? "the grammar has no 'root' rule" : "rule '\(name)' is not defined")
        }
        return parser.builder
    }

    private init(scalars: [Unicode.Scalar]) { self.scalars = scalars }

    private func failure(_ what: String) -> ConstraintError {
        var line = 1
        for s in scalars[..<min(position, scalars.count)] where s == "\n" { line += 1 }
        return .invalidGrammar("\(what) (line \(line))")
    }

    private var peek: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

    private mutating func rule(_ name: String) -> Int {
        if let id = ruleIDs[name] { return id }
        let id = builder.declare(name)
        ruleIDs[name] = id
        return id
    }

    private mutating func skipSpace() {
        while let c = peek {
            if c == "#" {
                while let d = peek, d != "\n" { position += 1 }
            } else if c == " " || c == "\t" || c == "\n" || c == "\r" {
                position += 1
            } else {
                return
            }
        }
    }

    private mutating func consume(_ text: String) -> Bool {
        let t = Array(text.unicodeScalars)
        guard position + t.count <= scalars.count, Array(scalars[position..<(position + t.count)]) == t else {
            return false
        }
        position += t.count
        return true
    }

    private static func isNameScalar(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "-" || c == "_"
    }

    private mutating func name() -> String {
        var s = ""
        while let c = peek, Self.isNameScalar(c) {
            s.unicodeScalars.append(c)
            position += 1
        }
        return s
    }

    /// True when the text at the cursor is `name ::=` (the start of the next rule).
    private func atRuleStart() -> Bool {
        var p = position
        guard p < scalars.count, Self.isNameScalar(scalars[p]) else { return false }
        while p < scalars.count, Self.isNameScalar(scalars[p]) { p += 1 }
        while p < scalars.count, scalars[p] == " " || scalars[p] == "\t" || scalars[p] == "\n" || scalars[p] == "\r" {
            p += 1
        }
        return p + 3 <= scalars.count && scalars[p] == ":" && scalars[p + 1] == ":" && scalars[p + 2] == "="
    }

    private mutating func alternatives() throws(ConstraintError) -> GrammarExpression {
        var options = [try sequence()]
        while peek == "|" {
            position += 1
            options.append(try sequence())
        }
        return options.count == 1 ? options[0] : .choice(options)
    }

    private mutating func sequence() throws(ConstraintError) -> GrammarExpression {
        var parts: [GrammarExpression] = []
        while true {
            skipSpace()
            guard let c = peek, c != "|", c != ")", !atRuleStart() else { break }
            var item = try self.item()
            while true {
                guard let q = peek else { break }
                if q == "*" {
                    item = .star(item)
                } else if q == "+" {
                    item = .repeated(item, min: 1, max: nil)
                } else if q == "?" {
                    item = .optional(item)
                } else if q == "{" {
                    position += 1
                    skipSpace()
                    guard let lo = number() else { throw failure("expected a number after '{'") }
                    skipSpace()
                    var hi: Int? = lo
                    if peek == "," {
                        position += 1
                        skipSpace()
                        hi = number()
                        skipSpace()
                    }
                    guard peek == "}" else { throw failure("expected '}'") }
                    item = .repeated(item, min: lo, max: hi)
                } else {
                    break
                }
                position += 1
            }
            parts.append(item)
        }
        return parts.count == 1 ? parts[0] : .sequence(parts)
    }

    private mutating func number() -> Int? {
        var digits = ""
        while let c = peek, ("0"..."9").contains(c), digits.count < 9 {
            digits.unicodeScalars.append(c)
            position += 1
        }
        return Int(digits)
    }

    private mutating func item() throws(ConstraintError) -> GrammarExpression {
        guard let c = peek else { throw failure("unexpected end") }
        switch c {
        case "\"":
            position += 1
            var parts: [GrammarExpression] = []
            while true {
                guard let d = peek, d != "\n" else { throw failure("unterminated string") }
                position += 1
                if d == "\"" { break }
                let v = d == "\\" ? try escape() : d.value
                parts.append(.scalars([v...v]))
            }
            return .sequence(parts)
        case "[":
            position += 1
            var negated = false
            if peek == "^" {
                negated = true
                position += 1
            }
            var ranges: [ClosedRange<UInt32>] = []
            while true {
                guard let d = peek else { throw failure("unterminated character class") }
                position += 1
                if d == "]" { break }
                let low = d == "\\" ? try escape() : d.value
                var high = low
                if peek == "-", position + 1 < scalars.count, scalars[position + 1] != "]" {
                    position += 1
                    let e = scalars[position]
                    position += 1
                    high = e == "\\" ? try escape() : e.value
                    guard high >= low else { throw failure("bad range in character class") }
                }
                ranges.append(low...high)
            }
            return .scalars(negated ? RegexParser.complement(ranges) : RegexParser.normalize(ranges))
        case "(":
            position += 1
            let inner = try alternatives()
            skipSpace()
            guard peek == ")" else { throw failure("expected ')'") }
            position += 1
            return inner
        case ".":
            position += 1
            return .scalars([0...0x10FFFF])
        default:
            let n = name()
            guard !n.isEmpty else { throw failure("unexpected '\(c)'") }
            return .rule(rule(n))
        }
    }

    private mutating func escape() throws(ConstraintError) -> UInt32 {
        guard let c = peek else { throw failure("trailing backslash") }
        position += 1
        func hex(_ n: Int) throws(ConstraintError) -> UInt32 {
            guard position + n <= scalars.count else { throw failure("short escape") }
            var s = ""
            for x in scalars[position..<(position + n)] { s.unicodeScalars.append(x) }
            position += n
            guard let v = UInt32(s, radix: 16) else { throw failure("bad hex escape") }
            return v
        }
        switch c {
        case "n": return 10
        case "t": return 9
        case "r": return 13
        case "x": return try hex(2)
        case "u": return try hex(4)
        case "U": return try hex(8)
        default: return c.value
        }
    }
}
