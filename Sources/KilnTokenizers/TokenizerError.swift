import Foundation

/// Why a tokenizer could not be built. Every case names the file part at fault and what Kiln supports,
/// so a person can tell a malformed file from a tokenizer Kiln does not implement yet.
public enum TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The data is not JSON, or a required field is missing or has the wrong type.
    case malformed(String)
    /// The file is well-formed but asks for a component Kiln does not implement.
    case unsupported(String)
    /// A GGUF `tokenizer.ggml.pre` name that Kiln does not know.
    case unknownPreTokenizer(String)
    /// A merge rule refers to a token missing from the vocabulary.
    case invalidMerge(String)
    /// Text given as bytes is not valid UTF-8; the offset is that of the first bad byte.
    case invalidUTF8(offset: Int)

    public var description: String {
        switch self {
        case .malformed(let what): "malformed tokenizer: \(what)"
        case .unsupported(let what): "unsupported tokenizer: \(what)"
        case .unknownPreTokenizer(let name):
            "unknown GGUF pre-tokenizer '\(name)'; known: "
                + PreTokenizerStep.ggufNames.sorted().joined(separator: ", ")
        case .invalidMerge(let what): "invalid BPE merge: \(what)"
        case .invalidUTF8(let offset): "the text is not valid UTF-8 (bad byte at offset \(offset))"
        }
    }
}
