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
}
