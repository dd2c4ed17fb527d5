/// Hugging Face's general `Split`: find the pattern's matches, then cut the text around them according
/// to a behaviour. `Punctuation`, `Whitespace` and `WhitespaceSplit` are splits with fixed patterns.
struct SplitRule: Sendable, Equatable {
    enum Matcher: Sendable, Equatable {
        /// One of the hand-written patterns: every piece it makes is a match.
        case known(SplitPattern)
        case regex(Regex)
        case literal([UInt32])
        /// Each scalar in the set is one match (Punctuation, whitespace).
        case scalars(ScalarSet)
        /// Runs of scalars in the set are one match.
        case runs(ScalarSet)
    }

    /// What happens to a match (`SplitDelimiterBehavior`).
    enum Behavior: String, Sendable, Equatable {
        case removed = "Removed"
        case isolated = "Isolated"
        case mergedWithPrevious = "MergedWithPrevious"
        case mergedWithNext = "MergedWithNext"
        case contiguous = "Contiguous"
    }

    var matcher: Matcher
    var behavior: Behavior
    var invert = false

    static let whitespaceSet = RegexParser.finished(ScalarSet(items: [.category(.whitespace)]))
    /// Rust's `char::is_whitespace` (White_Space) splits, whitespace removed.
    static let whitespaceSplit = SplitRule(matcher: .runs(whitespaceSet), behavior: .removed)
    /// `Punctuation`: ASCII punctuation and Unicode P* categories, one scalar per match.
    static func punctuation(_ behavior: Behavior) -> SplitRule {
        SplitRule(matcher: .scalars(punctuationSet), behavior: behavior)
    }

    static let punctuationSet = RegexParser.finished(
        ScalarSet(items: [
            .range(0x21, 0x2F), .range(0x3A, 0x40), .range(0x5B, 0x60), .range(0x7B, 0x7E),
            .category(UnicodeClass.named("P")!),
        ]))
    static let isolatedPunctuation = punctuation(.isolated)

    /// Appends the pieces of `range` to `pieces`.
    func split(_ text: ScalarText, _ range: Range<Int>, into pieces: inout [Range<Int>]) {
        if case .known(let pattern) = matcher, behavior == .isolated, !invert {
            pattern.split(text, range, into: &pieces)
            return
        }
        // (range, is a match), covering `range` in order.
        var marked: [(Range<Int>, Bool)] = []
        var previous = range.lowerBound
        for match in matches(text, range) {
            if previous < match.lowerBound { marked.append((previous..<match.lowerBound, invert)) }
            marked.append((match, !invert))
            previous = match.upperBound
        }
        if previous < range.upperBound { marked.append((previous..<range.upperBound, invert)) }

        var out: [Range<Int>] = []
        switch behavior {
        case .removed:
            out = marked.filter { !$0.1 }.map(\.0)
        case .isolated:
            out = marked.map(\.0)
        case .mergedWithPrevious, .contiguous:
            var previousMatch = false
            for (piece, isMatch) in marked {
                let merge = behavior == .contiguous ? isMatch == previousMatch : isMatch && !previousMatch
                if merge, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<piece.upperBound
                } else {
                    out.append(piece)
                }
                previousMatch = isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            for (piece, isMatch) in marked.reversed() {
                if isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = piece.lowerBound..<last.upperBound
                } else {
                    out.append(piece)
                }
                previousMatch = isMatch
            }
            out.reverse()
        }
        for piece in out where !piece.isEmpty { pieces.append(piece) }
    }

    private func matches(_ text: ScalarText, _ range: Range<Int>) -> [Range<Int>] {
        switch matcher {
        case .known(let pattern):
            var found: [Range<Int>] = []
            pattern.split(text, range, into: &found)
            return found
        case .regex(let regex):
            return regex.matches(text.scalars, in: range)
        case .literal(let delimiter):
            guard !delimiter.isEmpty else { return [] }
            var found: [Range<Int>] = []
            var i = range.lowerBound
            while i + delimiter.count <= range.upperBound {
                if text.scalars[i..<(i + delimiter.count)].elementsEqual(delimiter) {
                    found.append(i..<(i + delimiter.count))
                    i += delimiter.count
                } else {
                    i += 1
                }
            }
            return found
        case .scalars(let set):
            return range.filter { set.contains(text.scalars[$0]) }.map { $0..<($0 + 1) }
        case .runs(let set):
            var found: [Range<Int>] = []
            var i = range.lowerBound
            while i < range.upperBound {
                guard set.contains(text.scalars[i]) else {
                    i += 1
                    continue
                }
                var end = i + 1
                while end < range.upperBound && set.contains(text.scalars[end]) { end += 1 }
                found.append(i..<end)
                i = end
            }
            return found
        }
    }
}
