import KilnTokenizers

/// Every token's bytes, in a trie, for computing which tokens an automaton state allows.
///
/// Special tokens are left out (a constraint never allows them), except the end-of-sequence ids, which are allowed
/// exactly in accepting states. Byte-level BPE and SentencePiece pieces are stored as the bytes they decode to
/// (`Tokenizer.tokenBytes`: "Ġ" and "▁" are spaces, `<0x0A>` is a newline). SentencePiece's removal of the very
/// first leading space is not modelled.
public final class TokenVocabulary: Sendable {
    /// Token ids `0..<size` (the tokenizer's vocabulary).
    public let size: Int
    public let endOfSequence: [Int32]
    let tokenBytes: [[UInt8]]  // [size]: bytes of each token; empty for special tokens
    // Trie, node 0 the root; children as linked lists in byte order.
    let nodeByte: [UInt8]
    let firstChild: [Int32]  // -1: none
    let nextSibling: [Int32]  // -1: none
    let tokensAt: [[Int32]]  // tokens whose bytes end at the node

    public convenience init(tokenizer: Tokenizer, endOfSequence: some Sequence<Int32>) {
        let size = tokenizer.vocabularySize
        let bytes = (0..<size).map { id in
            tokenizer.isSpecial(Int32(id)) ? [] : tokenizer.tokenBytes(Int32(id))
        }
        self.init(tokenBytes: bytes, endOfSequence: Array(endOfSequence))
    }

    /// `tokenBytes[id]` empty: the token is never allowed (special or empty).
    public init(tokenBytes: [[UInt8]], endOfSequence: [Int32]) {
        size = tokenBytes.count
        self.tokenBytes = tokenBytes
        self.endOfSequence = endOfSequence.filter { $0 >= 0 && Int($0) < tokenBytes.count }
        var byte: [UInt8] = [0]
        var first: [Int32] = [-1]
        var next: [Int32] = [-1]
        var tokens: [[Int32]] = [[]]
        let order = tokenBytes.indices.filter { !tokenBytes[$0].isEmpty }.sorted {
            tokenBytes[$0].lexicographicallyPrecedes(tokenBytes[$1])
        }
        var path: [Int32] = [0]  // nodes along the previous token's bytes
        var previous: [UInt8] = []
        for id in order {
            let b = tokenBytes[id]
            var common = 0
            while common < min(b.count, previous.count), b[common] == previous[common] { common += 1 }
            path.removeLast(path.count - 1 - common)
            for i in common..<b.count {
                let parent = Int(path[path.count - 1])
                let node = Int32(byte.count)
                byte.append(b[i])
                first.append(-1)
                next.append(-1)
                tokens.append([])
                // Sorted input: the new child is the last one; append it to the parent's list.
                if first[parent] == -1 {
                    first[parent] = node
                } else {
                    var c = Int(first[parent])
                    while next[c] != -1 { c = Int(next[c]) }
                    next[c] = node
                }
                path.append(node)
            }
            tokens[Int(path[path.count - 1])].append(Int32(id))
            previous = b
        }
        nodeByte = byte
        firstChild = first
        nextSibling = next
        tokensAt = tokens
    }

    var nodeCount: Int { nodeByte.count }
}
