/// Unigram (SentencePiece's other model): the segmentation of a piece whose tokens' log-probabilities
/// sum highest, found by Viterbi over every vocabulary token that starts at every character. A character
/// no token covers is the unknown token, scored 10 below the worst token; neighbouring unknowns fuse
/// into one. After Hugging Face `tokenizers`' `Unigram::encode_optimized`.
extension BPEModel {
    func unigramSymbols(_ piece: ArraySlice<UInt8>, byteFallback: Bool) -> [Int32] {
        var boundaries: [Int] = []
        for i in piece.indices where piece[i] & 0xC0 != 0x80 { boundaries.append(i) }
        boundaries.append(piece.endIndex)
        let n = boundaries.count - 1
        guard n > 0 else { return [] }
        // best[i]: the best path covering the first i characters. [n + 1]
        var bestScore = [Double](repeating: 0, count: n + 1)
        var bestStart = [Int](repeating: -1, count: n + 1)
        var bestID = [Int32](repeating: -1, count: n + 1)
        // Scalar index of each byte offset that starts a scalar (or ends the piece). [piece.count + 1]
        var scalarAt = [Int](repeating: -1, count: piece.count + 1)
        for (index, offset) in boundaries.enumerated() { scalarAt[offset - piece.startIndex] = index }
        var matches: [(Int, Int32)] = []
        for start in 0..<n where start == 0 || bestStart[start] >= 0 {
            let base = bestScore[start]
            var hasSingle = false
            matches.removeAll(keepingCapacity: true)
            trie?.prefixes(of: piece[boundaries[start]...]) { length, id in
                let end = scalarAt[boundaries[start] - piece.startIndex + length]
                if end >= 0 { matches.append((end, id)) }
            }
            for (end, id) in matches {
                let candidate = base + Double(scores[Int(id)])
                if bestStart[end] < 0 || candidate > bestScore[end] {
                    bestScore[end] = candidate
                    bestStart[end] = start
                    bestID[end] = id
                }
                if end == start + 1 { hasSingle = true }
            }
            if !hasSingle {
                let candidate = base + unknownScore
                if bestStart[start + 1] < 0 || candidate > bestScore[start + 1] {
                    bestScore[start + 1] = candidate
                    bestStart[start + 1] = start
                    bestID[start + 1] = unknownID ?? -1
                }
            }
        }
        // Walk back; runs of unknowns become one unknown span.
        var spans: [(Range<Int>, Int32)] = []
        var end = n
        while end > 0 {
            let start = bestStart[end]
            let id = bestID[end]
            if fuseUnknown, id == unknownID, let last = spans.last, last.1 == id {
                spans[spans.count - 1].0 = start..<last.0.upperBound
            } else {
                spans.append((start..<end, id))
            }
            end = start
        }
        var out: [Int32] = []
        for (span, id) in spans.reversed() {
            guard id == unknownID || id < 0 else {
                out.append(id)
                continue
            }
            let bytes = piece[boundaries[span.lowerBound]..<boundaries[span.upperBound]]
            if byteFallback, bytes.allSatisfy({ byteIDs[Int($0)] >= 0 }) {
                out.append(contentsOf: bytes.map { byteIDs[Int($0)] })
            } else if let unknownID {
                out.append(unknownID)
            }
        }
        return out
    }
}

/// A byte trie over token spellings: transitions keyed by (node << 8 | byte), the token id at each node
/// that ends a spelling.
struct ByteTrie: Sendable {
    private var transitions: [UInt64: Int32] = [:]
    private var terminal: [Int32] = [-1]  // [nodes]

    init(_ spellings: [String]) {
        transitions.reserveCapacity(spellings.count * 4)
        for (id, spelling) in spellings.enumerated() {
            var node: Int32 = 0
            for byte in spelling.utf8 {
                let key = UInt64(node) << 8 | UInt64(byte)
                if let child = transitions[key] {
                    node = child
                } else {
                    let child = Int32(terminal.count)
                    terminal.append(-1)
                    transitions[key] = child
                    node = child
                }
            }
            terminal[Int(node)] = Int32(id)  // a repeated spelling resolves to its last id
        }
    }

    /// Calls `found(byteLength, id)` for every spelling that is a prefix of `bytes`, shortest first.
    @inline(__always)
    func prefixes(of bytes: ArraySlice<UInt8>, _ found: (Int, Int32) -> Void) {
        var node: Int32 = 0
        var length = 0
        for byte in bytes {
            guard let child = transitions[UInt64(node) << 8 | UInt64(byte)] else { return }
            node = child
            length += 1
            let id = terminal[Int(node)]
            if id >= 0 { found(length, id) }
        }
    }
}
