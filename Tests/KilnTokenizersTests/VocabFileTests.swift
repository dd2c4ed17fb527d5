import Foundation
import KilnFormats
import KilnModels
import KilnTokenizers
import Testing

/// The vocabulary-only GGUF files that llama.cpp ships with test vectors (`ggml-vocab-<name>.gguf` with
/// `.inp` strings and `.out` ids, the ids written by Hugging Face `transformers` with
/// `add_special_tokens=False`), fetched by scripts/fetch_tokenizer_vocabs.sh into models/vocabs
/// (or KILN_VOCAB_DIR). Every vector must match exactly, and streaming must reproduce every decode.
@Suite struct VocabFileTests {
    static let directory: URL = {
        if let dir = ProcessInfo.processInfo.environment["KILN_VOCAB_DIR"] { return URL(fileURLWithPath: dir) }
        return TestData.packageRoot.appendingPathComponent("models/vocabs")
    }()

    static let names = [
        "gpt-2", "llama-spm", "llama-bpe", "qwen2", "qwen35", "phi-3", "falcon", "mpt", "starcoder", "refact",
        "deepseek-coder", "deepseek-llm", "command-r", "bert-bge", "gemma-4",
    ]

    static func url(_ name: String, _ suffix: String = "") -> URL {
        directory.appendingPathComponent("ggml-vocab-\(name).gguf\(suffix)")
    }

    static func available(_ name: String) -> Bool {
        TestData.modelsRequired || FileManager.default.fileExists(atPath: url(name).path)
    }

    static func tokenizer(_ name: String) throws -> Tokenizer {
        try TokenizerCache.shared.tokenizer("vocab:" + name) {
            try Tokenizer(gguf: GGUFVocabulary(gguf: GGUFFile(path: url(name).path)))
        }
    }

    /// The (text, ids) pairs of one vocabulary's test vectors.
    static func vectors(_ name: String) throws -> [(String, [Int32])] {
        let input = try String(contentsOf: url(name, ".inp"), encoding: .utf8)
        var texts = input.components(separatedBy: "\n__ggml_vocab_test__\n")
        if texts.last == "" { texts.removeLast() }
        var lines = try String(contentsOf: url(name, ".out"), encoding: .utf8).components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        try #require(texts.count == lines.count, "\(name): \(texts.count) strings but \(lines.count) id lines")
        return zip(texts, lines).map { text, line in
            (text, line.split(separator: " ").compactMap { Int32($0) })
        }
    }

    @Test(arguments: names)
    func vectorsMatch(_ name: String) throws {
        guard Self.available(name) else { return }
        let tokenizer = try Self.tokenizer(name)
        let vectors = try Self.vectors(name)
        var passed = 0
        for (text, expected) in vectors {
            let got = tokenizer.encode(text, addSpecialTokens: false)
            if got == expected {
                passed += 1
            } else {
                Issue.record("\(name): \(text.debugDescription)\n got \(got)\nwant \(expected)")
            }
        }
        print("vocab \(name): \(passed)/\(vectors.count) vectors match")
        #expect(passed == vectors.count)
    }

    @Test(arguments: names)
    func streamingMatchesDecode(_ name: String) throws {
        guard Self.available(name) else { return }
        let tokenizer = try Self.tokenizer(name)
        let corpus = try JSONDecoder().decode(
            ReferenceGoldenTests.File.self, from: Data(contentsOf: ReferenceGoldenTests.url(TestData.smollm2)))
        let texts = try Self.vectors(name).map(\.0) + corpus.entries.map(\.text)
        for text in texts {
            let ids = tokenizer.encode(text)
            StreamingTests.check(tokenizer, ids)
            StreamingTests.check(tokenizer, ids, skipSpecialTokens: true)
        }
    }
}
