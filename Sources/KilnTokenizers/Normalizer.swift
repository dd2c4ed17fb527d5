import Foundation

/// Text normalization applied before pre-tokenization (after added tokens that are not "normalized" have
/// been cut out), one step of a Hugging Face `normalizer` each.
enum NormalizerStep: Sendable, Equatable {
    case nfc, nfd, nfkc, nfkd
    /// `Replace` with a literal pattern, e.g. " " → "▁" for SentencePiece vocabularies.
    case replace(pattern: [UInt8], content: [UInt8])
    /// `Prepend`: adds `content` in front of non-empty text.
    case prepend([UInt8])

    func apply(_ bytes: [UInt8]) -> [UInt8] {
        switch self {
        case .nfc, .nfd, .nfkc, .nfkd:
            // Text made only of scalars below U+0300 is invariant under NFC (none of them compose with a
            // predecessor); everything else goes through Foundation's normalizer.
            if self == .nfc && bytes.allSatisfy({ $0 < 0xCC }) { return bytes }
            let text = String(decoding: bytes, as: UTF8.self)
            let normalized: String
            switch self {
            case .nfc: normalized = text.precomposedStringWithCanonicalMapping
            case .nfd: normalized = text.decomposedStringWithCanonicalMapping
            case .nfkc: normalized = text.precomposedStringWithCompatibilityMapping
            default: normalized = text.decomposedStringWithCompatibilityMapping
            }
            return Array(normalized.utf8)
        case .replace(let pattern, let content):
            return Self.replace(bytes, pattern, content)
        case .prepend(let content):
            return bytes.isEmpty ? bytes : content + bytes
        }
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
