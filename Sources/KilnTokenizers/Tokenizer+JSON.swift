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
        guard (modelJSON["type"]?.string ?? "BPE") == "BPE" else {
            throw .unsupported("model type '\(modelJSON["type"]?.string ?? "")'; Kiln implements BPE")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = modelJSON[key]?.string, !value.isEmpty { throw .unsupported("BPE \(key) '\(value)'") }
        }
        if let dropout = modelJSON["dropout"]?.number, dropout > 0 { throw .unsupported("BPE dropout") }
        guard let vocab = modelJSON["vocab"]?.members else { throw .malformed("'model.vocab' is missing") }
        var spellings = [String](repeating: "", count: vocab.count)
        var pieceIDs: [ByteString: Int32] = [:]
        for (piece, value) in vocab {
            guard let id = value.int, id >= 0, id < vocab.count else {
                throw .malformed("model.vocab['\(piece)'] is not an id below \(vocab.count)")
            }
            spellings[id] = piece
            pieceIDs[ByteString(piece)] = Int32(id)
        }
        let mergePairs = try parseMerges(modelJSON["merges"])

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

        let model = try BPEModel(
            kind: byteLevel ? .byteLevel : .characters(byteFallback: modelJSON["byte_fallback"]?.bool ?? false),
            spellings: spellings, mergePairs: mergePairs, unknownID: id(of: modelJSON["unk_token"]?.string),
            fuseUnknown: modelJSON["fuse_unk"]?.bool ?? false, ignoreMerges: modelJSON["ignore_merges"]?.bool ?? false)
        let decoder = try byteLevel ? .byteLevel : parseSentencePieceDecoder(root["decoder"])

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
                model: model, normalizers: normalizers, preTokenizer: preTokenizer.steps, addedTokens: added,
                decoder: decoder, prefixIDs: prefix, suffixIDs: suffix, bosTokenID: bos, eosTokenIDs: eos))
    }

    private static func parseMerges(_ value: JSONValue?) throws(TokenizerError) -> [(Substring, Substring)] {
        guard let list = value?.array else { throw .malformed("model.merges is missing or not a list") }
        var pairs: [(Substring, Substring)] = []
        pairs.reserveCapacity(list.count)
        for (index, entry) in list.enumerated() {
            if let pair = entry.array, pair.count == 2, let left = pair[0].string, let right = pair[1].string {
                pairs.append((left[...], right[...]))
            } else if let text = entry.string {
                let parts = text.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw .malformed("model.merges[\(index)] '\(text)' is not two tokens") }
                pairs.append((parts[0], parts[1]))
            } else {
                throw .malformed("model.merges[\(index)] is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }
        return pairs
    }

    private static func parseNormalizer(_ value: JSONValue?) throws(TokenizerError) -> [NormalizerStep] {
        guard let json = value, json.members != nil else { return [] }
        let type = json["type"]?.string ?? ""
        switch type {
        case "NFC": return [.nfc]
        case "NFD": return [.nfd]
        case "NFKC": return [.nfkc]
        case "NFKD": return [.nfkd]
        case "Sequence":
            var steps: [NormalizerStep] = []
            for item in json["normalizers"]?.array ?? [] { steps += try parseNormalizer(item) }
            return steps
        case "Prepend":
            return [.prepend(Array((json["prepend"]?.string ?? "").utf8))]
        case "Replace":
            guard let pattern = json["pattern"]?["String"]?.string, let content = json["content"]?.string
            else { throw .unsupported("normalizer Replace with a regex pattern; only literal patterns are supported") }
            return [.replace(pattern: Array(pattern.utf8), content: Array(content.utf8))]
        default:
            throw .unsupported("normalizer '\(type)'; supported: NFC, NFD, NFKC, NFKD, Replace, Prepend, Sequence")
        }
    }

    private static func parsePreTokenizer(
        _ value: JSONValue?
    ) throws(TokenizerError) -> (steps: [PreTokenizerStep], byteLevel: Bool) {
        guard let json = value, json.members != nil else { return ([], false) }
        let type = json["type"]?.string ?? ""
        switch type {
        case "Sequence":
            var steps: [PreTokenizerStep] = []
            var byteLevel = false
            for item in json["pretokenizers"]?.array ?? [] {
                let inner = try parsePreTokenizer(item)
                steps += inner.steps
                byteLevel = byteLevel || inner.byteLevel
            }
            return (steps, byteLevel)
        case "ByteLevel":
            if json["add_prefix_space"]?.bool == true {
                throw .unsupported("ByteLevel pre-tokenizer with add_prefix_space")
            }
            return (json["use_regex"]?.bool ?? true ? [.pattern(.gpt2)] : [], true)
        case "Digits":
            return (json["individual_digits"]?.bool == true ? [.individualDigits] : [.digitRuns], false)
        case "Split":
            if json["invert"]?.bool == true { throw .unsupported("Split pre-tokenizer with invert") }
            let behavior = json["behavior"]?.string ?? ""
            let pattern = json["pattern"]
            if let regex = pattern?["Regex"]?.string {
                guard let known = SplitPattern(regex: regex), behavior == "Isolated" else {
                    throw .unsupported(
                        "Split regex \(regex) (\(behavior)); Kiln knows the GPT-2, Qwen2 and Llama 3 patterns")
                }
                return ([.pattern(known)], false)
            }
            guard let literal = pattern?["String"]?.string else {
                throw .malformed("Split pre-tokenizer without a pattern")
            }
            let scalars = literal.unicodeScalars.map(\.value)
            switch behavior {
            case "Isolated": return ([.literalIsolated(scalars)], false)
            case "MergedWithPrevious": return ([.literalMergedWithPrevious(scalars)], false)
            default: throw .unsupported("Split on a literal with behavior '\(behavior)'")
            }
        default:
            throw .unsupported("pre-tokenizer '\(type)'; supported: ByteLevel, Digits, Split, Sequence")
        }
    }

    private static func parseSentencePieceDecoder(_ value: JSONValue?) throws(TokenizerError) -> DecoderKind {
        guard let json = value, json.members != nil else { return .sentencePiece(stripLeadingSpaces: 0) }
        let steps = (json["type"]?.string == "Sequence" ? json["decoders"]?.array : [json]) ?? []
        var strip = 0
        for step in steps {
            switch step["type"]?.string ?? "" {
            case "Replace", "ByteFallback", "Fuse": continue
            case "Strip": strip = step["start"]?.int ?? 0
            case let other:
                throw .unsupported("decoder '\(other)'; supported: ByteLevel, Replace, ByteFallback, Fuse, Strip")
            }
        }
        return .sentencePiece(stripLeadingSpaces: strip)
    }

    /// The ids a `TemplateProcessing` puts before and after a single sequence.
    private static func parsePostProcessor(_ value: JSONValue?) throws(TokenizerError) -> ([Int32], [Int32]) {
        guard let json = value, json.members != nil else { return ([], []) }
        switch json["type"]?.string ?? "" {
        case "ByteLevel": return ([], [])
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
            throw .unsupported("post-processor '\(other)'; supported: TemplateProcessing, ByteLevel, Sequence")
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
