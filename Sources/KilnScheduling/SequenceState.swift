/// One generation stream as the scheduler sees it: its tokens and how many of them have KV in the cache.
///
/// There is no prefill or decode phase (vLLM v1): `computedCount` catches up to `tokens.count` one chunk
/// at a time, and each sampled token extends `tokens` by one.
public struct SequenceState: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        /// Holds no blocks; waits in the queue for admission (new, or preempted and to be recomputed).
        case waiting
        /// Admitted; holds the blocks for its computed positions.
        case running
    }

    public let id: SequenceID
    /// Prompt followed by the tokens sampled so far.
    public internal(set) var tokens: [Int32]
    public let promptCount: Int
    public let maxNewTokens: Int
    /// Positions `0..<computedCount` have KV in the blocks of `blockTable`.
    public internal(set) var computedCount = 0
    /// Block ids; block `i` holds positions `i * blockSize ..< (i + 1) * blockSize`.
    public internal(set) var blockTable: [Int] = []
    /// Content id of each registered full block of `blockTable`, a prefix of it (the parent key of the next).
    var blockContents: [Int] = []
    public internal(set) var status = Status.waiting
    /// Whether admission may start it after cached blocks. Off for a sequence that needs logits at every prompt
    /// position (prompt log-probabilities): a prefix hit would skip computing them.
    public let usesPrefixCache: Bool
    /// Children the engine will fork from it once its prompt is computed (0 for a plain sequence); under
    /// `guaranteedNoEvict` its admission reserves their growth too.
    public let plannedForks: Int

    init(id: SequenceID, prompt: [Int32], maxNewTokens: Int, usesPrefixCache: Bool = true, plannedForks: Int = 0) {
        self.id = id
        self.tokens = prompt
        self.promptCount = prompt.count
        self.maxNewTokens = maxNewTokens
        self.usesPrefixCache = usesPrefixCache
        self.plannedForks = plannedForks
    }

    /// A fork: `tokens` (of which the first `promptCount` are the prompt) with positions `0..<computedCount`
    /// already in the shared blocks of `blockTable`.
    init(fork id: SequenceID, of parent: SequenceState, token: Int32, maxNewTokens: Int) {
        self.id = id
        self.tokens = parent.tokens + [token]
        self.promptCount = parent.promptCount
        self.maxNewTokens = maxNewTokens
        self.usesPrefixCache = parent.usesPrefixCache
        self.plannedForks = 0
        computedCount = parent.computedCount
        blockTable = parent.blockTable
        blockContents = parent.blockContents
        status = .running
    }

    public var generatedCount: Int { tokens.count - promptCount }

    /// True once `maxNewTokens` tokens have been sampled: nothing more is scheduled for it, and the engine
    /// is expected to `finish` it.
    public var reachedLimit: Bool { generatedCount >= maxNewTokens }

    /// Tokens still to compute before the next token can be sampled.
    var pendingCount: Int { reachedLimit ? 0 : tokens.count - computedCount }
}

/// Waiting sequences in admission order: new ones join at the back, preempted ones return to the front.
/// A ring buffer, so admission and preemption are O(1).
struct SequenceQueue: Sendable {
    private var storage: [SequenceID?] = Array(repeating: nil, count: 8)
    private var head = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }
    var first: SequenceID? { count == 0 ? nil : storage[head] }

    /// Front to back.
    var elements: [SequenceID] { (0..<count).map { storage[(head + $0) % storage.count]! } }

    mutating func pushBack(_ id: SequenceID) {
        growIfFull()
        storage[(head + count) % storage.count] = id
        count += 1
    }

    mutating func pushFront(_ id: SequenceID) {
        growIfFull()
        head = (head + storage.count - 1) % storage.count
        storage[head] = id
        count += 1
    }

    mutating func popFront() -> SequenceID? {
        guard let id = first else { return nil }
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return id
    }

    /// Removes `id` wherever it is; O(count), for cancellations.
    mutating func remove(_ id: SequenceID) {
        let kept = elements.filter { $0 != id }
        guard kept.count != count else { return }
        storage = Array(repeating: nil, count: storage.count)
        head = 0
        count = 0
        for element in kept { pushBack(element) }
    }

    private mutating func growIfFull() {
        guard count == storage.count else { return }
        let current = elements
        storage = Array(repeating: nil, count: storage.count * 2)
        for (index, id) in current.enumerated() { storage[index] = id }
        head = 0
    }
}
