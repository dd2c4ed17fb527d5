/// Splits template source into text, `{{ … }}` and `{% … %}` segments, applying Jinja2's whitespace control.
///
/// The rules follow Jinja2's lexer as transformers configures it (trim_blocks and lstrip_blocks on,
/// keep_trailing_newline off):
/// - `\r\n` and `\r` become `\n`, and one trailing newline of the source is dropped;
/// - `{%-`, `{{-`, `{#-` strip all whitespace before the tag; `-%}`, `-}}`, `-#}` strip all whitespace after it;
/// - trim_blocks: a block or comment tag ending in `%}`/`#}` eats one newline right after it (`+%}` keeps it);
/// - lstrip_blocks: whitespace between the start of a line and a block or comment tag is removed (`{%+` keeps it),
///   never before `{{`.
struct Lexer {
    enum Segment {
        case text(String)
        case output([Token], line: Int)
        case statement([Token], line: Int)
    }

    private let s: [Unicode.Scalar]
    private var pos = 0
    private var line = 1
    private var lineStarting = true
    let trimBlocks: Bool
    let lstripBlocks: Bool
    /// The number of the source's last line, where "unexpected end of template" errors point.
    var lastLine: Int { s.reduce(1) { $0 + ($1 == "\n" ? 1 : 0) } }

