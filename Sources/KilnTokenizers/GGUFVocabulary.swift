/// What a GGUF file's `tokenizer.ggml.*` metadata says, with no interpretation yet.
///
/// KilnTokenizers does not read GGUF files (that is KilnFormats' job); KilnModels fills this value from
/// a parsed file and hands it to `Tokenizer(gguf:)`.
public struct GGUFVocabulary: Sendable, Equatable {
    /// Token types as llama.cpp writes them in `tokenizer.ggml.token_type`.
    public enum TokenType: Int32, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE), "llama" (SentencePiece-style), …
    public var model: String
    /// `tokenizer.ggml.pre`: the pre-tokenizer name for byte-level BPE ("smollm", "qwen2", …).
    public var pre: String?
    public var tokens: [String]
    public var scores: [Float]?
    public var tokenTypes: [Int32]?
    /// Merge rules, each "left right", best first.
    public var merges: [String]?
    public var bosID: Int32?
    public var eosID: Int32?
    public var unknownID: Int32?
    public var paddingID: Int32?
    public var eotID: Int32?
    /// WordPiece (BERT) vocabularies: `tokenizer.ggml.cls_token_id` and `seperator_token_id`.
    public var clsID: Int32?
    public var sepID: Int32?
    public var addBOS: Bool?
    public var addEOS: Bool?
    public var addSpacePrefix: Bool?

    public init(
        model: String, pre: String? = nil, tokens: [String], scores: [Float]? = nil, tokenTypes: [Int32]? = nil,
        merges: [String]? = nil, bosID: Int32? = nil, eosID: Int32? = nil, unknownID: Int32? = nil,
        paddingID: Int32? = nil, eotID: Int32? = nil, addBOS: Bool? = nil, addEOS: Bool? = nil,
        addSpacePrefix: Bool? = nil, clsID: Int32? = nil, sepID: Int32? = nil
    ) {
        self.model = model
        self.pre = pre
        self.tokens = tokens
        self.scores = scores
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.eotID = eotID
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
        self.clsID = clsID
        self.sepID = sepID
    }

    func tokenType(_ id: Int) -> TokenType {
        guard let types = tokenTypes, id < types.count else { return .normal }
        return TokenType(rawValue: types[id]) ?? .normal
    }
}
