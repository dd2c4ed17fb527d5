import Foundation

/// Text normalization applied before pre-tokenization (after added tokens that are not "normalized" have
/// been cut out), one step of a Hugging Face `normalizer` each.
enum NormalizerStep: Sendable, Equatable {
    case nfc, nfd, nfkc, nfkd
    /// `Replace` with a literal pattern, e.g. " " → "▁" for SentencePiece vocabularies.
    case replace(pattern: [UInt8], content: [UInt8])
    /// `Prepend`: adds `content` in front of non-empty text.
    case prepend([UInt8])
    /// `Replace` with a regex pattern.
    case replaceRegex(Regex, content: [UInt8])
    /// `BertNormalizer` (WordPiece.swift).
    case bert(cleanText: Bool, chineseChars: Bool, stripAccents: Bool, lowercase: Bool)
    /// `Lowercase`, per character with full mappings.
    case lowercase
    /// `StripAccents`: drops nonspacing marks.
    case stripAccents
    /// `Strip`: drops leading and/or trailing whitespace.
    case strip(left: Bool, right: Bool)

    func apply(_ bytes: [UInt8]) -> [UInt8] {
        switch self {
        case .nfc, .nfd, .nfkc, .nfkd:
            // Text made only of scalars below U+0300 is invariant under NFC (none of them compose with a
            // predecessor); everything else goes through Foundation's normalizer.
            if self == .nfc && bytes.allSatisfy({ $0 < 0xCC }) { return bytes }
            return Self.normalizeInChunks(bytes, self)
        case .replace(let pattern, let content):
            return Self.replace(bytes, pattern, content)
        case .prepend(let content):
            return bytes.isEmpty ? bytes : content + bytes
        case .replaceRegex(let regex, let content):
            let text = ScalarText(utf8: bytes[...])
            var out: [UInt8] = []
            var previous = 0
            for match in regex.matches(text.scalars, in: 0..<text.count) where !match.isEmpty {
                out.append(contentsOf: bytes[text.utf8Offsets[previous]..<text.utf8Offsets[match.lowerBound]])
                out.append(contentsOf: content)
                previous = match.upperBound
            }
            out.append(contentsOf: bytes[text.utf8Offsets[previous]...])
            return out
        case .bert(let cleanText, let chineseChars, let stripAccents, let lowercase):
            return Self.bert(
                bytes, cleanText: cleanText, chineseChars: chineseChars, stripAccents: stripAccents,
                lowercase: lowercase)
        case .lowercase:
            if bytes.allSatisfy({ $0 < 0x80 }) { return bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 } }
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count)
            for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
                if scalar.value < 0x80 {
                    let v = UInt8(scalar.value)
                    out.append(v >= 0x41 && v <= 0x5A ? v + 0x20 : v)
                } else if !scalar.properties.changesWhenLowercased {
                    UTF8.encode(scalar) { out.append($0) }
                } else {
                    out.append(contentsOf: scalar.properties.lowercaseMapping.utf8)
                }
            }
            return out
        case .stripAccents:
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count)
            for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars
            where scalar.value < 0x300 || scalar.properties.generalCategory != .nonspacingMark {
                UTF8.encode(scalar) { out.append($0) }
            }
            return out
        case .strip(let left, let right):
            var scalars = Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)
            if right { while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() } }
            if left, let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) {
                scalars.removeFirst(first)
            } else if left {
                scalars.removeAll()
            }
            return Array(String(String.UnicodeScalarView(scalars)).utf8)
        }
    }

    /// Foundation's normalizers take time quadratic in the length of their input here, so the text goes
    /// through them in chunks. A chunk starts at an ASCII character (a starter that composes with nothing
    /// before it) and runs up to the next one; a chunk of one ASCII character is already normalized.
    static func normalizeInChunks(_ bytes: [UInt8], _ form: NormalizerStep) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 8)
        var start = 0
        let n = bytes.count
        while start < n {
            var end = start + 1
            while end < n && bytes[end] >= 0x80 { end += 1 }
            if end - start == 1 && bytes[start] < 0x80 {
                out.append(bytes[start])
            } else {
                let text = String(decoding: bytes[start..<end], as: UTF8.self)
                let normalized: String
                switch form {
                case .nfc: normalized = text.precomposedStringWithCanonicalMapping
                case .nfd: normalized = text.decomposedStringWithCanonicalMapping
                case .nfkc: normalized = text.precomposedStringWithCompatibilityMapping
                default: normalized = text.decomposedStringWithCompatibilityMapping
                }
                out.append(contentsOf: normalized.utf8)
            }
            start = end
        }
        return out
    }

    private static func replace(_ bytes: [UInt8], _ pattern: [UInt8], _ content: [UInt8]) -> [UInt8] {
        guard let first = pattern.first else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 2)
        var i = 0
        let n = bytes.count
        while i < n {
            if bytes[i] == first && i + pattern.count <= n
                && (pattern.count == 1 || bytes[i..<(i + pattern.count)].elementsEqual(pattern))
            {
                out.append(contentsOf: content)
                i += pattern.count
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }
}
