import Foundation

/// Building a tokenizer from a Hugging Face `tokenizer.json` (and `tokenizer_config.json`).
///
/// Supported: model `BPE` (byte-level or with byte fallback); normalizers NFC/NFD/NFKC/NFKD, `Replace`
/// with a literal, `Prepend`, `Sequence`; pre-tokenizers `ByteLevel`, `Digits`, `Split` with a known
/// regex or a literal, `Sequence`; decoders `ByteLevel` or the SentencePiece chain; post-processor
/// `TemplateProcessing`. Anything else is reported as `TokenizerError.unsupported`, naming the part.
extension Tokenizer {
    public static func fromTokenizerJSON(_ data: Data, config: Data?) throws(TokenizerError) -> Tokenizer {
        let root = try JSONValue.parse(Array(data))
        let configRoot = try config.map { data throws(TokenizerError) in try JSONValue.parse(Array(data)) }

        guard let modelJSON = root["model"], modelJSON.members != nil else { throw .malformed("'model' is missing") }
        let modelType = modelJSON["type"]?.string ?? "BPE"
        guard ["BPE", "WordPiece", "Unigram"].contains(modelType) else {
            throw .unsupported("model type '\(modelType)'; Kiln implements BPE, WordPiece and Unigram")
        }
        if modelType == "BPE" {
            for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
                if let value = modelJSON[key]?.string, !value.isEmpty { throw .unsupported("BPE \(key) '\(value)'") }
            }
        }
        if let dropout = modelJSON["dropout"]?.number, dropout > 0 { throw .unsupported("BPE dropout") }
        var spellings: [String] = []
        var scores: [Float] = []
        var pieceIDs: [ByteString: Int32] = [:]
        if modelType == "Unigram" {
            // [["piece", score], …] in id order.
            guard let vocab = modelJSON["vocab"]?.array else { throw .malformed("'model.vocab' is missing") }
            for (index, entry) in vocab.enumerated() {
                guard let pair = entry.array, pair.count == 2, let piece = pair[0].string, let score = pair[1].number
                else { throw .malformed("model.vocab[\(index)] is not [piece, score]") }
                spellings.append(piece)
                scores.append(Float(score))
                pieceIDs[ByteString(piece)] = Int32(index)
            }
        } else {
            guard let vocab = modelJSON["vocab"]?.members else { throw .malformed("'model.vocab' is missing") }
            spellings = [String](repeating: "", count: vocab.count)
            for (piece, value) in vocab {
                guard let id = value.int, id >= 0, id < vocab.count else {
                    throw .malformed("model.vocab['\(piece)'] is not an id below \(vocab.count)")
                }
                spellings[id] = piece
                pieceIDs[ByteString(piece)] = Int32(id)
            }
        }
        let mergePairs = modelType == "BPE" ? try parseMerges(modelJSON["merges"]) : []

        let preTokenizer = try parsePreTokenizer(root["pre_tokenizer"])
        let byteLevel = preTokenizer.byteLevel || mentionsType(root["decoder"], "ByteLevel")
        let normalizers = try parseNormalizer(root["normalizer"])

        var added: [AddedToken] = []
        for token in root["added_tokens"]?.array ?? [] {
            guard let id = token["id"]?.int.map(Int32.init), let content = token["content"]?.string else {
                throw .malformed("an added_tokens entry lacks 'id' or 'content'")
            }
            added.append(
                AddedToken(
                    id: id, content: content, special: token["special"]?.bool ?? false,
                    normalized: token["normalized"]?.bool ?? !(token["special"]?.bool ?? false),
                    lstrip: token["lstrip"]?.bool ?? false, rstrip: token["rstrip"]?.bool ?? false,
                    singleWord: token["single_word"]?.bool ?? false))
        }
        func id(of name: String?) -> Int32? {
            guard let name else { return nil }
            return added.last { $0.content.utf8.elementsEqual(name.utf8) }?.id ?? pieceIDs[ByteString(name)]
        }

        let byteFallback = modelJSON["byte_fallback"]?.bool ?? false
        let kind: BPEModel.Kind
        var unknownID = id(of: modelJSON["unk_token"]?.string)
        switch modelType {
        case "WordPiece":
            kind = .wordPiece(
                prefix: modelJSON["continuing_subword_prefix"]?.string ?? "##",
                maxCharacters: modelJSON["max_input_chars_per_word"]?.int ?? 100)
        case "Unigram":
            kind = .unigram(byteFallback: byteFallback)
            unknownID = modelJSON["unk_id"]?.int.map(Int32.init)
        default:
            kind = byteLevel ? .byteLevel : .characters(byteFallback: byteFallback)
        }
        let model = try BPEModel(
            kind: kind, spellings: spellings, mergePairs: modelType == "BPE" ? mergePairs : nil, unknownID: unknownID,
            fuseUnknown: modelType == "Unigram" || (modelJSON["fuse_unk"]?.bool ?? false),
            ignoreMerges: modelJSON["ignore_merges"]?.bool ?? false, scores: scores)
        let decoder = try byteLevel ? .byteLevel : parseDecoder(root["decoder"])

