/// Pre-tokenization: cutting normalized text into the pieces BPE works on independently.
///
/// Hugging Face applies a `Sequence` of pre-tokenizers, each splitting every piece the previous one made;
/// `PreTokenizerStep` is one such step. The regex splits are written out by hand over scalar classes
/// (see RegexSplit.swift) rather than run through a regex engine: faster, and free of engine differences.
enum PreTokenizerStep: Sendable, Equatable {
    /// `Digits(individual_digits: true)`: every `\p{N}` character becomes its own piece.
    case individualDigits
    /// `Digits(individual_digits: false)`: runs of `\p{N}` become pieces.
    case digitRuns
    /// A split by one of the known patterns, matches and gaps both kept ("Isolated").
    case pattern(SplitPattern)
    /// `Split` on a literal string with behaviour "MergedWithPrevious": the delimiter ends its piece.
    case literalMergedWithPrevious([UInt32])
    /// `Split` on a literal string with behaviour "Isolated".
    case literalIsolated([UInt32])
    /// `Split` with any pattern and behaviour, `Punctuation`, `Whitespace`, `WhitespaceSplit`,
    /// `BertPreTokenizer` (see PreTokenizer+Split.swift).
    case split(SplitRule)
    case bert
    /// Where a `ByteLevel` pre-tokenizer stands in a sequence: it spells the text in the byte alphabet,
    /// so later steps see one character per byte (Falcon's `Digits` after `ByteLevel`).
    case byteLevelAlphabet

    /// `tokenizer.ggml.pre` names whose tokenizer.json sets `ignore_merges` (the Llama 3 family).
    static let ignoresMerges: Set<String> = ["llama-bpe", "llama3", "llama-v3", "smaug-bpe", "dbrx", "falcon3"]

    /// Appends the pieces of `range` to `pieces`.
    func split(_ text: ScalarText, _ range: Range<Int>, into pieces: inout [Range<Int>]) {
        switch self {
        case .individualDigits, .digitRuns:
            var start = range.lowerBound
            var i = range.lowerBound
            while i < range.upperBound {
                guard text.classes[i] == .number else {
                    i += 1
                    continue
                }
                if start < i { pieces.append(start..<i) }
                var end = i + 1
                if self == .digitRuns {
                    while end < range.upperBound && text.classes[end] == .number { end += 1 }
                }
                pieces.append(i..<end)
                i = end
                start = end
            }
            if start < range.upperBound { pieces.append(start..<range.upperBound) }
        case .pattern(let pattern):
            pattern.split(text, range, into: &pieces)
        case .byteLevelAlphabet:
            pieces.append(range)  // the tokenizer re-spells the text; see `Tokenizer.encodeNormalized`
        case .split(let rule):
            rule.split(text, range, into: &pieces)
        case .bert:
            var words: [Range<Int>] = []
            SplitRule.whitespaceSplit.split(text, range, into: &words)
            for word in words { SplitRule.isolatedPunctuation.split(text, word, into: &pieces) }
        case .literalMergedWithPrevious(let delimiter), .literalIsolated(let delimiter):
            guard !delimiter.isEmpty else {
                pieces.append(range)
                return
            }
            var start = range.lowerBound
            var i = range.lowerBound
            while i + delimiter.count <= range.upperBound {
                if text.scalars[i..<(i + delimiter.count)].elementsEqual(delimiter) {
                    let end = i + delimiter.count
                    if case .literalIsolated = self {
                        if start < i { pieces.append(start..<i) }
                        pieces.append(i..<end)
                    } else {
                        pieces.append(start..<end)
                    }
                    start = end
                    i = end
                } else {
                    i += 1
                }
            }
            if start < range.upperBound { pieces.append(start..<range.upperBound) }
        }
    }
}
