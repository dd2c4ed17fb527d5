/// Parsing tokenizer.json's normalizer and pre-tokenizer sections.
extension Tokenizer {
    /// The pre-tokenizer steps, plus what is not a split: whether `ByteLevel` appears (the model is then
    /// byte-level), its `add_prefix_space`, and a final `Metaspace`.
    struct PreTokenizerParts {
        var steps: [PreTokenizerStep] = []
        var byteLevel = false
        var prefixSpace = false
        var metaspace: MetaspaceRule?
    }

    static func parseNormalizer(_ value: JSONValue?) throws(TokenizerError) -> [NormalizerStep] {
        guard let json = value, json.members != nil else { return [] }
        let type = json["type"]?.string ?? ""
        switch type {
        case "NFC": return [.nfc]
        case "NFD": return [.nfd]
        case "NFKC": return [.nfkc]
        case "NFKD": return [.nfkd]
        case "Lowercase": return [.lowercase]
        case "StripAccents": return [.stripAccents]
        case "Strip":
            return [.strip(left: json["strip_left"]?.bool ?? true, right: json["strip_right"]?.bool ?? true)]
        case "BertNormalizer":
            let lowercase = json["lowercase"]?.bool ?? true
            return [
                .bert(
                    cleanText: json["clean_text"]?.bool ?? true,
                    chineseChars: json["handle_chinese_chars"]?.bool ?? true,
                    stripAccents: json["strip_accents"]?.bool ?? lowercase, lowercase: lowercase)
            ]
        case "Sequence":
            var steps: [NormalizerStep] = []
            for item in json["normalizers"]?.array ?? [] { steps += try parseNormalizer(item) }
            return steps
        case "Prepend":
            return [.prepend(Array((json["prepend"]?.string ?? "").utf8))]
        case "Replace":
            guard let content = json["content"]?.string else { throw .malformed("normalizer Replace without content") }
            if let pattern = json["pattern"]?["String"]?.string {
                return [.replace(pattern: Array(pattern.utf8), content: Array(content.utf8))]
            }
            guard let regex = json["pattern"]?["Regex"]?.string else {
                throw .malformed("normalizer Replace without a String or Regex pattern")
            }
            return [.replaceRegex(try Regex(regex), content: Array(content.utf8))]
        default:
            throw .unsupported(
                "normalizer '\(type)'; supported: NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Strip, BertNormalizer, "
                    + "Replace, Prepend, Sequence")
        }
    }

    static func parsePreTokenizer(_ value: JSONValue?) throws(TokenizerError) -> PreTokenizerParts {
        var parts = PreTokenizerParts()
        guard let json = value, json.members != nil else { return parts }
        let type = json["type"]?.string ?? ""
        if type != "Sequence" && parts.metaspace != nil {
            throw .unsupported("a pre-tokenizer after Metaspace")
        }
        switch type {
        case "Sequence":
            for item in json["pretokenizers"]?.array ?? [] {
                guard parts.metaspace == nil else { throw .unsupported("a pre-tokenizer after Metaspace") }
                let inner = try parsePreTokenizer(item)
                if inner.byteLevel && !parts.steps.isEmpty && inner.prefixSpace {
                    throw .unsupported("ByteLevel with add_prefix_space after another pre-tokenizer")
                }
                parts.steps += inner.steps
                parts.byteLevel = parts.byteLevel || inner.byteLevel
                parts.prefixSpace = parts.prefixSpace || inner.prefixSpace
                parts.metaspace = inner.metaspace
            }
            // Steps after ByteLevel see the byte alphabet; a marker at the end would change nothing.
            if parts.steps.last == .byteLevelAlphabet { parts.steps.removeLast() }
        case "ByteLevel":
            parts.byteLevel = true
            parts.prefixSpace = json["add_prefix_space"]?.bool ?? false
            parts.steps = (json["use_regex"]?.bool ?? true ? [.pattern(.gpt2)] : []) + [.byteLevelAlphabet]
        case "Digits":
            parts.steps = [json["individual_digits"]?.bool == true ? .individualDigits : .digitRuns]
        case "Split":
            parts.steps = [.split(try parseSplit(json))]
        case "Punctuation":
            parts.steps = [.split(SplitRule.punctuation(try behavior(json, default: .isolated)))]
        case "WhitespaceSplit":
            parts.steps = [.split(SplitRule.whitespaceSplit)]
        case "Whitespace":
            parts.steps = [
                .split(SplitRule(matcher: .regex(try Regex(#"\w+|[^\w\s]+"#)), behavior: .removed, invert: true))
            ]
        case "BertPreTokenizer":
            parts.steps = [.bert]
        case "Metaspace":
            let scheme: MetaspaceRule.PrependScheme
            if let name = json["prepend_scheme"]?.string {
                guard let parsed = MetaspaceRule.PrependScheme(rawValue: name) else {
                    throw .malformed("Metaspace prepend_scheme '\(name)'")
                }
                scheme = parsed
            } else {
                scheme = json["add_prefix_space"]?.bool ?? true ? .always : .never
            }
            parts.metaspace = MetaspaceRule(
                replacement: Array((json["replacement"]?.string ?? "\u{2581}").utf8), prependScheme: scheme,
                split: json["split"]?.bool ?? true)
        default:
            throw .unsupported(
                "pre-tokenizer '\(type)'; supported: ByteLevel, Digits, Split, Punctuation, Whitespace, WhitespaceSplit, "
                    + "BertPreTokenizer, Metaspace, Sequence")
        }
        return parts
    }

    private static func behavior(
        _ json: JSONValue, default fallback: SplitRule.Behavior
    ) throws(TokenizerError) -> SplitRule.Behavior {
        guard let name = json["behavior"]?.string else { return fallback }
        guard let behavior = SplitRule.Behavior(rawValue: name) else {
            throw .malformed("split behavior '\(name)'")
        }
        return behavior
    }

    private static func parseSplit(_ json: JSONValue) throws(TokenizerError) -> SplitRule {
        let behavior = try behavior(json, default: .isolated)
        let invert = json["invert"]?.bool ?? false
        if let regex = json["pattern"]?["Regex"]?.string {
            let matcher: SplitRule.Matcher
            if let known = SplitPattern(regex: regex) {
                matcher = .known(known)
            } else {
                matcher = .regex(try Regex(regex))
            }
            return SplitRule(matcher: matcher, behavior: behavior, invert: invert)
        }
        guard let literal = json["pattern"]?["String"]?.string else {
            throw .malformed("Split pre-tokenizer without a pattern")
        }
        return SplitRule(matcher: .literal(literal.unicodeScalars.map(\.value)), behavior: behavior, invert: invert)
    }
}