        var (prefix, suffix) = try parsePostProcessor(root["post_processor"])
        let bos = id(of: tokenName(configRoot?["bos_token"]))
        let eosName = tokenName(configRoot?["eos_token"])
        if let bos, let addBOS = configRoot?["add_bos_token"]?.bool {
            if addBOS && prefix.first != bos { prefix.insert(bos, at: 0) }
            if !addBOS { prefix.removeAll { $0 == bos } }
        }
        if let eos = id(of: eosName), let addEOS = configRoot?["add_eos_token"]?.bool {
            if addEOS && suffix.last != eos { suffix.append(eos) }
            if !addEOS { suffix.removeAll { $0 == eos } }
        }
        var eos = [id(of: eosName)].compactMap { $0 }
        eos += added.filter { $0.special && endOfGenerationNames.contains($0.content) }.map(\.id)
        return try Tokenizer(
            Configuration(
                model: model, normalizers: normalizers,
                preTokenizer: preTokenizer.steps.last == .byteLevelAlphabet
                    ? preTokenizer.steps.dropLast() : preTokenizer.steps,
                addedTokens: added, decoder: decoder, prefixIDs: prefix, suffixIDs: suffix, bosTokenID: bos,
                eosTokenIDs: eos, metaspace: preTokenizer.metaspace, byteLevelPrefixSpace: preTokenizer.prefixSpace))
    }

    private static func parseMerges(_ value: JSONValue?) throws(TokenizerError) -> [(Substring, Substring)] {
        guard let list = value?.array else { throw .malformed("model.merges is missing or not a list") }
        var pairs: [(Substring, Substring)] = []
        pairs.reserveCapacity(list.count)
        for (index, entry) in list.enumerated() {
            if let pair = entry.array, pair.count == 2, let left = pair[0].string, let right = pair[1].string {
                pairs.append((left[...], right[...]))
            } else if let text = entry.string {
                guard let parts = splitMerge(text) else {
                    throw .malformed("model.merges[\(index)] '\(text)' is not two tokens")
                }
                pairs.append(parts)
            } else {
                throw .malformed("model.merges[\(index)] is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }
        return pairs
    }

    private static func parseDecoder(_ value: JSONValue?) throws(TokenizerError) -> DecoderKind {
        guard let json = value, json.members != nil else { return .sentencePiece(stripLeadingSpaces: 0) }
        if json["type"]?.string == "WordPiece" {
            return .wordPiece(prefix: json["prefix"]?.string ?? "##", cleanup: json["cleanup"]?.bool ?? true)
        }
        let steps = (json["type"]?.string == "Sequence" ? json["decoders"]?.array : [json]) ?? []
        var strip = 0
        for step in steps {
            switch step["type"]?.string ?? "" {
            case "Replace", "ByteFallback", "Fuse": continue
            case "Strip": strip = step["start"]?.int ?? 0
            case "Metaspace":
                let scheme =
                    step["prepend_scheme"]?.string ?? (step["add_prefix_space"]?.bool ?? true ? "always" : "never")
                strip = scheme == "never" ? 0 : 1
            case let other:
                throw .unsupported(
                    "decoder '\(other)'; supported: ByteLevel, WordPiece, Metaspace, Replace, ByteFallback, Fuse, Strip"
                )
            }
        }
        return .sentencePiece(stripLeadingSpaces: strip)
    }

    /// The ids a `TemplateProcessing` puts before and after a single sequence.
    private static func parsePostProcessor(_ value: JSONValue?) throws(TokenizerError) -> ([Int32], [Int32]) {
        guard let json = value, json.members != nil else { return ([], []) }
        switch json["type"]?.string ?? "" {
        case "ByteLevel": return ([], [])
        case "BertProcessing", "RobertaProcessing":
            // "cls": ["[CLS]", 101], "sep": ["[SEP]", 102]
            guard let cls = json["cls"]?.array?.last?.int, let sep = json["sep"]?.array?.last?.int else {
                throw .malformed("post_processor \(json["type"]?.string ?? "") without cls/sep ids")
            }
            return ([Int32(cls)], [Int32(sep)])
        case "Sequence":
            var prefix: [Int32] = []
            var suffix: [Int32] = []
            for item in json["processors"]?.array ?? [] {
                let (p, s) = try parsePostProcessor(item)
                prefix += p
                suffix += s
            }
            return (prefix, suffix)
        case "TemplateProcessing":
            let specials = json["special_tokens"]
            var prefix: [Int32] = []
            var suffix: [Int32] = []
            var seenSequence = false
            for item in json["single"]?.array ?? [] {
                if item["Sequence"] != nil {
                    seenSequence = true
                } else if let name = item["SpecialToken"]?["id"]?.string {
                    guard let ids = specials?[name]?["ids"]?.array?.compactMap({ $0.int.map(Int32.init) }) else {
                        throw .malformed("post_processor names special token '\(name)' without ids")
                    }
                    if seenSequence { suffix += ids } else { prefix += ids }
                }
            }
            return (prefix, suffix)
        case let other:
            throw .unsupported(
                "post-processor '\(other)'; supported: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, "
                    + "Sequence")
        }
    }
    /// A config token entry: "<bos>" or {"content": "<bos>", …}.
    private static func tokenName(_ value: JSONValue?) -> String? {
        value?.string ?? value?["content"]?.string
    }

    private static func mentionsType(_ value: JSONValue?, _ type: String) -> Bool {
        guard let json = value else { return false }
        if json["type"]?.string == type { return true }
        let children = (json["decoders"]?.array ?? []) + (json["pretokenizers"]?.array ?? [])
        return children.contains { mentionsType($0, type) }
    }
}
