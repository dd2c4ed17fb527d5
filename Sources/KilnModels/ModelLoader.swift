import Foundation
import KilnFormats
import KilnKernels
import KilnTensors

/// Opens a checkpoint — a GGUF file or a Hugging Face directory — and binds its weights in place.
public enum ModelLoader {
    public enum Source: Sendable {
        case gguf(GGUFFile)
        case huggingFace(HFCheckpoint)
        /// A built engine file (`kiln build`).
        case engine(EngineFile)
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
        if EngineFile.hasMagic(path: path) || path.hasSuffix(".kiln") { return .engine(try EngineFile(path: path)) }
        return .gguf(try GGUFFile(path: path))
    }

    public static func transformer(_ source: Source, threads: Int) throws -> Transformer {
        if case .engine(let engine) = source, let what = engine.metadata.rankDescription, let how = engine.metadata.servingHint(engine.path) {
            throw ModelError(engine.path, "this file is \(what), not a whole model; \(how)")
        }
        let (config, weights, owner) = try parts(source)
        let transformer = Transformer(config: config, weights: weights, owner: owner, threads: threads)
        try applyBuildDefaults(source, to: transformer)
        return transformer
    }

    /// The KV cache format chosen at build time is an engine's default; callers may still override it.
    static func applyBuildDefaults(_ source: Source, to transformer: Transformer) throws {
        guard case .engine(let engine) = source, let name = engine.metadata.limits.kvCacheDType, name != "auto" else {
            return
        }
        guard let dtype = KVCacheDType(rawValue: name) else {
            throw ModelError(engine.path, "unknown KV cache format \(name) in the engine's limits")
        }
        transformer.kvCacheDType = dtype
    }

    /// The checkpoint's shape and its weights bound in place (nothing packed yet), with the object that keeps
    /// the mapping alive. A pipeline stage's engine file (`EngineStage`) binds that stage's layers only; a
    /// tensor-parallel rank's file (`EngineShard`) binds its slices (the config stays the whole model's).
    static func parts(_ source: Source) throws -> (ModelConfig, ModelWeights, AnyObject) {
        switch source {
        case .gguf(let gguf):
            let config = try ModelConfig(gguf: gguf)
            let weights = try ModelWeights(config: config, source: WeightSource(gguf: gguf), names: .gguf)
            return (config, weights, gguf)
        case .huggingFace(let hf):
            let config = try ModelConfig(hf: hf.config, path: hf.directory + "/config.json")
            let source = WeightSource(hf: hf)
            // Multimodal Gemma 3 checkpoints keep the text model under language_model.
            let prefix = source.has("model.embed_tokens.weight") ? "model." : "language_model.model."
            let names = TensorNames.hf(prefix: prefix, gemma: config.architecture == .gemma3)
            let weights = try ModelWeights(config: config, source: source, names: names)
            return (config, weights, hf)
        case .engine(let engine):
            try checkCPU(engine)
            let config = try ModelLoader.config(of: source)
            let weights = try ModelWeights(
                config: config, source: WeightSource(engine: engine), names: .gguf, stage: engine.metadata.stage?.layers,
                shard: engine.metadata.shard)
            return (config, weights, engine)
        }
    }

    /// CPU features this Kiln's kernels can use here, by the names engine plans record.
    public static var cpuFeatures: Set<String> {
        switch QuantKernels.ISA.available {
        case .avx512: return ["avx2", "fma", "avx512f", "avx512bw", "avx512vnni"]
        case .avx2: return ["avx2", "fma"]
        case .portable: return []
        }
    }

    /// An engine whose plan requires a feature this CPU lacks is refused with the features named.
    static func checkCPU(_ engine: EngineFile) throws {
        let missing = engine.metadata.plan.requiredCPUFeatures.filter { !cpuFeatures.contains($0) }
        guard missing.isEmpty else {
            throw ModelError(
                engine.path,
                "this engine needs CPU features this machine lacks (\(missing.joined(separator: ", "))); rebuild it here with kiln build")
        }
    }

    /// The model configuration of a checkpoint or engine (an engine's comes from the source metadata it embeds).
    public static func config(of source: Source) throws -> ModelConfig {
        switch source {
        case .gguf(let gguf): return try ModelConfig(gguf: gguf)
        case .huggingFace(let hf): return try ModelConfig(hf: hf.config, path: hf.directory + "/config.json")
        case .engine(let engine):
            var config: ModelConfig
            switch try EngineSourceMetadata(engine) {
            case .gguf(let header): config = try ModelConfig(gguf: header)
            case .huggingFace(let files): config = try ModelConfig(hf: files.config, path: engine.path + " (config.json)")
            }
            // Constants the build multiplied into the stored tensors are not applied again.
            for fold in engine.metadata.plan.folds ?? [] {
                switch fold.kind {
                case EngineFold.attentionScale: config.attentionScale /= fold.value
                case EngineFold.normOffset: config.normWeightOffset -= fold.value
                default: throw ModelError(engine.path, "unknown fold '\(fold.kind)' in the build plan: update Kiln")
                }
            }
            return config
        }
    }
}

/// What an engine file keeps of its source besides the weights: the GGUF header (metadata and tensor infos, no
/// data), or the Hugging Face directory's JSON files.
enum EngineSourceMetadata {
    case gguf(GGUFFile)
    case huggingFace(EngineHFFiles)

    init(_ engine: EngineFile) throws {
        if let header = engine.sections.first(where: { $0.name == EngineSectionNames.ggufMetadata }) {
            let view = MappedFile(view: engine.file, offset: header.offset, count: header.bytes, path: engine.path)
            self = .gguf(try GGUFFile(file: view, path: engine.path + " (embedded GGUF metadata)", headerOnly: true))
            return
        }
        guard let configData = engine.sectionData(EngineSectionNames.hf("config.json")) else {
            throw ModelError(engine.path, "engine file has neither GGUF metadata nor a config.json section")
        }
        func object(_ data: Data?, _ name: String) throws -> [String: Any]? {
            guard let data else { return nil }
            guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ModelError(engine.path, "engine file's \(name) is not a JSON object")
            }
            return o
        }
        self = .huggingFace(
            EngineHFFiles(
                config: try object(configData, "config.json") ?? [:],
                generationConfig: try object(
                    engine.sectionData(EngineSectionNames.hf("generation_config.json")), "generation_config.json"),
                tokenizerJSON: engine.sectionData(EngineSectionNames.hf("tokenizer.json")),
                tokenizerConfig: engine.sectionData(EngineSectionNames.hf("tokenizer_config.json"))))
    }
}

struct EngineHFFiles {
    var config: [String: Any]
    var generationConfig: [String: Any]?
    var tokenizerJSON: Data?
    var tokenizerConfig: Data?
}

/// Section names of the source metadata in an engine file.
public enum EngineSectionNames {
    public static let ggufMetadata = "gguf-metadata"
    public static func hf(_ file: String) -> String { "hf:" + file }
    /// The Hugging Face files an engine keeps, when the directory has them.
    public static let hfFiles = [
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
    ]
}
