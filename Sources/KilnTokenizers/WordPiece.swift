/// WordPiece (BERT): each pre-tokenized word becomes its longest vocabulary prefix, then the longest
/// "##"-prefixed continuation, and so on; a word with any part missing from the vocabulary, or longer
/// than `maxCharacters`, becomes the single unknown token. After Hugging Face `tokenizers`' `WordPiece`.
extension BPEModel {
    func wordPieceSymbols(_ word: ArraySlice<UInt8>, prefix: String, maxCharacters: Int) -> [Int32] {
        let unknown = unknownID.map { [$0] } ?? []
        // Byte offsets of scalar boundaries.
        var boundaries: [Int] = []
        for i in word.indices where word[i] & 0xC0 != 0x80 { boundaries.append(i) }
        boundaries.append(word.endIndex)
        let characters = boundaries.count - 1
        if characters > maxCharacters { return unknown }
        let prefixBytes = Array(prefix.utf8)
        var out: [Int32] = []
        var start = 0
        var key = ByteString([])
        while start < characters {
            var end = characters
            var found: Int32?
            while end > start {
                key.bytes.removeAll(keepingCapacity: true)
                if start > 0 { key.bytes.append(contentsOf: prefixBytes) }
                key.bytes.append(contentsOf: word[boundaries[start]..<boundaries[end]])
                if let id = pieceToID[key] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else { return unknown }
            out.append(id)
            start = end
        }
        return out
    }
}

extension NormalizerStep {
    /// `BertNormalizer`: drop control characters and turn whitespace into spaces, put spaces around CJK
    /// ideographs, strip accents (NFD, then drop nonspacing marks), lowercase (per character).
    static func bert(_ bytes: [UInt8], cleanText: Bool, chineseChars: Bool, stripAccents: Bool, lowercase: Bool)
        -> [UInt8]
    {
        var scalars = String.UnicodeScalarView()
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            let v = scalar.value
            if cleanText {
                if v == 0 || v == 0xFFFD || isBertControl(scalar) { continue }
                if v == 9 || v == 10 || v == 13 || scalar.properties.isWhitespace {
                    scalars.append(" ")
                    continue
                }
            }
            if chineseChars && isCJKIdeograph(v) {
                scalars.append(" ")
                scalars.append(scalar)
                scalars.append(" ")
                continue
            }
            scalars.append(scalar)
        }
        let text = String(scalars)
        var out = Array(text.utf8)
        if stripAccents {
            out = NormalizerStep.stripAccents.apply(NormalizerStep.nfd.apply(out))
        }
        if lowercase { out = NormalizerStep.lowercase.apply(out) }
        return out
    }

    private static func isBertControl(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
        switch scalar.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate: return true
        default: return false
        }
    }

    private static func isCJKIdeograph(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }
}