    init(source: String, trimBlocks: Bool = true, lstripBlocks: Bool = true) {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(source.unicodeScalars.count)
        var previousCR = false
        for c in source.unicodeScalars {
            if c == "\r" {
                scalars.append("\n")
                previousCR = true
                continue
            }
            if c == "\n" && previousCR {
                previousCR = false
                continue
            }
            previousCR = false
            scalars.append(c)
        }
        if scalars.last == "\n" { scalars.removeLast() }
        self.s = scalars
        self.trimBlocks = trimBlocks
        self.lstripBlocks = lstripBlocks
    }

    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        c.properties.isWhitespace || (c.value >= 0x1C && c.value <= 0x1F)
    }

    private func at(_ i: Int, _ text: String) -> Bool {
        var j = i
        for c in text.unicodeScalars {
            guard j < s.count, s[j] == c else { return false }
            j += 1
        }
        return true
    }

    private func string(_ range: Range<Int>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: s[range])
        return String(view)
    }

    private func newlines(_ range: Range<Int>) -> Int { s[range].reduce(0) { $0 + ($1 == "\n" ? 1 : 0) } }

    private func syntaxError(_ message: String) -> TemplateError { TemplateError(.syntax, line: line, message) }

    mutating func segments() throws -> [Segment] {
        var out: [Segment] = []
        while pos < s.count {
            guard let tagStart = nextTagStart(from: pos) else {
                out.append(.text(string(pos..<s.count)))
                break
            }
            let kind = s[tagStart + 1]
            var bodyStart = tagStart + 2
            var sign: Unicode.Scalar? = nil
            if bodyStart < s.count, s[bodyStart] == "-" || s[bodyStart] == "+" {
                sign = s[bodyStart]
                bodyStart += 1
            }
            var textEnd = tagStart
            if sign == "-" {
                while textEnd > pos, Lexer.isSpace(s[textEnd - 1]) { textEnd -= 1 }
            } else if sign != "+" && lstripBlocks && kind != "{" {
                var lineStart = textEnd
                while lineStart > pos, s[lineStart - 1] != "\n" { lineStart -= 1 }
                let atLineStart = lineStart > pos || (lineStart == pos && lineStarting)
                if atLineStart && lineStart < textEnd && s[lineStart..<textEnd].allSatisfy(Lexer.isSpace) {
                    textEnd = lineStart
                }
            }
            if textEnd > pos { out.append(.text(string(pos..<textEnd))) }
            line += newlines(pos..<tagStart)
            let tagLine = line
            pos = bodyStart
            switch kind {
            case "#": try skipComment()
            case "{": out.append(.output(try tokens(closing: "}}"), line: tagLine))
            default:
                if let raw = try rawBlock() {
                    out.append(.text(raw))
                } else {
                    out.append(.statement(try tokens(closing: "%}"), line: tagLine))
                }
            }
        }
        return out
    }

    private func nextTagStart(from start: Int) -> Int? {
        var i = start
        while i + 1 < s.count {
            if s[i] == "{", s[i + 1] == "{" || s[i + 1] == "%" || s[i + 1] == "#" { return i }
            i += 1
        }
        return nil
    }

    /// Consumes a tag's closing delimiter (already at `pos`, after any `-`/`+`) and the whitespace it controls.
    private mutating func close(length: Int, sign: Unicode.Scalar?, isBlock: Bool) {
        pos += length
        var last: Unicode.Scalar? = s[pos - 1]
        if sign == "-" {
            while pos < s.count, Lexer.isSpace(s[pos]) {
                if s[pos] == "\n" { line += 1 }
                last = s[pos]
                pos += 1
            }
        } else if sign == nil, isBlock, trimBlocks, pos < s.count, s[pos] == "\n" {
            line += 1
            last = "\n"
            pos += 1
        }
        lineStarting = last == "\n"
    }

    private mutating func skipComment() throws {
        var i = pos
        while i + 1 < s.count, !(s[i] == "#" && s[i + 1] == "}") { i += 1 }
        guard i + 1 < s.count else { throw syntaxError("Missing end of comment tag") }
        let sign: Unicode.Scalar? = i > pos && (s[i - 1] == "-" || s[i - 1] == "+") ? s[i - 1] : nil
        line += newlines(pos..<i)
        pos = i
        close(length: 2, sign: sign, isBlock: true)
    }

    /// `{% raw %}…{% endraw %}`: the text between is output as written.
    private mutating func rawBlock() throws -> String? {
        var i = pos
        while i < s.count, Lexer.isSpace(s[i]) { i += 1 }
        guard at(i, "raw") else { return nil }
        i += 3
        while i < s.count, Lexer.isSpace(s[i]) { i += 1 }
        let openSign: Unicode.Scalar? = (i < s.count && (s[i] == "-" || s[i] == "+")) ? s[i] : nil
        if openSign != nil { i += 1 }
        guard at(i, "%}") else { return nil }
        line += newlines(pos..<i)
        pos = i
        close(length: 2, sign: openSign == "-" ? "-" : "+", isBlock: true)
        var j = pos
        while j < s.count {
            if s[j] == "{", j + 1 < s.count, s[j + 1] == "%" {
                var k = j + 2
                let endSign: Unicode.Scalar? = (k < s.count && (s[k] == "-" || s[k] == "+")) ? s[k] : nil
                if endSign != nil { k += 1 }
                while k < s.count, Lexer.isSpace(s[k]) { k += 1 }
                if at(k, "endraw") {
                    k += 6
                    while k < s.count, Lexer.isSpace(s[k]) { k += 1 }
                    let closeSign: Unicode.Scalar? = (k < s.count && (s[k] == "-" || s[k] == "+")) ? s[k] : nil
                    if closeSign != nil { k += 1 }
                    guard at(k, "%}") else { break }
                    var textEnd = j
                    if endSign == "-" { while textEnd > pos, Lexer.isSpace(s[textEnd - 1]) { textEnd -= 1 } }
                    let text = string(pos..<textEnd)
                    line += newlines(pos..<k)
                    pos = k
                    close(length: 2, sign: closeSign, isBlock: true)
                    return text
                }
            }
            j += 1
        }
        throw syntaxError("Missing end of raw directive")
    }

    /// Tokenizes a tag body up to its closing delimiter at bracket depth zero.
    private mutating func tokens(closing: String) throws -> [Token] {
        var out: [Token] = []
        var brackets: [Unicode.Scalar] = []
        let isBlock = closing == "%}"
        while true {
            while pos < s.count, Lexer.isSpace(s[pos]) {
                if s[pos] == "\n" { line += 1 }
                pos += 1
            }
            guard pos < s.count else { throw syntaxError("unexpected end of template, expected '\(closing)'") }
            if brackets.isEmpty {
                if (s[pos] == "-" || (isBlock && s[pos] == "+")) && at(pos + 1, closing) {
                    let sign = s[pos]
                    pos += 1
                    close(length: 2, sign: sign, isBlock: isBlock)
                    break
                }
                if at(pos, closing) {
                    close(length: 2, sign: nil, isBlock: isBlock)
                    break
                }
            }
            let c = s[pos]
            if c == "'" || c == "\"" {
                out.append(Token(.string(try stringLiteral()), line: line))
            } else if c.properties.numericType != nil && c.isASCII {
                let afterDot = out.last.map { $0.kind == .op(".") } ?? false
                out.append(Token(try number(integerOnly: afterDot), line: line))
            } else if c == "_" || c.properties.isAlphabetic {
                let start = pos
                while pos < s.count, s[pos] == "_" || s[pos].properties.isAlphabetic || (s[pos].isASCII && s[pos].properties.numericType != nil) {
                    pos += 1
                }
                out.append(Token(.name(string(start..<pos)), line: line))
            } else {
                out.append(Token(.op(try op(&brackets)), line: line))
            }
        }
        out.append(Token(.end, line: line))
        return out
    }

    private mutating func op(_ brackets: inout [Unicode.Scalar]) throws -> String {
        for two in ["//", "**", "==", "!=", ">=", "<="] where at(pos, two) {
            pos += 2
            return two
        }
        let c = s[pos]
        guard "+-/*%~[](){}<>=.,:|;".unicodeScalars.contains(c) else { throw syntaxError("unexpected char '\(c)'") }
        pos += 1
        switch c {
        case "(": brackets.append(")")
        case "[": brackets.append("]")
        case "{": brackets.append("}")
        case ")", "]", "}":
            guard let expected = brackets.popLast() else { throw syntaxError("unexpected '\(c)'") }
            guard expected == c else { throw syntaxError("unexpected '\(c)', expected '\(expected)'") }
        default: break
        }
        return String(c)
    }

    private mutating func number(integerOnly: Bool) throws -> Token.Kind {
        let start = pos
        func digits() { while pos < s.count, s[pos] == "_" || (s[pos].isASCII && s[pos].properties.numericType != nil) { pos += 1 } }
        digits()
        var isFloat = false
        if !integerOnly, pos + 1 < s.count, s[pos] == ".", s[pos + 1].isASCII, s[pos + 1].properties.numericType != nil {
            isFloat = true
            pos += 1
            digits()
        }
        if !integerOnly, pos < s.count, s[pos] == "e" || s[pos] == "E" {
            var j = pos + 1
            if j < s.count, s[j] == "+" || s[j] == "-" { j += 1 }
            if j < s.count, s[j].isASCII, s[j].properties.numericType != nil {
                isFloat = true
                pos = j
                digits()
            }
        }
        let text = string(start..<pos).replacingOccurrences(of: "_", with: "")
        if isFloat, let d = Double(text) { return .double(d) }
        if let i = Int(text) { return .int(i) }
        throw syntaxError("invalid number '\(text)'")
    }

    /// A quoted string with Python's escapes (`\n`, `\t`, `\\`, `\'`, `\"`, `\xNN`, `\uNNNN`, …).
    private mutating func stringLiteral() throws -> String {
        let quote = s[pos]
        pos += 1
        var out = String.UnicodeScalarView()
        while pos < s.count {
            let c = s[pos]
            if c == quote {
                pos += 1
                return String(out)
            }
            if c == "\n" { line += 1 }
            if c != "\\" || pos + 1 >= s.count {
                out.append(c)
                pos += 1
                continue
            }
            let e = s[pos + 1]
            pos += 2
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "0": out.append("\0")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "\\", "'", "\"": out.append(e)
            case "\n": line += 1
            case "x", "u", "U":
                let width = e == "x" ? 2 : (e == "u" ? 4 : 8)
                guard pos + width <= s.count, let code = UInt32(string(pos..<pos + width), radix: 16),
                    let scalar = Unicode.Scalar(code)
                else { throw syntaxError("invalid \\\(e) escape in string") }
                out.append(scalar)
                pos += width
            default:
                out.append("\\")
                out.append(e)
            }
        }
        throw syntaxError("unterminated string")
    }
}

struct Token: Equatable {
    enum Kind: Equatable {
        case name(String)
        case string(String)
        case int(Int)
        case double(Double)
        case op(String)
        case end
    }

    let kind: Kind
    let line: Int

    init(_ kind: Kind, line: Int) {
        self.kind = kind
        self.line = line
    }
}
