/// Added tokens (special and user-defined) are cut out of the text before the model sees it.
///
/// Matching follows Hugging Face's `AddedVocabulary`: leftmost-longest over all added tokens at once;
/// a special token matched while special tokens are not being parsed stays plain text; `single_word`,
/// `lstrip` and `rstrip` then adjust or reject each match.
struct AddedToken: Sendable, Equatable {
    var id: Int32
    var content: String
    var special: Bool
    var normalized: Bool
    var lstrip = false
    var rstrip = false
    var singleWord = false
}

/// A piece of input text: either plain text (a byte range) or an added token.
enum TextSegment: Equatable {
    case text(Range<Int>)
    case token(Int32)
}

/// A byte trie over the contents of a set of added tokens.
struct AddedTokenMatcher: Sendable {
    private var tokens: [AddedToken] = []
    private var transitions: [UInt64: Int32] = [:]  // (node << 8 | byte) → child node
    private var terminal: [Int32] = [-1]  // [nodes] index into `tokens`, or -1
    private var startsToken = [Bool](repeating: false, count: 256)

    init(_ tokens: [AddedToken]) {
        for token in tokens where !token.content.isEmpty {
            var node: Int32 = 0
            for byte in token.content.utf8 {
                let key = UInt64(node) << 8 | UInt64(byte)
                if let child = transitions[key] {
                    node = child
                } else {
                    let child = Int32(terminal.count)
                    terminal.append(-1)
                    transitions[key] = child
                    node = child
                }
            }
            terminal[Int(node)] = Int32(self.tokens.count)
            self.tokens.append(token)
            startsToken[Int(token.content.utf8.first!)] = true
        }
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// The longest added token starting at `start`, as (token index, end).
    private func longestMatch(_ bytes: [UInt8], _ start: Int, _ end: Int) -> (Int, Int)? {
        var node: Int32 = 0
        var best: (Int, Int)?
        var i = start
        while i < end, let child = transitions[UInt64(node) << 8 | UInt64(bytes[i])] {
            node = child
            i += 1
            let index = terminal[Int(node)]
            if index >= 0 { best = (Int(index), i) }
        }
        return best
    }

    /// Splits `bytes[range]` into text and added tokens.
    func split(_ bytes: [UInt8], _ range: Range<Int>, parseSpecial: Bool, into segments: inout [TextSegment]) {
        var textStart = range.lowerBound
        var i = range.lowerBound
        while i < range.upperBound {
            guard startsToken[Int(bytes[i])], let (index, end) = longestMatch(bytes, i, range.upperBound) else {
                i += 1
                continue
            }
            let token = tokens[index]
            if (token.special && !parseSpecial)
                || (token.singleWord && !Self.isWordBoundary(bytes, i, end, range))
            {
                i = end
                continue
            }
            var start = i
            var stop = end
            if token.lstrip {
                while start > textStart, let (scalar, width) = Self.scalar(endingAt: start, bytes),
                    scalar.properties.isWhitespace
                {
                    start -= width
                }
            }
            if token.rstrip {
                while stop < range.upperBound,
                    let (scalar, width) = Self.scalar(startingAt: stop, bytes, range.upperBound),
                    scalar.properties.isWhitespace
                {
                    stop += width
                }
            }
            if textStart < start { segments.append(.text(textStart..<start)) }
            segments.append(.token(token.id))
            textStart = stop
            i = stop
        }
        if textStart < range.upperBound { segments.append(.text(textStart..<range.upperBound)) }
    }

    private static func isWordBoundary(_ bytes: [UInt8], _ start: Int, _ end: Int, _ range: Range<Int>) -> Bool {
        func isWord(_ scalar: Unicode.Scalar) -> Bool {
            scalar == "_" || [.letter, .number].contains(CharacterClass.of(scalar.value))
        }
        if start > range.lowerBound, let (scalar, _) = scalar(endingAt: start, bytes), isWord(scalar) { return false }
        if end < range.upperBound, let (scalar, _) = scalar(startingAt: end, bytes, range.upperBound), isWord(scalar) {
            return false
        }
        return true
    }

    private static func scalar(startingAt i: Int, _ bytes: [UInt8], _ end: Int) -> (Unicode.Scalar, Int)? {
        var iterator = bytes[i..<end].makeIterator()
        var decoder = UTF8()
        if case .scalarValue(let scalar) = decoder.decode(&iterator) { return (scalar, UTF8.width(scalar)) }
        return nil
    }

    private static func scalar(endingAt end: Int, _ bytes: [UInt8]) -> (Unicode.Scalar, Int)? {
        var start = end - 1
        while start > 0 && bytes[start] & 0xC0 == 0x80 { start -= 1 }
        guard start >= 0 else { return nil }
        return scalar(startingAt: start, bytes, end)
    }
}
