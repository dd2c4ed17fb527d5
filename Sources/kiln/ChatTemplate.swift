import ArgumentParser
import Foundation
import KilnFormats
import KilnTemplates

struct ChatTemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-template",
        abstract: "Render a model's chat template for a conversation, as transformers' apply_chat_template does.")

    @Option(name: .shortAndLong, help: "A GGUF file or a Hugging Face model directory.")
    var model: String

    @Option(help: "JSON file: a list of messages, or an object with a \"messages\" list.")
    var messages: String

    @Flag(help: "End with the header that starts the assistant's reply.")
    var addGenerationPrompt = false

    @Option(help: "JSON file: a list of tool schemas.")
    var tools: String?

    func run() throws {
        let text = try reportingErrors {
            let source = try TemplateSource.load(model)
            let template = try ChatTemplate(source: source.template, bosToken: source.bosToken, eosToken: source.eosToken)
            var conversation = try Self.readJSON(messages)
            if case .object(let object) = conversation, let list = object["messages"] { conversation = list }
            let toolList = try tools.map { try Self.readJSON($0) }
            return try template.render(messages: conversation, addGenerationPrompt: addGenerationPrompt, tools: toolList)
        }
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func readJSON(_ path: String) throws -> Value {
        // A FileHandle also reads pipes (`--messages <(…)`), which FileManager.contents(atPath:) does not.
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CLIError("cannot read \(path)") }
        defer { try? handle.close() }
        let data = handle.readDataToEndOfFile()
        do {
            return try Value(json: data)
        } catch let error as TemplateError {
            throw CLIError("\(path): \(error.message)")
        }
    }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Where a checkpoint keeps its chat template and the bos/eos strings the template prints.
struct TemplateSource {
    var template: String
    var bosToken = ""
    var eosToken = ""

    static func load(_ path: String) throws -> TemplateSource {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CLIError("\(path): no such file or directory")
        }
        return isDirectory.boolValue ? try huggingFace(path) : try gguf(path)
    }

    /// GGUF: `tokenizer.chat_template`, and the token strings at the bos/eos ids.
    static func gguf(_ path: String) throws -> TemplateSource {
        let file = try GGUFFile(path: path)
        guard let template = file.metadata["tokenizer.chat_template"]?.string else {
            throw CLIError("\(path): no tokenizer.chat_template in the GGUF metadata")
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
        let configPath = (directory as NSString).appendingPathComponent("tokenizer_config.json")
        var config = OrderedObject()
        if let data = FileManager.default.contents(atPath: configPath) {
            guard case .object(let object) = try? Value(json: data) else {
                throw CLIError("\(configPath): not a JSON object")
            }
            config = object
        }
        var template: String? = nil
        let jinjaPath = (directory as NSString).appendingPathComponent("chat_template.jinja")
        if let data = FileManager.default.contents(atPath: jinjaPath) {
            template = String(decoding: data, as: UTF8.self)
        } else if case .string(let text)? = config["chat_template"] {
            template = text
        } else if case .array(let named)? = config["chat_template"] {
            template = named.first { $0.objectValue?["name"]?.stringValue == "default" }?.objectValue?["template"]?.stringValue
        }
        guard let template else {
            throw CLIError("\(directory): no chat template (neither chat_template.jinja nor tokenizer_config.json chat_template)")
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
