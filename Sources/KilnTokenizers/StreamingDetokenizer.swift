/// Turns generated ids into text as they arrive, emitting only text that is final.
///
/// Design (after TGI's and vLLM's `decode_token`): keep two offsets into the ids. The text of
/// `ids[prefixOffset..<readOffset]` has been emitted already; on each new id, decode
/// `ids[prefixOffset...]` and emit what extends past the prefix text, unless the new text ends in U+FFFD
/// (a character whose bytes have not all arrived): then wait for more ids. Decoding a short window
/// rather than the newest token alone keeps context-dependent decoding right (a SentencePiece "▁" that
/// becomes a space, bytes of one character spread over several tokens). `finish()` flushes what is left,
/// so the concatenated increments always equal `decode(allIDs)`.
public struct StreamingDetokenizer: Sendable {
    public let tokenizer: Tokenizer
    public let skipSpecialTokens: Bool
    private var ids: [Int32] = []
    private var prefixOffset = 0
    private var readOffset = 0

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one id; returns the text that became final (often "", never part of a character).
    public mutating func next(_ id: Int32) -> String {
        ids.append(id)
        let prefixText = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let newText = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        let prefixBytes = prefixText.utf8.count
        guard newText.utf8.count > prefixBytes, newText.unicodeScalars.last != "\u{FFFD}" else { return "" }
        prefixOffset = readOffset
        readOffset = ids.count
        return String(decoding: newText.utf8.dropFirst(prefixBytes), as: UTF8.self)
    }

    /// Whatever is still held back (an incomplete character at the end of generation).
    public mutating func finish() -> String {
        let prefixText = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let newText = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        prefixOffset = ids.count
        readOffset = ids.count
        return String(decoding: newText.utf8.dropFirst(prefixText.utf8.count), as: UTF8.self)
    }
}
