import Foundation
import KilnFormats
import KilnTokenizers

/// Loads only a checkpoint's tokenizer (no weights are bound): from a GGUF file's `tokenizer.ggml.*`
/// metadata, or from a Hugging Face directory's tokenizer.json and tokenizer_config.json.
public enum TokenizerLoader {
    public static func load(_ path: String) throws -> Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelError(path, "no such file or directory (give a GGUF file or a Hugging Face model directory)")
        }
        if isDirectory.boolValue { return try load(directory: path) }
        if EngineFile.hasMagic(path: path) {
            let engine = try EngineFile(path: path)
            switch try EngineSourceMetadata(engine) {
            case .gguf(let header): return try Tokenizer(gguf: GGUFVocabulary(gguf: header))
            case .huggingFace(let files): return try load(engine: path, files: files)
            }
        }
        return try Tokenizer(gguf: GGUFVocabulary(gguf: GGUFFile(path: path)))
    }

    public static func load(directory: String) throws -> Tokenizer {
        let jsonPath = directory + "/tokenizer.json"
        guard let json = FileManager.default.contents(atPath: jsonPath) else {
            throw ModelError(jsonPath, "file not found (the model directory needs its tokenizer.json)")
        }
        let config = FileManager.default.contents(atPath: directory + "/tokenizer_config.json")
        do {
            return try Tokenizer.fromTokenizerJSON(json, config: config)
        } catch {
            throw ModelError(jsonPath, error.description)
        }
    }

    static func load(engine path: String, files: EngineHFFiles) throws -> Tokenizer {
        guard let json = files.tokenizerJSON else {
            throw ModelError(path, "engine file has no tokenizer.json section (its source directory had none)")
        }
        do {
            return try Tokenizer.fromTokenizerJSON(json, config: files.tokenizerConfig)
        } catch {
            throw ModelError(path, "embedded tokenizer.json: \(error.description)")
        }
    }
}
