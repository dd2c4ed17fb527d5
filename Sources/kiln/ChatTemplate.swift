import ArgumentParser
import Foundation
import KilnFormats
import KilnServer
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
