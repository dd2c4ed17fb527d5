/// Text ↔ token ids for one checkpoint, matching Hugging Face `tokenizers` id for id.
///
/// The pipeline is Hugging Face's: cut out added tokens that match raw text → normalize the rest → cut
/// out added tokens that match normalized text → pre-tokenize into pieces → BPE each piece → add the
/// post-processor's special tokens. Built from a tokenizer.json (`fromTokenizerJSON`) or from a GGUF
/// file's vocabulary (`init(gguf:)`); both produce the same configuration for the same checkpoint.
public final class Tokenizer: Sendable {
    let model: BPEModel
    let normalizers: [NormalizerStep]
    let preTokenizer: [PreTokenizerStep]
    let rawMatcher: AddedTokenMatcher
    let normalizedMatcher: AddedTokenMatcher
    let decoder: DecoderKind
    /// Tokens added in front of / after the text when special tokens are requested.
    let prefixIDs: [Int32]
    let suffixIDs: [Int32]
    let table: TokenTable
    let metaspace: MetaspaceRule?
    let byteLevelPrefixSpace: Bool

    /// The id of the beginning-of-sequence token, if the checkpoint names one.
    public let bosTokenID: Int32?
    /// Every id that ends generation for this checkpoint.
    public let eosTokenIDs: [Int32]

    struct Configuration {
        var model: BPEModel
        var normalizers: [NormalizerStep]
        var preTokenizer: [PreTokenizerStep]
        var addedTokens: [AddedToken]
        var decoder: DecoderKind
        var prefixIDs: [Int32]
        var suffixIDs: [Int32]
        var bosTokenID: Int32?
        var eosTokenIDs: [Int32]
        /// A `Metaspace` pre-tokenizer, which Kiln supports as the last pre-tokenizer step.
        var metaspace: MetaspaceRule? = nil
        /// `ByteLevel(add_prefix_space: true)`: a space in front of each section of text.
        var byteLevelPrefixSpace = false
    }

    init(_ configuration: Configuration) throws(TokenizerError) {
        for token in configuration.addedTokens where !(0..<(1 << 24)).contains(token.id) {
            throw .malformed("added token '\(token.content)' has id \(token.id), outside 0..<16777216")
        }
        if let unknown = configuration.model.unknownID, !(0..<Int32(configuration.model.count)).contains(unknown) {
            throw .malformed(
                "unknown-token id \(unknown) is outside the vocabulary of \(configuration.model.count) tokens")
        }
        model = configuration.model
        normalizers = configuration.normalizers
        preTokenizer = configuration.preTokenizer
        rawMatcher = AddedTokenMatcher(configuration.addedTokens.filter { !$0.normalized })
        normalizedMatcher = AddedTokenMatcher(configuration.addedTokens.filter { $0.normalized })
        decoder = configuration.decoder
        prefixIDs = configuration.prefixIDs
        suffixIDs = configuration.suffixIDs
        metaspace = configuration.metaspace
        byteLevelPrefixSpace = configuration.byteLevelPrefixSpace
        table = TokenTable(model: configuration.model, addedTokens: configuration.addedTokens, decoder: decoder)
        bosTokenID = configuration.bosTokenID
        var eos: [Int32] = []
        for id in configuration.eosTokenIDs where !eos.contains(id) { eos.append(id) }
        eosTokenIDs = eos
        let size = Int32(table.count)
        for id in prefixIDs + suffixIDs + eosTokenIDs + (bosTokenID.map { [$0] } ?? []) where !(0..<size).contains(id) {
            throw .malformed("special token id \(id) is outside the vocabulary of \(size) tokens")
        }
    }

    /// Number of token ids (the model vocabulary plus added tokens beyond it).
    public var vocabularySize: Int { table.count }

    /// The id of a token given its text as the vocabulary spells it (e.g. "<|im_end|>", "▁the"), or nil.
    public func token(for text: String) -> Int32? {
        if let id = table.addedIDs[ByteString(text)] { return id }
        return model.pieceToID[ByteString(text)]
    }

    /// Whether an id is a special token (control token), the kind `decode(skipSpecialTokens:)` drops.
    public func isSpecial(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < table.count && table.special[Int(id)]
    }

