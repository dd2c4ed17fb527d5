/// Building a tokenizer from a GGUF file's vocabulary.
///
/// The result is the tokenizer Hugging Face builds for the same file (`AutoTokenizer.from_pretrained(…,
/// gguf_file:)`), with the repairs that make it agree with the original releases:
/// - byte-level ("gpt2"): tokens are respelled in the byte alphabet where needed, the split pattern comes
///   from `tokenizer.ggml.pre` (SmolLM2's "smollm" keeps its digit splitting, which the HF conversion
///   drops), "qwen2" gets the NFC normalization Qwen2's tokenizer applies;
/// - SentencePiece-style ("llama"): whitespace tokens stored with spaces are respelled with "▁", and
///   merges, which the file does not carry, follow the vocabulary order;
/// - control tokens become special added tokens and user-defined ones plain added tokens.
extension Tokenizer {
    public convenience init(gguf vocabulary: GGUFVocabulary) throws(TokenizerError) {
        let tokens = vocabulary.tokens
        guard !tokens.isEmpty else { throw .malformed("tokenizer.ggml.tokens is empty") }
        if let scores = vocabulary.scores, scores.count != tokens.count {
            throw .malformed("tokenizer.ggml.scores has \(scores.count) entries for \(tokens.count) tokens")
        }
        if let types = vocabulary.tokenTypes, types.count != tokens.count {
            throw .malformed("tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        let mergePairs = try vocabulary.merges.map { merges throws(TokenizerError) in
            var pairs: [(Substring, Substring)] = []
            pairs.reserveCapacity(merges.count)
            for (index, merge) in merges.enumerated() {
                guard let parts = Self.splitMerge(merge) else {
                    throw .malformed(
                        "tokenizer.ggml.merges[\(index)] = '\(merge)' is not two tokens separated by a space")
                }
                pairs.append(parts)
            }
            return pairs
        }

        let model: BPEModel
        var normalizers: [NormalizerStep] = []
        var preTokenizer: [PreTokenizerStep] = []
        let decoder: DecoderKind
        var controlAllowed: (String) -> Bool = { _ in true }
        var prefixIDs = vocabulary.addBOS == true ? [vocabulary.bosID].compactMap { $0 } : []
        var suffixIDs = vocabulary.addEOS == true ? [vocabulary.eosID].compactMap { $0 } : []
        switch vocabulary.model {
        case "gpt2":
            let preName = vocabulary.pre ?? "default"
            guard let steps = try PreTokenizerStep.ggufSteps(preName) else { throw .unknownPreTokenizer(preName) }
            preTokenizer = steps
            if preName == "qwen2" { normalizers = [.nfc] }
            guard let mergePairs else { throw .malformed("a byte-level (gpt2) vocabulary needs tokenizer.ggml.merges") }
            let spellings = tokens.map { token in
                token.unicodeScalars.allSatisfy { ByteLevelAlphabet.byteForScalar[$0.value] != nil }
                    ? token : ByteLevelAlphabet.spell(token.utf8)
            }
            // Llama 3's tokenizer.json sets `ignore_merges`: a piece that is itself a token is not merged.
            model = try BPEModel(
                kind: .byteLevel, spellings: spellings, mergePairs: mergePairs, unknownID: nil, fuseUnknown: false,
                ignoreMerges: PreTokenizerStep.ignoresMerges.contains(preName))
            decoder = .byteLevel
            // A control token spelled outside the byte alphabet is a mislabel in the file; HF skips it.
            controlAllowed = { token in
                token.unicodeScalars.allSatisfy { ByteLevelAlphabet.byteForScalar[$0.value] != nil }
            }
        case "llama", "gemma4":
            let spellings = tokens.map { token in
                token.unicodeScalars.contains(" ") && token.unicodeScalars.allSatisfy(Self.isPythonWhitespace)
                    ? String(repeating: "\u{2581}", count: token.unicodeScalars.count) : token
            }
            let prefixSpace = vocabulary.addSpacePrefix ?? true  // llama.cpp and SentencePiece default
            // Gemma 4 files carry their merges; llama ones derive them from scores.
            normalizers =
                (prefixSpace ? [.prepend(Array("\u{2581}".utf8))] : []) + [
                    .replace(pattern: [0x20], content: Array("\u{2581}".utf8))
                ]
            model = try BPEModel(
                kind: .characters(byteFallback: true), spellings: spellings, mergePairs: mergePairs,
                unknownID: vocabulary.unknownID, fuseUnknown: true, ignoreMerges: false, scores: vocabulary.scores,
                atomic: Set((0..<tokens.count).filter { vocabulary.tokenType($0) == .userDefined }.map(Int32.init)))
            decoder = .sentencePiece(stripLeadingSpaces: prefixSpace ? 1 : 0)
        case "bert":
            // llama.cpp spells word-initial WordPiece tokens with a leading "▁" and continuations bare;
            // Hugging Face's vocabulary has them bare and "##"-prefixed. Bracketed specials stay as they are.
            let spellings = tokens.map { token in
                if token.hasPrefix("[") && token.hasSuffix("]") { return token }
                if token.unicodeScalars.first == "\u{2581}" { return String(token.unicodeScalars.dropFirst()) }
                return "##" + token
            }
            model = try BPEModel(
                kind: .wordPiece(prefix: "##", maxCharacters: 100), spellings: spellings, mergePairs: nil,
                unknownID: vocabulary.unknownID, fuseUnknown: false, ignoreMerges: false)
            normalizers = [.bert(cleanText: true, chineseChars: true, stripAccents: true, lowercase: true)]
            preTokenizer = [.bert]
            decoder = .wordPiece(prefix: "##", cleanup: true)
            if vocabulary.addBOS ?? true { prefixIDs = [vocabulary.clsID ?? vocabulary.bosID].compactMap { $0 } }
            if vocabulary.addEOS ?? true { suffixIDs = [vocabulary.sepID ?? vocabulary.eosID].compactMap { $0 } }
        default:
            throw .unsupported(
                "tokenizer.ggml.model '\(vocabulary.model)'; Kiln reads 'gpt2' (byte-level BPE), 'llama' (SentencePiece "
                    + "BPE) and 'bert' (WordPiece)")
        }

        var added: [AddedToken] = []
        for (index, token) in tokens.enumerated() {
            switch vocabulary.tokenType(index) {
            case .control where controlAllowed(token):
                added.append(AddedToken(id: Int32(index), content: token, special: true, normalized: false))
            // Byte-level files store user-defined tokens as their text ("  " in GPT-NeoX), which the model
            // cannot spell; SentencePiece files respell whitespace ones with "▁" and merge them instead.
            case .userDefined where model.kind == .byteLevel || model.pieceToID[ByteString(token)] != nil:
                added.append(AddedToken(id: Int32(index), content: token, special: false, normalized: false))
            default: break
            }
        }

        var eos: [Int32] = [vocabulary.eosID, vocabulary.eotID].compactMap { $0 }
        eos += added.filter { $0.special && Self.endOfGenerationNames.contains($0.content) }.map(\.id)
        try self.init(
            Configuration(
                model: model, normalizers: normalizers, preTokenizer: preTokenizer, addedTokens: added,
                decoder: decoder,
                prefixIDs: prefixIDs, suffixIDs: suffixIDs,
                bosTokenID: vocabulary.bosID, eosTokenIDs: eos))
    }

    /// "left right" → (left, right), cut at the first space after the first character, as llama.cpp reads
    /// merges. Scalars, not characters: a space followed by a combining mark is still a separator.
    static func splitMerge(_ merge: String) -> (Substring, Substring)? {
        let scalars = merge.unicodeScalars
        guard !scalars.isEmpty else { return nil }
        let start = scalars.index(after: scalars.startIndex)
        guard let space = scalars[start...].firstIndex(of: " ") else { return nil }
        let right = scalars[scalars.index(after: space)...]
        guard !right.isEmpty else { return nil }
        return (Substring(scalars[..<space]), Substring(right))
    }

    /// What Python's `str.strip()` removes, which decides the respelling in Hugging Face's conversion.
    private static func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
    }

    /// Control tokens that end a turn or a document in the chat formats Kiln serves. The files name only
    /// one end-of-sequence id, but the original releases also stop on these (Gemma's `<end_of_turn>`,
    /// Qwen's and SmolLM2's `<|endoftext|>` next to `<|im_end|>`), as llama.cpp does.
    static let endOfGenerationNames: Set<String> = [
        "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end|>", "<end_of_turn>", "<|return|>",
        "<EOT>", "<|end_of_text|>", "<｜end▁of▁sentence｜>",
    ]
}
