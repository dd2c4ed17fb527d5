import Foundation
import KilnTokenizers
import Testing

/// Whole-corpus agreement and throughput, when scripts/reference/tokenizer_bench.py has written a
/// corpus and HF's ids to KILN_TOKENIZER_BENCH_DIR. Prints the throughput; asserts only the ids.
@Suite(.serialized) struct BenchmarkTests {
    static let directory = ProcessInfo.processInfo.environment["KILN_TOKENIZER_BENCH_DIR"]

    @Test(.enabled(if: directory != nil), arguments: TestData.models)
    func corpusMatchesHuggingFace(_ model: TestData.Model) throws {
        let directory = URL(fileURLWithPath: try #require(Self.directory))
        let text = try String(contentsOf: directory.appendingPathComponent("corpus.txt"), encoding: .utf8)
        let expected = try JSONDecoder().decode(
            [Int32].self, from: Data(contentsOf: directory.appendingPathComponent("ids_\(model.name).json")))
        for (label, build) in [("tokenizer.json", TokenizerCache.fromJSON), ("gguf", TokenizerCache.fromGGUF)] {
            let start = Date()
            let tokenizer = try build(model)
            let loadSeconds = Date().timeIntervalSince(start)
            var times: [Double] = []
            var ids: [Int32] = []
            for _ in 0..<3 {
                let t0 = Date()
                ids = tokenizer.encode(text, addSpecialTokens: false)
                times.append(Date().timeIntervalSince(t0))
            }
            let megabytes = Double(text.utf8.count) / 1e6
            print(
                "\(model.name) \(label): load \(String(format: "%.2f", loadSeconds)) s, first call "
                    + "\(String(format: "%.2f", megabytes / times[0])) MB/s, best of 3 "
                    + "\(String(format: "%.2f", megabytes / times.min()!)) MB/s, \(ids.count) ids")
            let firstDifference = zip(ids, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            #expect(
                ids == expected,
                "\(model.name) \(label): first difference at \(firstDifference ?? min(ids.count, expected.count))")
        }
    }

    /// WordPiece and Unigram tokenizer.json files, when the bench script wrote their ids.
    @Test(.enabled(if: directory != nil), arguments: FamilyGoldenTests.families)
    func familyCorpusMatchesHuggingFace(_ family: FamilyGoldenTests.Family) throws {
        let directory = URL(fileURLWithPath: try #require(Self.directory))
        let idsURL = directory.appendingPathComponent("ids_\(family.name).json")
        guard family.available, FileManager.default.fileExists(atPath: idsURL.path) else { return }
        let text = try String(contentsOf: directory.appendingPathComponent("corpus.txt"), encoding: .utf8)
        let expected = try JSONDecoder().decode([Int32].self, from: Data(contentsOf: idsURL))
        let tokenizer = try FamilyGoldenTests.tokenizer(family)
        var times: [Double] = []
        var ids: [Int32] = []
        for _ in 0..<3 {
            let t0 = Date()
            ids = tokenizer.encode(text, addSpecialTokens: false)
            times.append(Date().timeIntervalSince(t0))
        }
        let megabytes = Double(text.utf8.count) / 1e6
        print(
            "\(family.name): first call \(String(format: "%.2f", megabytes / times[0])) MB/s, best of 3 "
                + "\(String(format: "%.2f", megabytes / times.min()!)) MB/s, \(ids.count) ids")
        #expect(ids == expected)
    }

    /// A split pattern that only the regex engine handles (qwen35's), for its throughput.
    @Test(.enabled(if: directory != nil))
    func regexEngineThroughput() throws {
        let directory = URL(fileURLWithPath: try #require(Self.directory))
        guard VocabFileTests.available("qwen35") else { return }
        let text = try String(contentsOf: directory.appendingPathComponent("corpus.txt"), encoding: .utf8)
        let tokenizer = try VocabFileTests.tokenizer("qwen35")
        let t0 = Date()
        let ids = tokenizer.encode(text, addSpecialTokens: false)
        let seconds = Date().timeIntervalSince(t0)
        print(
            "qwen35 (regex engine): first call \(String(format: "%.2f", Double(text.utf8.count) / 1e6 / seconds)) MB/s")
        #expect(ids.count > 100_000)
    }
}
