import Foundation
import KilnTemplates
import Testing

/// Every real chat template × every conversation × with/without tools × add_generation_prompt, rendered by
/// transformers: Kiln must produce the identical string, or fail where transformers fails (raise_exception
/// with the same message, naming a line).
@Suite struct ChatTemplateGoldenTests {
    @Test(arguments: Goldens.templateNames)
    func matchesTransformers(_ name: String) throws {
        let sources = try Goldens.json("sources.json")["templates"][name]
        let inputs = try Goldens.json("conversations.json")
        let template = try ChatTemplate(
            source: try Goldens.text("\(name).jinja"), bosToken: sources["bos_token"].stringValue ?? "",
            eosToken: sources["eos_token"].stringValue ?? "")
        let cases = try #require(try Goldens.json("\(name).golden.json").arrayValue)
        #expect(cases.count >= 12)
        var rendered = 0
        for c in cases {
            let conversation = c["conversation"].stringValue ?? ""
            let label = "\(name)/\(conversation) tools=\(c["tools"].bool) agp=\(c["add_generation_prompt"].bool)"
            let render = {
                try template.render(
                    messages: inputs["conversations"][conversation], addGenerationPrompt: c["add_generation_prompt"].bool,
                    tools: c["tools"].bool ? inputs["tools"] : nil)
            }
            if let expected = c["expected"].stringValue {
                rendered += 1
                do {
                    let got = try render()
                    #expect(got == expected, "\(label)")
                } catch {
                    Issue.record("\(label): unexpected error \(error)")
                }
            } else {
                do {
                    let got = try render()
                    Issue.record("\(label): expected an error (\(c["error"].pythonDescription)), got \(got.debugDescription)")
                } catch let error as TemplateError {
                    if c["raised"].bool {
                        #expect(error.kind == .raised, "\(label): \(error)")
                        #expect(error.message == c["error"].stringValue, "\(label)")
                        #expect(error.line != nil, "\(label): raise_exception must name its line")
                    }
                }
            }
        }
        #expect(rendered >= 4, "each template must render at least a few conversations")
    }

    @Test func mistralAlternationErrorNamesTheLine() throws {
        let source = try Goldens.text("mistral-v3.jinja")
        let template = try ChatTemplate(source: source)
        let messages: Value = [["role": "assistant", "content": "first"], ["role": "user", "content": "then"]]
        do {
            _ = try template.render(messages: messages)
            Issue.record("expected the alternation check to fire")
        } catch let error as TemplateError {
            let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
            let line = try #require(error.line)
            #expect(lines[line - 1].contains("raise_exception(\"After the optional system message"))
            #expect(error.description.contains("line \(line)"))
            #expect(error.description.contains("conversation roles must alternate"))
        }
    }

    @Test func gemmaRoleErrorNamesTheLine() throws {
        let source = try Goldens.text("gemma3.jinja")
        let template = try ChatTemplate(source: source, bosToken: "<bos>")
        do {
            _ = try template.render(messages: [["role": "user", "content": "a"], ["role": "user", "content": "b"]])
            Issue.record("expected the role check to fire")
        } catch let error as TemplateError {
            #expect(error.kind == .raised)
            let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
            let line = try #require(error.line)
            #expect(lines[line - 1].contains("raise_exception(\"Conversation roles must alternate"))
            #expect(error.message == "Conversation roles must alternate user/assistant/user/assistant/...")
        }
    }
}

extension Value {
    var pythonDescription: String { stringValue ?? "\(self)" }
}
