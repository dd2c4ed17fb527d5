import Foundation
import KilnTokenizers
import Testing

/// WordPiece and Unigram tokenizer.json files against Hugging Face `tokenizers` (goldens made by
/// scripts/reference/make_vocab_goldens.py): ids with and without special tokens, decode with and
/// without special tokens, and streaming, for every corpus string.
@Suite struct FamilyGoldenTests {
    struct Entry: Decodable {
        let text: String
        let ids: [Int32]
        let ids_plain: [Int32]
        let decoded: String
        let decoded_skip: String
    }

    struct File: Decodable { let entries: [Entry] }

    struct Family: Sendable, CustomTestStringConvertible {
        let name: String
        let directory: URL
        var testDescription: String { name }
        var golden: URL { TestData.packageRoot.appendingPathComponent("Tests/goldens/tokenizer_\(name).json") }
        var available: Bool {
            TestData.modelsRequired
                || FileManager.default.fileExists(atPath: directory.appendingPathComponent("tokenizer.json").path)
        }
    }

    static let families = [
        Family(
            name: "minilm", directory: TestData.packageRoot.appendingPathComponent("Tests/goldens/tokenizers/minilm")),
        Family(name: "nomic-unigram", directory: VocabFileTests.directory.appendingPathComponent("unigram-nomic")),
    ]

    static func tokenizer(_ family: Family) throws -> Tokenizer {
        try TokenizerCache.shared.tokenizer("family:" + family.name) {
            let json = try Data(contentsOf: family.directory.appendingPathComponent("tokenizer.json"))
            let config = try? Data(contentsOf: family.directory.appendingPathComponent("tokenizer_config.json"))
            return try Tokenizer.fromTokenizerJSON(json, config: config)
        }
    }

    @Test(arguments: families)
    func matchesReference(_ family: Family) throws {
        guard family.available else { return }
        let tokenizer = try Self.tokenizer(family)
        let entries = try JSONDecoder().decode(File.self, from: Data(contentsOf: family.golden)).entries
        #expect(entries.count > 250)
        var passed = 0
        for entry in entries {
            let label = "\(family.name) \(entry.text.debugDescription)"
            let checks = [
                tokenizer.encode(entry.text) == entry.ids,
                tokenizer.encode(entry.text, addSpecialTokens: false) == entry.ids_plain,
                tokenizer.decode(entry.ids_plain) == entry.decoded,
                tokenizer.decode(entry.ids, skipSpecialTokens: true) == entry.decoded_skip,
            ]
            if checks.allSatisfy({ $0 }) {
                passed += 1
            } else {
                let got = "\(tokenizer.encode(entry.text)) \(tokenizer.decode(entry.ids_plain).debugDescription)"
                let want = "\(entry.ids) \(entry.decoded.debugDescription)"
                Issue.record(Comment(rawValue: "\(label)\n got \(got)\nwant \(want)"))
            }
            StreamingTests.check(tokenizer, entry.ids)
            StreamingTests.check(tokenizer, entry.ids, skipSpecialTokens: true)
        }
        print("family \(family.name): \(passed)/\(entries.count) strings match")
        #expect(passed == entries.count)
    }
}
