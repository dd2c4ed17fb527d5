import Foundation
import KilnFormats
import KilnModels
import KilnTensors
import KilnTemplates

/// Why a checkpoint's chat template could not be read.
public struct TemplateSourceError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Where a checkpoint keeps its chat template and the bos/eos strings the template prints.
public struct TemplateSource: Sendable {
    public var template: String
    public var bosToken = ""
    public var eosToken = ""

    public init(template: String, bosToken: String = "", eosToken: String = "") {
        self.template = template
        self.bosToken = bosToken
        self.eosToken = eosToken
    }

    public static func load(_ path: String) throws -> TemplateSource {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TemplateSourceError("\(path): no such file or directory")
        }
        if isDirectory.boolValue { return try huggingFace(path) }
        return EngineFile.hasMagic(path: path) ? try engine(path) : try gguf(GGUFFile(path: path), path: path)
    }

    /// An engine file: the template its source kept (the embedded GGUF header or Hugging Face files).
    static func engine(_ path: String) throws -> TemplateSource {
        let engine = try EngineFile(path: path)
        if let header = engine.sections.first(where: { $0.name == EngineSectionNames.ggufMetadata }) {
            let view = MappedFile(view: engine.file, offset: header.offset, count: header.bytes, path: path)
            return try gguf(GGUFFile(file: view, path: path, headerOnly: true), path: path)
        }
        return try huggingFace(path) { engine.sectionData(EngineSectionNames.hf($0)) }
    }

    /// GGUF: `tokenizer.chat_template`, and the token strings at the bos/eos ids.
    static func gguf(_ file: GGUFFile, path: String) throws -> TemplateSource {
        guard let template = file.metadata["tokenizer.chat_template"]?.string else {
            throw TemplateSourceError("\(path): no tokenizer.chat_template in the GGUF metadata")
        }
        let tokens = file.metadata["tokenizer.ggml.tokens"]?.strings ?? []
        func token(_ key: String) -> String {
            guard let id = file.metadata[key]?.int, tokens.indices.contains(id) else { return "" }
            return tokens[id]
        }
        return TemplateSource(
            template: template, bosToken: token("tokenizer.ggml.bos_token_id"), eosToken: token("tokenizer.ggml.eos_token_id"))
    }

    /// Hugging Face directory: chat_template.jinja when present (it wins in transformers), else
    /// tokenizer_config.json's `chat_template` (a string, or a list of named templates: "default" is used).
    static func huggingFace(_ directory: String) throws -> TemplateSource {
        try huggingFace(directory) {
            FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent($0))
        }
    }

    /// The Hugging Face rules over files read by `contents` (a directory's, or an engine file's copies).
    static func huggingFace(_ directory: String, contents: (String) -> Data?) throws -> TemplateSource {
        let configPath = (directory as NSString).appendingPathComponent("tokenizer_config.json")
        var config = OrderedObject()
        if let data = contents("tokenizer_config.json") {
            guard case .object(let object) = try? Value(json: data) else {
                throw TemplateSourceError("\(configPath): not a JSON object")
            }
            config = object
        }
        var template: String? = nil
        if let data = contents("chat_template.jinja") {
            template = String(decoding: data, as: UTF8.self)
        } else if case .string(let text)? = config["chat_template"] {
            template = text
        } else if case .array(let named)? = config["chat_template"] {
            template = named.first { $0.objectValue?["name"]?.stringValue == "default" }?.objectValue?["template"]?.stringValue
        }
        guard let template else {
            throw TemplateSourceError("\(directory): no chat template (neither chat_template.jinja nor tokenizer_config.json chat_template)")
        }
        func token(_ key: String) -> String {
            switch config[key] {
            case .string(let s)?: return s
            case .object(let o)?: return o["content"]?.stringValue ?? ""
            default: return ""
            }
        }
        return TemplateSource(template: template, bosToken: token("bos_token"), eosToken: token("eos_token"))
    }
}

extension TemplateSource {
    /// The template compiled for rendering.
    public func compile() throws -> ChatTemplate {
        try ChatTemplate(source: template, bosToken: bosToken, eosToken: eosToken)
    }
}
