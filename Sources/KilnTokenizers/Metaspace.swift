/// The `Metaspace` pre-tokenizer of SentencePiece-style vocabularies: spaces become "▁", a "▁" goes in
/// front (always, or only at the start of the input), and the text splits before each "▁".
struct MetaspaceRule: Sendable, Equatable {
    enum PrependScheme: String, Sendable { case always, first, never }

    var replacement: [UInt8]
    var prependScheme: PrependScheme
    var split: Bool

    /// The pieces of one pre-tokenized piece. `first`: the piece starts the input.
    func apply(_ piece: ArraySlice<UInt8>, first: Bool) -> [[UInt8]] {
        var text: [UInt8] = []
        text.reserveCapacity(piece.count + 8)
        for byte in piece {
            if byte == 0x20 { text.append(contentsOf: replacement) } else { text.append(byte) }
        }
        let prepend = prependScheme == .always || (prependScheme == .first && first)
        if prepend && !text.starts(with: replacement) { text.insert(contentsOf: replacement, at: 0) }
        guard split, !replacement.isEmpty else { return [text] }
        var parts: [[UInt8]] = []
        var start = 0
        var i = 0
        while i + replacement.count <= text.count {
            if text[i] == replacement[0] && text[i..<(i + replacement.count)].elementsEqual(replacement) {
                if i > start { parts.append(Array(text[start..<i])) }
                start = i
                i += replacement.count
            } else {
                i += 1
            }
        }
        if start < text.count { parts.append(Array(text[start...])) }
        return parts
    }
}
