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
        let unknownScore = Double(scores.min() ?? 0) - 10
        // best[i]: the best path covering the first i characters. [n + 1]
        var bestScore = [Double](repeating: 0, count: n + 1)
        var bestStart = [Int](repeating: -1, count: n + 1)
        var bestID = [Int32](repeating: -1, count: n + 1)
        var key = ByteString([])
        for start in 0..<n where start == 0 || bestStart[start] >= 0 {
            let base = bestScore[start]
            var hasSingle = false
            for end in (start + 1)...min(n, start + longestPiece) {
                key.bytes.removeAll(keepingCapacity: true)
                key.bytes.append(contentsOf: piece[boundaries[start]..<boundaries[end]])
                guard let id = pieceToID[key] else { continue }
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
