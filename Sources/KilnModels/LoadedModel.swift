import Foundation
import KilnFormats
import KilnTokenizers

/// A checkpoint opened for generation: its transformer and the tokenizer it was trained with.
public struct LoadedModel: Sendable {
    public let transformer: Transformer
    public let tokenizer: Tokenizer
    /// Tokens that end a generation: the tokenizer's end tokens plus generation_config.json's eos_token_id list.
    public let stopTokenIDs: Set<Int32>

    public static func load(_ path: String, threads: Int) throws -> LoadedModel {
        try load(path) { try ModelLoader.transformer($0, threads: threads) }
    }

    /// The checkpoint at `path` with the transformer `make` binds (the whole model, or one rank's part of it).
    static func load(_ path: String, transformer make: (ModelLoader.Source) throws -> Transformer) throws -> LoadedModel {
        let source = try ModelLoader.open(path)
        let transformer = try make(source)
        let tokenizer: Tokenizer
        var stops: Set<Int32> = []
        func addStops(_ generationConfig: [String: Any]?) {
            switch generationConfig?["eos_token_id"] {
            case let id as Int: stops.insert(Int32(id))
            case let ids as [Int]: stops.formUnion(ids.map(Int32.init))
            default: break
            }
        }
        switch source {
        case .gguf(let gguf):
            tokenizer = try Tokenizer(gguf: GGUFVocabulary(gguf: gguf))
        case .huggingFace(let hf):
            tokenizer = try TokenizerLoader.load(directory: hf.directory)
            addStops(hf.generationConfig)
        case .engine(let engine):
            switch try EngineSourceMetadata(engine) {
            case .gguf(let header):
                tokenizer = try Tokenizer(gguf: GGUFVocabulary(gguf: header))
            case .huggingFace(let files):
                tokenizer = try TokenizerLoader.load(engine: engine.path, files: files)
                addStops(files.generationConfig)
            }
        }
        stops.formUnion(tokenizer.eosTokenIDs)
        return LoadedModel(transformer: transformer, tokenizer: tokenizer, stopTokenIDs: stops)
    }
}
