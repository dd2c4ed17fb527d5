import Foundation
import KilnTokenizers
import Testing

/// The regex engine against the hand-written matchers: the same tokenizer.json with its split pattern
/// wrapped in `(?:…)` (which the fast path does not recognise, so the engine runs it) must give the
/// same ids on every corpus string, and on patterns written with the GPT-2, Qwen2 and Llama 3 rules.
@Suite struct RegexEngineTests {
    static let gpt2 = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let qwen2 =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let llama3 =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The model's tokenizer.json with its pre-tokenizer replaced by `Split(pattern)` + `ByteLevel`.
    static func tokenizer(_ model: TestData.Model, pattern: String) throws -> Tokenizer {
        let url = model.hfDirectory.appendingPathComponent("tokenizer.json")
        var root = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        root["pre_tokenizer"] = [
            "type": "Sequence",
            "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": pattern], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
            ],
        ]
        return try Tokenizer.fromTokenizerJSON(JSONSerialization.data(withJSONObject: root), config: nil)
    }

    static func texts() throws -> [String] {
        let reference = try JSONDecoder().decode(
            ReferenceGoldenTests.File.self, from: Data(contentsOf: ReferenceGoldenTests.url(TestData.qwen25)))
        let dev = try loadGolden(TestData.qwen25).cases.map(\.text)
        return reference.entries.map(\.text) + dev + [
            "a\u{17F}t 'ſt 'S  \n \r\n\t x", String(repeating: " ", count: 300),
        ]
    }

    @Test(arguments: [gpt2, qwen2, llama3])
    func engineAgreesWithHandWrittenMatcher(_ pattern: String) throws {
        let model = TestData.qwen25
        guard model.hasHF else { return }
        let fast = try Self.tokenizer(model, pattern: pattern)
        let engine = try Self.tokenizer(model, pattern: "(?:" + pattern + ")")
        var compared = 0
        for text in try Self.texts() {
            let expected = fast.encode(text, addSpecialTokens: false, parseSpecial: false)
            #expect(
                engine.encode(text, addSpecialTokens: false, parseSpecial: false) == expected,
                "\(text.debugDescription)")
            compared += 1
        }
        #expect(compared > 500)
    }

    /// Lazy, possessive, counted and case-insensitive forms, and lookahead, on a tiny byte-level vocabulary.
    @Test func quantifierForms() throws {
        let cases: [(String, String, [String])] = [
            (#"a+?"#, "aaa", ["a", "a", "a"]),
            (#"a++a"#, "aaa", ["aaa"]),  // possessive: never gives a back, so no match; the text is one gap
            (#"a{2}"#, "aaaaa", ["aa", "aa", "a"]),
            (#"(?i:ab)"#, "xAbaB", ["x", "Ab", "aB"]),
            (#"\s+(?!\S)"#, "a   b", ["a", "  ", " b"]),
            (#"[^\s\d]+"#, "ab 12cd", ["ab", " 12", "cd"]),
            (#"\p{Lu}\p{Ll}*"#, "HelloWorld", ["Hello", "World"]),
        ]
        for (pattern, text, expected) in cases {
            let pieces = try Self.pieces(pattern: pattern, text: text)
            #expect(pieces == expected, "\(pattern) on \(text.debugDescription)")
        }
    }

    /// Pieces of `text` under Split(pattern, Isolated), read back through a vocabulary of single bytes
    /// and whole words: each piece is encoded alone, so joining the decode of each id run shows the cut.
    static func pieces(pattern: String, text: String) throws -> [String] {
        let json: [String: Any] = [
            "model": [
                "type": "WordPiece", "unk_token": "?", "continuing_subword_prefix": "##", "vocab": vocabulary(text),
            ],
            "pre_tokenizer": ["type": "Split", "pattern": ["Regex": pattern], "behavior": "Isolated"],
            "decoder": ["type": "WordPiece", "prefix": "##", "cleanup": false],
        ]
        let tokenizer = try Tokenizer.fromTokenizerJSON(JSONSerialization.data(withJSONObject: json), config: nil)
        return tokenizer.encode(text).map { tokenizer.tokenText($0) ?? "?" }
    }

    /// Every substring of `text` as a word, so WordPiece returns each piece whole.
    static func vocabulary(_ text: String) -> [String: Int] {
        let scalars = Array(text.unicodeScalars)
        var vocab: [String: Int] = ["?": 0]
        for i in 0..<scalars.count {
            for j in (i + 1)...scalars.count {
                let word = String(String.UnicodeScalarView(scalars[i..<j]))
                if vocab[word] == nil { vocab[word] = vocab.count }
            }
        }
        return vocab
    }
}
