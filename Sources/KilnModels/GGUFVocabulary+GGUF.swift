import KilnFormats
import KilnTokenizers

extension GGUFVocabulary {
    /// The `tokenizer.ggml.*` metadata of a GGUF file, for `Tokenizer(gguf:)`.
    public init(gguf file: GGUFFile) throws(TokenizerError) {
        let metadata = file.metadata
        func key(_ name: String) -> GGUFValue? { metadata["tokenizer.ggml." + name] }
        func id(_ name: String) -> Int32? { key(name)?.int.flatMap { Int32(exactly: $0) } }
        guard let model = key("model")?.string else {
            throw .malformed("\(file.path) has no tokenizer.ggml.model: it carries no tokenizer")
        }
        guard let tokens = key("tokens")?.strings else {
            throw .malformed("\(file.path) has no tokenizer.ggml.tokens string array")
        }
        self.init(
            model: model, pre: key("pre")?.string, tokens: tokens, scores: key("scores")?.floats,
            tokenTypes: key("token_type")?.ints?.map { Int32(truncatingIfNeeded: $0) }, merges: key("merges")?.strings,
            bosID: id("bos_token_id"), eosID: id("eos_token_id"), unknownID: id("unknown_token_id"),
            paddingID: id("padding_token_id"), eotID: id("eot_token_id"), addBOS: key("add_bos_token")?.bool,
            addEOS: key("add_eos_token")?.bool, addSpacePrefix: key("add_space_prefix")?.bool,
            clsID: id("cls_token_id"), sepID: id("seperator_token_id") ?? id("separator_token_id"))
    }
}
