/// The split patterns of the byte-level BPE families, as hand-written leftmost-first matchers.
///
/// Each matcher tries the alternatives of its pattern in order at the current position, exactly as a
/// backtracking engine would, and emits the first that matches; the pattern text is beside each one.
/// The patterns cover every character, so there are never unmatched gaps.
enum SplitPattern: Sendable, Equatable {
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// Qwen2: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case qwen2
    /// Llama 3: as Qwen2 with `\p{N}{1,3}` in place of `\p{N}`.
    case llama3

    static let gpt2Source = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let qwen2Source =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let llama3Source =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The pattern a tokenizer.json regex spells, if it is one of the known ones.
    init?(regex: String) {
        switch regex {
        case Self.gpt2Source: self = .gpt2
        case Self.qwen2Source: self = .qwen2
        case Self.llama3Source: self = .llama3
        default: return nil
        }
    }

    func split(_ text: ScalarText, _ range: Range<Int>, into pieces: inout [Range<Int>]) {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let next = self == .gpt2 ? gpt2Match(text, i, end) : llama3Match(text, i, end)
            pieces.append(i..<next)
            i = next
        }
    }

    private func gpt2Match(_ text: ScalarText, _ i: Int, _ end: Int) -> Int {
        let s = text.scalars
        let c = text.classes
        if let contraction = contractionEnd(s, i, end, caseInsensitive: false) { return contraction }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
        let j = s[i] == 0x20 ? i + 1 : i
        if j < end && c[j] != .whitespace {
            let cls = c[j]
            var k = j + 1
            while k < end && c[k] == cls { k += 1 }
            return k
        }
        return whitespaceEnd(c, i, end)
    }

    private func llama3Match(_ text: ScalarText, _ i: Int, _ end: Int) -> Int {
        let s = text.scalars
        let c = text.classes
        if let contraction = contractionEnd(s, i, end, caseInsensitive: true) { return contraction }
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if c[i] == .letter {
            return run(of: .letter, c, i + 1, end)
        }
        if c[i] != .number && !isNewline(s[i]) && i + 1 < end && c[i + 1] == .letter {
            return run(of: .letter, c, i + 2, end)
        }
        // `\p{N}` or `\p{N}{1,3}`
        if c[i] == .number {
            let limit = self == .llama3 ? min(i + 3, end) : i + 1
            var k = i + 1
            while k < limit && c[k] == .number { k += 1 }
            return k
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let j = s[i] == 0x20 ? i + 1 : i
        if j < end && c[j] == .other {
            var k = run(of: .other, c, j + 1, end)
            while k < end && isNewline(s[k]) { k += 1 }
            return k
        }
        // `\s*[\r\n]+`: the whitespace run up to and including its last newline.
        let runEnd = run(of: .whitespace, c, i, end)
        var k = runEnd - 1
        while k >= i {
            if isNewline(s[k]) { return k + 1 }
            k -= 1
        }
        return whitespaceEnd(c, i, end)
    }

    /// `\s+(?!\S)|\s+` at a whitespace character.
    @inline(__always)
    private func whitespaceEnd(_ c: [CharacterClass], _ i: Int, _ end: Int) -> Int {
        let runEnd = run(of: .whitespace, c, i + 1, end)
        if runEnd == end || runEnd - i == 1 { return runEnd }
        return runEnd - 1
    }

    @inline(__always)
    private func run(of cls: CharacterClass, _ c: [CharacterClass], _ from: Int, _ end: Int) -> Int {
        var k = from
        while k < end && c[k] == cls { k += 1 }
        return k
    }

    @inline(__always)
    private func isNewline(_ scalar: UInt32) -> Bool { scalar == 0x0A || scalar == 0x0D }

    /// `'s|'t|'re|'ve|'m|'ll|'d`, optionally case-insensitive. Under `(?i)` Oniguruma folds case by
    /// Unicode rules, so besides ASCII capitals U+017F LONG S matches `s` ("'ſt" splits as "'ſ" + "t").
    @inline(__always)
    private func contractionEnd(_ s: [UInt32], _ i: Int, _ end: Int, caseInsensitive: Bool) -> Int? {
        guard s[i] == 0x27, i + 1 < end else { return nil }
        func fold(_ v: UInt32) -> UInt32 {
            guard caseInsensitive else { return v }
            if v >= 0x41 && v <= 0x5A { return v + 0x20 }
            if v == 0x17F { return 0x73 }
            return v
        }
        let a = fold(s[i + 1])
        if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return i + 2 }  // s t m d
        guard i + 2 < end else { return nil }
        let b = fold(s[i + 2])
        // re ve ll
        if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return i + 3 }
        return nil
    }
}
