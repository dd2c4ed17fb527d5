/// Python's string operations on Unicode code points (`str.strip`, `split`, `title`, `splitlines`, …).
enum Text {
    static func isSpace(_ c: Unicode.Scalar) -> Bool { Lexer.isSpace(c) }

    static func strip(_ s: String, _ chars: String?, leading: Bool = true, trailing: Bool = true) -> String {
        let set = chars.map { Set($0.unicodeScalars) }
        let drop: (Unicode.Scalar) -> Bool = { c in set.map { $0.contains(c) } ?? isSpace(c) }
        var scalars = Substring(s).unicodeScalars[...]
        if leading { while let f = scalars.first, drop(f) { scalars.removeFirst() } }
        if trailing { while let l = scalars.last, drop(l) { scalars.removeLast() } }
        return String(String.UnicodeScalarView(scalars))
    }

    /// `str.split(sep=None, maxsplit=-1)`.
    static func split(_ s: String, _ separator: String?, maxSplit: Int = -1) -> [String] {
        guard let separator, !separator.isEmpty else {
            var parts: [String] = []
            var current = String.UnicodeScalarView()
            var scalars = Array(s.unicodeScalars)[...]
            while let c = scalars.first {
                if isSpace(c) {
                    if !current.isEmpty {
                        parts.append(String(current))
                        current = String.UnicodeScalarView()
                        if maxSplit >= 0 && parts.count == maxSplit {
                            while let f = scalars.first, isSpace(f) { scalars.removeFirst() }
                            if !scalars.isEmpty { parts.append(String(String.UnicodeScalarView(scalars))) }
                            return parts
                        }
                    }
                } else {
                    current.append(c)
                }
                scalars.removeFirst()
            }
            if !current.isEmpty { parts.append(String(current)) }
            return parts
        }
        var parts: [String] = []
        var rest = Substring(s)
        while maxSplit < 0 || parts.count < maxSplit, let range = rest.range(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }

    static func replace(_ s: String, _ old: String, _ new: String, count: Int = -1) -> String {
        if old.isEmpty {
            var out = new
            for c in s.unicodeScalars {
                out.unicodeScalars.append(c)
                out += new
            }
            return out
        }
        var out = ""
        var rest = Substring(s)
        var done = 0
        while count < 0 || done < count, let range = rest.range(of: old) {
            out += rest[..<range.lowerBound]
            out += new
            rest = rest[range.upperBound...]
            done += 1
        }
        return out + rest
    }

    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return s }
        return first.properties.titlecaseMapping + String(String.UnicodeScalarView(s.unicodeScalars.dropFirst())).lowercased()
    }

    /// Python's `str.title()`: a cased letter after an uncased character starts a word.
    static func pythonTitle(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s.unicodeScalars {
            out += previousCased ? c.properties.lowercaseMapping : c.properties.titlecaseMapping
            previousCased = c.properties.isCased
        }
        return out
    }

    /// Jinja's `title` filter: words begin after whitespace, `-`, `(`, `{`, `[` or `<`.
    static func jinjaTitle(_ s: String) -> String {
        let separators: Set<Unicode.Scalar> = ["-", "(", "{", "[", "<"]
        var out = ""
        var atWordStart = true
        for c in s.unicodeScalars {
            let isSeparator = isSpace(c) || separators.contains(c)
            if isSeparator {
                out.unicodeScalars.append(c)
                atWordStart = true
            } else {
                out += atWordStart ? c.properties.uppercaseMapping : c.properties.lowercaseMapping
                atWordStart = false
            }
        }
        return out
    }

    /// `str.splitlines()` (line boundaries as Python counts them, ends dropped).
    static func splitLines(_ s: String) -> [String] {
        let breaks: Set<UInt32> = [0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029]
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        let scalars = Array(s.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if breaks.contains(c.value) {
                lines.append(String(current))
                current = String.UnicodeScalarView()
                if c == "\r", i + 1 < scalars.count, scalars[i + 1] == "\n" { i += 1 }
            } else {
                current.append(c)
            }
            i += 1
        }
        if !current.isEmpty { lines.append(String(current)) }
        return lines
    }

    static func startsWith(_ s: String, _ prefix: String) -> Bool { s.unicodeScalars.starts(with: prefix.unicodeScalars) }

    static func endsWith(_ s: String, _ suffix: String) -> Bool {
        s.unicodeScalars.reversed().starts(with: suffix.unicodeScalars.reversed())
    }
}
