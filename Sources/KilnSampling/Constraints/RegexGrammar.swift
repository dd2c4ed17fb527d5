/// A regular-expression parser for constraints, producing a `GrammarExpression` over UTF-8 bytes.
///
/// The subset is what JSON-schema patterns and TGI regex grammars use: literals, `.`, classes `[a-z]` `[^…]` with
/// the escapes `\d \w \s \D \W \S`, `\t \n \r \f \v \0 \xHH \uHHHH \u{H…}` and escaped punctuation, groups `(…)`
/// `(?:…)` `(?<name>…)`, alternation, and the quantifiers `* + ? {m} {m,} {m,n}` (lazy and possessive suffixes are
/// accepted and mean the same: a constraint is a set of strings). The whole text must match: `^` at the start and
/// `$` at the end are accepted and change nothing. Backreferences, lookaround and `\b` are rejected by name.
struct RegexParser {
    private let scalars: [Unicode.Scalar]
    private var position = 0
    private let source: String
    /// Inside a JSON string: `"`, `\` and control characters are written as JSON escapes.
    private let jsonString: Bool

    init(_ pattern: String, jsonString: Bool = false) {
        scalars = Array(pattern.unicodeScalars)
        source = pattern
        self.jsonString = jsonString
    }

    static func parse(_ pattern: String, jsonString: Bool = false) throws(ConstraintError) -> GrammarExpression {
        var parser = RegexParser(pattern, jsonString: jsonString)
        if parser.peek == "^" { parser.position += 1 }
        let e = try parser.alternation()
        if parser.peek == "$", parser.position == parser.scalars.count - 1 { parser.position += 1 }
        guard parser.position == parser.scalars.count else { throw parser.failure("unexpected '\(parser.peek!)'") }
        return e
    }

    private var peek: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

    private func failure(_ what: String) -> ConstraintError {
        .invalidRegex("\(what) at offset \(position) in /\(source)/")
    }

    private mutating func alternation() throws(ConstraintError) -> GrammarExpression {
        var options = [try concatenation()]
        while peek == "|" {
            position += 1
            options.append(try concatenation())
        }
        return options.count == 1 ? options[0] : .choice(options)
    }

    private mutating func concatenation() throws(ConstraintError) -> GrammarExpression {
        var parts: [GrammarExpression] = []
        while let c = peek, c != "|", c != ")" {
            if c == "$", position == scalars.count - 1 { break }
            var atom = try self.atom()
            while let q = peek, "*+?{".unicodeScalars.contains(q) {
                guard let (lo, hi) = try quantifier() else { break }
                atom = .repeated(atom, min: lo, max: hi)
                if let s = peek, s == "?" || s == "+" { position += 1 }
            }
            parts.append(atom)
        }
        return parts.count == 1 ? parts[0] : .sequence(parts)
    }

    /// nil when `{` does not start a valid counted repetition (then it is a literal, as in most engines).
    private mutating func quantifier() throws(ConstraintError) -> (Int, Int?)? {
        let c = scalars[position]
        switch c {
        case "*": position += 1; return (0, nil)
        case "+": position += 1; return (1, nil)
        case "?": position += 1; return (0, 1)
        default:
            let saved = position
            position += 1
            guard let lo = number() else {
                position = saved
                return nil
            }
            var hi: Int? = lo
            if peek == "," {
                position += 1
                hi = number()
            }
            guard peek == "}" else {
                position = saved
                return nil
            }
            position += 1
            if let hi, hi < lo { throw failure("repetition {\(lo),\(hi)} has max < min") }
            return (lo, hi)
        }
    }

    private mutating func number() -> Int? {
        var digits = ""
        while let c = peek, ("0"..."9").contains(c), digits.count < 9 {
            digits.unicodeScalars.append(c)
            position += 1
        }
        return Int(digits)
    }

    private mutating func atom() throws(ConstraintError) -> GrammarExpression {
        guard let c = peek else { throw failure("unexpected end") }
        position += 1
        switch c {
        case "(":
            if peek == "?" {
                position += 1
                if peek == ":" {
                    position += 1
                } else if peek == "<" || peek == "P" {
                    if peek == "P" { position += 1 }
                    guard peek == "<" else { throw failure("unsupported group syntax") }
                    while let s = peek, s != ">" { position += 1 }
                    guard peek == ">" else { throw failure("unterminated group name") }
                    position += 1
                } else {
                    throw .unsupported("regex lookaround or inline flags (?…) in /\(source)/")
                }
            }
            let inner = try alternation()
            guard peek == ")" else { throw failure("missing ')'") }
            position += 1
            return inner
        case "[": return try characters(try classBody())
        case ".": return characters([0...9, 11...0x10FFFF])
        case "\\": return try characters(try escape(inClass: false))
        case "*", "+", "?": throw failure("quantifier '\(c)' with nothing to repeat")
        case "^", "$": throw .unsupported("anchor '\(c)' inside a regex (the whole text always matches)")
        default: return characters([c.value...c.value])
        }
    }

