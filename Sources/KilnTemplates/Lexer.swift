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

    let s: [Unicode.Scalar]
    var pos = 0
    var line = 1
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

    func at(_ i: Int, _ text: String) -> Bool {
        var j = i
        for c in text.unicodeScalars {
            guard j < s.count, s[j] == c else { return false }
            j += 1
        }
        return true
    }

    func string(_ range: Range<Int>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: s[range])
        return String(view)
    }

    private func newlines(_ range: Range<Int>) -> Int { s[range].reduce(0) { $0 + ($1 == "\n" ? 1 : 0) } }

    func syntaxError(_ message: String) -> TemplateError { TemplateError(.syntax, line: line, message) }

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
    mutating func close(length: Int, sign: Unicode.Scalar?, isBlock: Bool) {
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
}
