/// Parsing a split pattern into a tree (compiled by RegexCompiler.swift).
indirect enum RegexNode: Sendable {
    case set(ScalarSet)
    case sequence([RegexNode])
    case alternation([RegexNode])
    case repeated(RegexNode, min: Int, max: Int?, mode: RepeatMode)
    case assert(Regex.Anchor)
    case lookahead(RegexNode, negated: Bool)
    case atomic(RegexNode)

    enum RepeatMode: Sendable { case greedy, lazy, possessive }
}

struct RegexParser {
    private let scalars: [Unicode.Scalar]
    private let source: String
    private var i = 0

    init(_ scalars: [Unicode.Scalar], source: String) {
        self.scalars = scalars
        self.source = source
    }

    private func fail(_ why: String) -> TokenizerError {
        .unsupported("split regex \(source.debugDescription): \(why) at character \(i)")
    }

    private var atEnd: Bool { i >= scalars.count }
    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        i + offset < scalars.count ? scalars[i + offset] : nil
    }

    mutating func parseAll() throws(TokenizerError) -> RegexNode {
        let node = try parseAlternation(caseInsensitive: false)
        guard atEnd else { throw fail("unbalanced ')'") }
        return node
    }

    private mutating func parseAlternation(caseInsensitive: Bool) throws(TokenizerError) -> RegexNode {
        var branches = [try parseSequence(caseInsensitive: caseInsensitive)]
        while peek() == "|" {
            i += 1
            branches.append(try parseSequence(caseInsensitive: caseInsensitive))
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func parseSequence(caseInsensitive: Bool) throws(TokenizerError) -> RegexNode {
        var items: [RegexNode] = []
        var ci = caseInsensitive
        while let c = peek(), c != "|", c != ")" {
            // `(?i)` switches case-insensitivity on for the rest of the enclosing group.
            if c == "(", peek(1) == "?", peek(2) == "i", peek(3) == ")" {
                i += 4
                ci = true
                continue
            }
            var atom = try parseAtom(caseInsensitive: ci)
            atom = try parseQuantifier(atom)
            items.append(atom)
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    private mutating func parseQuantifier(_ atom: RegexNode) throws(TokenizerError) -> RegexNode {
        var node = atom
        while let c = peek() {
            var bounds: (Int, Int?)
            switch c {
            case "*": bounds = (0, nil)
            case "+": bounds = (1, nil)
            case "?": bounds = (0, 1)
            case "{":
                guard let parsed = parseBraces() else { return node }
                bounds = parsed
                i -= 1  // parseBraces left `i` past '}'; the shared `i += 1` below re-advances
            default: return node
            }
            i += 1
            var mode = RegexNode.RepeatMode.greedy
            if peek() == "?" {
                mode = .lazy
                i += 1
            } else if peek() == "+" {
                mode = .possessive
                i += 1
            }
            node = .repeated(node, min: bounds.0, max: bounds.1, mode: mode)
        }
        return node
    }

    /// `{n}`, `{n,}`, `{n,m}`; nil (and `i` unchanged) if the brace is a literal.
    private mutating func parseBraces() -> (Int, Int?)? {
        var j = i + 1
        func number() -> Int? {
            var value: Int?
            while j < scalars.count,
                let d = scalars[j].properties.numericType == .decimal ? Int(String(scalars[j])) : nil
            {
                value = (value ?? 0) * 10 + d
                j += 1
            }
            return value
        }
        guard let low = number() else { return nil }
        var high: Int? = low
        if j < scalars.count && scalars[j] == "," {
            j += 1
            high = number()
        }
        guard j < scalars.count && scalars[j] == "}" else { return nil }
        i = j + 1
        return (low, high)
    }

    private mutating func parseAtom(caseInsensitive ci: Bool) throws(TokenizerError) -> RegexNode {
        guard let c = peek() else { throw fail("unexpected end") }
        i += 1
        switch c {
        case "(":
            var inner = ci
            var kind = 0  // 0 group, 1 lookahead, 2 negative lookahead, 3 atomic
            if peek() == "?" {
                i += 1
                switch peek() {
                case ":": i += 1
                case "=": kind = 1; i += 1
                case "!": kind = 2; i += 1
                case ">": kind = 3; i += 1
                case "i" where peek(1) == ":": inner = true; i += 2
                default: throw fail("group kind '(?\(peek().map(String.init) ?? "")' is not supported")
                }
            }
            let body = try parseAlternation(caseInsensitive: inner)
            guard peek() == ")" else { throw fail("missing ')'") }
            i += 1
            switch kind {
            case 1: return .lookahead(body, negated: false)
            case 2: return .lookahead(body, negated: true)
            case 3: return .atomic(body)
            default: return body
            }
        case "[": return .set(try parseClass(caseInsensitive: ci))
        case ".": return .set(Self.finished(ScalarSet(items: [.category(.notNewline)])))
        case "^": return .assert(.lineStart)
        case "$": return .assert(.lineEnd)
        case "\\":
            if let anchor = parseAnchorEscape() { return .assert(anchor) }
            return .set(try parseEscape(caseInsensitive: ci))
        default:
            return .set(Self.literal(c.value, ci))
        }
    }

    private mutating func parseAnchorEscape() -> Regex.Anchor? {
        let anchors: [Unicode.Scalar: Regex.Anchor] = [
            "A": .textStart, "z": .textEnd, "Z": .textEndBeforeNewline, "b": .wordBoundary, "B": .notWordBoundary,
        ]
        guard let c = peek(), let anchor = anchors[c] else { return nil }
        i += 1
        return anchor
    }

    /// After a backslash: a class escape or an escaped literal.
    private mutating func parseEscape(caseInsensitive ci: Bool) throws(TokenizerError) -> ScalarSet {
        guard let c = peek() else { throw fail("pattern ends in '\\'") }
        i += 1
        var set = ScalarSet()
        switch c {
        case "s", "S": set.items = [.category(.whitespace)]; set.negated = c == "S"
        case "d", "D": set.items = [.category(.digit)]; set.negated = c == "D"
        case "w", "W": set.items = [.category(.word)]; set.negated = c == "W"
        case "p", "P":
            var name = ""
            if peek() == "{" {
                i += 1
                while let n = peek(), n != "}" {
                    name.unicodeScalars.append(n)
                    i += 1
                }
                i += 1
            } else if let n = peek() {
                name = String(n)
                i += 1
            }
            var negated = c == "P"
            if name.hasPrefix("^") {
                negated.toggle()
                name.removeFirst()
            }
            guard let cls = UnicodeClass.named(name) else { throw fail("Unicode class \\p{\(name)} is not supported") }
            set.items = [.category(cls)]
            set.negated = negated
        default:
            return Self.literal(try escapedScalar(c), ci)
        }
        return Self.finished(set)
    }

    /// The scalar an escape such as `\n`, `\x{41}`, `\u0041` or `\.` stands for.
    private mutating func escapedScalar(_ c: Unicode.Scalar) throws(TokenizerError) -> UInt32 {
        switch c {
        case "n": return 0x0A
        case "r": return 0x0D
        case "t": return 0x09
        case "f": return 0x0C
        case "v": return 0x0B
        case "a": return 0x07
        case "e": return 0x1B
        case "0": return 0
        case "x", "u":
            var digits = ""
            if peek() == "{" {
                i += 1
                while let d = peek(), d != "}" {
                    digits.unicodeScalars.append(d)
                    i += 1
                }
                i += 1
            } else {
                let width = c == "x" ? 2 : 4
                for _ in 0..<width {
                    guard let d = peek() else { break }
                    digits.unicodeScalars.append(d)
                    i += 1
                }
            }
            guard let value = UInt32(digits, radix: 16) else { throw fail("bad hexadecimal escape") }
            return value
        default:
            if c.properties.isAlphabetic || c.properties.numericType != nil {
                throw fail("escape '\\\(c)' is not supported")
            }
            return c.value
        }
    }

    private mutating func parseClass(caseInsensitive ci: Bool) throws(TokenizerError) -> ScalarSet {
        var set = ScalarSet()
        set.caseInsensitive = ci
        if peek() == "^" {
            set.negated = true
            i += 1
        }
        var first = true
        while true {
            guard let c = peek() else { throw fail("missing ']'") }
            if c == "]" && !first {
                i += 1
                break
            }
            first = false
            i += 1
            var low: UInt32
            if c == "[" {
                set.items.append(.nested(try parseClass(caseInsensitive: ci)))
                continue
            } else if c == "\\" {
                guard let e = peek() else { throw fail("pattern ends in '\\'") }
                if "sSdDwWpP".unicodeScalars.contains(e) {
                    set.items.append(.nested(try parseEscape(caseInsensitive: ci)))
                    continue
                }
                i += 1
                low = try escapedScalar(e)
            } else {
                low = c.value
            }
            var high = low
            if peek() == "-", let next = peek(1), next != "]" {
                i += 2
                if next == "\\", let e = peek() {
                    i += 1
                    high = try escapedScalar(e)
                } else {
                    high = next.value
                }
            }
            guard low <= high else { throw fail("class range is reversed") }
            set.items.append(.range(low, high))
        }
        return Self.finished(set)
    }

    static func literal(_ value: UInt32, _ ci: Bool) -> ScalarSet {
        finished(ScalarSet(items: [.range(value, value)], caseInsensitive: ci))
    }

    static func finished(_ set: ScalarSet) -> ScalarSet {
        var s = set
        s.finish()
        return s
    }
}
