import Foundation
import KilnTokenizers
import Testing

/// Malformed and unsupported files are typed errors that say what is wrong, never a crash.
@Suite struct ErrorTests {
    static func json(_ text: String) -> Data { Data(text.utf8) }

    static let minimalBPE = """
        {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
         "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
         "decoder": {"type": "ByteLevel"}, "added_tokens": []}
        """

    @Test func minimalByteLevelFile() throws {
        let tokenizer = try Tokenizer.fromTokenizerJSON(Self.json(Self.minimalBPE), config: nil)
        #expect(tokenizer.encode("abab ba") == [2, 2, 1, 0])  // " " has no byte token here and is dropped
        #expect(tokenizer.decode([2, 1]) == "abb")
        #expect(tokenizer.vocabularySize == 3)
        #expect(tokenizer.token(for: "ab") == 2)
    }

    @Test func notJSON() {
        #expect(throws: TokenizerError.self) { try Tokenizer.fromTokenizerJSON(Self.json("{\"model\": "), config: nil) }
    }

    @Test func unsupportedModelType() {
        let text = #"{"model": {"type": "WordLevel", "vocab": {}}}"#
        do {
            _ = try Tokenizer.fromTokenizerJSON(Self.json(text), config: nil)
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("WordLevel"))
            guard case .unsupported = error else { Issue.record("wrong case \(error)"); return }
        }
    }

    @Test func mergeOutsideVocabulary() {
        let text = Self.minimalBPE.replacingOccurrences(of: #"["a b"]"#, with: #"["a c"]"#)
        #expect(throws: TokenizerError.self) { try Tokenizer.fromTokenizerJSON(Self.json(text), config: nil) }
    }

    @Test func unsupportedSplitRegex() {
        let text = Self.minimalBPE.replacingOccurrences(
            of: #"{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}"#,
            with:
                #"{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(?<=a)b"}, "behavior": "Isolated"}, {"type": "ByteLevel", "use_regex": false}]}"#
        )
        do {
            _ = try Tokenizer.fromTokenizerJSON(Self.json(text), config: nil)
            Issue.record("expected an error")
        } catch {
            guard case .unsupported(let what) = error else { Issue.record("wrong case \(error)"); return }
            #expect(what.contains("(?<=a)b"))
        }
    }

    @Test func unknownGGUFPreTokenizer() {
        let vocabulary = GGUFVocabulary(model: "gpt2", pre: "no-such-pre", tokens: ["a", "b", "ab"], merges: ["a b"])
        #expect(throws: TokenizerError.unknownPreTokenizer("no-such-pre")) { try Tokenizer(gguf: vocabulary) }
    }

    @Test func unsupportedGGUFModel() {
        let vocabulary = GGUFVocabulary(model: "t5", tokens: ["a"])
        #expect(throws: TokenizerError.self) { try Tokenizer(gguf: vocabulary) }
    }

    @Test func mismatchedGGUFArrays() {
        let vocabulary = GGUFVocabulary(model: "llama", tokens: ["a", "b"], scores: [0])
        #expect(throws: TokenizerError.self) { try Tokenizer(gguf: vocabulary) }
    }

    @Test func byteLevelGGUFNeedsMerges() {
        let vocabulary = GGUFVocabulary(model: "gpt2", pre: "gpt2", tokens: ["a"])
        #expect(throws: TokenizerError.self) { try Tokenizer(gguf: vocabulary) }
    }

    /// A SentencePiece vocabulary without merges merges by vocabulary order, with byte fallback.
    @Test func tinySentencePieceGGUF() throws {
        let tokens = ["<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "ab", "▁ab", "<0xC3>", "<0xA9>"]
        let types: [Int32] = [2, 3, 3, 1, 1, 1, 1, 1, 1, 6, 6]
        let vocabulary = GGUFVocabulary(
            model: "llama", tokens: tokens, scores: tokens.map { _ in 0 }, tokenTypes: types, bosID: 1, eosID: 2,
            unknownID: 0, addBOS: true, addSpacePrefix: false)
        let tokenizer = try Tokenizer(gguf: vocabulary)
        #expect(tokenizer.encode(" ab é") == [1, 8, 3, 9, 10])
        #expect(tokenizer.decode([1, 8, 3, 9, 10], skipSpecialTokens: true) == " ab é")
        #expect(tokenizer.decode([9]) == "\u{FFFD}")
        #expect(tokenizer.eosTokenIDs == [2])
        #expect(tokenizer.isSpecial(1) && !tokenizer.isSpecial(4))
    }
}

extension ErrorTests {
    @Test func negativeAddedTokenID() {
        let text = Self.minimalBPE.replacingOccurrences(
            of: #""added_tokens": []"#, with: #""added_tokens": [{"id": -5, "content": "<x>", "special": true}]"#)
        #expect(throws: TokenizerError.self) { try Tokenizer.fromTokenizerJSON(Self.json(text), config: nil) }
    }

    @Test func specialTokenIDOutsideVocabulary() {
        let vocabulary = GGUFVocabulary(
            model: "gpt2", pre: "gpt2", tokens: ["a", "b", "ab"], merges: ["a b"], bosID: 99, addBOS: true)
        #expect(throws: TokenizerError.self) { try Tokenizer(gguf: vocabulary) }
    }

    @Test func invalidUTF8Bytes() throws {
        let tokenizer = try Tokenizer.fromTokenizerJSON(Self.json(Self.minimalBPE), config: nil)
        #expect(throws: TokenizerError.invalidUTF8(offset: 2)) { try tokenizer.encode(utf8: [0x61, 0x62, 0xFF, 0x61]) }
        #expect(throws: TokenizerError.invalidUTF8(offset: 1)) { try tokenizer.encode(utf8: [0x61, 0xE2, 0x82]) }
        #expect(throws: TokenizerError.invalidUTF8(offset: 0)) { try tokenizer.encode(utf8: [0xED, 0xA0, 0x80]) }
        #expect(try tokenizer.encode(utf8: Array("ab".utf8)) == tokenizer.encode("ab"))
    }
}
