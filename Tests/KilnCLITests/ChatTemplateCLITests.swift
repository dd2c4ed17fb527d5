import Foundation
import Testing

/// `kiln chat-template` end to end: a Hugging Face directory holding only tokenizer_config.json (the template
/// comes from the committed goldens), rendered output equal to transformers', and a template's
/// raise_exception reported as one error line with the template line and a non-zero exit.
@Suite struct ChatTemplateCLITests {
    let runner = BadInputTests()
    let goldens = packageRoot() + "/Tests/goldens/templates"

    func scratch() throws -> String {
        let dir = NSTemporaryDirectory() + "kiln-chat-template-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A model directory whose tokenizer_config.json carries `template` and bos/eos in both spellings.
    func modelDirectory(template: String) throws -> String {
        let dir = try scratch()
        let config: [String: Any] = ["chat_template": template, "bos_token": ["content": "<s>"], "eos_token": "</s>"]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/tokenizer_config.json"))
        return dir
    }

    func write(_ text: String) throws -> String {
        let path = try scratch() + "/input.json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func rendersLikeTransformers() throws {
        let template = try String(contentsOfFile: goldens + "/mistral-v3.jinja", encoding: .utf8)
        let model = try modelDirectory(template: template)
        let messages = try write(
            #"{"messages": [{"role": "user", "content": "Write a haiku."}, {"role": "assistant", "content": "Leaves"}, "#
                + #"{"role": "user", "content": "Again"}]}"#)
        let run = try runner.kiln(["chat-template", "--model", model, "--messages", messages])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "<s>[INST] Write a haiku.[/INST] Leaves</s>[INST] Again[/INST]")
    }

    @Test func raisedTemplateErrorIsOneLineWithTheTemplateLine() throws {
        let template = try String(contentsOfFile: goldens + "/mistral-v3.jinja", encoding: .utf8)
        let model = try modelDirectory(template: template)
        let messages = try write(#"[{"role": "assistant", "content": "first"}, {"role": "user", "content": "x"}]"#)
        try runner.expectClearError(
            ["chat-template", "--model", model, "--messages", messages],
            mentions: ["line 18", "conversation roles must alternate"])
    }

    @Test func missingTemplateAndBadJSONAreClearErrors() throws {
        let empty = try scratch()
        let messages = try write("[]")
        try runner.expectClearError(["chat-template", "--model", empty, "--messages", messages], mentions: ["no chat template"])
        let model = try modelDirectory(template: "{{ messages }}")
        let broken = try write("[{\"role\": ")
        try runner.expectClearError(["chat-template", "--model", model, "--messages", broken], mentions: [broken, "invalid JSON"])
    }
}
