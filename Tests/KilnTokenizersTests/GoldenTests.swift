import Foundation
import KilnTokenizers
import Testing

/// Every golden string must give Hugging Face's ids exactly, through both loading paths.
@Suite struct GoldenTests {
    enum Path: String, CaseIterable, Sendable { case tokenizerJSON, gguf }

    static let cases: [(TestData.Model, Path)] = TestData.models.flatMap { model in
        Path.allCases.map { (model, $0) }
    }

    static func available(_ model: TestData.Model, _ path: Path) -> Bool {
        path == .gguf ? model.hasGGUF : model.hasHF
    }

    static func tokenizer(_ model: TestData.Model, _ path: Path) throws -> Tokenizer {
        path == .gguf ? try TokenizerCache.fromGGUF(model) : try TokenizerCache.fromJSON(model)
    }

    @Test(arguments: TestData.models, Path.allCases)
    func idsMatchHuggingFace(_ model: TestData.Model, _ path: Path) throws {
        guard Self.available(model, path) else { return }
        let tokenizer = try Self.tokenizer(model, path)
        let golden = try loadGolden(model)
        var mismatches = 0
        for item in golden.cases {
            let checks: [(String, [Int32], [Int32])] = [
                ("with special tokens", tokenizer.encode(item.text), item.ids),
                ("without special tokens", tokenizer.encode(item.text, addSpecialTokens: false), item.ids_no_special),
                ("special text as plain text", tokenizer.encode(item.text, addSpecialTokens: false, parseSpecial: false), item.ids_plain),
            ]
            for (what, got, expected) in checks where got != expected {
                mismatches += 1
                Issue.record("\(model.name) \(path) \(what): \(item.text.debugDescription)\n got \(got)\nwant \(expected)")
            }
        }
        #expect(mismatches == 0)
        #expect(golden.cases.count >= 300)
    }

    @Test(arguments: TestData.models, Path.allCases)
    func decodeMatchesHuggingFace(_ model: TestData.Model, _ path: Path) throws {
        guard Self.available(model, path) else { return }
        let tokenizer = try Self.tokenizer(model, path)
        for item in try loadGolden(model).cases {
            #expect(tokenizer.decode(item.ids) == item.decoded, "\(item.text.debugDescription)")
            #expect(tokenizer.decode(item.ids, skipSpecialTokens: true) == item.decoded_skip_special)
        }
    }

    /// Decoding what was encoded gives the text back (NFC-normalized for Qwen, whose tokenizer normalizes).
    /// Left out: text with "▁", which SentencePiece decodes as a space, and control characters, which
    /// SmolLM2's vocabulary lacks some bytes for.
    @Test(arguments: TestData.models, Path.allCases)
    func roundTrip(_ model: TestData.Model, _ path: Path) throws {
        guard Self.available(model, path) else { return }
        let tokenizer = try Self.tokenizer(model, path)
        let cases = try loadGolden(model).cases.filter { item in
            !item.text.unicodeScalars.contains { $0 == "\u{2581}" || ($0.value < 0x20 && !"\t\n\r".unicodeScalars.contains($0)) }
        }
        #expect(cases.count > 200)
        for item in cases {
            let expected = model.name == "qwen2.5" ? item.text.precomposedStringWithCanonicalMapping : item.text
            let decoded = tokenizer.decode(tokenizer.encode(item.text, addSpecialTokens: false))
            #expect(Array(decoded.unicodeScalars) == Array(expected.unicodeScalars), "\(item.text.debugDescription)")
        }
    }

    /// Both loading paths describe the same tokenizer.
    @Test(arguments: TestData.models)
    func pathsAgree(_ model: TestData.Model) throws {
        guard model.hasGGUF && model.hasHF else { return }
        let fromJSON = try TokenizerCache.fromJSON(model)
        let fromGGUF = try TokenizerCache.fromGGUF(model)
        #expect(fromJSON.vocabularySize == fromGGUF.vocabularySize)
        #expect(fromJSON.bosTokenID == fromGGUF.bosTokenID)
        #expect(Set(fromJSON.eosTokenIDs) == Set(fromGGUF.eosTokenIDs))
        for id in stride(from: Int32(0), to: Int32(fromJSON.vocabularySize), by: 97) {
            #expect(fromJSON.tokenBytes(id) == fromGGUF.tokenBytes(id), "token \(id)")
            #expect(fromJSON.isSpecial(id) == fromGGUF.isSpecial(id), "token \(id)")
        }
    }
}
