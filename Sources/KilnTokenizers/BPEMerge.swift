/// The BPE merge loop shared by every vocabulary kind.
///
/// Design (after Hugging Face `tokenizers`' `Word::merge_all`): symbols form a linked list; every adjacent
/// pair that has a merge rule sits in a min-heap ordered by (rank, position); the best pair is merged,
/// and the pairs it forms with its neighbours are pushed. A popped entry whose symbols have changed since
/// it was pushed is stale and skipped. O(n log n) for a word of n symbols, so a long SentencePiece
/// segment (which has no pre-tokenizer to cut it short) stays cheap.
struct MergeRule: Sendable {
    /// Lower merges first.
    var rank: UInt64
    /// The token the merged pair becomes.
    var id: Int32
}

private struct PendingMerge {
    var rank: UInt64
    var position: Int32
    var left: Int32
    var right: Int32
    var id: Int32

    @inline(__always)
    func precedes(_ other: PendingMerge) -> Bool {
        rank != other.rank ? rank < other.rank : position < other.position
    }
}

/// Merges `symbols` (token ids) in place until no adjacent pair has a rule.
@inline(__always)
func mergeSymbols(_ symbols: inout [Int32], rule: (Int32, Int32) -> MergeRule?) {
    let n = symbols.count
    if n < 2 { return }
    if n == 2 {
        if let merge = rule(symbols[0], symbols[1]) { symbols = [merge.id] }
        return
    }
    var next = [Int32](unsafeUninitializedCapacity: n) { buffer, count in
        for i in 0..<n { buffer[i] = Int32(i + 1) }
        count = n
    }
    var previous = [Int32](unsafeUninitializedCapacity: n) { buffer, count in
        for i in 0..<n { buffer[i] = Int32(i - 1) }
        count = n
    }
    var heap: [PendingMerge] = []
    heap.reserveCapacity(n)
    for i in 0..<(n - 1) {
        if let merge = rule(symbols[i], symbols[i + 1]) {
            push(
                &heap,
                PendingMerge(
                    rank: merge.rank, position: Int32(i), left: symbols[i], right: symbols[i + 1], id: merge.id))
        }
    }
    var removed = [Bool](repeating: false, count: n)
    while let top = pop(&heap) {
        let position = Int(top.position)
        if removed[position] || symbols[position] != top.left { continue }
        let right = Int(next[position])
        if right >= n || symbols[right] != top.right { continue }
        // Merge `right` into `position`.
        symbols[position] = top.id
        removed[right] = true
        let after = Int(next[right])
        next[position] = Int32(after)
        if after < n { previous[after] = Int32(position) }
        let before = Int(previous[position])
        if before >= 0, let merge = rule(symbols[before], top.id) {
            push(
                &heap,
                PendingMerge(
                    rank: merge.rank, position: Int32(before), left: symbols[before], right: top.id, id: merge.id))
        }
        if after < n, let merge = rule(top.id, symbols[after]) {
            push(
                &heap,
                PendingMerge(
                    rank: merge.rank, position: Int32(position), left: top.id, right: symbols[after], id: merge.id))
        }
    }
    var write = 0
    for i in 0..<n where !removed[i] {
        symbols[write] = symbols[i]
        write += 1
    }
    symbols.removeLast(n - write)
}

@inline(__always)
private func push(_ heap: inout [PendingMerge], _ entry: PendingMerge) {
    heap.append(entry)
    var child = heap.count - 1
    while child > 0 {
        let parent = (child - 1) / 2
        guard heap[child].precedes(heap[parent]) else { break }
        heap.swapAt(child, parent)
        child = parent
    }
}

@inline(__always)
private func pop(_ heap: inout [PendingMerge]) -> PendingMerge? {
    guard let first = heap.first else { return nil }
    let last = heap.removeLast()
    if heap.isEmpty { return first }
    heap[0] = last
    var parent = 0
    let count = heap.count
    while true {
        let left = 2 * parent + 1
        if left >= count { break }
        var best = left
        if left + 1 < count && heap[left + 1].precedes(heap[left]) { best = left + 1 }
        guard heap[best].precedes(heap[parent]) else { break }
        heap.swapAt(best, parent)
        parent = best
    }
    return first
}