    /// The vocabulary's spelling of a token, as stored in its file.
    public func tokenText(_ id: Int32) -> String? {
        guard id >= 0 && Int(id) < table.count else { return nil }
        return table.text(id)
    }

    /// Token ids for `text`. `addSpecialTokens` adds what the checkpoint puts around a sequence (Gemma's
    /// `<bos>`); `parseSpecial` lets special-token text such as "<|im_end|>" in `text` become that token,
    /// otherwise it is tokenized as ordinary text (non-special added tokens are always matched).
    public func encode(_ text: String, addSpecialTokens: Bool = true, parseSpecial: Bool = true) -> [Int32] {
        var output: [Int32] = []
        output.reserveCapacity(text.utf8.count / 3 + 4)
        if addSpecialTokens { output.append(contentsOf: prefixIDs) }
        let bytes = Array(text.utf8)
        var segments: [TextSegment] = []
        rawMatcher.split(bytes, 0..<bytes.count, parseSpecial: parseSpecial, into: &segments)
        for segment in segments {
            switch segment {
            case .token(let id): output.append(id)
            case .text(let range):
                encodeText(bytes[range], parseSpecial: parseSpecial, atStart: range.lowerBound == 0, into: &output)
            }
        }
        if addSpecialTokens { output.append(contentsOf: suffixIDs) }
        return output
    }

    /// Token ids for text given as UTF-8 bytes, which must be valid UTF-8 (nothing is replaced).
    public func encode(
        utf8 bytes: some Collection<UInt8>, addSpecialTokens: Bool = true, parseSpecial: Bool = true
    ) throws(TokenizerError) -> [Int32] {
        let array = Array(bytes)
        var iterator = array.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput:
                return encode(
                    String(decoding: array, as: UTF8.self), addSpecialTokens: addSpecialTokens,
                    parseSpecial: parseSpecial)
            case .error: throw .invalidUTF8(offset: offset)
            }
        }
    }

    private func encodeText(
        _ raw: ArraySlice<UInt8>, parseSpecial: Bool, atStart: Bool, into output: inout [Int32]
    ) {
        var normalized = Array(raw)
        for step in normalizers { normalized = step.apply(normalized) }
        if normalizedMatcher.isEmpty {
            encodeNormalized(normalized[...], atStart: atStart, into: &output)
            return
        }
        var segments: [TextSegment] = []
        normalizedMatcher.split(normalized, 0..<normalized.count, parseSpecial: parseSpecial, into: &segments)
        for segment in segments {
            switch segment {
            case .token(let id): output.append(id)
            case .text(let range):
                encodeNormalized(
                    Array(normalized[range])[...], atStart: atStart && range.lowerBound == 0, into: &output)
            }
        }
    }

    private func encodeNormalized(_ input: ArraySlice<UInt8>, atStart: Bool, into output: inout [Int32]) {
        var bytes = input
        if byteLevelPrefixSpace && bytes.first != 0x20 && !bytes.isEmpty { bytes = ([0x20] + bytes)[...] }
        guard !preTokenizer.isEmpty || metaspace != nil else {
            model.encode(bytes, into: &output)
            return
        }
        var text = ScalarText(utf8: bytes)
        var pieces = [0..<text.count]
        var next: [Range<Int>] = []
        for step in preTokenizer {
            if step == .byteLevelAlphabet {
                let original = text
                text = ScalarText(byteLevel: bytes)
                pieces = pieces.map { original.utf8Offsets[$0.lowerBound]..<original.utf8Offsets[$0.upperBound] }
                continue
            }
            next.removeAll(keepingCapacity: true)
            for piece in pieces { step.split(text, piece, into: &next) }
            swap(&pieces, &next)
        }
        let base = bytes.startIndex
        for piece in pieces where !piece.isEmpty {
            let start = base + text.utf8Offsets[piece.lowerBound]
            let end = base + text.utf8Offsets[piece.upperBound]
            if let metaspace {
                let first = atStart && piece.lowerBound == 0
                for part in metaspace.apply(bytes[start..<end], first: first) { model.encode(part[...], into: &output) }
            } else {
                model.encode(bytes[start..<end], into: &output)
            }
        }
    }
}
