import Foundation
import KilnTokenizers
import Testing

/// The project's reference goldens (Tests/goldens/tokenizer_<model>.json, made by
/// scripts/reference/make_goldens.py with transformers): ids and decoded text must match exactly,
/// through both loading paths.
@Suite struct ReferenceGoldenTests {
    struct Entry: Decodable {
        let text: String
        let ids: [Int32]
        let ids_plain: [Int32]
        let decoded: String
    }

    struct File: Decodable {
        let entries: [Entry]
    }

    static func url(_ model: TestData.Model) -> URL {
        TestData.packageRoot.appendingPathComponent("Tests/goldens/tokenizer_\(model.name).json")
    }

    @Test(arguments: TestData.models, GoldenTests.Path.allCases)
    func matchesReference(_ model: TestData.Model, _ path: GoldenTests.Path) throws {
        guard model.available(Self.url(model)), GoldenTests.available(model, path) else { return }
        let tokenizer = try GoldenTests.tokenizer(model, path)
        let entries = try JSONDecoder().decode(File.self, from: Data(contentsOf: Self.url(model))).entries
        #expect(entries.count > 250)
        for entry in entries {
            #expect(tokenizer.encode(entry.text) == entry.ids, "\(entry.text.debugDescription)")
            #expect(
                tokenizer.encode(entry.text, addSpecialTokens: false) == entry.ids_plain,
                "\(entry.text.debugDescription)")
            #expect(tokenizer.decode(entry.ids_plain) == entry.decoded, "\(entry.text.debugDescription)")
        }
    }
}
