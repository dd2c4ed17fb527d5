/// A small backtracking regex engine for the split patterns found in tokenizer.json files.
///
/// Hugging Face `tokenizers` runs `Split` patterns through Oniguruma (Ruby syntax). Real files use a
/// handful of well-known patterns, which Kiln matches with hand-written matchers (RegexSplit.swift);
/// this engine covers the rest with the subset those patterns need: alternation, groups (`(?:…)`,
/// `(?i:…)`, capturing groups treated as plain groups), classes with ranges, negation and `\p{…}`,
/// `\s \S \d \D \w \W`, `.`, anchors `^ $ \A \z \b`, greedy / lazy / possessive quantifiers including
/// `{n,m}`, and lookahead `(?=…)` / `(?!…)`. Semantics are Oniguruma's: leftmost match, alternatives
/// tried in order, `$` also before a newline, `.` not matching a newline.
///
/// The pattern compiles to a program for a backtracking machine (Regex+Match.swift) that runs over
/// Unicode scalars, so a match can never split a character.
struct Regex: Sendable, Equatable {
    enum Anchor: Sendable, Equatable {
        case lineStart, lineEnd, textStart, textEnd, textEndBeforeNewline, wordBoundary, notWordBoundary
    }

    enum Instruction: Sendable, Equatable {
        /// Consume one scalar that is in `sets[index]`.
        case set(Int)
        /// Try `primary` first, then `secondary`.
        case split(primary: Int, secondary: Int)
        case jump(Int)
        case assert(Anchor)
        /// Run the sub-program starting at `body` (it ends in `.match`) at the current position without
        /// consuming input; continue if it matched (`negated`: if it did not).
        case lookahead(body: Int, negated: Bool)
        /// Run the sub-program at `body` once, keep only its first match, and never backtrack into it.
        case atomic(body: Int)
        case match
    }

    let source: String
    let program: [Instruction]
    let sets: [ScalarSet]

    init(_ source: String) throws(TokenizerError) {
        var parser = RegexParser(Array(source.unicodeScalars), source: source)
        let node = try parser.parseAll()
        var compiler = RegexCompiler()
        compiler.emitProgram(node)
        self.source = source
        self.program = compiler.program
        self.sets = compiler.sets
    }

    static func == (a: Regex, b: Regex) -> Bool { a.source == b.source }
}

/// A set of scalars: ranges and Unicode classes, possibly negated, possibly case-insensitive.
struct ScalarSet: Sendable, Equatable {
    enum Item: Sendable, Equatable {
        case range(UInt32, UInt32)
        case category(UnicodeClass)
        case nested(ScalarSet)
    }

    var items: [Item] = []
    var negated = false
    var caseInsensitive = false
    /// Membership of ASCII scalars, precomputed. [128]
    private(set) var ascii: [Bool] = []

    mutating func finish() {
        ascii = (0..<128).map { computeContains(UInt32($0)) }
    }

    @inline(__always)
    func contains(_ value: UInt32) -> Bool {
        if value < 128 && !ascii.isEmpty { return ascii[Int(value)] }
        return computeContains(value)
    }

    private func computeContains(_ value: UInt32) -> Bool {
        var found = rawContains(value)
        if !found && caseInsensitive {
            for variant in caseVariants(value) where rawContains(variant) {
                found = true
                break
            }
        }
        return found != negated
    }

    private func rawContains(_ value: UInt32) -> Bool {
        for item in items {
            switch item {
            case .range(let low, let high): if value >= low && value <= high { return true }
            case .category(let cls): if cls.contains(value) { return true }
            case .nested(let set): if set.contains(value) { return true }
            }
        }
        return false
    }

    /// Scalars that case-fold like `value` (simple one-scalar mappings, plus ſ→s and K→k via folding).
    private func caseVariants(_ value: UInt32) -> [UInt32] {
        guard let scalar = Unicode.Scalar(value) else { return [] }
        let p = scalar.properties
        var out: [UInt32] = []
        for mapped in [p.lowercaseMapping, p.uppercaseMapping, p.titlecaseMapping] {
            let scalars = mapped.unicodeScalars
            if scalars.count == 1, let s = scalars.first, s.value != value { out.append(s.value) }
        }
        // Characters that fold to an ASCII letter: ſ (U+017F) → s, K (U+212A) → k.
        switch value {
        case 0x73, 0x53: out.append(0x17F)
        case 0x6B, 0x4B: out.append(0x212A)
        default: break
        }
        return out
    }
}

/// The Unicode classes patterns name: `\p{L}`-style general categories, `\s`, `\d`, `\w`, `.`.
enum UnicodeClass: Sendable, Equatable {
    case categories([Unicode.GeneralCategory])
    case whitespace, digit, word, notNewline, any

    func contains(_ value: UInt32) -> Bool {
        guard let scalar = Unicode.Scalar(value) else { return false }
        switch self {
        case .categories(let list): return list.contains(scalar.properties.generalCategory)
        case .whitespace: return scalar.properties.isWhitespace
        case .digit: return scalar.properties.generalCategory == .decimalNumber
        case .word:
            switch scalar.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
                .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation:
                return true
            default: return false
            }
        case .notNewline: return value != 0x0A
        case .any: return true
        }
    }

    /// `\p{NAME}` for a general category or category group.
    static func named(_ name: String) -> UnicodeClass? {
        let key = name.hasPrefix("Is") ? String(name.dropFirst(2)) : name
        return categoryTable[key].map { .categories($0) }
    }

    private static let categoryTable: [String: [Unicode.GeneralCategory]] = [
        "L": [.uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter],
        "Lu": [.uppercaseLetter], "Ll": [.lowercaseLetter], "Lt": [.titlecaseLetter], "Lm": [.modifierLetter],
        "Lo": [.otherLetter],
        "M": [.nonspacingMark, .spacingMark, .enclosingMark], "Mn": [.nonspacingMark], "Mc": [.spacingMark],
        "Me": [.enclosingMark],
        "N": [.decimalNumber, .letterNumber, .otherNumber], "Nd": [.decimalNumber], "Nl": [.letterNumber],
        "No": [.otherNumber],
        "P": [
            .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation,
        ],
        "Pc": [.connectorPunctuation], "Pd": [.dashPunctuation], "Ps": [.openPunctuation],
        "Pe": [.closePunctuation], "Pi": [.initialPunctuation], "Pf": [.finalPunctuation],
        "Po": [.otherPunctuation],
        "S": [.mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol], "Sm": [.mathSymbol],
        "Sc": [.currencySymbol], "Sk": [.modifierSymbol], "So": [.otherSymbol],
        "Z": [.spaceSeparator, .lineSeparator, .paragraphSeparator], "Zs": [.spaceSeparator],
        "C": [.control, .format, .surrogate, .privateUse, .unassigned], "Cc": [.control], "Cf": [.format],
    ]
}
