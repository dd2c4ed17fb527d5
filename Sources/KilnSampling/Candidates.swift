/// A token still in the running during one sampling step.
struct Candidate {
    var id: Int32
    var logit: Float  // (processed logit − max processed logit) / temperature: ≤ 0, the best token has 0
    var key: Float  // what the current truncation orders by, ascending (−logit for top-k/top-p)
}

/// Partial ordering of candidates without sorting the whole vocabulary and without allocating.
///
/// Truncations need only the first few candidates in order: top-k its k best, top-p the best ones until their
/// mass reaches p (usually a few hundred of a 150 000-token vocabulary). Quickselect puts the first m in front
/// in O(n); sorting those m costs O(m log m). Ties on `key` go to the lower token id, so the order is total and
/// every run picks the same tokens.
enum CandidateOrder {
    @inline(__always) static func precedes(_ a: Candidate, _ b: Candidate) -> Bool {
        a.key < b.key || (a.key == b.key && a.id < b.id)
    }

    /// Rearranges `c[start..<end]` so that `c[start..<start + m]` are its m first candidates, sorted.
    static func sortFirst(_ m: Int, of c: UnsafeMutableBufferPointer<Candidate>, from start: Int, to end: Int) {
        let boundary = start + m
        guard m > 0, start < end else { return }
        if boundary < end { select(c, boundary, lo: start, hi: end) }
        sort(c, lo: start, hi: min(boundary, end))
    }

    /// Quickselect: afterwards every candidate in `c[lo..<k]` precedes every one in `c[k..<hi]`.
    static func select(_ c: UnsafeMutableBufferPointer<Candidate>, _ k: Int, lo: Int, hi: Int) {
        var lo = lo
        var hi = hi
        while hi &- lo > 16 {
            let p = partition(c, lo: lo, hi: hi)
            if k < p {
                hi = p
            } else if k > p &+ 1 {
                lo = p &+ 1
            } else {
                return
            }
        }
        insertionSort(c, lo: lo, hi: hi)
    }

    /// Quicksort of `c[lo..<hi]`, recursing into the smaller side so the stack stays O(log n).
    private static func sort(_ c: UnsafeMutableBufferPointer<Candidate>, lo: Int, hi: Int) {
        var lo = lo
        var hi = hi
        while hi &- lo > 16 {
            let p = partition(c, lo: lo, hi: hi)
            if p &- lo < hi &- p {
                sort(c, lo: lo, hi: p)
                lo = p &+ 1
            } else {
                sort(c, lo: p &+ 1, hi: hi)
                hi = p
            }
        }
        insertionSort(c, lo: lo, hi: hi)
    }

    /// Lomuto partition around the median of first, middle and last; returns the pivot's final index.
    private static func partition(_ c: UnsafeMutableBufferPointer<Candidate>, lo: Int, hi: Int) -> Int {
        let last = hi &- 1
        let mid = lo &+ (hi &- lo) / 2
        if precedes(c[mid], c[lo]) { c.swapAt(mid, lo) }
        if precedes(c[last], c[lo]) { c.swapAt(last, lo) }
        if precedes(c[mid], c[last]) { c.swapAt(mid, last) }
        let pivot = c[last]
        var store = lo
        for i in lo..<last where precedes(c[i], pivot) {
            c.swapAt(i, store)
            store &+= 1
        }
        c.swapAt(store, last)
        return store
    }

    private static func insertionSort(_ c: UnsafeMutableBufferPointer<Candidate>, lo: Int, hi: Int) {
        guard hi &- lo > 1 else { return }
        for i in (lo &+ 1)..<hi {
            let x = c[i]
            var j = i
            while j > lo, precedes(x, c[j &- 1]) {
                c[j] = c[j &- 1]
                j &-= 1
            }
            c[j] = x
        }
    }
}
