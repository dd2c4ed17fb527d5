/// How token ids become text again, after the two decoder chains in use.
enum DecoderKind: Sendable, Equatable {
    /// `ByteLevel`: every token stands for raw bytes; the concatenation is read as UTF-8, an invalid
    /// sequence becoming one U+FFFD per maximal invalid subpart.
    case byteLevel
    /// `Replace("▁", " ")` + `ByteFallback` + `Fuse` (+ `Strip` of leading spaces): `<0xNN>` tokens stand
    /// for bytes; a run of them that is not valid UTF-8 becomes one U+FFFD per byte.
    case sentencePiece(stripLeadingSpaces: Int)
    /// `WordPiece`: tokens joined by spaces, except continuations, whose prefix ("##") is dropped;
    /// `cleanup` removes the space before punctuation and contractions.
    case wordPiece(prefix: String, cleanup: Bool)
}

/// Per-id facts used by decoding and lookup, covering model tokens and added tokens.
struct TokenTable: Sendable {
    let count: Int
    /// Bytes each token decodes to, flattened; offsets are [count + 1].
    let decodedBytes: [UInt8]
    let decodedOffsets: [Int32]
    /// For `<0xNN>` tokens of a SentencePiece decoder, the byte; otherwise -1. [count]
    let byteValue: [Int16]
    let special: [Bool]  // [count]
    let addedIDs: [ByteString: Int32]
    private let addedText: [Int32: String]
    private let model: BPEModel

    init(model: BPEModel, addedTokens: [AddedToken], decoder: DecoderKind) {
        self.model = model
        var count = model.count
        for token in addedTokens { count = max(count, Int(token.id) + 1) }
        self.count = count
        var addedText: [Int32: String] = [:]
        var addedIDs: [ByteString: Int32] = [:]
        var special = [Bool](repeating: false, count: count)
        for token in addedTokens {
            addedText[token.id] = token.content
            addedIDs[ByteString(token.content)] = token.id
            special[Int(token.id)] = token.special
        }
        self.addedText = addedText
        self.addedIDs = addedIDs
        self.special = special
        var bytes: [UInt8] = []
        var offsets: [Int32] = [0]
        var byteValue = [Int16](repeating: -1, count: count)
        bytes.reserveCapacity(model.spellingBytes.count)
        for id in 0..<count {
            let spelling: [UInt8]
            if let text = addedText[Int32(id)] {
                spelling = Array(text.utf8)
            } else if id < model.count {
                spelling = Array(model.spelling(Int32(id)))
            } else {
                spelling = []
            }
            switch decoder {
            case .byteLevel:
                let text = String(decoding: spelling, as: UTF8.self)
                bytes.append(contentsOf: ByteLevelAlphabet.unspell(text) ?? spelling)
            case .wordPiece:
                bytes.append(contentsOf: spelling)
            case .sentencePiece:
                if let byte = Self.byteFallbackValue(spelling) {
                    byteValue[id] = Int16(byte)
                    bytes.append(byte)
                } else {
                    bytes.append(
                        contentsOf: NormalizerStep.replace(pattern: Array("▁".utf8), content: [0x20]).apply(spelling))
                }
            }
            offsets.append(Int32(bytes.count))
        }
        decodedBytes = bytes
        decodedOffsets = offsets
        self.byteValue = byteValue
    }

    func text(_ id: Int32) -> String {
        if let text = addedText[id] { return text }
        return id < model.count ? String(decoding: model.spelling(id), as: UTF8.self) : ""
    }

    @inline(__always)
    func bytes(_ id: Int32) -> ArraySlice<UInt8> {
        decodedBytes[Int(decodedOffsets[Int(id)])..<Int(decodedOffsets[Int(id) + 1])]
    }

    /// The byte a `<0xNN>` spelling stands for.
    private static func byteFallbackValue(_ spelling: [UInt8]) -> UInt8? {
        guard spelling.count == 6, spelling[0] == 0x3C, spelling[1] == 0x30, spelling[2] == 0x78, spelling[5] == 0x3E
        else { return nil }
        return UInt8(String(decoding: spelling[3..<5], as: UTF8.self), radix: 16)
    }
}

extension Tokenizer {
    /// The text of `ids`, as Hugging Face `tokenizers` decodes them.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        if case .wordPiece(let prefix, let cleanup) = decoder {
            return decodeWordPiece(ids, skipSpecialTokens: skipSpecialTokens, prefix: prefix, cleanup: cleanup)
        }
        var output: [UInt8] = []
        var pendingBytes: [UInt8] = []
        func flush() {
            guard !pendingBytes.isEmpty else { return }
            if String(validating: pendingBytes, as: UTF8.self) != nil {
                output.append(contentsOf: pendingBytes)
            } else {
                for _ in pendingBytes { output.append(contentsOf: [0xEF, 0xBF, 0xBD]) }
            }
            pendingBytes.removeAll(keepingCapacity: true)
        }
        for id in ids where id >= 0 && Int(id) < table.count {
            if skipSpecialTokens && table.special[Int(id)] { continue }
            let byte = table.byteValue[Int(id)]
            if byte >= 0 {
                pendingBytes.append(UInt8(byte))
                continue
            }
            flush()
            output.append(contentsOf: table.bytes(id))
        }
        flush()
        if case .sentencePiece(let strip) = decoder, strip > 0 {
            let leading = output.prefix(strip).prefix { $0 == 0x20 }.count
            output.removeFirst(leading)
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The raw bytes a token stands for (`<0xNN>` is one byte; "▁" is a space), for streaming.
    public func tokenBytes(_ id: Int32) -> [UInt8] {
        guard id >= 0 && Int(id) < table.count else { return [] }
        return Array(table.bytes(id))
    }
}

extension Tokenizer {
    private static let cleanups: [([UInt8], [UInt8])] = [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
        (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ].map { (Array($0.utf8), Array($1.utf8)) }

    /// Works on bytes: "##" followed by a combining mark is one `Character` in Swift, not two.
    func decodeWordPiece(_ ids: [Int32], skipSpecialTokens: Bool, prefix: String, cleanup: Bool) -> String {
        let prefixBytes = Array(prefix.utf8)
        var out: [UInt8] = []
        var index = 0
        for id in ids where id >= 0 && Int(id) < table.count {
            if skipSpecialTokens && table.special[Int(id)] { continue }
            var token = Array(table.text(id).utf8)
            if index > 0 {
                if token.starts(with: prefixBytes) {
                    token.removeFirst(prefixBytes.count)
                } else {
                    token.insert(0x20, at: 0)
                }
            }
            if cleanup {
                for (from, to) in Self.cleanups {
                    token = NormalizerStep.replace(pattern: from, content: to).apply(token)
                }
            }
            out += token
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
