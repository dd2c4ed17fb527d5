/// Tokenizing inside `{{ … }}` and `{% … %}`: names, numbers, Python string literals and operators, with
/// bracket balancing so that `}}` inside a dict literal does not end the tag (as in Jinja2's lexer).
extension Lexer {
    /// Tokenizes a tag body up to its closing delimiter at bracket depth zero.
    mutating func tokens(closing: String) throws -> [Token] {
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
