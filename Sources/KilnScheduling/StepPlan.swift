/// What one step computes: the scheduler's result, a plain value the engine turns into a forward pass.
public struct StepPlan: Sendable, Equatable {
    /// A run of consecutive tokens of one sequence whose KV this step computes.
    public struct Chunk: Sendable, Equatable {
        public var sequence: SequenceID
        /// Position of the first token.
        public var start: Int
        /// The tokens at positions `start ..< start + tokens.count`.
        public var tokens: [Int32]
        /// True when the chunk reaches the sequence's last known token, so its last row needs logits.
        public var samples: Bool
        /// Block ids covering positions `0 ..< start + tokens.count`.
        public var blockTable: [Int]

        public init(sequence: SequenceID, start: Int, tokens: [Int32], samples: Bool, blockTable: [Int]) {
            self.sequence = sequence
            self.start = start
            self.tokens = tokens
            self.samples = samples
            self.blockTable = blockTable
        }
    }

    /// Running sequences first, oldest first, then the sequences admitted in this step, in queue order.
    public var chunks: [Chunk]
    /// Sequences preempted by recompute in this step: their KV is gone and they wait at the front of the
    /// queue, so the engine must not expect tokens for them until they run again.
    public var preempted: [SequenceID]
    /// Tokens over all chunks; never more than the configured `maxBatchTokens`.
    public var tokenCount: Int
    /// Copy-on-write of shared partial blocks: before the forward pass, the engine copies each `from` block's
    /// KV into its `to` block, in order. The chunk that writes into the copy already names `to` in its table.
    public var copies: [BlockCopy]

    public init(chunks: [Chunk] = [], preempted: [SequenceID] = [], copies: [BlockCopy] = []) {
        self.chunks = chunks
        self.preempted = preempted
        self.copies = copies
        self.tokenCount = chunks.reduce(0) { $0 + $1.tokens.count }
    }

    public var isEmpty: Bool { chunks.isEmpty }
}

/// One block's KV to copy into a fresh block before a step writes into the copy.
public struct BlockCopy: Sendable, Equatable {
    public var from: Int
    public var to: Int

    public init(from: Int, to: Int) {
        self.from = from
        self.to = to
    }
}

/// Counters since the scheduler was made.
public struct SchedulerStats: Sendable, Equatable {
    /// Tokens whose KV was found in the prefix cache at admission (a resumed sequence counts again).
    public var prefixCacheHitTokens = 0
    /// Tokens looked up in the prefix cache at admission: the prompt, plus the generated tokens of a
    /// sequence resumed after preemption. Zero when prefix caching is off.
    public var prefixCacheQueryTokens = 0
    /// Running sequences whose KV was dropped to make room (maxUtilization only).
    public var preemptions = 0
    /// Cached blocks whose KV was dropped to hand the block out again.
    public var evictions = 0
    /// Sequences forked from another's computed positions (`n`, `best_of`).
    public var forks = 0
    /// Shared partial blocks copied because a fork wrote into one (copy-on-write).
    public var blockCopies = 0

    public init() {}
}
