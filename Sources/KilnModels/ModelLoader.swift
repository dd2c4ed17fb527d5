import Foundation
import KilnFormats
import KilnTensors

/// Opens a checkpoint — a GGUF file or a Hugging Face directory — and binds its weights in place.
public enum ModelLoader {
    public enum Source: Sendable {
        case gguf(GGUFFile)
        case huggingFace(HFCheckpoint)
    }

    /// Reads the checkpoint at `path` (no weight is copied: matrices point into the mapped files).
    public static func open(_ path: String) throws -> Source {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelError(path, "no such file or directory (give a GGUF file or a Hugging Face model directory)")
        }
        if isDirectory.boolValue {
            return .huggingFace(try HFCheckpoint(directory: path))
        }
        return .gguf(try GGUFFile(path: path))
    }

    public static func transformer(_ source: Source, threads: Int) throws -> Transformer {
        switch source {
        case .gguf(let gguf):
            let config = try ModelConfig(gguf: gguf)
            let weights = try ModelWeights(config: config, source: WeightSource(gguf: gguf), names: .gguf)
            return Transformer(config: config, weights: weights, owner: gguf, threads: threads)
        case .huggingFace(let hf):
            let config = try ModelConfig(hf: hf.config, path: hf.directory + "/config.json")
            let source = WeightSource(hf: hf)
            // Multimodal Gemma 3 checkpoints keep the text model under language_model.
            let prefix = source.has("model.embed_tokens.weight") ? "model." : "language_model.model."
            let names = TensorNames.hf(prefix: prefix, gemma: config.architecture == .gemma3)
            let weights = try ModelWeights(config: config, source: source, names: names)
            return Transformer(config: config, weights: weights, owner: hf, threads: threads)
        }
    }
}