    /// After `[`: the class's scalar ranges, complemented for `[^`.
    private mutating func classBody() throws(ConstraintError) -> [ClosedRange<UInt32>] {
        var negated = false
        if peek == "^" {
            negated = true
            position += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while true {
            guard let c = peek else { throw failure("missing ']'") }
            if c == "]" && !first { break }
            first = false
            position += 1
            var low: [ClosedRange<UInt32>]
            if c == "\\" {
                low = try escape(inClass: true)
            } else if c == "[", peek == ":" {
                throw .unsupported("POSIX class [:…:] in /\(source)/")
            } else {
                low = [c.value...c.value]
            }
            if low.count == 1, low[0].count == 1, peek == "-", position + 1 < scalars.count,
                scalars[position + 1] != "]"
            {
                position += 1
                let d = scalars[position]
                position += 1
                var high: [ClosedRange<UInt32>] = [d.value...d.value]
                if d == "\\" { high = try escape(inClass: true) }
                guard high.count == 1, high[0].count == 1, high[0].lowerBound >= low[0].lowerBound else {
                    throw failure("bad class range")
                }
                low = [low[0].lowerBound...high[0].lowerBound]
            }
            ranges += low
        }
        position += 1
        return negated ? Self.complement(ranges) : ranges
    }

    private mutating func escape(inClass: Bool) throws(ConstraintError) -> [ClosedRange<UInt32>] {
        guard let c = peek else { throw failure("trailing backslash") }
        position += 1
        switch c {
        case "d": return Self.digit
        case "D": return Self.complement(Self.digit)
        case "w": return Self.word
        case "W": return Self.complement(Self.word)
        case "s": return Self.space
        case "S": return Self.complement(Self.space)
        case "t": return [9...9]
        case "n": return [10...10]
        case "r": return [13...13]
        case "f": return [12...12]
        case "v": return [11...11]
        case "0": return [0...0]
        case "x": return try hexScalar(count: 2)
        case "u":
            if peek == "{" {
                position += 1
                var digits = ""
                while let s = peek, s != "}" {
                    digits.unicodeScalars.append(s)
                    position += 1
                }
                position += 1
                guard let v = UInt32(digits, radix: 16), v <= 0x10FFFF else { throw failure("bad \\u{…} escape") }
                return [v...v]
            }
            return try hexScalar(count: 4)
        case "b" where inClass: return [8...8]
        case "b", "B", "A", "z", "Z", "G": throw .unsupported("regex assertion \\\(c) in /\(source)/")
        case "1"..."9", "k": throw .unsupported("regex backreference \\\(c) in /\(source)/")
        case "p", "P": throw .unsupported("regex Unicode property \\\(c) in /\(source)/")
        default:
            if ("a"..."z").contains(c) || ("A"..."Z").contains(c) { throw failure("unknown escape \\\(c)") }
            return [c.value...c.value]
        }
    }

    private mutating func hexScalar(count: Int) throws(ConstraintError) -> [ClosedRange<UInt32>] {
        guard position + count <= scalars.count else { throw failure("short hex escape") }
        var digits = ""
        for s in scalars[position..<(position + count)] { digits.unicodeScalars.append(s) }
        guard let v = UInt32(digits, radix: 16) else { throw failure("bad hex escape") }
        position += count
        return [v...v]
    }

    static let digit: [ClosedRange<UInt32>] = [0x30...0x39]
    static let word: [ClosedRange<UInt32>] = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
    static let space: [ClosedRange<UInt32>] = [9...13, 32...32]

    static func normalize(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, r.lowerBound <= last.upperBound &+ 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }

    static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for r in normalize(ranges) {
            if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
            next = r.upperBound + 1
        }
        if next <= 0x10FFFF { out.append(next...0x10FFFF) }
        return out
    }

    private func characters(_ ranges: [ClosedRange<UInt32>]) -> GrammarExpression {
        jsonString ? Self.jsonCharacters(ranges) : .scalars(Self.normalize(ranges))
    }

    /// Scalars as they are written inside a JSON string: raw where JSON allows, escaped otherwise.
    static func jsonCharacters(_ ranges: [ClosedRange<UInt32>]) -> GrammarExpression {
        let normalized = normalize(ranges)
        var raw: [ClosedRange<UInt32>] = []
        var escaped: [GrammarExpression] = []
        for r in normalized {
            for piece in [r.clamped(to: 0x20...0x21), r.clamped(to: 0x23...0x5B), r.clamped(to: 0x5D...0x10FFFF)]
            where r.overlaps(piece) {
                raw.append(piece)
            }
            for v in [UInt32(0x22), 0x5C] + Array(0...0x1F) where r.contains(v) {
                escaped.append(.literal(jsonEscape(v)))
            }
        }
        var options: [GrammarExpression] = []
        if !raw.isEmpty { options.append(.scalars(raw)) }
        options += escaped
        return options.count == 1 ? options[0] : .choice(options)
    }

    static func jsonEscape(_ v: UInt32) -> String {
        switch v {
        case 0x22: return "\\\""
        case 0x5C: return "\\\\"
        case 0x0A: return "\\n"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        case 0x08: return "\\b"
        case 0x0C: return "\\f"
        default:
            let hex = String(v, radix: 16)
            return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        }
    }
}
