import Foundation
import Testing

/// `kiln tokenize` against the real binary, on a small WordPiece tokenizer.json written by the test.
@Suite struct TokenizeTests {
    static let tokenizerJSON = #"""
        {"added_tokens": [
           {"id": 0, "content": "[UNK]", "special": true, "normalized": false},
           {"id": 1, "content": "[CLS]", "special": true, "normalized": false},
           {"id": 2, "content": "[SEP]", "special": true, "normalized": false}],
         "normalizer": {"type": "BertNormalizer", "lowercase": true},
         "pre_tokenizer": {"type": "BertPreTokenizer"},
         "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]},
         "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
         "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                   "max_input_chars_per_word": 100,
                   "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "hello": 3, "world": 4, "##s": 5, "!": 6}}}
        """#

    func modelDirectory() throws -> String {
        let dir = scratchFile("tokenize-model")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(Self.tokenizerJSON.utf8).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
        return dir
    }

    func input(_ name: String, _ text: String) throws -> String {
        try input(name, Data(text.utf8))
    }

    func input(_ name: String, _ bytes: Data) throws -> String {
        let path = scratchFile(name)
        try bytes.write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func encodesAndDecodes() throws {
        let model = try modelDirectory()
        let strings = try input("strings.jsonl", "\"Hello worlds!\"\n\"HELLO\"\n\"zzz hello\"\n")
        let run = try BadInputTests().kiln(["tokenize", "--model", model, "--input", strings])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "[1,3,4,5,6,2]\n[1,3,2]\n[1,0,3,2]\n")
        let plain = try BadInputTests().kiln(["tokenize", "--model", model, "--input", strings, "--no-special"])
        #expect(plain.stdout == "[3,4,5,6]\n[3]\n[0,3]\n")
        let ids = try input("ids.jsonl", "[1,3,4,5,6,2]\n[]\n")
        let decoded = try BadInputTests().kiln(["tokenize", "--model", model, "--input", ids, "--decode"])
        #expect(decoded.stdout == "\"[CLS] hello worlds! [SEP]\"\n\"\"\n")
        let skipped = try BadInputTests().kiln(["tokenize", "-m", model, "-i", ids, "--decode", "--no-special"])
        #expect(skipped.stdout == "\"hello worlds!\"\n\"\"\n")
    }

    @Test func badLinesNameTheirLine() throws {
        let model = try modelDirectory()
        let tester = BadInputTests()
        try tester.expectClearError(
            ["tokenize", "--model", model, "--input", try input("bad1.jsonl", "\"ok\"\n42\n")],
            mentions: ["bad1.jsonl:2", "not a JSON string"])
        try tester.expectClearError(
            [
                "tokenize", "--model", model, "--input", try input("bad2.jsonl", Data([0x22, 0xFF, 0x22, 0x0A])),
                "--no-special",
            ],
            mentions: ["bad2.jsonl:1", "not valid UTF-8"])
        try tester.expectClearError(
            ["tokenize", "--model", model, "--decode", "--input", try input("bad3.jsonl", "[1]\n[3, 7]\n")],
            mentions: ["bad3.jsonl:2", "item 1", "0..<7"])
        try tester.expectClearError(
            ["tokenize", "--model", model, "--decode", "--input", try input("bad4.jsonl", "[1.5]\n")],
            mentions: ["bad4.jsonl:1", "not a token id"])
        try tester.expectClearError(
            ["tokenize", "--model", "/nonexistent/dir", "--input", try input("ok.jsonl", "\"a\"\n")],
            mentions: ["/nonexistent/dir", "no such file"])
    }
}
