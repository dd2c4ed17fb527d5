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
                (
                    "special text as plain text",
                    tokenizer.encode(item.text, addSpecialTokens: false, parseSpecial: false), item.ids_plain
                ),
            ]
            for (what, got, expected) in checks where got != expected {
                mismatches += 1
                Issue.record(
                    "\(model.name) \(path) \(what): \(item.text.debugDescription)\n got \(got)\nwant \(expected)")
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
            !item.text.unicodeScalars.contains {
                $0 == "\u{2581}" || ($0.value < 0x20 && !"\t\n\r".unicodeScalars.contains($0))
            }
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

/// What each checkpoint says about sequence boundaries (see shared/reference/models.md).
@Suite struct SpecialTokenTests {
    @Test(arguments: TestData.models, GoldenTests.Path.allCases)
    func boundaries(_ model: TestData.Model, _ path: GoldenTests.Path) throws {
        guard GoldenTests.available(model, path) else { return }
        let tokenizer = try GoldenTests.tokenizer(model, path)
        switch model.name {
        case "gemma3":
            #expect(tokenizer.encode("") == [2])
            #expect(tokenizer.bosTokenID == 2)
            #expect(Set(tokenizer.eosTokenIDs) == [1, 106])
            #expect(tokenizer.vocabularySize == 262_144)
            #expect(tokenizer.token(for: "<end_of_turn>") == 106)
        case "qwen2.5":
            #expect(tokenizer.encode("") == [])
            #expect(Set(tokenizer.eosTokenIDs) == [151_645, 151_643])
            #expect(tokenizer.vocabularySize == 151_936)
            #expect(tokenizer.token(for: "<|im_end|>") == 151_645)
        default:
            #expect(tokenizer.encode("") == [])
            #expect(tokenizer.eosTokenIDs.first == 2)  // the checkpoint's EOS, then <|endoftext|> as llama.cpp does
            #expect(Set(tokenizer.eosTokenIDs) == [2, 0])
            #expect(tokenizer.vocabularySize == 49_152)
        }
        for id in tokenizer.eosTokenIDs { #expect(tokenizer.isSpecial(id)) }
    }
}
