import Foundation
import KilnTokenizers
import Testing

/// The streaming property: increments join to the full decode, and never show a half character.
@Suite struct StreamingTests {
    static func check(_ tokenizer: Tokenizer, _ ids: [Int32], skipSpecialTokens: Bool = false) {
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skipSpecialTokens)
        let full = tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
        let fullHasReplacement = full.unicodeScalars.contains("\u{FFFD}")
        var joined = ""
        for id in ids {
            let piece = detokenizer.next(id)
            if !fullHasReplacement {
                #expect(!piece.unicodeScalars.contains("\u{FFFD}"), "increment \(piece.debugDescription) of \(ids)")
            }
            joined += piece
        }
        joined += detokenizer.finish()
        #expect(Array(joined.unicodeScalars) == Array(full.unicodeScalars), "ids \(ids)")
    }

    @Test(arguments: TestData.models)
    func incrementsJoinToDecode(_ model: TestData.Model) throws {
        guard model.hasGGUF else { return }
        let tokenizer = try TokenizerCache.fromGGUF(model)
        for item in try loadGolden(model).cases {
            Self.check(tokenizer, item.ids)
            Self.check(tokenizer, item.ids, skipSpecialTokens: true)
        }
    }

    /// Multi-byte characters spelled as single-byte tokens (byte-level bytes, SentencePiece `<0xNN>`):
    /// nothing may come out until the character is complete.
    @Test(arguments: TestData.models)
    func characterSplitAcrossByteTokens(_ model: TestData.Model) throws {
        guard model.hasGGUF else { return }
        let tokenizer = try TokenizerCache.fromGGUF(model)
        let text = "a😀b€"
        let byteIDs = try text.utf8.map { byte in
            let spelled = model.name == "gemma3" ? "<0x" + String(format: "%02X", byte) + ">" : byteLevelSpelling(byte)
            return try #require(tokenizer.token(for: spelled), "no token for byte \(byte)")
        }
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        let increments = byteIDs.map { detokenizer.next($0) }
        #expect(increments == ["a", "", "", "", "😀", "b", "", "", "€"])
        #expect(detokenizer.finish() == "")
        #expect(tokenizer.decode(byteIDs) == text)
    }

    /// A character that never completes shows up (as U+FFFD, like the full decode) only at `finish()`.
    @Test(arguments: TestData.models)
    func incompleteCharacterAtEnd(_ model: TestData.Model) throws {
        guard model.hasGGUF else { return }
        let tokenizer = try TokenizerCache.fromGGUF(model)
        let first = model.name == "gemma3" ? "<0xF0>" : byteLevelSpelling(0xF0)
        let ids = [tokenizer.encode("ok", addSpecialTokens: false), [try #require(tokenizer.token(for: first))]].flatMap
        { $0 }
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        let streamed = ids.map { detokenizer.next($0) }.joined()
        #expect(streamed == "ok")
        #expect(streamed + detokenizer.finish() == tokenizer.decode(ids))
        #expect(tokenizer.decode(ids).hasSuffix("\u{FFFD}"))
    }

    /// Gemma's "▁" pieces become spaces in the middle of a stream, not only at the start.
    @Test func sentencePieceSpaces() throws {
        let model = TestData.gemma3
        guard model.hasGGUF else { return }
        let tokenizer = try TokenizerCache.fromGGUF(model)
        let ids = tokenizer.encode("Hello wonderful  world", addSpecialTokens: false)
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        let pieces = ids.map { detokenizer.next($0) }
        #expect(pieces.joined() == "Hello wonderful  world")
        #expect(pieces.dropFirst().allSatisfy { !$0.isEmpty })
    }
}

func byteLevelSpelling(_ byte: UInt8) -> String {
    // GPT-2's byte alphabet: printable Latin-1 stands for itself, the rest from U+0100 in byte order.
    let printable: (UInt8) -> Bool = {
        (0x21...0x7E).contains($0) || (0xA1...0xAC).contains($0) || (0xAE...0xFF).contains($0)
    }
    if printable(byte) { return String(Unicode.Scalar(byte)) }
    let rank = (0..<byte).filter { !printable($0) }.count
    return String(Unicode.Scalar(UInt32(256 + rank))!)
}
