import Foundation
import KilnTemplates
import Testing

/// Interpreter features one at a time (filters, tests, loops, macros, whitespace control, errors), each
/// compared with the output Python's Jinja2 produced for the same template and variables.
@Suite struct FeatureTests {
    static let cases: [Value] = (try? Goldens.json("features.json").arrayValue) ?? []

    static var names: [String] { cases.compactMap { $0["name"].stringValue } }

    @Test func goldensArePresent() {
        #expect(Self.cases.count >= 80)
    }

    @Test(arguments: FeatureTests.names)
    func matchesJinja2(_ name: String) throws {
        let c = try #require(Self.cases.first { $0["name"].stringValue == name })
        let source = try #require(c["template"].stringValue)
        var variables: [String: Value] = [:]
        for (key, value) in c["variables"].objectValue?.pairs ?? [] { variables[key] = value }
        if let expected = c["expected"].stringValue {
            let template = try Template(source: source)
            let got = try template.render(variables)
            #expect(got == expected)
            return
        }
        do {
            let got = try Template(source: source).render(variables)
            Issue.record("expected an error (\(c["error"].pythonDescription)), got \(got.debugDescription)")
        } catch let error as TemplateError {
            if case .int(let line) = c["line"] { #expect(error.line == line, "\(error)") }
            if c["raised"].bool { #expect(error.message == c["error"].stringValue) }
        }
    }

    @Test func strftimeNowFormatsTheCurrentDate() throws {
        let year = Calendar.current.component(.year, from: Date())
        let got = try Template(source: "{{ strftime_now('%Y') }}|{{ strftime_now('%d %b %Y') | length }}").render([:])
        #expect(got == "\(year)|11")
    }

    @Test func jsonInputKeepsKeyOrderAndTypes() throws {
        let value = try Value(json: Data(#"{"z": 1, "a": [1.5, true, null, "\u00e9\ud83d\ude00"], "m": {}}"#.utf8))
        let out = try Template(source: "{{ v | tojson }} {{ v.a[0] + v.z }}").render(["v": value])
        #expect(out == #"{"z": 1, "a": [1.5, true, null, "é😀"], "m": {}} 2.5"#)
    }

    @Test func extraVariablesReachTheTemplate() throws {
        let template = try ChatTemplate(source: "{{ bos_token }}{{ greeting }}{{ messages | length }}{{ tools is none }}")
        let got = try template.render(messages: [] as Value, extra: ["greeting": "hi", "bos_token": "<s>"])
        #expect(got == "<s>hi0True")
    }

    @Test func syntaxErrorsNameTheLine() {
        do {
            _ = try Template(source: "a\nb\n{% if x %}\n{{ x + }}\n{% endif %}")
            Issue.record("expected a syntax error")
        } catch let error as TemplateError {
            #expect(error.kind == .syntax)
            #expect(error.line == 4)
        } catch {
            Issue.record("unexpected error type \(error)")
        }
    }
}
